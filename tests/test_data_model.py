"""The domain array convention and DomainDataset: validation errors and no-mutation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shiftlab.data import (
    DomainDataset,
    Task,
    check_domain_arrays,
    infer_sample_domain,
    is_masked,
    label_kind,
    mask_target_labels,
    merge_domains,
    split_domains,
    split_source_target,
)
from shiftlab.exceptions import DataValidationError, TargetLabelLeakError, UnknownNameError


def _two_domains(rng, n_a=20, n_b=30, d=3):
    return DomainDataset(
        {
            "a": (rng.normal(size=(n_a, d)), np.arange(n_a) % 2),
            "b": (rng.normal(size=(n_b, d)) + 1, np.arange(n_b) % 2),
        },
        name="toy",
    )


# ----------------------------------------------------------------- convention
def test_mask_target_labels_classification_and_regression():
    sd = np.array([1, 1, -2, -2])
    y = np.array([0, 1, 1, 0])
    out = mask_target_labels(y, sd)
    assert out.tolist() == [0, 1, -1, -1]
    assert y.tolist() == [0, 1, 1, 0]  # input untouched
    yr = np.array([0.5, 1.5, 2.5, 3.5])
    outr = mask_target_labels(yr, sd)
    assert np.isnan(outr[2:]).all() and outr[:2].tolist() == [0.5, 1.5]
    assert label_kind(yr) == "regression" and label_kind(y) == "classification"
    assert label_kind(np.array([0.0, 1.0, 2.0])) == "classification"


def test_unsigned_labels_are_cast_before_masking():
    y = np.array([0, 1, 2, 3], dtype=np.uint8)
    out = mask_target_labels(y, np.array([1, 1, -1, -1]))
    assert out.dtype.kind == "i" and out.tolist() == [0, 1, -1, -1]


def test_infer_sample_domain_from_masked_labels():
    sd = infer_sample_domain(np.array([0, 1, -1, -1]))
    assert (sd[:2] >= 0).all() and (sd[2:] < 0).all()
    sdr = infer_sample_domain(np.array([0.1, np.nan]))
    assert sdr[0] >= 0 and sdr[1] < 0
    assert is_masked(np.array([0.1, np.nan])).tolist() == [False, True]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X": np.ones((4, 2)), "y": np.zeros(3)}, "X has 4 samples but y has 3"),
        ({"X": np.ones((4, 2)), "sample_domain": np.ones(5)}, "sample_domain has shape"),
        ({"X": np.array([[np.nan, 1.0]] * 4)}, "NaN"),
        ({"X": np.array([[np.inf, 1.0]] * 4)}, "infinite"),
        ({"X": np.ones(4)}, "1-D"),
        ({"X": np.array([["a", "b"]] * 4)}, "numeric"),
        (
            {"X": np.ones((4, 2)), "y": np.array([0, 1, -1, -1]), "sample_domain": -np.ones(4)},
            "No source sample",
        ),
        (
            {"X": np.ones((4, 2)), "y": np.array([0, 1, 0, 1]), "sample_domain": np.ones(4)},
            "No target sample",
        ),
        (
            {"X": np.ones((4, 2)), "y": np.array([0, 0, -1, -1])},
            "1 class",
        ),
        (
            {"X": np.ones((4, 2)), "y": np.array([0, -1, -1, -1]), "sample_domain": [1, 1, -2, -2]},
            "source sample\\(s\\) have masked labels",
        ),
        (
            {"X": np.ones((4, 2)), "sample_domain": np.array([0.5, 1, -1, -1])},
            "integer domain ids",
        ),
    ],
)
def test_validation_errors_name_the_problem(kwargs, match):
    with pytest.raises(DataValidationError, match=match):
        check_domain_arrays(**kwargs)


def test_visible_target_labels_raise_or_are_masked():
    X = np.ones((4, 2))
    y = np.array([0, 1, 1, 0])
    sd = np.array([1, 1, -2, -2])
    with pytest.raises(TargetLabelLeakError, match="mask_target_labels"):
        check_domain_arrays(X, y, sd)
    _, ym, _ = check_domain_arrays(X, y, sd, target_labels="mask")
    assert ym.tolist() == [0, 1, -1, -1]
    _, yk, _ = check_domain_arrays(X, y, sd, target_labels="keep")
    assert yk.tolist() == [0, 1, 1, 0]


def test_split_source_target():
    X = np.arange(8.0).reshape(4, 2)
    y = np.array([0, 1, -1, -1])
    Xs, ys, Xt, yt = split_source_target(X, y)
    assert Xs.shape == (2, 2) and Xt.shape == (2, 2)
    assert ys.tolist() == [0, 1] and yt.tolist() == [-1, -1]


# -------------------------------------------------------------------- dataset
def test_tasks_and_pack(rng):
    ds = _two_domains(rng)
    assert [t.name for t in ds.tasks()] == ["a->b", "b->a"]
    X, y, sd, y_true = ds.pack("a", "b", return_target_labels=True)
    assert X.shape == (50, 3)
    assert (sd[:20] == 1).all() and (sd[20:] == -2).all()
    assert (y[20:] == -1).all() and (y_true[20:] == ds["b"][1]).all()
    X2, y2, _ = ds.pack(Task("b", "a"))
    assert X2.shape == (50, 3) and (y2[30:] == -1).all()


def test_multi_source_tasks(rng):
    ds = DomainDataset(
        {k: (rng.normal(size=(10, 2)), np.arange(10) % 2) for k in ["a", "b", "c"]}
    )
    multi = [t for t in ds.tasks(multi_source=True) if t.multi_source]
    assert [t.name for t in multi] == ["b+c->a", "a+c->b", "a+b->c"]
    X, y, sd = ds.pack(multi[0])
    assert set(sd.tolist()) == {2, 3, -1}
    assert Task.parse("b+c->a") == multi[0]


def test_unknown_domain_suggests_nearest(rng):
    ds = _two_domains(rng)
    with pytest.raises(UnknownNameError, match="Did you mean 'a'"):
        ds.pack("A ", "b")
    with pytest.raises(UnknownNameError, match="Unknown domain 'webcm'"):
        DomainDataset({"webcam": ds["a"], "dslr": ds["b"]}).pack("webcm", "dslr")


def test_feature_dimensions_must_match_unless_heterogeneous(rng):
    doms = {"a": (rng.normal(size=(5, 3)), np.arange(5) % 2),
            "b": (rng.normal(size=(5, 4)), np.arange(5) % 2)}
    with pytest.raises(DataValidationError, match="heterogeneous=True"):
        DomainDataset(doms)
    ds = DomainDataset(doms, heterogeneous=True)
    assert ds["b"][0].shape == (5, 4)
    with pytest.raises(DataValidationError, match="different feature dimensions"):
        ds.pack("a", "b")


def test_one_class_source_is_rejected(rng):
    ds = DomainDataset({"a": (rng.normal(size=(5, 2)), np.zeros(5, int)),
                        "b": (rng.normal(size=(5, 2)), np.arange(5) % 2)})
    with pytest.raises(DataValidationError, match="one class only"):
        ds.pack("a", "b")


def test_nan_in_domain_and_bad_pairs(rng):
    X = rng.normal(size=(5, 2))
    X[0, 0] = np.nan
    with pytest.raises(DataValidationError, match="NaN"):
        DomainDataset({"a": (X, np.arange(5) % 2)})
    with pytest.raises(DataValidationError, match="y has shape"):
        DomainDataset({"a": (rng.normal(size=(5, 2)), np.arange(4))})
    with pytest.raises(DataValidationError, match="both a source and the target"):
        Task("a", "a")


def test_save_and_load_roundtrip(tmp_path, rng):
    ds = _two_domains(rng)
    path = ds.save(tmp_path / "toy.npz")
    back = DomainDataset.load(path)
    assert back.domain_names == ["a", "b"] and back.name == "toy"
    np.testing.assert_array_equal(back["b"][0], ds["b"][0])


def test_split_and_merge_domains_roundtrip(rng):
    ds = _two_domains(rng)
    X, y, sd = ds.pack("a", "b")
    parts = split_domains(X, y, sd)
    assert sorted(parts) == [-2, 1]
    X2, y2, sd2 = merge_domains(parts)
    order = np.argsort(sd2, kind="stable")
    assert sorted(sd2.tolist()) == sorted(sd.tolist())
    assert X2.shape == X.shape and order.size == X.shape[0]


# ------------------------------------------------------------- no mutation
label_arrays = hnp.arrays(np.int64, st.integers(6, 40), elements=st.integers(0, 3))


@settings(max_examples=40, deadline=None)
@given(y=label_arrays, seed=st.integers(0, 2**16), frac=st.floats(0.2, 0.8))
def test_nothing_mutates_caller_arrays(y, seed, frac):
    rng = np.random.default_rng(seed)
    n = y.size
    X = rng.normal(size=(n, 3))
    sd = np.where(np.arange(n) < max(2, int(frac * n)), 1, -2)
    sd[-1] = -2
    y = y.copy()
    y[0], y[1] = 0, 1  # two source classes
    X0, y0, sd0 = X.copy(), y.copy(), sd.copy()
    Xc, yc, sdc = check_domain_arrays(X, y, sd, target_labels="mask")
    mask_target_labels(y, sd)
    split_source_target(X, yc, sd)
    ds = DomainDataset({"s": (X[sd >= 0], y[sd >= 0]), "t": (X[sd < 0], y[sd < 0])})
    Xp, yp, _ = ds.pack("s", "t")
    Xp[:] = 0
    yp[:] = 7
    for out in (Xc, yc, sdc):
        assert not np.shares_memory(out, X) and not np.shares_memory(out, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(sd, sd0)
    np.testing.assert_array_equal(ds["s"][0], X0[sd0 >= 0])
    assert not ds["s"][0].flags.writeable
