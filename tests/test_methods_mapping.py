"""Mapping family (CORAL, MapOT, EntOT, ClassRegOT, LinOT, MMD-LS): behaviour on simulated
conditional shift, OT solvers, leakage, the scikit-learn contract, the out-of-sample
extension, the scalable (minibatch) path, multi-source handling and agreement with skada."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from scipy.linalg import cholesky
from scipy.optimize import check_grad
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from _skada import import_skada, skada_context
from shiftlab.data import make_shifted_blobs, make_shifted_regression
from shiftlab.exceptions import DataValidationError
from shiftlab.methods import _ot, get_method, list_methods, make_da_pipeline
from shiftlab.methods.mapping import (
    CORAL,
    ClassRegOTMapping,
    EntropicOTMapping,
    LinearOTMapping,
    MMDLSMapping,
    OTMapping,
    _mmd_terms,
)

# Small settings that keep every test fast.
FACTORIES = {
    "CORAL": lambda: CORAL(),
    "MapOT": lambda: OTMapping(),
    "EntOT": lambda: EntropicOTMapping(reg_e=0.1),
    "ClassRegOT": lambda: ClassRegOTMapping(),
    "LinOT": lambda: LinearOTMapping(),
    "MMD-LS": lambda: MMDLSMapping(gamma=1.0, max_iter=20),
}
ALL = list(FACTORIES)
LINEAR = {"CORAL", "LinOT"}


@pytest.fixture(scope="module")
def cond():
    """SKADA-Bench's 2-D conditional shift (small draw): X, y (masked), domains, truth."""
    ds = make_shifted_blobs("conditional", n_samples_source=200, n_samples_target=200,
                            random_state=0)
    return ds.pack("source", "target", return_target_labels=True)


@pytest.fixture(scope="module")
def source_only_acc(cond):
    X, y, sd, yt = cond
    t = sd < 0
    return LogisticRegression().fit(X[~t], y[~t]).score(X[t], yt[t])


def _target_acc(adapter, data):
    X, y, sd, yt = data
    t = sd < 0
    pipe = make_da_pipeline(adapter, LogisticRegression()).fit(X, y, sd)
    return pipe.score(X[t], yt[t])


# --------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("name", ALL)
def test_beats_source_only_on_conditional_shift(name, cond, source_only_acc):
    # Mapping methods are designed for conditional shift: on SKADA-Bench's simulated
    # conditional shift every one of them must clearly improve on Train Src.
    acc = _target_acc(FACTORIES[name](), cond)
    assert acc >= source_only_acc + 0.03, (name, acc, source_only_acc)


@pytest.mark.parametrize("name", ALL)
def test_only_source_rows_move(name, cond):
    X, y, sd, _ = cond
    ad = FACTORIES[name]()
    Xa, w = ad.fit_adapt(X, y, sd)
    t = sd < 0
    assert w is None
    assert Xa.shape == X.shape and np.all(np.isfinite(Xa))
    # CORAL centres the target (a translation by its mean); every other map leaves
    # target rows untouched.
    offset = ad.target_offset_ if name == "CORAL" else 0.0
    np.testing.assert_array_equal(Xa[t], X[t] - offset)
    assert not np.allclose(Xa[~t], X[~t])
    # Predict-time rows (no sample_domain: all target) get the same treatment.
    np.testing.assert_array_equal(ad.transform(X[t]), X[t] - offset)


@pytest.mark.parametrize("name", ALL)
def test_out_of_sample_equals_in_sample_on_training_rows(name, cond):
    X, y, sd, _ = cond
    ad = FACTORIES[name]()
    Xa, _ = ad.fit_adapt(X, y, sd)
    np.testing.assert_array_equal(ad.transform(X, sd), Xa)


@pytest.mark.parametrize("name", ALL)
def test_out_of_sample_new_source_rows(name, cond):
    X, y, sd, _ = cond
    ad = FACTORIES[name]().fit(X, y, sd)
    s = sd >= 0
    Xa, _ = clone(ad).fit_adapt(X, y, sd)
    rng = np.random.default_rng(1)
    X_new = X[s][:30] + 1e-3 * rng.normal(size=(30, X.shape[1]))
    out = ad.transform(X_new, np.ones(30, dtype=int))
    assert out.shape == X_new.shape and np.all(np.isfinite(out))
    # A slightly perturbed training row is mapped close to that row's map.
    np.testing.assert_allclose(out, Xa[s][:30], atol=0.05)


def test_linear_maps_are_affine(cond):
    X, y, sd, _ = cond
    for ad in (CORAL(), LinearOTMapping()):
        ad.fit(X, y, sd)
        Z = np.random.default_rng(0).normal(size=(5, 2))
        np.testing.assert_allclose(ad.transform(Z, np.ones(5, int)), Z @ ad.A_ + ad.b_)


def test_coral_matches_target_covariance(cond):
    X, y, sd, _ = cond
    ad = CORAL(reg=None)
    Xa, _ = ad.fit_adapt(X, y, sd)
    s = sd >= 0
    np.testing.assert_allclose(np.cov(Xa[s].T, bias=True), np.cov(X[~s].T, bias=True),
                               atol=1e-10)
    # Both domains come out centred; the target rows are only translated.
    np.testing.assert_allclose(Xa[s].mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(Xa[~s], X[~s] - X[~s].mean(0), atol=1e-12)
    np.testing.assert_allclose(ad.transform(X[~s], sd[~s]), Xa[~s], atol=1e-12)


@pytest.mark.parametrize("assume_centered", [False, True])
def test_coral_ledoit_wolf_matches_sklearn(assume_centered):
    from sklearn.covariance import ledoit_wolf

    from shiftlab.methods._covariance import _covariance

    rng = np.random.default_rng(0)
    for n, d in [(40, 60), (300, 8)]:
        X = rng.normal(size=(n, d)) * rng.uniform(0.1, 5, d) + 3
        Z = X if assume_centered else X - X.mean(0)
        std = np.sqrt((Z**2).mean(0))
        ref = ledoit_wolf(Z / std, assume_centered=True)[0] * np.outer(std, std)
        np.testing.assert_allclose(_covariance(X, "auto", assume_centered), ref, atol=1e-12)


def test_linear_ot_matches_target_moments(cond):
    X, y, sd, _ = cond
    ad = LinearOTMapping(reg=0.0)
    Xa, _ = ad.fit_adapt(X, y, sd)
    s = sd >= 0
    np.testing.assert_allclose(np.cov(Xa[s].T, bias=True), np.cov(X[~s].T, bias=True),
                               atol=1e-8)
    np.testing.assert_allclose(ad.A_, ad.A_.T, atol=1e-12)


def test_exact_ot_map_is_a_permutation_of_target(cond):
    X, y, sd, _ = cond
    Xa, _ = OTMapping().fit_adapt(X, y, sd)
    s = sd >= 0
    # Same sizes and uniform weights: every source row lands on a distinct target row.
    got = {tuple(r) for r in np.round(Xa[s], 12)}
    want = {tuple(r) for r in np.round(X[~s], 12)}
    assert got == want


@pytest.mark.parametrize("metric", ["sqeuclidean", "cosine", "cityblock", "euclidean"])
def test_metrics_run(metric, cond):
    X, y, sd, _ = cond
    for ad in (OTMapping(metric=metric), EntropicOTMapping(metric=metric),
               ClassRegOTMapping(metric=metric, max_iter=3)):
        Xa, _ = ad.fit_adapt(X, y, sd)
        assert np.all(np.isfinite(Xa))


# ------------------------------------------------------------------- OT solvers
def test_exact_assignment_matches_network_simplex():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(120, 4)), rng.normal(size=(120, 4)) + 1.0
    M = _ot.cost_matrix(Xs, Xt)
    G, ok = _ot.exact_plan(M, metric="cityblock")  # L1: kept on the network simplex
    cols = _ot.exact_assignment(M.copy())
    assert ok
    assert np.isclose(M[np.arange(120), cols].mean(), (G.toarray() * M).sum(), rtol=1e-12)
    assert np.unique(cols).size == 120


def test_unequal_sizes_use_network_simplex(cond):
    X, y, sd, _ = cond
    keep = np.r_[np.nonzero(sd >= 0)[0][:150], np.nonzero(sd < 0)[0]]
    Xa, _ = OTMapping().fit_adapt(X[keep], y[keep], sd[keep])
    assert np.all(np.isfinite(Xa))


def test_cost_matrix_matches_scipy():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    for metric in ("sqeuclidean", "euclidean", "cosine", "cityblock"):
        np.testing.assert_allclose(_ot.cost_matrix(A, B, metric), cdist(A, B, metric),
                                   atol=1e-12)


@pytest.mark.parametrize("reg", [1.0, 0.1, 0.05])
def test_sinkhorn_matches_pot(reg):
    import ot

    rng = np.random.default_rng(0)
    M = _ot.cost_matrix(rng.normal(size=(50, 3)), rng.normal(size=(40, 3)))
    M /= np.median(M)
    res = _ot.sinkhorn(M, reg, max_iter=5000, tol=1e-11)
    ref = ot.sinkhorn(np.full(50, 1 / 50), np.full(40, 1 / 40), M, reg,
                      method="sinkhorn_log", numItermax=20000, stopThr=1e-12)
    assert res.converged and not res.log_domain
    np.testing.assert_allclose(res.plan, ref, atol=1e-9)


def test_sinkhorn_small_reg_is_finite():
    # Far-apart clouds with raw costs ~ 1e3: exp(-M / reg) underflows to 0 for every
    # entry, the NaN trap of a plain Sinkhorn.
    rng = np.random.default_rng(0)
    M = _ot.cost_matrix(rng.normal(size=(60, 3)), 5 * rng.normal(size=(40, 3)) + 20)
    for reg in (1e-3, 1e-2):
        res = _ot.sinkhorn(M, reg, max_iter=300)
        assert np.all(np.isfinite(res.plan)) and np.all(np.isfinite(res.f))
        np.testing.assert_allclose(res.plan.sum(), 1.0, rtol=1e-9)
    # Without epsilon-scaling the kernel underflows: the log-domain fall-back runs.
    res = _ot.sinkhorn(M, 1e-3, max_iter=20, eps_scaling=False)
    assert res.log_domain and np.all(np.isfinite(res.plan))


def test_sinkhorn_warm_start_saves_iterations():
    rng = np.random.default_rng(0)
    M = _ot.cost_matrix(rng.normal(size=(80, 3)), rng.normal(size=(80, 3)))
    M /= np.median(M)
    cold = _ot.sinkhorn(M * 1.01, 0.1, max_iter=5000, tol=1e-8, eps_scaling=False)
    first = _ot.sinkhorn(M, 0.1, max_iter=5000, tol=1e-8)
    warm = _ot.sinkhorn(M * 1.01, 0.1, max_iter=5000, tol=1e-8, f_init=first.f,
                        g_init=first.g)
    assert cold.converged and warm.converged and warm.n_iter < 0.8 * cold.n_iter
    np.testing.assert_allclose(warm.plan, cold.plan, atol=1e-9)


@pytest.mark.parametrize("name", ["EntOT", "ClassRegOT"])
def test_entropic_small_reg_gives_finite_map(name, cond):
    X, y, sd, _ = cond
    ad = (EntropicOTMapping(reg_e=1e-3) if name == "EntOT"
          else ClassRegOTMapping(reg_e=1e-3, max_iter=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # may stop at max_iter: that is allowed here
        Xa, _ = ad.fit_adapt(X, y, sd)
    assert np.all(np.isfinite(Xa))
    # Tiny regularisation: close to the exact OT map.
    Xe, _ = OTMapping().fit_adapt(X, y, sd)
    if name == "EntOT":
        assert np.abs(Xa - Xe).mean() < 0.05


def test_class_regulariser_separates_classes(cond):
    X, y, sd, _ = cond
    s = sd >= 0
    M = _ot.cost_matrix(X[s], X[~s])

    def mixing(P):  # mass a target point receives from its minority class, averaged
        S = np.stack([P[y[s] == c].sum(0) for c in np.unique(y[s])])
        return (S.min(0) / S.sum(0)).mean()

    plain = _ot.sinkhorn(M, 1.0).plan
    P, _ = _ot.class_regularized_plan(M, y[s], 1.0, 1.0, norm="lpl1")
    np.testing.assert_allclose(P.sum(1), 1 / s.sum(), rtol=1e-4)
    assert mixing(P) < 0.05 * mixing(plain)


@pytest.mark.parametrize("norm", ["lpl1", "l1l2"])
def test_class_regularised_plan_matches_pot(norm, cond):
    import ot

    X, y, sd, _ = cond
    s = sd >= 0
    M = _ot.cost_matrix(X[s], X[~s])
    a = np.full(s.sum(), 1 / s.sum())
    P, _ = _ot.class_regularized_plan(M, y[s], 1.0, 1.0, norm=norm)
    solver = ot.da.sinkhorn_lpl1_mm if norm == "lpl1" else ot.da.sinkhorn_l1l2_gl
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # POT's inner solves stop at 200 iterations
        Q = solver(a, y[s], a, M, 1.0, 1.0)
    assert np.abs(P - Q).sum() < 0.02


# -------------------------------------------------------------------- MMD-LS
@pytest.mark.parametrize("kernel", ["exponential", "rbf"])
def test_mmd_gradient(kernel):
    rng = np.random.default_rng(0)
    Xn, Xt = rng.normal(size=(15, 3)), rng.normal(size=(12, 3)) + 0.5
    m, n = 15, 12

    def fun(x):
        s_ss, s_st, _ = _mmd_terms(x.reshape(m, 3), Xt, 0.7, kernel, need_grad=False)
        return s_ss / m**2 - 2 * s_st / (m * n)

    def grad(x):
        return _mmd_terms(x.reshape(m, 3), Xt, 0.7, kernel)[2].ravel()

    assert check_grad(fun, grad, Xn.ravel()) < 1e-6


def test_mmd_ls_reduces_mmd(cond):
    X, y, sd, _ = cond
    s = sd >= 0
    ad = MMDLSMapping(gamma=1.0, max_iter=50)
    Xa, _ = ad.fit_adapt(X, y, sd)

    def mmd(A):
        s_ss, s_st, _ = _mmd_terms(A, X[~s], 1.0, "exponential", need_grad=False)
        return s_ss / len(A) ** 2 - 2 * s_st / (len(A) * (~s).sum())

    assert mmd(Xa[s]) < mmd(X[s]) - 0.01
    assert ad.scale_.shape == ad.offset_.shape == (2, 2)


# --------------------------------------------------------------------- leakage
@pytest.mark.parametrize("name", ALL)
def test_target_labels_cannot_leak(name, cond):
    X, y, sd, yt = cond
    t = sd < 0
    Xa, _ = FACTORIES[name]().fit_adapt(X, y, sd)
    y_true = y.copy()
    y_true[t] = yt[t]
    y_perm = y_true.copy()
    y_perm[t] = np.random.default_rng(0).permutation(yt[t])
    for y_leak in (y_true, y_perm):
        Xb, _ = FACTORIES[name]().fit_adapt(X, y_leak, sd)
        np.testing.assert_array_equal(Xb, Xa)


@pytest.mark.parametrize("name", ALL)
def test_caller_arrays_not_modified(name, cond):
    X, y, sd, _ = cond
    X0, y0, sd0 = X.copy(), y.copy(), sd.copy()
    ad = FACTORIES[name]()
    ad.fit_adapt(X, y, sd)
    ad.transform(X, sd)
    make_da_pipeline(FACTORIES[name](), LogisticRegression()).fit(X, y, sd).predict(X)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(sd, sd0)


# ------------------------------------------------------------ sklearn contract
@pytest.mark.parametrize("name", ALL)
def test_sklearn_contract(name, cond):
    X, y, sd, _ = cond
    ad = FACTORIES[name]()
    cls_name = type(ad).__name__
    check_no_attributes_set_in_init(cls_name, ad)
    check_parameters_default_constructible(cls_name, ad)
    check_get_params_invariance(cls_name, ad)
    check_set_params(cls_name, ad)
    params = ad.get_params()
    with pytest.raises(NotFittedError):
        ad.transform(X)
    assert ad.fit(X, y, sd) is ad
    assert ad.get_params() == params  # fit never changes a parameter
    c = clone(ad)
    assert c.get_params() == params and not hasattr(c, "n_features_in_")
    assert ad.source_pooling_ == "pooled" and "pooled" in ad.domain_states_
    with pytest.raises(DataValidationError):
        ad.transform(X[:, :1])


@pytest.mark.parametrize(
    "ad",
    [CORAL(reg=2.0), CORAL(assume_centered="yes"), OTMapping(metric="hamming"),
     OTMapping(norm="mean"), EntropicOTMapping(reg_e=0), EntropicOTMapping(approx="yes"),
     ClassRegOTMapping(norm="l2"), ClassRegOTMapping(reg_cl=-1.0), LinearOTMapping(reg=-1),
     MMDLSMapping(gamma=-1.0), MMDLSMapping(kernel="poly"), OTMapping(batch_size=1),
     OTMapping(multi_source="both")],
    ids=repr,
)
def test_invalid_parameters_raise_at_fit(ad, cond):
    X, y, sd, _ = cond
    with pytest.raises(ValueError):
        ad.fit(X, y, sd)


@pytest.mark.parametrize(
    ("kwargs", "value", "message"),
    [({"low": 0.0, "strict": True}, 0.0, "reg must be a finite number > 0.0, got 0.0."),
     ({"low": 0.0}, -1, "reg must be a finite number >= 0.0, got -1."),
     ({"low": 0.0, "high": 1.0}, 1.5, "reg must be a finite number >= 0.0 and <= 1.0"),
     ({}, float("nan"), "reg must be a finite number, got nan."),
     ({}, True, "reg must be a finite number, got True."),
     ({"allow_none": True}, "1", "reg must be a finite number or None, got '1'.")],
)
def test_shared_real_parameter_check_names_the_bound(kwargs, value, message):
    from shiftlab.methods._checks import check_real

    with pytest.raises(ValueError, match=re.escape(message)):
        check_real("reg", value, **kwargs)
    assert check_real("reg", None, allow_none=True) is None
    assert check_real("reg", 1, low=0.0, strict=True) == 1.0
    assert isinstance(check_real("reg", np.float32(0.5), low=0.0, high=1.0), float)


def test_class_based_methods_refuse_regression():
    ds = make_shifted_regression("conditional", n_features=5, n_samples_source=60,
                                 n_samples_target=60, random_state=0)
    X, y, sd = ds.pack("source", "target")
    for ad in (ClassRegOTMapping(), MMDLSMapping()):
        with pytest.raises(DataValidationError, match="regression"):
            ad.fit(X, y, sd)
    for ad in (CORAL(), OTMapping(), EntropicOTMapping(), LinearOTMapping()):
        assert np.all(np.isfinite(ad.fit_transform(X, y, sd)))


def test_registry():
    specs = {s.name: s for s in list_methods("mapping")}
    assert set(specs) >= {"CORAL", "MapOT", "EntOT", "ClassRegOT", "LinOT", "MMD-LS"}
    assert get_method("EntOT").grid == {"reg_e": [0.1, 0.5, 1.0],
                                        "metric": ["sqeuclidean", "cosine", "cityblock"],
                                        "norm": ["median"]}
    assert get_method("LinOT").grid == {"reg": [1e-8, 1e-6, 0.1, 1.0, 10.0],
                                        "bias": [True, False]}
    assert get_method("MMD-LS").grid["gamma"] == [0.01, 0.1, 1.0, 10.0, 100.0]
    for spec in specs.values():
        assert "conditional" in spec.designed_for and spec.reference and spec.complexity
        for key, values in spec.grid.items():  # every grid point is a valid setting
            spec.cls(**{key: values[0]})._validate()


# ------------------------------------------------------------ scalable path
@pytest.mark.parametrize("cls", [OTMapping, EntropicOTMapping, ClassRegOTMapping])
def test_minibatch_approximation(cls, cond, source_only_acc):
    X, y, sd, yt = cond
    ad = cls(max_exact_samples=100, batch_size=60, random_state=0)
    Xa, _ = ad.fit_adapt(X, y, sd)
    assert ad.approx_ and ad.n_batches_ == 4
    np.testing.assert_array_equal(Xa, clone(ad).fit_adapt(X, y, sd)[0])  # seeded
    np.testing.assert_array_equal(ad.transform(X, sd), Xa)
    assert not cls(approx=False, max_exact_samples=100).fit(X, y, sd).approx_
    assert _target_acc(ad, (X, y, sd, yt)) >= source_only_acc + 0.03


def test_minibatch_rounds_average_maps(cond):
    X, y, sd, _ = cond
    ad = OTMapping(approx=True, batch_size=50, n_rounds=3, random_state=0)
    Xa, _ = ad.fit_adapt(X, y, sd)
    s = sd >= 0
    # An average of three target points per source row: not a target point any more.
    assert len({tuple(r) for r in np.round(Xa[s], 12)} & {tuple(r) for r in X[~s]}) < 20


def test_mmd_ls_subsample_path(cond):
    X, y, sd, _ = cond
    ad = MMDLSMapping(gamma=1.0, max_iter=10, max_exact_samples=80, random_state=0)
    Xa, _ = ad.fit_adapt(X, y, sd)
    assert ad.approx_ and np.all(np.isfinite(Xa))


# ------------------------------------------------------------- multi-source
def test_multi_source_pooled_and_per_domain(cond):
    X, y, sd, _ = cond
    sd2 = sd.copy()
    src = np.nonzero(sd >= 0)[0]
    sd2[src[::2]] = 3  # split the source into two domains, 1 and 3
    pooled = OTMapping().fit(X, y, sd2)
    assert pooled.source_pooling_ == "pooled" and list(pooled.domain_states_) == ["pooled"]
    per = CORAL(multi_source="per_domain")
    Xa, _ = per.fit_adapt(X, y, sd2)
    assert per.source_pooling_ == "per_domain" and sorted(per.domain_states_) == [1, 3]
    np.testing.assert_array_equal(per.transform(X, sd2), Xa)
    for d in (1, 3):
        rows = sd2 == d
        # Each source domain lands, like the target, centred at the origin.
        np.testing.assert_allclose(Xa[rows].mean(0), 0.0, atol=1e-10)
    with pytest.raises(DataValidationError, match="not seen"):
        per.transform(X[:3], np.array([5, 5, 5]))
    ot_per = OTMapping(multi_source="per_domain").fit(X, y, sd2)
    np.testing.assert_array_equal(ot_per.transform(X, sd2), ot_per.fit_transform(X, y, sd2))


# ------------------------------------------------------------ against skada
SKADA_CASES = {
    # name: (shiftlab adapter, skada adapter name, skada params, feature tolerance)
    "CORAL": (CORAL(), "CORALAdapter", {}, 1e-8),
    "MapOT": (OTMapping(), "OTMappingAdapter", {"norm": "median", "max_iter": 10**7}, 1e-10),
    "EntOT": (EntropicOTMapping(reg_e=0.5, tol=1e-10), "EntropicOTMappingAdapter",
              {"reg_e": 0.5, "norm": "median", "tol": 1e-10, "max_iter": 1000}, 1e-6),
    "ClassRegOT": (ClassRegOTMapping(reg_e=0.5, reg_cl=0.5), "ClassRegularizerOTMappingAdapter",
                   {"reg_e": 0.5, "reg_cl": 0.5}, None),
    "LinOT": (LinearOTMapping(), "LinearOTMappingAdapter", {}, 1e-8),
    "MMD-LS": (MMDLSMapping(gamma=1.0, max_iter=20), "MMDLSConSMappingAdapter",
               {"gamma": 1.0, "max_iter": 20}, None),
}


@pytest.mark.skada
@pytest.mark.parametrize(
    "name",
    # skada's MMD-LS runs torch autograd on dense kernels: slow on a busy machine.
    [pytest.param(n, marks=pytest.mark.slow) if n == "MMD-LS" else n for n in ALL],
)
@pytest.mark.parametrize("label", ["binary", "multiclass"])
def test_agrees_with_skada(name, label):
    skada = import_skada()
    if name == "MMD-LS":
        pytest.importorskip("torch")
    ds = make_shifted_blobs("conditional", n_samples_source=200, n_samples_target=200,
                            label=label, random_state=1)
    X, y, sd, yt = ds.pack("source", "target", return_target_labels=True)
    t = sd < 0
    ours, skada_name, skada_params, tol = SKADA_CASES[name]
    ours = clone(ours)
    acc = _target_acc(ours, (X, y, sd, yt))
    with skada_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(skada, skada_name)(**skada_params)
        pipe = skada.make_da_pipeline(theirs, LogisticRegression()).fit(X, y, sample_domain=sd)
        acc_skada = (pipe.predict(X[t], sample_domain=sd[t]) == yt[t]).mean()
        X_skada = clone(theirs).fit_transform(X, y, sample_domain=sd)
    assert abs(acc - acc_skada) <= 0.02, (acc, acc_skada)
    if tol is not None:
        fitted = clone(ours)
        Xa, _ = fitted.fit_adapt(X, y, sd)
        s = sd >= 0
        np.testing.assert_allclose(Xa[s], X_skada[s], atol=tol)
        if name == "CORAL":
            np.testing.assert_allclose(Xa[~s], X_skada[~s], atol=tol)


@pytest.mark.slow
def test_minibatch_path_scales_to_20k_samples():
    # 20,000 + 20,000 rows: the exact plan alone would need 3.2 GB; the automatic
    # minibatch path keeps every matrix at batch_size^2.
    import tracemalloc

    rng = np.random.default_rng(0)
    n, d = 20_000, 10
    X = np.vstack([rng.normal(size=(n, d)), rng.normal(size=(n, d)) * 1.5 + 1.0])
    y = np.r_[rng.integers(0, 3, n), -np.ones(n, dtype=int)]
    sd = np.r_[np.ones(n, dtype=int), -2 * np.ones(n, dtype=int)]
    for ad in (OTMapping(random_state=0), EntropicOTMapping(random_state=0),
               MMDLSMapping(max_iter=5, random_state=0)):
        tracemalloc.start()
        Xa, _ = ad.fit_adapt(X, y, sd)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert ad.approx_ and np.all(np.isfinite(Xa))
        assert peak < 1.5e9, (type(ad).__name__, peak)


def test_every_method_class_is_importable_from_shiftlab_methods():
    import shiftlab.methods as methods
    from shiftlab.methods.registry import list_methods

    registered = {s.cls.__name__: s.cls for s in list_methods()}
    assert set(registered) == {n for names in methods.METHOD_CLASSES.values() for n in names}
    for name, cls in registered.items():
        assert getattr(methods, name) is cls and name in methods.__all__
    from shiftlab.methods import CORAL, KMM  # noqa: F401
    with pytest.raises(AttributeError):
        methods.NotAMethod  # noqa: B018


# ------------------------------------------------- fast linear algebra (issue #19)
def _old_sym_pow(C, *powers):
    """The formula CORAL and LinOT used before issue #19: one ``scipy.linalg.eigh``
    (MRRR) per matrix function, eigenvalues floored at 1e-12 of the largest."""
    from scipy.linalg import eigh

    w, V = eigh(C)
    w = np.maximum(w, max(float(w.max()), 0.0) * 1e-12 + np.finfo(np.float64).tiny)
    out = [(V * w**p) @ V.T for p in powers]
    return out[0] if len(out) == 1 else out


def _old_linear_ot(cov_s, cov_t):
    s_half, s_ihalf = _old_sym_pow(cov_s, 0.5, -0.5)
    A = s_ihalf @ _old_sym_pow(s_half @ cov_t @ s_half, 0.5) @ s_ihalf
    return 0.5 * (A + A.T)


def _random_linear_task(seed, n=300, d=12):
    rng = np.random.default_rng(seed)
    Xs = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    Xt = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    X = np.vstack([Xs, Xt])
    y = np.r_[rng.integers(0, 3, n), -np.ones(n, dtype=int)]
    sd = np.r_[np.ones(n, dtype=int), -np.ones(n, dtype=int)]
    return X, y, sd


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("reg", ["auto", None, 0.3])
def test_coral_map_equals_the_previous_formula(seed, reg):
    X, y, sd = _random_linear_task(seed)
    ad = CORAL(reg=reg)
    Xa = ad.fit_transform(X, y, sd)
    A_old = _old_sym_pow(ad.cov_source_, -0.5) @ _old_sym_pow(ad.cov_target_, 0.5)
    np.testing.assert_allclose(ad.A_, A_old, rtol=0, atol=1e-8 * np.abs(A_old).max())
    s = sd >= 0
    np.testing.assert_allclose(Xa[s], (X[s] - X[s].mean(0)) @ A_old, rtol=0, atol=1e-8)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("reg", [1e-8, 0.1, 10.0, 0.0])  # 0: the eigendecomposition path
@pytest.mark.parametrize("bias", [True, False])
def test_linear_ot_map_equals_the_previous_formula(seed, reg, bias, monkeypatch):
    from shiftlab.methods.mapping import _common

    calls = []
    monkeypatch.setattr(_common, "cholesky",
                        lambda *a, **k: calls.append(1) or cholesky(*a, **k))
    X, y, sd = _random_linear_task(seed)
    ad = LinearOTMapping(reg=reg, bias=bias)
    Xa = ad.fit_transform(X, y, sd)
    assert bool(calls) == (reg > 0)  # the Cholesky form, or two eigendecompositions
    A_old = _old_linear_ot(ad.cov_source_, ad.cov_target_)
    np.testing.assert_allclose(ad.A_, A_old, rtol=0, atol=1e-8 * np.abs(A_old).max())
    s = sd >= 0
    b_old = ad.mean_target_ - ad.mean_source_ @ A_old
    np.testing.assert_allclose(Xa[s], X[s] @ A_old + b_old, rtol=0, atol=1e-8)


def test_side_by_side_dense_jobs_equal_sequential_ones():
    from threadpoolctl import threadpool_limits

    from shiftlab.methods.mapping import _dense_jobs, _side_by_side_workers, _sym_pow

    rng = np.random.default_rng(0)
    mats = [(lambda Z: Z.T @ Z / 50)(rng.normal(size=(50, 40))) for _ in range(3)]
    jobs = [lambda C=C, p=p: _sym_pow(C, p) for C, p in zip(mats, (0.5, -0.5, 1.0),
                                                              strict=True)]
    with threadpool_limits(limits=2, user_api="blas"):  # two BLAS threads: two workers
        if _side_by_side_workers() != 2:
            pytest.skip("BLAS is not OpenBLAS with pthreads: no side-by-side jobs")
        together = _dense_jobs(40, *jobs)
    with threadpool_limits(limits=1, user_api="blas"):
        assert _side_by_side_workers() == 1  # e.g. in a joblib worker: one at a time
        apart = [job() for job in jobs]
    for a, b in zip(together, apart, strict=True):
        np.testing.assert_array_equal(a, b)
