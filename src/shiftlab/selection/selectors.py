"""Selectors over a pool of candidates: choose, or aggregate, across methods.

A per-scorer selection compares the candidates of one search by one label-free score,
which loses to doing nothing on real data (SKADA-Bench; our own measurements). The
selectors here read the whole *pool* of an outer split at once — every candidate of every
method, source-only included, fitted on the same inner splits — and never refit:

* :class:`EnsembleValidation` (``"EnsV"``, Hu et al., 2024) scores each candidate by its
  agreement with the ensemble of all candidates' target predictions on the inner
  validation rows; it provably avoids the worst candidates of the pool.
* :class:`StandardizedConsensus` (``"zconsensus"``) combines realistic scorers across
  methods on a common scale: each scorer's values are standardised over the pool per
  inner split, and each scorer is weighted by how stable its ranking of the pool is from
  one inner split to the next (mean Spearman correlation, negatives count as zero).
* :class:`SafeSelector` (``"safe"``) keeps source-only unless the consensus's choice beats
  it on at least ``quorum`` of the (scorer, inner split) comparisons; the rule is stated
  in the class.
* :class:`AverageAggregation` (``"Average"``) and :class:`ImportanceWeightedAggregation`
  (``"IWA"``, Dinu et al., 2023) do not select: the final model is a weighted ensemble
  of the refitted candidates (uniform weights, or importance-weighted least squares on
  the source validation rows). Their cost: every candidate with a non-zero weight is
  refitted on the outer-train part and kept for prediction.

Pool selectors need every candidate scored on the same inner splits: a cross-method grid
in one :class:`~shiftlab.selection.DomainSearchCV` (see :func:`method_pool`), or the
searches of several methods on one outer split merged with
:meth:`~shiftlab.selection.search.OuterSplitSearch.pool`.

References
----------
Hu, D., Luo, R., Liang, J., Foo, C.-S. (2024). Towards Reliable Model Selection for
Unsupervised Domain Adaptation: An Empirical Study and A Certified Baseline (EnsV).
NeurIPS Datasets and Benchmarks.
Dinu, M.-C., Holzleitner, M., Beck, M., et al. (2023). Addressing Parameter Choice Issues
in Unsupervised Domain Adaptation by Aggregation (IWA). ICLR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import spearmanr

from shiftlab.exceptions import DataValidationError
from shiftlab.selection.scorers import AggregateScorer, BaseScorer, register_scorer

if TYPE_CHECKING:  # pragma: no cover
    from shiftlab.selection.records import CandidateRecord, SplitContext
    from shiftlab.selection.search import OuterSplitSearch

__all__ = [
    "AverageAggregation",
    "EnsembleValidation",
    "ImportanceWeightedAggregation",
    "PoolAggregation",
    "PoolScorer",
    "SafeSelector",
    "StandardizedConsensus",
    "method_pool",
    "SOURCE_ONLY",
]

#: Method label of the source-only candidates of a pool (the identity adapter).
SOURCE_ONLY = "SourceOnly"


# ------------------------------------------------------------------------ helpers
def _aligned(proba: np.ndarray, classes, union: np.ndarray) -> np.ndarray:
    """Columns of ``proba`` (over ``classes``) placed on the columns of ``union``."""
    out = np.zeros((proba.shape[0], union.size))
    out[:, np.searchsorted(union, np.asarray(classes))] = proba
    return out


def _class_union(records) -> np.ndarray | None:
    found = [np.asarray(r.classes) for r in records if r is not None and r.classes is not None]
    return np.unique(np.concatenate(found)) if found else None


def _record_proba(rec, part: str, union: np.ndarray) -> np.ndarray | None:
    """A record's class probabilities on ``part`` over ``union`` (one-hot predictions
    for models without probabilities or decision values)."""
    if rec is None or rec.classes is None:
        return None
    proba = rec.probabilities(part)
    if proba is None:
        pred = getattr(rec, f"pred_{part}")
        if pred is None:
            return None
        proba = (np.asarray(pred)[:, None] == np.asarray(rec.classes)[None, :]).astype(float)
    return _aligned(np.asarray(proba, dtype=float), rec.classes, union)


# --------------------------------------------------------------------- pool scorers
class PoolScorer(BaseScorer):
    """A realistic scorer that reads every candidate of an inner split at once."""

    is_pool = True

    def score_pool(self, records: Sequence[CandidateRecord | None],
                   context: SplitContext) -> np.ndarray:
        """Scores of the candidates (``None``: failed fit, scored NaN) on one split."""
        raise NotImplementedError  # pragma: no cover


@register_scorer("EnsV", aliases=("ensv", "ensemble_validation"))
class EnsembleValidation(PoolScorer):
    """EnsV: agreement of each candidate with the pool's ensemble on the target rows.

    On each inner split, the ensemble is the mean of every (successfully fitted)
    candidate's class probabilities on the target validation rows (one-hot predictions
    for models without probabilities); a candidate's score is the share of target rows
    where its predicted class equals the ensemble's. The ensemble is a "role model":
    Hu et al. (2024) show that the chosen candidate is never among the worst of the pool
    (its error is bounded by the ensemble's), unlike selections by entropy-like scores.
    Reads no label at all.

    References
    ----------
    Hu, D., Luo, R., Liang, J., Foo, C.-S. (2024). Towards Reliable Model Selection for
    Unsupervised Domain Adaptation: An Empirical Study and A Certified Baseline.
    NeurIPS Datasets and Benchmarks.
    """

    name = "EnsV"
    reference = "Hu et al., NeurIPS 2024 (EnsV)"
    needs = ("pred_target_val",)

    def score_pool(self, records, context):
        out = np.full(len(records), np.nan)
        union = _class_union(records)
        if union is None:
            return out
        probas = [_record_proba(r, "target_val", union) for r in records]
        valid = [p for p in probas if p is not None]
        if not valid:
            return out
        ensemble = np.mean(valid, axis=0).argmax(axis=1)
        for c, proba in enumerate(probas):
            if proba is not None:
                out[c] = float(np.mean(proba.argmax(axis=1) == ensemble))
        return out


# ------------------------------------------------------------ cross-method consensus
def _standardized(values: np.ndarray) -> np.ndarray:
    """Each column (inner split) standardised over the candidates; NaN stays NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(values, axis=0, keepdims=True)
        std = np.nanstd(values, axis=0, keepdims=True)
        z = (values - mean) / np.where(std > 0, std, np.inf)
    return np.where(np.isfinite(values), z, np.nan)


def _stability(values: np.ndarray) -> float:
    """Mean Spearman correlation of the candidates' scores between pairs of inner
    splits, clipped at 0 (a scorer that orders the pool at random weighs nothing)."""
    n_splits = values.shape[1]
    corr = []
    for s in range(n_splits):
        for t in range(s + 1, n_splits):
            ok = np.isfinite(values[:, s]) & np.isfinite(values[:, t])
            if ok.sum() > 2 and np.ptp(values[ok, s]) > 0 and np.ptp(values[ok, t]) > 0:
                corr.append(spearmanr(values[ok, s], values[ok, t]).statistic)
    if not corr:  # one inner split: no evidence either way, equal weight
        return 1.0
    return max(0.0, float(np.nanmean(corr)))


@register_scorer("zconsensus", aliases=("standardized_consensus",))
class StandardizedConsensus(AggregateScorer):
    """Consensus across methods: standardised scores weighted by their stability.

    For each member scorer, the candidates' values on each inner split are standardised
    over the pool (z-scores), so scorers on different scales and with different spreads
    count alike, and averaged over the inner splits. Each scorer is weighted by its
    stability: the mean Spearman correlation between the pool's orderings on two inner
    splits (clipped at 0). The score of a candidate is the weighted mean of its z-scores
    (a candidate a scorer could not score counts as 3 standard deviations below).

    Unlike :class:`~shiftlab.selection.RankConsensus`, whose ranks are taken within one
    search, this compares candidates across methods when the pool holds several.

    Parameters
    ----------
    members : sequence of str, optional
        Scorers to combine; default every realistic (non-aggregate, non-oracle) scorer.
    """

    name = "zconsensus"
    reference = "standardised, stability-weighted score consensus (shiftlab)"
    tasks = ("classification", "regression")

    def __init__(self, members: Sequence[str] | None = None, *, name=None):
        super().__init__(name=name)
        self._set_params(members=None if members is None else list(members))

    def aggregate_search(self, search: OuterSplitSearch) -> np.ndarray:
        members = search.realistic_members(self.members, self.name)
        values = [np.asarray(search.scores[m], dtype=float) for m in members]
        z = np.array([np.nan_to_num(np.nanmean(_standardized(v), axis=1), nan=-3.0)
                      for v in values])
        weights = np.array([_stability(v) for v in values])
        if weights.sum() == 0:  # every scorer unstable: fall back to equal weights
            weights = np.ones(len(members))
        return weights @ z / weights.sum()

    def aggregate(self, scores):  # pragma: no cover - the search calls aggregate_search
        raise DataValidationError("zconsensus reads the whole search (aggregate_search).")


@register_scorer("safe", aliases=("safe_selector",))
class SafeSelector(AggregateScorer):
    """Source-only unless an adapted candidate wins by a label-free, stated rule.

    The rule: let ``c*`` be the candidate the :class:`StandardizedConsensus` of the
    member scorers chooses, and ``s0`` the best source-only candidate by the same
    consensus. ``c*`` is kept when it scores above ``s0`` on at least ``quorum`` of the
    (member scorer, inner split) pairs where both are scored; otherwise ``s0`` is. An
    adapted model is thus deployed only when most label-free evidence, split by split,
    agrees that it beats doing nothing.

    The selected candidate scores 1, the others 0.

    Parameters
    ----------
    members : sequence of str, optional
        Scorers whose evidence counts; default every realistic scorer of the search.
    quorum : float, default=2/3
        Share of the comparisons ``c*`` must win.
    """

    name = "safe"
    reference = "source-only unless the consensus's choice wins a quorum (shiftlab)"
    tasks = ("classification", "regression")

    def __init__(self, members: Sequence[str] | None = None, *, quorum: float = 2 / 3,
                 name=None):
        super().__init__(name=name)
        if not 0 < quorum <= 1:
            raise DataValidationError(f"quorum must be in (0, 1], got {quorum!r}.")
        self._set_params(members=None if members is None else list(members), quorum=quorum)

    def aggregate_search(self, search: OuterSplitSearch) -> np.ndarray:
        members = search.realistic_members(self.members, self.name)
        methods = search.candidate_methods()
        source = [c for c, m in enumerate(methods) if m == SOURCE_ONLY]
        if not source:
            raise DataValidationError(
                "The safe selector needs a source-only candidate in the pool (method "
                f"{SOURCE_ONLY!r}); build the pool with method_pool(...) or merge a "
                "SourceOnly search into it."
            )
        consensus = StandardizedConsensus(members).aggregate_search(search)
        best = int(np.argmax(consensus))
        s0 = source[int(np.argmax(consensus[source]))]
        chosen = s0
        if best not in source:
            wins = total = 0
            for m in members:
                values = np.asarray(search.scores[m], dtype=float)
                ok = np.isfinite(values[best]) & np.isfinite(values[s0])
                wins += int(np.sum(values[best][ok] > values[s0][ok]))
                total += int(ok.sum())
            if total and wins / total >= self.quorum:
                chosen = best
        out = np.zeros(len(search.candidates))
        out[chosen] = 1.0
        return out

    def aggregate(self, scores):  # pragma: no cover - the search calls aggregate_search
        raise DataValidationError("safe reads the whole search (aggregate_search).")


# -------------------------------------------------------------------- aggregations
class PoolAggregation(BaseScorer):
    """A final model that combines the refitted candidates' predictions with weights.

    Not a selection: :meth:`weights` gives one weight per candidate (from inner data
    only), and the outer test predictions are the argmax of the weighted sum of the
    refitted candidates' class probabilities. Every candidate with a non-zero weight must
    be refitted and kept: the cost is the sum of their fits and of their memory.
    """

    is_aggregation = True
    tasks = ("classification",)

    def weights(self, search: OuterSplitSearch) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover


@register_scorer("Average", aliases=("average", "mean_ensemble"))
class AverageAggregation(PoolAggregation):
    """The plain average of every candidate's class probabilities (uniform weights)."""

    name = "Average"
    reference = "uniform ensemble of the pool"

    def weights(self, search):
        ok = np.array([any(not search.records[(c, s)].failed for s in range(search.n_inner))
                       for c in range(len(search.candidates))], dtype=float)
        return ok / max(ok.sum(), 1.0)


@register_scorer("IWA", aliases=("iwa",))
class ImportanceWeightedAggregation(PoolAggregation):
    """IWA: candidates' probabilities combined by importance-weighted least squares.

    The weights ``a`` minimise, over the source validation rows of every inner split,
    ``sum_i w_i || sum_c a_c p_c(x_i) - e(y_i) ||^2 + alpha ||a||^2`` where ``p_c`` are
    candidate ``c``'s class probabilities, ``e(y)`` the one-hot label and ``w_i`` the
    split's density-ratio weights (target / source, as for IW): a least-squares fit of
    the *target* labels, estimated on source rows by importance weighting. Dinu et al.
    (2023) bound the target error of this aggregate by about twice that of the best
    linear aggregation of the candidates.

    Parameters
    ----------
    alpha : float, default=1.0
        Ridge penalty, relative to the mean diagonal of the normal equations. A pool
        holds many nearly collinear candidates (a method's grid neighbours, methods that
        barely move the data): with a small penalty the fit gives them large weights of
        opposite signs that do not transfer to the target.
    positive : bool, default=False
        Constrain the weights to be non-negative (a conic combination, solved by
        non-negative least squares): collinear candidates then cannot cancel out with
        large weights of opposite signs.

    References
    ----------
    Dinu, M.-C., Holzleitner, M., Beck, M., Nguyen, H. D., Huber, A., Eghbal-zadeh, H.,
    Moser, B. A., Pereverzyev, S., Hochreiter, S., Zellinger, W. (2023). Addressing
    Parameter Choice Issues in Unsupervised Domain Adaptation by Aggregation. ICLR.
    """

    name = "IWA"
    reference = "Dinu et al., ICLR 2023 (IWA)"

    def __init__(self, alpha: float = 1.0, positive: bool = False, *, name=None):
        super().__init__(name=name)
        self._set_params(alpha=float(alpha), positive=bool(positive))

    def weights(self, search):
        n_c = len(search.candidates)
        union = _class_union(search.records.values())
        if union is None:
            return np.full(n_c, np.nan)
        blocks, targets, row_w = [], [], []
        usable = np.ones(n_c, dtype=bool)
        for s, ctx in enumerate(search.contexts):
            cols = []
            for c in range(n_c):
                rec = search.records[(c, s)]
                p = None if rec.failed else _record_proba(rec, "source_val", union)
                if p is None:
                    usable[c] = False
                    p = np.zeros((len(ctx.y_source_val), union.size))
                cols.append(p.ravel())
            blocks.append(np.column_stack(cols))
            y = np.asarray(ctx.y_source_val)
            targets.append((y[:, None] == union[None, :]).astype(float).ravel())
            row_w.append(np.repeat(ctx.importance_weights(), union.size))
        D = np.vstack(blocks)[:, usable]
        if D.shape[1] == 0:
            return np.full(n_c, np.nan)
        y, w = np.concatenate(targets), np.concatenate(row_w)
        gram = D.T @ (D * w[:, None])
        ridge = self.alpha * max(float(np.trace(gram)) / gram.shape[0], 1e-12)
        if self.positive:
            from scipy.optimize import nnls

            # The same penalised problem as rows: [sqrt(w) D; sqrt(ridge) I] a ~ [sqrt(w) y; 0].
            root = np.sqrt(w)[:, None]
            A = np.vstack([D * root, np.sqrt(ridge) * np.eye(D.shape[1])])
            b = np.concatenate([y * root[:, 0], np.zeros(D.shape[1])])
            coef = nnls(A, b, maxiter=50 * D.shape[1])[0]
        else:
            coef = np.linalg.solve(gram + ridge * np.eye(gram.shape[0]), D.T @ (w * y))
        out = np.zeros(n_c)
        out[usable] = coef
        return out


# ---------------------------------------------------------------------- pool builder
def method_pool(methods: Mapping[str, Mapping | None] | Sequence[str], estimator, *,
                standardize: bool = True, random_state: int | None = None,
                preprocessing=None):
    """A cross-method candidate pool for :class:`~shiftlab.selection.DomainSearchCV`.

    Parameters
    ----------
    methods : mapping of method name to its grid (or None), or sequence of names
        Registered shallow methods (``shiftlab list methods``) and the grids of their
        own parameters. Source-only (``"SourceOnly"``) is always in the pool.
    estimator : classifier
        The final estimator every candidate ends with.
    standardize : bool, default=True
        Put a ``StandardScaler`` first (shared by every candidate; fitted without
        labels).
    random_state : int, optional
        Given to every method that has a ``random_state`` (an int makes every
        candidate's fit reproducible; ``None`` leaves them unseeded).
    preprocessing : transformer, optional
        A first step shared by every candidate, fitted without labels (e.g. the
        imputer and encoder of :func:`shiftlab.methods.preprocessing.make_preprocessor`).

    Returns
    -------
    pipeline : DAPipeline
        Steps ``[preprocessing,] [scaler,] adapter, estimator``.
    param_grid : list of dict
        One grid per method; candidates swap the ``adapter`` step (or, for methods that
        are estimators themselves, the ``estimator`` step).
    """
    from sklearn.base import clone
    from sklearn.preprocessing import StandardScaler

    from shiftlab.methods.base import DAPipeline, seeded
    from shiftlab.methods.registry import get_method

    if not isinstance(methods, Mapping):
        methods = dict.fromkeys(methods)
    methods = {SOURCE_ONLY: None, **dict(methods)}
    steps = [("preprocessing", preprocessing)] if preprocessing is not None else []
    steps += [("scaler", StandardScaler())] if standardize else []
    steps += [("adapter", get_method(SOURCE_ONLY).cls()), ("estimator", clone(estimator))]
    grids = []
    for name, grid in methods.items():
        spec = get_method(name)
        grid = dict(grid or {})
        if spec.needs_estimator:
            entry = {"adapter": [seeded(spec.cls(), random_state)]}
            entry.update({f"adapter__{k}": list(v) for k, v in grid.items()})
        else:  # a DA estimator: it replaces the final step, the adapter is the identity
            entry = {"adapter": [get_method(SOURCE_ONLY).cls()],
                     "estimator": [seeded(spec.cls(base_estimator=clone(estimator)),
                                          random_state)]}
            entry.update({f"estimator__{k}": list(v) for k, v in grid.items()})
        grids.append(entry)
    return DAPipeline(steps), grids

