"""Reweighting methods: importance weights for the source samples.

Under covariate shift (``P(y | x)`` shared, ``P(x)`` changing) the target risk equals the
source risk weighted by the density ratio ``w(x) = p_t(x) / p_s(x)`` (Shimodaira, 2000).
Every adapter here estimates such weights for the source rows; a
:class:`~shiftlab.methods.base.DAPipeline` passes them to the final estimator as
``sample_weight``. :class:`MMDTarS` is the exception: it assumes target (label) shift and
weights whole classes (see also :mod:`shiftlab.methods.label_shift`).

Conventions shared by all the adapters of this module
------------------------------------------------------
* **Weights** of the source rows are rescaled to mean one (per source domain), so that
  reweighting does not change the final estimator's effective regularisation strength;
  target rows get weight 0 (the final estimator never sees them). The weights of the
  training rows are kept in ``sample_weight_``.
* **Multi-source data**: by default all source domains are pooled into one source
  (``multi_source="pooled"``); ``multi_source="per_domain"`` estimates one weighting per
  source domain against the (pooled) target, and each domain's fitted attributes are
  then in ``domain_states_[domain_id]``. ``source_pooling_`` records the mode used.
* **Scalability**: exact kernel methods cost ``O(n^2)`` memory or time. Adapters with
  an ``approx`` parameter switch to a low-rank (Nyström) or subsampled form when a
  domain has more than ``max_exact_samples`` rows (``approx="auto"``); ``approx=True`` /
  ``False`` forces either form. Blocked computations keep the memory of every exact
  pairwise reduction at ``O(block * n)`` (see :mod:`shiftlab.methods._kernels`).
* Target labels are masked before any adapter sees them (``prepare_fit``), so weights
  can never depend on them.
"""

from __future__ import annotations

import numbers
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.optimize import Bounds, brentq, minimize
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import PAIRWISE_KERNEL_FUNCTIONS
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.svm import SVC
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from shiftlab.data.convention import label_kind
from shiftlab.exceptions import DataValidationError
from shiftlab.methods._checks import (
    APPROX,
    ESTIMATOR,
    GAMMA,
    MULTI_SOURCE,
    NON_NEGATIVE,
    POSITIVE,
    UNIT,
    at_least,
)
from shiftlab.methods._checks import check_choice as _check_choice
from shiftlab.methods._checks import use_approx as _use_approx
from shiftlab.methods._covariance import _covariance, check_covariance_reg
from shiftlab.methods._kernels import (
    gaussian_kde_logpdf,
    kernel_diagonal,
    kernel_matmul,
    kernel_row_means,
    make_feature_map,
    pairwise_kernel,
    resolve_gamma,
)
from shiftlab.methods._threads import single_blas_thread
from shiftlab.methods.base import BaseAdapter, prepare_predict
from shiftlab.methods.registry import register_method

__all__ = [
    "KLIEP",
    "KMM",
    "DensityReweight",
    "DiscriminatorReweight",
    "GaussianReweight",
    "MMDTarS",
    "NearestNeighborReweight",
]

_GAMMA_GRID = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0]
_TINY = np.finfo(np.float64).tiny
_SMALL_QP = 64  # up to this many variables, the QP goes to SLSQP


# =============================================================================
# shared machinery
# =============================================================================
def _normalize_weights(w, who: str) -> np.ndarray:
    """Non-negative weights with mean one; uniform (with a warning) when degenerate."""
    w = np.asarray(w, dtype=np.float64)
    w = np.where(np.isfinite(w), np.maximum(w, 0.0), 0.0)
    total = w.sum()
    if not total > 0:
        warnings.warn(
            f"{who}: every estimated weight is zero or not finite; falling back to uniform "
            "weights (source-only training). Check the kernel width / bandwidth.",
            RuntimeWarning,
            stacklevel=3,
        )
        return np.ones_like(w)
    return w * (w.size / total)


def _weights_from_log(log_w) -> np.ndarray:
    """exp of log-weights shifted by their max: no overflow, normalised later."""
    log_w = np.asarray(log_w, dtype=np.float64)
    return np.exp(log_w - np.max(log_w))


def _check_positive(name, value, *, integer=False, allow_none=False):
    if value is None and allow_none:
        return
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        what = "a positive int" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}, got {value!r}.")


def _box_sum_qp(matvec, c, upper, a, lo, hi, *, x0, tol, max_iter):
    """Minimise ``0.5 x'Hx + c'x`` s.t. ``0 <= x <= upper`` and ``lo <= a'x <= hi``.

    ``H`` (PSD) is given by its product ``matvec``. The box is handled by L-BFGS-B
    (scipy); the linear band by its scalar Lagrange multiplier: solve with the
    multiplier at 0, and only when ``a'x`` leaves the band find the multiplier that puts
    it on the violated edge with Brent's method (``a'x`` decreases with the multiplier).
    Every inner solve costs a few hundred products with ``H`` at most. Small problems
    (at most 64 variables, e.g. class weights) go to SLSQP, which handles the band as
    two linear inequalities.

    The solver runs with a single BLAS thread (as scikit-learn's k-means does): its
    many small linear-algebra calls gain nothing from threads, and on a busy machine the
    thread hand-offs made them tens of times slower.

    Returns
    -------
    x : ndarray
    n_iter : int
        Total L-BFGS-B iterations.
    """
    with single_blas_thread():
        return _box_sum_qp_impl(matvec, c, upper, a, lo, hi, x0=x0, tol=tol,
                                max_iter=max_iter)


def _box_sum_qp_impl(matvec, c, upper, a, lo, hi, *, x0, tol, max_iter):
    c = np.asarray(c, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    if upper * a.sum() < lo or hi < 0:  # a >= 0 here (ones or class counts)
        raise ValueError(
            f"The weight bound ({upper}) is too small for the sum constraint "
            f"({lo:.4g} <= sum <= {hi:.4g}); increase B (or eps)."
        )
    # A Bounds object: scipy converts a list of n (low, high) pairs slowly.
    bounds = Bounds(np.zeros(c.size), np.full(c.size, float(upper)))
    if c.size <= _SMALL_QP:
        # A handful of variables (class weights): SLSQP handles the band directly.
        def fun(x):
            Hx = matvec(x)
            return 0.5 * x @ Hx + c @ x, Hx + c

        cons = [{"type": "ineq", "fun": lambda x: a @ x - lo, "jac": lambda x: a},
                {"type": "ineq", "fun": lambda x: hi - a @ x, "jac": lambda x: -a}]
        res = minimize(fun, np.clip(x0, 0.0, upper), jac=True, method="SLSQP",
                       bounds=bounds, constraints=cons,
                       options={"maxiter": max_iter, "ftol": tol * 1e-3})
        return res.x, res.nit
    state = {"x": np.clip(np.asarray(x0, dtype=np.float64), 0.0, upper), "nit": 0}

    def solve(lam):
        lin = c + lam * a

        def fun(x):
            Hx = matvec(x)
            return 0.5 * x @ Hx + lin @ x, Hx + lin

        res = minimize(fun, state["x"], jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": max_iter, "gtol": tol, "ftol": tol * 1e-3})
        state["x"], state["nit"] = res.x, state["nit"] + res.nit
        return res.x

    x = solve(0.0)
    s = a @ x
    if lo <= s <= hi:
        return x, state["nit"]
    edge, sign = (hi, 1.0) if s > hi else (lo, -1.0)
    scale = max(np.abs(c).max(), 1e-12)
    lam_out = sign * scale
    for _ in range(60):  # bracket: push the multiplier until a'x is back in the band
        if (a @ solve(lam_out) - edge) * sign <= 0:
            break
        lam_out *= 2.0
    lam = brentq(lambda t: a @ solve(t) - edge, 0.0, lam_out, xtol=1e-10 * scale,
                 rtol=1e-10, maxiter=100)
    return solve(lam), state["nit"]


class _BaseReweightAdapter(BaseAdapter):
    """Reweighting adapter skeleton: pooling of source domains and weight bookkeeping.

    Subclasses implement ``_estimate(X, y, is_source, rng) -> (weights, state)``: ``X``
    holds the source rows of one group (all source domains, or one) and all target rows,
    ``is_source`` flags the former, ``weights`` are those of ``X[is_source]`` and
    ``state`` is a dict of fitted attributes (names ending in ``_``). Methods with an
    out-of-sample weight function also implement ``_log_ratio(state, X)``.
    """

    produces_weights = True
    _has_ratio = False

    def _estimate(self, X, y, is_source, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, X, y, sample_domain):
        mode = getattr(self, "multi_source", "pooled")
        _check_choice("multi_source", mode, ("pooled", "per_domain"))
        src = sample_domain >= 0
        rng = check_random_state(getattr(self, "random_state", None))
        weights = np.zeros(X.shape[0])
        states = {}
        if mode == "pooled":
            # The training arrays are used as they are: no copy of the pooled rows.
            w, states["pooled"] = self._estimate(X, y, src, rng)
            weights[src] = _normalize_weights(w, type(self).__name__)
        else:
            for dom in np.unique(sample_domain[src]):
                keep = (sample_domain == dom) | ~src
                w, states[int(dom)] = self._estimate(X[keep], y[keep], src[keep], rng)
                weights[sample_domain == dom] = _normalize_weights(w, type(self).__name__)
        for name in getattr(self, "domain_states_", {}).get("pooled", {}):
            if hasattr(self, name):  # attributes of a previous pooled fit
                delattr(self, name)
        if mode == "pooled":
            # Expose the single fit's attributes directly on the adapter.
            for name, value in states["pooled"].items():
                setattr(self, name, value)
        self.domain_states_ = states
        self.source_pooling_ = mode
        self.sample_weight_ = weights
        return self

    def _weights(self, X, sample_domain):
        if X.shape[0] != self.sample_weight_.shape[0]:  # pragma: no cover - defensive
            raise RuntimeError("_weights must be called on the rows given to fit.")
        return self.sample_weight_.copy()

    def _state_for(self, source_domain):
        if self.source_pooling_ == "pooled":
            return self.domain_states_["pooled"]
        if source_domain is None or int(source_domain) not in self.domain_states_:
            raise ValueError(
                "This adapter was fitted with multi_source='per_domain'; pass "
                f"source_domain, one of {sorted(self.domain_states_)}."
            )
        return self.domain_states_[int(source_domain)]

    def density_ratio(self, X, source_domain=None):
        """Estimated ``p_target(x) / p_source(x)`` at new rows (not renormalised).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        source_domain : int, optional
            Which source domain's ratio to use (only with ``multi_source="per_domain"``).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        if not self._has_ratio:
            raise AttributeError(
                f"{type(self).__name__} estimates weights of the training rows only and has "
                "no out-of-sample density ratio."
            )
        check_is_fitted(self, "domain_states_")
        X, _ = prepare_predict(X)
        if X.shape[1] != self.n_features_in_:
            raise DataValidationError(
                f"X has {X.shape[1]} features but {type(self).__name__} was fitted with "
                f"{self.n_features_in_}."
            )
        return np.exp(self._log_ratio(self._state_for(source_domain), X))


# =============================================================================
# Density ratio by kernel density estimation
# =============================================================================
def _kde_bandwidth(bandwidth, n, d) -> float:
    if isinstance(bandwidth, str):
        if bandwidth == "scott":
            return n ** (-1.0 / (d + 4))
        if bandwidth == "silverman":
            return (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))
        raise ValueError(
            f"bandwidth={bandwidth!r} is not understood; use a positive number, 'scott' or "
            "'silverman'."
        )
    _check_positive("bandwidth", bandwidth)
    return float(bandwidth)


@register_method(
    name="DensityReweight",
    family="reweighting",
    reference=(
        "Shimodaira, H. (2000). Improving predictive inference under covariate shift by "
        "weighting the log-likelihood function. J. Statistical Planning and Inference, "
        "90(2):227-244 (density ratio by kernel density estimation)."
    ),
    grid={"bandwidth": [0.01, 0.1, 1.0, 10.0, 100.0, "scott", "silverman"]},
    designed_for=("covariate",),
    complexity=(
        "exact: O((n_s + n_t) n_s d) time, O(block) memory; approx (subsampled KDE "
        "references, m = max_exact_samples): O(n_s m d)"
    ),
    regression=True,
    skada_name="DensityReweightAdapter",
    skada_params={},
)
class DensityReweight(_BaseReweightAdapter):
    """Importance weights from two Gaussian kernel density estimates.

    ``w(x) = p_t(x) / p_s(x)`` with ``p_s`` and ``p_t`` Gaussian KDEs of the source and
    the target rows [1]_. Both log-densities are computed exactly, block by block, in
    the log domain, so the ratio never underflows (``exp(log p_t - log p_s)``).

    Parameters
    ----------
    bandwidth : float, "scott" or "silverman", default=1.0
        Kernel bandwidth ``h`` (in the units of ``X``, as
        :class:`sklearn.neighbors.KernelDensity`). ``"scott"``: ``n^(-1/(d+4))``;
        ``"silverman"``: ``(n (d+2) / 4)^(-1/(d+4))``, with ``n`` the number of rows of
        each KDE. SKADA-Bench grid: {0.01, 0.1, 1, 10, 100, scott, silverman}.
    approx : "auto", bool, default="auto"
        Estimate each KDE on a random subset of ``max_exact_samples`` rows (an unbiased
        estimate of the full KDE) when a domain is larger than that. ``"auto"`` does so
        only above the threshold; ``True`` / ``False`` force it on / off.
    max_exact_samples : int, default=10000
        Size threshold (and subset size) of the approximation.
    multi_source : {"pooled", "per_domain"}, default="pooled"
        How several source domains are treated (see the module docstring).
    random_state : int, RandomState or None, default=None
        Seed of the subsampling (approximate form only).

    Attributes
    ----------
    bandwidth_source_, bandwidth_target_ : float
        Resolved bandwidths of the two KDEs.
    X_source_ref_, X_target_ref_ : ndarray
        Rows on which the KDEs are built (all rows unless subsampled).
    sample_weight_ : ndarray of shape (n_samples,)
        Weights of the training rows (mean one on source rows, 0 on target rows).
    source_pooling_ : str
        ``"pooled"`` or ``"per_domain"``.

    Notes
    -----
    Complexity: ``O((n_s + n_t) n_s d)`` time for the weights of the ``n_s`` source
    rows and ``O(block)`` memory; with the approximation ``n_s`` and ``n_t`` are capped
    at ``max_exact_samples`` on the reference side. In high dimension a small bandwidth
    makes the weights degenerate (one source row takes all the mass): this is the true
    KDE ratio, which skada hides by underflowing to zeros and falling back to uniform
    weights.

    References
    ----------
    .. [1] Shimodaira, H. (2000). Improving predictive inference under covariate shift by
       weighting the log-likelihood function. J. Statistical Planning and Inference,
       90(2):227-244.
    """

    _has_ratio = True

    _parameter_constraints: dict = {
        "bandwidth": [POSITIVE, StrOptions({"scott", "silverman"})],
        "approx": APPROX,
        "max_exact_samples": [at_least(1)],
        "multi_source": MULTI_SOURCE,
        "random_state": ["random_state"],
    }

    def __init__(self, bandwidth=1.0, *, approx="auto", max_exact_samples=10000,
                 multi_source="pooled", random_state=None):
        self.bandwidth = bandwidth
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.multi_source = multi_source
        self.random_state = random_state

    def _estimate(self, X, y, is_source, rng):
        Xs, Xt = X[is_source], X[~is_source]
        approx = _use_approx(self.approx, self.max_exact_samples, len(Xs), len(Xt))
        ref_s, ref_t = Xs, Xt
        if approx:
            m = self.max_exact_samples
            if len(Xs) > m:
                ref_s = Xs[rng.choice(len(Xs), m, replace=False)]
            if len(Xt) > m:
                ref_t = Xt[rng.choice(len(Xt), m, replace=False)]
        d = Xs.shape[1]
        state = {
            "bandwidth_source_": _kde_bandwidth(self.bandwidth, len(ref_s), d),
            "bandwidth_target_": _kde_bandwidth(self.bandwidth, len(ref_t), d),
            "X_source_ref_": ref_s,
            "X_target_ref_": ref_t,
        }
        return _weights_from_log(self._log_ratio(state, Xs)), state

    def _log_ratio(self, state, X):
        lt = gaussian_kde_logpdf(X, state["X_target_ref_"], state["bandwidth_target_"],
                                 dtype=np.float32)
        ls = gaussian_kde_logpdf(X, state["X_source_ref_"], state["bandwidth_source_"],
                                 dtype=np.float32)
        return lt - ls


# =============================================================================
# Gaussian density ratio
# =============================================================================
@register_method(
    name="GaussianReweight",
    family="reweighting",
    reference=(
        "Shimodaira, H. (2000). Improving predictive inference under covariate shift by "
        "weighting the log-likelihood function. J. Statistical Planning and Inference, "
        "90(2):227-244."
    ),
    grid={"reg": ["auto"]},
    designed_for=("covariate",),
    complexity="O((n_s + n_t) d^2 + d^3) time, O(d^2) memory",
    regression=True,
    skada_name="GaussianReweightAdapter",
    skada_params={"reg": "auto"},
)
class GaussianReweight(_BaseReweightAdapter):
    """Importance weights from Gaussian fits of the source and the target.

    ``w(x) = N(x; mu_t, S_t) / N(x; mu_s, S_s)`` [1]_, computed in the log domain.

    Parameters
    ----------
    reg : "auto", float in [0, 1] or None, default="auto"
        Covariance shrinkage. ``"auto"``: Ledoit-Wolf shrinkage of the correlation
        matrix; a float: fixed shrinkage towards a scaled identity
        (:func:`sklearn.covariance.shrunk_covariance`); ``None``: empirical covariance.
        SKADA-Bench grid: {auto}.
    multi_source : {"pooled", "per_domain"}, default="pooled"
        How several source domains are treated (see the module docstring).

    Attributes
    ----------
    mean_source_, mean_target_ : ndarray of shape (n_features,)
    cov_source_, cov_target_ : ndarray of shape (n_features, n_features)
    sample_weight_ : ndarray of shape (n_samples,)
    source_pooling_ : str

    Notes
    -----
    Complexity ``O((n_s + n_t) d^2 + d^3)`` time, ``O(d^2)`` memory. Unlike a ratio of
    densities (skada), the log-domain ratio does not turn into ``0 / 0`` in high
    dimension.

    References
    ----------
    .. [1] Shimodaira, H. (2000). Improving predictive inference under covariate shift by
       weighting the log-likelihood function. J. Statistical Planning and Inference,
       90(2):227-244.
    """

    _has_ratio = True

    _parameter_constraints: dict = {
        "reg": [UNIT, StrOptions({"auto"}), None],
        "multi_source": MULTI_SOURCE,
    }

    def __init__(self, reg="auto", *, multi_source="pooled"):
        self.reg = reg
        self.multi_source = multi_source

    def _estimate(self, X, y, is_source, rng):
        check_covariance_reg(self.reg)
        Xs, Xt = X[is_source], X[~is_source]
        state = {
            "mean_source_": Xs.mean(axis=0),
            "cov_source_": _covariance(Xs, self.reg),
            "mean_target_": Xt.mean(axis=0),
            "cov_target_": _covariance(Xt, self.reg),
        }
        return _weights_from_log(self._log_ratio(state, Xs)), state

    def _log_ratio(self, state, X):
        lt = multivariate_normal.logpdf(X, state["mean_target_"], state["cov_target_"],
                                        allow_singular=True)
        ls = multivariate_normal.logpdf(X, state["mean_source_"], state["cov_source_"],
                                        allow_singular=True)
        return np.atleast_1d(lt - ls)


# =============================================================================
# Domain classifier
# =============================================================================
_PROBA_FLOOR = 1e-9


@register_method(
    name="DiscriminatorReweight",
    family="reweighting",
    reference=(
        "Bickel, S., Brückner, M. and Scheffer, T. (2007). Discriminative learning for "
        "differing training and test distributions. ICML. (Density ratio from a domain "
        "classifier; see also Sugiyama, Suzuki and Kanamori, Density Ratio Estimation in "
        "Machine Learning, 2012.)"
    ),
    # SKADA-Bench uses XGBoost as 4th classifier; xgboost is not a dependency of
    # shiftlab, so scikit-learn's histogram gradient boosting stands in for it.
    grid={
        "domain_classifier": [
            LogisticRegression(),
            SVC(probability=True),
            KNeighborsClassifier(),
            HistGradientBoostingClassifier(),
        ]
    },
    designed_for=("covariate",),
    complexity="that of the domain classifier on n_s + n_t rows (LR: O((n_s + n_t) d) per "
    "iteration)",
    regression=True,
    skada_name="DiscriminatorReweightAdapter",
    skada_params={},
)
class DiscriminatorReweight(_BaseReweightAdapter):
    """Importance weights from a probabilistic domain classifier.

    A classifier learns ``P(target | x)`` on source (label 0) vs target (label 1) rows;
    Bayes' rule gives ``w(x) = p_t(x) / p_s(x) = (n_s / n_t) P(t | x) / P(s | x)`` [1]_.

    Parameters
    ----------
    domain_classifier : classifier, default=None
        Any scikit-learn classifier with ``predict_proba`` (cloned before fitting).
        ``None``: ``LogisticRegression()``. SKADA-Bench grid: LR, SVC, KNN, XGBoost; here
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier` replaces XGBoost
        (not installed).
    cv : int, cross-validation generator or None, default=None
        ``None``: probabilities of the training rows come from the classifier fitted on
        all rows (as skada). An int or splitter: they are cross-fitted (out-of-fold),
        which removes the in-sample over-confidence of flexible classifiers (KNN,
        boosting). The classifier refitted on all rows serves :meth:`density_ratio`.
    multi_source : {"pooled", "per_domain"}, default="pooled"
        How several source domains are treated (see the module docstring).
    random_state : int, RandomState or None, default=None
        Seed of the cross-fitting folds (``cv`` an int).

    Attributes
    ----------
    domain_classifier_ : classifier
        The fitted domain classifier (label 1 = target).
    prior_ratio_ : float
        ``n_s / n_t``.
    sample_weight_ : ndarray of shape (n_samples,)
    source_pooling_ : str

    Notes
    -----
    Probabilities are floored at 1e-9 before the ratio. skada 0.6.0 computes
    ``P(s | x) / P(t | x)``, the *inverse* ratio, which weights up the source rows least
    like the target; shiftlab uses the ratio the theory prescribes.

    References
    ----------
    .. [1] Bickel, S., Brückner, M. and Scheffer, T. (2007). Discriminative learning for
       differing training and test distributions. ICML.
    """

    _has_ratio = True

    _parameter_constraints: dict = {
        "domain_classifier": ESTIMATOR,
        # None, an int >= 2, a splitter or an iterable of splits: what
        # cross_val_predict takes.
        "cv": ["cv_object"],
        "multi_source": MULTI_SOURCE,
        "random_state": ["random_state"],
    }

    def __init__(self, domain_classifier=None, *, cv=None, multi_source="pooled",
                 random_state=None):
        self.domain_classifier = domain_classifier
        self.cv = cv
        self.multi_source = multi_source
        self.random_state = random_state

    def _estimate(self, X, y, is_source, rng):
        base = LogisticRegression() if self.domain_classifier is None else self.domain_classifier
        if not hasattr(base, "predict_proba"):
            raise TypeError(
                f"{type(base).__name__} has no predict_proba; use a probabilistic classifier "
                "(e.g. SVC(probability=True))."
            )
        d = (~is_source).astype(np.int64)  # 1 = target
        clf = clone(base).fit(X, d)
        n_s = int(is_source.sum())
        state = {"domain_classifier_": clf, "prior_ratio_": n_s / (len(d) - n_s)}
        if self.cv is None:
            p = clf.predict_proba(X[is_source])
        else:
            cv = self.cv
            if isinstance(cv, numbers.Integral):
                cv = StratifiedKFold(int(cv), shuffle=True,
                                     random_state=rng.randint(np.iinfo(np.int32).max))
            p = cross_val_predict(clone(base), X, d, cv=cv, method="predict_proba")[is_source]
        return _weights_from_log(self._log_from_proba(p, clf.classes_)), state

    @staticmethod
    def _log_from_proba(p, classes):
        col = int(np.flatnonzero(np.asarray(classes) == 1)[0])
        pt = np.clip(p[:, col], _PROBA_FLOOR, 1.0)
        ps = np.clip(1.0 - p[:, col], _PROBA_FLOOR, 1.0)
        return np.log(pt) - np.log(ps)

    def _log_ratio(self, state, X):
        clf = state["domain_classifier_"]
        return self._log_from_proba(clf.predict_proba(X), clf.classes_) + np.log(
            state["prior_ratio_"])


# =============================================================================
# KLIEP
# =============================================================================
def _kliep_alpha(A, b, tol, max_iter):
    """Solve max mean(log(A a)) s.t. b'a = 1, a >= 0.

    Equivalent (same maximiser) to the bound-constrained convex problem
    ``min -mean(log(A a)) + b'a`` over ``a >= 0``: at its optimum the scale of ``a``
    makes ``b'a = 1`` exactly (derivative in the scale), so L-BFGS-B solves it without
    an equality constraint. It is solved in the variables ``p = b * a`` (the share of
    the source mean carried by each centre, summing to one at the optimum), which are
    all of the same order and converge in fewer iterations.
    """
    n_t = A.shape[0]
    b = np.maximum(b, _TINY)
    M = A / b

    def fun(p):
        Mp = np.maximum(M @ p, _TINY)
        return -np.mean(np.log(Mp)) + p.sum(), 1.0 - (M.T @ (1.0 / Mp)) / n_t

    p0 = np.full(A.shape[1], 1.0 / A.shape[1])
    with single_blas_thread():  # see _box_sum_qp
        res = minimize(fun, p0, jac=True, method="L-BFGS-B",
                       bounds=Bounds(np.zeros(A.shape[1]), np.inf),
                       options={"maxiter": max_iter, "gtol": tol, "ftol": tol * 1e-3})
    alpha = res.x / b
    return alpha / max(b @ alpha, _TINY), res.nit


@register_method(
    name="KLIEP",
    family="reweighting",
    reference=(
        "Sugiyama, M., Nakajima, S., Kashima, H., von Bünau, P. and Kawanabe, M. (2008). "
        "Direct importance estimation with model selection and its application to "
        "covariate shift adaptation. NeurIPS 2007 / AISM 60(4)."
    ),
    grid={"gamma": [*_GAMMA_GRID, "auto", "scale"]},
    designed_for=("covariate",),
    complexity="O((n_s + n_t) c d) time and O(n_t c) memory for c centres (default 100)",
    regression=True,
    skada_name="KLIEPReweightAdapter",
    skada_params={"gamma": "scale", "n_centers": 100, "cv": 5},
)
class KLIEP(_BaseReweightAdapter):
    """Kullback-Leibler importance estimation procedure.

    Models ``w(x) = sum_l alpha_l k(x, c_l)`` with RBF kernels centred on ``c`` target
    rows and maximises the target log-likelihood of ``w p_s``:
    ``max_alpha mean_j log w(x_t_j)`` s.t. ``mean_i w(x_s_i) = 1``, ``alpha >= 0`` [1]_.
    The problem is solved to convergence with L-BFGS-B (scipy) through an equivalent
    bound-constrained form.

    Parameters
    ----------
    gamma : float, "auto", "scale", "median" or list, default="scale"
        RBF width (see :func:`shiftlab.methods._kernels.resolve_gamma`; strings are
        resolved on the pooled rows). A list: the value with the best ``cv``-fold
        likelihood cross-validation score on the target [1]_ is used. SKADA-Bench grid:
        {1e-4, ..., 1e3, auto, scale}.
    n_centers : int, default=100
        Number of kernel centres (target rows drawn without replacement). Cost and
        memory grow linearly with it; the centres are the method's own low-rank
        approximation, so no other one is needed at large sizes.
    cv : int, default=5
        Folds of the likelihood cross-validation (only used when ``gamma`` is a list).
    tol : float, default=1e-6
        Projected-gradient tolerance of L-BFGS-B.
    max_iter : int, default=1000
        Iteration cap of L-BFGS-B.
    multi_source : {"pooled", "per_domain"}, default="pooled"
    random_state : int, RandomState or None, default=None
        Seed of the centre draw and the CV folds.

    Attributes
    ----------
    gamma_ : float
        The (selected) kernel width.
    cv_scores_ : dict or None
        Mean held-out target log-likelihood of each candidate gamma.
    centers_ : ndarray of shape (c, n_features)
    alpha_ : ndarray of shape (c,)
    n_iter_ : int
    sample_weight_ : ndarray of shape (n_samples,)
    source_pooling_ : str

    Notes
    -----
    Complexity ``O((n_s + n_t) c d)`` time and ``O((n_s + n_t) c)`` memory. skada
    0.6.0 takes gradient steps of size machine-epsilon, so its ``alpha`` hardly moves
    from its initial value; shiftlab actually solves the problem.

    References
    ----------
    .. [1] Sugiyama, M., Suzuki, T., Nakajima, S., Kashima, H., von Bünau, P. and
       Kawanabe, M. (2008). Direct importance estimation for covariate shift adaptation.
       Annals of the Institute of Statistical Mathematics, 60(4):699-746 (NeurIPS 2007).
    """

    _has_ratio = True

    _parameter_constraints: dict = {
        # A list (or tuple) of widths is selected by likelihood cross-validation.
        "gamma": [*GAMMA, list, tuple],
        "n_centers": [at_least(1)],
        "cv": [at_least(2)],
        "tol": [NON_NEGATIVE],
        "max_iter": [at_least(0)],
        "multi_source": MULTI_SOURCE,
        "random_state": ["random_state"],
    }

    def __init__(self, gamma="scale", *, n_centers=100, cv=5, tol=1e-6, max_iter=1000,
                 multi_source="pooled", random_state=None):
        self.gamma = gamma
        self.n_centers = n_centers
        self.cv = cv
        self.tol = tol
        self.max_iter = max_iter
        self.multi_source = multi_source
        self.random_state = random_state

    def _solve(self, gamma, Xs, Xt, rng):
        n_c = min(self.n_centers, len(Xt))
        centers = Xt[rng.choice(len(Xt), n_c, replace=False)]
        # float32 exponentials (faster), float64 for the optimisation.
        A = pairwise_kernel(Xt, centers, gamma=gamma, dtype=np.float32).astype(np.float64)
        K_sc = pairwise_kernel(Xs, centers, gamma=gamma, dtype=np.float32).astype(np.float64)
        alpha, nit = _kliep_alpha(A, K_sc.mean(axis=0), self.tol, self.max_iter)
        return centers, alpha, nit, K_sc

    def _estimate(self, X, y, is_source, rng):
        _check_positive("n_centers", self.n_centers, integer=True)
        Xs, Xt = X[is_source], X[~is_source]
        gammas = self.gamma if isinstance(self.gamma, (list, tuple)) else [self.gamma]
        values = [resolve_gamma(g, X, random_state=rng) for g in gammas]
        scores = None
        if len(values) > 1:
            folds = KFold(int(self.cv), shuffle=True,
                          random_state=rng.randint(np.iinfo(np.int32).max))
            splits = list(folds.split(Xt))
            scores = {}
            for g, value in zip(gammas, values, strict=True):
                fold_scores = []
                for train, test in splits:
                    centers, alpha, _, _ = self._solve(value, Xs, Xt[train], rng)
                    w = pairwise_kernel(Xt[test], centers, gamma=value) @ alpha
                    fold_scores.append(np.mean(np.log(np.maximum(w, _TINY))))
                scores[g] = float(np.mean(fold_scores))
            best = int(np.argmax(list(scores.values())))
        else:
            best = 0
        centers, alpha, nit, K_sc = self._solve(values[best], Xs, Xt, rng)
        state = {"gamma_": values[best], "cv_scores_": scores, "centers_": centers,
                 "alpha_": alpha, "n_iter_": nit}
        return K_sc @ alpha, state

    def _log_ratio(self, state, X):
        w = kernel_matmul(X, state["centers_"], state["alpha_"], gamma=state["gamma_"])
        return np.log(np.maximum(w, _TINY))


# =============================================================================
# KMM
# =============================================================================

#: Parameters KMM and MMDTarS share (the quadratic program and its scalable form).
_MEAN_MATCHING_CONSTRAINTS: dict = {
    "gamma": GAMMA,
    "B": [POSITIVE],
    "eps": [POSITIVE, None],
    "tol": [NON_NEGATIVE],
    "max_iter": [at_least(0)],
    "approx": APPROX,
    "max_exact_samples": [at_least(1)],
    "n_components": [at_least(1)],
    "multi_source": MULTI_SOURCE,
    "random_state": ["random_state"],
}

@register_method(
    name="KMM",
    family="reweighting",
    reference=(
        "Huang, J., Gretton, A., Borgwardt, K., Schölkopf, B. and Smola, A. J. (2007). "
        "Correcting sample selection bias by unlabeled data. NeurIPS 19."
    ),
    grid={"gamma": [*_GAMMA_GRID, None]},
    designed_for=("covariate",),
    complexity=(
        "exact: O(n_s^2 d + n_s n_t d) kernel time, O(n_s^2) memory, O(n_s^2) per solver "
        "iteration; Nyström (rank r): O((n_s + n_t) r d) time, O((n_s + n_t) r) memory"
    ),
    regression=True,
    skada_name="KMMReweightAdapter",
    skada_params={"gamma": None, "B": 1000.0},
)
class KMM(_BaseReweightAdapter):
    """Kernel mean matching.

    Finds source weights ``beta`` whose weighted source kernel mean embedding is closest
    to the target's [1]_::

        min_beta  1/2 beta' K beta - kappa' beta,
        0 <= beta_i <= B,  |sum_i beta_i - n_s| <= n_s eps,

    with ``K_ij = k(x_s_i, x_s_j)`` and ``kappa_i = (n_s / n_t) sum_j k(x_s_i, x_t_j)``.
    The quadratic programme is solved with L-BFGS-B (scipy) for the box, and a scalar
    Lagrange multiplier for the sum constraint (found by Brent's method only when the
    constraint is active); only products with ``K`` are needed.

    Parameters
    ----------
    kernel : str, default="rbf"
        Kernel name understood by :func:`sklearn.metrics.pairwise.pairwise_kernels`.
    gamma : float, None, "auto", "scale" or "median", default=None
        Kernel width; ``None`` = ``1 / n_features`` (scikit-learn's and skada's default).
        SKADA-Bench grid: {1e-4, ..., 1e3, None}.
    B : float, default=1000.0
        Upper bound on a weight.
    eps : float or None, default=None
        Slack of the sum constraint; ``None``: ``(sqrt(n_s) - 1) / sqrt(n_s)``.
    tol : float, default=1e-6
        Projected-gradient tolerance of L-BFGS-B (on the objective divided by ``n_s``).
    max_iter : int, default=1000
        Iteration cap of each L-BFGS-B solve.
    approx : "auto", bool, default="auto"
        Replace ``K`` by a rank-``n_components`` Nyström factorisation with the exact
        diagonal, ``Phi Phi' + diag(k(x, x) - ||phi(x)||^2)`` (memory ``O(n r)`` instead
        of ``O(n_s^2)``; keeping the diagonal keeps the programme as well conditioned as
        the exact one). ``"auto"``: when a domain has more than ``max_exact_samples``
        rows.
    max_exact_samples : int, default=8000
        Threshold of ``approx="auto"``: 8000 source rows make a 256 MB float32 kernel
        matrix (about 770 MB at the peak, while it is built from float64 distances).
    n_components : int, default=1000
        Rank of the Nyström approximation.
    multi_source : {"pooled", "per_domain"}, default="pooled"
    random_state : int, RandomState or None, default=None
        Seed of the Nyström landmarks.

    Attributes
    ----------
    beta_ : ndarray of shape (n_source,)
        Solution of the programme (before the mean-one rescaling).
    gamma_ : float or None
        Resolved kernel width.
    approximated_ : bool
        Whether the Nyström form was used.
    n_iter_ : int
        Total L-BFGS-B iterations.
    sample_weight_ : ndarray of shape (n_samples,)
    source_pooling_ : str

    Notes
    -----
    Exact: ``O(n_s^2 d + n_s n_t d)`` time to build the kernel terms (blocked, the
    ``n_s x n_t`` block is never stored), ``O(n_s^2)`` memory (the source kernel matrix
    is held in float32), ``O(n_s^2)`` per solver iteration. Nyström:
    ``O((n_s + n_t) r d)`` time and ``O((n_s + n_t) r)`` memory, so 20,000 + 20,000 rows
    take well under 1 GB. KMM weights exist for the training rows only (no
    out-of-sample extension).

    References
    ----------
    .. [1] Huang, J., Gretton, A., Borgwardt, K., Schölkopf, B. and Smola, A. J. (2007).
       Correcting sample selection bias by unlabeled data. NeurIPS 19, 601-608.
    """

    _parameter_constraints: dict = {
        "kernel": [StrOptions(set(PAIRWISE_KERNEL_FUNCTIONS)), callable],
        **_MEAN_MATCHING_CONSTRAINTS,
    }

    def __init__(self, kernel="rbf", gamma=None, *, B=1000.0, eps=None, tol=1e-6,
                 max_iter=1000, approx="auto", max_exact_samples=8000, n_components=1000,
                 multi_source="pooled", random_state=None):
        self.kernel = kernel
        self.gamma = gamma
        self.B = B
        self.eps = eps
        self.tol = tol
        self.max_iter = max_iter
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.n_components = n_components
        self.multi_source = multi_source
        self.random_state = random_state

    def _estimate(self, X, y, is_source, rng):
        _check_positive("B", self.B)
        _check_positive("eps", self.eps, allow_none=True)
        _check_positive("n_components", self.n_components, integer=True)
        Xs, Xt = X[is_source], X[~is_source]
        n_s = len(Xs)
        gamma = resolve_gamma(self.gamma, X, random_state=rng)
        approx = _use_approx(self.approx, self.max_exact_samples, n_s, len(Xt))
        if approx:
            fmap = make_feature_map(X, kernel=self.kernel, gamma=gamma,
                                    n_components=self.n_components,
                                    random_state=rng.randint(np.iinfo(np.int32).max))
            Phi_s = fmap.transform(Xs)
            kbar = Phi_s @ fmap.transform(Xt).mean(axis=0)
            # Keep the exact diagonal (see _kernels): without it rows far from every
            # landmark cost nothing, and the programme drifts to a few huge weights.
            resid = np.maximum(kernel_diagonal(Xs, kernel=self.kernel, gamma=gamma)
                               - np.einsum("ij,ij->i", Phi_s, Phi_s), 0.0)

            def matvec(beta):
                return (Phi_s @ (Phi_s.T @ beta) + resid * beta) / n_s
        else:
            # float32 kernel: half the memory, 2-3x faster exp and products.
            K = pairwise_kernel(Xs, kernel=self.kernel, gamma=gamma, dtype=np.float32)
            kbar = kernel_row_means(Xs, Xt, kernel=self.kernel, gamma=gamma,
                                    dtype=np.float32)

            def matvec(beta):
                return (K @ beta.astype(np.float32)).astype(np.float64) / n_s

        eps = (np.sqrt(n_s) - 1) / np.sqrt(n_s) if self.eps is None else self.eps
        # Objective scaled by 1 / n_s: 1/2 b'Kb / n_s - b'kbar, O(1) gradient entries.
        beta, nit = _box_sum_qp(matvec, -kbar, self.B, np.ones(n_s), n_s * (1 - eps),
                                n_s * (1 + eps), x0=np.ones(n_s), tol=self.tol,
                                max_iter=self.max_iter)
        state = {"beta_": beta, "gamma_": gamma, "approximated_": approx, "n_iter_": nit}
        return beta, state


# =============================================================================
# Nearest-neighbour weights
# =============================================================================
@register_method(
    name="NearestNeighborReweight",
    family="reweighting",
    reference=(
        "Loog, M. (2012). Nearest neighbor-based importance weighting. IEEE International "
        "Workshop on Machine Learning for Signal Processing (MLSP)."
    ),
    grid={"laplace_smoothing": [True, False]},
    designed_for=("covariate",),
    complexity="O(n_s n_t d) time (brute force, blocked) or tree search; O(n_s + block) "
    "memory",
    regression=True,
    skada_name="NearestNeighborReweightAdapter",
    skada_params={"n_neighbors": 1, "laplace_smoothing": False},
)
class NearestNeighborReweight(_BaseReweightAdapter):
    """Weights from counts of target rows falling in each source row's Voronoi cell.

    The weight of a source row is the number of target rows whose nearest source row it
    is [1]_ (plus one with Laplace smoothing). With ``n_neighbors = k > 1`` every target
    row spreads ``1 / k`` over its ``k`` nearest source rows (a smoothed variant).

    Parameters
    ----------
    n_neighbors : int, default=1
    laplace_smoothing : bool, default=False
        Add one to every count, so that no source row gets weight 0.
        SKADA-Bench grid: {True, False}.
    metric, p, algorithm, n_jobs
        Passed to :class:`sklearn.neighbors.NearestNeighbors`.
    multi_source : {"pooled", "per_domain"}, default="pooled"

    Attributes
    ----------
    neighbor_counts_ : ndarray of shape (n_source,)
        Raw (possibly fractional) counts before smoothing and rescaling.
    sample_weight_ : ndarray of shape (n_samples,)
    source_pooling_ : str

    Notes
    -----
    Complexity: one ``n_neighbors`` query of the ``n_t`` target rows among the ``n_s``
    source rows: ``O(n_s n_t d)`` time by brute force (scikit-learn processes it in
    blocks, memory ``O(block)``), less with a tree in low dimension.

    References
    ----------
    .. [1] Loog, M. (2012). Nearest neighbor-based importance weighting. IEEE MLSP.
    """

    _parameter_constraints: dict = {
        "n_neighbors": [at_least(1)],
        "laplace_smoothing": ["boolean"],
        # Checked in full by NearestNeighbors itself (the metrics depend on algorithm).
        "metric": [str, callable],
        "p": [Interval(Real, 0, None, closed="neither"), None],
        "algorithm": [StrOptions({"auto", "ball_tree", "kd_tree", "brute"})],
        "n_jobs": [Integral, None],
        "multi_source": MULTI_SOURCE,
    }

    def __init__(self, n_neighbors=1, *, laplace_smoothing=False, metric="minkowski", p=2,
                 algorithm="auto", n_jobs=None, multi_source="pooled"):
        self.n_neighbors = n_neighbors
        self.laplace_smoothing = laplace_smoothing
        self.metric = metric
        self.p = p
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.multi_source = multi_source

    def _estimate(self, X, y, is_source, rng):
        _check_positive("n_neighbors", self.n_neighbors, integer=True)
        Xs, Xt = X[is_source], X[~is_source]
        k = min(int(self.n_neighbors), len(Xs))
        nn = NearestNeighbors(n_neighbors=k, metric=self.metric, p=self.p,
                              algorithm=self.algorithm, n_jobs=self.n_jobs).fit(Xs)
        idx = nn.kneighbors(Xt, return_distance=False)
        counts = np.bincount(idx.ravel(), minlength=len(Xs)) / k
        w = counts + 1.0 if self.laplace_smoothing else counts
        return w, {"neighbor_counts_": counts}


# =============================================================================
# MMD target shift (class weights)
# =============================================================================
@register_method(
    name="MMDTarS",
    family="reweighting",
    reference=(
        "Zhang, K., Schölkopf, B., Muandet, K. and Wang, Z. (2013). Domain adaptation "
        "under target and conditional shift. ICML (Section 3, target shift)."
    ),
    grid={"gamma": [*_GAMMA_GRID, None]},
    designed_for=("target",),
    complexity=(
        "exact: O(n_s (n_s + n_t) d) time, O(block) memory; Nyström (rank r): "
        "O((n_s + n_t) r d) time, O((n_s + n_t) r) memory; plus a QP in n_classes variables"
    ),
    regression=False,
    skada_name="MMDTarSReweightAdapter",
    skada_params={"gamma": None},
)
class MMDTarS(_BaseReweightAdapter):
    """Class weights matching the target kernel mean embedding (target shift).

    Under target shift ``p_t(x) = sum_c q_c p(x | c)``: class weights ``beta_c =
    q_c / p_c`` are found by matching the reweighted source mean embedding to the
    target's [1]_::

        min_beta || 1/n_s sum_i beta_{y_i} phi(x_i) - 1/n_t sum_j phi(x'_j) ||^2,
        0 <= beta_c <= B,  |sum_i beta_{y_i} - n_s| <= n_s eps.

    For discrete labels the conditional-embedding operator of [1]_ (with a vanishing
    label-kernel regulariser, ``reg`` in skada) reduces exactly to class-wise indicator
    weights, so the programme has only ``n_classes`` variables: its matrix
    ``G_ck = sum_{i in c, l in k} k(x_i, x_l)`` is accumulated by blocks and the QP is
    solved with L-BFGS-B and a Lagrange multiplier for the sum (scipy).

    Parameters
    ----------
    gamma : float, None, "auto", "scale" or "median", default=None
        RBF width; ``None`` = ``1 / n_features``. SKADA-Bench grid: {1e-4, ..., 1e3, None}.
    B : float, default=10.0
        Upper bound on a class weight (``B_beta`` of [1]_).
    eps : float or None, default=None
        Sum-constraint slack; ``None``: ``B / (4 sqrt(n_s))`` as in [1]_.
    tol, max_iter
        L-BFGS-B tolerance and iteration cap.
    approx : "auto", bool, default="auto"
        Use a rank-``n_components`` Nyström feature map (with the exact kernel diagonal,
        as :class:`KMM`) instead of exact kernel sums. ``"auto"``: when a domain has more
        than ``max_exact_samples`` rows.
    max_exact_samples : int, default=10000
    n_components : int, default=1000
    multi_source : {"pooled", "per_domain"}, default="pooled"
    random_state : int, RandomState or None, default=None
        Seed of the Nyström landmarks.

    Attributes
    ----------
    classes_ : ndarray
    class_weights_ : ndarray of shape (n_classes,)
        ``beta_c``, estimate of ``q_c / p_c``.
    source_prior_, target_prior_ : ndarray of shape (n_classes,)
        Source class frequencies and the implied target prior ``beta_c p_c`` (summing
        to one).
    gamma_ : float
    approximated_ : bool
    sample_weight_ : ndarray of shape (n_samples,)
    source_pooling_ : str

    Notes
    -----
    Classification only. Exact: ``O(n_s (n_s + n_t) d)`` time, ``O(block)`` memory
    (skada inverts an ``n_s x n_s`` matrix: ``O(n_s^3)``). Nyström: ``O((n_s + n_t) r d)``.

    References
    ----------
    .. [1] Zhang, K., Schölkopf, B., Muandet, K. and Wang, Z. (2013). Domain adaptation
       under target and conditional shift. ICML, PMLR 28(3):819-827.
    """

    _parameter_constraints: dict = dict(_MEAN_MATCHING_CONSTRAINTS)

    def __init__(self, gamma=None, *, B=10.0, eps=None, tol=1e-8, max_iter=1000,
                 approx="auto", max_exact_samples=10000, n_components=1000,
                 multi_source="pooled", random_state=None):
        self.gamma = gamma
        self.B = B
        self.eps = eps
        self.tol = tol
        self.max_iter = max_iter
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.n_components = n_components
        self.multi_source = multi_source
        self.random_state = random_state

    def _estimate(self, X, y, is_source, rng):
        Xs, ys, Xt = X[is_source], y[is_source], X[~is_source]
        if label_kind(ys) != "classification":
            raise DataValidationError(
                "MMDTarS estimates class weights and needs class labels; for regression "
                "targets use a covariate-shift reweighting (e.g. KMM)."
            )
        _check_positive("B", self.B)
        _check_positive("eps", self.eps, allow_none=True)
        _check_positive("n_components", self.n_components, integer=True)
        n_s, n_t = len(Xs), len(Xt)
        classes, y_idx = np.unique(ys, return_inverse=True)
        E = np.zeros((n_s, classes.size))
        E[np.arange(n_s), y_idx] = 1.0
        counts = E.sum(axis=0)
        gamma = resolve_gamma(self.gamma, X, random_state=rng)
        approx = _use_approx(self.approx, self.max_exact_samples, n_s, n_t)
        if approx:
            fmap = make_feature_map(X, gamma=gamma,
                                    n_components=self.n_components,
                                    random_state=rng.randint(np.iinfo(np.int32).max))
            Phi_s = fmap.transform(Xs)
            M = E.T @ Phi_s  # class sums of source features
            # Exact diagonal kept, as in KMM: G_cc gains sum_{i in c} (k(x,x) - |phi(x)|^2).
            resid = np.maximum(1.0 - np.einsum("ij,ij->i", Phi_s, Phi_s), 0.0)
            G = M @ M.T + np.diag(E.T @ resid)
            h = M @ fmap.transform(Xt).mean(axis=0)
        else:
            KE = kernel_matmul(Xs, Xs, E, gamma=gamma, dtype=np.float32)  # K_ss E, blocked
            G = E.T @ KE
            h = E.T @ kernel_row_means(Xs, Xt, gamma=gamma, dtype=np.float32)
        G = 0.5 * (G + G.T)
        eps = self.B / (4.0 * np.sqrt(n_s)) if self.eps is None else self.eps
        # Same scaling as KMM: 1/2 b'Gb / n_s - b'h with b the class weights.
        beta, nit = _box_sum_qp(lambda b: G @ b / n_s, -h, self.B, counts,
                                n_s * (1 - eps), n_s * (1 + eps), x0=np.ones(classes.size),
                                tol=self.tol, max_iter=self.max_iter)
        prior = counts / n_s
        target_prior = beta * prior
        target_prior = target_prior / target_prior.sum() if target_prior.sum() > 0 else prior
        state = {"classes_": classes, "class_weights_": beta, "source_prior_": prior,
                 "target_prior_": target_prior, "gamma_": gamma, "approximated_": approx,
                 "n_iter_": nit}
        return beta[y_idx], state
