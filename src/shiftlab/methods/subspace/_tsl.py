"""Transfer subspace learning (TSL): Fisher LDA regularised by a divergence between
the projected domains."""

from __future__ import annotations

import numpy as np
from scipy import linalg
from scipy.optimize import minimize
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions

from shiftlab.data.convention import label_kind, source_mask
from shiftlab.exceptions import DataValidationError
from shiftlab.methods._checks import APPROX, NON_NEGATIVE, POSITIVE, UNIT, at_least
from shiftlab.methods._checks import check_choice as _check_choice
from shiftlab.methods._checks import check_int as _check_int
from shiftlab.methods._checks import check_real as _check_real
from shiftlab.methods._checks import use_approx as _use_approx
from shiftlab.methods._threads import blas_threads
from shiftlab.methods.base import BaseAdapter
from shiftlab.methods.registry import register_method
from shiftlab.methods.subspace._common import (
    N_COMPONENTS_GRID,
    _clip_n_components,
    _sign_flip,
)


def _regularised_scatter(S, reg, trace=None):
    """Shrink a scatter matrix towards a multiple of the identity (same trace)."""
    d = S.shape[0]
    tau = (np.trace(S) if trace is None else trace) / d
    return (1.0 - reg) * S + reg * tau * np.eye(d)


def _tsl_objective(w, d, k, S_w, S_t, C, Xd, e, mu, bandwidth):
    """TSL objective and gradient at ``W = w.reshape(d, k)``.

    ``F(W) = tr((W^T S_t W)^{-1} W^T S_w W) / k`` (Fisher's within / total ratio) plus
    ``mu`` times the squared MMD between the projected domains, with the Gaussian kernel
    ``exp(-u^T (W^T C W)^{-1} u / (2 h^2))`` whose covariance follows the projected data.
    Both terms only depend on ``span(W)`` (they are unchanged by ``W -> W R`` for an
    invertible ``R``), so ``W`` is optimised unconstrained and orthonormalised at the end.
    """
    W = w.reshape(d, k)
    # Fisher term.
    SwW, StW = S_w @ W, S_t @ W
    A = W.T @ StW
    Bm = W.T @ SwW
    cA = linalg.cho_factor(A)
    AinvB = linalg.cho_solve(cA, Bm)
    f_fisher = np.trace(AinvB) / k
    Ainv = linalg.cho_solve(cA, np.eye(k))
    g_fisher = (2.0 / k) * (SwW @ Ainv - StW @ (AinvB @ Ainv))
    # Divergence term.
    Z = Xd @ W
    CW = C @ W
    Sig = W.T @ CW
    cS = linalg.cho_factor(Sig, lower=True)
    h2 = bandwidth**2
    Y = linalg.solve_triangular(cS[0], Z.T, lower=True).T / bandwidth
    sq = np.einsum("ij,ij->i", Y, Y)
    Kmat = Y @ Y.T
    Kmat *= 2.0
    Kmat -= sq[:, None]
    Kmat -= sq[None, :]
    np.minimum(Kmat, 0.0, out=Kmat)
    Kmat *= 0.5
    np.exp(Kmat, out=Kmat)
    Ke = Kmat @ e
    f_div = float(e @ Ke)
    Zp = linalg.cho_solve(cS, Z.T).T / h2
    LZp = (e * Ke)[:, None] * Zp - e[:, None] * (Kmat @ (e[:, None] * Zp))
    g_div = -2.0 * (Xd.T @ LZp) + 2.0 * h2 * CW @ (Zp.T @ LZp)
    f = f_fisher + mu * f_div
    g = g_fisher + mu * g_div
    return f, g.ravel()


@register_method(
    name="TSL",
    family="subspace",
    reference="Si, S., Tao, D. and Geng, B. (2010). Bregman divergence-based regularization "
    "for transfer subspace learning. IEEE Trans. Knowledge and Data Engineering 22(7).",
    grid={"n_components": N_COMPONENTS_GRID, "mu": [0.1, 1, 10]},
    designed_for=("subspace",),
    complexity="O(n d^2 + d^3) setup, then O(m^2 k + m d k + d^2 k) per L-BFGS "
    "iteration, m = rows of the divergence term (all, or n_landmarks when approximate); "
    "O(m^2 + n d) memory.",
    multiclass=True,
    regression=False,
    skada_name="TransferSubspaceLearningAdapter",
    skada_params={"n_components": 10, "base_method": "flda", "mu": 1.0, "reg": 1e-4,
                  "max_iter": 100, "tol": 1e-4},
)
class TSL(BaseAdapter):
    r"""Transfer subspace learning with a Fisher LDA base (TSL, Si et al., 2010).

    Learns a ``k``-dimensional subspace ``W`` (``W^T W = I``) that separates the source
    classes (Fisher's criterion) while making the projected source and target
    distributions close:

    .. math:: \min_{W} \; \frac{1}{k}\operatorname{tr}\big((W^\top S_t W)^{-1}
              W^\top S_w W\big) + \mu\, D_W(P_s \,\|\, P_t)

    ``S_w`` and ``S_t`` are the within-class and total scatter of the source (shrunk
    towards the identity by ``reg``). ``D_W`` is the paper's quadratic divergence
    ``int (p_s - p_t)^2`` between Gaussian kernel density estimates (KDE) of the
    projected domains, computed in closed form as a squared MMD. Each KDE kernel has
    covariance ``h^2 W^T C W``, with ``C`` the source's within-class scatter, so both
    terms are invariant to the scale of the subspace's coordinates and ``mu`` means the
    same for any data; the normalising constant of the KDE (which would depend on ``W``)
    is left out. The problem is solved with L-BFGS over an unconstrained ``W`` (the
    objective depends on ``span(W)`` only) with analytic gradients, started at the
    minimiser of the criterion in which ``D_W`` is replaced by its second-order expansion
    in the mean and covariance gaps; the result is orthonormalised. The objective is not
    convex: different starts or divergence subsets can reach different local minima.

    Rows are projected as ``x W`` (no centring), source and target alike.

    Parameters
    ----------
    n_components : int, default=10
        Subspace dimension (SKADA-Bench's grid {1, 2, 5, 10, 20, 50, 100}). Rank rule:
        ``n_components_ = min(n_components, n_features)``; when it equals
        ``n_features`` the subspace is the whole space and ``W = I``.
    mu : float, default=1.0
        Weight of the divergence (grid {0.1, 1, 10}).
    bandwidth : "silverman" or float, default="silverman"
        KDE width ``h`` relative to the projected within-class spread. ``"silverman"``:
        Silverman's rule of thumb for a ``k``-dimensional KDE of ``n / 2`` rows,
        ``h = (4 / (k + 2))^(1 / (k + 4)) (n / 2)^(-1 / (k + 4))`` (kept by the
        approximate path, whose subset then estimates the same divergence).
    reg : float, default=1e-4
        Shrinkage of the scatter matrices, in [0, 1] (SKADA-Bench uses 1e-4).
    max_iter : int, default=100
        L-BFGS iterations.
    tol : float, default=1e-4
        L-BFGS stopping tolerance (relative objective change and gradient size).
    approx : {"auto", True, False}, default="auto"
        Estimate the divergence on all rows (``False``) or on a random subset of
        ``n_landmarks`` rows, half source and half target (``True``); ``"auto"``
        subsamples above ``max_exact_samples`` rows.
    max_exact_samples : int, default=2000
    n_landmarks : int, default=1000
        Rows of the divergence estimate in the approximate path.
    random_state : int, RandomState instance or None, default=None
        Seeds the subset of the approximate path.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_components_)
        Orthonormal basis ``W`` of the subspace.
    n_components_ : int
    n_iter_ : int
        L-BFGS iterations run (0 when ``W = I``).
    objective_ : float
        Final objective.
    bandwidth_ : float
        KDE width ``h`` used.
    approx_ : bool
    multi_source_ : str
        ``"pooled"``.

    Notes
    -----
    Setup ``O(n d^2 + d^3)``; each L-BFGS iteration ``O(m^2 k + m d k + d^2 k)`` with
    ``m`` the rows of the divergence term, memory ``O(m^2 + n d)``. Only Fisher's LDA is
    offered as the base criterion (SKADA-Bench's choice); it needs class labels.
    """

    _parameter_constraints: dict = {
        "n_components": [at_least(1)],
        "mu": [NON_NEGATIVE],
        "bandwidth": [POSITIVE, StrOptions({"silverman"})],
        "reg": [UNIT],
        "max_iter": [at_least(1)],
        "tol": [NON_NEGATIVE],
        "approx": APPROX,
        "max_exact_samples": [at_least(1)],
        "n_landmarks": [at_least(2)],
        "random_state": ["random_state"],
    }

    def __init__(self, n_components=10, mu=1.0, bandwidth="silverman", reg=1e-4, max_iter=100,
                 tol=1e-4, approx="auto", max_exact_samples=2000, n_landmarks=1000,
                 random_state=None):
        self.n_components = n_components
        self.mu = mu
        self.bandwidth = bandwidth
        self.reg = reg
        self.max_iter = max_iter
        self.tol = tol
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.n_landmarks = n_landmarks
        self.random_state = random_state

    def _fit(self, X, y, sample_domain):
        self._fit_transform(X, y, sample_domain)

    def _fit_transform(self, X, y, sample_domain):
        n_comp = _check_int("n_components", self.n_components)
        mu = _check_real("mu", self.mu, low=0.0)
        if isinstance(self.bandwidth, str):
            _check_choice("bandwidth", self.bandwidth, ("silverman",))
        else:
            h = _check_real("bandwidth", self.bandwidth, low=0.0, strict=True)
        reg = _check_real("reg", self.reg, low=0.0, high=1.0)
        max_iter = _check_int("max_iter", self.max_iter)
        tol = _check_real("tol", self.tol, low=0.0)
        m = _check_int("n_landmarks", self.n_landmarks, minimum=2)
        src = source_mask(sample_domain)
        tgt = ~src
        if label_kind(y[src]) != "classification":
            raise DataValidationError(
                "TSL uses Fisher's LDA on the source and needs class labels; it does not "
                "handle regression targets."
            )
        n, d = X.shape
        k = _clip_n_components("TSL", n_comp, d, d)
        self.n_components_ = k
        self.multi_source_ = "pooled"
        self.approx_ = _use_approx(self.approx, self.max_exact_samples, n)
        if k == d:
            self.components_ = np.eye(d)
            self.n_iter_, self.objective_ = 0, float("nan")
            return X.copy()

        Xs, ys = X[src], y[src]
        mean_s = Xs.mean(axis=0)
        S_t = (Xs - mean_s).T @ (Xs - mean_s) / Xs.shape[0]
        S_b = np.zeros((d, d))
        for c in np.unique(ys):
            diff = Xs[ys == c].mean(axis=0) - mean_s
            S_b += np.mean(ys == c) * np.outer(diff, diff)
        tau = np.trace(S_t)
        # Shrinking S_w and S_t by the same identity keeps S_t - S_w PSD (F in [0, 1]);
        # the tiny floor keeps S_t invertible when reg=0 and n_s < d.
        reg = max(reg, 1e-10)
        S_t_r = _regularised_scatter(S_t, reg, tau)
        S_w_r = _regularised_scatter(S_t - S_b, reg, tau)
        # Kernel covariance: the source's within-class scatter. A wider reference (the
        # within-domain covariance) smooths a projection whose classes are far apart so
        # much that two domains with swapped classes look alike; within-class widths
        # keep the divergence sensitive exactly where the labels live.
        C = S_w_r
        mean = X.mean(axis=0)

        rows = np.arange(n)
        if self.approx_:
            rng = check_random_state(self.random_state)
            src_idx, tgt_idx = np.flatnonzero(src), np.flatnonzero(tgt)
            m_s = min(src_idx.size, max(1, m // 2))
            m_t = min(tgt_idx.size, max(1, m - m_s))
            rows = np.concatenate((rng.choice(src_idx, m_s, replace=False),
                                   rng.choice(tgt_idx, m_t, replace=False)))
        Xd = X[rows] - mean
        sd = src[rows]
        e = np.where(sd, 1.0 / sd.sum(), -1.0 / (~sd).sum())
        if isinstance(self.bandwidth, str):
            # Silverman's rule of thumb for a k-dimensional KDE of n_e whitened rows; n_e
            # counts all rows, so that a subsample estimates the same divergence.
            n_e = n / 2.0
            h = (4.0 / (k + 2.0)) ** (1.0 / (k + 4.0)) * n_e ** (-1.0 / (k + 4.0))
        self.bandwidth_ = h
        # The integral of a product of two KDE kernels of covariance h^2 S is a Gaussian
        # of covariance 2 h^2 S: the MMD kernel's width is sqrt(2) h.
        h_mmd = np.sqrt(2.0) * h

        W0 = self._init(S_w_r, S_t_r, C, X, src, tgt, mu, h_mmd, k)
        # Each evaluation is many small BLAS calls: below ~2000 divergence rows, thread
        # start-up and synchronisation cost more than they save (10x on a busy machine).
        threads = 1 if rows.size <= 2000 else None
        args = (d, k, S_w_r, S_t_r, C, Xd, e, mu, h_mmd)
        with blas_threads(threads):
            try:
                res = minimize(_tsl_objective, W0.ravel(), method="L-BFGS-B", jac=True,
                               args=args, options={"maxiter": max_iter, "ftol": tol,
                                                   "gtol": tol})
                w_opt, nit, fun = res.x, int(res.nit), float(res.fun)
            except linalg.LinAlgError:
                # A line-search step reached a rank-deficient W: keep the start.
                w_opt, nit = W0.ravel(), 0
                fun = float(_tsl_objective(w_opt, *args)[0])
        W, _ = np.linalg.qr(w_opt.reshape(d, k))
        self.components_ = _sign_flip(W)
        self.n_iter_ = nit
        self.objective_ = fun
        return X @ self.components_

    @staticmethod
    def _init(S_w, S_t, C, X, src, tgt, mu, h, k):
        """Start from the minimiser of the criterion with D_W linearised.

        For a small gap between the domains the squared MMD of the objective is about
        ``c (delta^T P delta + 1/2 ||dC||^2)`` with ``delta`` the mean gap and ``dC`` the
        covariance gap in whitened subspace coordinates; using that quadratic form makes
        the start a generalized eigenproblem, and keeps L-BFGS away from the stationary
        point that pure Fisher LDA can be for the full objective.
        """
        Xs, Xt = X[src], X[tgt]
        delta = Xs.mean(axis=0) - Xt.mean(axis=0)
        d_cov = np.cov(Xs, rowvar=False, bias=True) - np.cov(Xt, rowvar=False, bias=True)
        d_cov = np.atleast_2d(d_cov)
        c = (h**2 / (h**2 + 2.0)) ** (k / 2.0) / (h**2 + 2.0)
        Q = np.outer(delta, delta) + 0.5 * d_cov @ linalg.solve(C, d_cov, assume_a="pos")
        # Both terms are ratios; S_t + C in the denominator balances their scales.
        A0 = S_w / np.trace(S_t) + mu * c * (Q + Q.T) / (2 * np.trace(C))
        _, vecs = linalg.eigh(A0, S_t / np.trace(S_t) + C / np.trace(C),
                              subset_by_index=[0, k - 1])
        W0, _ = np.linalg.qr(vecs)
        return W0

    def _transform(self, X, sample_domain):
        return X @ self.components_
