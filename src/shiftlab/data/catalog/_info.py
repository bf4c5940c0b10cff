"""What a catalog entry records: :class:`DatasetInfo`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from shiftlab.data.home import DataFile, LocalState
from shiftlab.exceptions import unknown_name


@dataclass(frozen=True, eq=False)
class DatasetInfo:
    """Catalog entry of one dataset.

    Attributes
    ----------
    name : str
        Name used by :func:`~shiftlab.data.loaders.load_dataset` and the CLI.
    title : str
        Human-readable title.
    folder : str
        Folder of the files in the data home.
    modality : str
        ``"image"``, ``"text"`` or ``"tabular"``, with the feature kind.
    domains : tuple of str
        Domain names, in the order of the loaded :class:`~shiftlab.data.DomainDataset`.
    sizes : mapping of str to int
        Samples per domain (default options).
    n_features : int
        Number of features (default options).
    classes : tuple of str
        Class names, in label order (label ``k`` is ``classes[k]``).
    label : str
        What the label is and how it is encoded.
    domain_definition : str
        How the domains are defined, as in the literature.
    tasks : tuple of str
        Adaptation tasks used in the literature, ``"source->target"``.
    features : str
        What the features are and the default preprocessing.
    files : tuple of DataFile
        Files with their sha256, size, upstream URLs and provenance.
    citation : tuple of str
        References to cite.
    licence : str
        Licence or terms of use.
    loader : str
        Name of the loader function in :mod:`shiftlab.data.loaders` (shown by
        ``shiftlab datasets info``). The loader registers itself, next to its
        definition, with :func:`shiftlab.data.registry.register_dataset`, which checks
        this name.
    options : mapping of str to str
        Dataset-specific loader options and their meaning (with defaults).
    variants : mapping of str to mapping
        Domain sizes / feature counts under non-default options.
    notes : str
        Known issues.
    aliases : tuple of str
        Other accepted names.
    """

    name: str
    title: str
    folder: str
    modality: str
    domains: tuple[str, ...]
    sizes: Mapping[str, int]
    n_features: int
    classes: tuple[str, ...]
    label: str
    domain_definition: str
    tasks: tuple[str, ...]
    features: str
    files: tuple[DataFile, ...]
    citation: tuple[str, ...]
    licence: str
    loader: str
    options: Mapping[str, str] = field(default_factory=dict)
    variants: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    notes: str = ""
    aliases: tuple[str, ...] = ()

    def __post_init__(self):
        # Entries are shared module state: freeze the mappings so callers cannot edit them.
        for name in ("sizes", "options", "variants"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_samples(self) -> int:
        return int(sum(self.sizes.values()))

    @property
    def required_files(self) -> tuple[DataFile, ...]:
        return tuple(f for f in self.files if f.required)

    def file(self, filename: str) -> DataFile:
        """The catalogued file whose path ends with ``filename``."""
        for f in self.files:
            if f.path.endswith("/" + filename):
                return f
        raise unknown_name("file", filename, [f.path.split("/", 1)[1] for f in self.files])

    def is_available(self, data_home: str | os.PathLike | None = None) -> bool:
        """See :func:`is_available`."""
        from shiftlab.data.catalog import is_available

        return is_available(self.name, data_home)

    def local_state(
        self, data_home: str | os.PathLike | None = None, *, recheck: bool = False
    ) -> LocalState:
        """See :func:`local_state`."""
        from shiftlab.data.catalog import local_state

        return local_state(self.name, data_home, recheck=recheck)

    def to_dict(self) -> dict:
        """Plain-Python view (lists and dicts only), e.g. for tables and JSON."""
        return {
            "name": self.name,
            "title": self.title,
            "modality": self.modality,
            "domains": list(self.domains),
            "sizes": dict(self.sizes),
            "n_samples": self.n_samples,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "classes": list(self.classes),
            "label": self.label,
            "domain_definition": self.domain_definition,
            "tasks": list(self.tasks),
            "features": self.features,
            "options": dict(self.options),
            "variants": {k: dict(v) for k, v in self.variants.items()},
            "citation": list(self.citation),
            "licence": self.licence,
            "folder": self.folder,
            "files": [f.to_dict() for f in self.files],
            "loader": self.loader,
            "notes": self.notes,
            "aliases": list(self.aliases),
        }
