"""Small problems run with one BLAS thread inside shiftlab's methods, large ones do not."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from shiftlab.methods._threads import SMALL_PROBLEM_ENTRIES, SMALL_PROBLEM_ROWS, blas_scope
from shiftlab.methods.base import BaseAdapter, BaseDAEstimator


def _blas_threads() -> int:
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


class _ProbeAdapter(BaseAdapter):
    def _fit(self, X, y, sample_domain):
        self.fit_threads_ = _blas_threads()

    def _transform(self, X, sample_domain):
        self.transform_threads_ = _blas_threads()
        return X


class _ProbeEstimator(BaseDAEstimator):
    def _fit(self, X, y, sample_domain):
        self.fit_threads_ = _blas_threads()

    def _predict(self, X):
        self.predict_threads_ = _blas_threads()
        return np.zeros(len(X))


def _task(n_rows, n_features=2):
    X = np.random.default_rng(0).normal(size=(n_rows, n_features))
    sd = np.where(np.arange(n_rows) < n_rows // 2, 1, -2)
    y = np.where(sd > 0, np.arange(n_rows) % 2, -1)
    return X, y, sd


@pytest.fixture
def two_blas_threads():
    """Two BLAS threads around the test, so that a limit to one is visible anywhere."""
    with threadpool_limits(limits=2, user_api="blas"):
        yield


def test_small_inputs_get_one_blas_thread_and_large_ones_the_default(two_blas_threads):
    outside = _blas_threads()
    assert outside == 2
    X, y, sd = _task(200)
    adapter = _ProbeAdapter().fit(X, y, sd)
    adapter.transform(X, sd)
    estimator = _ProbeEstimator().fit(X, y, sd)
    estimator.predict(X, sd)
    assert (adapter.fit_threads_, adapter.transform_threads_) == (1, 1)
    assert (estimator.fit_threads_, estimator.predict_threads_) == (1, 1)
    assert _blas_threads() == outside  # restored afterwards

    X, y, sd = _task(SMALL_PROBLEM_ROWS + 2)  # too many rows
    assert _ProbeAdapter().fit(X, y, sd).fit_threads_ == outside
    X, y, sd = _task(200, SMALL_PROBLEM_ENTRIES // 200 + 1)  # too many entries
    assert _ProbeEstimator().fit(X, y, sd).fit_threads_ == outside


def test_blas_scope_thresholds(two_blas_threads):
    assert blas_scope(np.empty((SMALL_PROBLEM_ROWS, 1))).__class__.__name__ != "nullcontext"
    assert blas_scope(np.empty((SMALL_PROBLEM_ROWS + 1, 1))).__class__.__name__ == "nullcontext"


def test_no_limit_is_set_when_blas_already_runs_one_thread():
    # joblib's workers start with one BLAS thread per core share: nothing to limit there.
    with threadpool_limits(limits=1, user_api="blas"):
        assert blas_scope(np.empty((10, 2))).__class__.__name__ == "nullcontext"
        X, y, sd = _task(200)
        assert _ProbeAdapter().fit(X, y, sd).fit_threads_ == 1
        assert _blas_threads() == 1
