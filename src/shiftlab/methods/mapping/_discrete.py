"""Barycentric maps of discrete optimal transport: MapOT, EntOT and ClassRegOT
(exact or by minibatches), and the nearest-neighbour extension to new rows."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import StrOptions

from shiftlab.methods import _ot
from shiftlab.methods._checks import (
    APPROX,
    MULTI_SOURCE,
    NON_NEGATIVE,
    POSITIVE,
    at_least,
)
from shiftlab.methods._checks import check_choice as _check_choice
from shiftlab.methods._checks import check_int as _check_int
from shiftlab.methods._checks import check_real as _check_real
from shiftlab.methods._checks import use_approx as _use_approx
from shiftlab.methods.mapping._common import (
    _BaseMapping,
)
from shiftlab.methods.registry import register_method

_OT_METRICS = ["sqeuclidean", "cosine", "cityblock"]
#: A cost normalisation of :func:`shiftlab.methods._ot.normalize_cost` (None: none).
_COST_NORM = [StrOptions({n for n in _ot.COST_NORMS if n is not None}), None]
#: Parameters every discrete OT mapping shares (see ``_BaseOTMapping._validate_common``).
_OT_CONSTRAINTS = {
    "metric": [StrOptions(set(_ot.COST_METRICS))],
    "approx": APPROX,
    "max_exact_samples": [at_least(1)],
    "batch_size": [at_least(2)],
    "n_rounds": [at_least(1)],
    "multi_source": MULTI_SOURCE,
    "random_state": ["random_state"],
}
_REFERENCE_OT = (
    "Courty, N., Flamary, R., Tuia, D. and Rakotomamonjy, A. (2017). Optimal transport for "
    "domain adaptation. IEEE TPAMI 39(9):1853-1865."
)


def _nn_extension(state, X):
    """Out-of-sample map ``x -> x + (T(x_i) - x_i)``, ``x_i`` the nearest training row.

    Rows equal to their nearest training row get ``T(x_i)`` itself, so the in-sample
    map is reproduced bit for bit (``x + (T(x) - x)`` can differ in the last bit).
    """
    Xs, mapped = state["X_source_"], state["mapped_source_"]
    idx = _ot.nearest_rows(X, Xs)
    out = X + (mapped[idx] - Xs[idx])
    same = np.all(X == Xs[idx], axis=1)
    out[same] = mapped[idx[same]]
    return out


# =============================================================================
# discrete OT mappings
# =============================================================================
class _BaseOTMapping(_BaseMapping):
    """Barycentric OT map, exact or by minibatches; subclasses give the plan solver.

    Subclasses define ``_plan(M, ys) -> (plan, converged)`` on the (normalised) cost,
    where ``plan`` is an ``(ns, nt)`` coupling, dense or sparse;
    ``_cost_norm_value()`` names the normalisation.
    """

    #: Name of the parameter holding the cost normalisation.
    _cost_norm_param = "norm"

    def _cost_norm_value(self):
        return getattr(self, self._cost_norm_param)

    def _validate_common(self):
        _check_choice("metric", self.metric, tuple(_ot.COST_METRICS))
        name = self._cost_norm_param
        _check_choice(name, getattr(self, name), _ot.COST_NORMS)
        _check_choice("approx", self.approx, ("auto", True, False))
        _check_int("max_exact_samples", self.max_exact_samples)
        _check_int("batch_size", self.batch_size, minimum=2)
        _check_int("n_rounds", self.n_rounds)

    def _plan(self, M, ys):  # pragma: no cover - abstract
        raise NotImplementedError

    def _solve(self, Xs, ys, Xt, scale):
        M = _ot.cost_matrix(Xs, Xt, self.metric)
        norm = self._cost_norm_value()
        if norm in ("median", "max") and scale is None:
            scale = _ot.cost_scale(M, norm)
        _ot.normalize_cost(M, norm, scale)
        plan, converged = self._plan(M, ys)
        del M
        mass = plan.sum(axis=1)
        mapped = plan @ Xt
        ok = mass > 0
        # A row without mass (cannot happen with the solvers used, but cheap to guard)
        # keeps its position.
        mapped[ok] /= mass[ok, None]
        mapped[~ok] = Xs[~ok]
        return mapped, converged, scale

    def _fit_group(self, Xs, ys, Xt, rng):
        approx = _use_approx(self.approx, self.max_exact_samples, len(Xs), len(Xt))
        if not approx:
            mapped, converged, scale = self._solve(Xs, ys, Xt, None)
            n_batches = 1
        else:
            mapped = np.zeros_like(Xs)
            converged, scale, n_batches = True, None, 0
            for _ in range(self.n_rounds):
                pairs = _ot.minibatch_pairs(len(Xs), len(Xt), self.batch_size, rng)
                n_batches = len(pairs)
                for si, ti in pairs:
                    # The first batch fixes the cost scale shared by all batches.
                    m, conv, scale = self._solve(Xs[si], ys[si], Xt[ti], scale)
                    mapped[si] += m
                    converged &= conv
            mapped /= self.n_rounds
        if not converged:
            warnings.warn(
                f"{type(self).__name__}: the OT solver stopped before convergence "
                "(increase max_iter / max_inner_iter, or the regularisation); the map uses "
                "the last iterate.",
                ConvergenceWarning,
                stacklevel=4,
            )
        state = {
            "X_source_": Xs,
            "mapped_source_": mapped,
            "approx_": approx,
            "n_batches_": n_batches,
            "cost_scale_": scale,
            "converged_": bool(converged),
        }
        return mapped, state

    def _map_group(self, state, X):
        return _nn_extension(state, X)


@register_method(
    name="MapOT",
    family="mapping",
    reference=_REFERENCE_OT + " (exact OT, barycentric mapping).",
    grid={"metric": _OT_METRICS, "norm": ["median"]},
    designed_for=("conditional",),
    complexity=(
        "exact: O(n_s n_t) memory, ~O(n^3) time (linear assignment, or network simplex "
        "for unequal sizes); minibatch (n > max_exact_samples): O(b^2) memory, "
        "O((n / b) b^3) time."
    ),
    regression=True,
    skada_name="OTMappingAdapter",
    skada_params={"metric": "sqeuclidean", "norm": "median", "max_iter": 10_000_000},
)
class OTMapping(_BaseOTMapping):
    """Optimal transport mapping with exact OT (MapOT, Courty et al. 2017).

    The exact OT plan ``P`` between the uniform empirical source and target
    distributions defines the barycentric map
    ``T(x_i) = sum_j P_ij x^t_j / sum_j P_ij`` of each source row; target rows are left
    unchanged and new source rows use the nearest-neighbour extension (see the module
    docstring). When both domains have the same number of rows the optimal plan is a
    permutation, found exactly by a linear assignment solver on dual-reduced costs
    (:func:`shiftlab.methods._ot.exact_assignment`, several times faster than the
    network simplex), except with the ``"cityblock"`` metric, whose often degenerate
    costs slow that solver down by 3-20x. Other problems go to
    :func:`shiftlab.methods._ot.exact_plan`: column generation from 500,000 cost
    entries on, POT's network simplex (``ot.emd``) below.

    Parameters
    ----------
    metric : {"sqeuclidean", "euclidean", "cosine", "cityblock"}, default="sqeuclidean"
        Ground cost. SKADA-Bench grid: {sqeuclidean, cosine, cityblock}.
    norm : {None, "median", "max", "log", "loglog"}, default="median"
        Cost normalisation (the exact plan is invariant to ``"median"`` / ``"max"``; they
        only help numerics). SKADA-Bench: ``"median"``.
    max_iter : int, default=10_000_000
        Maximum number of pivots of the dense network simplex (problems that neither
        the assignment nor column generation solves; a ``ConvergenceWarning`` is
        raised when reached; skada's default, 100_000, stops early on a few thousand
        points).
    approx : "auto", bool, default="auto"
        Minibatch OT instead of exact OT: ``"auto"`` when a domain has more than
        ``max_exact_samples`` rows, ``True`` / ``False`` to force it.
    max_exact_samples : int, default=3000
        Size threshold of ``approx="auto"``.
    batch_size : int, default=1000
        Rows per domain in each minibatch (approximate form).
    n_rounds : int, default=1
        Number of random partitions whose maps are averaged (approximate form).
    multi_source : {"pooled", "per_domain"}, default="pooled"
        See the module docstring.
    random_state : int, RandomState or None, default=None
        Seed of the minibatch partitions (approximate form only).

    Attributes
    ----------
    X_source_ : ndarray of shape (n_source, n_features)
        Training source rows (reference points of the out-of-sample extension).
    mapped_source_ : ndarray of shape (n_source, n_features)
        In-sample map of ``X_source_``.
    approx_ : bool
        Whether the minibatch approximation was used.
    n_batches_ : int
        Number of minibatches per round (1 for the exact form).
    cost_scale_ : float or None
        Divisor of the cost for ``"median"`` / ``"max"`` normalisation.
    converged_ : bool
        Whether every OT solve converged.
    domain_states_ : dict
        The attributes above per fit (``"pooled"`` or source domain id).
    source_pooling_ : str

    Notes
    -----
    Complexity: exact, ``O(n_s n_t)`` memory and roughly ``O(n^3)`` time in the worst
    case (the assignment path takes about 0.2 s at 1,000 + 1,000 points and 3 s at
    3,000 + 3,000 on one core, the network simplex 0.5 s and 8 s); minibatch,
    ``O(b^2)`` memory and ``O(n_rounds (n / b) T(b))`` time. ``"median"`` / ``"max"``
    normalisation leaves the exact plan unchanged and is skipped (``cost_scale_`` is
    then ``None``).

    References
    ----------
    .. [1] Courty, N., Flamary, R., Tuia, D. and Rakotomamonjy, A. (2017). Optimal
       transport for domain adaptation. IEEE TPAMI 39(9).
    .. [2] Fatras, K. et al. (2020). Learning with minibatch Wasserstein. AISTATS.
    """

    _parameter_constraints: dict = {
        **_OT_CONSTRAINTS,
        "norm": _COST_NORM,
        "max_iter": [at_least(1)],
    }

    def __init__(self, metric="sqeuclidean", norm="median", max_iter=10_000_000, *,
                 approx="auto", max_exact_samples=3000, batch_size=1000, n_rounds=1,
                 multi_source="pooled", random_state=None):
        self.metric = metric
        self.norm = norm
        self.max_iter = max_iter
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.batch_size = batch_size
        self.n_rounds = n_rounds
        self.multi_source = multi_source
        self.random_state = random_state

    def _cost_norm_value(self):
        # The exact plan is invariant to rescaling the cost: "median" / "max" would only
        # cost a pass (and a median) over the matrix.
        return None if self.norm in ("median", "max") else self.norm

    def _validate(self):
        self._validate_common()
        _check_int("max_iter", self.max_iter)

    def _plan(self, M, ys):
        # M is a work array of _solve's: the assignment may overwrite it.
        return _ot.exact_plan(M, max_iter=self.max_iter, metric=self.metric,
                              overwrite_cost=True)


@register_method(
    name="EntOT",
    family="mapping",
    reference=_REFERENCE_OT + " (entropic OT, barycentric mapping).",
    grid={"reg_e": [0.1, 0.5, 1.0], "metric": _OT_METRICS, "norm": ["median"]},
    designed_for=("conditional",),
    complexity=(
        "exact: O(n_s n_t) memory, O(n_s n_t) per Sinkhorn iteration; minibatch (n > "
        "max_exact_samples): O(b^2) memory, O(n b) per iteration."
    ),
    regression=True,
    skada_name="EntropicOTMappingAdapter",
    skada_params={"reg_e": 1.0, "metric": "sqeuclidean", "norm": "median",
                  "max_iter": 1000, "tol": 1e-7},
)
class EntropicOTMapping(_BaseOTMapping):
    """Optimal transport mapping with entropic OT (EntOT, Courty et al. 2017).

    Like :class:`OTMapping` with the entropic plan
    ``argmin <P, M> + reg_e sum P log P`` over couplings of the uniform marginals. The
    plan comes from a stabilised Sinkhorn solver (absorption of the scalings into the
    dual potentials, epsilon-scaling, log-domain fall-back; see
    :mod:`shiftlab.methods._ot`), so small ``reg_e`` (1e-3 of the cost scale) gives a
    finite plan instead of NaN.

    Parameters
    ----------
    reg_e : float, default=1.0
        Entropic regularisation, in the units of the normalised cost. SKADA-Bench grid:
        {0.1, 0.5, 1}.
    metric : {"sqeuclidean", "euclidean", "cosine", "cityblock"}, default="sqeuclidean"
        SKADA-Bench grid: {sqeuclidean, cosine, cityblock}.
    norm : {None, "median", "max", "log", "loglog"}, default="median"
        Cost normalisation; with ``"median"`` ``reg_e`` is relative to the median cost.
    max_iter : int, default=1000
        Maximum Sinkhorn iterations (at the final regularisation).
    tol : float, default=1e-7
        Stop when the L1 violation of the source marginal is below ``tol``.
    approx : "auto", bool, default="auto"
        Minibatch OT instead of exact OT: ``"auto"`` when a domain has more than
        ``max_exact_samples`` rows, ``True`` / ``False`` to force it.
    max_exact_samples : int, default=5000
        Size threshold of ``approx="auto"``.
    batch_size : int, default=1000
        Rows per domain in each minibatch (approximate form).
    n_rounds : int, default=1
        Number of random partitions whose maps are averaged (approximate form).
    multi_source : {"pooled", "per_domain"}, default="pooled"
        See the module docstring.
    random_state : int, RandomState or None, default=None
        Seed of the minibatch partitions (approximate form only).

    Attributes
    ----------
    X_source_ : ndarray of shape (n_source, n_features)
        Training source rows (reference points of the out-of-sample extension).
    mapped_source_ : ndarray of shape (n_source, n_features)
        In-sample map of ``X_source_``.
    approx_ : bool
        Whether the minibatch approximation was used.
    n_batches_ : int
        Number of minibatches per round (1 for the exact form).
    cost_scale_ : float or None
        Divisor of the cost for ``"median"`` / ``"max"`` normalisation.
    converged_ : bool
        Whether every OT solve converged.
    domain_states_ : dict
        The attributes above per fit (``"pooled"`` or source domain id).
    source_pooling_ : str

    Notes
    -----
    Complexity: ``O(n_s n_t)`` memory and ``O(n_s n_t)`` time per iteration (two
    matrix-vector products); a few tens of iterations for ``reg_e`` in the grid with
    ``norm="median"``, up to ``max_iter`` for very small ``reg_e``. skada's solver takes
    two log-sum-exp passes per iteration, ~50 times slower per iteration.

    References
    ----------
    .. [1] Courty, N. et al. (2017). Optimal transport for domain adaptation. IEEE TPAMI.
    .. [2] Cuturi, M. (2013). Sinkhorn distances: lightspeed computation of optimal
       transport. NeurIPS.
    .. [3] Schmitzer, B. (2019). Stabilized sparse scaling algorithms for entropy
       regularized transport problems. SIAM J. Sci. Comput. 41(3).
    """

    _parameter_constraints: dict = {
        **_OT_CONSTRAINTS,
        "reg_e": [POSITIVE],
        "norm": _COST_NORM,
        "max_iter": [at_least(1)],
        "tol": [POSITIVE],
    }

    def __init__(self, reg_e=1.0, metric="sqeuclidean", norm="median", max_iter=1000,
                 tol=1e-7, *, approx="auto", max_exact_samples=5000, batch_size=1000,
                 n_rounds=1, multi_source="pooled", random_state=None):
        self.reg_e = reg_e
        self.metric = metric
        self.norm = norm
        self.max_iter = max_iter
        self.tol = tol
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.batch_size = batch_size
        self.n_rounds = n_rounds
        self.multi_source = multi_source
        self.random_state = random_state

    def _validate(self):
        self._validate_common()
        _check_real("reg_e", self.reg_e, low=0.0, strict=True)
        _check_int("max_iter", self.max_iter)
        _check_real("tol", self.tol, low=0.0, strict=True)

    def _plan(self, M, ys):
        res = _ot.sinkhorn(M, self.reg_e, max_iter=self.max_iter, tol=self.tol)
        return res.plan, res.converged


@register_method(
    name="ClassRegOT",
    family="mapping",
    reference=_REFERENCE_OT + " (class-regularised entropic OT, lp-l1 / group lasso).",
    grid={"reg_e": [0.1, 0.5, 1.0], "metric": _OT_METRICS, "norm": ["lpl1"]},
    designed_for=("conditional",),
    complexity=(
        "exact: O(n_s n_t) memory, O(max_iter max_inner_iter n_s n_t) time; minibatch "
        "(n > max_exact_samples): O(b^2) memory, time linear in n."
    ),
    regression=False,
    skada_name="ClassRegularizerOTMappingAdapter",
    skada_params={"reg_e": 1.0, "reg_cl": 1.0, "norm": "lpl1", "metric": "sqeuclidean",
                  "max_iter": 10, "max_inner_iter": 200, "tol": 1e-7},
)
class ClassRegOTMapping(_BaseOTMapping):
    """Class-regularised entropic OT mapping (ClassRegOT, Courty et al. 2017).

    The entropic plan gets a penalty ``reg_cl * Omega_c(P)`` that discourages a target
    point from receiving mass from source points of different classes (so each target
    cluster is fed by one source class), using the source labels only. ``Omega_c`` is
    the concave lp-l1 norm (``norm="lpl1"``, majorisation-minimisation) or the group
    lasso (``norm="l1l2"``, generalised conditional gradient); see
    :func:`shiftlab.methods._ot.class_regularized_plan`. Every inner Sinkhorn solve is
    stabilised and warm-started from the previous one.

    Parameters
    ----------
    reg_e : float, default=1.0
        Entropic regularisation (units of the cost). SKADA-Bench grid: {0.1, 0.5, 1},
        with ``reg_cl = reg_e``.
    reg_cl : float or None, default=None
        Class regularisation; ``None`` uses ``reg_e`` (SKADA-Bench ties the two).
    norm : {"lpl1", "l1l2"}, default="lpl1"
        Class regulariser (named as in skada). The *cost* normalisation is
        ``cost_norm``.
    metric : {"sqeuclidean", "euclidean", "cosine", "cityblock"}, default="sqeuclidean"
        SKADA-Bench grid: {sqeuclidean, cosine, cityblock}.
    cost_norm : {None, "median", "max", "log", "loglog"}, default=None
        Cost normalisation. ``None`` as skada (which has none); ``"median"`` makes
        ``reg_e`` and ``reg_cl`` relative to the median cost, advisable in high
        dimension where raw squared distances are large.
    max_iter : int, default=10
        Outer (majorisation / conditional-gradient) steps.
    max_inner_iter : int, default=200
        Sinkhorn iterations per outer step.
    tol : float, default=1e-7
        Tolerance of each Sinkhorn solve (L1 marginal violation).
    approx : "auto", bool, default="auto"
        Minibatch OT instead of exact OT: ``"auto"`` when a domain has more than
        ``max_exact_samples`` rows, ``True`` / ``False`` to force it.
    max_exact_samples : int, default=3000
        Size threshold of ``approx="auto"``.
    batch_size : int, default=1000
        Rows per domain in each minibatch (approximate form).
    n_rounds : int, default=1
        Number of random partitions whose maps are averaged (approximate form).
    multi_source : {"pooled", "per_domain"}, default="pooled"
        See the module docstring.
    random_state : int, RandomState or None, default=None
        Seed of the minibatch partitions (approximate form only).

    Attributes
    ----------
    X_source_ : ndarray of shape (n_source, n_features)
        Training source rows (reference points of the out-of-sample extension).
    mapped_source_ : ndarray of shape (n_source, n_features)
        In-sample map of ``X_source_``.
    approx_ : bool
        Whether the minibatch approximation was used.
    n_batches_ : int
        Number of minibatches per round (1 for the exact form).
    cost_scale_ : float or None
        Divisor of the cost for ``"median"`` / ``"max"`` normalisation.
    converged_ : bool
        Whether every OT solve converged.
    domain_states_ : dict
        The attributes above per fit (``"pooled"`` or source domain id).
    source_pooling_ : str

    Notes
    -----
    Complexity: ``O(n_s n_t)`` memory, ``O(max_iter * max_inner_iter * n_s n_t)`` time
    in the worst case. The majorisation steps are solved inexactly while the plan still
    moves (inner tolerance proportional to the last move, float32 kernel), each warm-
    started from the previous potentials; the last step is solved to ``tol`` in float64.
    On raw costs with ``reg_e`` much smaller than the costs (``cost_norm=None`` in high
    dimension), Sinkhorn needs many iterations whatever the implementation; there
    ``cost_norm="median"`` is several times faster. Classification only.

    References
    ----------
    .. [1] Courty, N., Flamary, R., Tuia, D. and Rakotomamonjy, A. (2017). Optimal
       transport for domain adaptation. IEEE TPAMI 39(9).
    .. [2] Rakotomamonjy, A., Flamary, R. and Courty, N. (2015). Generalized conditional
       gradient: analysis of convergence and applications. arXiv:1510.06567.
    """

    _needs_classes = True
    _cost_norm_param = "cost_norm"

    _parameter_constraints: dict = {
        **_OT_CONSTRAINTS,
        "reg_e": [POSITIVE],
        "reg_cl": [NON_NEGATIVE, None],
        "norm": [StrOptions({"lpl1", "l1l2"})],
        "cost_norm": _COST_NORM,
        "max_iter": [at_least(1)],
        "max_inner_iter": [at_least(1)],
        "tol": [POSITIVE],
    }

    def __init__(self, reg_e=1.0, reg_cl=None, norm="lpl1", metric="sqeuclidean",
                 cost_norm=None, max_iter=10, max_inner_iter=200, tol=1e-7, *,
                 approx="auto", max_exact_samples=3000, batch_size=1000, n_rounds=1,
                 multi_source="pooled", random_state=None):
        self.reg_e = reg_e
        self.reg_cl = reg_cl
        self.norm = norm
        self.metric = metric
        self.cost_norm = cost_norm
        self.max_iter = max_iter
        self.max_inner_iter = max_inner_iter
        self.tol = tol
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.batch_size = batch_size
        self.n_rounds = n_rounds
        self.multi_source = multi_source
        self.random_state = random_state

    def _validate(self):
        self._validate_common()
        _check_choice("norm", self.norm, ("lpl1", "l1l2"))
        _check_real("reg_e", self.reg_e, low=0.0, strict=True)
        _check_real("reg_cl", self.reg_cl, low=0.0, allow_none=True)
        _check_int("max_iter", self.max_iter)
        _check_int("max_inner_iter", self.max_inner_iter)
        _check_real("tol", self.tol, low=0.0, strict=True)

    def _plan(self, M, ys):
        reg_cl = self.reg_e if self.reg_cl is None else self.reg_cl
        plan, _ = _ot.class_regularized_plan(
            M, ys, self.reg_e, reg_cl, norm=self.norm, max_iter=self.max_iter,
            max_inner_iter=self.max_inner_iter, tol=self.tol,
        )
        # The inner solves are truncated by design (max_inner_iter), as in the paper's
        # algorithm: no convergence warning for them.
        return plan, True
