"""Deep methods in the benchmark runner: presets, validation, keys, an end-to-end run."""

from __future__ import annotations

import re
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

import shiftlab.deep as deep  # noqa: E402
from _deep_task import torch_single_thread  # noqa: E402,F401
from _results import comparable  # noqa: E402
from shiftlab.bench.definition import (  # noqa: E402
    DefinitionError,
    list_presets,
    load_definition,
)
from shiftlab.bench.jobs import build_estimator, job_seed  # noqa: E402
from shiftlab.bench.planner import code_version, method_source_files, plan_jobs  # noqa: E402
from shiftlab.bench.runner import run_benchmark  # noqa: E402
from shiftlab.bench.store import RunStore  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.deep

TINY_DEEP = """
[benchmark]
name = "tiny-deep"

[protocol]
outer_splits = 1
inner_splits = 1
seed = 0

[[datasets]]
name = "mnist_usps"
tasks = ["mnist->usps"]
options = {{ normalize = "none" }}
max_samples_per_domain = 150

[datasets.training]
backbone = "cnn"
input_shape = [1, 16, 16]
feature_dim = 32
optimizer = "sgd"
lr = 0.05
momentum = 0.6
batch_size = 32
n_epochs = {n_epochs}

[methods.SourceOnly]
class = "shiftlab.deep.SourceOnly"

[methods.TargetOnly]

[methods.DANN]
grid = {{ reg = [0.1, 1.0] }}
sgd_training = {{ lr_scale = 0.1, momentum = 0.9 }}
{extra_method}
[scorers]
names = [{scorers}]

[execution]
executor = "inprocess"
device = "cpu"
"""

SCORERS = ("PE", "SND", "DEV", "ClassAMI", "oracle")


def write_deep(tmp_path: Path, name="tiny-deep.toml", *, n_epochs=2, extra_method="",
               scorers=SCORERS) -> Path:
    path = tmp_path / name
    path.write_text(TINY_DEEP.format(n_epochs=n_epochs, extra_method=extra_method,
                                     scorers=", ".join(f'"{s}"' for s in scorers)))
    return path




# --------------------------------------------------------------------- presets
@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_deep_presets_match_the_registry(variant):
    """The TOML files are the only deep presets: each deep method they run is named by
    its qualified name, with the registry's grid (GPU) or CPU grid, its setting and its
    SGD changes. (A method registered later joins them when its tables are added.)"""
    assert f"deep-{variant}" in list_presets()
    text = (resources.files("shiftlab.bench") / "presets" / f"deep-{variant}.toml").read_text()
    raw = tomllib.loads(text)["methods"]
    specs = {s.qualified_name: s for s in deep.list_deep_methods()}
    assert set(raw) <= set(specs) and len(raw) == 16
    for qualified, entry in raw.items():
        spec = specs[qualified]
        assert "class" not in entry, qualified  # the qualified name says it
        assert entry["grid"] == (spec.grid if variant == "gpu" else spec.cpu_grid), qualified
        assert entry.get("setting", spec.setting) == spec.setting, qualified
        assert entry.get("sgd_training", {}) == spec.sgd_training, qualified
    definition = load_definition(f"deep-{variant}")
    assert definition.name == f"deep-{variant}" and definition.has_deep
    assert [m.name for m in definition.methods] == [specs[q].name for q in raw]
    assert all(m.deep for m in definition.methods)
    assert definition.execution.device == ("cuda" if variant == "gpu" else "cpu")
    assert definition.protocol.outer_splits == 1
    assert definition.protocol.inner_splits == (5 if variant == "gpu" else 1)
    by_name = {d.name: d for d in definition.datasets}
    assert by_name["mnist_usps"].tasks == ("mnist->usps", "usps->mnist")
    assert len(by_name["office_caltech10_googlenet"].tasks) == 6
    for dataset in definition.datasets:
        deep.SourceOnly(**dataset.training)  # valid training parameters
    digits = by_name["mnist_usps"]
    assert digits.training["backbone"] == "cnn" and digits.training["optimizer"] == "sgd"
    if variant == "gpu":
        assert digits.training["lr"] == 0.1
    dann = next(m for m in definition.methods if m.name == "DANN")
    assert dann.sgd_training == {"lr_scale": 0.1, "momentum": 0.9}
    oracle = next(m for m in definition.methods if m.name == "TargetOnly")
    assert oracle.is_baseline and oracle.setting == "oracle"


def test_deep_digits_preset_is_skada_benchs_digit_setting(tmp_path):
    """deep-digits: SKADA-Bench's deep MNIST/USPS training (2-conv CNN on 28x28, SGD lr
    0.1, momentum 0.6, batch 256, 10 epochs) on full digits, with the registry's grids
    for the methods of REFERENCE 3d it is checked against."""
    definition = load_definition("deep-digits")
    (digits,) = definition.datasets
    assert digits.name == "mnist_usps_full"
    assert digits.options == {"mnist_split": "auto", "usps_split": "train", "image_size": 28,
                              "usps_resize": "pad", "normalize": "skada"}
    assert digits.tasks == ("mnist->usps", "usps->mnist")
    assert {k: digits.training[k] for k in ("backbone", "optimizer", "lr", "momentum",
                                            "batch_size", "n_epochs")} == {
        "backbone": "mnist_cnn", "optimizer": "sgd", "lr": 0.1, "momentum": 0.6,
        "batch_size": 256, "n_epochs": 10}
    assert list(digits.training["input_shape"]) == [1, 28, 28]
    deep.SourceOnly(**digits.training)  # valid training parameters
    specs = {s.name: s for s in deep.list_deep_methods()}
    names = [m.name for m in definition.methods]
    assert names == ["SourceOnly", "TargetOnly", "DeepCORAL", "DANN", "MCC"]
    for method in definition.methods:
        spec = specs[method.name]
        assert method.deep and method.setting == spec.setting
        assert method.sgd_training == spec.sgd_training
        grid = {k: list(v) for k, v in method.grid.items()}
        assert grid == {k: list(v) for k, v in spec.grid.items()}, method.name
    summary = run_benchmark("deep-digits", tmp_path / "dry", dry_run=True, progress=False)
    assert summary.n_jobs == 2 * 5


def test_deep_method_forms_give_the_same_keys(tmp_path):
    """A deep method named "deep:NAME", NAME, or NAME with the older `class` key is the
    same method: same definition dict, digest and job keys."""
    old = write_deep(tmp_path)  # [methods.SourceOnly] class = ..., [methods.DANN]
    new_text = old.read_text().replace(
        '[methods.SourceOnly]\nclass = "shiftlab.deep.SourceOnly"\n',
        '[methods."deep:SourceOnly"]\n').replace("[methods.DANN]", '[methods."deep:DANN"]')
    new_text = new_text.replace("[methods.TargetOnly]",
                                '[methods.TargetOnly]\nclass = "shiftlab.deep.methods.TargetOnly"')
    assert new_text.count('"deep:') == 2
    new = tmp_path / "new.toml"
    new.write_text(new_text)
    a, b = load_definition(old), load_definition(new)
    assert a.to_dict() == b.to_dict() and a.digest() == b.digest()
    assert [(j.label, j.key) for j in plan_jobs(a)] == [(j.label, j.key) for j in plan_jobs(b)]
    both = tmp_path / "both.toml"
    both.write_text(new_text.replace("[scorers]", "[methods.DANN]\n\n[scorers]"))
    with pytest.raises(DefinitionError, match=r"deep method DANN is given twice"):
        load_definition(both)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(new_text.replace('"deep:DANN"', '"deep:CORAL"'))
    with pytest.raises(DefinitionError, match=r"unknown.toml:\d+: \[methods.deep:CORAL\] "
                       r"unknown deep method 'CORAL'"):
        load_definition(unknown)


def test_deep_cpu_dry_run_prints_the_plan(tmp_path):
    from click.testing import CliRunner

    from shiftlab.cli import main

    summary = run_benchmark("deep-cpu", tmp_path / "dry", dry_run=True, progress=False)
    assert summary.n_jobs == 16 * (2 + 6) and summary.n_todo == summary.n_jobs
    assert [row["jobs"] for row in summary.plan] == [32, 96]
    out = CliRunner().invoke(main, ["run", "deep-cpu", "--dry-run", "-o", str(tmp_path / "c")])
    assert out.exit_code == 0, out.output
    assert "mnist_usps: 2 tasks x 1 outer splits x 16 methods (16 deep) = 32 jobs" in out.output
    assert "128 jobs: 0 cached, 128 to run" in out.output
    assert "device cpu" in out.output
    gpu = CliRunner().invoke(main, ["run", "deep-gpu", "--dry-run", "--device", "cpu",
                                    "-o", str(tmp_path / "g")])
    assert gpu.exit_code == 0, gpu.output
    assert "device cpu" in gpu.output
    assert not RunStore(tmp_path / "dry").result_keys()


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("n_epochs = 2", "n_epoch = 2"),
         r"tiny-deep.toml:(\d+): \[datasets #1.training\] unknown key 'n_epoch'. "
         r"Did you mean 'n_epochs'\?"),
        (("reg = [0.1, 1.0]", "rge = [0.1, 1.0]"),
         r"tiny-deep.toml:(\d+): \[methods.DANN\] DANN has no parameter 'rge'. "
         r"Did you mean 'reg'\?"),
        (("reg = [0.1, 1.0]", "random_state = [0, 1]"),
         r"\[methods.DANN\] 'random_state' cannot be in a grid"),
        (("n_epochs = 2", "device = \"cpu\""),
         r"\[datasets #1.training\] 'device' cannot be set here: .*\[execution\] device"),
        (('backbone = "cnn"', 'backbone = "resnet"'),
         r"tiny-deep.toml:(\d+): \[datasets #1.training\] backbone must be one of"),
        (("lr = 0.05", "lr = -1.0"),
         r"tiny-deep.toml:(\d+): \[datasets #1.training\] lr must be positive"),
        (("lr = 0.05", 'lr = "fast"'),
         r"tiny-deep.toml:(\d+): \[datasets #1.training\] lr must be a number"),
        (("input_shape = [1, 16, 16]", "input_shape = [16, 16]"),
         r"input_shape must be a list \[channels, height, width\]"),
        (("lr_scale = 0.1", "lr_scal = 0.1"),
         r"tiny-deep.toml:(\d+): \[methods.DANN.sgd_training\] unknown key 'lr_scal'. "
         r"Did you mean 'lr_scale'\?"),
        (("[methods.DANN]", "[methods.DANNN]"),
         r"\[methods.DANNN\] unknown method 'DANNN'. Did you mean 'DANN'\?"),
        (('class = "shiftlab.deep.SourceOnly"', 'class = "shiftlab.deep.DANN"'),
         r"\[methods.SourceOnly\] class of the deep method SourceOnly is "
         r"'shiftlab.deep.SourceOnly'"),
        (("[methods.TargetOnly]", "[methods.TargetOnly]\ngrid = { lr = [0.1] }"),
         r"TargetOnly is the oracle baseline .* takes no grid"),
        (('device = "cpu"', 'device = "gpu"'), r"\[execution\] unknown device 'gpu'"),
    ],
)
def test_deep_definition_errors_are_located(tmp_path, change, message):
    path = write_deep(tmp_path)
    text = path.read_text()
    assert change[0] in text
    text = text.replace(change[0], change[1], 1)
    path.write_text(text)
    with pytest.raises(DefinitionError, match=message) as info:
        load_definition(path)
    found = re.search(message, str(info.value))
    if found.groups():  # the line named is the line of the change
        line = int(found.group(1))
        token = change[1].split(" ", 1)[0]
        assert token in text.splitlines()[line - 1], (line, token)


def test_shallow_definitions_stay_shallow(tmp_path):
    """SourceOnly is in both registries: without `class` it stays the shallow method."""
    text = write_deep(tmp_path).read_text().replace('class = "shiftlab.deep.SourceOnly"\n', "")
    path = tmp_path / "ambiguous.toml"
    path.write_text(text)
    definition = load_definition(path)
    methods = {m.name: m for m in definition.methods}
    assert not methods["SourceOnly"].deep and methods["DANN"].deep
    assert methods["TargetOnly"].deep  # a deep-only name needs no class
    coral = write_deep(tmp_path, "coral.toml",
                       extra_method='[methods.CORAL]\nclass = "shiftlab.deep.CORAL"\n')
    with pytest.raises(DefinitionError, match=r"CORAL is a shallow method: `class` is for"):
        load_definition(coral)
    shallow = load_definition("quick").to_dict()
    assert "training" not in shallow["datasets"][0] and "device" not in shallow["execution"]
    assert all(set(m) == {"name", "grid"} for m in shallow["methods"])


# ------------------------------------------------------------- estimator, keys
def test_build_estimator_and_keys(tmp_path):
    definition = load_definition(write_deep(tmp_path))
    jobs = {j.method.name: j for j in plan_jobs(definition)}
    dann, grid = build_estimator(jobs["DANN"])
    assert isinstance(dann, deep.DANN) and grid == {"reg": [0.1, 1.0]}
    params = dann.get_params()
    # The method's SGD changes: lr x 0.1 and momentum 0.9 on this SGD dataset.
    assert params["lr"] == pytest.approx(0.005) and params["momentum"] == 0.9
    assert params["backbone"] == "cnn" and params["input_shape"] == (1, 16, 16)
    assert params["device"] == "cpu" and params["random_state"] == job_seed(jobs["DANN"])
    source, grid = build_estimator(jobs["SourceOnly"])
    assert isinstance(source, deep.SourceOnly) and grid == {}
    assert source.get_params()["lr"] == 0.05 and source.get_params()["momentum"] == 0.6
    # Deep code versions hash the shiftlab.deep modules a method is built from.
    files = {Path(f).name for f in method_source_files("DANN", deep=True)}
    assert {"methods.py", "estimator.py", "training.py", "losses.py", "backbones.py"} <= files
    assert not {"source_free.py", "transductive.py", "registry.py"} & files
    shot = {Path(f).name for f in method_source_files("SHOT", deep=True)}
    assert {"source_free.py", "methods.py"} <= shot
    assert code_version("DANN", True) != code_version("SHOT", True)
    assert code_version("SourceOnly", True) != code_version("SourceOnly")

    # Training settings are part of deep keys; the device and the estimator are not.
    other = load_definition(write_deep(tmp_path, "three.toml", n_epochs=3))
    assert not {j.key for j in plan_jobs(other)} & {j.key for j in jobs.values()}
    moved = definition.with_execution(device="auto")
    assert [j.key for j in plan_jobs(moved)] == [j.key for j in jobs.values()]
    adam = write_deep(tmp_path, "adam.toml").read_text().replace('"sgd"', '"adam"')
    (tmp_path / "adam.toml").write_text(adam)
    adam_jobs = {j.method.name: j for j in plan_jobs(load_definition(tmp_path / "adam.toml"))}
    est, _ = build_estimator(adam_jobs["DANN"])
    assert est.lr == 0.05 and est.momentum == 0.6  # sgd_training applies to SGD only


# ------------------------------------------------------------------ end to end
@pytest.mark.data
def test_tiny_deep_benchmark_end_to_end(tmp_path, shared_data_home):
    path = write_deep(tmp_path)
    first = run_benchmark(path, tmp_path / "a", progress=False)
    assert first.n_failed == 0, first.failures
    assert first.n_jobs == 3 and first.n_done == 3
    results = RunStore(tmp_path / "a").results()
    assert set(results["method"]) == {"SourceOnly", "TargetOnly", "DANN"}
    for method, n_candidates in (("SourceOnly", 1), ("DANN", 2)):
        rows = results[results["method"] == method]
        for scorer in SCORERS:
            mine = rows[rows["scorer"] == scorer]
            assert len(mine) == n_candidates, (method, scorer)
            assert np.isfinite(mine["inner_score"].astype(float)).all(), (method, scorer)
            assert mine["selected"].sum() == 1
    acc = results["test_accuracy"].astype(float)
    assert np.isfinite(acc).all() and ((acc >= 0) & (acc <= 1)).all()
    oracle = results[results["method"] == "TargetOnly"]
    assert list(oracle["scorer"]) == ["none"] and oracle["oracle"].all()
    assert set(results["device"]) == {"cpu"}
    assert "torch" in results["versions"].iloc[0]
    meta = RunStore(tmp_path / "a").read_meta()
    assert "torch" in meta["versions"]

    # Same definition again: everything cached, nothing runs or is rescored.
    again = run_benchmark(path, tmp_path / "a", progress=False)
    assert again.n_cached == 3 and again.n_done == 0 and again.n_rescored == 0

    # A scorer added later comes from the stored records of the deep candidates.
    more = write_deep(tmp_path, "more.toml", scorers=(*SCORERS, "BNM"))
    third = run_benchmark(more, tmp_path / "a", progress=False)
    assert third.n_done == 0 and third.n_rescored == 2
    assert "BNM" in set(RunStore(tmp_path / "a").results()["scorer"])

    # Deterministic on CPU for a fixed seed: a fresh run gives the same rows.
    run_benchmark(path, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(comparable(RunStore(tmp_path / "b").results()),
                                  comparable(results))
