"""Benchmark runner: definitions, planning, cache, resume, failures, timeouts, Dask."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _results import comparable
from shiftlab.bench.definition import DefinitionError, list_presets, load_definition
from shiftlab.bench.planner import plan_jobs
from shiftlab.bench.runner import plan_status, run_benchmark
from shiftlab.bench.store import RunStore

TINY = """
[benchmark]
name = "tiny"

[protocol]
outer_splits = 2
inner_splits = 2
seed = 3

[[datasets]]
name = "sim-conditional"
tasks = ["source->target"]
options = {{ n_samples_source = 30, n_samples_target = 30 }}
{extra_dataset}
[estimator]
name = "LogisticRegression"

[methods."Train Src"]
[methods."Train Tgt"]
[methods.DensityReweight]
grid = {{ bandwidth = [0.5, "scott"] }}
{extra_method}
[scorers]
names = [{scorers}]

[execution]
executor = "inprocess"
{execution}
"""


def write_def(tmp_path: Path, name="tiny.toml", *, extra_dataset="", extra_method="",
              scorers='"IW", "PE", "oracle"', execution="") -> Path:
    path = tmp_path / name
    path.write_text(TINY.format(extra_dataset=extra_dataset, extra_method=extra_method,
                                scorers=scorers, execution=execution))
    return path


# ------------------------------------------------------------------ definitions
def test_presets_load_and_validate():
    assert {"quick", "skada-bench"} <= set(list_presets())
    quick = load_definition("quick")
    assert quick.name == "quick" and "oracle" in quick.scorers
    assert any(m.name == "Train Src" for m in quick.methods)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[methods.DensityReweight]", "[methods.DensityReweigh]"),
         r"tiny.toml:\d+: \[methods.DensityReweigh\] unknown method 'DensityReweigh'. "
         r"Did you mean 'DensityReweight'\?"),
        (('bandwidth = [0.5, "scott"]', "bandwidth = 0.5"),
         r"grid value of 'bandwidth' must be a non-empty list"),
        (('bandwidth = [0.5, "scott"]', "bandwith = [0.5]"),
         r"DensityReweight has no parameter 'bandwith'. Did you mean 'bandwidth'\?"),
        (('name = "sim-conditional"', 'name = "sim-conditionl"'),
         r"tiny.toml:\d+: \[datasets #1\] unknown dataset 'sim-conditionl'. "
         r"Did you mean 'sim-conditional'\?"),
        (("outer_splits = 2", "outer_splits = 0"), r"outer_splits must be a positive integer"),
        (('names = ["IW"', 'names = ["IWW"'), r"unknown scorer 'IWW'. Did you mean 'IW'\?"),
        (('executor = "inprocess"', 'executor = "slurm"'), r"unknown executor 'slurm'"),
        (("[protocol]", "[protocol]\nfolds = 3"), r"\[protocol\] unknown key 'folds'"),
    ],
)
def test_definition_errors_are_located(tmp_path, change, message):
    path = write_def(tmp_path, scorers='"IW", "PE", "oracle"')
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(DefinitionError, match=message):
        load_definition(path)


def test_missing_definition_and_preset_suggestion(tmp_path):
    with pytest.raises(DefinitionError, match="No benchmark definition"):
        load_definition(tmp_path / "nope.toml")
    with pytest.raises(DefinitionError, match="Did you mean 'quick'"):
        load_definition("quik")


# ----------------------------------------------------------------- run + cache
def test_run_cache_hit_and_incremental_additions(tmp_path):
    run_dir = tmp_path / "run"
    d1 = write_def(tmp_path)
    first = run_benchmark(d1, run_dir, progress=False)
    assert first.n_jobs == 2 * 3 and first.n_done == 6 and first.n_failed == 0
    results = RunStore(run_dir).results()
    assert set(results["method"]) == {"Train Src", "Train Tgt", "DensityReweight"}
    assert {"IW", "PE", "oracle"} <= set(results["scorer"])
    # provenance on every row
    for col in ("shiftlab_version", "versions", "seed", "definition_digest", "host"):
        assert results[col].notna().all()

    # Same definition again: everything cached, nothing computed.
    again = run_benchmark(d1, run_dir, progress=False)
    assert again.n_cached == 6 and again.n_done == 0
    pd.testing.assert_frame_equal(comparable(RunStore(run_dir).results()), comparable(results))

    # A new scorer is computed from stored records: no job runs again.
    d2 = write_def(tmp_path, "d2.toml", scorers='"IW", "PE", "SND", "oracle"')
    third = run_benchmark(d2, run_dir, progress=False)
    assert third.n_done == 0 and third.n_rescored == 2
    after = RunStore(run_dir).results()
    assert "SND" in set(after["scorer"])
    old = comparable(after[after["scorer"] != "SND"])
    pd.testing.assert_frame_equal(old, comparable(results))

    # A new method runs only its own jobs.
    d3 = write_def(tmp_path, "d3.toml", scorers='"IW", "PE", "SND", "oracle"',
                   extra_method='[methods.GaussianReweight]\n')
    fourth = run_benchmark(d3, run_dir, progress=False)
    assert fourth.n_jobs == 8 and fourth.n_cached == 6 and fourth.n_done == 2
    assert plan_status(load_definition(d3), run_dir)["done"] == 8


def test_scorer_needing_outputs_the_records_lack_reruns_those_jobs(tmp_path):
    # ClassAMI reads transform features, which a run without such a scorer does not
    # keep: the method's jobs run again (baselines are rescored from their records).
    run_dir = tmp_path / "run"
    first = run_benchmark(write_def(tmp_path), run_dir, progress=False)
    before = RunStore(run_dir).results()
    d2 = write_def(tmp_path, "d2.toml", scorers='"IW", "PE", "ClassAMI", "oracle"')
    second = run_benchmark(d2, run_dir, progress=False)
    assert second.n_failed == 0 and second.n_done == 2  # the DensityReweight jobs
    after = RunStore(run_dir).results()
    assert after.query("scorer == 'ClassAMI' and method == 'DensityReweight'")[
        "inner_score"].notna().all()
    old = comparable(after[after["scorer"] != "ClassAMI"])
    pd.testing.assert_frame_equal(old, comparable(before))
    assert first.n_done == 6


def test_dry_run_counts(tmp_path):
    d1 = write_def(tmp_path)
    dry = run_benchmark(d1, tmp_path / "run", dry_run=True, progress=False)
    assert dry.n_jobs == 6 and dry.n_todo == 6 and dry.n_cached == 0
    assert not RunStore(tmp_path / "run").result_keys()


def test_failure_isolation(tmp_path):
    bad = ('\n[[datasets]]\nname = "sim-covariate"\ntasks = ["source->target"]\n'
           "options = { n_samples_source = -5 }\n")
    d = write_def(tmp_path, extra_dataset=bad)
    summary = run_benchmark(d, tmp_path / "run", progress=False)
    assert summary.n_failed == 6 and summary.n_done == 6
    failures = RunStore(tmp_path / "run").failures()
    assert set(failures["dataset"]) == {"sim-covariate"}
    assert failures["traceback"].str.contains("Traceback").all()
    # Failed jobs are skipped on resume unless asked to retry.
    again = run_benchmark(d, tmp_path / "run", progress=False)
    assert again.n_done == 0 and again.n_previously_failed == 6


def test_timeout_is_recorded_and_retry(tmp_path):
    d = write_def(tmp_path, execution="timeout = 0.001")
    summary = run_benchmark(d, tmp_path / "run", progress=False)
    assert summary.n_failed == 6
    assert {f["error_type"] for f in summary.failures} == {"JobTimeoutError"}
    retry = run_benchmark(d, tmp_path / "run", timeout=120, retry_failed=True, progress=False)
    assert retry.n_done == 6 and retry.n_failed == 0
    assert RunStore(tmp_path / "run").failures().empty


def _modules_at_job_start(names):
    return {name: name in sys.modules for name in names}


def test_timed_jobs_start_with_the_method_modules_imported():
    """A job with a timeout runs in a child forked from a server that has imported the
    method modules, and POT with them (which imports torch when installed: about 2 s),
    once for the run; before, every job paid for these imports."""
    from shiftlab.bench.execute import run_guarded
    from shiftlab.methods.registry import METHOD_MODULES

    outcome = run_guarded(_modules_at_job_start, ("ot", *METHOD_MODULES), timeout=120)
    assert outcome.ok, outcome.error
    assert outcome.value == dict.fromkeys(("ot", *METHOD_MODULES), True)


def test_results_are_deterministic_across_executors(tmp_path):
    d = write_def(tmp_path)
    run_benchmark(d, tmp_path / "a", progress=False)
    run_benchmark(d, tmp_path / "b", executor="local", n_jobs=2, progress=False)
    a = comparable(RunStore(tmp_path / "a").results())
    b = comparable(RunStore(tmp_path / "b").results())
    pd.testing.assert_frame_equal(a, b)


def test_dask_local_cluster_matches_local_run(tmp_path):
    pytest.importorskip("dask.distributed")
    d = write_def(tmp_path)
    run_benchmark(d, tmp_path / "ref", progress=False)
    summary = run_benchmark(d, tmp_path / "dask", executor="dask", progress=False)
    assert summary.n_done == 6 and summary.n_failed == 0
    pd.testing.assert_frame_equal(
        comparable(RunStore(tmp_path / "ref").results()),
        comparable(RunStore(tmp_path / "dask").results()),
    )


# ------------------------------------------------------------------ kill -9
def test_kill_9_then_resume_loses_nothing(tmp_path):
    d = tmp_path / "k.toml"
    text = write_def(tmp_path).read_text().replace("outer_splits = 2", "outer_splits = 5")
    d.write_text(text)
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "killed"
    run_benchmark(d, ref_dir, progress=False)
    cmd = [sys.executable, "-m", "shiftlab.cli", "run", str(d), "-o", str(run_dir),
           "--executor", "inprocess", "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    results = run_dir / "results"
    deadline = time.time() + 600
    while time.time() < deadline and len(list(results.glob("*.parquet"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # A job counts as stored once its manifest line is written, after its results file:
    # a kill between the two leaves one file more than the manifest lists (it runs again).
    n_before = len(RunStore(run_dir).manifest())
    assert 2 <= n_before < 15, "the run must be killed half-way for this test to mean anything"
    for f in results.glob("*.parquet"):  # every stored file is complete
        pd.read_parquet(f)
    resumed = run_benchmark(d, run_dir, progress=False)
    assert resumed.n_cached >= n_before and resumed.n_cached + resumed.n_done == 15
    pd.testing.assert_frame_equal(
        comparable(RunStore(ref_dir).results()), comparable(RunStore(run_dir).results())
    )


def test_store_ignores_partial_temporary_files(tmp_path):
    # A temporary left by a writer that died is removed when the next writer starts;
    # it never counts as a result.
    store = RunStore(tmp_path)
    with store.writing():
        pass
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    partial = store.results_dir / f".abc.parquet.{socket.gethostname()}.{dead}.tmp"
    partial.write_bytes(b"partial")
    assert store.results().empty
    with RunStore(tmp_path).writing():
        pass
    assert not partial.exists()


def test_plan_is_stable_and_keys_unique():
    definition = load_definition("quick")
    jobs = plan_jobs(definition)
    keys = [j.key for j in jobs]
    assert len(set(keys)) == len(keys)
    assert keys == [j.key for j in plan_jobs(definition)]
    assert np.all([len(k) == 24 for k in keys])


def test_cli_run_status_report(tmp_path):
    d = write_def(tmp_path)
    run_dir = tmp_path / "cli"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-m", "shiftlab.cli", "run", str(d), "-o", str(run_dir)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "report:" in out.stdout and (run_dir / "report.html").exists()
    st = subprocess.run([sys.executable, "-m", "shiftlab.cli", "status", str(run_dir)],
                        capture_output=True, text=True, env=env, timeout=120)
    assert "done: 6" in st.stdout and "failed: 0" in st.stdout
    bad = subprocess.run([sys.executable, "-m", "shiftlab.cli", "run",
                          str(tmp_path / "missing.toml")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: No benchmark definition")
    assert "Traceback" not in bad.stderr


def test_job_warnings_are_recorded_not_printed(tmp_path, recwarn):
    from sklearn.exceptions import ConvergenceWarning

    path = write_def(tmp_path)
    # One L-BFGS iteration: every fit of the base estimator warns.
    path.write_text(path.read_text().replace(
        'name = "LogisticRegression"', 'name = "LogisticRegression"\nparams = { max_iter = 1 }'))
    summary = run_benchmark(path, tmp_path / "run", progress=False)
    results = RunStore(tmp_path / "run").results()
    adapted = results[results["method"] == "DensityReweight"]["warnings"]
    assert adapted.str.contains("ConvergenceWarning").all()
    assert adapted.str.match(r"^\d+x ConvergenceWarning").all()
    assert summary.n_with_warnings == summary.n_done == 6
    assert "6 computed jobs raised warnings" in str(summary)
    # None reached the console (the test's warning recorder).
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]


def test_a_definition_built_from_a_dict_runs(tmp_path):
    """Its folder keeps the definition's content (there is no file to copy)."""
    from shiftlab.bench.definition import definition_from_dict
    from shiftlab.bench.runner import run_benchmark

    definition = definition_from_dict({
        "benchmark": {"name": "from-dict"},
        "protocol": {"outer_splits": 2, "inner_splits": 2},
        "datasets": [{"name": "sim-covariate"}],
        "methods": {"CORAL": None},
        "scorers": {"names": ["IW"]},
        "execution": {"executor": "inprocess"},
    })
    summary = run_benchmark(definition, tmp_path / "run", progress=False)
    assert summary.n_done == summary.n_jobs > 0 and summary.n_failed == 0
    saved = list((tmp_path / "run").glob("definition*"))
    assert saved and "from-dict" in saved[0].read_text()


def test_a_relative_run_folder_keeps_records_whatever_the_workers_folder(tmp_path,
                                                                         monkeypatch):
    """Local workers fork from a server that keeps the folder it started in: a relative
    run folder must still reach them (as an absolute path), or their records are lost
    and the pools across methods are skipped."""
    from shiftlab.bench.definition import definition_from_dict
    from shiftlab.bench.runner import run_benchmark

    definition = definition_from_dict({
        "benchmark": {"name": "relative"},
        "protocol": {"outer_splits": 2, "inner_splits": 2},
        "datasets": [{"name": "sim-covariate", "tasks": ["source->target"]}],
        "methods": {"CORAL": None},
        "scorers": {"names": ["IW"], "pool": ["EnsV"]},
        "execution": {"executor": "local", "n_jobs": 2},
    })
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    monkeypatch.chdir(tmp_path / "first")  # the forkserver may start here
    run_benchmark(definition, "run", progress=False)
    monkeypatch.chdir(tmp_path / "second")
    summary = run_benchmark(definition, "run", progress=False)
    assert summary.n_done == summary.n_jobs > 0
    assert summary.n_pools == 2 and summary.n_pools_skipped == 0
    assert list((tmp_path / "second" / "run" / "records").glob("*.pkl"))
