"""Label-shift (target-shift) methods: estimate the target class prior, reweight classes.

Under label shift ``P(x | y)`` is shared and only the class prior changes, from ``p``
(source) to ``q`` (target). Two classical estimators of ``q`` are implemented:

* :class:`BBSE`, black-box shift estimation (Lipton et al., 2018): solve the linear
  system ``C w = mu`` linking the source confusion matrix of any classifier to the
  distribution of its predictions on the target;
* :class:`MLLS`, maximum-likelihood label shift by EM (Saerens et al., 2002) on
  calibrated probabilities (bias-corrected temperature scaling, Alexandari et al.,
  2020).

Both are adapters producing class-ratio weights ``w_y = q_y / p_y`` for the source rows
(mean one, target rows 0; pooled over source domains, see ``source_pooling_``) and expose
``target_prior_``, :meth:`~_LabelShiftAdapter.correct_proba` (prior correction of any
source-trained classifier's probabilities) and the module function :func:`adjust_proba`.
An estimated prior on the boundary of the simplex (a class at ~0) is rarely right; it
raises a :class:`~shiftlab.exceptions.DegeneratePriorWarning` naming the likely causes
(a poorly calibrated classifier, a shift that is not label shift) and the fixes.

The internal classifier is cross-fitted: with ``cv`` folds of the source, each fold's
model predicts its held-out fold (for the confusion matrix / the calibration) and the
target (averaged over the folds), so that no statistic is computed on rows a model was
trained on.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy.optimize import minimize, nnls
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from shiftlab.data.convention import label_kind
from shiftlab.exceptions import DataValidationError, DegeneratePriorWarning
from shiftlab.methods._checks import ESTIMATOR, NON_NEGATIVE, at_least
from shiftlab.methods._threads import single_blas_thread
from shiftlab.methods.base import BaseAdapter, prepare_predict
from shiftlab.methods.registry import register_method
from shiftlab.methods.reweight import _normalize_weights

__all__ = ["BBSE", "MLLS", "adjust_proba"]

_LOG_FLOOR = 1e-12
#: A class whose estimated target prior is below this, and below 1% of its source
#: frequency (so that a class that is merely rare is not flagged), is at the boundary of
#: the simplex: see :func:`_warn_if_degenerate`.
_BOUNDARY = 1e-3
_SHOWN_CLASSES = 10


def adjust_proba(proba, source_prior, target_prior) -> np.ndarray:
    """Correct class probabilities for a change of class prior.

    Bayes' rule under label shift: ``q(y | x) ∝ p(y | x) q(y) / p(y)`` (Saerens et al.,
    2002).

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Probabilities of a classifier trained under the source prior.
    source_prior, target_prior : array-like of shape (n_classes,)
        Class priors, in the column order of ``proba``.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        Rows summing to one (a row whose reweighted mass is zero is left unchanged).
    """
    proba = np.asarray(proba, dtype=np.float64)
    p = np.asarray(source_prior, dtype=np.float64)
    q = np.asarray(target_prior, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != p.size or p.size != q.size:
        raise ValueError(
            f"proba has shape {proba.shape} but the priors have {p.size} and {q.size} "
            "entries; they must match proba's columns."
        )
    ratio = np.divide(q, p, out=np.zeros_like(q), where=p > 0)
    out = proba * ratio
    total = out.sum(axis=1, keepdims=True)
    good = total[:, 0] > 0
    out[good] /= total[good]
    out[~good] = proba[~good]
    return out


def _label(c):
    return repr(c.item() if isinstance(c, np.generic) else c)


def _prior_text(classes, prior):
    items = [f"{_label(c)}: {v:.3g}"
             for c, v in zip(classes[:_SHOWN_CLASSES], prior, strict=False)]
    more = f", ... ({len(classes)} classes)" if len(classes) > _SHOWN_CLASSES else ""
    return "{" + ", ".join(items) + more + "}"


def _warn_if_degenerate(name, classes, q, p, fix, failed=False):
    """Warn (:class:`DegeneratePriorWarning`) when the estimated target prior ``q`` is on
    the boundary of the simplex (or the estimate failed and ``p`` replaced it)."""
    low = np.flatnonzero(q < np.minimum(_BOUNDARY, 1e-2 * p))
    if not failed and low.size == 0:
        return
    if failed:
        what = ("the estimate was zero for every class, so the source prior is used "
                "instead (the class weights are all 1)")
    else:
        zeros = ", ".join(f"{_label(classes[j])} (estimated {q[j]:.2g}, source {p[j]:.3g})"
                          for j in low[:_SHOWN_CLASSES])
        what = (f"class(es) {zeros} at ~0 (their source rows get ~0 weight, and the "
                "prior-corrected probabilities of correct_proba hardly ever predict them)")
        top = int(np.argmax(q))
        if q[top] >= 1.0 - _BOUNDARY:
            what += (f", and class {_label(classes[top])} gets essentially all the mass "
                     f"({q[top]:.4f})")
    warnings.warn(
        f"{name}: the estimated target class prior is degenerate: {what}. Estimated target "
        f"prior {_prior_text(classes, q)}; source prior {_prior_text(classes, p)}. Unless "
        "the target really lacks those classes, the classifier may be poorly calibrated "
        f"or the shift is not label shift (P(x | y) changed too). Fix: {fix}; or, if the "
        "features themselves moved, use a covariate-shift method (e.g. KMM, "
        "DensityReweight) or a mapping method (e.g. CORAL) instead of a label-shift one.",
        DegeneratePriorWarning,
        stacklevel=6,  # the caller of fit()
    )


class _LabelShiftAdapter(BaseAdapter):
    """Shared machinery: cross-fitting, class weights and prior correction."""

    produces_weights = True

    # -- to implement: _estimate_prior(held_out, y_idx, target_list) -> q ----------
    _needs_proba = True

    def _folds(self, y_idx, rng):
        min_count = int(np.bincount(y_idx).min())
        cv = self.cv
        if isinstance(cv, bool) or not isinstance(cv, numbers.Integral) or cv < 2:
            raise ValueError(f"cv must be an int >= 2, got {cv!r}.")
        n_splits = min(int(cv), min_count)
        if n_splits < 2:
            raise DataValidationError(
                f"{type(self).__name__} cross-fits its classifier and needs at least 2 "
                "source samples of every class; one class has a single sample."
            )
        folds = StratifiedKFold(n_splits, shuffle=True,
                                random_state=rng.randint(np.iinfo(np.int32).max))
        return list(folds.split(np.zeros((y_idx.size, 1)), y_idx))

    def _outputs(self, model, X, n_classes):
        """Log-probabilities (soft) or one-hot predictions (hard), columns = class index."""
        if self._needs_proba:
            P = np.zeros((X.shape[0], n_classes))
            P[:, model.classes_] = model.predict_proba(X)
            return np.log(np.maximum(P, _LOG_FLOOR))
        pred = model.predict(X)
        return np.eye(n_classes)[pred]

    def _fit(self, X, y, sample_domain):
        src = sample_domain >= 0
        Xs, ys, Xt = X[src], y[src], X[~src]
        if label_kind(ys) != "classification":
            raise DataValidationError(
                f"{type(self).__name__} estimates a class prior and needs class labels, not "
                "regression targets."
            )
        rng = check_random_state(self.random_state)
        classes, y_idx = np.unique(ys, return_inverse=True)
        n_classes = classes.size
        base = LogisticRegression() if self.estimator is None else self.estimator
        if self._needs_proba and not hasattr(base, "predict_proba"):
            raise TypeError(
                f"{type(base).__name__} has no predict_proba; use a probabilistic classifier."
            )
        held_out = np.zeros((Xs.shape[0], n_classes))
        target_out, models = [], []
        for train, test in self._folds(y_idx, rng):
            model = clone(base).fit(Xs[train], y_idx[train])
            held_out[test] = self._outputs(model, Xs[test], n_classes)
            target_out.append(self._outputs(model, Xt, n_classes))
            models.append(model)
        prior = np.bincount(y_idx, minlength=n_classes) / y_idx.size
        self.classes_ = classes
        self.source_prior_ = prior
        self.estimators_ = models
        q = self._estimate_prior(held_out, y_idx, target_out, prior)
        q = np.maximum(q, 0.0)
        failed = not q.sum() > 0
        q = prior.copy() if failed else q / q.sum()
        _warn_if_degenerate(type(self).__name__, classes, q, prior, self._degenerate_fix(),
                            failed)
        self.target_prior_ = q
        self.class_weights_ = q / prior
        self.source_pooling_ = "pooled"
        weights = np.zeros(X.shape[0])
        weights[src] = _normalize_weights(self.class_weights_[y_idx], type(self).__name__)
        self.sample_weight_ = weights
        return self

    def _degenerate_fix(self):
        """The advice of the degenerate-prior warning (see :func:`_warn_if_degenerate`)."""
        return "use a calibrated probabilistic estimator"

    def _weights(self, X, sample_domain):
        return self.sample_weight_.copy()

    def correct_proba(self, proba) -> np.ndarray:
        """Move probabilities of a source-trained classifier to the estimated target prior.

        ``proba``'s columns must follow ``classes_`` (the sorted source classes, as
        scikit-learn classifiers order them).
        """
        check_is_fitted(self, "target_prior_")
        return adjust_proba(proba, self.source_prior_, self.target_prior_)

    def predict_target_proba(self, X) -> np.ndarray:
        """Target-prior-corrected class probabilities from the internal classifiers.

        The cross-fitted classifiers' probabilities (calibrated for :class:`MLLS`) are
        averaged, then corrected with :meth:`correct_proba`. Columns follow ``classes_``.
        """
        check_is_fitted(self, "estimators_")
        X, _ = prepare_predict(X)
        P = np.mean([self._source_proba(m, X) for m in self.estimators_], axis=0)
        return self.correct_proba(P)

    def _source_proba(self, model, X):
        P = np.zeros((X.shape[0], self.classes_.size))
        P[:, model.classes_] = model.predict_proba(X)
        return P


# =============================================================================
# BBSE
# =============================================================================
@register_method(
    name="BBSE",
    family="label_shift",
    reference=(
        "Lipton, Z. C., Wang, Y.-X. and Smola, A. J. (2018). Detecting and correcting for "
        "label shift with black box predictors. ICML."
    ),
    grid={"soft": [False, True]},
    designed_for=("target",),
    complexity="cv fits of the classifier on the source, plus O(k^3) for k classes",
    regression=False,
)
class BBSE(_LabelShiftAdapter):
    """Black-box shift estimation of the target class prior.

    With a classifier ``f`` and the joint source confusion matrix
    ``C_ij = P_s(f(x) = i, y = j)``, label shift gives ``P_t(f(x) = i) = sum_j C_ij w_j``
    with ``w_j = q_j / p_j`` [1]_. ``C`` is estimated on cross-fitted (held-out) source
    predictions, ``P_t(f(x) = i)`` on the target with the same fold models, and the
    system is solved by non-negative least squares (scipy ``nnls``), which keeps ``w``
    feasible where the plain inverse of [1]_ can go negative.

    Parameters
    ----------
    estimator : classifier, default=None
        The black-box classifier (cloned); ``None``: ``LogisticRegression()``. Needs
        ``predict_proba`` only when ``soft=True``.
    soft : bool, default=False
        Use probabilities instead of hard predictions (the "soft confusion matrix"
        variant, lower variance with a calibrated classifier).
    cv : int, default=5
        Number of stratified cross-fitting folds (reduced to the smallest class count).
    random_state : int, RandomState or None, default=None
        Seed of the folds.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    source_prior_, target_prior_ : ndarray of shape (n_classes,)
        Source class frequencies and the estimated target prior.
    class_weights_ : ndarray of shape (n_classes,)
        ``target_prior_ / source_prior_``; source row ``i`` is weighted by
        ``class_weights_[y_i]`` (rescaled to mean one).
    confusion_matrix_ : ndarray of shape (n_classes, n_classes)
        Joint held-out matrix, rows = predicted, columns = true class.
    target_prediction_rate_ : ndarray of shape (n_classes,)
        Distribution of the predictions on the target.
    estimators_ : list of classifiers
        The fold models (trained on class indices ``0 .. n_classes - 1``).
    sample_weight_ : ndarray of shape (n_samples,)
    source_pooling_ : str
        Always ``"pooled"``: source domains are treated as one source.

    Notes
    -----
    Complexity: ``cv`` fits of ``estimator`` on ``(cv - 1) / cv`` of the source and
    predictions on the source and ``cv`` times on the target; ``O(k^3)`` for the
    system.

    References
    ----------
    .. [1] Lipton, Z. C., Wang, Y.-X. and Smola, A. J. (2018). Detecting and correcting
       for label shift with black box predictors. ICML, PMLR 80:3122-3130.
    """

    _parameter_constraints: dict = {
        "estimator": ESTIMATOR,
        "soft": ["boolean"],
        "cv": [at_least(2)],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, soft=False, cv=5, random_state=None):
        self.estimator = estimator
        self.soft = soft
        self.cv = cv
        self.random_state = random_state

    @property
    def _needs_proba(self):
        return bool(self.soft)

    def _degenerate_fix(self):
        first = ("use a calibrated probabilistic estimator (e.g. "
                 "CalibratedClassifierCV(LogisticRegression()))" if self.soft else
                 "try soft=True with a calibrated probabilistic estimator (e.g. "
                 "CalibratedClassifierCV(LogisticRegression()))")
        return first + ", or MLLS (which calibrates its classifier)"

    def _estimate_prior(self, held_out, y_idx, target_out, prior):
        k = prior.size
        H = np.exp(held_out) if self.soft else held_out
        C = np.zeros((k, k))
        for j in range(k):  # column j: mean output over held-out rows of class j, * p_j
            C[:, j] = H[y_idx == j].sum(axis=0) / y_idx.size
        T = [np.exp(t) if self.soft else t for t in target_out]
        mu = np.mean([t.mean(axis=0) for t in T], axis=0)
        w, _ = nnls(C, mu)
        self.confusion_matrix_ = C
        self.target_prediction_rate_ = mu
        return w * prior

    def _source_proba(self, model, X):
        if hasattr(model, "predict_proba"):
            return super()._source_proba(model, X)
        return np.eye(self.classes_.size)[model.predict(X)]


# =============================================================================
# MLLS / EM
# =============================================================================
def _fit_calibration(Z, y_idx, kind, max_iter=200):
    """Temperature (and class biases) minimising the held-out negative log-likelihood.

    ``kind``: ``"bcts"`` (temperature + biases), ``"ts"`` (temperature) or ``None``.
    Returns ``(T, b)`` for ``softmax(Z / T + b)``.
    """
    n, k = Z.shape
    if kind is None:
        return 1.0, np.zeros(k)
    onehot = np.eye(k)[y_idx]
    use_bias = kind == "bcts"

    def fun(theta):
        T = np.exp(theta[0])
        b = theta[1:] if use_bias else 0.0
        S = Z / T + b
        logp = S - logsumexp(S, axis=1, keepdims=True)
        G = (np.exp(logp) - onehot) / n  # gradient of the mean NLL w.r.t. S
        f = -np.sum(logp * onehot) / n
        g_logT = -np.sum(G * Z) / T
        return f, (np.r_[g_logT, G.sum(axis=0)] if use_bias else np.array([g_logT]))

    x0 = np.zeros(1 + k if use_bias else 1)
    # Small problem: one BLAS thread avoids thread hand-off overheads.
    with single_blas_thread():
        res = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    return float(np.exp(res.x[0])), (res.x[1:] if use_bias else np.zeros(k))


def _calibrated(Z, T, b):
    S = Z / T + b
    return np.exp(S - logsumexp(S, axis=1, keepdims=True))


@register_method(
    name="MLLS",
    family="label_shift",
    reference=(
        "Saerens, M., Latinne, P. and Decaestecker, C. (2002). Adjusting the outputs of a "
        "classifier to new a priori probabilities: a simple procedure. Neural Computation "
        "14(1); calibration: Alexandari, A., Kundaje, A. and Shrikumar, A. (2020). "
        "Maximum likelihood with bias-corrected calibration is hard-to-beat at label shift "
        "adaptation. ICML."
    ),
    grid={"calibration": ["bcts", None]},
    designed_for=("target",),
    complexity="cv fits of the classifier, O(n_s k) calibration iterations, O(n_t k) per "
    "EM iteration",
    regression=False,
)
class MLLS(_LabelShiftAdapter):
    """Maximum-likelihood label shift estimation by EM, on calibrated probabilities.

    EM iterates [1]_ ``q(y | x_j) ∝ p(y | x_j) q(y) / p(y)`` (E-step) and
    ``q(y) = mean_j q(y | x_j)`` (M-step) over the target rows; it maximises the target
    likelihood of the prior. The probabilities ``p(y | x)`` must be calibrated on the
    source: they are calibrated by bias-corrected temperature scaling [2]_, fitted on
    cross-fitted held-out source outputs.

    Parameters
    ----------
    estimator : classifier with predict_proba, default=None
        ``None``: ``LogisticRegression()`` (cloned).
    calibration : {"bcts", "ts", None}, default="bcts"
        Bias-corrected temperature scaling, temperature scaling, or none.
    cv : int, default=5
        Stratified cross-fitting folds (reduced to the smallest class count).
    tol : float, default=1e-8
        EM stops when no prior entry moves by more than ``tol``.
    max_iter : int, default=1000
        EM iteration cap.
    random_state : int, RandomState or None, default=None
        Seed of the folds.

    Attributes
    ----------
    classes_, source_prior_, target_prior_, class_weights_, estimators_, sample_weight_,
    source_pooling_
        As in :class:`BBSE`.
    temperature_ : float
    bias_ : ndarray of shape (n_classes,)
        Calibration parameters: calibrated probabilities are
        ``softmax(log p / temperature_ + bias_)``.
    n_iter_ : int
        EM iterations run.

    Notes
    -----
    Complexity: ``cv`` fits of ``estimator``; calibration ``O(n_s k)`` per L-BFGS
    iteration; EM ``O(n_t k)`` per iteration.

    References
    ----------
    .. [1] Saerens, M., Latinne, P. and Decaestecker, C. (2002). Adjusting the outputs of
       a classifier to new a priori probabilities: a simple procedure. Neural
       Computation, 14(1):21-41.
    .. [2] Alexandari, A., Kundaje, A. and Shrikumar, A. (2020). Maximum likelihood with
       bias-corrected calibration is hard-to-beat at label shift adaptation. ICML.
    """

    _parameter_constraints: dict = {
        "estimator": ESTIMATOR,
        "calibration": [StrOptions({"bcts", "ts"}), None],
        "cv": [at_least(2)],
        "tol": [NON_NEGATIVE],
        "max_iter": [at_least(0)],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, calibration="bcts", cv=5, tol=1e-8, max_iter=1000,
                 random_state=None):
        self.estimator = estimator
        self.calibration = calibration
        self.cv = cv
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def _degenerate_fix(self):
        first = ("try calibration='bcts'" if self.calibration is None else
                 "try a better calibrated or stronger estimator (e.g. "
                 "CalibratedClassifierCV(...) or a non-linear classifier)")
        return first + ", or BBSE(soft=True)"

    def _estimate_prior(self, held_out, y_idx, target_out, prior):
        if self.calibration not in ("bcts", "ts", None):
            raise ValueError(
                f"calibration must be 'bcts', 'ts' or None, got {self.calibration!r}."
            )
        T, b = _fit_calibration(held_out, y_idx, self.calibration)
        self.temperature_, self.bias_ = T, b
        P = np.mean([_calibrated(Z, T, b) for Z in target_out], axis=0)
        q = prior.copy()
        ratio_floor = np.where(prior > 0, prior, 1.0)
        n_iter = 0
        while n_iter < int(self.max_iter):
            n_iter += 1
            post = P * (q / ratio_floor)  # E-step: posteriors under the current prior
            post /= np.maximum(post.sum(axis=1, keepdims=True), _LOG_FLOOR)
            q_new = post.mean(axis=0)  # M-step
            done = np.max(np.abs(q_new - q)) <= self.tol
            q = q_new
            if done:
                break
        self.n_iter_ = n_iter
        return q

    def _source_proba(self, model, X):
        Z = np.log(np.maximum(super()._source_proba(model, X), _LOG_FLOOR))
        return _calibrated(Z, self.temperature_, self.bias_)
