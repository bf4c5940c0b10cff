"""The stored form of a search: row indices instead of rows, compact outputs.

A benchmark job keeps its search (:class:`~shiftlab.selection._outer.OuterSplitSearch`)
so that a scorer added later is scored from its records, without refitting. As built,
a search holds the outer-train rows, and each inner split's training and validation
rows again: about ``n_inner + 1`` copies of the job's data (12.6 MiB at 10,000 rows of
30 features with 5 inner splits, 78% of it those copies). The stored form keeps instead:

* the indices of those rows (:class:`SearchRows`), into the task's arrays for the outer
  split and into the outer-train rows for the inner splits; :func:`attach_rows` rebuilds
  the rows from the task's arrays, which the benchmark reloads from the dataset (the
  same bytes: datasets are keyed by their content);
* the candidates' probabilities, decision values and features in float32 (a relative
  rounding of 6e-8, which moves a score by far less than 1e-6; integer predictions in
  the narrowest integer type that holds them). :func:`attach_rows` turns them back into
  float64, so scorers compute in the precision they were written for.

Everything else (scores, selections, evaluator labels, circular validation's refits)
is kept as is.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np

__all__ = ["SearchRows", "attach_rows", "detach_rows"]

#: SplitContext fields rebuilt from indices.
_CONTEXT_ROWS = (
    "X_source_val", "y_source_val", "X_target_val", "sample_domain_source_val",
    "sample_domain_target_val", "X_train", "y_train", "sample_domain_train",
)
#: Outputs of candidate records (CandidateRecord) and of outer refits (OuterRecord):
#: floats are stored in float32, integer predictions in their narrowest type.
_RECORD_OUTPUTS = (
    "proba_source_val", "proba_target_val", "decision_source_val", "decision_target_val",
    "features_source_val", "features_target_val",
    "pred_source_val", "pred_target_val", "pred_target_mix",
)
_OUTER_OUTPUTS = ("proba", "decision", "pred")


@dataclass
class SearchRows:
    """Where a search's rows come from.

    Attributes
    ----------
    train : ndarray of int
        Outer-train rows, as indices into the task's arrays.
    test : ndarray of int
        Outer-test target rows (the rows the refitted candidates are evaluated on).
    inner : list of (ndarray, ndarray, ndarray)
        Per inner split, its training, source-validation and target-validation rows, as
        indices into the outer-train rows.
    """

    train: np.ndarray
    test: np.ndarray
    inner: list[tuple[np.ndarray, np.ndarray, np.ndarray]]

    def __post_init__(self):
        self.train = _indices(self.train)
        self.test = _indices(self.test)
        self.inner = [tuple(_indices(i) for i in split) for split in self.inner]

    def same_as(self, other: SearchRows) -> bool:
        """Whether two searches used the same rows (pools require it)."""
        return (np.array_equal(self.train, other.train)
                and np.array_equal(self.test, other.test)
                and len(self.inner) == len(other.inner)
                and all(np.array_equal(a, b)
                        for sa, sb in zip(self.inner, other.inner, strict=True)
                        for a, b in zip(sa, sb, strict=True)))


def _indices(a) -> np.ndarray:
    """Row indices in the narrowest unsigned type (uint16 below 65,536 rows)."""
    a = np.asarray(a, dtype=np.int64)
    return a.astype(np.min_scalar_type(a.max()) if a.size else np.uint8)


def _narrow(a):
    """Float outputs as float32; integer predictions in their narrowest integer type."""
    if a is None:
        return None
    a = np.asarray(a)
    if a.dtype.kind == "f":
        return a.astype(np.float32)
    if a.dtype.kind in "iu" and a.size:
        return a.astype(np.result_type(np.min_scalar_type(a.min()), np.min_scalar_type(a.max())))
    return a


def _widen(a):
    if a is None:
        return None
    a = np.asarray(a)
    if a.dtype == np.float32:
        return a.astype(np.float64)
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    return a


def _cast(record, fields, how):
    return replace(record, **{f: how(getattr(record, f)) for f in fields})


def detach_rows(search):
    """A copy of ``search`` without its rows and with float32 outputs, to store.

    ``search`` is left as it is. A search without :class:`SearchRows` (built before they
    existed) is returned whole.
    """
    if getattr(search, "rows", None) is None:
        return search
    stored = copy.copy(search)
    contexts = []
    for ctx in search.contexts:
        bare = copy.copy(ctx)
        for name in _CONTEXT_ROWS:
            setattr(bare, name, None)
        bare._cache = {}
        contexts.append(bare)
    stored.contexts = contexts
    stored._train = None
    stored._test = None
    stored.records = {k: _cast(r, _RECORD_OUTPUTS, _narrow) for k, r in search.records.items()}
    stored.outer = {c: _cast(r, _OUTER_OUTPUTS, _narrow) for c, r in search.outer.items()}
    return stored


def attach_rows(search, X, y, sample_domain) -> None:
    """Rebuild, in place, the rows of a search stored by :func:`detach_rows`.

    ``X, y, sample_domain`` are the task's arrays, as given to the search (``y`` with the
    target labels: they are masked here as the protocol masks them). A search stored
    whole is left as it is.
    """
    rows = getattr(search, "rows", None)
    if rows is None or search._train is not None:
        return
    from shiftlab.selection._protocol import prepare_arrays

    X, y_masked, sd, _, _ = prepare_arrays(X, y, sample_domain, search.estimator)
    X_tr, y_tr, sd_tr = X[rows.train], y_masked[rows.train], sd[rows.train]
    search._train = (X_tr, y_tr, sd_tr)
    search._test = (X[rows.test], sd[rows.test])
    for ctx, (tr, sv, tv) in zip(search.contexts, rows.inner, strict=True):
        ctx.X_source_val, ctx.y_source_val = X_tr[sv], y_tr[sv]
        ctx.X_target_val = X_tr[tv]
        ctx.sample_domain_source_val, ctx.sample_domain_target_val = sd_tr[sv], sd_tr[tv]
        ctx.X_train, ctx.y_train, ctx.sample_domain_train = X_tr[tr], y_tr[tr], sd_tr[tr]
    search.records = {k: _cast(r, _RECORD_OUTPUTS, _widen) for k, r in search.records.items()}
    search.outer = {c: _cast(r, _OUTER_OUTPUTS, _widen) for c, r in search.outer.items()}
