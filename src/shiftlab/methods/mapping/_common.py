"""What every mapping adapter shares: dense linear algebra and :class:`_BaseMapping`
(source pooling, per-domain states and the transform)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular
from sklearn.utils import check_random_state

from shiftlab.data.convention import label_kind
from shiftlab.exceptions import DataValidationError
from shiftlab.methods._checks import check_choice as _check_choice
from shiftlab.methods._threads import single_blas_thread
from shiftlab.methods.base import BaseAdapter

# =============================================================================
# validation helpers
# =============================================================================


# =============================================================================
# linear algebra helpers
# =============================================================================
#: Dense ``d x d`` algebra (eigendecompositions, products) of matrices up to this size
#: runs on one BLAS thread (:func:`_dense_jobs`). The Householder tridiagonalisation that
#: dominates an eigendecomposition is memory-bound and synchronises its threads at every
#: column: at 1,024 features two threads saved a third of the time on an idle 2-core
#: machine, but when they competed with other threads (the OpenMP threads of a
#: ``LogisticRegression`` fitted just before, another process), as in a loop of pipeline
#: fits, a CORAL or LinOT fit took 1-12 s instead of 0.6 s. Larger matrices use the
#: library's threads.
_DENSE_ONE_THREAD = 2048
#: :func:`_linear_monge_map` uses a Cholesky factor of the source covariance when ``reg``
#: is at least this fraction of its Frobenius norm (an upper bound of its largest
#: eigenvalue): the eigenvalue floor of :func:`_eigh` is then inactive, so both forms
#: give the same map.
_CHOLESKY_MIN_REG = 1e-11
_BLAS_LIBS = None


def _eigh(C):
    """Eigenvalues and eigenvectors of a symmetric PSD matrix (LAPACK ``syevd``), the
    eigenvalues floored at 1e-12 of the largest for stability."""
    w, V = np.linalg.eigh(C)
    floor = max(float(w.max()), 0.0) * 1e-12 + np.finfo(np.float64).tiny
    return np.maximum(w, floor), V


def _sym_pow(C, p):
    """``C ** p`` of a symmetric PSD matrix, from its floored eigendecomposition."""
    w, V = _eigh(C)
    return (V * w**p) @ V.T


def _side_by_side_workers():
    """How many jobs :func:`_dense_jobs` may run at once: the BLAS threads allowed here
    (1 inside a one-thread scope, or in a joblib worker limited to one), if every BLAS is
    OpenBLAS with its own (pthreads) pool, whose thread limit holds in any thread; 1
    otherwise (an OpenMP-threaded BLAS would give each new thread a full pool). The
    library scan is done once."""
    global _BLAS_LIBS
    if _BLAS_LIBS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS_LIBS = tuple(lib for lib in ThreadpoolController().lib_controllers
                           if lib.user_api == "blas")
    if not _BLAS_LIBS or not all(
        lib.internal_api == "openblas" and getattr(lib, "threading_layer", "") == "pthreads"
        for lib in _BLAS_LIBS
    ):
        return 1
    return min(lib.get_num_threads() or 1 for lib in _BLAS_LIBS)


def _dense_jobs(d, *jobs):
    """Results of the callables ``jobs``, each dense algebra on ``d x d`` matrices.

    Up to :data:`_DENSE_ONE_THREAD` features every job runs on one BLAS thread, and
    independent jobs run side by side in Python threads (numpy's and scipy's linear
    algebra release the GIL), at most as many as the BLAS threads allowed here (see
    :func:`_side_by_side_workers`): the same thread budget, spent on whole jobs instead
    of on the columns of each decomposition. The results are those of sequential calls
    on one thread, bit for bit. Above that size the jobs run one after the other with
    the library's threads.
    """
    if d > _DENSE_ONE_THREAD:
        return [job() for job in jobs]
    workers = min(len(jobs), _side_by_side_workers()) if len(jobs) > 1 else 1
    with single_blas_thread():
        if workers < 2:
            return [job() for job in jobs]
        with ThreadPoolExecutor(workers) as pool:
            return [f.result() for f in [pool.submit(job) for job in jobs]]


def _linear_monge_map(cov_s, cov_t, reg):
    """``A = C_s^{-1/2} (C_s^{1/2} C_t C_s^{1/2})^{1/2} C_s^{-1/2}``, the SPD matrix with
    ``A C_s A = C_t`` (the linear part of the Gaussian OT map), with one eigendecomposition.

    For any factor ``C_s = F F'``, ``F^{-T} (F' C_t F)^{1/2} F^{-1}`` is SPD and solves
    ``A C_s A = C_t``, so it is the same matrix; ``F' C_t F`` is orthogonally similar to
    ``C_s^{1/2} C_t C_s^{1/2}``, so the eigenvalue floor of :func:`_eigh` acts on it in
    the same way. ``F`` is the Cholesky factor when ``reg`` keeps ``C_s`` well above that
    floor (see :data:`_CHOLESKY_MIN_REG`), else ``V diag(w)^{1/2}`` from the floored
    eigendecomposition of ``C_s``, as the formula's ``C_s^{1/2}`` (two decompositions).
    With ``F' C_t F = U diag(lam) U'`` and ``B = F^{-T} U diag(lam)^{1/4}``, ``A = B B'``.
    """
    L = None
    if reg >= _CHOLESKY_MIN_REG * np.linalg.norm(cov_s):
        try:
            L = cholesky(cov_s, lower=True, check_finite=False)
        except LinAlgError:
            L = None
    if L is not None:
        lam, U = _eigh(L.T @ (cov_t @ L))
        B = solve_triangular(L, U * lam**0.25, lower=True, trans="T", check_finite=False)
    else:
        w, V = _eigh(cov_s)
        root = np.sqrt(w)
        lam, U = _eigh((V.T @ cov_t @ V) * root[:, None] * root[None, :])
        B = (V / root) @ (U * lam**0.25)
    A = B @ B.T
    return 0.5 * (A + A.T)  # symmetric in exact arithmetic


# =============================================================================
# shared machinery
# =============================================================================
class _BaseMapping(BaseAdapter):
    """Mapping adapter skeleton: source pooling, bookkeeping and the transform.

    Subclasses implement ``_validate()`` (parameter checks),
    ``_fit_group(Xs, ys, Xt, rng) -> (mapped_source_rows, state)`` where ``state`` is a
    dict of fitted attributes (names ending in ``_``), and ``_map_group(state, X)``,
    the out-of-sample map of new source rows.
    """

    _needs_classes = False

    def _validate(self):  # pragma: no cover - overridden
        pass

    def _fit_group(self, Xs, ys, Xt, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def _map_group(self, state, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, X, y, sample_domain):
        self._fit_transform(X, y, sample_domain)
        return self

    def _fit_transform(self, X, y, sample_domain):
        self._validate()
        mode = self.multi_source
        _check_choice("multi_source", mode, ("pooled", "per_domain"))
        src = sample_domain >= 0
        if self._needs_classes and label_kind(y[src]) == "regression":
            raise DataValidationError(
                f"{type(self).__name__} uses class labels and does not support regression "
                "targets; use CORAL, OTMapping, EntropicOTMapping or LinearOTMapping."
            )
        rng = check_random_state(getattr(self, "random_state", None))
        Xt = X[~src]
        if mode == "pooled":
            groups = [("pooled", src)]
        else:
            groups = [(int(d), sample_domain == d) for d in np.unique(sample_domain[src])]
        X_out = X.copy()
        states = {}
        for key, mask in groups:
            mapped, state = self._fit_group(X[mask], y[mask], Xt, rng)
            X_out[mask] = mapped
            states[key] = state
        self._set_domain_states(states, mode)
        return X_out

    def _transform(self, X, sample_domain):
        X_out = X.copy()
        src = sample_domain >= 0
        if not src.any():
            return X_out
        if self.source_pooling_ == "pooled":
            X_out[src] = self._map_group(self.domain_states_["pooled"], X[src])
            return X_out
        for d in np.unique(sample_domain[src]):
            key = int(d)
            if key not in self.domain_states_:
                raise DataValidationError(
                    f"Source domain {key} was not seen at fit time; this adapter was fitted "
                    f"with multi_source='per_domain' on source domains "
                    f"{sorted(self.domain_states_)}. Refit, or use multi_source='pooled'."
                )
            mask = sample_domain == d
            X_out[mask] = self._map_group(self.domain_states_[key], X[mask])
        return X_out
