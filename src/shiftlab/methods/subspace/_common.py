"""What the subspace methods share: the SKADA-Bench grid of dimensions, the rank
rules, and the eigensolvers (dense, block LOBPCG on a never-formed operator, and the
whitened generalized problem of TCA and TJM)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, eigsh, lobpcg

from shiftlab.exceptions import DataValidationError
from shiftlab.methods._threads import single_blas_thread

#: SKADA-Bench's grid of subspace dimensions (JPCA, SA, TCA, TSL).
N_COMPONENTS_GRID = [1, 2, 5, 10, 20, 50, 100]

# Up to this size, symmetric eigenproblems are solved densely (LAPACK's subset driver):
# cheaper than an iterative solver's Python overhead.
_DENSE_EIGH_MAX = 500

# Eigenvalues below this fraction of the largest are numerically zero: their components
# carry no variance and are dropped (the documented rank rule of TCA / TJM).
_RANK_RTOL = 1e-9


# --------------------------------------------------------------------------- validation


# ------------------------------------------------------------------------ linear algebra
def _sign_flip(V):
    """Make the largest-magnitude entry of every column positive (deterministic signs)."""
    if V.size == 0:
        return V
    rows = np.argmax(np.abs(V), axis=0)
    signs = np.sign(V[rows, np.arange(V.shape[1])])
    signs[signs == 0] = 1.0
    return V * signs


def _pca(X, k, overwrite=False):
    """Mean and top-``k`` principal axes (as rows, unit norm) of ``X``.

    Uses the eigendecomposition of the smaller of the ``d x d`` scatter and the ``n x n``
    Gram matrix, asking LAPACK for the ``k`` wanted eigenpairs only. ``overwrite``: ``X``
    is a scratch copy that may be centred in place.
    """
    mean = X.mean(axis=0)
    if overwrite:
        X -= mean
        Xc = X
    else:
        Xc = X - mean
    n, d = Xc.shape
    if d <= n:
        _, vecs = linalg.eigh(Xc.T @ Xc, subset_by_index=[d - k, d - 1])
        comps = vecs[:, ::-1]
    else:
        vals, vecs = linalg.eigh(Xc @ Xc.T, subset_by_index=[n - k, n - 1])
        vals, vecs = vals[::-1], vecs[:, ::-1]
        comps = Xc.T @ vecs
        norms = np.linalg.norm(comps, axis=0)
        # Zero-variance directions (degenerate data) have no axis; they project to 0.
        comps = np.divide(comps, norms, out=np.zeros_like(comps), where=norms > 0)
    return mean, _sign_flip(comps).T


def _top_eigh(M, k, X0=None, rtol=1e-5, maxiter=None):
    """Dispatch to :func:`_top_eigh_impl`, single-threaded for explicit matrices."""
    p = M.shape[0] if isinstance(M, np.ndarray) else M[0]
    if isinstance(M, np.ndarray) or p <= _DENSE_EIGH_MAX:
        # Small dense algebra (m x m, m up to ~2000) runs with one BLAS thread here and
        # below: thread start-up costs more than it saves, and on a busy machine
        # multi-threaded LAPACK calls on small matrices ran 5-10x slower.
        with single_blas_thread():
            return _top_eigh_impl(M, k, X0, rtol, maxiter)
    return _top_eigh_impl(M, k, X0, rtol, maxiter)


def _top_eigh_impl(M, k, X0=None, rtol=1e-5, maxiter=None):
    """The ``k`` largest eigenpairs of a symmetric PSD matrix, in decreasing order.

    ``M`` is an array or a ``(p, matmat)`` pair giving the matrix as ``X -> M @ X``.
    Large problems use LOBPCG on a block of ``k`` plus a few guard vectors (started from
    ``X0`` when given, e.g. the previous solution of an iterative method): each step is
    one block product, so the kernel matrix is streamed a handful of times instead of
    once per Lanczos vector. The residuals must fall below ``rtol`` times the top
    eigenvalue, else ARPACK's Lanczos takes over. ``maxiter`` (warm starts only) asks for
    a few LOBPCG steps without that check: an inexact solve for the inner loop of an
    iterative method. LAPACK's subset driver serves small or nearly full problems.
    """
    if isinstance(M, np.ndarray):
        p, matmat = M.shape[0], M.__matmul__
    else:
        p, matmat = M
    k = min(k, p)
    vals = vecs = None
    block = k + max(5, k // 2)
    if p > _DENSE_EIGH_MAX and 5 * block < p:
        rng = np.random.default_rng(0)  # fixed: reproducible results run to run
        start = rng.standard_normal((p, block))
        if X0 is None:
            # One block power step: a better start, and Rayleigh quotients close to the
            # top eigenvalue, which set the scale of the residual tolerance.
            start = matmat(start / np.linalg.norm(start, axis=0))
        else:
            start[:, : min(block, X0.shape[1])] = X0[:, :block]
        start /= np.maximum(np.linalg.norm(start, axis=0), 1e-300)
        scale = max(float(np.max(np.sum(start * matmat(start), axis=0))), 1e-300)
        op = LinearOperator((p, p), matvec=lambda x: matmat(x.reshape(p, 1)).ravel(),
                            matmat=matmat, dtype=np.float64)
        inexact = X0 is not None and maxiter is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vals, vecs = lobpcg(op, start, largest=True, tol=rtol * scale,
                                maxiter=maxiter if inexact else 100)
        order = np.argsort(vals)[::-1][:k]
        vals, vecs = vals[order], vecs[:, order]
        if not inexact:
            resid = np.linalg.norm(matmat(vecs) - vecs * vals, axis=0)
            if not np.all(resid <= 10 * rtol * max(vals[0], 1e-300)):
                try:
                    vals, vecs = eigsh(op, k=k, which="LA", v0=start[:, 0])
                except (ArpackNoConvergence, ArpackError):
                    vals = None
    if vals is None:
        dense = M if isinstance(M, np.ndarray) else matmat(np.eye(p))
        vals, vecs = linalg.eigh((dense + dense.T) / 2, subset_by_index=[p - k, p - 1])
    order = np.argsort(vals)[::-1][:k]
    return vals[order], vecs[:, order]


class _KHK:
    """The operator ``X -> K H K X`` of a symmetric kernel matrix, never formed.

    Forming ``K H K`` costs an ``n^3`` product; the eigensolver needs only a few dozen
    block products with it, two ``n^2 k`` products with ``K`` each.
    """

    def __init__(self, K):
        self.K = K
        self.shape = K.shape
        self._K32 = None

    def __matmul__(self, X):
        Y = self.K @ X
        Y -= Y.mean(axis=0)
        return self.K @ Y

    def fast_matmul(self, X):
        """The same product in float32: half the memory traffic and flops. Its rounding
        (~1e-7 relative) stays far below the iterative eigensolver's tolerance."""
        if self._K32 is None:
            self._K32 = self.K.astype(np.float32)
        Y = self._K32 @ X.astype(np.float32)
        Y -= Y.mean(axis=0)
        return (self._K32 @ Y).astype(np.float64)


def _solve_transfer_eig(C, T, k, ridge=None, X0=None, rtol=1e-5, maxiter=None):
    """Dispatch to :func:`_solve_transfer_eig_impl`, single-threaded for small ``C``."""
    if isinstance(C, np.ndarray):
        with single_blas_thread():
            return _solve_transfer_eig_impl(C, T, k, ridge, X0, rtol, maxiter)
    return _solve_transfer_eig_impl(C, T, k, ridge, X0, rtol, maxiter)


def _solve_transfer_eig_impl(C, T, k, ridge=None, X0=None, rtol=1e-5, maxiter=None):
    """Top-``k`` solutions of ``C b = lam (R + T T^T) b``.

    ``C`` (p x p) is symmetric PSD, an array or a :class:`_KHK` operator; ``T`` (p x q,
    q small) is the low-rank MMD factor and the ridge ``R`` is the identity (``None``), a
    positive diagonal (1-D array), a dense SPD matrix or ``("inv_chol", Li)`` for
    ``R = (Li Li^T)^-1`` (the last two with an array ``C`` only). ``R`` is
    whitened away (a scaling or a Cholesky solve), then
    ``(I + T' T'^T)^(-1/2) = I + U diag((1 + s^2)^(-1/2) - 1) U^T`` (thin SVD
    ``T' = U s V^T``) turns the generalized problem into a standard symmetric one: no
    inverse is formed, and with an operator ``C`` nothing of size ``p x p`` either.

    Returns
    -------
    vals : ndarray of shape (k,)
        Eigenvalues ``b^T C b`` in decreasing order.
    B : ndarray of shape (p, k)
        Eigenvectors normalised so that ``B^T (R + T T^T) B = I``.
    V : ndarray of shape (p, k)
        Eigenvectors of the whitened problem (a warm start for the next call).
    """
    p = C.shape[0]
    s = L = Li = None
    if ridge is None:
        Tw = T
    elif isinstance(ridge, tuple):  # ("inv_chol", Li): ridge = (Li Li^T)^-1, b = Li c
        Li = ridge[1]
        Tw = Li.T @ T
    elif ridge.ndim == 1:
        s = 1.0 / np.sqrt(ridge)
        Tw = T * s[:, None]
    else:
        L = linalg.cholesky(ridge, lower=True)
        Tw = linalg.solve_triangular(L, T, lower=True)
    U, sv, _ = np.linalg.svd(Tw, full_matrices=False)
    Ug = U * (1.0 / np.sqrt(1.0 + sv**2) - 1.0)
    if isinstance(C, np.ndarray):
        if s is not None:
            Cw = C * s[:, None] * s[None, :]
        elif Li is not None:
            Cw = Li.T @ C @ Li
        elif L is not None:
            Cw = linalg.solve_triangular(L, C, lower=True)
            Cw = linalg.solve_triangular(L, Cw.T, lower=True)
        else:
            Cw = C
        CU = Cw @ U
        M = Cw + Ug @ CU.T + CU @ Ug.T + Ug @ (U.T @ CU) @ Ug.T
        vals, V = _top_eigh((M + M.T) / 2, k, X0, rtol, maxiter)
    else:
        # Small problems are solved densely (from matmat(I)): keep them in float64.
        apply_c = C.fast_matmul if p > _DENSE_EIGH_MAX else C.__matmul__

        def matmat(X):
            X = X + Ug @ (U.T @ X)
            if s is not None:
                X = X * s[:, None]
            X = apply_c(X)
            if s is not None:
                X = X * s[:, None]
            return X + Ug @ (U.T @ X)

        vals, V = _top_eigh((p, matmat), k, X0, rtol, maxiter)
    Bw = V + Ug @ (U.T @ V)
    if s is not None:
        B = Bw * s[:, None]
    elif Li is not None:
        B = Li @ Bw
    elif L is not None:
        B = linalg.solve_triangular(L, Bw, lower=True, trans="T")
    else:
        B = Bw
    return vals, B, V


def _informative(vals, n_max):
    """Indices of the leading components with a clearly positive eigenvalue."""
    vals = vals[:n_max]
    if vals.size == 0 or vals[0] <= 0:
        raise DataValidationError(
            "No component has positive variance: the kernel matrix is degenerate (constant "
            "or duplicated rows, or an extreme gamma). Check the features and gamma."
        )
    return np.flatnonzero(vals > _RANK_RTOL * vals[0])


def _clip_n_components(method: str, requested: int, limit: int, n_features: int) -> int:
    """Clip ``n_components`` to the rank ``limit``, warning when it is lowered.

    Parameters
    ----------
    method : str
        Method name used in the warning.
    requested : int
        The ``n_components`` the user asked for.
    limit : int
        The largest value the data allow (the rank rule of the method).
    n_features : int
        Number of features of ``X`` (named in the warning).

    Returns
    -------
    int
        ``min(requested, limit)``.
    """
    if requested <= limit:
        return requested
    reason = (
        f"X has {n_features} features" if limit == n_features
        else f"the data have rank at most {limit} ({n_features} features, few samples)"
    )
    warnings.warn(
        f"{method}: n_components={requested} exceeds what the data allow ({reason}); "
        f"using n_components={limit} (see n_components_). Pass n_components <= {limit} "
        "to silence this warning.",
        UserWarning,
        stacklevel=3,
    )
    return limit
