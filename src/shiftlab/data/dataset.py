"""Named domains and adaptation tasks on top of the array convention.

:class:`DomainDataset` holds one ``(X, y)`` pair per named domain. It lists the
adaptation tasks (every ordered source -> target pair, plus multi-source tasks) and
packs a task into the ``X, y, sample_domain`` arrays of :mod:`shiftlab.data.convention`
with the target labels masked. It never modifies the arrays it was given: domains are
copied on construction and every packed array is new.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shiftlab.data.convention import (
    LabelKind,
    label_kind,
    mask_target_labels,
)
from shiftlab.exceptions import DataValidationError, unknown_name

__all__ = ["DomainDataset", "Task", "merge_domains", "split_domains"]


@dataclass(frozen=True)
class Task:
    """One adaptation task: labelled source domain(s) -> one unlabelled target domain.

    Attributes
    ----------
    sources : tuple of str
        Names of the source domains (one for a single-source task).
    target : str
        Name of the target domain.
    """

    sources: tuple[str, ...]
    target: str

    def __post_init__(self):
        if isinstance(self.sources, str):
            object.__setattr__(self, "sources", (self.sources,))
        else:
            object.__setattr__(self, "sources", tuple(self.sources))
        if not self.sources:
            raise DataValidationError("A task needs at least one source domain.")
        if self.target in self.sources:
            raise DataValidationError(
                f"Domain {self.target!r} is both a source and the target of the task; "
                "pick a target that is not among the sources."
            )

    @property
    def name(self) -> str:
        """Readable name, e.g. ``"amazon->webcam"`` or ``"amazon+dslr->webcam"``."""
        return f"{'+'.join(self.sources)}->{self.target}"

    @property
    def multi_source(self) -> bool:
        return len(self.sources) > 1

    @classmethod
    def parse(cls, text: str) -> Task:
        """Parse ``"a->b"`` or ``"a+c->b"`` into a task."""
        if "->" not in text:
            raise DataValidationError(
                f"Cannot parse task {text!r}: write it as 'source->target' or 's1+s2->target'."
            )
        left, right = text.split("->", 1)
        return cls(tuple(s.strip() for s in left.split("+")), right.strip())

    def __str__(self) -> str:
        return self.name


@dataclass
class DomainDataset:
    """A dataset made of named domains, each with its own ``(X, y)``.

    Parameters
    ----------
    domains : mapping of str to (X, y)
        The domains, in the order that defines their ids (domain *k* gets id ``k + 1``
        as a source and ``-(k + 1)`` as a target).
    name : str, default="dataset"
        Name shown in reports.
    heterogeneous : bool, default=False
        Allow domains with different numbers of features. Only heterogeneous methods
        can use such a dataset; :meth:`pack` refuses to stack them.
    feature_names, target_names : sequence of str, optional
        Names of the feature columns and of the classes.
    metadata : dict, optional
        Free-form provenance (source, citation, generator parameters, ...).
    allow_missing : bool, default=False
        Accept NaN in X (missing values, e.g. of a user's table). Such a dataset needs
        an imputing step in its pipelines (a benchmark definition's ``preprocessing``,
        or e.g. ``make_da_pipeline(SimpleImputer(), CORAL(), LogisticRegression())``).

    Examples
    --------
    >>> import numpy as np
    >>> from shiftlab.data import DomainDataset
    >>> rng = np.random.default_rng(0)
    >>> ds = DomainDataset({"a": (rng.normal(size=(20, 3)), np.arange(20) % 2),
    ...                     "b": (rng.normal(size=(30, 3)), np.arange(30) % 2)})
    >>> [t.name for t in ds.tasks()]
    ['a->b', 'b->a']
    >>> X, y, sample_domain = ds.pack("a", "b")
    >>> sorted(set(sample_domain.tolist())), int((y == -1).sum())
    ([-2, 1], 30)
    """

    domains: Mapping[str, tuple[Any, Any]]
    name: str = "dataset"
    heterogeneous: bool = False
    feature_names: Sequence[str] | None = None
    target_names: Sequence[str] | None = None
    metadata: dict = field(default_factory=dict)
    allow_missing: bool = False

    def __post_init__(self):
        if not isinstance(self.domains, Mapping) or len(self.domains) < 1:
            raise DataValidationError(
                "domains must be a non-empty mapping {name: (X, y)}."
            )
        checked: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        n_features = None
        kinds = set()
        for dname, pair in self.domains.items():
            dname = str(dname)
            if "->" in dname or "+" in dname:
                raise DataValidationError(
                    f"Domain name {dname!r} contains '->' or '+', which are reserved for task "
                    "names; rename the domain."
                )
            try:
                X, y = pair
            except (TypeError, ValueError) as exc:
                raise DataValidationError(
                    f"Domain {dname!r} must be given as a pair (X, y)."
                ) from exc
            X = np.array(X, copy=True)
            y = np.array(y, copy=True)
            if X.ndim < 2:
                raise DataValidationError(
                    f"Domain {dname!r}: X must be 2-D (n_samples, n_features), got {X.shape}."
                )
            if y.ndim != 1 or y.shape[0] != X.shape[0]:
                raise DataValidationError(
                    f"Domain {dname!r}: X has {X.shape[0]} samples but y has shape {y.shape}."
                )
            if X.dtype.kind in "biu":
                X = X.astype(np.float64)
            if X.dtype.kind == "f" and not np.isfinite(X).all():
                if not self.allow_missing:
                    raise DataValidationError(
                        f"Domain {dname!r}: X contains NaN or infinite values; impute or drop "
                        "them, or pass allow_missing=True and impute inside the pipeline."
                    )
                if np.isinf(X).any():
                    raise DataValidationError(
                        f"Domain {dname!r}: X contains infinite values; replace them (NaN, "
                        "a missing value, is accepted with allow_missing=True)."
                    )
            if n_features is None:
                n_features = X.shape[1:]
            elif X.shape[1:] != n_features and not self.heterogeneous:
                raise DataValidationError(
                    f"Domain {dname!r} has feature shape {X.shape[1:]} but earlier domains have "
                    f"{n_features}. Project them to a common space, or pass "
                    "heterogeneous=True if the task is heterogeneous DA."
                )
            if y.size:
                kinds.add(label_kind(y))
            X.setflags(write=False)
            y.setflags(write=False)
            checked[dname] = (X, y)
        if len(kinds) > 1:
            raise DataValidationError(
                "Some domains have class labels and others regression targets; "
                "all domains of a dataset must share one kind of label."
            )
        self.domains = checked
        self._kind: LabelKind = kinds.pop() if kinds else "classification"

    # ------------------------------------------------------------------ access
    @property
    def domain_names(self) -> list[str]:
        return list(self.domains)

    @property
    def label_kind(self) -> LabelKind:
        """``"classification"`` or ``"regression"``."""
        return self._kind

    @property
    def n_features(self) -> int:
        return int(np.prod(next(iter(self.domains.values()))[0].shape[1:]))

    @property
    def classes(self) -> np.ndarray:
        """Sorted class labels over all domains (classification only)."""
        if self._kind != "classification":
            raise DataValidationError(f"Dataset {self.name!r} is a regression dataset.")
        return np.unique(np.concatenate([y for _, y in self.domains.values()]))

    def _check_domain(self, name: str) -> str:
        if name not in self.domains:
            raise unknown_name("domain", name, self.domains)
        return name

    def __getitem__(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return read-only views ``(X, y)`` of a domain."""
        return self.domains[self._check_domain(name)]

    def __contains__(self, name: object) -> bool:
        return name in self.domains

    def __iter__(self) -> Iterator[str]:
        return iter(self.domains)

    def __len__(self) -> int:
        return len(self.domains)

    def domain_id(self, name: str) -> int:
        """Positive id of a domain (its source id; the target id is the negative)."""
        return self.domain_names.index(self._check_domain(name)) + 1

    def sizes(self) -> dict[str, int]:
        return {name: int(X.shape[0]) for name, (X, _) in self.domains.items()}

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {v}" for k, v in self.sizes().items())
        return (
            f"DomainDataset({self.name!r}, {self._kind}, {self.n_features} features, "
            f"{{{parts}}})"
        )

    # ------------------------------------------------------------------- tasks
    def tasks(self, *, multi_source: bool = False, single_source: bool = True) -> list[Task]:
        """List adaptation tasks.

        Parameters
        ----------
        multi_source : bool, default=False
            Add one task per domain with *all other* domains as sources.
        single_source : bool, default=True
            Include every ordered pair ``source -> target``.
        """
        out: list[Task] = []
        names = self.domain_names
        if single_source:
            out += [Task((s,), t) for s, t in itertools.permutations(names, 2)]
        if multi_source and len(names) > 2:
            out += [Task(tuple(n for n in names if n != t), t) for t in names]
        return out

    def task(self, sources: str | Sequence[str], target: str) -> Task:
        """Build a task after checking the domain names."""
        task = Task((sources,) if isinstance(sources, str) else tuple(sources), target)
        for name in (*task.sources, task.target):
            self._check_domain(name)
        return task

    # -------------------------------------------------------------------- pack
    def pack(
        self,
        sources: str | Sequence[str] | Task,
        target: str | Sequence[str] | None = None,
        *,
        mask_target: bool = True,
        return_target_labels: bool = False,
    ):
        """Stack domains into ``X, y, sample_domain`` arrays.

        Parameters
        ----------
        sources : str, sequence of str or Task
            Source domain name(s), or a :class:`Task` (then ``target`` is ignored).
        target : str or sequence of str
            Target domain name(s).
        mask_target : bool, default=True
            Mask target labels (-1 / NaN). Only evaluation code should pass ``False``.
        return_target_labels : bool, default=False
            Also return the *unmasked* labels as a fourth array (for evaluators).

        Returns
        -------
        X : ndarray of shape (n_samples, ...)
        y : ndarray of shape (n_samples,)
        sample_domain : ndarray of int64
        y_true : ndarray, only when ``return_target_labels``
        """
        if isinstance(sources, Task):
            task = sources
            source_names, target_names = list(task.sources), [task.target]
        else:
            if target is None:
                raise DataValidationError("pack needs a target domain (or a Task).")
            source_names = [sources] if isinstance(sources, str) else list(sources)
            target_names = [target] if isinstance(target, str) else list(target)
        for name in (*source_names, *target_names):
            self._check_domain(name)
        overlap = set(source_names) & set(target_names)
        if overlap:
            raise DataValidationError(
                f"Domain(s) {sorted(overlap)} are listed as both source and target."
            )
        if self.heterogeneous:
            shapes = {self.domains[n][0].shape[1:] for n in (*source_names, *target_names)}
            if len(shapes) > 1:
                raise DataValidationError(
                    "These domains have different feature dimensions and cannot be stacked "
                    "into one X; use per-domain access (dataset[name]) for heterogeneous DA."
                )
        Xs, ys, sds = [], [], []
        for name in source_names:
            X, y = self.domains[name]
            Xs.append(X)
            ys.append(y)
            sds.append(np.full(X.shape[0], self.domain_id(name), dtype=np.int64))
        for name in target_names:
            X, y = self.domains[name]
            Xs.append(X)
            ys.append(y)
            sds.append(np.full(X.shape[0], -self.domain_id(name), dtype=np.int64))
        X = np.concatenate(Xs)  # concatenate always copies
        y_true = np.concatenate(ys)
        sample_domain = np.concatenate(sds)
        if self._kind == "classification":
            source_classes = np.unique(y_true[sample_domain >= 0])
            if source_classes.size < 2:
                raise DataValidationError(
                    f"Source domain(s) {source_names} hold one class only "
                    f"({source_classes.tolist()}); a classifier needs at least two."
                )
        y = mask_target_labels(y_true, sample_domain, self._kind) if mask_target else y_true.copy()
        if return_target_labels:
            return X, y, sample_domain, y_true
        return X, y, sample_domain

    def subset(self, domains: Sequence[str]) -> DomainDataset:
        """A new dataset restricted to some domains (in the given order)."""
        return DomainDataset(
            {d: self[d] for d in domains},
            name=self.name,
            heterogeneous=self.heterogeneous,
            feature_names=self.feature_names,
            target_names=self.target_names,
            metadata=dict(self.metadata),
            allow_missing=self.allow_missing,
        )

    # ----------------------------------------------------------------- storage
    def save(self, path: str | Path) -> Path:
        """Write the dataset to a ``.npz`` file (arrays plus JSON metadata)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            self._write_npz(fh)
        tmp.replace(path)
        return path

    def to_bytes(self) -> bytes:
        """The dataset as the bytes of the ``.npz`` file :meth:`save` writes."""
        buffer = io.BytesIO()
        self._write_npz(buffer)
        return buffer.getvalue()

    def _write_npz(self, fh) -> None:
        arrays = {}
        for i, (X, y) in enumerate(self.domains.values()):
            arrays[f"X_{i}"] = X
            arrays[f"y_{i}"] = y
        meta = {
            "name": self.name,
            "domains": self.domain_names,
            "heterogeneous": self.heterogeneous,
            "feature_names": list(self.feature_names) if self.feature_names is not None else None,
            "target_names": list(self.target_names) if self.target_names is not None else None,
            "metadata": self.metadata,
            "allow_missing": self.allow_missing,
        }
        arrays["__meta__"] = np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8)
        np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path | bytes) -> DomainDataset:
        """Read a dataset written by :meth:`save` (or the bytes of :meth:`to_bytes`)."""
        if isinstance(path, bytes):
            source, path = io.BytesIO(path), "<bytes>"
        else:
            path = Path(path)
            if not path.exists():
                raise DataValidationError(f"No dataset file at {path}.")
            source = path
        with np.load(source, allow_pickle=False) as data:
            if "__meta__" not in data:
                raise DataValidationError(
                    f"{path} is not a shiftlab dataset file (no metadata); write it with "
                    "DomainDataset.save or `shiftlab simulate`."
                )
            meta = json.loads(bytes(data["__meta__"]).decode())
            domains = {
                d: (data[f"X_{i}"], data[f"y_{i}"]) for i, d in enumerate(meta["domains"])
            }
        return cls(
            domains,
            name=meta["name"],
            heterogeneous=meta["heterogeneous"],
            feature_names=meta["feature_names"],
            target_names=meta["target_names"],
            metadata=meta["metadata"],
            allow_missing=meta.get("allow_missing", False),
        )


def split_domains(X, y, sample_domain) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Split aligned arrays into ``{domain_id: (X, y)}`` (copies, ids in sorted order)."""
    X = np.asarray(X)
    y = np.asarray(y)
    sample_domain = np.asarray(sample_domain)
    if not (X.shape[0] == y.shape[0] == sample_domain.shape[0]):
        raise DataValidationError(
            f"X, y and sample_domain have {X.shape[0]}, {y.shape[0]} and "
            f"{sample_domain.shape[0]} rows; they must be aligned."
        )
    return {
        int(d): (X[sample_domain == d].copy(), y[sample_domain == d].copy())
        for d in np.unique(sample_domain)
    }


def merge_domains(parts: Mapping[int, tuple[Any, Any]]):
    """Inverse of :func:`split_domains`: stack ``{domain_id: (X, y)}`` into three arrays."""
    if not parts:
        raise DataValidationError("Nothing to merge: give at least one domain.")
    Xs, ys, sds = [], [], []
    for d, (X, y) in parts.items():
        X = np.asarray(X)
        Xs.append(X)
        ys.append(np.asarray(y))
        sds.append(np.full(X.shape[0], int(d), dtype=np.int64))
    return np.concatenate(Xs), np.concatenate(ys), np.concatenate(sds)
