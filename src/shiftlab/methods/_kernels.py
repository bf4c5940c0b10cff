"""Kernel helpers shared by the kernel-based methods (reweighting, MMD, KDE, ...).

Everything here is written for speed and bounded memory:

* squared distances and RBF kernels come from one matrix product, with the exponential
  taken in place, so an ``n x m`` kernel costs one ``n x m`` buffer;
* reductions of a kernel matrix (``K @ V``, row means, KDE log-densities) are computed
  block by block, so their memory is ``O(block_rows * m)`` whatever ``n`` is;
* :func:`make_feature_map` returns a low-rank feature map (Nyström [1]_ or random Fourier
  features [2]_, both from scikit-learn) with ``k(x, x') ~ phi(x) . phi(x')``, which turns
  the ``O(n^2)`` memory / ``O(n^2)`` per matrix-vector product of exact kernel methods into
  ``O(n r)``. Nyström underestimates the diagonal ``k(x, x)`` (to 0 for points far from
  every landmark); :func:`kernel_diagonal` gives the exact one, so that methods can use
  ``Phi Phi' + diag(k(x, x) - ||phi(x)||^2)``, which is exact on the diagonal and still
  positive semi-definite.

Kernel convention: ``k(x, x') = exp(-gamma * ||x - x'||^2)`` (scikit-learn's RBF).

References
----------
.. [1] Williams, C. K. I. and Seeger, M. (2001). Using the Nyström method to speed up
   kernel machines. NeurIPS.
.. [2] Rahimi, A. and Recht, B. (2007). Random features for large-scale kernel machines.
   NeurIPS.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator

import numpy as np
from sklearn.kernel_approximation import Nystroem, RBFSampler
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.utils import check_random_state

__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "gaussian_kde_logpdf",
    "iter_blocks",
    "kernel_diagonal",
    "kernel_matmul",
    "kernel_row_means",
    "make_feature_map",
    "median_heuristic_gamma",
    "pairwise_kernel",
    "rbf_kernel",
    "resolve_gamma",
    "sq_euclidean",
]

#: Size of one kernel block in the blocked reductions (bytes). 128 MiB keeps peak memory
#: small while each block is still a large, BLAS-friendly matrix product.
DEFAULT_BLOCK_BYTES = 128 * 2**20


def iter_blocks(n_rows: int, n_cols: int, block_bytes: int = DEFAULT_BLOCK_BYTES
                ) -> Iterator[slice]:
    """Row slices such that a ``rows x n_cols`` float64 block fits in ``block_bytes``."""
    rows = max(1, int(block_bytes // (8 * max(n_cols, 1))))
    for start in range(0, n_rows, rows):
        yield slice(start, min(start + rows, n_rows))


def sq_euclidean(X, Y=None, *, X_sq=None, Y_sq=None) -> np.ndarray:
    """Squared Euclidean distances ``||x_i - y_j||^2`` as one new ``(n, m)`` array.

    Uses ``||x||^2 + ||y||^2 - 2 x.y`` (one GEMM) and clips the rounding negatives to 0.
    ``X_sq`` / ``Y_sq`` are optional precomputed squared row norms.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = X if Y is None else np.asarray(Y, dtype=np.float64)
    if X_sq is None:
        X_sq = np.einsum("ij,ij->i", X, X)
    if Y_sq is None:
        Y_sq = X_sq if Y is X else np.einsum("ij,ij->i", Y, Y)
    D = X @ Y.T
    D *= -2.0
    D += X_sq[:, None]
    D += Y_sq[None, :]
    np.maximum(D, 0.0, out=D)
    return D


class _ScaledSqDist:
    """``scale * ||x - y_j||^2`` for many row blocks ``x`` against fixed rows ``Y``.

    Rows are centred on ``Y``'s mean first (distances are translation invariant), which
    keeps the norms, and hence the rounding error of the expansion
    ``||x||^2 + ||y||^2 - 2 x.y``, small. Against many rows ``Y`` the whole expression is
    one GEMM of augmented matrices ``[-2x, ||x||^2, 1] . [y, 1, ||y||^2]`` (no extra pass
    over the large result); against few rows (kernel centres, landmarks) the plain
    product plus two broadcasts is cheaper than building the augmented block.
    """

    def __init__(self, Y, scale: float):
        Y = np.asarray(Y, dtype=np.float64)
        self.center = Y.mean(axis=0)
        self.Yc = Y - self.center
        self.Y_sq = np.einsum("ij,ij->i", self.Yc, self.Yc)
        self.scale = float(scale)
        self.augmented = Y.shape[0] > 4 * Y.shape[1]
        if self.augmented:
            self.B = np.hstack((self.Yc, np.ones((len(Y), 1)), self.Y_sq[:, None]))

    def __call__(self, X) -> np.ndarray:
        Xc = np.asarray(X, dtype=np.float64) - self.center
        X_sq = np.einsum("ij,ij->i", Xc, Xc)
        if self.augmented:
            A = np.hstack((-2.0 * Xc, X_sq[:, None], np.ones((len(Xc), 1))))
            A *= self.scale
            return A @ self.B.T
        D = Xc @ (self.Yc.T * (-2.0 * self.scale))
        D += (self.scale * X_sq)[:, None]
        D += (self.scale * self.Y_sq)[None, :]
        return D


def _exp_inplace(S, dtype) -> np.ndarray:
    """``exp(S)`` reusing ``S``'s buffer, in float32 when asked.

    numpy's float32 ``exp`` is vectorised with AVX2 (float64 only with AVX-512), so the
    float32 path is 2-3 times faster; kernel values keep 7 significant digits, far more
    than any weight estimate needs. The exponent itself is computed in float64.
    """
    if np.dtype(dtype) == np.float32:
        K = S.astype(np.float32)
        return np.exp(K, out=K)
    return np.exp(S, out=S)


def rbf_kernel(X, Y=None, gamma: float = 1.0, *, dtype=np.float64) -> np.ndarray:
    """RBF kernel matrix ``exp(-gamma ||x - y||^2)`` (``dtype`` float64 or float32)."""
    Y = X if Y is None else Y
    S = _ScaledSqDist(Y, -float(gamma))(X)
    np.minimum(S, 0.0, out=S)  # rounding can make a distance slightly negative
    return _exp_inplace(S, dtype)


def pairwise_kernel(X, Y=None, *, kernel: str = "rbf", gamma: float | None = None,
                    degree: float = 3, coef0: float = 1, dtype=np.float64) -> np.ndarray:
    """Kernel matrix for any scikit-learn kernel name; the RBF uses the fast path."""
    if kernel == "rbf":
        return rbf_kernel(X, Y, gamma=gamma, dtype=dtype)
    K = pairwise_kernels(X, Y, metric=kernel, filter_params=True, gamma=gamma,
                         degree=degree, coef0=coef0)
    return K.astype(dtype, copy=False)


def kernel_matmul(X, Y, V, *, kernel: str = "rbf", gamma: float | None = None,
                  degree: float = 3, coef0: float = 1, dtype=np.float64,
                  block_bytes: int = DEFAULT_BLOCK_BYTES) -> np.ndarray:
    """``K(X, Y) @ V`` computed by row blocks of ``X`` (memory ``O(block * len(Y))``).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    Y : ndarray of shape (m, d)
    V : ndarray of shape (m,) or (m, k)
    dtype : float64 or float32, default=float64
        Precision of the kernel blocks and of the product (the result is float64).

    Returns
    -------
    ndarray of shape (n,) or (n, k)
    """
    X = np.asarray(X, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    Vd = V.astype(dtype, copy=False)
    out = np.empty((X.shape[0],) + V.shape[1:])
    dist = _ScaledSqDist(Y, -float(gamma)) if kernel == "rbf" else None
    for sl in iter_blocks(X.shape[0], len(Y), block_bytes):
        if dist is not None:
            S = dist(X[sl])
            np.minimum(S, 0.0, out=S)
            K = _exp_inplace(S, dtype)
        else:
            K = pairwise_kernel(X[sl], Y, kernel=kernel, gamma=gamma, degree=degree,
                                coef0=coef0, dtype=dtype)
        out[sl] = K @ Vd
    return out


def kernel_diagonal(X, *, kernel: str = "rbf", gamma: float | None = None,
                    degree: float = 3, coef0: float = 1) -> np.ndarray:
    """``k(x_i, x_i)`` for every row (ones for the RBF and Laplacian kernels)."""
    X = np.asarray(X, dtype=np.float64)
    if kernel in ("rbf", "laplacian"):
        return np.ones(X.shape[0])
    out = np.empty(X.shape[0])
    for start in range(0, X.shape[0], 256):
        sl = slice(start, start + 256)
        out[sl] = np.diag(pairwise_kernel(X[sl], X[sl], kernel=kernel, gamma=gamma,
                                          degree=degree, coef0=coef0))
    return out


def kernel_row_means(X, Y, **kernel_params) -> np.ndarray:
    """``K(X, Y).mean(axis=1)`` without holding ``K`` (see :func:`kernel_matmul`)."""
    m = np.asarray(Y).shape[0]
    return kernel_matmul(X, Y, np.full(m, 1.0 / m), **kernel_params)


def gaussian_kde_logpdf(X_query, X_ref, bandwidth: float, *, dtype=np.float64,
                        block_bytes: int = DEFAULT_BLOCK_BYTES) -> np.ndarray:
    """Log-density of a Gaussian KDE fitted on ``X_ref``, at the rows of ``X_query``.

    ``log p(x) = logsumexp_i(-||x - x_i||^2 / (2 h^2)) - log n - d/2 log(2 pi h^2)``:
    the same estimate as :class:`sklearn.neighbors.KernelDensity` with a Gaussian kernel
    and ``rtol=0``, computed exactly by blocks in the log domain (no underflow, even for
    tiny bandwidths or many features). ``dtype`` is the precision of the exponentials
    (taken after the max-shift, so float32 loses nothing that matters). Time
    ``O(n_query n_ref d)``, memory ``O(block)``.
    """
    X_query = np.asarray(X_query, dtype=np.float64)
    n, d = np.shape(X_ref)
    h2 = float(bandwidth) ** 2
    dist = _ScaledSqDist(X_ref, -0.5 / h2)
    ones = np.ones(n, dtype=dtype)
    out = np.empty(X_query.shape[0])
    for sl in iter_blocks(X_query.shape[0], n, block_bytes):
        S = dist(X_query[sl])
        top = S.max(axis=1)
        S -= top[:, None]  # logsumexp: shift each row by its max
        out[sl] = np.log(_exp_inplace(S, dtype) @ ones) + top
    return out - np.log(n) - 0.5 * d * np.log(2.0 * np.pi * h2)


def median_heuristic_gamma(X, Y=None, *, max_samples: int = 1000,
                           random_state=None) -> float:
    """RBF ``gamma = 1 / median(||x - x'||^2)`` over (a subsample of) the pooled rows.

    The median heuristic (Gretton et al., 2012, "A kernel two-sample test", JMLR) puts
    the kernel's length scale at the typical distance between points. At most
    ``max_samples`` rows are used, so the cost is ``O(max_samples^2 d)``.
    """
    Z = np.asarray(X, dtype=np.float64)
    if Y is not None:
        Z = np.vstack((Z, np.asarray(Y, dtype=np.float64)))
    if Z.shape[0] > max_samples:
        rng = check_random_state(random_state)
        Z = Z[rng.choice(Z.shape[0], max_samples, replace=False)]
    D = sq_euclidean(Z)
    med = np.median(D[np.triu_indices_from(D, k=1)])
    return 1.0 / med if med > 0 else 1.0


def resolve_gamma(gamma, X, *, random_state=None) -> float:
    """Turn a ``gamma`` specification into a positive float.

    Parameters
    ----------
    gamma : float, None, "auto", "scale" or "median"
        ``None`` or ``"auto"``: ``1 / n_features`` (scikit-learn's default for kernels);
        ``"scale"``: ``1 / (n_features * X.var())`` (as :class:`sklearn.svm.SVC`);
        ``"median"``: :func:`median_heuristic_gamma`; a positive number is returned as is.
    X : ndarray of shape (n_samples, n_features)
        Data used by the data-dependent rules (the pooled source and target rows).
    """
    n_features = X.shape[1]
    if gamma is None or (isinstance(gamma, str) and gamma == "auto"):
        return 1.0 / n_features
    if isinstance(gamma, str):
        if gamma == "scale":
            var = float(np.var(X))
            return 1.0 / (n_features * var) if var > 0 else 1.0
        if gamma == "median":
            return median_heuristic_gamma(X, random_state=random_state)
        raise ValueError(
            f"gamma={gamma!r} is not understood; use a positive number, None, 'auto', "
            "'scale' or 'median'."
        )
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not gamma > 0:
        raise ValueError(f"gamma must be a positive number, got {gamma!r}.")
    return float(gamma)


def make_feature_map(X, *, method: str = "nystroem", kernel: str = "rbf",
                     gamma: float | None = None, n_components: int = 500,
                     random_state=None):
    """A fitted low-rank feature map ``phi`` with ``k(x, x') ~ phi(x) . phi(x')``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows to fit the map on (Nyström picks its landmarks among them; pass the pooled
        source and target rows).
    method : {"nystroem", "rff"}, default="nystroem"
        Nyström landmarks (:class:`sklearn.kernel_approximation.Nystroem`, any kernel,
        usually more accurate for a given rank) or random Fourier features
        (:class:`sklearn.kernel_approximation.RBFSampler`, RBF kernel only, data-free).
    n_components : int, default=500
        Rank ``r`` of the approximation. Transforming ``n`` rows then costs
        ``O(n r d)`` time and ``O(n r)`` memory.

    Returns
    -------
    transformer
        A fitted scikit-learn transformer; ``transform(X)`` gives ``phi(X)``.
    """
    X = np.asarray(X, dtype=np.float64)
    if method == "nystroem":
        n_components = int(min(n_components, X.shape[0]))
        fmap = Nystroem(kernel=kernel, gamma=gamma, n_components=n_components,
                        random_state=random_state)
    elif method == "rff":
        if kernel != "rbf":
            raise ValueError("Random Fourier features approximate the RBF kernel only; "
                             "use method='nystroem' for other kernels.")
        fmap = RBFSampler(gamma=gamma, n_components=int(n_components),
                          random_state=random_state)
    else:
        raise ValueError(f"method must be 'nystroem' or 'rff', got {method!r}.")
    return fmap.fit(X)
