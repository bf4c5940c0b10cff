"""BLAS thread limits for small linear algebra.

Multi-threaded BLAS gains nothing on the small matrices most shallow methods handle
(covariances of tens of features, kernels of a few thousand rows), and it loses a lot
when its threads compete with OpenMP threads that are still spinning after a
scikit-learn fit (``LogisticRegression``'s loss is OpenMP-parallel). In a pipeline
refitted in a loop, as model selection does, the adapter step of CORAL or LinOT at
1,000 + 1,000 rows took 1.5-2x longer with two BLAS threads than with one on a 2-core
machine. scikit-learn's k-means limits BLAS the same way.
"""

from __future__ import annotations

import contextlib

from threadpoolctl import ThreadpoolController

__all__ = [
    "SMALL_PROBLEM_ENTRIES",
    "SMALL_PROBLEM_ROWS",
    "blas_scope",
    "blas_threads",
    "single_blas_thread",
]

#: Inputs with at most this many rows and :data:`SMALL_PROBLEM_ENTRIES` entries (rows x
#: features) are handled with one BLAS thread (see :func:`blas_scope`). Above that,
#: products such as a kernel matrix (rows^2 x features) are large enough to gain from
#: threads, on many-core machines by much.
SMALL_PROBLEM_ROWS = 4_000
SMALL_PROBLEM_ENTRIES = 1_000_000

_CONTROLLER = None
_BLAS_LIBS = ()


def blas_threads(limit):
    """Context limiting the BLAS thread pools to ``limit`` (``None``: leave them as they
    are). One cached controller: the library scan of :mod:`threadpoolctl` (about 15 ms)
    is done once."""
    global _CONTROLLER, _BLAS_LIBS
    if limit is None:
        return contextlib.nullcontext()
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
        _BLAS_LIBS = tuple(lib for lib in _CONTROLLER.lib_controllers if lib.user_api == "blas")
    if all((lib.get_num_threads() or limit + 1) <= limit for lib in _BLAS_LIBS):
        # Already within the limit (as in joblib's workers, which start with one thread
        # per core share): asking costs 2 us, a limit-and-restore 20 us.
        return contextlib.nullcontext()
    return _CONTROLLER.limit(limits=limit, user_api="blas")


def single_blas_thread():
    """Context with one BLAS thread (iterative solvers, small dense algebra)."""
    return blas_threads(1)


def blas_scope(X):
    """One BLAS thread for a small input ``X`` (at most :data:`SMALL_PROBLEM_ROWS` rows
    and :data:`SMALL_PROBLEM_ENTRIES` entries); the library's own threading otherwise."""
    small = X.shape[0] <= SMALL_PROBLEM_ROWS and X.size <= SMALL_PROBLEM_ENTRIES
    return blas_threads(1 if small else None)
