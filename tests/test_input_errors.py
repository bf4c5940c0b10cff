"""Bad-input errors name the problem and the fix (issue "Your data, your model")."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from shiftlab.data import check_domain_arrays
from shiftlab.exceptions import DataValidationError, ShiftlabError, UnknownParameterError
from shiftlab.methods import make_da
from shiftlab.methods.subspace import TSL, PCAAdapter, SubspaceAlignment
from shiftlab.selection import DomainSearchCV


def _data(n_features=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, n_features))
    y = np.r_[np.tile([0, 1], 10), -np.ones(20, dtype=int)]
    sd = np.r_[np.ones(20, dtype=int), np.full(20, -2)]
    return X, y, sd


# ------------------------------------------------------------------ labels {-1, +1}
def test_minus_one_class_labels_explain_the_mask_convention():
    X, _, sd = _data()
    y = np.r_[np.tile([-1, 1], 10), -np.ones(20, dtype=int)]
    with pytest.raises(DataValidationError) as info:
        check_domain_arrays(X, y, sd)
    msg = str(info.value)
    assert "their label is -1, which marks a masked (unknown) label" in msg and "skada" in msg
    assert "{-1, +1} -> {0, 1}" in msg
    assert "LabelEncoder" in msg and "np.where(y == -1, 0, 1)" in msg
    # The same message reaches a user who fits a method.
    with pytest.raises(DataValidationError, match="LabelEncoder"):
        make_da("CORAL").fit(X, y, sd)


def test_minus_one_class_labels_without_sample_domain_get_the_hint():
    # Without sample_domain the -1 class is taken for target samples: the source then
    # has one class, and the error says why.
    X, _, _ = _data()
    y = np.tile([-1, 1], 20)
    with pytest.raises(DataValidationError, match="re-encode the classes"):
        check_domain_arrays(X, y, None)


def test_nan_source_labels_keep_the_regression_message():
    X, _, sd = _data()
    y = np.r_[np.linspace(0, 1, 20), np.full(20, np.nan)]
    y[0] = np.nan
    with pytest.raises(DataValidationError, match=r"masked labels \(NaN\)"):
        check_domain_arrays(X, y, sd)


# ---------------------------------------------------------------- unknown parameter
def test_make_da_unknown_parameter_is_a_clear_shiftlab_error():
    with pytest.raises(UnknownParameterError) as info:
        make_da("CORAL", foo=1)
    err = info.value
    assert isinstance(err, ShiftlabError)
    assert isinstance(err, TypeError) and isinstance(err, ValueError)
    msg = str(err)
    assert "'CORAL'" in msg and "'foo'" in msg and "Valid parameters:" in msg and "reg" in msg


def test_make_da_unknown_parameter_suggests_a_close_name():
    with pytest.raises(UnknownParameterError, match="Did you mean 'reg'"):
        make_da("CORAL", rge=1e-2)
    # Valid parameters still work.
    assert make_da("CORAL", reg=1e-2).steps[0][1].reg == 1e-2


# ------------------------------------------------------------- n_components clipping
@pytest.mark.parametrize("est", [PCAAdapter(n_components=50), SubspaceAlignment(n_components=50),
                                 TSL(n_components=50)])
def test_n_components_above_feature_count_warns_and_clips(est):
    X, y, sd = _data(n_features=5)
    with pytest.warns(UserWarning, match=r"n_components=50 .*using n_components=5"):
        est.fit(X, y, sd)
    assert est.n_components_ == 5


def test_n_components_within_limit_does_not_warn():
    X, y, sd = _data(n_features=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert SubspaceAlignment(n_components=3).fit(X, y, sd).n_components_ == 3
        assert SubspaceAlignment(n_components=None).fit(X, y, sd).n_components_ == 5


# ------------------------------------------------------------- sparse / 0 features
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_X_asks_for_a_dense_array(fmt):
    X, y, sd = _data()
    Xs = sp.random(40, 5, density=0.5, format=fmt, random_state=0)
    with pytest.raises(DataValidationError, match=r"dense array.*toarray\(\).*TruncatedSVD"):
        check_domain_arrays(Xs, y, sd)
    with pytest.raises(DataValidationError, match="scipy.sparse"):
        make_da("CORAL").fit(Xs, y, sd)
    with pytest.raises(DataValidationError, match="scipy.sparse"):
        DomainSearchCV(make_da("CORAL"), {"coral__reg": [1e-3]}).fit(Xs, y, sd)


def test_zero_feature_X_says_so():
    X, y, sd = _data()
    X0 = np.empty((40, 0))
    with pytest.raises(DataValidationError, match="0 features"):
        check_domain_arrays(X0, y, sd)
    with pytest.raises(DataValidationError, match="0 features"):
        make_da("CORAL").fit(X0, y, sd)
    with pytest.raises(DataValidationError, match="0 features"):
        DomainSearchCV(make_da("CORAL"), {"coral__reg": [1e-3]}).fit(X0, y, sd)


# ------------------------------------------- masked target labels in a model selection
def test_masked_target_labels_say_why_test_metrics_are_nan():
    from shiftlab.exceptions import MaskedTargetLabelsWarning
    from shiftlab.selection import evaluate_split

    X, y, sd = _data()  # target labels masked (-1), as the README's convention has them
    y_true = np.where(sd < 0, np.arange(40) % 2, y)
    kw = dict(scorers=["SrcVal"], cv=2, inner_cv=2, random_state=0)
    grid = {"coral__reg": [1e-3]}
    with pytest.warns(MaskedTargetLabelsWarning) as record:
        search = DomainSearchCV(make_da("CORAL"), grid, **kw).fit(X, y, sd)
    masked = [w for w in record if w.category is MaskedTargetLabelsWarning]
    assert len(masked) == 1  # once for the search, not once per outer split
    msg = str(record[0].message)
    assert "target labels in y are masked" in msg and "cannot be computed" in msg
    assert "test_accuracy" in msg and "can be used without a test score" in msg
    assert "pass the true target labels in y" in msg and "masks them itself" in msg
    # The search still selects; only the test metrics are missing.
    assert search.results_["test_accuracy"].isna().all()
    assert search.best_params_["SrcVal"] == [{"coral__reg": 1e-3}] * 2
    with pytest.warns(MaskedTargetLabelsWarning, match="test metrics"):
        # Outer split: half of each (domain, class) group, so both parts hold both classes.
        train = np.r_[0:10, 20:30]
        evaluate_split(make_da("CORAL"), grid, X, y, sd, train, np.setdiff1d(np.arange(40),
                       train), scorers=["SrcVal"], inner_cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskedTargetLabelsWarning)
        # True target labels: test metrics, no warning.
        search = DomainSearchCV(make_da("CORAL"), grid, **kw).fit(X, y_true, sd)
        assert search.results_["test_accuracy"].notna().all()
        # No outer test part (cv=None): no test metric is expected, nothing to say.
        DomainSearchCV(make_da("CORAL"), grid, scorers=["SrcVal"], cv=None, inner_cv=2,
                       random_state=0).fit(X, y, sd)
