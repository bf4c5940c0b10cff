"""Kernel subspaces: transfer component analysis (TCA) and transfer joint matching
(TJM), exact or on a low-rank feature map."""

from __future__ import annotations

import numpy as np
from scipy import linalg
from sklearn.kernel_approximation import Nystroem
from sklearn.utils._param_validation import StrOptions

from shiftlab.data.convention import label_kind, source_mask
from shiftlab.exceptions import DataValidationError
from shiftlab.methods._checks import APPROX, GAMMA, NON_NEGATIVE, at_least
from shiftlab.methods._checks import check_choice as _check_choice
from shiftlab.methods._checks import check_int as _check_int
from shiftlab.methods._checks import check_real as _check_real
from shiftlab.methods._checks import use_approx as _use_approx
from shiftlab.methods._kernels import kernel_matmul, make_feature_map, rbf_kernel, resolve_gamma
from shiftlab.methods._threads import single_blas_thread
from shiftlab.methods.base import BaseAdapter
from shiftlab.methods.registry import register_method
from shiftlab.methods.subspace._common import (
    _KHK,
    N_COMPONENTS_GRID,
    _informative,
    _sign_flip,
    _solve_transfer_eig,
)


class _Rotated:
    """The rotated features ``Phi = R Q`` (``n x r``), never formed (an ``n r^2`` product):
    only products with thin matrices, ``Phi B = R (Q B)`` and ``Phi^T E = Q^T (R^T E)``."""

    def __init__(self, R, Q):
        self.R, self.Q = R, Q
        self.shape = (R.shape[0], Q.shape[1])

    def __matmul__(self, B):
        return self.R @ (self.Q @ B)

    def __getitem__(self, rows):
        return _Rotated(self.R[rows], self.Q)

    @property
    def T(self):
        return _RotatedT(self)

    def mean(self, axis=0):
        return self.R.mean(axis=0) @ self.Q

    def weighted_gram(self, w):
        """``Phi^T diag(w) Phi``."""
        return self.Q.T @ (self.R.T @ (self.R * w[:, None])) @ self.Q


class _RotatedT:
    def __init__(self, features):
        self.features = features

    def __matmul__(self, E):
        return self.features.Q.T @ (self.features.R.T @ E)


class _KernelSubspace(BaseAdapter):
    """Shared machinery of TCA and TJM: kernel representation and out-of-sample map.

    Both methods look for dual coefficients ``W`` (``n x k``) with embedding ``Z = K W``.
    The exact form keeps the training rows and ``W``. The approximate form solves the
    *same* problem for the low-rank kernel ``K ~ Phi Phi^T``, with ``Phi = phi(X) Q``
    (``n x r``) the feature map rotated so that ``Phi^T Phi = diag(sig)``. Then
    ``K W = Phi A`` with ``A = Phi^T W`` (``r x k``) and, for a ridge ``tr(W^T G W)``,
    the best ``W`` with a given ``A`` is ``G^-1 Phi N^-1 A`` (``N = Phi^T G^-1 Phi``),
    whose ridge is ``tr(A^T N^-1 A)``: an ``r x r`` generalized eigenproblem in ``A``
    that keeps one dual row per training sample (TJM's instance weights). A new row maps
    to ``phi(x) Q A``.
    """

    #: Parameters TCA and TJM share (see ``_validate_kernel_params``).
    _kernel_constraints: dict = {
        "n_components": [at_least(1)],
        "kernel": [StrOptions({"rbf", "linear"})],
        "gamma": GAMMA,
        "approx": APPROX,
        "max_exact_samples": [at_least(1)],
        "n_landmarks": [at_least(1)],
        "approx_method": [StrOptions({"nystroem", "rff"})],
        "random_state": ["random_state"],
    }

    def _validate_kernel_params(self):
        _check_int("n_components", self.n_components)
        _check_choice("kernel", self.kernel, ("rbf", "linear"))
        _check_int("max_exact_samples", self.max_exact_samples)
        _check_int("n_landmarks", self.n_landmarks)
        _check_choice("approx_method", self.approx_method, ("nystroem", "rff"))

    def _representation(self, X):
        """Return ``(K, None)`` for the exact kernel or ``(Phi, sig)`` for a low-rank one."""
        n = X.shape[0]
        approx = _use_approx(self.approx, self.max_exact_samples, n)
        pre = None
        if self.kernel == "linear":
            # K = X X^T is already low rank: the feature path is exact (no kernel held).
            self.gamma_ = None
            self.approx_ = False
            self.feature_map_ = None
            R = X
        else:
            self.gamma_ = resolve_gamma(self.gamma, X, random_state=self.random_state)
            self.approx_ = approx
            if not approx:
                self.feature_map_ = None
                self.X_fit_ = X
                return rbf_kernel(X, gamma=self.gamma_), None
            with single_blas_thread():  # an m x m decomposition
                self.feature_map_ = make_feature_map(
                    X, method=self.approx_method, kernel="rbf", gamma=self.gamma_,
                    n_components=self.n_landmarks, random_state=self.random_state,
                )
            if isinstance(self.feature_map_, Nystroem):
                # phi(X) = K(X, landmarks) P with P = K_mm^(-1/2): keep the raw kernel and
                # fold P into the rotation, which saves two n m^2 products (fit, predict).
                R = rbf_kernel(X, self.feature_map_.components_, gamma=self.gamma_)
                pre = self.feature_map_.normalization_.T
            else:
                R, pre = self.feature_map_.transform(X), None
        S = R.T @ R
        with single_blas_thread():
            if pre is not None:
                S = pre.T @ S @ pre
            sig, Q = linalg.eigh((S + S.T) / 2)
        keep = sig > max(sig[-1], 0.0) * 1e-12
        sig, Q = sig[keep], Q[:, keep]
        rotation = Q if pre is None else pre @ Q
        self._feature_rotation = rotation
        return _Rotated(R, rotation), sig

    @staticmethod
    def _low_rank_gram(Phi, sig):
        """``Phi^T H Phi``: ``Phi^T Phi = diag(sig)``, so no second ``n r^2`` product."""
        mean = Phi.mean(axis=0)
        return np.diag(sig) - Phi.shape[0] * np.outer(mean, mean)

    def _store_projection(self, A):
        """Keep what the out-of-sample map needs for the coefficients ``A``."""
        if self.kernel == "rbf" and self.feature_map_ is None:
            self.dual_coef_ = A
        else:
            self.projection_ = self._feature_rotation @ A
            del self._feature_rotation

    def _transform(self, X, sample_domain):
        if self.kernel == "linear":
            return X @ self.projection_
        if self.feature_map_ is None:
            return kernel_matmul(X, self.X_fit_, self.dual_coef_, gamma=self.gamma_)
        if isinstance(self.feature_map_, Nystroem):
            # projection_ maps the raw landmark kernel (see _representation).
            return kernel_matmul(X, self.feature_map_.components_, self.projection_,
                                 gamma=self.gamma_)
        return self.feature_map_.transform(X) @ self.projection_


_APPROX_DOC = """approx : {"auto", True, False}, default="auto"
        Use the low-rank kernel (``True``), the exact ``n x n`` kernel (``False``), or
        decide from the size: approximate when the training rows exceed
        ``max_exact_samples``. Ignored for ``kernel="linear"`` (always exact and
        low rank).
    max_exact_samples : int, default=2000
        Size threshold of ``approx="auto"``.
    n_landmarks : int, default=500
        Rank ``m`` of the approximation: Nyström landmarks (drawn uniformly from the
        training rows with ``random_state``) or random Fourier features.
    approx_method : {"nystroem", "rff"}, default="nystroem"
        Low-rank feature map (see :func:`shiftlab.methods._kernels.make_feature_map`).
    random_state : int, RandomState instance or None, default=None
        Seeds the landmarks / random features and the ``"median"`` gamma rule."""


@register_method(
    name="TCA",
    family="subspace",
    reference="Pan, S. J., Tsang, I. W., Kwok, J. T. and Yang, Q. (2011). Domain "
    "adaptation via transfer component analysis. IEEE Trans. Neural Networks 22(2).",
    grid={"n_components": N_COMPONENTS_GRID, "mu": [10, 100]},
    designed_for=("subspace", "covariate"),
    complexity="Exact: O(n^2 d) kernel, then a few dozen O(n^2 k) block products (LOBPCG for "
    "the top k), O(n^2) memory. Nyström (n > max_exact_samples): O(n m d + n m^2 + m^3) "
    "time, O(n m) memory.",
    regression=True,
    skada_name="TransferComponentAnalysisAdapter",
    skada_params={"kernel": "rbf", "n_components": 10, "mu": 10},
)
class TCA(_KernelSubspace):
    r"""Transfer component analysis (TCA, Pan et al., 2011), unsupervised form.

    Looks for dual coefficients ``W`` (embedding ``Z = K W`` of the pooled rows) that
    keep the variance of the data while shrinking the MMD between the projected source
    and target:

    .. math:: \max_W \operatorname{tr}\big((W^\top (I + \mu K L K) W)^{-1}
              W^\top K H K W\big)

    with ``L = e e^T`` (``e_i = 1/n_s`` on source rows, ``-1/n_t`` on target rows) and
    ``H`` the centring matrix; the solution is the top-``k`` generalized eigenvectors of
    ``(K H K, I + mu K L K)``. ``mu`` weighs the MMD against the ridge ``tr(W^T W)``,
    the convention of skada and of SKADA-Bench's grid {10, 100}; it is ``1 / mu`` of the
    paper, where the ridge carries the weight.

    Because ``K L K`` has rank one, the right-hand side is whitened in closed form and
    the ``k`` eigenpairs come from block LOBPCG iterations (no ``n x n`` inverse, no full
    eigendecomposition). Each component is scaled to unit variance over the training
    rows, the paper's constraint ``W^T K H K W = I`` up to the factor ``n``. The
    approximate path solves this same problem for the low-rank kernel
    ``K ~ phi(X) phi(X)^T`` (an ``m x m`` problem; with every row a landmark it is the
    exact solution).

    Parameters
    ----------
    n_components : int, default=10
        Number of transfer components (SKADA-Bench's grid {1, 2, 5, 10, 20, 50, 100}).
        Rank rule: components whose eigenvalue is numerically zero (below ``1e-9`` times
        the largest) carry no variance and are dropped, and at most ``p - 1`` exist
        (``p = n`` exact, ``p`` = the rank of the feature map otherwise);
        ``n_components_`` holds the number kept.
    mu : float, default=10.0
        Weight of the MMD term (``>= 0``; 0 gives kernel PCA of the pooled rows).
    kernel : {"rbf", "linear"}, default="rbf"
        ``k(x, x') = exp(-gamma ||x - x'||^2)`` or ``x . x'``.
    gamma : float, None, "auto", "scale" or "median", default=None
        RBF width; ``None``: ``1 / n_features`` as scikit-learn and skada (see
        :func:`shiftlab.methods._kernels.resolve_gamma`).
    {approx}

    Attributes
    ----------
    n_components_ : int
        Number of components kept.
    eigenvalues_ : ndarray of shape (n_components_,)
        Generalized eigenvalues (variance / (ridge + mu MMD)) of the components kept.
    approx_ : bool
        Whether the low-rank path was used.
    gamma_ : float or None
        RBF width used.
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training rows (exact RBF path only).
    dual_coef_ : ndarray of shape (n_samples, n_components_)
        ``W`` (exact RBF path only).
    feature_map_ : transformer or None
        Fitted Nyström / random-feature map (approximate path).
    projection_ : ndarray
        Map to the components from the raw features (linear kernel), from the kernel
        with the Nyström landmarks ``feature_map_.components_``, or from the random
        Fourier features (approximate paths).
    multi_source_ : str
        ``"pooled"``: one MMD between all source rows and all target rows.

    Notes
    -----
    Exact: ``O(n^2 d)`` for the kernel, then ``K H K`` is applied as an operator in a
    block eigensolver (LOBPCG, a few dozen ``O(n^2 k)`` block products; ``K H K`` itself,
    an ``n^3`` product, is never formed); memory: the ``n x n`` kernel (32 MB at
    ``n = 2000``). Approximate: ``O(n m d + n m^2 + m^3)`` time and ``O(n m)`` memory.
    New rows cost ``O(n d)`` (exact) or ``O(m d)`` (approximate) each.
    """

    _parameter_constraints: dict = {**_KernelSubspace._kernel_constraints,
                                    "mu": [NON_NEGATIVE]}

    def __init__(self, n_components=10, mu=10.0, kernel="rbf", gamma=None, approx="auto",
                 max_exact_samples=2000, n_landmarks=500, approx_method="nystroem",
                 random_state=None):
        self.n_components = n_components
        self.mu = mu
        self.kernel = kernel
        self.gamma = gamma
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.n_landmarks = n_landmarks
        self.approx_method = approx_method
        self.random_state = random_state

    def _fit(self, X, y, sample_domain):
        self._fit_transform(X, y, sample_domain)

    def _fit_transform(self, X, y, sample_domain):
        self._validate_kernel_params()
        mu = _check_real("mu", self.mu, low=0.0)
        src = source_mask(sample_domain)
        n = X.shape[0]
        e = np.where(src, 1.0 / src.sum(), -1.0 / (~src).sum())
        F, sig = self._representation(X)
        k = max(1, min(self.n_components, F.shape[1] - 1))
        T = np.sqrt(mu) * (F.T @ e)[:, None]
        if sig is None:  # exact: C = K H K as an operator, ridge I
            vals, B, _ = _solve_transfer_eig(_KHK(F), T, k)
        else:  # low rank: ridge tr(W^T W) = tr(A^T diag(1/sig) A)
            vals, B, _ = _solve_transfer_eig(self._low_rank_gram(F, sig), T, k, 1.0 / sig)
        keep = _informative(vals, k)
        vals, B = vals[keep], B[:, keep]
        # b^T C b = lam: this scaling gives every component unit variance on the rows.
        B = _sign_flip(B * np.sqrt(n / vals))
        self.eigenvalues_ = vals
        self.n_components_ = B.shape[1]
        self.multi_source_ = "pooled"
        Z = F @ B
        self._store_projection(B)
        return Z


TCA.__doc__ = TCA.__doc__.replace("{approx}", _APPROX_DOC)


@register_method(
    name="TJM",
    family="subspace",
    reference="Long, M., Wang, J., Ding, G., Sun, J. and Yu, P. S. (2014). Transfer joint "
    "matching for unsupervised domain adaptation. CVPR.",
    grid={"n_components": [1, 2, 3], "tradeoff": [0, 1e-4, 1e-2]},
    designed_for=("subspace", "covariate"),
    complexity="Exact: O(n^2 d) setup, then a few O(n^2 k) block products per iteration "
    "(warm-started LOBPCG), O(n^2) memory. Nyström: O(n m d + n m^2) per iteration, O(n m) memory.",
    regression=True,
    skada_name="TransferJointMatchingAdapter",
    skada_params={"kernel": "rbf", "n_components": 10, "tradeoff": 1e-2, "max_iter": 100,
                  "tol": 1e-2},
)
class TJM(_KernelSubspace):
    r"""Transfer joint matching (TJM, Long et al., 2014).

    TCA's feature matching plus instance reweighting: the rows of the dual coefficients
    ``A`` of source samples get an l2,1 penalty, so source samples unlike the target
    drop out of the representation, while target rows get a Frobenius penalty:

    .. math:: \min_A \operatorname{tr}(A^\top K M K A) + \lambda
              (\|A_s\|_{2,1} + \|A_t\|_F^2) \quad\text{s.t.}\quad A^\top K H K A = I

    with ``M = e e^T / ||e e^T||_F`` the (normalised) MMD matrix. The l2,1 norm is handled
    by iteratively reweighted least squares: with ``G`` diagonal (``1 / (2 ||a_i||)`` on
    source rows, 1 on target rows) each step solves the generalized eigenproblem
    ``(K H K, K M K + lambda G)`` for its top ``k`` vectors; iterations stop when the
    objective changes by less than ``tol`` (relative) or after ``max_iter``.

    ``conditional=True`` adds JDA's class-conditional MMD terms (Long et al., 2013 [6]_):
    target pseudo-labels (nearest source class centroid in the current embedding) are
    refreshed at every iteration and one MMD per class joins ``M``. The default follows
    the TJM paper and skada (marginal MMD only).

    The right-hand side (diagonal plus a rank-``q`` MMD term) is whitened in closed form.
    Eigenvectors and weights converge together: the first eigenproblem is solved to a
    residual of ``1e-3`` of its top eigenvalue, each later one by three LOBPCG steps
    started from the previous solution. ``lambda = 0``
    (in SKADA-Bench's grid) is well posed: a tiny ridge ``1e-10 I`` keeps the problem
    definite, which yields the variance-maximising directions with zero MMD.

    Parameters
    ----------
    n_components : int, default=10
        Number of components (SKADA-Bench's grid {1, 2, 3}); the rank rule of :class:`TCA`.
    tradeoff : float, default=0.01
        ``lambda``, weight of the instance-reweighting penalty (grid {0, 1e-4, 1e-2}).
    kernel : {"rbf", "linear"}, default="rbf"
    gamma : float, None, "auto", "scale" or "median", default=None
        RBF width (``None``: ``1 / n_features``).
    max_iter : int, default=100
        Maximum number of reweighting iterations.
    tol : float, default=0.01
        Relative change of the objective that stops the iterations.
    conditional : bool, default=False
        Add class-conditional MMD terms with target pseudo-labels (JDA-style). Needs
        class labels.
    {approx}

    Attributes
    ----------
    n_components_ : int
    eigenvalues_ : ndarray of shape (n_components_,)
    n_iter_ : int
        Iterations run.
    objective_ : list of float
        Objective after each iteration.
    instance_norms_ : ndarray of shape (n_samples,)
        Row norms of the dual coefficients (one per training row, both paths): small
        source values mark down-weighted source samples.
    approx_, gamma_, X_fit_, dual_coef_, feature_map_, projection_, multi_source_
        As in :class:`TCA`.

    Notes
    -----
    Exact: ``O(n^2 d)`` for the kernel, then a few block products with ``K`` per
    iteration (``O(n^2 k)`` each, warm-started LOBPCG); ``O(n^2)`` memory. Approximate:
    ``O(n m d + n m^2)`` per iteration (the reweighted ``Phi^T G^-1 Phi``) and ``O(n m)``
    memory. The approximate path is TJM itself on the low-rank kernel: the dual
    coefficients keep one row per training sample (see ``_KernelSubspace``), so the
    l2,1 instance selection is not approximated beyond the kernel.
    """

    _parameter_constraints: dict = {
        **_KernelSubspace._kernel_constraints,
        "tradeoff": [NON_NEGATIVE],
        "max_iter": [at_least(1)],
        "tol": [NON_NEGATIVE],
        "conditional": ["boolean"],
    }

    def __init__(self, n_components=10, tradeoff=1e-2, kernel="rbf", gamma=None,
                 max_iter=100, tol=1e-2, conditional=False, approx="auto",
                 max_exact_samples=2000, n_landmarks=500, approx_method="nystroem",
                 random_state=None):
        self.n_components = n_components
        self.tradeoff = tradeoff
        self.kernel = kernel
        self.gamma = gamma
        self.max_iter = max_iter
        self.tol = tol
        self.conditional = conditional
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.n_landmarks = n_landmarks
        self.approx_method = approx_method
        self.random_state = random_state

    def _fit(self, X, y, sample_domain):
        self._fit_transform(X, y, sample_domain)

    def _fit_transform(self, X, y, sample_domain):
        self._validate_kernel_params()
        lam = _check_real("tradeoff", self.tradeoff, low=0.0)
        max_iter = _check_int("max_iter", self.max_iter)
        tol = _check_real("tol", self.tol, low=0.0)
        if not isinstance(self.conditional, (bool, np.bool_)):
            raise ValueError(f"conditional must be True or False, got {self.conditional!r}.")
        src = source_mask(sample_domain)
        tgt = ~src
        if self.conditional and label_kind(y[src]) != "classification":
            raise DataValidationError(
                "TJM(conditional=True) needs class labels for its class-conditional MMD; "
                "use conditional=False for regression targets."
            )
        n = X.shape[0]
        e = np.where(src, 1.0 / src.sum(), -1.0 / tgt.sum())
        F, sig = self._representation(X)
        p = F.shape[1]
        exact = sig is None
        C = _KHK(F) if exact else self._low_rank_gram(F, sig)
        Fs = None if exact else F[src]
        k = max(1, min(self.n_components, p - 1))
        g = np.ones(n)
        eps = 1e-10
        pseudo = None
        objective, V0 = [], None
        for it in range(max_iter):
            E = e[:, None] if pseudo is None else self._conditional_mmd(e, y, src, pseudo)
            # ||E E^T||_F = ||E^T E||_F: the normalisation of M without forming it.
            T = (F.T @ E) / np.sqrt(np.linalg.norm(E.T @ E))
            if exact:
                ridge = lam * g + eps
            elif lam > 0:
                # Ridge of A: lam N^-1 with N = Phi^T G^-1 Phi (the eps term is negligible);
                # target rows have g = 1, so N = diag(sig) + Phi_s^T (G_s^-1 - I) Phi_s. It
                # is passed as the Cholesky factor of its inverse: no inverse is formed.
                N = Fs.weighted_gram(1.0 / g[src] - 1.0) + np.diag(sig)
                with single_blas_thread():
                    L_N = linalg.cholesky((N + N.T) / (2 * lam), lower=True)
                ridge = ("inv_chol", L_N)
            else:
                ridge = eps / sig  # lam = 0: the eps ridge tr(W^T W) = tr(A^T A / sig)
            # The reweighting loop needs no tight eigensolves: the first is solved to a
            # residual of 1e-3 of the top eigenvalue, the next ones by 3 LOBPCG steps from
            # the previous solution (eigenvectors and weights converge together: the loop
            # stops once the objective is stable).
            vals, B, V = _solve_transfer_eig(C, T, k, ridge, V0, rtol=1e-3, maxiter=3)
            keep = _informative(vals, k)
            vals, B, V0 = vals[keep], B[:, keep], V[:, keep]
            B = B / np.sqrt(vals)  # the paper's scale: A^T K H K A = I
            # Dual rows: W itself (exact) or W = G^-1 Phi N^-1 A (low rank).
            if exact:
                rows = B
            elif lam > 0:
                rows = F @ (linalg.cho_solve((L_N, True), B) / lam) / g[:, None]
            else:
                rows = F @ (B / sig[:, None])
            norms = np.linalg.norm(rows, axis=1)
            loss = float(np.sum((T.T @ B) ** 2)) + lam * (
                norms[src].sum() + float(np.sum(norms[tgt] ** 2)))
            objective.append(loss)
            g[src] = 1.0 / (2.0 * norms[src] + eps)
            if self.conditional:
                pseudo = self._pseudo_labels(F @ B, y, src, tgt)
            if it > 0 and abs(objective[-2] - loss) <= tol * max(abs(objective[-2]), eps):
                break
        self.n_iter_ = it + 1
        self.objective_ = objective
        self.instance_norms_ = norms
        self.eigenvalues_ = vals
        B = _sign_flip(B * np.sqrt(n))  # unit variance per component on the rows
        self.n_components_ = B.shape[1]
        self.multi_source_ = "pooled"
        Z = F @ B
        self._store_projection(B)
        return Z

    @staticmethod
    def _pseudo_labels(Z, y, src, tgt):
        """Nearest source class centroid in the embedding, for the target rows."""
        classes = np.unique(y[src])
        centroids = np.stack([Z[src][y[src] == c].mean(axis=0) for c in classes])
        Zt = Z[tgt]
        d2 = (Zt**2).sum(1)[:, None] - 2 * Zt @ centroids.T + (centroids**2).sum(1)[None, :]
        return classes[np.argmin(d2, axis=1)]

    @staticmethod
    def _conditional_mmd(e, y, src, pseudo):
        """Columns of E with M = E E^T: the marginal MMD and one MMD per class (JDA)."""
        cols = [e]
        tgt_idx = np.flatnonzero(~src)
        for c in np.unique(y[src]):
            s_c = src & (y == c)
            t_c = np.zeros_like(src)
            t_c[tgt_idx[pseudo == c]] = True
            if t_c.any():
                col = np.zeros(y.shape[0])
                col[s_c] = 1.0 / s_c.sum()
                col[t_c] = -1.0 / t_c.sum()
                cols.append(col)
        return np.column_stack(cols)


TJM.__doc__ = TJM.__doc__.replace("{approx}", _APPROX_DOC)
