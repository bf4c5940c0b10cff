"""Shift simulators: each shift is really present, determinism, bad input, and agreement
with skada's generator and SKADA-Bench's published Train Src / Train Tgt numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sklearn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from _skada import import_skada
from shiftlab.data import (
    DomainDataset,
    make_multi_source,
    make_shifted_blobs,
    make_shifted_gaussians,
    make_shifted_regression,
)
from shiftlab.data.simulate import BLOBS_INVARIANT_DIRECTION, SHIFT_KINDS
from shiftlab.exceptions import DataValidationError

SKADA_NAMES = {
    "covariate": "covariate_shift",
    "target": "target_shift",
    "conditional": "conditional_shift",
    "subspace": "subspace",
}
# SKADA-Bench release 1.0.0, Simulated dataset (REFERENCE.md 3c): (Train Src, Train Tgt).
SKADA_BENCH_REFERENCE = {
    "covariate": (0.88, 0.92),
    "target": (0.85, 0.93),
    "conditional": (0.66, 0.82),
    "subspace": (0.19, 0.98),
}


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The models here are tiny; BLAS threads only add contention on a shared machine."""
    with threadpool_limits(1):
        yield


def _class_means(X, y, classes):
    return np.stack([X[y == k].mean(axis=0) for k in classes])


def _mean_se(X, y, classes):
    """Standard error of each class mean (per feature)."""
    return np.stack([X[y == k].std(axis=0) / np.sqrt((y == k).sum()) for k in classes])


def _mmd_permutation_pvalue(A, B, n_perm=100, seed=0):
    """Permutation p-value of the (biased) RBF-kernel MMD^2 two-sample statistic."""
    Z = np.vstack((A, B))
    sq = (Z**2).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2 * Z @ Z.T
    K = np.exp(-d2 / np.median(d2[d2 > 0]))
    n = A.shape[0]

    def stat(idx):
        a, b = idx[:n], idx[n:]
        return K[np.ix_(a, a)].mean() + K[np.ix_(b, b)].mean() - 2 * K[np.ix_(a, b)].mean()

    rng = np.random.default_rng(seed)
    observed = stat(np.arange(Z.shape[0]))
    null = [stat(rng.permutation(Z.shape[0])) for _ in range(n_perm)]
    return (1 + sum(v >= observed for v in null)) / (n_perm + 1)


# ------------------------------------------------------------------ API / provenance
@pytest.mark.parametrize("shift", SHIFT_KINDS)
def test_blobs_defaults_are_skada_bench_settings(shift):
    ds = make_shifted_blobs(shift, random_state=0)
    assert isinstance(ds, DomainDataset)
    assert ds.domain_names == ["source", "target"]
    size = 1200 if shift == "subspace" else 800
    assert ds.sizes() == {"source": size, "target": size}
    assert ds.n_features == 2
    assert set(np.unique(ds["source"][1])) == {0, 1}
    meta = ds.metadata
    assert meta["generator"].endswith("make_shifted_blobs")
    assert meta["seed"] == 0
    expected_noise = {"covariate": 0.6, "target": 0.8, "conditional": 0.8, "subspace": 0.4}
    assert meta["params"]["noise"] == [expected_noise[shift]] * 2
    assert meta["params"]["center_cov_shift"] == [-0.4, 3.0]
    json.dumps(meta)  # provenance must be storable


@pytest.mark.parametrize(
    "alias, canonical",
    [("covariate_shift", "covariate"), ("target_shift", "target"),
     ("conditional_shift", "conditional"), ("concept_drift", "conditional")],
)
def test_skada_shift_aliases(alias, canonical):
    a = make_shifted_blobs(alias, n_samples_source=50, n_samples_target=50, random_state=3)
    b = make_shifted_blobs(canonical, n_samples_source=50, n_samples_target=50, random_state=3)
    for name in ("source", "target"):
        np.testing.assert_array_equal(a[name][0], b[name][0])
    assert a.metadata["params"]["shift"] == canonical


@pytest.mark.parametrize(
    "make",
    [
        lambda rs, s: make_shifted_blobs(s, n_samples_source=60, n_samples_target=40,
                                         random_state=rs),
        lambda rs, s: make_shifted_gaussians(s, n_features=6, n_samples_source=60,
                                             n_samples_target=40, random_state=rs),
        lambda rs, s: make_shifted_regression(s, n_features=6, n_samples_source=60,
                                              n_samples_target=40, random_state=rs),
        lambda rs, s: make_multi_source(2, s, n_features=6, n_samples_source=30,
                                        n_samples_target=40, random_state=rs),
    ],
    ids=["blobs", "gaussians", "regression", "multi_source"],
)
@pytest.mark.parametrize("shift", SHIFT_KINDS)
def test_seeding_is_deterministic(make, shift):
    a, b, c = make(7, shift), make(7, shift), make(8, shift)
    g1, g2 = make(np.random.default_rng(7), shift), make(7, shift)
    for name in a.domain_names:
        np.testing.assert_array_equal(a[name][0], b[name][0])
        np.testing.assert_array_equal(a[name][1], b[name][1])
        # An int seed and a Generator built from it give the same data.
        np.testing.assert_array_equal(g1[name][0], g2[name][0])
    assert not np.array_equal(a["target"][0], c["target"][0])
    assert a.metadata == b.metadata and a.metadata["seed"] == 7
    json.dumps(a.metadata)  # provenance is plain JSON


def test_legacy_random_state_is_accepted_and_seeded():
    a = make_shifted_gaussians("target", n_features=4, n_samples_source=20,
                               n_samples_target=20, random_state=np.random.RandomState(5))
    b = make_shifted_gaussians("target", n_features=4, n_samples_source=20,
                               n_samples_target=20, random_state=np.random.RandomState(5))
    np.testing.assert_array_equal(a["source"][0], b["source"][0])
    assert a.metadata["seed"] == "<RandomState>"


def test_dataset_round_trips_through_save(tmp_path):
    ds = make_shifted_gaussians("conditional", n_features=5, n_samples_source=30,
                                n_samples_target=30, random_state=1)
    back = DomainDataset.load(ds.save(tmp_path / "sim.npz"))
    np.testing.assert_array_equal(back["target"][0], ds["target"][0])
    assert back.metadata["ground_truth"]["class_scale"] == ds.metadata["ground_truth"][
        "class_scale"]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: make_shifted_blobs("covariat"), "Did you mean 'covariate'"),
        (lambda: make_shifted_blobs(3), "shift must be a string"),
        (lambda: make_shifted_blobs("target", label="binar"), "Unknown label"),
        (lambda: make_shifted_blobs("target", n_samples_source=1), "at least 2"),
        (lambda: make_shifted_blobs("target", n_samples_target=2.5), "must be an int"),
        (lambda: make_shifted_blobs("target", noise=-1), "noise must be >= 0"),
        (lambda: make_shifted_blobs("target", noise=(0.1, 0.2, 0.3)), "pair"),
        (lambda: make_shifted_blobs("target", ratio=1.0), "ratio"),
        (lambda: make_shifted_blobs("conditional", sigma=0), "sigma"),
        (lambda: make_shifted_blobs("covariate", center_cov_shift=(1, 2, 3)), "pair"),
        (lambda: make_shifted_blobs("covariate", gamma=1e6, center_cov_shift=(50, 50)),
         "gamma"),
        (lambda: make_shifted_blobs("target", random_state="seed"), "random_state"),
        (lambda: make_shifted_gaussians("target", strength=-0.5), "strength must be >= 0"),
        (lambda: make_shifted_gaussians("target", n_features=3, n_informative=5),
         "exceeds n_features"),
        (lambda: make_shifted_gaussians("subspace", n_informative=1), "n_informative"),
        (lambda: make_shifted_gaussians("target", n_classes=1), "n_classes"),
        (lambda: make_shifted_gaussians("target", class_sep=0), "class_sep must be > 0"),
        (lambda: make_shifted_regression("target", noise=float("nan")), "finite"),
        (lambda: make_multi_source(0), "n_sources"),
    ],
)
def test_bad_input_raises_clear_error(call, match):
    with pytest.raises(DataValidationError, match=match):
        call()


# ------------------------------------------------------------------ blobs: the shifts
def test_blobs_target_shift_changes_priors_not_class_conditionals():
    ds = make_shifted_blobs("target", label="multiclass", n_samples_source=4000,
                            n_samples_target=4000, random_state=0)
    (Xs, ys), (Xt, yt) = ds["source"], ds["target"]
    assert np.mean(ys == 0) == pytest.approx(0.5)
    assert np.mean(yt == 0) == pytest.approx(0.9)
    # The class-1 blobs keep equal shares among themselves.
    np.testing.assert_allclose(np.bincount(yt)[1:] / np.sum(yt > 0), 0.25, atol=0.01)
    classes = range(5)
    gap = np.abs(_class_means(Xs, ys, classes) - _class_means(Xt, yt, classes))
    se = np.hypot(_mean_se(Xs, ys, classes), _mean_se(Xt, yt, classes))
    assert np.all(gap < 4 * se)


def test_blobs_covariate_shift_keeps_labelling_and_moves_inputs():
    ds = make_shifted_blobs("covariate", noise=None, n_samples_source=2000,
                            n_samples_target=1000, random_state=0)
    Xs, Xt = ds["source"][0], ds["target"][0]
    # P(x) moves towards the selection centre (-0.4, 3).
    centre = np.array([-0.4, 3.0])
    assert np.linalg.norm(Xt.mean(0) - centre) < 0.5 < np.linalg.norm(Xs.mean(0) - centre)
    # P(y | x) is unchanged: classifiers fit on either domain label target points alike,
    # whereas after a conditional shift they do not.
    def agreement(d):
        (a, ya), (b, yb) = d["source"], d["target"]
        knn_s = KNeighborsClassifier(15).fit(a, ya)
        knn_t = KNeighborsClassifier(15).fit(b[::2], yb[::2])
        return np.mean(knn_s.predict(b[1::2]) == knn_t.predict(b[1::2]))

    cond = make_shifted_blobs("conditional", noise=None, n_samples_source=2000,
                              n_samples_target=1000, random_state=0)
    assert agreement(ds) > 0.97
    assert agreement(cond) < 0.9


def test_blobs_conditional_shift_is_the_affine_map_of_each_class():
    ds = make_shifted_blobs("conditional", noise=None, label="multiclass",
                            n_samples_source=4000, n_samples_target=4000, random_state=0)
    (Xs, ys), (Xt, yt) = ds["source"], ds["target"]
    classes = range(5)
    ms, mt = _class_means(Xs, ys, classes), _class_means(Xt, yt, classes)
    assert np.all(np.abs(mt - ms).max(axis=1) > 0.3)  # every class moved
    se = np.hypot(0.7 * _mean_se(Xs, ys, classes), _mean_se(Xt, yt, classes))
    assert np.all(np.abs(mt - (0.7 * ms + 1.0)) < 4 * se)
    np.testing.assert_array_equal(np.bincount(ys), np.bincount(yt))  # P(y) unchanged


def test_blobs_subspace_shift_has_an_invariant_separable_projection():
    ds = make_shifted_blobs("subspace", random_state=0)
    (Xs, ys), (Xt, yt) = ds["source"], ds["target"]
    inv = np.asarray(BLOBS_INVARIANT_DIRECTION)
    other = np.array([inv[0], -inv[1]])
    for k in (0, 1):
        ps, pt = Xs[ys == k] @ inv, Xt[yt == k] @ inv
        assert abs(ps.mean() - pt.mean()) < 0.1
        assert abs(ps.std() - pt.std()) < 0.1
        # Along the orthogonal direction the class means swap sides.
        assert np.sign((Xs[ys == k] @ other).mean()) == -np.sign((Xt[yt == k] @ other).mean())
    # In the invariant projection a classifier fit on the source works on the target.
    knn = KNeighborsClassifier(15).fit((Xs @ inv)[:, None], ys)
    assert knn.score((Xt @ inv)[:, None], yt) > 0.75
    assert SVC().fit(Xs, ys).score(Xt, yt) < 0.3


@pytest.mark.parametrize("shift", ["covariate", "conditional"])
def test_blobs_source_only_accuracy_drops_on_target(shift):
    drops = []
    for seed in range(3):
        ds = make_shifted_blobs(shift, random_state=seed)
        big = make_shifted_blobs(shift, n_samples_source=3000, random_state=100 + seed)
        clf = SVC().fit(*ds["source"])
        drops.append(clf.score(*big["source"]) - clf.score(*ds["target"]))
    assert np.mean(drops) > 0.04


def test_blobs_regression_labels_are_the_gaussian_density():
    for shift in ("covariate", "target"):
        ds = make_shifted_blobs(shift, label="regression", noise=None, random_state=0)
        for name in ("source", "target"):
            X, y = ds[name]
            np.testing.assert_allclose(y, 27 * np.exp(-0.5 * (X**2).sum(1)) / (2 * np.pi))
    # Conditional shift: the labels follow the points *before* the affine map.
    ds = make_shifted_blobs("conditional", label="regression", noise=None, random_state=0)
    X, y = ds["target"]
    Z = (X - 1.0) / 0.7
    np.testing.assert_allclose(y, 27 * np.exp(-0.5 * (Z**2).sum(1)) / (2 * np.pi))
    assert ds.label_kind == "regression"


# --------------------------------------------------- agreement with skada / SKADA-Bench
@pytest.fixture(scope="module")
def skada_generator():
    """skada's ``make_shifted_datasets`` (imported without its global config change)."""
    import_skada()
    before = sklearn.get_config()["enable_metadata_routing"]
    from skada.datasets import make_shifted_datasets

    sklearn.set_config(enable_metadata_routing=before)
    return make_shifted_datasets


def _skada_arrays(make, shift, n_per_cluster, label, noise, seed):
    X, y, d = make(
        n_samples_source=n_per_cluster, n_samples_target=n_per_cluster,
        shift=SKADA_NAMES[shift], noise=noise, label=label, center_cov_shift=(-0.4, 3),
        random_state=seed)
    return X[d >= 0], y[d >= 0], X[d < 0], y[d < 0]


@pytest.mark.parametrize(
    "shift, label",
    [(s, "binary") for s in SHIFT_KINDS]
    + [(s, "multiclass") for s in ("covariate", "target", "conditional")],
)
def test_distribution_matches_skada(skada_generator, shift, label):
    """Same parameters, same distributions: a source-only model has the same target
    accuracy (averaged over seeds) on our data and on skada's, and one fixed model scores
    the same on large samples of both generators."""
    noise = {"covariate": 0.6, "target": 0.8, "conditional": 0.8, "subspace": 0.4}[shift]
    per_cluster = 150
    size = per_cluster * (4 if shift == "subspace" else 8)
    est = SVC() if label == "binary" else LogisticRegression(max_iter=500)
    ours, theirs = [], []
    for seed in range(4):
        ds = make_shifted_blobs(shift, label=label, n_samples_source=size,
                                n_samples_target=size, random_state=seed)
        ours.append(clone(est).fit(*ds["source"]).score(*ds["target"]))
        Xs, ys, Xt, yt = _skada_arrays(skada_generator, shift, per_cluster, label, noise, seed)
        theirs.append(clone(est).fit(Xs, ys).score(Xt, yt))
    assert abs(np.mean(ours) - np.mean(theirs)) < 0.03

    # One model, two large samples of each domain: the distributions themselves agree.
    Xs, ys, _, _ = _skada_arrays(skada_generator, shift, 300, label, noise, 1000)
    clf = clone(est).fit(Xs, ys)
    Xs2, ys2, Xt2, yt2 = _skada_arrays(skada_generator, shift, 600, label, noise, 1001)
    n_big = 600 * (4 if shift == "subspace" else 8)
    big = make_shifted_blobs(shift, label=label, n_samples_source=n_big,
                             n_samples_target=n_big, random_state=1001)
    for mine, (X2, y2) in ((big["source"], (Xs2, ys2)), (big["target"], (Xt2, yt2))):
        a, b = clf.score(*mine), clf.score(X2, y2)
        se = np.sqrt(b * (1 - b) * (1 / len(mine[1]) + 1 / len(y2)))
        assert abs(a - b) < max(4 * se, 0.01)


@pytest.mark.parametrize("shift", SHIFT_KINDS)
def test_regression_labels_match_skada(skada_generator, shift):
    noise = 0.5
    per_cluster = 500
    size = per_cluster * (4 if shift == "subspace" else 8)
    ours = make_shifted_blobs(shift, label="regression", noise=noise, n_samples_source=size,
                              n_samples_target=size, random_state=0)
    Xs, ys, Xt, yt = _skada_arrays(skada_generator, shift, per_cluster, "regression", noise, 0)
    for (X, y), (X2, y2) in ((ours["source"], (Xs, ys)), (ours["target"], (Xt, yt))):
        se = np.sqrt(y.var() / y.size + y2.var() / y2.size)
        assert abs(y.mean() - y2.mean()) < 4 * se
        # The response is heavy-tailed: compare quantiles rather than the spread.
        q, q2 = np.quantile(y, [0.25, 0.5, 0.75, 0.9]), np.quantile(y2, [0.25, 0.5, 0.75, 0.9])
        assert np.all(np.abs(q - q2) < 0.1 * np.abs(q2) + 0.01)
        np.testing.assert_allclose(X.mean(0), X2.mean(0), atol=0.1)


def test_reproduces_skada_bench_train_src_and_train_tgt():
    """SKADA-Bench protocol on its Simulated dataset: 5 seeds x 5 stratified (domain x
    class) 80/20 splits, base estimator SVC with default parameters (its selected base
    estimator for Simulated), accuracy on the target test part of a model fit on the
    source train part (Train Src) or on the target train part (Train Tgt)."""
    for shift, (ref_src, ref_tgt) in SKADA_BENCH_REFERENCE.items():
        src, tgt = [], []
        for seed in range(5):
            X, y, dom, y_true = make_shifted_blobs(shift, random_state=seed).pack(
                "source", "target", return_target_labels=True)
            strata = (dom > 0) * 10 + y_true
            splits = StratifiedShuffleSplit(5, test_size=0.2, random_state=0)
            for train, test in splits.split(X, strata):
                tr_s, tr_t = train[dom[train] > 0], train[dom[train] < 0]
                te_t = test[dom[test] < 0]
                src.append(SVC().fit(X[tr_s], y_true[tr_s]).score(X[te_t], y_true[te_t]))
                tgt.append(SVC().fit(X[tr_t], y_true[tr_t]).score(X[te_t], y_true[te_t]))
        assert np.mean(src) == pytest.approx(ref_src, abs=0.05), shift
        assert np.mean(tgt) == pytest.approx(ref_tgt, abs=0.05), shift


# ------------------------------------------------------------ high-dimensional Gaussians
@pytest.mark.parametrize("shift", SHIFT_KINDS)
def test_gaussians_strength_zero_is_no_shift(shift):
    kw = dict(n_features=8, n_classes=3, n_samples_source=300, n_samples_target=300)
    same = make_shifted_gaussians(shift, strength=0.0, random_state=0, **kw)
    moved = make_shifted_gaussians(shift, strength=1.0, random_state=0, **kw)

    def joint(ds, name):  # (x, one-hot y): a test on the joint law sees every shift kind
        X, y = ds[name]
        return np.hstack((X[:, :5], 3.0 * np.eye(3)[y]))

    assert _mmd_permutation_pvalue(joint(same, "source"), joint(same, "target")) > 0.05
    assert _mmd_permutation_pvalue(joint(moved, "source"), joint(moved, "target")) < 0.02


def _domain_logloss(X, y, dom, n_classes, with_labels):
    if with_labels:
        onehot = np.eye(n_classes)[y]
        X = np.hstack((X, onehot, (X[:, :, None] * onehot[:, None, :]).reshape(len(X), -1)))
    scores = cross_val_score(LogisticRegression(max_iter=1000), X, dom, cv=3,
                             scoring="neg_log_loss")
    return -scores.mean()


def test_gaussians_covariate_shift_keeps_p_y_given_x():
    """Exponential tilting makes log p_t/p_s linear in x and free of y: a domain
    classifier gains nothing from the labels. Under conditional shift it gains a lot."""
    gains = {}
    for shift in ("covariate", "conditional"):
        ds = make_shifted_gaussians(shift, n_features=4, n_informative=4, n_classes=3,
                                    n_samples_source=1500, n_samples_target=1500,
                                    random_state=0)
        X, _, sd, y = ds.pack("source", "target", return_target_labels=True)
        dom = (sd < 0).astype(int)
        gains[shift] = (_domain_logloss(X, y, dom, 3, False)
                        - _domain_logloss(X, y, dom, 3, True))
        if shift == "covariate":
            assert _domain_logloss(X, y, dom, 3, False) < 0.5  # P(x) clearly differs
    assert gains["covariate"] < 0.01
    assert gains["conditional"] > 0.1


def test_gaussians_covariate_shift_hurts_a_misspecified_model():
    gaps = []
    for seed in range(3):
        ds = make_shifted_gaussians("covariate", n_features=10, random_state=seed)
        (Xs, ys), (Xt, yt) = ds["source"], ds["target"]
        lr = LogisticRegression(max_iter=1000)
        src_only = clone(lr).fit(Xs, ys).score(Xt[:500], yt[:500])
        tgt_only = clone(lr).fit(Xt[500:], yt[500:]).score(Xt[:500], yt[:500])
        gaps.append(tgt_only - src_only)
    assert np.mean(gaps) > 0.05


def test_gaussians_target_shift_priors_and_class_conditionals():
    ds = make_shifted_gaussians("target", n_features=6, n_classes=4, strength=1.0,
                                n_samples_source=4000, n_samples_target=4000, random_state=0)
    (Xs, ys), (Xt, yt) = ds["source"], ds["target"]
    prior = np.asarray(ds.metadata["ground_truth"]["class_prior"])
    np.testing.assert_allclose(np.bincount(ys, minlength=4) / ys.size, 0.25, atol=1e-3)
    np.testing.assert_allclose(np.bincount(yt, minlength=4) / yt.size, prior, atol=1e-3)
    assert prior.max() / prior.min() == pytest.approx(10.0)
    # Each class keeps its own two clusters in equal shares, so class means stay put.
    classes = range(4)
    gap = np.abs(_class_means(Xs, ys, classes) - _class_means(Xt, yt, classes))
    se = np.hypot(_mean_se(Xs, ys, classes), _mean_se(Xt, yt, classes))
    assert np.all(gap < 4.5 * se)


def test_gaussians_conditional_shift_moves_each_class_by_its_translation():
    ds = make_shifted_gaussians("conditional", n_features=6, n_classes=3, strength=1.0,
                                n_samples_source=6000, n_samples_target=6000, random_state=0)
    (Xs, ys), (Xt, yt) = ds["source"], ds["target"]
    truth = ds.metadata["ground_truth"]
    d = len(truth["informative_features"])
    trans = np.asarray(truth["class_translation"])
    classes = range(3)
    delta = _class_means(Xt, yt, classes)[:, :d] - _class_means(Xs, ys, classes)[:, :d]
    np.testing.assert_allclose(np.linalg.norm(trans, axis=1), 2.0)
    np.testing.assert_allclose(delta, trans, atol=0.25)
    np.testing.assert_array_equal(np.bincount(ys), np.bincount(yt))
    # Source-only accuracy drops on the target.
    clf = SVC().fit(Xs[:1500], ys[:1500])
    assert clf.score(Xt[:1500], yt[:1500]) < clf.score(Xs[1500:3000], ys[1500:3000]) - 0.05


def test_gaussians_subspace_shift_invariant_features():
    ds = make_shifted_gaussians("subspace", n_features=12, n_classes=3, n_informative=6,
                                n_samples_source=3000, n_samples_target=3000, random_state=0)
    (Xs, ys), (Xt, yt) = ds["source"], ds["target"]
    inv = ds.metadata["ground_truth"]["invariant_features"]
    assert inv == [0, 1, 2]
    classes = range(3)
    ms, mt = _class_means(Xs, ys, classes), _class_means(Xt, yt, classes)
    se = np.hypot(_mean_se(Xs, ys, classes), _mean_se(Xt, yt, classes))
    assert np.all(np.abs(ms - mt)[:, inv] < 4.5 * se[:, inv])  # coincide in V
    np.testing.assert_allclose(mt[:, 3:6], -ms[:, 3:6], atol=0.15)  # mirrored in W
    half = slice(0, 1500), slice(1500, 3000)
    svc_v = SVC().fit(Xs[half[0]][:, inv], ys[half[0]])
    svc_all = SVC().fit(Xs[half[0]], ys[half[0]])
    acc_v_s = svc_v.score(Xs[half[1]][:, inv], ys[half[1]])
    acc_v_t = svc_v.score(Xt[:, inv], yt)
    assert acc_v_t > 0.6 and acc_v_t == pytest.approx(acc_v_s, abs=0.04)
    assert svc_all.score(Xs[half[1]], ys[half[1]]) > acc_v_s  # W helps on the source...
    assert svc_all.score(Xt, yt) < acc_v_t - 0.2  # ...and misleads on the target


# ------------------------------------------------------------------------ multi-source
def test_multi_source_domains_and_increasing_shift():
    ds = make_multi_source(3, "conditional", n_features=8, n_classes=3,
                           n_samples_source=400, n_samples_target=600, random_state=0)
    assert ds.domain_names == ["source0", "source1", "source2", "target"]
    assert ds.sizes() == {"source0": 400, "source1": 400, "source2": 400, "target": 600}
    truth = ds.metadata["ground_truth"]
    strengths = [truth[f"source{i}"]["strength"] for i in range(3)]
    np.testing.assert_allclose(strengths, [1 / 3, 2 / 3, 1.0])
    norms = [np.linalg.norm(truth[f"source{i}"]["class_translation"], axis=1) for i in range(3)]
    np.testing.assert_allclose(np.stack(norms), 2 * np.array(strengths)[:, None] * np.ones(3))
    # The farther the source, the worse a source-only model does on the target.
    Xt, yt = ds["target"]
    acc = [SVC().fit(*ds[f"source{i}"]).score(Xt, yt) for i in range(3)]
    assert acc[0] > acc[2] + 0.05
    assert len(ds.tasks(multi_source=True)) > 0


def test_multi_source_target_shift_gives_each_source_its_priors():
    ds = make_multi_source(2, "target", n_samples_source=1000, random_state=1)
    for i in range(2):
        prior = ds.metadata["ground_truth"][f"source{i}"]["class_prior"]
        y = ds[f"source{i}"][1]
        np.testing.assert_allclose(np.bincount(y, minlength=3) / y.size, prior, atol=2e-3)
    np.testing.assert_allclose(np.bincount(ds["target"][1]) / 500, 1 / 3, atol=2e-3)


# --------------------------------------------------------------------------- regression
def _f(X, truth):
    n_f = len(truth["w"])
    Z = X[:, :n_f]
    return Z @ np.asarray(truth["w"]) + 0.5 * (Z @ np.asarray(truth["v"])) ** 2


def test_regression_covariate_vs_conditional_shift():
    cov = make_shifted_regression("covariate", noise=0.1, random_state=0)
    truth = cov.metadata["ground_truth"]
    for name in ("source", "target"):  # same regression function in both domains
        X, y = cov[name]
        assert np.std(y - _f(X, truth)) == pytest.approx(0.1, rel=0.15)
    gap = cov["target"][0][:, :4].mean(0) - cov["source"][0][:, :4].mean(0)
    np.testing.assert_allclose(gap, truth["tilt"], atol=0.15)
    cond = make_shifted_regression("conditional", noise=0.1, random_state=0)
    X, y = cond["target"]
    assert np.std(y - _f(X, cond.metadata["ground_truth"])) > 0.5  # P(y | x) changed
    assert cond.label_kind == "regression"


def test_regression_target_shift_keeps_p_x_given_y():
    ds = make_shifted_regression("target", n_features=4, n_informative=4,
                                 n_samples_source=6000, n_samples_target=3000, random_state=0)
    (Xs, ys), (Xt, yt) = ds["source"], ds["target"]
    assert yt.mean() > ys.mean() + 1.0  # P(y) moved
    # E[x | y] in narrow bins of y agrees between the domains (z-scores of the gaps).
    edges = np.linspace(np.quantile(yt, 0.05), np.quantile(ys, 0.95), 9)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        a, b = Xs[(ys >= lo) & (ys < hi)], Xt[(yt >= lo) & (yt < hi)]
        assert len(a) > 100 and len(b) > 100
        z = np.abs(a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) / len(a) + b.var(0) / len(b))
        assert np.all(z < 4)


def test_regression_subspace_shift_reverses_the_spurious_features():
    ds = make_shifted_regression("subspace", n_informative=4, random_state=0)
    (Xs, ys), (Xt, yt) = ds["source"], ds["target"]
    inv = ds.metadata["ground_truth"]["invariant_features"]
    assert inv == [0, 1]
    for j in (2, 3):
        assert np.corrcoef(Xs[:, j], ys)[0, 1] > 0.6
        assert np.corrcoef(Xt[:, j], yt)[0, 1] < -0.6
    for j in inv:
        assert abs(np.corrcoef(Xs[:, j], ys)[0, 1] - np.corrcoef(Xt[:, j], yt)[0, 1]) < 0.1
    # A linear model on all features transfers badly; on the invariant ones it does not.
    full = LinearRegression().fit(Xs, ys)
    part = LinearRegression().fit(Xs[:, inv], ys)
    assert part.score(Xt[:, inv], yt) > full.score(Xt, yt) + 0.5


# ----------------------------------------------------------------------- property test
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    generator=st.sampled_from(["blobs", "gaussians", "regression", "multi"]),
    shift=st.sampled_from(SHIFT_KINDS + ("covariate_shift", "target_shift")),
    n_s=st.integers(5, 120),
    n_t=st.integers(5, 120),
    seed=st.integers(0, 2**31 - 1),
    label=st.sampled_from(["binary", "multiclass", "regression"]),
    strength=st.floats(0.0, 3.0),
    n_classes=st.integers(2, 5),
)
def test_property_sizes_finite_and_labels_in_range(generator, shift, n_s, n_t, seed, label,
                                                   strength, n_classes):
    if generator == "blobs":
        ds = make_shifted_blobs(shift, n_samples_source=n_s, n_samples_target=n_t,
                                label=label, random_state=seed)
        n_labels = {"binary": 2, "multiclass": 3 if "subspace" in shift else 5}.get(label)
    elif generator == "gaussians":
        ds = make_shifted_gaussians(shift, n_features=7, n_classes=n_classes,
                                    n_samples_source=n_s, n_samples_target=n_t,
                                    strength=strength, random_state=seed)
        n_labels = n_classes
    elif generator == "regression":
        ds = make_shifted_regression(shift, n_features=5, n_samples_source=n_s,
                                     n_samples_target=n_t, strength=strength,
                                     random_state=seed)
        n_labels = None
    else:
        ds = make_multi_source(2, shift, n_features=5, n_classes=n_classes,
                               n_samples_source=n_s, n_samples_target=n_t,
                               strength=strength, random_state=seed)
        n_labels = n_classes
    sources = [d for d in ds.domain_names if d != "target"]
    assert all(ds.sizes()[d] == n_s for d in sources) and ds.sizes()["target"] == n_t
    for name in ds.domain_names:
        X, y = ds[name]
        assert np.isfinite(X).all() and np.isfinite(y).all()
        if n_labels is None:
            assert y.dtype.kind == "f"
        else:
            assert y.dtype.kind == "i" and y.min() >= 0 and y.max() < n_labels
    # Domains drawn with balanced classes hold every class once there are enough points.
    if generator == "gaussians":
        assert np.unique(ds["source"][1]).size == n_classes
    elif generator == "multi":
        assert np.unique(ds["target"][1]).size == n_classes
    elif n_labels is not None and n_s >= 8:
        assert np.unique(ds["source"][1]).size == n_labels
