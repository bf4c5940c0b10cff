"""Tests of the label-shift adapters (BBSE, MLLS) and of the prior correction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from shiftlab.data.simulate import make_shifted_blobs, make_shifted_gaussians
from shiftlab.exceptions import DataValidationError
from shiftlab.methods import get_method, make_da
from shiftlab.methods.label_shift import BBSE, MLLS, adjust_proba

METHODS = [BBSE, MLLS]


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small problems run fastest (and steadiest on a busy 2-core runner) single-threaded."""
    with threadpool_limits(limits=1):
        yield


def _pack(ds):
    return ds.pack("source", "target", return_target_labels=True)


@pytest.fixture(scope="module")
def gaussian_target_task():
    ds = make_shifted_gaussians("target", n_features=10, n_samples_source=1000,
                                n_samples_target=1000, random_state=0)
    return (*_pack(ds), np.asarray(ds.metadata["ground_truth"]["class_prior"]))


@pytest.fixture(scope="module")
def blob_target_tasks():
    return [_pack(make_shifted_blobs("target", n_samples_source=300, n_samples_target=300,
                                     random_state=seed)) for seed in (0, 1)]


def _accuracy(model, X, sd, y_true):
    tgt = sd < 0
    return float((model.predict(X[tgt]) == y_true[tgt]).mean())


def _empirical_prior(y_true, sd, k):
    return np.bincount(y_true[sd < 0], minlength=k) / np.sum(sd < 0)


# ------------------------------------------------------------------ registry / contract
def test_registered():
    for name in ("BBSE", "MLLS"):
        spec = get_method(name)
        assert spec.family == "label_shift" and spec.designed_for == ("target",)
        assert set(spec.grid) <= set(spec.cls().get_params())
        assert not spec.regression and spec.reference


@pytest.mark.parametrize("cls", METHODS)
def test_sklearn_contract(cls, blob_target_tasks):
    X, y, sd, _ = blob_target_tasks[0]
    est = cls(random_state=0)
    params = est.get_params()
    assert clone(est).get_params() == params
    assert est.fit(X, y, sd) is est
    assert est.get_params() == params
    assert est.source_pooling_ == "pooled"
    np.testing.assert_array_equal(est.classes_, [0, 1])
    assert np.isclose(est.target_prior_.sum(), 1.0) and np.all(est.target_prior_ >= 0)
    np.testing.assert_allclose(est.class_weights_, est.target_prior_ / est.source_prior_)
    assert not hasattr(clone(est), "target_prior_")


# ------------------------------------------------------------------- prior recovery
@pytest.mark.parametrize("cls", METHODS)
def test_recovers_target_prior_gaussians(cls, gaussian_target_task):
    X, y, sd, y_true, true_prior = gaussian_target_task
    est = cls(random_state=0).fit(X, y, sd)
    emp = _empirical_prior(y_true, sd, 5)
    np.testing.assert_allclose(emp, true_prior, atol=0.01)  # the generator's ground truth
    assert np.abs(est.target_prior_ - emp).sum() < 0.2
    # ... and much closer to it than the source prior is.
    assert np.abs(est.target_prior_ - emp).sum() < 0.4 * np.abs(est.source_prior_ - emp).sum()


@pytest.mark.parametrize("cls", METHODS)
def test_recovers_target_prior_blobs(cls, blob_target_tasks):
    for X, y, sd, _ in blob_target_tasks:
        est = cls(random_state=0).fit(X, y, sd)
        assert abs(est.target_prior_[0] - 0.9) < 0.1  # source 0.5 / 0.5, target 0.9 / 0.1


@pytest.mark.parametrize("cls", METHODS)
def test_no_shift_keeps_the_source_prior(cls):
    ds = make_shifted_gaussians("target", n_features=10, strength=0.0, n_samples_source=800,
                                n_samples_target=800, random_state=1)
    X, y, sd, _ = _pack(ds)
    est = cls(random_state=0).fit(X, y, sd)
    assert np.abs(est.target_prior_ - est.source_prior_).sum() < 0.15


@pytest.mark.parametrize("name", ["BBSE", "MLLS"])
def test_beats_source_only_on_target_shift(name, blob_target_tasks):
    src = np.mean([_accuracy(make_da("SourceOnly").fit(X, y, sd), X, sd, yt)
                   for X, y, sd, yt in blob_target_tasks])
    ours = np.mean([_accuracy(make_da(name, random_state=0).fit(X, y, sd), X, sd, yt)
                    for X, y, sd, yt in blob_target_tasks])
    assert ours >= src + 0.03


def test_prior_correction_of_a_source_classifier_helps(blob_target_tasks):
    for X, y, sd, y_true in blob_target_tasks:
        src, tgt = sd >= 0, sd < 0
        clf = LogisticRegression().fit(X[src], y[src])
        proba = clf.predict_proba(X[tgt])
        est = MLLS(random_state=0).fit(X, y, sd)
        corrected = est.correct_proba(proba)
        acc_before = (clf.classes_[proba.argmax(1)] == y_true[tgt]).mean()
        acc_after = (est.classes_[corrected.argmax(1)] == y_true[tgt]).mean()
        assert acc_after >= acc_before
        own = est.predict_target_proba(X[tgt])
        assert own.shape == proba.shape and np.allclose(own.sum(1), 1.0)
        assert (est.classes_[own.argmax(1)] == y_true[tgt]).mean() >= acc_before - 0.01


# Target-label leakage and caller-array mutation: every registered method goes through
# the contract suite, tests/test_common.py.


@pytest.mark.parametrize("cls", METHODS)
def test_weights(cls, blob_target_tasks):
    X, y, sd, _ = blob_target_tasks[0]
    est = cls(random_state=0)
    _, w = est.fit_adapt(X, y, sd)
    src = sd >= 0
    assert np.all(w[~src] == 0) and np.isclose(w[src].mean(), 1.0)
    # Class-constant weights, proportional to the class ratios.
    ratios = est.class_weights_[np.searchsorted(est.classes_, y[src])]
    np.testing.assert_allclose(w[src], ratios / ratios.mean())


# ------------------------------------------------------------------------- options
def test_bbse_variants(blob_target_tasks):
    X, y, sd, _ = blob_target_tasks[0]
    hard = BBSE(random_state=0).fit(X, y, sd)
    assert np.isclose(hard.confusion_matrix_.sum(), 1.0)
    np.testing.assert_allclose(hard.confusion_matrix_.sum(0), hard.source_prior_)
    soft = BBSE(soft=True, random_state=0).fit(X, y, sd)
    assert abs(soft.target_prior_[0] - hard.target_prior_[0]) < 0.1
    # Hard BBSE works with any black box, even without predict_proba.
    svc = BBSE(LinearSVC(), random_state=0).fit(X, y, sd)
    assert abs(svc.target_prior_[0] - 0.9) < 0.1
    assert svc.predict_target_proba(X[:4]).shape == (4, 2)
    with pytest.raises(TypeError, match="predict_proba"):
        BBSE(LinearSVC(), soft=True).fit(X, y, sd)


def test_mlls_calibration_options(blob_target_tasks):
    X, y, sd, _ = blob_target_tasks[0]
    priors = {}
    for cal in ("bcts", "ts", None):
        est = MLLS(GaussianNB(), calibration=cal, random_state=0).fit(X, y, sd)
        priors[cal] = est.target_prior_
        assert est.n_iter_ >= 1 and est.temperature_ > 0
        if cal is None:
            assert est.temperature_ == 1.0 and np.all(est.bias_ == 0)
    assert abs(priors["bcts"][0] - 0.9) < 0.1
    with pytest.raises(ValueError, match="calibration"):
        MLLS(calibration="platt").fit(X, y, sd)


def test_bcts_calibration_matches_the_source_prior():
    # With class biases, the mean calibrated held-out probability equals the class
    # frequencies at the optimum of the calibration likelihood.
    from shiftlab.methods.label_shift import _calibrated, _fit_calibration

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    Z = rng.standard_normal((500, 3)) + 2.0 * np.eye(3)[y] + np.array([1.0, 0.0, -1.0])
    T, b = _fit_calibration(Z, y, "bcts")
    np.testing.assert_allclose(_calibrated(Z, T, b).mean(0), np.bincount(y) / 500, atol=1e-4)


def test_input_errors():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    y_reg = np.r_[rng.standard_normal(20), np.full(20, np.nan)]
    with pytest.raises(DataValidationError, match="class labels"):
        BBSE().fit(X, y_reg)
    y_single = np.r_[np.zeros(19, dtype=int), 1, np.full(20, -1)]
    with pytest.raises(DataValidationError, match="at least 2"):
        MLLS().fit(X, y_single)
    y_ok = np.r_[np.tile([0, 1], 10), np.full(20, -1)]
    with pytest.raises(ValueError, match="cv"):
        BBSE(cv=1).fit(X, y_ok)
    y_few = np.r_[np.zeros(17, dtype=int), 1, 1, 1, np.full(20, -1)]
    est = BBSE(cv=5, random_state=0).fit(X, y_few)  # folds reduced to the class count
    assert len(est.estimators_) == 3


# ---------------------------------------------------------------------- adjust_proba
def test_adjust_proba_bayes_rule():
    proba = np.array([[0.5, 0.5], [0.8, 0.2]])
    out = adjust_proba(proba, [0.5, 0.5], [0.9, 0.1])
    np.testing.assert_allclose(out[0], [0.9, 0.1])
    np.testing.assert_allclose(out[1], [0.72 / 0.74, 0.02 / 0.74])
    with pytest.raises(ValueError):
        adjust_proba(proba, [0.5, 0.5], [1.0])


@settings(max_examples=50, deadline=None)
@given(
    proba=arrays(np.float64, (6, 3), elements=st.floats(0.0, 1.0)),
    p=arrays(np.float64, 3, elements=st.floats(0.05, 1.0)),
    q=arrays(np.float64, 3, elements=st.floats(0.0, 1.0)),
)
def test_adjust_proba_properties(proba, p, q):
    p = p / p.sum()
    out = adjust_proba(proba, p, q)
    assert out.shape == proba.shape and np.all(np.isfinite(out)) and np.all(out >= 0)
    rows = (proba * (q / p)).sum(1) > 0
    np.testing.assert_allclose(out[rows].sum(1), 1.0)
    np.testing.assert_array_equal(out[~rows], proba[~rows])
    # Same prior: identity on normalised rows.
    norm = proba[rows] / proba[rows].sum(1, keepdims=True)
    np.testing.assert_allclose(adjust_proba(norm, p, p), norm, atol=1e-12)


# ------------------------------------------------------------- degenerate estimates
def _moved_features_task(n=200, offset=6.0):
    """Balanced classes in both domains, but every target row moved by ``offset``: not
    label shift, and a source classifier calls every target row class 1."""
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], n // 2)
    Xs = rng.normal(size=(n, 2)) + np.c_[4.0 * y - 2.0, np.zeros(n)]
    Xt = rng.normal(size=(n, 2)) + np.c_[4.0 * y - 2.0 + offset, np.zeros(n)]
    sd = np.r_[np.ones(n, dtype=int), -np.ones(n, dtype=int)]
    return np.vstack([Xs, Xt]), np.r_[y, -np.ones(n, dtype=int)], sd


@pytest.mark.parametrize("est, fix", [
    (BBSE(random_state=0), "try soft=True"),
    (BBSE(soft=True, random_state=0), "calibrated probabilistic estimator"),
    (MLLS(random_state=0), "better calibrated"),
    (MLLS(calibration=None, random_state=0), "calibration='bcts'"),
])
def test_prior_on_the_simplex_boundary_warns(est, fix):
    from shiftlab.exceptions import DegeneratePriorWarning

    X, y, sd = _moved_features_task()
    with pytest.warns(DegeneratePriorWarning) as record:
        est.fit(X, y, sd)
    assert est.target_prior_[0] < 1e-3  # the degenerate estimate is kept, with a warning
    msg = str(record[0].message)
    name = type(est).__name__
    assert msg.startswith(f"{name}: the estimated target class prior is degenerate")
    assert "class(es) 0 (estimated " in msg and "source 0.5) at ~0" in msg
    assert "class 1 gets essentially all the mass" in msg
    assert "Estimated target prior {0: " in msg and "source prior {0: 0.5, 1: 0.5}" in msg
    assert "poorly calibrated" in msg and "not label shift" in msg
    assert fix in msg and "covariate-shift method" in msg
    assert record[0].filename == __file__  # points at the caller's fit


@pytest.mark.parametrize("cls", METHODS)
def test_interior_prior_does_not_warn(cls, blob_target_tasks):
    import warnings

    from shiftlab.exceptions import DegeneratePriorWarning

    X, y, sd, _ = blob_target_tasks[0]  # target prior 0.9 / 0.1: skewed, not degenerate
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegeneratePriorWarning)
        est = cls(random_state=0).fit(X, y, sd)
    assert est.target_prior_.min() > 0.01


def test_a_rare_class_is_not_flagged_as_degenerate():
    import warnings

    from shiftlab.methods.label_shift import _warn_if_degenerate

    classes = np.arange(3)
    p = np.array([0.4995, 0.4995, 0.001])  # a class that is rare in the source already
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_degenerate("X", classes, np.array([0.5, 0.4995, 0.0005]), p, "fix")
    with pytest.warns(UserWarning, match="class\\(es\\) 2 .* at ~0"):
        _warn_if_degenerate("X", classes, np.array([0.5, 0.499999, 1e-6]), p, "fix")
