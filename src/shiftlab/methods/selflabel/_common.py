"""What the self-labelling methods share: parameter checks, exact and entropic OT
plans and their minibatch blocks, and the fit of the target model."""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import StrOptions

from shiftlab.data.convention import label_kind
from shiftlab.exceptions import DataValidationError
from shiftlab.methods._checks import APPROX, ESTIMATOR, at_least
from shiftlab.methods._ot import COST_METRICS, cost_matrix, exact_plan, sinkhorn

_METRICS = COST_METRICS  # what cost_matrix builds
# Statistic of the cost that each cost_norm divides it by (None: no normalisation).
_COST_STATS = {"mean": np.mean, "median": np.median, "max": np.max}
_COST_NORMS = (None, *_COST_STATS)
#: Parameters the OT-based self-labelling methods share (checked by ``_validate_params``).
_OT_CONSTRAINTS = {
    "base_estimator": ESTIMATOR,
    "metric": [StrOptions(set(_METRICS))],
    "cost_norm": [StrOptions(set(_COST_STATS)), None],
    "approx": APPROX,
    "max_exact_samples": [at_least(1)],
    "batch_size": [at_least(2)],
    "random_state": ["random_state"],
}
# Below this ratio max(M) / reg, kernel entries exp(-M / reg) stay above 1e-87 and JCPOT's
# Bregman scalings far from float64 over/underflow; above it JCPOT works in the log domain.
_SAFE_COST_RATIO = 200.0


# --------------------------------------------------------------------------- checks
def _record_domains(est, sample_domain):
    est.source_domains_ = np.unique(sample_domain[sample_domain >= 0])
    est.target_domains_ = np.unique(sample_domain[sample_domain < 0])
    est.pooled_sources_ = bool(est.source_domains_.size > 1)


def _require_classification(y_source, name):
    if label_kind(y_source) != "classification":
        raise DataValidationError(
            f"{name} is a classifier but the source labels are continuous; use "
            "JDOTRegressor (or OTLabelProp, which handles regression) for regression targets."
        )


# ------------------------------------------------------------------------- OT tools
def _cost_scale(Xs, Xt, metric, norm, rng, max_points=1000):
    """Scale dividing the cost, computed once so that every minibatch shares it."""
    if norm is None:
        return 1.0
    if Xs.shape[0] > max_points:
        Xs = Xs[rng.choice(Xs.shape[0], max_points, replace=False)]
    if Xt.shape[0] > max_points:
        Xt = Xt[rng.choice(Xt.shape[0], max_points, replace=False)]
    M = cost_matrix(Xs, Xt, metric)
    scale = _COST_STATS[norm](M)
    return float(scale) if scale > 0 else 1.0


def _emd(M, warm_support=None, metric=None, overwrite_cost=False):
    """Exact OT plan between uniform weights (a ``coo_array``); see
    :func:`shiftlab.methods._ot.exact_plan`. Warns if the network simplex stopped
    before optimality."""
    plan, converged = exact_plan(M, warm_support=warm_support, metric=metric,
                                 overwrite_cost=overwrite_cost)
    if not converged:
        warnings.warn(
            "The network simplex stopped before optimality; the plan is feasible but "
            "not optimal.", ConvergenceWarning, stacklevel=3,
        )
    return plan


def _transport_cost(G, D):
    """``<G, D>`` for a sparse plan ``G`` (only its support is read)."""
    return float(G.data @ D[G.row, G.col])


def _ot_plan(M, reg, n_iter_max, tol=1e-9, metric=None, overwrite_cost=False):
    """OT plan between uniform weights: exact when ``reg`` is None, entropic otherwise.

    The entropic plan is the package's one solver, :func:`shiftlab.methods._ot.sinkhorn`
    (stabilised scaling with a log-domain fall-back), so any ``max(M) / reg`` is safe.
    """
    if reg is None:
        return _emd(M, metric=metric, overwrite_cost=overwrite_cost)
    res = sinkhorn(M, reg, max_iter=n_iter_max, tol=tol)
    if not res.converged:
        warnings.warn(
            f"Sinkhorn did not reach tol={tol} in {n_iter_max} iterations (marginal error "
            f"{res.error:.1e}); the plan is approximate (raise n_iter_max or reg).",
            ConvergenceWarning,
            stacklevel=3,
        )
    return res.plan


def _stratified_blocks(n, n_blocks, rng, codes=None):
    """Split ``range(n)`` at random into ``n_blocks`` near-equal parts (class-stratified)."""
    perm = rng.permutation(n)
    if codes is not None:
        # Sorting the shuffled indices by class and dealing them round robin gives every
        # block the source class proportions.
        perm = perm[np.argsort(codes[perm], kind="stable")]
    return [np.sort(perm[b::n_blocks]) for b in range(n_blocks)]


def _make_blocks(n_source, n_target, batch_size, rng, codes=None, exact=False):
    """Pairs (source indices, target indices) covering both domains."""
    if exact:
        return [(np.arange(n_source), np.arange(n_target))]
    k_s = max(1, math.ceil(n_source / batch_size))
    k_t = max(1, math.ceil(n_target / batch_size))
    s_blocks = _stratified_blocks(n_source, k_s, rng, codes)
    t_blocks = _stratified_blocks(n_target, k_t, rng)
    # Each block of the larger domain is used once; blocks of the smaller one are reused.
    return [(s_blocks[b % k_s], t_blocks[b % k_t]) for b in range(max(k_s, k_t))]


# ------------------------------------------------------------------ estimator tools
def _one_hot(codes, n_classes):
    Y = np.zeros((codes.size, n_classes))
    Y[np.arange(codes.size), codes] = 1.0
    return Y


def _fit_classifier(estimator, X, y, sample_weight=None, warm_from=None):
    """Fit a clone on pseudo-labels; a constant classifier when only one class is left.

    ``warm_from``: the model of the previous step of an iterative method. A
    LogisticRegression with the same classes is refitted from its coefficients
    (``warm_start``): the convex problem has the same optimum, reached in fewer L-BFGS
    iterations when consecutive steps differ little (JDOT's do).
    """
    classes = np.unique(y)
    if (  # exact type: a subclass may change what fit does with the coefficients
        type(estimator) is LogisticRegression
        and type(warm_from) is LogisticRegression
        and np.array_equal(classes, warm_from.classes_)
    ):
        est = warm_from.set_params(warm_start=True)
    elif classes.size < 2:
        warnings.warn(
            f"All target pseudo-labels are {y[0]!r}: the adapted model predicts that class "
            "everywhere. The shift may be too strong for this method or its parameters.",
            UserWarning,
            stacklevel=4,
        )
        est = DummyClassifier(strategy="most_frequent")
        return est.fit(X, y)
    else:
        est = clone(estimator)
    if sample_weight is None:
        return est.fit(X, y)
    return est.fit(X, y, sample_weight=sample_weight)


def _expand_columns(values, est_classes, classes, fill):
    """Put per-class columns of a sub-model into the columns of ``classes``."""
    out = np.full((values.shape[0], classes.size), fill, dtype=float)
    out[:, np.searchsorted(classes, est_classes)] = values
    return out


class _TargetModelMixin:
    """Prediction through ``estimator_`` (the model trained on the target domain)."""

    def _template(self):
        est = getattr(self, "estimator_", None)
        return est if est is not None else self._base()

    def _predict(self, X):
        return self.estimator_.predict(X)

    @property
    def _predict_proba(self):
        # A property so that ``hasattr`` (and BaseDAEstimator's available_if) follows
        # the base estimator: SVC() has no predict_proba, SVC(probability=True) has.
        if not hasattr(self._template(), "predict_proba"):
            raise AttributeError("The base estimator has no predict_proba.")
        return self._proba

    def _proba(self, X):
        est = self.estimator_
        proba = est.predict_proba(X)
        if not hasattr(self, "classes_") or np.array_equal(est.classes_, self.classes_):
            return proba
        return _expand_columns(proba, est.classes_, self.classes_, 0.0)

    @property
    def _decision_function(self):
        if not hasattr(self._template(), "decision_function"):
            raise AttributeError("The base estimator has no decision_function.")
        return self._decision

    def _decision(self, X):
        return self.estimator_.decision_function(X)


# ============================================================================ JDOT
def _label_cost(est, Xt, classes, loss):
    """Loss of predicting ``f(x_j)`` for each class: array of shape (n_classes, n_target)."""
    present = np.searchsorted(classes, est.classes_)
    if loss == "hinge" and hasattr(est, "decision_function"):
        dec = est.decision_function(Xt)
        if dec.ndim == 1:
            # Binary: one margin for est.classes_[1]; hinge on the signed margin.
            part = np.vstack([np.maximum(0.0, 1.0 + dec), np.maximum(0.0, 1.0 - dec)])
        else:
            # One-vs-rest hinge with +1 for the class and -1 for the others (Courty 2017,
            # multiclass case): sum_k max(0, 1 - s_ck f_k(x)).
            pos = np.maximum(0.0, 1.0 - dec)
            neg = np.maximum(0.0, 1.0 + dec)
            part = (neg.sum(axis=1, keepdims=True) - neg + pos).T
    elif loss == "log" and hasattr(est, "predict_proba"):
        part = -np.log(np.clip(est.predict_proba(Xt), 1e-16, None)).T
    else:
        # Fallback (constant model, or a base without the needed method): 0/1 loss.
        pred = est.predict(Xt)
        part = (pred[None, :] != est.classes_[:, None]).astype(float)
    worst = part.max() if part.size else 1.0
    L = np.full((classes.size, Xt.shape[0]), worst)
    L[present] = part
    return L


def _joint_cost(D, L, codes, alpha):
    """JDOT cost ``(1 - alpha) D + alpha L[codes]`` up to a positive factor.

    The factor does not change the OT plan; dividing by ``1 - alpha`` saves one
    ``n_s x n_t`` temporary. For classes, the label cost of source ``i`` is the row of
    its class in ``L`` (n_classes x n_t); ``codes=None`` means ``L`` is already
    n_s x n_t (and is overwritten).
    """
    M = L if codes is None else np.take(L, codes, axis=0)
    if alpha >= 1.0:
        return M
    M *= alpha / (1.0 - alpha)
    M += D
    return M
