"""Catalog of the real domain-adaptation datasets shiftlab can load.

Each :class:`DatasetInfo` records what a dataset is (modality, domains and their
sizes, features, classes), where it comes from (citation, licence, the files with their
sha256 digests, upstream URLs and provenance) and how the literature defines its
domains and tasks. The numbers are those of the default loader options; ``variants``
gives the sizes under the other documented options. The loaders in
:mod:`shiftlab.data.loaders` follow these entries, and the tests check the entries
against the files.

The files and their provenance are those of the project's dataset snapshot (one
``SOURCE.md`` per folder). URLs point at the exact upstream bytes: the original
distributor when it serves the same file, else the pinned commit of the public
repository the snapshot copied it from. Files that no public upstream serves
byte-for-byte (the re-compressed Amazon reviews, the reconstructed 20 Newsgroups
archive) have no URL; they come from a mirror (``SHIFTLAB_DATA_MIRROR``) or by hand.
"""

from __future__ import annotations

import os

from shiftlab.data.catalog._images import (
    _MNIST_USPS,
    _MNIST_USPS_FULL,
    _MNIST_USPS_SKADA,
    _OFFICE_CALTECH_DECAF6,
    _OFFICE_CALTECH_GOOGLENET,
    _OFFICE_CALTECH_SURF,
)
from shiftlab.data.catalog._info import DatasetInfo
from shiftlab.data.catalog._text_tables import (
    _AMAZON_400,
    _AMAZON_TEXT,
    _MUSHROOMS,
    _NEWSGROUPS,
    _PHISHING,
    _WINE,
)
from shiftlab.data.catalog._text_tables import NEWSGROUPS_SPLITS as NEWSGROUPS_SPLITS
from shiftlab.data.home import DataFile, LocalState, check_files
from shiftlab.exceptions import unknown_name

__all__ = [
    "DataFile",
    "DatasetInfo",
    "LocalState",
    "catalog",
    "dataset_info",
    "dataset_names",
    "is_available",
    "local_state",
]



# Implementation: _info (DatasetInfo), _refs (what entries share), _images and
# _text_tables (the entries); this module keeps the table and the look-ups.
_CATALOG: tuple[DatasetInfo, ...] = (
    _OFFICE_CALTECH_SURF,
    _OFFICE_CALTECH_DECAF6,
    _OFFICE_CALTECH_GOOGLENET,
    _AMAZON_400,
    _AMAZON_TEXT,
    _MNIST_USPS,
    _MNIST_USPS_FULL,
    _MNIST_USPS_SKADA,
    _MUSHROOMS,
    _PHISHING,
    _WINE,
    _NEWSGROUPS,
)
_BY_NAME: dict[str, DatasetInfo] = {}
for _info in _CATALOG:
    for _key in (_info.name, *_info.aliases):
        if _key in _BY_NAME:  # pragma: no cover - guards edits of the table above
            raise RuntimeError(f"duplicate catalog name {_key!r}")
        _BY_NAME[_key] = _info


def catalog() -> list[DatasetInfo]:
    """All catalog entries, in a stable order."""
    return list(_CATALOG)


def dataset_names() -> list[str]:
    """The canonical dataset names (without aliases)."""
    return [info.name for info in _CATALOG]


def dataset_info(name: str) -> DatasetInfo:
    """The catalog entry of a dataset (case-insensitive; aliases accepted).

    Raises
    ------
    UnknownNameError
        With a "did you mean" suggestion and the list of valid names.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key in _BY_NAME:
        return _BY_NAME[key]
    raise unknown_name("dataset", name, dataset_names())


def local_state(
    name: str, data_home: str | os.PathLike | None = None, *, recheck: bool = False
) -> LocalState:
    """What the data home holds of a dataset: ``"yes"``, ``"no"``, ``"partial"`` or ``"corrupt"``.

    Every present file is checked against its catalogued size and sha256; the digests are
    cached in ``<data home>/.verified.json`` (not written in a read-only data home) under
    each file's stat stamp, so that a second call costs one ``stat`` per file (files
    changed within a second of being hashed excepted: they are hashed again). See
    :func:`shiftlab.data.home.check_files` and "Integrity" in :mod:`shiftlab.data.home`
    for what that stamp does and does not notice.

    Parameters
    ----------
    name : str
        Catalog name or alias.
    data_home : str or path-like, optional
        Data home (see :func:`~shiftlab.data.home.get_data_home`).
    recheck : bool, default=False
        Hash every present file again, trusting no cached digest.

    Returns
    -------
    LocalState
        The state and the first offending file; ``advice(name)`` says how to fix it.

    Raises
    ------
    UnknownNameError
        ``name`` is not in the catalog.
    """
    return check_files(dataset_info(name).files, data_home, recheck=recheck)


def is_available(name: str, data_home: str | os.PathLike | None = None) -> bool:
    """Whether every file a dataset's loader needs is in the data home, with the right sha256.

    A file that is present but corrupted does not count. Digests cached by
    :func:`local_state` (``shiftlab datasets``) are used, but nothing is written: this is
    a pure query, safe on any data home.

    Raises
    ------
    UnknownNameError
        ``name`` is not in the catalog.
    """
    return check_files(dataset_info(name).files, data_home, update_cache=False).available
