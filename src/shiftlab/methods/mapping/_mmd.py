"""MMD-LS: the class-wise location-scale map minimising the MMD (Zhang et al. 2013)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from sklearn.utils._param_validation import StrOptions

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
from shiftlab.methods.mapping._discrete import _nn_extension
from shiftlab.methods.registry import register_method

_GAMMA_GRID = [0.01, 0.1, 1.0, 10.0, 100.0]
# Rows of a kernel block in MMD-LS (memory: rows x max(n_s, n_t) float64).
_BLOCK_BYTES = 64 * 2**20


# =============================================================================
# MMD location-scale mapping
# =============================================================================
def _mmd_terms(Xn, Xt, gamma, kernel, need_grad=True):
    """MMD pieces between mapped source ``Xn`` (m) and target ``Xt`` (n), block by block.

    Returns ``(sum_ss, sum_st, grad)`` with ``sum_ss = sum_ab k(xa, xb)``,
    ``sum_st = sum_aj k(xa, tj)`` and ``grad`` the gradient of
    ``sum_ss / m^2 - 2 sum_st / (m n)`` with respect to ``Xn``.
    For ``k = exp(-gamma r)`` (``"exponential"``) and ``exp(-gamma r^2)`` (``"rbf"``),
    ``dk/dx_a = -q_ab (x_a - x_b)`` with ``q = gamma k / r`` (0 at ``r = 0``) or
    ``q = 2 gamma k``.
    """
    m, n = Xn.shape[0], Xt.shape[0]
    sq_n = np.einsum("ij,ij->i", Xn, Xn)
    sq_t = np.einsum("ij,ij->i", Xt, Xt)
    rows = max(1, _BLOCK_BYTES // (8 * max(m, n)))
    sum_ss = sum_st = 0.0
    grad = np.zeros_like(Xn) if need_grad else None

    # Squared distances below this are rounding noise of |x|^2 + |y|^2 - 2 x.y (e.g. a
    # row against itself) and are set to 0: the exponential kernel is not differentiable
    # there, and 1/r of a noise-level r would blow the gradient up.
    tiny = 1e-12 * (float(sq_n.max(initial=0.0)) + float(sq_t.max(initial=0.0))) + 1e-300

    def kern(blk, Y, sq_b, sq_y):
        D = blk @ Y.T
        D *= -2.0
        D += sq_b[:, None]
        D += sq_y[None, :]
        D[D < tiny] = 0.0
        if kernel == "rbf":
            K = np.exp(-gamma * D)
            Q = (2.0 * gamma) * K if need_grad else None
        else:
            np.sqrt(D, out=D)
            K = np.exp(-gamma * D)
            Q = None
            if need_grad:
                Q = np.zeros_like(K)
                np.divide(K, D, out=Q, where=D > 0)
                Q *= gamma
        return K, Q

    for start in range(0, m, rows):
        sl = slice(start, min(start + rows, m))
        blk = Xn[sl]
        K, Q = kern(blk, Xn, sq_n[sl], sq_n)
        sum_ss += K.sum()
        if need_grad:
            # Both positions of each pair (a, b) contribute: factor 2.
            g_ss = -2.0 * (Q.sum(axis=1)[:, None] * blk - Q @ Xn) / m**2
        K, Q = kern(blk, Xt, sq_n[sl], sq_t)
        sum_st += K.sum()
        if need_grad:
            g_st = (Q.sum(axis=1)[:, None] * blk - Q @ Xt) * (2.0 / (m * n))
            grad[sl] = g_ss + g_st
    return sum_ss, sum_st, grad


@register_method(
    name="MMD-LS",
    family="mapping",
    reference=(
        "Zhang, K., Schölkopf, B., Muandet, K. and Wang, Z. (2013). Domain adaptation "
        "under target and conditional shift. ICML (location-scale conditional shift, "
        "MMD-LS / MMDSConS)."
    ),
    grid={"gamma": _GAMMA_GRID, "max_iter": [20]},
    designed_for=("conditional",),
    complexity=(
        "O(max_iter (n_s + n_t) n_s d) time, O(block) memory; approx (n > "
        "max_exact_samples): subsets of max_exact_samples rows per domain."
    ),
    regression=False,
    skada_name="MMDLSConSMappingAdapter",
    skada_params={"gamma": 1.0, "reg_m": 1e-10, "reg_k": 1e-10, "tol": 1e-5,
                  "max_iter": 100},
)
class MMDLSMapping(_BaseMapping):
    """Class-wise location-scale map minimising the MMD to the target (MMD-LS).

    The conditional-shift model of Zhang et al. (2013, Sec. 4, "ConS"): each source row
    of class ``c`` is mapped by ``x -> w_c * x + b_c`` (element-wise scale and offset per
    class), with ``(w, b)`` minimising

    ``MMD^2(mapped source, target) + reg_m / n_s (||W - 1||^2 + ||B||^2)``

    under a kernel ``k`` (uniform weights on both sides: this is the paper's estimator
    with ``Omega = I``, the ``reg_k -> 0`` limit of skada's
    ``L (L + reg_k I)^-1``). The objective and its analytic gradient are computed
    block by block and minimised with L-BFGS (scipy) from the identity map. Target rows
    are left unchanged.

    Parameters
    ----------
    gamma : float, default=1.0
        Kernel parameter. SKADA-Bench grid: {0.01, 0.1, 1, 10, 100}.
    kernel : {"exponential", "rbf"}, default="exponential"
        ``exp(-gamma ||x - x'||)`` (the kernel skada uses, for which SKADA-Bench's
        ``gamma`` grid was chosen) or the Gaussian ``exp(-gamma ||x - x'||^2)`` of the
        paper.
    reg_m : float, default=1e-10
        Weight of the penalty keeping the map close to the identity.
    tol : float, default=1e-5
        L-BFGS stops when the largest gradient entry is below ``tol``.
    max_iter : int, default=100
        Maximum L-BFGS iterations. SKADA-Bench: 20.
    approx : "auto", bool, default="auto"
        Fit ``(w, b)`` on random subsets of ``max_exact_samples`` rows per domain
        (stratified by class on the source) when a domain is larger; the map is then
        applied to every source row. ``True`` / ``False`` force it.
    max_exact_samples : int, default=5000
    multi_source : {"pooled", "per_domain"}, default="pooled"
    random_state : int, RandomState or None, default=None
        Seed of the subsets (approximate form only).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    scale_, offset_ : ndarray of shape (n_classes, n_features)
        ``w_c`` and ``b_c`` per class.
    X_source_ : ndarray of shape (n_source, n_features)
        Training source rows (reference of the out-of-sample extension).
    mapped_source_ : ndarray of shape (n_source, n_features)
        In-sample map of ``X_source_``.
    n_iter_ : int
        L-BFGS iterations.
    approx_ : bool
    domain_states_ : dict
    source_pooling_ : str

    Notes
    -----
    The in-sample map uses the source labels. New source rows have no label at
    ``transform`` time, so they take the displacement of their nearest training source
    row (nearest-neighbour extension; exact on the training rows).
    Complexity: ``O(n_eval (n_s + n_t) n_s d)`` time with ``n_eval`` about
    ``1.2 max_iter`` objective evaluations, ``O(block * max(n_s, n_t))`` memory.
    Classification only.

    References
    ----------
    .. [1] Zhang, K., Schölkopf, B., Muandet, K. and Wang, Z. (2013). Domain adaptation
       under target and conditional shift. ICML.
    """

    _needs_classes = True

    _parameter_constraints: dict = {
        "gamma": [POSITIVE],
        "kernel": [StrOptions({"exponential", "rbf"})],
        "reg_m": [NON_NEGATIVE],
        "tol": [POSITIVE],
        "max_iter": [at_least(1)],
        "approx": APPROX,
        "max_exact_samples": [at_least(2)],
        "multi_source": MULTI_SOURCE,
        "random_state": ["random_state"],
    }

    def __init__(self, gamma=1.0, kernel="exponential", reg_m=1e-10, tol=1e-5,
                 max_iter=100, *, approx="auto", max_exact_samples=5000,
                 multi_source="pooled", random_state=None):
        self.gamma = gamma
        self.kernel = kernel
        self.reg_m = reg_m
        self.tol = tol
        self.max_iter = max_iter
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.multi_source = multi_source
        self.random_state = random_state

    def _validate(self):
        _check_real("gamma", self.gamma, low=0.0, strict=True)
        _check_choice("kernel", self.kernel, ("exponential", "rbf"))
        _check_real("reg_m", self.reg_m, low=0.0)
        _check_real("tol", self.tol, low=0.0, strict=True)
        _check_int("max_iter", self.max_iter)
        _check_choice("approx", self.approx, ("auto", True, False))
        _check_int("max_exact_samples", self.max_exact_samples, minimum=2)

    def _fit_group(self, Xs, ys, Xt, rng):
        classes, cls = np.unique(ys, return_inverse=True)
        k, d = classes.size, Xs.shape[1]
        approx = _use_approx(self.approx, self.max_exact_samples, len(Xs), len(Xt))
        Xs_fit, cls_fit, Xt_fit = Xs, cls, Xt
        if approx:
            cap = self.max_exact_samples
            if len(Xs) > cap:
                keep = _stratified_subset(cls, cap, rng)
                Xs_fit, cls_fit = Xs[keep], cls[keep]
            if len(Xt) > cap:
                Xt_fit = Xt[rng.choice(len(Xt), cap, replace=False)]
        m = Xs_fit.shape[0]
        counts = np.bincount(cls_fit, minlength=k).astype(np.float64)
        gamma, kernel, reg_m = float(self.gamma), self.kernel, float(self.reg_m)

        def objective(theta):
            G = theta[: k * d].reshape(k, d)
            H = theta[k * d:].reshape(k, d)
            W, B = G[cls_fit], H[cls_fit]
            Xn = W * Xs_fit + B
            s_ss, s_st, gX = _mmd_terms(Xn, Xt_fit, gamma, kernel)
            value = s_ss / m**2 - 2.0 * s_st / (m * Xt_fit.shape[0])
            # Penalty on W and B, summed over rows: per class it is counts_c times.
            value += reg_m / m * float((counts[:, None] * ((G - 1.0) ** 2 + H**2)).sum())
            gG = np.zeros((k, d))
            gH = np.zeros((k, d))
            np.add.at(gG, cls_fit, gX * Xs_fit)
            np.add.at(gH, cls_fit, gX)
            gG += (2.0 * reg_m / m) * counts[:, None] * (G - 1.0)
            gH += (2.0 * reg_m / m) * counts[:, None] * H
            return value, np.concatenate([gG.ravel(), gH.ravel()])

        theta0 = np.concatenate([np.ones(k * d), np.zeros(k * d)])
        res = minimize(
            objective, theta0, jac=True, method="L-BFGS-B",
            options={"maxiter": int(self.max_iter), "gtol": float(self.tol),
                     "maxfun": int(1.25 * self.max_iter) + 1},
        )
        theta = res.x if np.all(np.isfinite(res.x)) else theta0
        G = theta[: k * d].reshape(k, d)
        H = theta[k * d:].reshape(k, d)
        mapped = G[cls] * Xs + H[cls]
        state = {
            "classes_": classes,
            "scale_": G,
            "offset_": H,
            "X_source_": Xs,
            "mapped_source_": mapped,
            "n_iter_": int(res.nit),
            "approx_": approx,
        }
        return mapped, state

    def _map_group(self, state, X):
        return _nn_extension(state, X)


def _stratified_subset(cls, size, rng):
    """Indices of a random subset of ``size`` rows with class proportions kept."""
    counts = np.bincount(cls)
    quota = np.floor(counts * size / counts.sum()).astype(int)
    quota = np.maximum(quota, np.minimum(counts, 1))
    keep = []
    for c, q in enumerate(quota):
        idx = np.nonzero(cls == c)[0]
        keep.append(rng.choice(idx, min(q, idx.size), replace=False))
    return np.sort(np.concatenate(keep))
