"""One registry of the datasets a benchmark definition can name.

Every dataset registers itself with :func:`register_dataset`, a decorator on the function
that builds it, next to that function:

* simulated shifts (:mod:`shiftlab.data.simulate`): ``sim-<shift>`` (SKADA-Bench's 2-D
  generator) and ``gauss-<shift>`` (the high-dimensional one), one name per shift kind
  (``variants``: the name and the arguments it fixes);
* datasets embedded in scikit-learn (:mod:`shiftlab.data.embedded`): ``digits-shift``,
  ``breast-cancer-shift``;
* the real datasets of the catalog (:mod:`shiftlab.data.loaders`): the loader of each
  catalog entry, with its :class:`~shiftlab.data.catalog.DatasetInfo` attached
  (:attr:`DatasetEntry.info`).

One name space holds them all; a name registered twice is an error. :func:`get_dataset`
looks a name up, :func:`list_datasets` lists them (simulated, embedded, then catalog
datasets, each kind in the order of its module), and :meth:`DatasetEntry.load` builds one.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from shiftlab.data.catalog import DatasetInfo, dataset_info, dataset_names
from shiftlab.data.dataset import DomainDataset
from shiftlab.exceptions import DataValidationError, suggest, unknown_name

__all__ = ["DatasetEntry", "get_dataset", "list_datasets", "register_dataset"]

Kind = Literal["simulated", "embedded", "catalog"]
KINDS: tuple[str, ...] = ("simulated", "embedded", "catalog")

#: Modules whose import registers the datasets (imported on first registry use).
DATASET_MODULES = (
    "shiftlab.data.simulate",
    "shiftlab.data.embedded",
    "shiftlab.data.loaders",
)

#: Arguments of a catalog loader that say where the files are, not what the data are.
_LOCATION_ARGS = ("data_home", "download")


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset.

    Attributes
    ----------
    name : str
        The name a benchmark definition uses (``[[datasets]] name``).
    loader : callable
        The function that builds the :class:`~shiftlab.data.DomainDataset`.
    kind : str
        ``"simulated"``, ``"embedded"`` or ``"catalog"``.
    params : mapping
        Arguments the name fixes (``{"shift": "target"}`` for ``sim-target``).
    seeded : bool
        Whether the data are drawn from a seed (``random_state``): a benchmark seeds the
        loader from its protocol unless the definition's options give one, so that every
        worker draws the same data.
    """

    name: str
    loader: Callable[..., DomainDataset]
    kind: Kind
    params: Mapping[str, Any] = field(default_factory=dict)
    seeded: bool = False

    @property
    def info(self) -> DatasetInfo | None:
        """The catalog entry of a catalog dataset (files, citation...), else None."""
        return dataset_info(self.name) if self.kind == "catalog" else None

    def options(self) -> list[str]:
        """The options a definition may give (the loader's other keyword arguments)."""
        return [p for p in inspect.signature(self.loader).parameters
                if p not in self.params and p not in _LOCATION_ARGS]

    def load(self, **options) -> DomainDataset:
        """Build the dataset with ``options`` (a catalog loader also takes ``data_home``
        and ``download``).

        Raises
        ------
        DataValidationError
            A catalog dataset given an option its loader does not have.
        """
        if self.kind == "catalog":
            accepted = self.options()
            for option in options:
                if option not in accepted and option not in _LOCATION_ARGS:
                    raise DataValidationError(
                        f"Dataset {self.name!r} has no option {option!r}."
                        f"{suggest(option, accepted)} "
                        f"Valid options: {', '.join(accepted) if accepted else 'none'}."
                    )
        return self.loader(**self.params, **options)


_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(
    name: str | None = None,
    *,
    kind: Kind,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    seeded: bool = False,
) -> Callable[[Callable], Callable]:
    """Decorator that registers the function it decorates as a dataset's loader.

    Parameters
    ----------
    name : str, optional
        The dataset's name. A catalog dataset's name must be its catalog entry's.
    kind : {"simulated", "embedded", "catalog"}
    variants : mapping, optional
        Instead of ``name``: several names, each with the arguments it fixes, e.g.
        ``{f"sim-{s}": {"shift": s} for s in SHIFT_KINDS}``.
    seeded : bool, default=False
        The loader takes ``random_state`` and draws its data from it (see
        :attr:`DatasetEntry.seeded`).

    Examples
    --------
    Next to the function, in its module::

        @register_dataset("digits-shift", kind="embedded", seeded=True)
        def load_digits_shift(*, distortion=1.0, random_state=0): ...
    """
    if (name is None) == (variants is None):
        raise TypeError("give a name or variants, not both.")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    names = {name: {}} if variants is None else dict(variants)

    def deco(loader: Callable) -> Callable:
        for dname, params in names.items():
            if kind == "catalog" and dname not in dataset_names():
                raise ValueError(f"{dname!r} is not a catalog name: add its DatasetInfo to "
                                 "shiftlab.data.catalog first.")
            if kind == "catalog" and dataset_info(dname).loader != loader.__name__:
                raise ValueError(f"the catalog entry of {dname!r} names the loader "
                                 f"{dataset_info(dname).loader!r}, not {loader.__name__!r}.")
            old = _REGISTRY.get(dname)
            if old is not None and old.loader.__qualname__ != loader.__qualname__:
                raise ValueError(f"dataset {dname!r} is already registered "
                                 f"({old.loader.__module__}.{old.loader.__qualname__}).")
            if seeded and "random_state" not in inspect.signature(loader).parameters:
                raise ValueError(f"{dname!r}: a seeded loader takes random_state.")
            _REGISTRY[dname] = DatasetEntry(dname, loader, kind,
                                            MappingProxyType(dict(params)), seeded)
        return loader

    return deco


@functools.cache
def _load() -> None:
    """Import the modules whose decorators fill the registry (once)."""
    for module in DATASET_MODULES:
        importlib.import_module(module)


def _order(entry: DatasetEntry) -> tuple[int, int]:
    if entry.kind == "catalog":  # the catalog's order, whatever the import order
        return KINDS.index(entry.kind), dataset_names().index(entry.name)
    return KINDS.index(entry.kind), list(_REGISTRY).index(entry.name)


def list_datasets(kind: str | None = None) -> list[DatasetEntry]:
    """Every registered dataset (optionally of one kind): simulated, embedded, catalog."""
    _load()
    entries = [e for e in _REGISTRY.values() if kind is None or e.kind == kind]
    return sorted(entries, key=_order)


def get_dataset(name: str) -> DatasetEntry:
    """The registered dataset ``name`` (exact name), with a suggestion when unknown."""
    _load()
    entry = _REGISTRY.get(name)
    if entry is None:
        raise unknown_name("dataset", name, [e.name for e in list_datasets()])
    return entry
