"""Every deep method trains on a small seeded shift, its loss decreases, the methods beat
source-only on the controlled shift, and no method ever sees target labels."""

from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import shiftlab.deep as deep  # noqa: E402
from _deep_task import make_shift_task, target_accuracy, torch_single_thread  # noqa: E402,F401

pytestmark = pytest.mark.deep

#: Settings for the controlled-shift task: a tiny MLP, 15 epochs of 5 steps.
FAST = {"n_epochs": 15, "batch_size": 64, "random_state": 0, "device": "cpu"}
PER_METHOD = {"TENT": {"n_epochs": 3, "source_epochs": 15}, "TIM": {"n_iter": 300}}
ADAPTIVE = [
    "DeepCORAL",
    "DAN",
    "DANN",
    "CDAN",
    "DeepJDOT",
    "MCC",
    "MDD",
    "CAN",
    "SPA",
    "BNM",
    "SHOT",
    "EntropyKLPrior",
    "TENT",
    "TIM",
]
ALL = ["SourceOnly", "TargetOnly", *ADAPTIVE]




@pytest.fixture(scope="module")
def task():
    return make_shift_task(seed=0)


@pytest.fixture(scope="module")
def source_only(task):
    X, y, sd, y_true = task
    model = deep.SourceOnly(**FAST).fit(X, y, sd)
    return model, target_accuracy(model, X, sd, y_true)


def _make(name, **overrides):
    return deep.make_deep_da(name, **{**FAST, **PER_METHOD.get(name, {}), **overrides})


def _fit(model, X, y, sd, y_true):
    if isinstance(model, deep.TargetOnly):
        return model.fit(X, y, sd, oracle_target_labels=y_true)
    return model.fit(X, y, sd)


def test_the_task_is_a_real_shift(task, source_only):
    X, y, sd, y_true = task
    _, acc = source_only
    oracle = deep.TargetOnly(**FAST).fit(X, y, sd, oracle_target_labels=y_true)
    # Source-only loses accuracy on the target; the oracle shows the target is separable.
    assert acc < 0.9
    assert target_accuracy(oracle, X, sd, y_true) > acc + 0.08


@pytest.mark.parametrize("name", ADAPTIVE)
def test_method_trains_fast_loss_decreases_and_beats_source_only(name, task, source_only):
    X, y, sd, y_true = task
    _, src_acc = source_only
    t0 = time.perf_counter()
    model = _fit(_make(name), X, y, sd, y_true)
    elapsed = time.perf_counter() - t0
    assert elapsed < 60, f"{name} took {elapsed:.1f}s"
    losses = [h["loss"] for h in model.history_]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0], f"{name}: loss went from {losses[0]:.4f} to {losses[-1]:.4f}"
    acc = target_accuracy(model, X, sd, y_true)
    assert acc >= src_acc + 0.03, f"{name}: target accuracy {acc:.3f} vs source-only {src_acc:.3f}"


def test_source_only_loss_decreases(source_only):
    model, _ = source_only
    assert model.history_[-1]["loss"] < 0.5 * model.history_[0]["loss"]


# ------------------------------------------------------------------------- leakage
@pytest.fixture(scope="module")
def small_task():
    return make_shift_task(seed=1, n=80)


@pytest.mark.parametrize("name", ALL)
def test_target_labels_never_reach_a_method(name, small_task):
    """Visible, permuted or masked target labels in ``y`` give bit-identical models."""
    X, y_masked, sd, y_true = small_task
    tgt = sd < 0
    rng = np.random.default_rng(0)
    y_visible = y_true.copy()
    y_permuted = y_true.copy()
    y_permuted[tgt] = rng.permutation(y_true[tgt])
    params = {"n_epochs": 2, "batch_size": 32, "random_state": 3, "device": "cpu"}
    if name == "TENT":
        params["source_epochs"] = 2
    if name == "TIM":
        params["n_iter"] = 20
    outputs = []
    for labels in (y_visible, y_permuted, y_masked):
        model = deep.make_deep_da(name, **params)
        _fit(model, X, labels, sd, y_true)
        outputs.append((model.predict_proba(X), model.transform(X)))
    for proba, feats in outputs[1:]:
        assert np.array_equal(proba, outputs[0][0])
        assert np.array_equal(feats, outputs[0][1])


def test_caller_arrays_are_not_modified(small_task):
    X, _, sd, y_true = small_task
    X0, y0, sd0 = X.copy(), y_true.copy(), sd.copy()
    deep.DANN(n_epochs=1, random_state=0, device="cpu").fit(X, y_true, sd)
    assert np.array_equal(X, X0) and np.array_equal(y_true, y0) and np.array_equal(sd, sd0)


def test_same_seed_same_model_other_seed_other_model(small_task):
    X, y, sd, _ = small_task
    a = deep.MCC(n_epochs=2, random_state=7, device="cpu").fit(X, y, sd).predict_proba(X)
    b = deep.MCC(n_epochs=2, random_state=7, device="cpu").fit(X, y, sd).predict_proba(X)
    c = deep.MCC(n_epochs=2, random_state=8, device="cpu").fit(X, y, sd).predict_proba(X)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fit_leaves_the_global_torch_rng_alone(small_task):
    X, y, sd, _ = small_task
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    deep.SourceOnly(n_epochs=1, random_state=0, device="cpu").fit(X, y, sd)
    assert torch.equal(torch.rand(3), expected)


# ------------------------------------------------------------------------- oracle
def test_target_only_needs_explicit_oracle_labels(small_task):
    X, y, sd, y_true = small_task
    with pytest.raises(ValueError, match="oracle_target_labels"):
        deep.TargetOnly(n_epochs=1, device="cpu").fit(X, y, sd)
    n_tgt = int((sd < 0).sum())
    a = deep.TargetOnly(n_epochs=2, random_state=0, device="cpu").fit(
        X, y, sd, oracle_target_labels=y_true
    )
    b = deep.TargetOnly(n_epochs=2, random_state=0, device="cpu").fit(
        X, y, sd, oracle_target_labels=y_true[sd < 0]
    )
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    with pytest.raises(ValueError, match="masked"):
        deep.TargetOnly(n_epochs=1, device="cpu").fit(X, y, sd, oracle_target_labels=y)
    with pytest.raises(ValueError, match="one per target row"):
        deep.TargetOnly(n_epochs=1, device="cpu").fit(
            X, y, sd, oracle_target_labels=y_true[: n_tgt - 1]
        )
