"""Tests of the reweighting adapters, the kernel helpers and the baselines."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import rbf_kernel as sk_rbf_kernel
from sklearn.neighbors import KernelDensity
from threadpoolctl import threadpool_limits

from shiftlab.data.simulate import make_shifted_blobs, make_shifted_gaussians
from shiftlab.exceptions import DataValidationError
from shiftlab.methods import get_method, list_methods, make_da, make_da_pipeline
from shiftlab.methods._kernels import (
    gaussian_kde_logpdf,
    kernel_diagonal,
    kernel_matmul,
    kernel_row_means,
    make_feature_map,
    median_heuristic_gamma,
    rbf_kernel,
    resolve_gamma,
    sq_euclidean,
)
from shiftlab.methods.baselines import SourceOnly, TargetOnly, fit_target_only
from shiftlab.methods.reweight import (
    KLIEP,
    KMM,
    DensityReweight,
    DiscriminatorReweight,
    GaussianReweight,
    MMDTarS,
    NearestNeighborReweight,
)
from shiftlab.methods.reweight._base import _normalize_weights
from shiftlab.methods.reweight._kernel import _box_sum_qp


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small problems run fastest (and steadiest on a busy 2-core runner) single-threaded."""
    with threadpool_limits(limits=1):
        yield


COVARIATE = [
    "DensityReweight",
    "GaussianReweight",
    "DiscriminatorReweight",
    "KLIEP",
    "KMM",
    "NearestNeighborReweight",
]
ALL = [*COVARIATE, "MMDTarS"]


def _pack(ds):
    return ds.pack("source", "target", return_target_labels=True)


@pytest.fixture(scope="module")
def covariate_tasks():
    return [_pack(make_shifted_blobs("covariate", n_samples_source=300, n_samples_target=300,
                                     random_state=seed)) for seed in (0, 1)]


@pytest.fixture(scope="module")
def target_tasks():
    return [_pack(make_shifted_blobs("target", n_samples_source=300, n_samples_target=300,
                                     random_state=seed)) for seed in (0, 1)]


@pytest.fixture(scope="module")
def small_task():
    """A tiny multi-feature task for contract / leakage tests."""
    return _pack(make_shifted_gaussians("covariate", n_features=5, n_classes=3,
                                        n_samples_source=120, n_samples_target=100,
                                        random_state=3))


def _target_accuracy(model, X, sd, y_true):
    tgt = sd < 0
    return float((model.predict(X[tgt]) == y_true[tgt]).mean())


def _mean_accuracy(name, tasks, **params):
    return np.mean([_target_accuracy(make_da(name, **params).fit(X, y, sd), X, sd, yt)
                    for X, y, sd, yt in tasks])


# --------------------------------------------------------------------------- registry
def test_registry_entries():
    names = {s.name for s in list_methods()}
    assert {*ALL, "SourceOnly"} <= names
    assert "TargetOnly" not in names  # the oracle is not a method
    for name in ALL:
        spec = get_method(name)
        assert spec.family == "reweighting"
        params = spec.cls().get_params()
        assert set(spec.grid) <= set(params)
        assert spec.reference and spec.complexity and spec.skada_name
    assert get_method("SourceOnly").family == "baseline"
    assert len(get_method("KMM").grid["gamma"]) == 9
    assert len(get_method("KLIEP").grid["gamma"]) == 10
    assert len(get_method("DensityReweight").grid["bandwidth"]) == 7


# ----------------------------------------------------------------- accuracy on shifts
@pytest.mark.parametrize("name", COVARIATE)
def test_beats_source_only_on_covariate_shift(name, covariate_tasks):
    src = _mean_accuracy("SourceOnly", covariate_tasks)
    assert _mean_accuracy(name, covariate_tasks) >= src


def test_kmm_approx_beats_source_only(covariate_tasks):
    src = _mean_accuracy("SourceOnly", covariate_tasks)
    acc = _mean_accuracy("KMM", covariate_tasks, approx=True, n_components=100,
                         random_state=0)
    assert acc >= src


def test_mmdtars_on_target_shift(target_tasks):
    src = _mean_accuracy("SourceOnly", target_tasks)
    assert _mean_accuracy("MMDTarS", target_tasks) >= src + 0.03
    for X, y, sd, yt in target_tasks:
        ad = MMDTarS().fit(X, y, sd)
        true_prior = np.bincount(yt[sd < 0]) / np.sum(sd < 0)
        assert np.abs(ad.target_prior_ - true_prior).sum() < 0.1
        assert np.isclose(ad.target_prior_.sum(), 1.0)


# Target-label leakage, caller-array mutation, determinism, pickling: every registered
# method goes through the contract suite, tests/test_common.py.


# ----------------------------------------------------------------- sklearn contract
@pytest.mark.parametrize("name", [*ALL, "SourceOnly"])
def test_sklearn_contract(name, small_task):
    X, y, sd, _ = small_task
    cls = get_method(name).cls
    est = cls()
    params = est.get_params()
    assert est.set_params(**params) is est
    assert clone(est).get_params() == params
    assert est.fit(X, y, sd) is est
    assert est.get_params() == params  # fit does not touch the parameters
    assert est.n_features_in_ == X.shape[1]
    assert est.source_pooling_ == "pooled"
    fresh = clone(est)
    assert not hasattr(fresh, "n_features_in_")
    np.testing.assert_array_equal(est.transform(X[:5]), X[:5])  # reweighting: identity


def test_kliep_gamma_list_is_not_mutated(small_task):
    X, y, sd, _ = small_task
    gammas = [0.01, "auto", "scale"]
    ad = KLIEP(gamma=gammas, cv=3, random_state=0).fit(X, y, sd)
    assert ad.gamma == [0.01, "auto", "scale"] and ad.gamma is gammas
    assert set(ad.cv_scores_) == {0.01, "auto", "scale"}
    best = max(ad.cv_scores_, key=ad.cv_scores_.get)
    assert ad.gamma_ == resolve_gamma(best, X)


@pytest.mark.parametrize(
    "est",
    [
        DensityReweight(bandwidth=-1.0),
        DensityReweight(bandwidth="wide"),
        GaussianReweight(reg=2.0),
        KLIEP(n_centers=0),
        KMM(B=0.0),
        KMM(approx="sometimes"),
        NearestNeighborReweight(n_neighbors=0),
        MMDTarS(gamma=-1.0),
        KMM(multi_source="each"),
        KMM(B=0.5, eps=0.1),  # infeasible: weights <= 0.5 cannot sum to 0.9 n
    ],
)
def test_invalid_parameters_raise_at_fit(est, small_task):
    X, y, sd, _ = small_task
    with pytest.raises(ValueError):
        est.fit(X, y, sd)


def test_mmdtars_rejects_regression():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    y = np.r_[rng.standard_normal(20), np.full(20, np.nan)]
    with pytest.raises(DataValidationError, match="class labels"):
        MMDTarS().fit(X, y)


def test_covariate_methods_accept_regression_targets():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (60, 2)), rng.normal(0.5, 1, (60, 2))]
    y = np.r_[X[:60, 0] + 0.1 * rng.standard_normal(60), np.full(60, np.nan)]
    _, w = KMM().fit_adapt(X, y)
    assert w.shape == (120,) and np.all(w[60:] == 0)


# ------------------------------------------------------------------- weight semantics
@pytest.mark.parametrize("name", ALL)
def test_weights_are_mean_one_on_source_and_zero_on_target(name, small_task):
    X, y, sd, _ = small_task
    ad = get_method(name).cls()
    _, w = ad.fit_adapt(X, y, sd)
    src = sd >= 0
    assert w.shape == (X.shape[0],)
    assert np.all(w >= 0) and np.all(np.isfinite(w))
    assert np.all(w[~src] == 0)
    assert np.isclose(w[src].mean(), 1.0)
    np.testing.assert_array_equal(ad.sample_weight_, w)


def test_per_domain_multi_source():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (50, 2)), rng.normal(1, 1, (70, 2)), rng.normal(0.5, 1, (60, 2))]
    y = np.r_[rng.integers(0, 2, 120), np.full(60, -1)]
    sd = np.r_[np.full(50, 1), np.full(70, 2), np.full(60, -3)]
    pooled = KLIEP(random_state=0).fit(X, y, sd)
    assert pooled.source_pooling_ == "pooled" and set(pooled.domain_states_) == {"pooled"}
    ad = KLIEP(multi_source="per_domain", random_state=0)
    _, w = ad.fit_adapt(X, y, sd)
    assert ad.source_pooling_ == "per_domain"
    assert set(ad.domain_states_) == {1, 2}
    assert np.isclose(w[:50].mean(), 1.0) and np.isclose(w[50:120].mean(), 1.0)
    assert not hasattr(ad, "alpha_")  # attributes live per domain
    pooled.set_params(multi_source="per_domain").fit(X, y, sd)
    assert not hasattr(pooled, "alpha_")  # no stale attribute of the pooled fit
    r1 = ad.density_ratio(X[:5], source_domain=1)
    r2 = ad.density_ratio(X[:5], source_domain=2)
    assert r1.shape == (5,) and not np.allclose(r1, r2)
    with pytest.raises(ValueError, match="source_domain"):
        ad.density_ratio(X[:5])


def test_gaussian_reweight_recovers_the_true_ratio():
    rng = np.random.default_rng(0)
    Xs = rng.normal(0.0, 1.0, (3000, 2))
    Xt = rng.normal(0.5, 0.8, (3000, 2))
    X = np.r_[Xs, Xt]
    y = np.r_[rng.integers(0, 2, 3000), np.full(3000, -1)]
    ad = GaussianReweight(reg=None).fit(X, y)
    grid = rng.normal(0.2, 0.7, (200, 2))
    true = np.exp(-0.5 * ((grid - 0.5) ** 2).sum(1) / 0.64) / 0.64 / np.exp(
        -0.5 * (grid**2).sum(1))
    est = ad.density_ratio(grid)
    assert np.median(np.abs(np.log(est / true))) < 0.1


def test_density_ratio_of_kde_and_discriminator_agree_in_ranking():
    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(0.0, 1.0, (400, 1)), rng.normal(1.0, 1.0, (400, 1))]
    y = np.r_[rng.integers(0, 2, 400), np.full(400, -1)]
    grid = np.linspace(-2, 3, 30)[:, None]
    true = np.exp(grid[:, 0] - 0.5)  # N(1,1) / N(0,1)
    for ad in (DensityReweight(bandwidth="scott"), DiscriminatorReweight(),
               DiscriminatorReweight(cv=3, random_state=0), KLIEP(gamma=0.5, random_state=0)):
        est = ad.fit(X, y).density_ratio(grid)
        assert np.corrcoef(np.log(est), np.log(true))[0, 1] > 0.95, type(ad).__name__


def test_methods_without_ratio_say_so(small_task):
    X, y, sd, _ = small_task
    with pytest.raises(AttributeError, match="out-of-sample"):
        KMM().fit(X, y, sd).density_ratio(X)


def test_nearest_neighbor_counts():
    Xs = np.array([[0.0], [10.0], [20.0]])
    Xt = np.array([[0.1], [0.2], [9.0], [30.0]])
    X = np.r_[Xs, Xt]
    y = np.r_[0, 1, 0, -1, -1, -1, -1]
    ad = NearestNeighborReweight()
    _, w = ad.fit_adapt(X, y)
    np.testing.assert_array_equal(ad.neighbor_counts_, [2, 1, 1])
    np.testing.assert_allclose(w[:3], np.array([2, 1, 1]) * 3 / 4)
    _, w = NearestNeighborReweight(laplace_smoothing=True).fit_adapt(X, y)
    np.testing.assert_allclose(w[:3], np.array([3, 2, 2]) * 3 / 7)
    ad = NearestNeighborReweight(n_neighbors=2).fit(X, y)
    assert np.isclose(ad.neighbor_counts_.sum(), 4.0)


def _neighbor_counts(Xs, Xt, **params):
    X = np.r_[Xs, Xt]
    y = np.r_[np.arange(len(Xs)) % 2, -np.ones(len(Xt), dtype=int)]
    return NearestNeighborReweight(**params).fit(X, y).neighbor_counts_


def test_nearest_neighbor_ties_are_shared():
    # Equally near to both source rows: half each.
    np.testing.assert_allclose(_neighbor_counts([[0.0], [2.0]], [[1.0]]), [0.5, 0.5])
    # k = 2: the nearest row gets 1/2, the two tied at the 2nd distance share the rest.
    np.testing.assert_allclose(
        _neighbor_counts([[0.0], [1.0], [-1.0]], [[0.0]], n_neighbors=2), [0.5, 0.25, 0.25])
    # Exact duplicates of a source row are tied too.
    np.testing.assert_allclose(
        _neighbor_counts([[0.0], [0.0], [5.0]], [[0.1], [4.0]]), [0.5, 0.5, 1.0])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 4))
def test_nearest_neighbor_weights_do_not_depend_on_source_order(seed, k):
    """On integer data (ties everywhere), permuting the source rows permutes the counts."""
    rng = np.random.default_rng(seed)
    Xs = rng.integers(0, 3, size=(30, 3)).astype(float)
    Xt = rng.integers(0, 3, size=(20, 3)).astype(float)
    counts = _neighbor_counts(Xs, Xt, n_neighbors=k)
    perm = rng.permutation(len(Xs))
    np.testing.assert_allclose(_neighbor_counts(Xs[perm], Xt, n_neighbors=k), counts[perm],
                               atol=1e-12)
    assert np.isclose(counts.sum(), len(Xt))


@pytest.mark.data
def test_nearest_neighbor_ties_on_one_hot_mushrooms():
    """On one-hot Mushrooms most target rows have several nearest source rows; each
    target row's unit is split equally among them (checked against all distances)."""
    from sklearn.metrics import pairwise_distances

    from shiftlab.data import load_dataset

    ds = load_dataset("mushrooms")
    Xs, _ = ds.domains["enlarging"]
    Xt, _ = ds.domains["tapering"]
    counts = _neighbor_counts(Xs, Xt)
    dist = pairwise_distances(Xt, Xs)
    tied = np.isclose(dist, dist.min(axis=1, keepdims=True))
    assert np.mean(tied.sum(axis=1) > 1) > 0.5
    np.testing.assert_allclose(counts, (tied / tied.sum(axis=1, keepdims=True)).sum(axis=0),
                               atol=1e-9)


def test_degenerate_weights_fall_back_to_uniform_with_warning():
    with pytest.warns(RuntimeWarning, match="uniform"):
        w = _normalize_weights(np.array([0.0, 0.0, np.nan]), "Test")
    np.testing.assert_array_equal(w, np.ones(3))
    np.testing.assert_allclose(_normalize_weights(np.array([1.0, 3.0, np.inf]), "Test"),
                               [0.75, 2.25, 0.0])


# ------------------------------------------------------------------- scalable paths
def test_kmm_nystroem_matches_exact(covariate_tasks):
    X, y, sd, _ = covariate_tasks[0]
    exact = KMM(approx=False).fit(X, y, sd)
    approx = KMM(approx=True, n_components=300, random_state=0).fit(X, y, sd)
    assert not exact.approximated_ and approx.approximated_
    w_exact, w_approx = exact.sample_weight_[sd >= 0], approx.sample_weight_[sd >= 0]
    assert np.corrcoef(w_exact, w_approx)[0, 1] > 0.95
    # The diagonal correction keeps the weights spread like the exact solution's.
    assert np.sum(w_approx > 0) >= 0.5 * np.sum(w_exact > 0)
    auto = KMM(max_exact_samples=100, n_components=50, random_state=0).fit(X, y, sd)
    assert auto.approximated_


def test_mmdtars_and_density_approximations(target_tasks):
    X, y, sd, _ = target_tasks[0]
    exact = MMDTarS(approx=False).fit(X, y, sd)
    approx = MMDTarS(approx=True, n_components=200, random_state=0).fit(X, y, sd)
    assert approx.approximated_
    np.testing.assert_allclose(approx.target_prior_, exact.target_prior_, atol=0.05)
    dens = DensityReweight(max_exact_samples=100, random_state=0).fit(X, y, sd)
    assert dens.X_source_ref_.shape[0] == 100 and dens.X_target_ref_.shape[0] == 100
    full = DensityReweight(approx=False).fit(X, y, sd)
    assert full.X_source_ref_.shape[0] == np.sum(sd >= 0)


@pytest.mark.slow
def test_large_problem_runs_in_bounded_memory():
    """20,000 + 20,000 rows: every kernel method picks its scalable form and finishes."""
    ds = make_shifted_gaussians("covariate", n_features=20, n_samples_source=20000,
                                n_samples_target=20000, random_state=0)
    X, y, sd = ds.pack("source", "target")
    for ad in (KMM(random_state=0), MMDTarS(random_state=0),
               DensityReweight(random_state=0), KLIEP(random_state=0),
               NearestNeighborReweight()):
        _, w = ad.fit_adapt(X, y, sd)
        assert np.isclose(w[sd >= 0].mean(), 1.0)
    assert KMM(random_state=0).fit(X, y, sd).approximated_


# --------------------------------------------------------------------------- solvers
@pytest.mark.parametrize("band", ["inactive", "active_high", "active_low"])
@pytest.mark.parametrize("n", [8, 120])
def test_box_sum_qp_matches_a_generic_solver(band, n):
    rng = np.random.default_rng(n)
    F = rng.standard_normal((n, n + 3))
    H = F @ F.T / n + 0.05 * np.eye(n)
    c = rng.standard_normal(n)
    lo, hi = {"inactive": (-1e9, 1e9), "active_high": (0.0, 0.5),
              "active_low": (0.6 * n, 2 * n)}[band]
    x, _ = _box_sum_qp(lambda v: H @ v, c, 3.0, np.ones(n), lo, hi, x0=np.ones(n),
                       tol=1e-10, max_iter=5000)
    ref = minimize(lambda v: 0.5 * v @ H @ v + c @ v, np.full(n, 0.1 / n),
                   jac=lambda v: H @ v + c, method="SLSQP", bounds=[(0, 3.0)] * n,
                   constraints=[{"type": "ineq", "fun": lambda v: v.sum() - lo},
                                {"type": "ineq", "fun": lambda v: hi - v.sum()}],
                   options={"maxiter": 1000, "ftol": 1e-14})

    def obj(v):
        return 0.5 * v @ H @ v + c @ v

    assert np.all(x >= -1e-12) and np.all(x <= 3.0 + 1e-12)
    assert lo - 1e-6 <= x.sum() <= hi + 1e-6
    assert obj(x) <= obj(ref.x) + 1e-6 * max(1.0, abs(obj(ref.x)))


# --------------------------------------------------------------------------- kernels
def test_kernel_helpers_match_references():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((70, 6)) + 50.0  # far from the origin: cancellation check
    Y = rng.standard_normal((40, 6)) + 50.0
    np.testing.assert_allclose(sq_euclidean(X, Y), ((X[:, None] - Y[None]) ** 2).sum(-1),
                               atol=1e-9)
    K = sk_rbf_kernel(X, Y, gamma=0.1)
    np.testing.assert_allclose(rbf_kernel(X, Y, 0.1), K, atol=1e-12)
    np.testing.assert_allclose(rbf_kernel(X, Y, 0.1, dtype=np.float32), K, atol=1e-6)
    V = rng.standard_normal((40, 3))
    np.testing.assert_allclose(kernel_matmul(X, Y, V, gamma=0.1, block_bytes=8 * 40 * 7),
                               K @ V, atol=1e-10)
    np.testing.assert_allclose(kernel_row_means(X, Y, gamma=0.1), K.mean(1), atol=1e-12)
    np.testing.assert_array_equal(kernel_diagonal(X, gamma=0.1), np.ones(70))
    np.testing.assert_allclose(kernel_diagonal(X, kernel="poly", gamma=0.1, degree=2),
                               (0.1 * (X * X).sum(1) + 1) ** 2)
    np.testing.assert_allclose(
        kernel_matmul(X, Y, V, kernel="laplacian", gamma=0.1),
        np.exp(-0.1 * np.abs(X[:, None] - Y[None]).sum(-1)) @ V, atol=1e-10)


@pytest.mark.parametrize("h", [0.5, 2.0])
def test_gaussian_kde_matches_sklearn(h):
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((30, 3)), rng.standard_normal((50, 3))
    ref = KernelDensity(bandwidth=h).fit(Y).score_samples(X)
    np.testing.assert_allclose(gaussian_kde_logpdf(X, Y, h), ref, atol=1e-8)
    np.testing.assert_allclose(gaussian_kde_logpdf(X, Y, h, dtype=np.float32), ref, atol=1e-5)


def test_gaussian_kde_is_exact_for_tiny_bandwidth():
    # sklearn's tree-based KDE is far off here; the blocked log-domain sum is exact.
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((10, 20)), rng.standard_normal((60, 20))
    h = 0.01
    D = ((X[:, None] - Y[None]) ** 2).sum(-1)
    exact = logsumexp(-D / (2 * h * h), axis=1) - np.log(60) - 10 * np.log(2 * np.pi * h * h)
    np.testing.assert_allclose(gaussian_kde_logpdf(X, Y, h), exact, rtol=1e-10)


def test_gamma_rules_and_feature_maps():
    rng = np.random.default_rng(0)
    X = 3.0 * rng.standard_normal((300, 4))
    assert resolve_gamma(None, X) == resolve_gamma("auto", X) == 0.25
    assert np.isclose(resolve_gamma("scale", X), 1 / (4 * X.var()))
    assert resolve_gamma(0.3, X) == 0.3
    med = median_heuristic_gamma(X, random_state=0)
    assert np.isclose(resolve_gamma("median", X, random_state=0), med)
    assert 1 / (4 * 2 * 9 * 2) < med < 1 / (4 * 2 * 9 / 2)
    for bad in ("wide", -1.0, True):
        with pytest.raises(ValueError):
            resolve_gamma(bad, X)
    K = sk_rbf_kernel(X, gamma=0.02)
    for method, n_comp, tol in (("nystroem", 300, 1e-4), ("rff", 3000, 0.15)):
        fmap = make_feature_map(X, method=method, gamma=0.02, n_components=n_comp,
                                random_state=0)
        Phi = fmap.transform(X)
        assert np.abs(Phi @ Phi.T - K).max() < tol, method
    with pytest.raises(ValueError):
        make_feature_map(X, method="rff", kernel="laplacian", gamma=1.0)


# ------------------------------------------------------------------------- baselines
def test_source_only_equals_plain_estimator(small_task):
    X, y, sd, _ = small_task
    src = sd >= 0
    ours = make_da("SourceOnly").fit(X, y, sd).predict_proba(X)
    plain = LogisticRegression().fit(X[src], y[src]).predict_proba(X)
    np.testing.assert_array_equal(ours, plain)
    X_out, w = SourceOnly().fit_adapt(X, y, sd)
    assert w is None and np.array_equal(X_out, X)


def test_target_only_oracle(covariate_tasks):
    X, y, sd, y_true = covariate_tasks[0]
    tgt = sd < 0
    with pytest.raises(TypeError):
        TargetOnly().fit(X, y, sd)  # target labels must be passed by name
    oracle = TargetOnly().fit(X, y, sd, oracle_target_labels=y_true)
    same = TargetOnly().fit(X, y, sd, oracle_target_labels=y_true[tgt])
    np.testing.assert_array_equal(oracle.predict(X), same.predict(X))
    direct = fit_target_only(LogisticRegression(), X[tgt], y_true[tgt])
    np.testing.assert_array_equal(oracle.predict(X), direct.predict(X))
    src_acc = _target_accuracy(make_da("SourceOnly").fit(X, y, sd), X, sd, y_true)
    assert oracle.score(X[tgt], y_true[tgt]) >= src_acc
    assert oracle.predict_proba(X[:3]).shape == (3, 2)
    with pytest.raises(DataValidationError, match="masked"):
        TargetOnly().fit(X, y, sd, oracle_target_labels=y)  # masked labels are no oracle
    with pytest.raises(DataValidationError, match="shape"):
        TargetOnly().fit(X, y, sd, oracle_target_labels=y_true[:5])


# ------------------------------------------------------------- differential vs skada
def _skada_weights(skada, adapter, X, y, sd):
    from _skada import skada_context

    with skada_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, params = adapter.fit_transform(X, y, sample_domain=sd)
    return params["sample_weight"]


def _skada_accuracy(skada, adapter, X, y, sd, y_true):
    from _skada import skada_context

    with skada_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = skada.make_da_pipeline(
            adapter, LogisticRegression().set_fit_request(sample_weight=True))
        pipe.fit(X, y, sample_domain=sd)
        pred = pipe.predict(X[sd < 0])
    return float((pred == y_true[sd < 0]).mean())


def _skada_adapter(skada, name, **extra):
    spec = get_method(name)
    return getattr(skada, spec.skada_name)(**{**spec.skada_params, **extra})


def _mean(a):
    return float(np.mean(a))


@pytest.fixture(scope="module")
def skada_mod():
    from _skada import import_skada

    return import_skada()


@pytest.mark.skada
@pytest.mark.parametrize("name", ["DensityReweight", "GaussianReweight",
                                  "NearestNeighborReweight"])
def test_same_weights_as_skada(name, skada_mod, covariate_tasks):
    """Same estimator: same source weights (after the mean-one rescaling)."""
    for X, y, sd, _ in covariate_tasks:
        src = sd >= 0
        ours = get_method(name).cls().fit_adapt(X, y, sd)[1][src]
        theirs = _skada_weights(skada_mod, _skada_adapter(skada_mod, name), X, y, sd)[src]
        np.testing.assert_allclose(ours, theirs / theirs.mean(), rtol=1e-5, atol=1e-8)


@pytest.mark.skada
@pytest.mark.parametrize(
    ("name", "shift"),
    [
        ("DensityReweight", "covariate"),
        ("DensityReweight", "target"),
        ("GaussianReweight", "covariate"),
        ("GaussianReweight", "target"),
        ("NearestNeighborReweight", "covariate"),
        ("NearestNeighborReweight", "target"),
        ("MMDTarS", "covariate"),
        ("MMDTarS", "target"),
        # KMM on target shift: see test_kmm_solves_the_programme_at_least_as_well_as_skada.
        ("KMM", "covariate"),
    ],
)
def test_same_accuracy_as_skada(name, shift, skada_mod, covariate_tasks, target_tasks):
    tasks = covariate_tasks if shift == "covariate" else target_tasks
    ours = _mean([_target_accuracy(make_da(name).fit(X, y, sd), X, sd, yt)
                  for X, y, sd, yt in tasks])
    theirs = _mean([_skada_accuracy(skada_mod, _skada_adapter(skada_mod, name), X, y, sd, yt)
                    for X, y, sd, yt in tasks])
    assert abs(ours - theirs) <= 0.02


@pytest.mark.skada
@pytest.mark.parametrize("shift", ["covariate", "target"])
def test_kmm_solves_the_programme_at_least_as_well_as_skada(shift, skada_mod, covariate_tasks,
                                                            target_tasks):
    """Both libraries solve the same QP; shiftlab's optimum is at least as good.

    Why no accuracy test on target shift: the KMM programme is nearly flat there (the two
    objective values agree to about 3e-4 relative, shiftlab's being lower on every seed
    tried), but its near-optimal weight vectors are many, and skada's Frank-Wolfe
    iterations stopped after 1000 steps from uniform weights land on a smoother one than
    the converged L-BFGS-B solution. The target accuracy then differs by up to 0.03 in
    either direction from seed to seed (about 0.015 in skada's favour on average over
    four seeds), which measures where each solver stops on a plateau of a method that
    is not designed for label shift, not a defect of either implementation. On covariate
    shift, KMM's design case, accuracies agree (test_same_accuracy_as_skada).
    """
    tasks = covariate_tasks if shift == "covariate" else target_tasks
    for X, y, sd, _ in tasks:
        src = sd >= 0
        Xs, Xt = X[src], X[~src]
        ours = KMM().fit(X, y, sd).beta_
        theirs = _skada_weights(skada_mod, _skada_adapter(skada_mod, "KMM"), X, y, sd)[src]
        gamma = 1.0 / X.shape[1]
        K = sk_rbf_kernel(Xs, gamma=gamma)
        kappa = len(Xs) * sk_rbf_kernel(Xs, Xt, gamma=gamma).mean(1)

        def objective(b, K=K, kappa=kappa):
            return 0.5 * b @ K @ b - kappa @ b

        assert objective(ours) <= objective(theirs) + 1e-6 * abs(objective(theirs))


@pytest.mark.skada
def test_mmdtars_class_weights_match_skada(skada_mod, target_tasks):
    """skada's m x m label-kernel operator reduces to class indicators (see MMDTarS)."""
    for X, y, sd, _ in target_tasks:
        src = sd >= 0
        ours = MMDTarS().fit(X, y, sd)
        theirs = _skada_weights(skada_mod, _skada_adapter(skada_mod, "MMDTarS"), X, y, sd)[src]
        ys = y[src]
        theirs_class = np.array([theirs[ys == c].mean() for c in ours.classes_])
        np.testing.assert_allclose(ours.class_weights_, theirs_class, rtol=0.02, atol=0.02)


class _SwapDomainProba(LogisticRegression):
    """LogisticRegression whose two predict_proba columns are swapped.

    skada 0.6.0's DiscriminatorReweightAdapter weights a source row by
    ``P(source | x) / P(target | x)``: the inverse of the density ratio
    ``p_t(x) / p_s(x)`` that importance weighting needs (Shimodaira, 2000). Swapping the
    columns makes skada compute the correct ratio, so the two implementations can be
    compared on equal terms.
    """

    def predict_proba(self, X):
        return super().predict_proba(X)[:, ::-1]


@pytest.mark.skada
def test_discriminator_matches_skada_once_its_inverted_ratio_is_fixed(skada_mod,
                                                                      covariate_tasks):
    for X, y, sd, _ in covariate_tasks:
        src = sd >= 0
        ours = DiscriminatorReweight().fit_adapt(X, y, sd)[1][src]
        fixed = skada_mod.DiscriminatorReweightAdapter(domain_classifier=_SwapDomainProba())
        theirs = _skada_weights(skada_mod, fixed, X, y, sd)[src]
        np.testing.assert_allclose(ours, theirs / theirs.mean(), rtol=1e-6)
    # With skada's own (inverted) weights, accuracy drops below source-only.
    ours_acc = _mean_accuracy("DiscriminatorReweight", covariate_tasks)
    skada_acc = _mean([_skada_accuracy(skada_mod, _skada_adapter(skada_mod,
                                                                 "DiscriminatorReweight"),
                                       X, y, sd, yt) for X, y, sd, yt in covariate_tasks])
    assert ours_acc >= skada_acc - 0.02


@pytest.mark.skada
def test_kliep_objective_beats_skada(skada_mod, covariate_tasks):
    """skada 0.6.0's KLIEP takes gradient steps of size machine-epsilon, so its weights
    stay at their (normalised) initialisation; shiftlab solves the programme. Hence no
    accuracy-equality test: shiftlab's target log-likelihood (the KLIEP objective, with
    the same normalisation constraint) must be at least skada's, and accuracy no worse.
    """
    def loglik(Xs, Xt, centers, alpha, gamma):
        w_s = sk_rbf_kernel(Xs, centers, gamma=gamma) @ alpha
        w_t = sk_rbf_kernel(Xt, centers, gamma=gamma) @ alpha
        return np.mean(np.log(w_t / w_s.mean()))

    for X, y, sd, _ in covariate_tasks:
        src = sd >= 0
        ours = KLIEP(random_state=0).fit(X, y, sd)
        sk = _skada_adapter(skada_mod, "KLIEP", random_state=0)
        _skada_weights(skada_mod, sk, X, y, sd)
        assert np.isclose(ours.gamma_, sk.best_gamma_)
        assert loglik(X[src], X[~src], ours.centers_, ours.alpha_, ours.gamma_) >= loglik(
            X[src], X[~src], sk.centers_, sk.alpha_, sk.best_gamma_)
    ours_acc = _mean_accuracy("KLIEP", covariate_tasks)
    skada_acc = _mean([_skada_accuracy(skada_mod, _skada_adapter(skada_mod, "KLIEP"),
                                       X, y, sd, yt) for X, y, sd, yt in covariate_tasks])
    assert ours_acc >= skada_acc - 0.02


def test_pipeline_with_two_reweighting_steps_multiplies_weights(small_task):
    X, y, sd, _ = small_task
    pipe = make_da_pipeline(GaussianReweight(), NearestNeighborReweight(laplace_smoothing=True),
                            LogisticRegression()).fit(X, y, sd)
    assert pipe.predict(X).shape == (X.shape[0],)


def test_a_class_weighted_to_zero_stays_known_to_the_final_svc():
    """A target-shift weight of 0 for a whole class (MMDTarS on MNIST/USPS) made libsvm
    drop the class while classes_ kept it: SVC's decision_function failed at predict."""
    from sklearn.svm import SVC

    from shiftlab.methods.base import BaseAdapter, make_da_pipeline

    class ZeroClassTwo(BaseAdapter):
        produces_weights = True

        def _fit_transform(self, X, y, sample_domain):
            self.y_ = y
            return X

        def _transform(self, X, sample_domain):
            return X

        def _weights(self, X, sample_domain):
            return np.where(self.y_ == 2, 0.0, 1.0)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 3)) + np.repeat(np.arange(4), 60)[:, None]
    y = np.repeat(np.arange(4), 60)
    sd = np.where(np.arange(240) % 2 == 0, 1, -2)
    y = np.where(sd < 0, -1, y)
    pipe = make_da_pipeline(ZeroClassTwo(), SVC()).fit(X, y, sd)
    assert pipe.decision_function(X).shape == (240, 4)
    assert list(pipe.classes_) == [0, 1, 2, 3]


def test_mmdtars_says_when_its_target_prior_is_degenerate():
    """As BBSE and MLLS do: a class estimated absent from the target is named."""
    from shiftlab.exceptions import DegeneratePriorWarning
    from shiftlab.methods.reweight import MMDTarS

    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    ys = np.repeat([0, 1, 2], 100)
    yt = np.repeat([0, 1], 150)  # class 2 is absent from the target
    X = np.vstack([centers[ys], centers[yt]]) + 0.5 * rng.normal(size=(600, 2))
    y = np.concatenate([ys, np.full(300, -1)])
    sd = np.concatenate([np.ones(300, int), np.full(300, -2)])
    with pytest.warns(DegeneratePriorWarning, match="MMDTarS: the estimated target class"):
        MMDTarS(gamma=0.5).fit(X, y, sd)
