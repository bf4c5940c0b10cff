"""Optimal-transport building blocks of the mapping family (private).

Everything works on dense ``float64`` arrays and is written for speed and robustness:

* :func:`cost_matrix` builds ground costs with one BLAS product for the Euclidean family
  (``scipy.spatial.distance.cdist`` for the others) and :func:`normalize_cost` rescales
  them (median, max, log, loglog), as in Courty et al. (2017);
* :func:`exact_plan` solves exact OT between uniform weights (linear assignment for
  square problems, column generation for large ones, POT's network simplex otherwise)
  and reports whether it reached optimality;
* :func:`sinkhorn` is an entropic OT solver that never produces NaN: Sinkhorn scaling
  iterations (one matrix-vector product per half step) on a kernel whose dual potentials
  are *absorbed* whenever the scalings grow large (Schmitzer 2019), with
  epsilon-scaling for small regularisation and a log-domain fall-back (Peyré and Cuturi
  2019, Sec. 4.4) should a kernel row or column underflow anyway. It accepts
  warm-start potentials;
* :func:`class_regularized_plan` solves class-regularised OT (Courty et al. 2017) with
  the lp-l1 majorisation-minimisation or the l1-l2 (group-lasso) generalised
  conditional gradient, each Sinkhorn solve warm-started from the previous one;
* :func:`nearest_rows` finds nearest training rows block by block for the
  nearest-neighbour out-of-sample extension of barycentric maps (Ferradans et al. 2014,
  Perrot et al. 2016).

References
----------
.. [1] Courty, N., Flamary, R., Tuia, D. and Rakotomamonjy, A. (2017). Optimal transport
   for domain adaptation. IEEE TPAMI 39(9), 1853-1865.
.. [2] Schmitzer, B. (2019). Stabilized sparse scaling algorithms for entropy regularized
   transport problems. SIAM J. Sci. Comput. 41(3), A1443-A1481.
.. [3] Peyré, G. and Cuturi, M. (2019). Computational optimal transport. Foundations and
   Trends in Machine Learning 11(5-6).
.. [4] Rakotomamonjy, A., Flamary, R. and Courty, N. (2015). Generalized conditional
   gradient: analysis of convergence and applications. arXiv:1510.06567.
.. [5] Ferradans, S., Papadakis, N., Peyré, G. and Aujol, J.-F. (2014). Regularized
   discrete optimal transport. SIAM J. Imaging Sci. 7(3), 1853-1882.
.. [6] Perrot, M., Courty, N., Flamary, R. and Habrard, A. (2016). Mapping estimation
   for discrete optimal transport. NeurIPS.
.. [7] Fatras, K., Zine, Y., Flamary, R., Gribonval, R. and Courty, N. (2020). Learning
   with minibatch Wasserstein: asymptotic and gradient properties. AISTATS.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.spatial.distance import cdist

__all__ = [
    "COST_METRICS",
    "COST_NORMS",
    "SinkhornResult",
    "assignment_suits",
    "class_regularized_plan",
    "cost_matrix",
    "exact_assignment",
    "exact_plan",
    "logsumexp_inplace",
    "minibatch_pairs",
    "nearest_rows",
    "normalize_cost",
    "sinkhorn",
]

#: Ground metrics accepted by :func:`cost_matrix`.
COST_METRICS = ("sqeuclidean", "euclidean", "cosine", "cityblock")
#: Cost normalisations accepted by :func:`normalize_cost` (``None``: none).
COST_NORMS = (None, "median", "max", "log", "loglog")

# Scalings are absorbed into the potentials once |log u| or |log v| exceeds this: far
# from float64 overflow (exp(709)) yet rare enough to keep most iterations at the cost
# of two matrix-vector products.
_ABSORB_LOG = 40.0
# Rows of a block in the blocked nearest-neighbour search (memory: rows x n_train).
_NN_BLOCK_BYTES = 64 * 2**20
# From this many cost entries on, exact OT goes through column generation (below, the
# dense network simplex is as fast).
_CG_MIN_SIZE = 500_000
_SPARSE_EMD = None  # whether POT's emd accepts sparse costs; probed on first use
# Inexact majorisation-minimisation: intermediate inner solves stop at a tolerance of
# _INEXACT * (last plan move) or after _INNER_CAP * max_inner_iter iterations.
_INEXACT = 1e-2
_INNER_CAP = 0.25
# Epsilon-scaling starts at (cost spread) / _FIRST_STAGE_DIV: a kernel entry is then at
# least e^-16 (~1e-7) of its row maximum, far from float32 underflow (1e-38), and the
# near-uniform stages above it, which barely move the potentials, are skipped
# (exact assignments 1,000 x 1,000: 10-20% faster, one kernel pass saved per stage).
_FIRST_STAGE_DIV = 16.0
# exact_assignment's dual estimate starts lower still (kernel entries >= e^-64 ~ 1e-28,
# still normal float32): only its duals' quality matters, not the entropic plan, and
# the assignment is 5-12% faster than from 1/16 with identical results.
_ASSIGN_STAGE_DIV = 64.0


# ---------------------------------------------------------------------------- costs
def cost_matrix(Xs: np.ndarray, Xt: np.ndarray, metric: str = "sqeuclidean") -> np.ndarray:
    """Ground cost ``M[i, j] = c(Xs[i], Xt[j])`` as a new C-ordered float64 array.

    ``"sqeuclidean"`` and ``"euclidean"`` use ``|x|^2 + |y|^2 - 2 x.y`` (one matrix
    product, clipped at 0), ``"cosine"`` is ``1 - cos(x, y)`` (zero rows count as
    orthogonal to everything), ``"cityblock"`` goes through ``scipy.spatial.distance.cdist``.
    Cost: ``O(ns nt d)`` time, ``O(ns nt)`` memory.
    """
    Xs = np.asarray(Xs, dtype=np.float64)
    Xt = np.asarray(Xt, dtype=np.float64)
    if metric in ("sqeuclidean", "euclidean"):
        M = Xs @ Xt.T
        M *= -2.0
        M += np.einsum("ij,ij->i", Xs, Xs)[:, None]
        M += np.einsum("ij,ij->i", Xt, Xt)[None, :]
        np.maximum(M, 0.0, out=M)
        if metric == "euclidean":
            np.sqrt(M, out=M)
        return M
    if metric == "cosine":
        ns = np.linalg.norm(Xs, axis=1)
        nt = np.linalg.norm(Xt, axis=1)
        ns[ns == 0] = 1.0
        nt[nt == 0] = 1.0
        M = (Xs / ns[:, None]) @ (Xt / nt[:, None]).T
        np.subtract(1.0, M, out=M)
        np.maximum(M, 0.0, out=M)
        return M
    if metric == "cityblock":
        return np.ascontiguousarray(cdist(Xs, Xt, metric="cityblock"))
    raise ValueError(f"Unknown metric {metric!r}; use one of {COST_METRICS}.")


def cost_scale(M: np.ndarray, norm: str | None) -> float | None:
    """Divisor used by ``norm`` ("median" / "max"), or ``None`` for the others."""
    if norm == "median":
        scale = float(np.median(M))
    elif norm == "max":
        scale = float(np.max(M))
    else:
        return None
    # A degenerate cost (all zeros, e.g. identical domains) is left as it is.
    return scale if scale > 0 and np.isfinite(scale) else 1.0


def normalize_cost(M: np.ndarray, norm: str | None, scale: float | None = None) -> np.ndarray:
    """Normalise a cost matrix in place and return it.

    ``"median"`` / ``"max"`` divide by the median / max entry (or by ``scale`` when
    given, so that minibatches share one scale), ``"log"`` maps ``M -> log(1 + M)`` and
    ``"loglog"`` ``M -> log(1 + log(1 + M))``; ``None`` leaves ``M`` unchanged.
    """
    if norm is None:
        return M
    if norm in ("median", "max"):
        M /= cost_scale(M, norm) if scale is None else scale
        return M
    if norm == "log":
        np.log1p(M, out=M)
        return M
    if norm == "loglog":
        np.log1p(M, out=M)
        np.log1p(M, out=M)
        return M
    raise ValueError(f"Unknown cost normalisation {norm!r}; use one of {COST_NORMS}.")


def uniform(n: int) -> np.ndarray:
    return np.full(n, 1.0 / n)


# ------------------------------------------------------------------------- exact OT
def exact_plan(M: np.ndarray, *, max_iter: int | None = None, warm_support=None,
               metric: str | None = None, overwrite_cost: bool = False
               ) -> tuple[sp.coo_array, bool]:
    """Exact OT plan between uniform marginals, as a sparse ``coo_array``.

    Returns the ``(ns, nt)`` plan (an optimal basic plan has at most ``ns + nt - 1``
    non-zeros) and whether optimality was certified (the dense network simplex stops at
    ``max_iter`` pivots with a feasible but sub-optimal plan otherwise). Three routes,
    all exact:

    * square problems: :func:`exact_assignment`, an optimal permutation, several times
      faster than the network simplex (unless :func:`assignment_suits` rules out the
      ground ``metric`` behind ``M``; ``None``: not known, the assignment is used);
    * from ``_CG_MIN_SIZE`` cost entries on: column generation
      (:func:`_column_generation`), 1.2-2.5x faster than the dense network simplex from
      1,000 x 1,000 points on; ``warm_support`` (``(rows, cols)`` of the plan of a
      nearby problem, e.g. JDOT's previous iteration) seeds it;
    * otherwise, and where column generation gives up, POT's dense network simplex
      (``ot.emd``) with ``max_iter`` pivots (``None``: ``50 ns nt``, at least 1e6; POT's
      default, 1e5, stops short of optimality from ~1,000 points on).

    ``M`` is not modified unless ``overwrite_cost`` (the assignment route then uses it as
    its work array, sparing a copy: 3 ms at 1,000 x 1,000).
    Cost: ``O(ns nt)`` memory, roughly ``O(n^3)`` time in the worst case.
    """
    import ot

    ns, nt = M.shape
    if ns == nt and ns > 1 and (metric is None or assignment_suits(metric)):
        work = M if overwrite_cost and M.dtype == np.float64 else np.array(M, np.float64)
        cols = exact_assignment(work)  # it overwrites its input
        return sp.coo_array((uniform(ns), (np.arange(ns), cols)), shape=(ns, nt)), True
    if ns * nt >= _CG_MIN_SIZE and min(ns, nt) > 16 and _sparse_emd_supported():
        plan = _column_generation(M, warm_support=warm_support)
        if plan is not None:
            return plan, True
    cap = max(1_000_000, 50 * ns * nt) if max_iter is None else int(max_iter)
    with warnings.catch_warnings():
        # POT warns on non-convergence; the caller decides what to say.
        warnings.simplefilter("ignore", UserWarning)
        G, log = ot.emd(uniform(ns), uniform(nt), M, numItermax=cap, log=True)
    return sp.coo_array(G), log.get("warning") is None


# ------------------------------------------------------------------------- Sinkhorn
@dataclass
class SinkhornResult:
    """Output of :func:`sinkhorn`.

    Attributes
    ----------
    plan : ndarray of shape (ns, nt)
        The transport plan ``exp((f_i + g_j - M_ij) / reg)``.
    f, g : ndarray
        Dual potentials (reusable as a warm start).
    n_iter : int
        Sinkhorn iterations run at the final regularisation.
    error : float
        L1 violation of the source marginal at the last check (the target marginal is
        exact after each iteration).
    converged : bool
        Whether ``error <= tol`` was reached.
    log_domain : bool
        Whether the log-domain fall-back was needed.
    """

    plan: np.ndarray | None
    f: np.ndarray
    g: np.ndarray
    n_iter: int
    error: float
    converged: bool
    log_domain: bool = False


def _row_softmin(M, g, a, eps, buf):
    """Kernel for a log-domain row update, written into ``buf``; returns ``(f, u)``.

    ``buf`` becomes ``exp((f_i + g_j - M_ij) / eps)`` with ``f_i`` the row maximum shift
    (so the largest entry of each row is 1: no overflow, no empty row) and ``u = a / row
    sums``, so that ``diag(u) K`` has rows summing to ``a`` exactly: the log-domain
    c-transform in one exponential pass.
    """
    np.multiply(M, buf.dtype.type(-1.0 / eps), out=buf, casting="same_kind")
    buf += (g / eps).astype(buf.dtype)[None, :]
    mx = buf.max(axis=1)
    buf -= mx[:, None]
    np.exp(buf, out=buf)
    # Row sums as a matrix-vector product: one BLAS pass, 10x faster than a float32 sum
    # with float64 accumulation. Terms are in (0, 1], so float32 accumulation errs by
    # about sqrt(n) * 6e-8 relative (1e-5 at worst for 1,000 terms): ample for the
    # rough float32 solves; float64 kernels accumulate in float64.
    s = (buf @ np.ones(buf.shape[1], dtype=buf.dtype)).astype(np.float64)
    f = -eps * mx.astype(np.float64)
    return f, (a / s).astype(buf.dtype)


def logsumexp_inplace(A: np.ndarray, axis: int) -> np.ndarray:
    """``log(sum(exp(A), axis))`` computed in ``A`` (overwritten: no second temporary).

    Stable for any finite shift; a slice that is all ``-inf`` gives ``-inf``.
    """
    mx = A.max(axis=axis, keepdims=True)
    mx[~np.isfinite(mx)] = 0.0
    A -= mx
    np.exp(A, out=A)
    return np.log(A.sum(axis=axis)) + np.squeeze(mx, axis=axis)


def _sinkhorn_log_domain(M, log_a, log_b, eps, f, g, max_iter, tol):
    """Plain log-domain Sinkhorn (two log-sum-exp passes per iteration); slow but safe."""
    err = np.inf
    it = 0
    for it in range(1, max_iter + 1):
        f = eps * (log_a - logsumexp_inplace((g[None, :] - M) / eps, axis=1))
        g = eps * (log_b - logsumexp_inplace((f[None, :] - M.T) / eps, axis=1))
        if it % 10 == 0 or it == max_iter:
            row = np.exp(logsumexp_inplace((f[:, None] + g[None, :] - M) / eps, axis=1))
            err = float(np.abs(row - np.exp(log_a)).sum())
            if err <= tol:
                break
    return f, g, it, err


def sinkhorn(
    M: np.ndarray,
    reg: float,
    *,
    a: np.ndarray | None = None,
    b: np.ndarray | None = None,
    max_iter: int = 1000,
    tol: float = 1e-7,
    f_init: np.ndarray | None = None,
    g_init: np.ndarray | None = None,
    eps_scaling: bool = True,
    scaling_step: float = 4.0,
    dtype=np.float64,
    return_plan: bool = True,
    plan_dtype=np.float64,
    first_stage_div: float = _FIRST_STAGE_DIV,
) -> SinkhornResult:
    r"""Entropic OT, :math:`\min_{P \in \Pi(a, b)} \langle P, M\rangle + reg \sum P\log P`.

    Stabilised scaling iterations (Schmitzer 2019): the plan is kept as
    ``diag(u) K diag(v)`` with ``K = exp((f + g - M) / reg)``; each half step is one
    matrix-vector product, and ``(u, v)`` are absorbed into ``(f, g)`` (and ``K``
    recomputed) as soon as they leave ``[e^-40, e^40]``. Without a warm start the
    regularisation is first divided by ``scaling_step`` from the spread of the costs
    over ``first_stage_div`` down to ``reg`` (epsilon-scaling, at most 10 iterations per
    stage), which makes small ``reg`` (1e-3 of the cost scale) tractable. Each stage
    starts with a log-domain row update, so no kernel row is empty; if a row or column
    underflows anyway the solve switches to log-domain iterations. The result is
    therefore always finite.

    Parameters
    ----------
    M : ndarray of shape (ns, nt)
        Cost matrix (not modified).
    reg : float
        Entropic regularisation (> 0), in the units of ``M``.
    a, b : ndarray, optional
        Marginals (uniform by default); must be positive and sum to one.
    max_iter : int, default=1000
        Maximum number of iterations at the final ``reg``.
    tol : float, default=1e-7
        Stop when the L1 violation of the source marginal is ``<= tol``.
    f_init, g_init : ndarray, optional
        Warm-start dual potentials (e.g. from a previous solve on a nearby cost); they
        disable epsilon-scaling.
    eps_scaling : bool, default=True
        Use epsilon-scaling on cold starts.
    scaling_step : float, default=4.0
        Ratio between successive regularisations of the epsilon-scaling.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Precision of the kernel and the scalings (potentials are always float64).
        float32 halves memory traffic; use it only for rough solves (e.g. dual
        estimates), since marginals are then accurate to about 1e-6.
    return_plan : bool, default=True
        If False, ``plan`` is ``None`` (saves the final pass over the kernel).
    plan_dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Precision of the returned plan; ``float32`` with ``dtype=float32`` returns the
        kernel buffer itself (no conversion pass, no second ``ns x nt`` array).
    first_stage_div : float, default=16.0
        Epsilon-scaling starts at the spread of the costs divided by this (kernel
        entries at least ``exp(-first_stage_div)`` of their row maximum). Larger values
        skip more stages; 64 still keeps float32 kernels far from underflow (1e-28).

    Returns
    -------
    SinkhornResult

    Notes
    -----
    Cost: ``O(ns nt)`` memory (the cost and one kernel buffer) and ``O(ns nt)`` time per
    iteration, plus one exponential pass per stage and per absorption.
    """
    M = np.asarray(M, dtype=np.float64)
    ns, nt = M.shape
    reg = float(reg)
    if not reg > 0:
        raise ValueError(f"reg must be > 0, got {reg}.")
    dtype = np.dtype(dtype)
    a = uniform(ns) if a is None else np.asarray(a, dtype=np.float64)
    b = uniform(nt) if b is None else np.asarray(b, dtype=np.float64)
    log_a, log_b = np.log(a), np.log(b)
    a_k, b_k = a.astype(dtype), b.astype(dtype)
    # float32 scalings overflow sooner: absorb earlier.
    absorb = _ABSORB_LOG if dtype == np.float64 else 25.0
    hi, lo = np.exp(absorb), np.exp(-absorb)
    warm = f_init is not None and g_init is not None
    f = np.zeros(ns) if f_init is None else np.array(f_init, dtype=np.float64)
    g = np.zeros(nt) if g_init is None else np.array(g_init, dtype=np.float64)

    schedule = [reg]
    if eps_scaling and not warm:
        # From the spread of the costs over first_stage_div: at that scale the kernel
        # cannot underflow, and each step keeps the previous potentials a good start.
        eps = float(M.max() - M.min()) / first_stage_div
        stages = []
        while eps > scaling_step * reg:
            stages.append(eps)
            eps /= scaling_step
        schedule = stages + [reg]

    K = np.empty(M.shape, dtype=dtype)
    log_domain = False
    n_iter, err, converged = 0, np.inf, False
    # Division by an underflowed sum is detected below (non-finite scalings).
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        for stage, eps in enumerate(schedule):
            final = stage == len(schedule) - 1
            stage_iter = max_iter if final else 10
            stage_tol = tol if final else 1e-3
            f, u = _row_softmin(M, g, a, eps, K)
            v = np.ones(nt, dtype=dtype)
            it, err = 0, np.inf
            ok = True
            for it in range(1, stage_iter + 1):  # noqa: B007 - it is used below
                # K >= 0 and u > 0, so an underflowed column sum shows as an infinite v
                # (and NaN propagates): one reduction checks the whole update.
                v = b_k / (K.T @ u)
                if not np.isfinite(v.sum()):
                    ok = False
                    break
                Kv = K @ v
                # Source-marginal violation of the current (u, v), free from this product.
                err = float(np.abs(u * Kv - a_k).sum())
                if err <= stage_tol:
                    break
                u = a_k / Kv
                if not np.isfinite(u.sum()):
                    ok = False
                    break
                if (u.max() > hi or u.min() < lo or v.max() > hi or v.min() < lo):
                    f += eps * np.log(u)
                    g += eps * np.log(v)
                    np.add(f[:, None], g[None, :], out=K, casting="same_kind")
                    np.subtract(K, M, out=K, casting="same_kind")
                    K /= eps
                    np.exp(K, out=K)
                    u = np.ones(ns, dtype=dtype)
                    v = np.ones(nt, dtype=dtype)
            if ok:
                f += eps * np.log(u)
                g += eps * np.log(v)
                if final and return_plan:
                    # diag(u) K diag(v) is the plan: no further exponential pass needed.
                    K *= u[:, None]
                    K *= v[None, :]
            else:
                log_domain = True
                f, g, it, err = _sinkhorn_log_domain(
                    M, log_a, log_b, eps, f, g, stage_iter if final else 50, stage_tol
                )
                if final and return_plan:
                    np.add(f[:, None], g[None, :], out=K, casting="same_kind")
                    np.subtract(K, M, out=K, casting="same_kind")
                    K /= eps
                    np.exp(K, out=K)
            if final:
                n_iter, converged = it, err <= tol
    plan = K.astype(plan_dtype, copy=False) if return_plan else None
    return SinkhornResult(plan, f, g, n_iter, err, converged, log_domain)


# --------------------------------------------------------------- class-regularised OT
def _class_onehot(labels: np.ndarray) -> np.ndarray:
    _, inv = np.unique(labels, return_inverse=True)
    Y = np.zeros((labels.shape[0], inv.max() + 1))
    Y[np.arange(labels.shape[0]), inv] = 1.0
    return Y


def class_regularized_plan(
    M: np.ndarray,
    labels: np.ndarray,
    reg_e: float,
    reg_cl: float,
    *,
    norm: str = "lpl1",
    max_iter: int = 10,
    max_inner_iter: int = 200,
    tol: float = 1e-7,
    outer_tol: float = 1e-6,
) -> tuple[np.ndarray, int]:
    r"""Class-regularised entropic OT (Courty et al. 2017, Sec. 4.2).

    Solves :math:`\min_{P\in\Pi(a,b)} \langle P, M\rangle + reg_e\,\Omega_e(P) +
    reg_{cl}\,\Omega_c(P)` where :math:`\Omega_c` penalises target points receiving mass
    from several source classes:

    ``"lpl1"``
        :math:`\Omega_c(P) = \sum_j \sum_c \|P_{I_c, j}\|_1^{1/2}` (concave), minimised
        by majorisation-minimisation: each step is an entropic OT with cost
        ``M + reg_cl * W``, ``W_ij = p (sum_{i' in c(i)} P_i'j + 1e-3)^(p - 1)``,
        ``p = 1/2`` (the constants of the paper's reference implementation).
    ``"l1l2"``
        :math:`\Omega_c(P) = \sum_j \sum_c \|P_{I_c, j}\|_2` (group lasso), minimised by
        the generalised conditional gradient (Rakotomamonjy et al. 2015): each step
        solves an entropic OT with cost ``M + reg_cl * grad(Omega_c)`` and takes a line
        search step towards it.

    Each inner Sinkhorn solve is warm-started from the previous potentials. For lp-l1
    the majorisation steps are solved inexactly while the plan still moves (inexact MM:
    tolerance ``1e-2 * last move``, at most ``max_inner_iter / 4`` iterations, float32
    kernel), and the last step to ``tol`` in float64; the regulariser only needs a
    rough plan until the iterates settle. The outer loop stops after ``max_iter`` steps
    or when the plan moves by less than ``outer_tol`` (L1). Returns the plan and the
    number of outer steps.
    Cost: ``O(ns nt)`` memory, ``O(max_iter * max_inner_iter * ns nt)`` time.
    """
    labels = np.asarray(labels)
    _, cls = np.unique(labels, return_inverse=True)
    Y = _class_onehot(labels)
    p, eps_w = 0.5, 1e-3
    # The first plan only seeds the regulariser: a loose float32 solve is enough.
    res = sinkhorn(M, reg_e, max_iter=max_inner_iter, tol=max(tol, 1e-3), dtype=np.float32,
                   plan_dtype=np.float32)
    P, f, g = res.plan, res.f, res.g
    M_reg = np.empty_like(M)

    def regularised_cost(W):
        # M + reg_cl * W[class of row]: a row gather instead of a one-hot product.
        np.multiply(W[cls], reg_cl, out=M_reg)
        np.add(M_reg, M, out=M_reg)
        return M_reg

    def solve(W, inner_tol, f, g):
        # Loose intermediate solves run in float32 (half the memory traffic per
        # iteration; their marginals only need ~1e-5 accuracy), the last one in float64.
        loose = inner_tol >= 1e-6
        dtype = np.float32 if loose else np.float64
        n_iter = max(1, int(_INNER_CAP * max_inner_iter)) if loose else max_inner_iter
        # Loose plans stay float32: converting each to float64 cost a pass and an 8 MB
        # allocation per step (1,000 x 1,000).
        return sinkhorn(regularised_cost(W), reg_e, max_iter=n_iter, tol=inner_tol,
                        f_init=f, g_init=g, dtype=dtype, plan_dtype=dtype)

    def plan_move(new, old, work):
        # L1 distance between successive plans, through a reused buffer when both are
        # float32 (large temporaries cost more than the arithmetic here).
        if new.dtype == old.dtype == work.dtype:
            np.subtract(new, old, out=work)
            np.abs(work, out=work)
            return float(work.sum(dtype=np.float64))
        return float(np.abs(new - old).sum())

    steps, inner_tol, move = 0, tol, np.inf
    if norm == "lpl1":
        work = np.empty(M.shape, dtype=np.float32)
        for steps in range(1, max_iter + 1):
            # Class mass received by each target point, (C, nt); Y in P's precision, so
            # that a float32 plan is not cast up.
            S = (Y.T.astype(P.dtype) @ P).astype(np.float64)
            W = p * (S + eps_w) ** (p - 1.0)
            # Inexact majorisation-minimisation: while the plan still moves a lot, the
            # inner problem is solved loosely (its cost changes at the next step anyway).
            inner_tol = tol if steps == max_iter else max(tol, _INEXACT * min(move, 1.0))
            res = solve(W, inner_tol, f, g)
            move = plan_move(res.plan, P, work)
            P, f, g = res.plan, res.f, res.g
            if move <= outer_tol:
                break
        if inner_tol > tol:  # polish the last solve to full accuracy (warm, cheap)
            P = solve(W, tol, f, g).plan
        return P.astype(np.float64, copy=False), steps
    if norm != "l1l2":
        raise ValueError(f"Unknown class regulariser {norm!r}; use 'lpl1' or 'l1l2'.")

    def group_norms(P):
        return np.sqrt(Y.T @ (P * P))  # (C, nt): ||P[I_c, j]||_2

    def objective(P):
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = np.where(P > 0, P * np.log(P), 0.0).sum()
        return float((P * M).sum() + reg_e * ent + reg_cl * group_norms(P).sum())

    P = P.astype(np.float64)
    obj = objective(P)
    for steps in range(1, max_iter + 1):  # noqa: B007 - returned
        norms = group_norms(P)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(norms > 0, 1.0 / norms, 0.0)
        # Gradient of the group lasso: P_ij / ||P[I_c(i), j]||, regularised cost
        # M + reg_cl * grad.
        res = sinkhorn(M + reg_cl * (P * inv[cls]), reg_e, max_iter=max_inner_iter, tol=tol,
                       f_init=f, g_init=g)
        f, g = res.f, res.g
        D = res.plan - P
        line = minimize_scalar(lambda t, P=P, D=D: objective(P + t * D), bounds=(0.0, 1.0),
                               method="bounded", options={"xatol": 1e-4, "maxiter": 30})
        t = float(line.x) if line.fun < obj else 0.0
        P = P + t * D
        obj = min(obj, float(line.fun))
        if t * float(np.abs(D).sum()) <= outer_tol:
            break
    return P, steps


# ---------------------------------------------------------- exact OT (sparse routes)
def _sparse_emd_supported():
    """Whether this POT solves OT on a sparse cost matrix (POT >= 0.9.6)."""
    import ot

    global _SPARSE_EMD
    if _SPARSE_EMD is None:
        try:
            # Built from triples: the zero costs stay stored edges (coo_matrix of a
            # dense array would drop them and leave only the off-diagonal ones).
            probe = sp.coo_matrix(
                (np.array([0.0, 1.0, 1.0, 0.0]), ([0, 0, 1, 1], [0, 1, 0, 1])), shape=(2, 2)
            )
            G = ot.emd(np.full(2, 0.5), np.full(2, 0.5), probe)
            _SPARSE_EMD = bool(sp.issparse(G) and np.isclose(G.toarray()[0, 0], 0.5))
        except Exception:  # older POT: no sparse path
            _SPARSE_EMD = False
    return _SPARSE_EMD


def _nw_corner(n, m):
    """Support of the north-west corner plan between uniform weights (always feasible)."""
    # In integer units row i holds m units, [i m, (i + 1) m), and column j holds n,
    # [j n, (j + 1) n); row i meets the columns its unit interval overlaps.
    first = (np.arange(n) * m) // n
    last = ((np.arange(n) + 1) * m - 1) // n
    counts = last - first + 1
    rows = np.repeat(np.arange(n), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, np.repeat(first, counts) + offsets


def _column_generation(M, k=8, n_add=16, max_rounds=50, warm_support=None,
                           max_violated=0.25):
    """Exact OT by column generation on a sparse edge set: a ``coo_array`` plan, or None
    if it does not settle.

    The optimal plan has at most n + m - 1 non-zeros, mostly between near neighbours.
    The network simplex is run on a sparse edge set (the k cheapest edges of every row
    and column plus a feasible north-west-corner support); its dual potentials
    ``(u, v)`` certify optimality for the *full* problem when every reduced cost
    ``M_ij - u_i - v_j`` is non-negative (LP duality). Otherwise the most negative
    edges of the offending rows are added and the problem is solved again. Each round
    touches the dense matrix only through vectorised reductions. ``warm_support``
    (``(rows, cols)`` of the optimal plan of a nearby problem, e.g. JDOT's previous
    iteration) joins the first edge set, which then usually needs fewer rounds. Gives up
    (None) when the first certificate finds more than 80% of the rows violated, or a
    later one more than ``max_violated`` (``None``: never).
    """
    import ot

    n, m = M.shape
    a, b = uniform(n), uniform(m)
    edges = np.zeros((n, m), dtype=bool)
    kr, kc = min(k, m - 1), min(k, n - 1)
    edges[np.arange(n)[:, None], np.argpartition(M, kr, axis=1)[:, :kr]] = True
    edges[np.argpartition(M, kc, axis=0)[:kc, :], np.arange(m)[None, :]] = True
    edges[_nw_corner(n, m)] = True
    if warm_support is not None:
        edges[warm_support] = True
    tol = 1e-9 * max(float(np.abs(M).max()), 1e-300)
    n_add = min(n_add, m - 1)
    for round_ in range(max_rounds):
        rows, cols = np.nonzero(edges)
        S = sp.coo_matrix((M[rows, cols], (rows, cols)), shape=(n, m))
        G, log = ot.emd(a, b, S, numItermax=max(1_000_000, 50 * rows.size), log=True)
        if log["warning"] is not None:
            return None
        reduced = M - log["v"][None, :]
        reduced -= log["u"][:, None]
        bad = np.flatnonzero(reduced.min(axis=1) < -tol)
        if bad.size == 0:
            return sp.coo_array(G)
        if max_violated is not None and bad.size > (0.8 if round_ == 0 else max_violated) * n:
            # Nearly every row short of its optimal edges (or still many after one
            # augmentation): the plan moves mass far beyond near neighbours (clustered,
            # low-dimensional data), each round adds about n * n_add edges, and the
            # dense solver wins (3-9x at 1,000-2,000 points in 2-5 dimensions). On
            # 50-dimensional Gaussian data about 60% of the rows fail the first check and
            # a few the second.
            return None
        worst = np.argpartition(reduced[bad], n_add, axis=1)[:, :n_add]
        keep = np.take_along_axis(reduced[bad], worst, axis=1) < -tol
        edges[np.repeat(bad, n_add)[keep.ravel()], worst.ravel()[keep.ravel()]] = True
    return None


# ------------------------------------------------------------------- exact assignment
def assignment_suits(metric: str) -> bool:
    """Whether square exact OT with this ground metric goes to the assignment solver.

    Not for ``"cityblock"``: L1 costs are often degenerate (in low dimension, or with
    shifts along the diagonal, many matchings cost exactly the same), and the
    augmenting-path solver then explores long paths: 3-8x slower than the network
    simplex at 500-1,000 points of clustered 2-20-dimensional data, 20x at 2,000. On
    Gaussian 50-dimensional data it would have been faster, but the network simplex
    never degrades like that.
    """
    return metric != "cityblock"


def exact_assignment(M: np.ndarray) -> np.ndarray:
    """Exact OT between two uniform clouds of the same size, as an assignment.

    With ``n`` points on each side and uniform weights the optimal plans include a
    permutation (Birkhoff), which ``scipy.optimize.linear_sum_assignment`` finds exactly.
    Its run time depends strongly on how far the costs are from "reduced" (non-negative
    with zeros on an optimal matching), so the costs are first reduced with approximate
    dual potentials from a short float32 entropic solve (``eps`` = 0.5% of the mean
    cost): ``M_ij - f_i - g_j`` has the same optimal assignments as ``M`` (row and column
    constants do not change them), and the solver then needs few augmenting paths. In
    practice this is 3-10x faster than the network simplex on the same problem.

    ``M`` is overwritten (it becomes the reduced cost). Returns ``cols`` such that row
    ``i`` is matched to column ``cols[i]``.
    """
    from scipy.optimize import linear_sum_assignment

    n, m = M.shape
    if n != m:  # pragma: no cover - guarded by the caller
        raise ValueError("exact_assignment needs as many rows as columns.")
    scale = float(M.mean())
    if scale > 0 and n > 1:
        res = sinkhorn(M, 0.005 * scale, max_iter=30, tol=1e-4, dtype=np.float32,
                       return_plan=False, scaling_step=4.0, first_stage_div=_ASSIGN_STAGE_DIV)
        M -= res.f[:, None]
        M -= res.g[None, :]
    rows, cols = linear_sum_assignment(M)
    out = np.empty(n, dtype=np.intp)
    out[rows] = cols
    return out


# ------------------------------------------------------------------- large problems
def minibatch_pairs(ns: int, nt: int, batch_size: int, rng: np.random.Generator):
    """Random partition of both domains into the same number of minibatches.

    Returns a list of ``(source_indices, target_indices)``: ``k = ceil(max(ns, nt) /
    batch_size)`` batches, each domain split into ``k`` nearly equal random parts, so
    every sample belongs to exactly one batch (the minibatch OT estimator of Fatras et
    al. 2020, with batches covering the data).
    """
    k = max(1, int(np.ceil(max(ns, nt) / batch_size)))
    k = min(k, ns, nt)
    src = np.array_split(rng.permutation(ns), k)
    tgt = np.array_split(rng.permutation(nt), k)
    return list(zip(src, tgt, strict=True))


def nearest_rows(X: np.ndarray, X_train: np.ndarray) -> np.ndarray:
    """Index of the nearest (Euclidean) row of ``X_train`` for each row of ``X``.

    Computed block by block (memory ``O(block * n_train)``); an exact duplicate of a
    training row finds that row (or an identical one).
    """
    X = np.asarray(X, dtype=np.float64)
    X_train = np.asarray(X_train, dtype=np.float64)
    n_train = X_train.shape[0]
    sq_train = np.einsum("ij,ij->i", X_train, X_train)
    rows = max(1, _NN_BLOCK_BYTES // (8 * max(n_train, 1)))
    out = np.empty(X.shape[0], dtype=np.intp)
    for start in range(0, X.shape[0], rows):
        blk = X[start:start + rows]
        D = blk @ X_train.T
        D *= -2.0
        D += sq_train[None, :]
        # Candidates within rounding of the minimum are re-checked exactly, so that a
        # duplicate of a training row is never beaten by a near neighbour.
        best = D.argmin(axis=1)
        dmin = D[np.arange(blk.shape[0]), best]
        scale = np.einsum("ij,ij->i", blk, blk) + sq_train[best]
        close = D <= (dmin + 1e-9 * scale + 1e-12)[:, None]
        for r in np.nonzero(close.sum(axis=1) > 1)[0]:
            cand = np.nonzero(close[r])[0]
            exact = ((X_train[cand] - blk[r]) ** 2).sum(axis=1)
            best[r] = cand[np.argmin(exact)]
        out[start:start + blk.shape[0]] = best
    return out
