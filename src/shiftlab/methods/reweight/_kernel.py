"""Kernel density-ratio fitting: :class:`KLIEP`, :class:`KMM` and its target-shift
form :class:`MMDTarS` (class weights), with their box-constrained QP solver."""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, brentq, minimize
from sklearn.metrics.pairwise import PAIRWISE_KERNEL_FUNCTIONS
from sklearn.model_selection import KFold
from sklearn.utils._param_validation import StrOptions

from shiftlab.data.convention import label_kind
from shiftlab.exceptions import DataValidationError
from shiftlab.methods._checks import APPROX, GAMMA, MULTI_SOURCE, NON_NEGATIVE, POSITIVE, at_least
from shiftlab.methods._checks import use_approx as _use_approx
from shiftlab.methods._kernels import (
    kernel_diagonal,
    kernel_matmul,
    kernel_row_means,
    make_feature_map,
    pairwise_kernel,
    resolve_gamma,
)
from shiftlab.methods._threads import single_blas_thread
from shiftlab.methods.registry import register_method
from shiftlab.methods.reweight._base import _BaseReweightAdapter, _check_positive

_GAMMA_GRID = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0]
_TINY = np.finfo(np.float64).tiny
_SMALL_QP = 64  # up to this many variables, the QP goes to SLSQP


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
        # Here, not at the top: label_shift imports this package.
        from shiftlab.methods.label_shift import _warn_if_degenerate

        _warn_if_degenerate("MMDTarS", classes, target_prior, prior,
                            "try other kernel bandwidths (gamma) or a larger B")
        state = {"classes_": classes, "class_weights_": beta, "source_prior_": prior,
                 "target_prior_": target_prior, "gamma_": gamma, "approximated_": approx,
                 "n_iter_": nit}
        return beta[y_idx], state
