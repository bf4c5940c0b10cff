"""Density ratios from density estimates and classifiers: :class:`DensityReweight`
(kernel density estimation), :class:`GaussianReweight`, :class:`DiscriminatorReweight`
(a domain classifier) and :class:`NearestNeighborReweight`."""

from __future__ import annotations

import numbers
from numbers import Integral, Real

import numpy as np
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, StrOptions

from shiftlab.methods._checks import APPROX, ESTIMATOR, MULTI_SOURCE, POSITIVE, UNIT, at_least
from shiftlab.methods._checks import use_approx as _use_approx
from shiftlab.methods._covariance import _covariance, check_covariance_reg
from shiftlab.methods._kernels import gaussian_kde_logpdf
from shiftlab.methods.registry import register_method
from shiftlab.methods.reweight._base import _BaseReweightAdapter, _check_positive, _weights_from_log


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

    Ties are shared: a target row on the boundary of several Voronoi cells (equally
    near to several source rows at its ``k``-th distance) splits what it has left to
    give equally among them, so the weights do not depend on the order of the source
    rows. Ties are the rule on categorical data (on one-hot Mushrooms, most target rows
    have several nearest source rows), where an arbitrary tie-break changes the model
    fitted with the weights.

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
        counts = _shared_neighbor_counts(nn, Xt, k, len(Xs))
        w = counts + 1.0 if self.laplace_smoothing else counts
        return w, {"neighbor_counts_": counts}


#: Relative tolerance of a tie between two distances. Looser than float rounding, since
#: the radius query may compute a distance along another path than ``kneighbors``.
_TIE_RTOL = 1e-7


def _shared_neighbor_counts(nn, Xt, k: int, n_source: int) -> np.ndarray:
    """Each target row gives ``1 / k`` to each of its ``k`` nearest source rows; the
    source rows tied at its ``k``-th distance share equally what is left after the
    strictly nearer ones.

    One extra neighbour tells which target rows have a tie at the ``k``-th distance (on
    continuous data, almost none); only those are queried again, by radius, grouped by
    that distance. A row whose radius query disagrees with ``kneighbors`` (rounding)
    keeps its ``kneighbors`` answer.
    """
    if k >= n_source:  # every source row is a neighbour of every target row
        return np.full(n_source, len(Xt) / n_source)
    dist, idx = nn.kneighbors(Xt, n_neighbors=k + 1)
    kth = dist[:, k - 1]
    tied = np.isclose(dist[:, k], kth, rtol=_TIE_RTOL, atol=1e-12)
    counts = np.bincount(idx[~tied, :k].ravel(), minlength=n_source).astype(float)
    rows = np.flatnonzero(tied)
    # Rows with the same k-th distance share one radius query.
    for radius in np.unique(kth[rows]):
        group = rows[kth[rows] == radius]
        found_dist, found_idx = nn.radius_neighbors(
            Xt[group], radius=radius * (1 + 2 * _TIE_RTOL) + 1e-12)
        for row, d, i in zip(group, found_dist, found_idx, strict=True):
            at_kth = np.isclose(d, radius, rtol=_TIE_RTOL, atol=1e-12)
            nearer = i[~at_kth & (d < radius)]
            if nearer.size >= k or at_kth.sum() < 2:
                counts[idx[row, :k]] += 1.0
                continue
            counts[nearer] += 1.0
            counts[i[at_kth]] += (k - nearer.size) / at_kth.sum()
    return counts / k
