"""Joint distribution optimal transport: :class:`JDOTClassifier` and
:class:`JDOTRegressor` (Courty et al., 2017)."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import SVC
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import has_fit_parameter

from shiftlab.data.convention import split_source_target
from shiftlab.methods._checks import NON_NEGATIVE, UNIT, at_least, use_approx
from shiftlab.methods._checks import check_choice as _check_choice
from shiftlab.methods._checks import check_int as _check_int
from shiftlab.methods._checks import check_real as _check_real
from shiftlab.methods._ot import cost_matrix
from shiftlab.methods.base import BaseDAEstimator
from shiftlab.methods.registry import register_method
from shiftlab.methods.selflabel._common import (
    _COST_NORMS,
    _COST_STATS,
    _METRICS,
    _OT_CONSTRAINTS,
    _cost_scale,
    _emd,
    _fit_classifier,
    _joint_cost,
    _label_cost,
    _make_blocks,
    _one_hot,
    _record_domains,
    _require_classification,
    _TargetModelMixin,
    _transport_cost,
)

_JDOT_CONSTRAINTS = {
    **_OT_CONSTRAINTS,
    "alpha": [UNIT],
    "n_iter_max": [at_least(1)],
    "tol": [NON_NEGATIVE],
}

_REF_JDOT = (
    "N. Courty, R. Flamary, A. Habrard, A. Rakotomamonjy. Joint distribution optimal "
    "transportation for domain adaptation. NeurIPS 2017."
)


class _JDOTBase(_TargetModelMixin, BaseDAEstimator):
    def _validate_common(self):
        _check_real("alpha", self.alpha, low=0.0, high=1.0)
        _check_int("n_iter_max", self.n_iter_max, 1)
        _check_real("tol", self.tol, low=0.0)
        _check_choice("metric", self.metric, _METRICS)
        _check_choice("cost_norm", self.cost_norm, _COST_NORMS)

    def _feature_costs(self, Xs, Xt, codes, rng):
        n_s, n_t = Xs.shape[0], Xt.shape[0]
        self.approx_ = use_approx(self.approx, self.max_exact_samples, n_s, n_t)
        blocks = _make_blocks(n_s, n_t, self.batch_size, rng, codes, exact=not self.approx_)
        if self.approx_:
            scale = _cost_scale(Xs, Xt, self.metric, self.cost_norm, rng)
            costs = [cost_matrix(Xs[S], Xt[T], self.metric) / scale for S, T in blocks]
        else:
            M = cost_matrix(Xs, Xt, self.metric)
            if self.cost_norm is not None:
                M /= _COST_STATS[self.cost_norm](M)
            costs = [M]
        self.n_blocks_ = len(blocks)
        return blocks, costs


_JDOT_PARAMS_DOC = """
    alpha : float in [0, 1], default=0.5
        Weight of the label loss in the joint cost ``(1 - alpha) * d(x_s, x_t) +
        alpha * loss(y_s, f(x_t))`` (skada's convention). SKADA-Bench grid:
        {0.1, 0.3, 0.5, 0.7, 0.9}.
    n_iter_max : int, default=10
        Maximum number of alternating (OT plan, model fit) steps.
    tol : float, default=1e-5
        Stop when the relative decrease of the JDOT objective falls below ``tol``.
    metric : {"sqeuclidean", "euclidean", "cosine", "cityblock"}, default="sqeuclidean"
        Ground metric between features.
    cost_norm : {"mean", "median", "max", None}, default="mean"
        Division of the feature cost, which makes ``alpha`` comparable across datasets.
    approx : {"auto", True, False}, default="auto"
        Minibatch OT (see the module docstring): ``"auto"`` uses it when a domain has
        more than ``max_exact_samples`` points.
    max_exact_samples : int, default=1000
        Largest domain size solved with one exact OT plan under ``approx="auto"``.
    batch_size : int, default=500
        Block size of minibatch OT.
    random_state : int, RandomState or None, default=None
        Seeds the minibatch partition (the exact path is deterministic)."""


@register_method(
    name="JDOT",
    family="other",
    reference=_REF_JDOT,
    grid={"alpha": [0.1, 0.3, 0.5, 0.7, 0.9]},
    designed_for=("conditional",),
    complexity=(
        "exact: O(n_iter (n_s n_t d + T_emd(n_s, n_t) + T_fit)) time, O(n_s n_t) memory; "
        "minibatch (blocks of B): O(n_iter (max(n_s, n_t) / B) (B^2 d + T_emd(B, B))) time, "
        "O(max(n_s, n_t) B) memory"
    ),
    needs_estimator=False,
    multiclass=True,
    regression=False,
    skada_name="JDOTClassifier",
    skada_params={"metric": "hinge", "n_iter_max": 10, "tol": 1e-5},
)
class JDOTClassifier(_JDOTBase):
    """Joint distribution optimal transport classifier (Courty et al., 2017).

    JDOT looks for a target classifier ``f`` and a coupling ``T`` between source pairs
    ``(x_s, y_s)`` and target pairs ``(x_t, f(x_t))`` that minimise
    ``sum_ij T_ij [(1 - alpha) d(x_i, x_j) + alpha L(y_i, f(x_j))]``. It alternates
    (block coordinate descent) an exact OT problem with ``f`` fixed and a weighted fit of
    ``f`` on the target points, each target point ``x_j`` being given class ``c`` with
    weight ``n_t * sum_{i: y_i = c} T_ij`` (the transported label mass).

    Parameters
    ----------
    base_estimator : classifier or None, default=None
        Classifier refitted at each step; it must accept ``sample_weight``. For
        ``loss="hinge"`` it needs ``decision_function`` (an SVM minimises the hinge
        loss, as the theory asks); for ``loss="log"``, ``predict_proba``. ``None``:
        ``SVC()`` (RBF kernel, as SKADA-Bench's "JDOT (hinge, SVC)"); on shiftlab's
        simulated conditional shifts it beats ``SVC(kernel="linear")`` (the paper's
        linear case) by 2 to 9 accuracy points at the same cost.
    loss : {"hinge", "log"}, default="hinge"
        Label loss ``L`` in the cost: one-vs-rest hinge on ``decision_function`` or
        cross-entropy on ``predict_proba``.
""" + _JDOT_PARAMS_DOC + """
    thr_weights : float, default=1e-6
        Transported label masses below ``thr_weights * max`` are dropped from the fit.

    Attributes
    ----------
    estimator_ : classifier
        Model fitted on the target domain at the last step (used to predict).
    classes_ : ndarray
        Source classes.
    n_iter_ : int
        Number of alternating steps run.
    objective_ : list of float
        JDOT objective after each step.
    approx_ : bool
        Whether minibatch OT was used. ``n_blocks_`` gives the number of OT problems.
    source_domains_, target_domains_ : ndarray
        Domain ids seen at fit (several source ids are pooled: ``pooled_sources_``).

    Notes
    -----
    Complexity: each step costs one OT solve (exact: ``O(n_s n_t)`` memory and roughly
    cubic time; minibatch: ``O((n_s + n_t) B)`` memory, linear time) plus one fit on at
    most ``n_t * n_classes`` weighted rows. The label cost of a source point only depends
    on its class, so it is gathered from an ``(n_classes, n_t)`` table rather than built
    as an ``n_s x n_t x n_classes`` tensor. A ``LogisticRegression`` base estimator is
    refitted from the previous step's coefficients (same optimum, about half the L-BFGS
    iterations).

    With a binary problem and ``loss="hinge"`` the cost uses the signed margin of
    ``decision_function`` (skada 0.6's JDOTClassifier repeats the margin for both
    classes, which makes its label cost constant in the binary case).

    References
    ----------
    .. [1] Courty, Flamary, Habrard, Rakotomamonjy. Joint distribution optimal
       transportation for domain adaptation. NeurIPS 2017.
    .. [2] Fatras, Zine, Flamary, Gribonval, Courty. Learning with minibatch Wasserstein:
       asymptotic and gradient properties. AISTATS 2020.

    Examples
    --------
    >>> from shiftlab.data.simulate import make_shifted_blobs
    >>> from shiftlab.methods.selflabel import JDOTClassifier
    >>> ds = make_shifted_blobs("conditional", n_samples_source=100,
    ...                         n_samples_target=100, random_state=0)
    >>> X, y, sample_domain = ds.pack("source", "target")
    >>> model = JDOTClassifier(alpha=0.5).fit(X, y, sample_domain)
    >>> model.predict(X[sample_domain < 0]).shape
    (100,)
    """

    _parameter_constraints: dict = {
        **_JDOT_CONSTRAINTS,
        "loss": [StrOptions({"hinge", "log"})],
        "thr_weights": [NON_NEGATIVE],
    }

    def __init__(
        self,
        base_estimator=None,
        *,
        alpha=0.5,
        loss="hinge",
        n_iter_max=10,
        tol=1e-5,
        metric="sqeuclidean",
        cost_norm="mean",
        thr_weights=1e-6,
        approx="auto",
        max_exact_samples=1000,
        batch_size=500,
        random_state=None,
    ):
        self.base_estimator = base_estimator
        self.alpha = alpha
        self.loss = loss
        self.n_iter_max = n_iter_max
        self.tol = tol
        self.metric = metric
        self.cost_norm = cost_norm
        self.thr_weights = thr_weights
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.batch_size = batch_size
        self.random_state = random_state

    def _base(self):
        return SVC() if self.base_estimator is None else self.base_estimator

    def _fit(self, X, y, sample_domain):
        self._validate_common()
        _check_choice("loss", self.loss, ("hinge", "log"))
        _check_real("thr_weights", self.thr_weights, low=0.0)
        base = self._base()
        if not has_fit_parameter(base, "sample_weight"):
            raise TypeError(
                f"JDOT fits its base estimator with sample weights, which "
                f"{type(base).__name__} does not accept; use e.g. SVC, LinearSVC or "
                "LogisticRegression."
            )
        _record_domains(self, sample_domain)
        Xs, ys, Xt, _ = split_source_target(X, y, sample_domain)
        _require_classification(ys, "JDOTClassifier")
        self.classes_, codes = np.unique(ys, return_inverse=True)
        n_classes, n_t = self.classes_.size, Xt.shape[0]
        Ys = _one_hot(codes, n_classes)
        rng = check_random_state(self.random_state)
        blocks, costs = self._feature_costs(Xs, Xt, codes, rng)
        alpha = float(self.alpha)

        L = None
        self.objective_ = []
        mass_prev = None
        est = None
        # Support of each block's last plan (n + m - 1 entries): warm start of the next.
        supports = [None] * len(blocks)
        for it in range(self.n_iter_max):
            self.n_iter_ = it + 1
            mass = np.zeros((n_t, n_classes))
            count = np.zeros(n_t)
            feat = 0.0
            for b, ((S, T), D) in enumerate(zip(blocks, costs, strict=True)):
                G = _emd(D if L is None else _joint_cost(D, L[:, T], codes[S], alpha),
                         warm_support=supports[b], metric=self.metric)
                supports[b] = (G.row, G.col)
                feat += _transport_cost(G, D)
                # Mass of each source class sent to each target point, rescaled so that
                # every target row sums to one.
                mass[T] += T.size * (G.T @ Ys[S])
                count[T] += 1.0
            mass /= count[:, None]
            feat /= len(blocks)

            rows, cls = np.nonzero(mass > self.thr_weights * mass.max())
            est = _fit_classifier(base, Xt[rows], self.classes_[cls], mass[rows, cls],
                                  warm_from=est)
            L = _label_cost(est, Xt, self.classes_, self.loss)
            obj = (1.0 - alpha) * feat + alpha * float(np.sum(mass * L.T)) / n_t
            self.objective_.append(obj)
            if mass_prev is not None and (
                np.array_equal(mass, mass_prev)
                or abs(self.objective_[-2] - obj) <= self.tol * max(abs(obj), 1e-12)
            ):
                break
            mass_prev = mass
        if isinstance(est, LogisticRegression):  # leave the user's setting on the model
            est.set_params(warm_start=base.get_params()["warm_start"])
        self.estimator_ = est


@register_method(
    name="JDOTRegressor",
    family="other",
    reference=_REF_JDOT,
    grid={"alpha": [0.1, 0.3, 0.5, 0.7, 0.9]},
    designed_for=("conditional",),
    complexity=(
        "exact: O(n_iter (n_s n_t d + T_emd(n_s, n_t) + T_fit)) time, O(n_s n_t) memory; "
        "minibatch: O((n_s + n_t) B) memory"
    ),
    needs_estimator=False,
    multiclass=False,
    regression=True,
    skada_name="JDOTRegressor",
    skada_params={"n_iter_max": 10, "tol": 1e-5},
)
class JDOTRegressor(_JDOTBase):
    """Joint distribution optimal transport regressor (Courty et al., 2017).

    As :class:`JDOTClassifier` with the squared loss: the label cost between source
    ``i`` and target ``j`` is ``(y_i - f(x_j))^2`` and each step fits ``f`` on the
    barycentric target labels ``n_t * sum_i T_ij y_i``.

    Parameters
    ----------
    base_estimator : regressor or None, default=None
        Regressor refitted at each step; a least-squares model matches the theory.
        ``None``: ``LinearRegression()``.
""" + _JDOT_PARAMS_DOC + """

    Attributes
    ----------
    estimator_ : regressor
        Model fitted on the target domain at the last step.
    n_iter_, objective_, approx_, n_blocks_ : see :class:`JDOTClassifier`.
    source_domains_, target_domains_, pooled_sources_ : see :class:`JDOTClassifier`.

    Notes
    -----
    Complexity as :class:`JDOTClassifier`. The label cost is not normalised (skada's
    convention), so ``alpha`` trades squared label units against the normalised
    feature cost.

    References
    ----------
    .. [1] Courty, Flamary, Habrard, Rakotomamonjy. Joint distribution optimal
       transportation for domain adaptation. NeurIPS 2017.
    """

    _parameter_constraints: dict = dict(_JDOT_CONSTRAINTS)

    def __init__(
        self,
        base_estimator=None,
        *,
        alpha=0.5,
        n_iter_max=10,
        tol=1e-5,
        metric="sqeuclidean",
        cost_norm="mean",
        approx="auto",
        max_exact_samples=1000,
        batch_size=500,
        random_state=None,
    ):
        self.base_estimator = base_estimator
        self.alpha = alpha
        self.n_iter_max = n_iter_max
        self.tol = tol
        self.metric = metric
        self.cost_norm = cost_norm
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.batch_size = batch_size
        self.random_state = random_state

    def _base(self):
        return LinearRegression() if self.base_estimator is None else self.base_estimator

    def _fit(self, X, y, sample_domain):
        self._validate_common()
        base = self._base()
        _record_domains(self, sample_domain)
        Xs, ys, Xt, _ = split_source_target(X, y, sample_domain)
        ys = ys.astype(float)
        n_t = Xt.shape[0]
        rng = check_random_state(self.random_state)
        blocks, costs = self._feature_costs(Xs, Xt, None, rng)
        alpha = float(self.alpha)

        pred = None
        self.objective_ = []
        yt_prev = None
        est = None
        supports = [None] * len(blocks)  # as in JDOTClassifier
        for it in range(self.n_iter_max):
            self.n_iter_ = it + 1
            m0, m1, m2 = np.zeros(n_t), np.zeros(n_t), np.zeros(n_t)
            count = np.zeros(n_t)
            feat = 0.0
            for b, ((S, T), D) in enumerate(zip(blocks, costs, strict=True)):
                if pred is not None:
                    D = _joint_cost(D, (ys[S, None] - pred[None, T]) ** 2, None, alpha)
                G = _emd(D, warm_support=supports[b], metric=self.metric)
                supports[b] = (G.row, G.col)
                feat += _transport_cost(G, D)
                # Moments of the labels sent to each target: enough to evaluate the
                # squared label cost of the next model without keeping the plans.
                m0[T] += T.size * G.sum(axis=0)
                m1[T] += T.size * (G.T @ ys[S])
                m2[T] += T.size * (G.T @ ys[S] ** 2)
                count[T] += 1.0
            m0, m1, m2 = m0 / count, m1 / count, m2 / count
            feat /= len(blocks)
            yt = m1 / m0
            est = clone(base).fit(Xt, yt)
            pred = est.predict(Xt)
            label = float(np.sum(m2 - 2.0 * pred * m1 + pred**2 * m0)) / n_t
            obj = (1.0 - alpha) * feat + alpha * label
            self.objective_.append(obj)
            if yt_prev is not None and (
                np.array_equal(yt, yt_prev)
                or abs(self.objective_[-2] - obj) <= self.tol * max(abs(obj), 1e-12)
            ):
                break
            yt_prev = yt
        self.estimator_ = est
