"""Loaders of the real domain-adaptation datasets of the catalog.

Every loader reads the files of one catalog entry (:mod:`shiftlab.data.catalog`) from
the data home, downloading and verifying them when needed (:mod:`shiftlab.data.home`),
and returns a :class:`~shiftlab.data.DomainDataset` whose domains are named as in the
literature. Features are float64, labels int64 class ids ``0..K-1`` whose names are the
dataset's ``target_names``. Loaders never modify the files or any shared state except
the feature cache of the text datasets.

All loaders take ``data_home=None, download=True`` and keyword-only, dataset-specific
options; :func:`load_dataset` dispatches on the catalog name::

    >>> from shiftlab.data.loaders import load_dataset        # doctest: +SKIP
    >>> ds = load_dataset("office_caltech10_surf")           # doctest: +SKIP
    >>> X, y, sample_domain = ds.pack("caltech", "amazon")   # doctest: +SKIP

===========================  ================================  ===========================
name                         domains                           tasks in the literature
===========================  ================================  ===========================
office_caltech10_surf        amazon, caltech, dslr, webcam     all 12 ordered pairs
office_caltech10_decaf6      dslr, webcam (partial)            dslr <-> webcam
office_caltech10_googlenet   amazon, dslr, webcam (partial)    the 6 ordered pairs
amazon_review_400            books, dvd, electronics, kitchen  all 12 ordered pairs
amazon_review_text           books, dvd, electronics, kitchen  all 12 ordered pairs
mnist_usps                   mnist, usps (JDA subsets)         mnist <-> usps
mnist_usps_full              mnist (test set), usps            mnist <-> usps
mnist_usps_skada             mnist, usps (SKADA-Bench, PCA-50) mnist <-> usps
mushrooms                    enlarging, tapering               both directions
phishing                     ip, no_ip                         both directions
wine_quality                 red, white                        both directions
twenty_newsgroups            source, target (per task)         source -> target
===========================  ================================  ===========================
"""

from __future__ import annotations

# Implementation: _common (shared plumbing, feature cache), _images, _text and _tabular
# (the loaders, by dataset family). Importing this package registers every loader.
from pathlib import Path

from shiftlab.data.catalog import dataset_info
from shiftlab.data.dataset import DomainDataset
from shiftlab.data.home import fetch_file
from shiftlab.data.loaders._common import PathLike as PathLike
from shiftlab.data.loaders._images import _read_idx as _read_idx
from shiftlab.data.loaders._images import (
    load_mnist_usps,
    load_mnist_usps_full,
    load_mnist_usps_skada,
    load_office_caltech10_decaf6,
    load_office_caltech10_googlenet,
    load_office_caltech10_surf,
)
from shiftlab.data.loaders._tabular import load_mushrooms, load_phishing, load_wine_quality
from shiftlab.data.loaders._text import (
    load_amazon_review_400,
    load_amazon_review_text,
    load_twenty_newsgroups,
    read_amazon_review_text,
    read_twenty_newsgroups_text,
)
from shiftlab.data.registry import get_dataset

__all__ = [
    "fetch_dataset",
    "load_amazon_review_400",
    "load_amazon_review_text",
    "load_dataset",
    "load_mnist_usps",
    "load_mnist_usps_full",
    "load_mnist_usps_skada",
    "load_mushrooms",
    "load_office_caltech10_decaf6",
    "load_office_caltech10_googlenet",
    "load_office_caltech10_surf",
    "load_phishing",
    "load_twenty_newsgroups",
    "load_wine_quality",
    "read_amazon_review_text",
    "read_twenty_newsgroups_text",
]

# ========================================================================= generic
def load_dataset(
    name: str, *, data_home: PathLike = None, download: bool = True, **options
) -> DomainDataset:
    """Load a catalog dataset by name, e.g. ``load_dataset("mushrooms")``.

    Parameters
    ----------
    name : str
        Catalog name or alias (see :func:`shiftlab.data.catalog.catalog`).
    data_home : str or path-like, optional
        Data home (default: ``$SHIFTLAB_DATA``, else the per-user cache folder).
    download : bool, default=True
        Download missing files.
    **options
        Dataset-specific options of the loader (listed in the catalog entry).

    Raises
    ------
    UnknownNameError
        Unknown dataset name (with a suggestion).
    DataValidationError
        An option the dataset's loader does not have.
    """
    entry = get_dataset(dataset_info(name).name)  # each loader above registered itself
    return entry.load(data_home=data_home, download=download, **options)


def fetch_dataset(
    name: str,
    data_home: PathLike = None,
    *,
    base_url: str | None = None,
    include_optional: bool = True,
) -> list[Path]:
    """Download (if missing) and verify every file of a dataset; return their paths.

    Parameters
    ----------
    name : str
        Catalog name or alias.
    data_home : str or path-like, optional
        Data home to download into.
    base_url : str, optional
        Mirror to download from instead of upstream (default ``$SHIFTLAB_DATA_MIRROR``).
    include_optional : bool, default=True
        Also fetch companion files the loader does not need.
    """
    info = dataset_info(name)
    return [
        fetch_file(f, data_home, True, base_url)
        for f in info.files
        if f.required or include_optional
    ]
