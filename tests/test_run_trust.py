"""Runs you can trust: the run folder's one owner, verified results, exact cache keys.

Each test here failed on 7ef6a49 (before the run folder had a manifest, a lock and
read-only readers, and before keys followed the code a job runs).
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from _results import comparable
from shiftlab.bench.definition import DefinitionError
from shiftlab.bench.runner import run_benchmark, run_status
from shiftlab.bench.store import CorruptRunFile, RunFolderLocked, RunStore
from shiftlab.cli import main as cli
from shiftlab.report import write_report

REPO = Path(__file__).resolve().parents[1]

DEFINITION = """
[benchmark]
name = "trust"

[protocol]
outer_splits = {outer_splits}
inner_splits = 2
seed = 3

[[datasets]]
name = "sim-conditional"
tasks = [{tasks}]
options = {{ n_samples_source = {n}, n_samples_target = {n} }}

[estimator]
name = "LogisticRegression"

[methods."Train Src"]
[methods."Train Tgt"]
[methods.DensityReweight]
grid = {{ bandwidth = [0.5, "scott"] }}
[methods.GaussianReweight]

[scorers]
names = [{scorers}]

[execution]
executor = "inprocess"
"""


def write_definition(path: Path, *, outer_splits=2, scorers='"IW", "PE", "oracle"',
                     tasks='"source->target"', n=30) -> Path:
    path.write_text(DEFINITION.format(outer_splits=outer_splits, scorers=scorers,
                                      tasks=tasks, n=n))
    return path


def folder_state(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


def dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)


# ------------------------------------------------------- readers change nothing
def test_readers_never_touch_a_writers_temporaries(tmp_path):
    """The reproduction of the issue: a reader deleted a live writer's temporary."""
    run_dir = tmp_path / "run"
    run_benchmark(write_definition(tmp_path / "d.toml"), run_dir, progress=False)
    live = run_dir / "results" / f".abc.parquet.{socket.gethostname()}.{os.getpid()}.tmp"
    live.write_bytes(b"being written")
    before = folder_state(run_dir)
    RunStore(run_dir).results()
    run_status(run_dir)
    run_benchmark(tmp_path / "d.toml", run_dir, dry_run=True, progress=False)
    assert CliRunner().invoke(cli, ["status", str(run_dir)]).exit_code == 0
    assert folder_state(run_dir) == before  # readers wrote and deleted nothing
    # A writer removes only what dead processes left.
    dead = run_dir / "results" / f".def.parquet.{socket.gethostname()}.{dead_pid()}.tmp"
    dead.write_bytes(b"left by a killed run")
    run_benchmark(tmp_path / "d.toml", run_dir, progress=False)
    assert live.exists() and not dead.exists()


def test_status_and_report_watching_a_live_run(tmp_path):
    """`shiftlab status` and `report`, 10 times each against a live run, which finishes
    with results identical to an undisturbed run."""
    definition = write_definition(tmp_path / "d.toml", outer_splits=8, n=150)
    run_dir = tmp_path / "live"
    # What the first report imports (plots), loaded before the run starts, so that the
    # watching begins at once.
    import matplotlib.pyplot  # noqa: F401

    import shiftlab.report.html  # noqa: F401
    proc = subprocess.Popen(
        [sys.executable, "-m", "shiftlab.cli", "run", str(definition), "-o", str(run_dir),
         "--no-report"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    runner = CliRunner()
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (run_dir / "manifest.jsonl").exists():
            time.sleep(0.02)
        watched = 0
        for _ in range(10):
            status = runner.invoke(cli, ["status", str(run_dir)])
            assert status.exit_code == 0, status.output
            report = runner.invoke(cli, ["report", str(run_dir)])
            assert report.exit_code == 0, report.output
            watched += proc.poll() is None
    finally:
        output = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, output
    assert watched >= 3, "the run ended before it could be watched"
    reference = tmp_path / "undisturbed"
    run_benchmark(definition, reference, progress=False)
    pd.testing.assert_frame_equal(comparable(RunStore(run_dir).results()),
                                  comparable(RunStore(reference).results()))
    counts = run_status(run_dir)
    assert counts["done"] == counts["total"] == 32 and counts["corrupt"] == 0


def test_status_reads_the_folder_without_loading_data(tmp_path):
    run_dir = tmp_path / "run"
    run_benchmark(write_definition(tmp_path / "d.toml"), run_dir, progress=False)
    code = ("import sys; from shiftlab.bench.runner import run_status; "
            f"print(run_status({str(run_dir)!r})); "
            "from shiftlab.bench.datasets import _load_cached; "
            "print(_load_cached.cache_info().misses)")
    env = {**os.environ, "SHIFTLAB_DATA": str(tmp_path / "no-data-home")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.splitlines()
    assert eval(out[0]) == {"total": 8, "done": 8, "corrupt": 0, "failed": 0,
                            "running": 0, "todo": 0}
    assert out[1] == "0"  # no dataset loaded


# --------------------------------------------------------------------- the lock
def test_second_writer_gets_a_clear_error_and_a_dead_writers_lock_is_no_obstacle(tmp_path):
    run_dir = tmp_path / "run"
    definition = write_definition(tmp_path / "d.toml")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from shiftlab.bench.store import RunStore\n"
         "with RunStore(sys.argv[1]).writing():\n"
         "    print('locked', flush=True); time.sleep(120)", str(run_dir)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderLocked, match=rf"pid {holder.pid} on host"):
            run_benchmark(definition, run_dir, progress=False)
        result = CliRunner().invoke(cli, ["run", str(definition), "-o", str(run_dir)])
        assert result.exit_code == 1
        assert "is being written by another shiftlab run" in result.output
        assert not RunStore(run_dir).result_keys()  # nothing was computed twice
    finally:
        holder.kill()
        holder.wait()
    # The holder died (as with kill -9): its lock file stays, and is no obstacle.
    assert json.loads((run_dir / "lock").read_text())["pid"] == holder.pid
    summary = run_benchmark(definition, run_dir, progress=False)
    assert summary.n_done == 8


# --------------------------------------------------------------- verification
def test_fault_injection_every_flipped_file_is_found_and_recomputed(tmp_path):
    """Random bytes flipped in 20 stored result and record files: the next run detects
    every one, recomputes those jobs, and ends with the original results."""
    run_dir = tmp_path / "run"
    definition = write_definition(tmp_path / "d.toml", outer_splits=5)
    first = run_benchmark(definition, run_dir, progress=False)
    assert first.n_done == 20
    original = comparable(RunStore(run_dir).results())
    files = sorted((run_dir / "results").glob("*.parquet"))
    files += sorted((run_dir / "records").glob("*.pkl"))
    assert len(files) == 30
    rng = random.Random(0)
    hit = rng.sample(files, 20)
    for path in hit:
        data = bytearray(path.read_bytes())
        pos = rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
    jobs_hit = {p.stem for p in hit}
    counts = run_status(run_dir)
    assert counts["corrupt"] == len({p.stem for p in hit if p.suffix == ".parquet"})
    with pytest.raises(CorruptRunFile, match=r"results/\w+\.parquet"):
        write_report(run_dir)
    again = run_benchmark(definition, run_dir, progress=False)
    assert again.n_corrupt == len(jobs_hit) and again.n_done == len(jobs_hit)
    assert again.n_cached == 20 - len(jobs_hit)
    assert {line.split(":")[0] for line in again.corrupt} <= {
        e.label for e in RunStore(run_dir).manifest().values()}
    pd.testing.assert_frame_equal(comparable(RunStore(run_dir).results()), original)
    assert run_status(run_dir)["done"] == 20
    assert write_report(run_dir).exists()


def test_truncated_result_is_not_done_and_the_report_names_it(tmp_path):
    run_dir = tmp_path / "run"
    definition = write_definition(tmp_path / "d.toml")
    run_benchmark(definition, run_dir, progress=False)
    victim = sorted((run_dir / "results").glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    status = CliRunner().invoke(cli, ["status", str(run_dir)])
    assert "done: 7" in status.output and "corrupt: 1" in status.output
    report = CliRunner().invoke(cli, ["report", str(run_dir)])
    assert report.exit_code == 1 and victim.name in report.output
    assert run_benchmark(definition, run_dir, progress=False).n_done == 1
    assert run_status(run_dir)["done"] == 8


def test_a_crafted_records_file_is_never_unpickled(tmp_path):
    """Records are pickles: one the run did not write (no valid HMAC tag) is not loaded,
    even when a scorer added later needs it; its job is computed again."""
    run_dir = tmp_path / "run"
    run_benchmark(write_definition(tmp_path / "d.toml"), run_dir, progress=False)
    marker = tmp_path / "code-ran"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    records = sorted((run_dir / "records").glob("*.pkl"))
    # Same size as the genuine file (pickle ignores what follows its STOP opcode), so
    # only the tag can tell them apart; unpickling it would run code, as checked here.
    size = records[0].stat().st_size
    crafted = pickle.dumps(Exploit())
    crafted += b"\0" * (size - len(crafted))
    pickle.loads(crafted)
    assert marker.exists()
    marker.unlink()
    records[0].write_bytes(crafted)
    more = write_definition(tmp_path / "d2.toml", scorers='"IW", "PE", "SND", "oracle"')
    summary = run_benchmark(more, run_dir, progress=False)
    assert not marker.exists()
    assert summary.n_corrupt == 1 and summary.n_done == 1 and summary.n_rescored == 3
    assert "HMAC" in summary.corrupt[0]
    # A records file from another account's run (another secret) is not trusted either.
    other_secret = tmp_path / "other-secret"
    env = {**os.environ, "SHIFTLAB_SECRET_FILE": str(other_secret)}
    code = ("import sys; from shiftlab.bench.runner import run_benchmark; "
            "s = run_benchmark(sys.argv[1], sys.argv[2], progress=False); "
            "print(s.n_corrupt, s.n_done)")
    out = subprocess.run([sys.executable, "-c", code, str(more), str(run_dir)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["4", "4"]  # the 4 jobs with records; the baselines' rows are reused


# ------------------------------------------------------------------- job keys
def test_more_outer_splits_reuse_the_splits_already_computed(tmp_path):
    run_dir = tmp_path / "run"
    run_benchmark(write_definition(tmp_path / "d.toml", outer_splits=2), run_dir,
                  progress=False)
    more = run_benchmark(write_definition(tmp_path / "d5.toml", outer_splits=3), run_dir,
                         progress=False)
    assert more.n_cached == 8 and more.n_done == 4


def test_unknown_task_domain_is_a_definition_error(tmp_path):
    definition = write_definition(tmp_path / "d.toml", tasks='"source->nowhere"')
    with pytest.raises(DefinitionError, match=r"'nowhere'.*domains are \['source', 'target'\]"):
        run_benchmark(definition, tmp_path / "run", dry_run=True, progress=False)


VERSIONS = """
import json
import shiftlab
from shiftlab.bench.planner import code_version, scorer_version
from shiftlab.methods.registry import list_methods
from shiftlab.selection import list_scorers
print(json.dumps({"file": shiftlab.__file__,
                  "methods": {m.name: code_version(m.name) for m in list_methods()},
                  "baseline": code_version("Train Src"),
                  "scorers": {s: scorer_version(s) for s in list_scorers()}}))
"""


def _versions(src: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", VERSIONS], env=env, capture_output=True,
                         text=True, check=True).stdout
    result = json.loads(out)
    assert result["file"].startswith(str(src))  # the copy is what ran
    return result


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(REPO / "src" / "shiftlab", src / "shiftlab",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return src


def test_keys_follow_the_code_a_method_runs(package_copy):
    pkg = package_copy / "shiftlab"
    base = _versions(package_copy)

    _append(pkg / "methods" / "_ot.py", "\n# a comment\n")
    ot = _versions(package_copy)
    changed = {m for m in base["methods"] if base["methods"][m] != ot["methods"][m]}
    assert {"EntOT", "MapOT", "JDOT"} <= changed
    assert not {"CORAL", "KMM", "SA", "DensityReweight"} & changed
    assert ot["baseline"] == base["baseline"] and ot["scorers"] == base["scorers"]

    _append(pkg / "methods" / "_kernels.py", "\n# a comment\n")
    kernels = _versions(package_copy)
    changed = {m for m in ot["methods"] if ot["methods"][m] != kernels["methods"][m]}
    assert {"KMM", "TCA"} <= changed and not {"CORAL", "EntOT"} & changed

    _append(pkg / "data" / "convention.py", "\n# a comment\n")
    convention = _versions(package_copy)
    assert all(convention["methods"][m] != kernels["methods"][m] for m in kernels["methods"])
    assert convention["baseline"] != kernels["baseline"]

    # A scorer (or any file of selection/ that fits do not run) changes no job key.
    _append(pkg / "selection" / "scorers" / "_source.py", '\n"""A docstring."""\n')  # IW's
    _append(pkg / "selection" / "reliability.py", "\n# a comment\n")
    scorers = _versions(package_copy)
    assert scorers["methods"] == convention["methods"]
    assert scorers["baseline"] == convention["baseline"]
    assert scorers["scorers"]["IW"] != convention["scorers"]["IW"]


def test_an_edited_scorer_is_rescored_and_nothing_is_refitted(tmp_path, package_copy):
    src = tmp_path / "src"
    shutil.copytree(package_copy, src)
    definition = write_definition(tmp_path / "d.toml")
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "shiftlab.cli", "run", str(definition), "-o",
           str(tmp_path / "run"), "--no-report"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    assert "8 jobs: 0 cached, 8 computed" in first
    # The scorers' base classes: every scorer's code.
    _append(src / "shiftlab" / "selection" / "scorers" / "_base.py", "\n# an edit\n")
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    assert "8 jobs: 8 cached, 0 computed" in second and "4 rescored" in second
    rows = RunStore(tmp_path / "run").results()
    assert rows.loc[rows["scorer"] != "none", "scorer_version"].str.len().gt(0).all()


# ------------------------------------------------------------------ the README
def test_trust_model_is_stated_and_run_help_points_to_it():
    readme = (REPO / "README.md").read_text()
    assert "## Security and trust" in readme
    section = readme.split("## Security and trust")[1].split("\n## ")[0]
    for topic in ("definition", "run folder", "Dask", "TLS", "HMAC", "dask_no_worker_timeout"):
        assert topic in section, topic
    help_text = CliRunner().invoke(cli, ["run", "--help"]).output
    assert "Security and trust" in help_text


def test_changing_the_selection_metric_rescores_from_records(tmp_path):
    """`[scorers] metric` is applied like a scorer: no job runs again, the label-based
    scorers' rows are rescored, and every row says which metric it was selected by."""
    run_dir = tmp_path / "run"
    first = run_benchmark(write_definition(tmp_path / "d.toml"), run_dir, progress=False)
    assert first.n_done == 8
    names = 'names = ["IW", "PE", "oracle"]'
    text = (tmp_path / "d.toml").read_text().replace(
        names, names + '\nmetric = "balanced_accuracy"')
    (tmp_path / "b.toml").write_text(text)
    second = run_benchmark(tmp_path / "b.toml", run_dir, progress=False)
    assert second.n_done == 0 and second.n_rescored == 4 and second.n_cached == 8
    rows = RunStore(run_dir).results()
    scored = rows[rows["scorer"] != "none"]
    metric = scored.groupby("scorer")["selection_metric"].agg(set).to_dict()
    assert metric == {"IW": {"balanced_accuracy"}, "oracle": {"balanced_accuracy"},
                      "PE": {""}}
    # IW and the oracle measure balanced accuracy now; PE has no metric to change.
    assert scored.loc[scored["scorer"] == "IW", "scorer_version"].str.endswith(
        ":balanced_accuracy").all()
    assert not scored.loc[scored["scorer"] == "PE", "scorer_version"].str.contains(":").any()
    report = write_report(run_dir).read_text()
    assert "Selection metric of the label-based scorers" in report
    assert "<b>balanced_accuracy</b>" in report


def test_pool_selection_across_methods_in_the_benchmark(tmp_path):
    """`[scorers] pool`: each task and outer split gets one row per selector, chosen
    among every method's candidates (source-only added) from the stored records."""
    text = write_definition(tmp_path / "d.toml").read_text().replace(
        'names = ["IW", "PE", "oracle"]',
        'names = ["IW", "PE", "oracle"]\npool = ["EnsV", "zconsensus", "safe", "IWA"]')
    (tmp_path / "p.toml").write_text(text)
    run_dir = tmp_path / "run"
    first = run_benchmark(tmp_path / "p.toml", run_dir, progress=False)
    assert first.n_done == 10 and first.n_failed == 0  # SourceOnly added: 2 x 5 jobs
    assert first.n_pools == 2 and first.n_pools_skipped == 0
    rows = RunStore(run_dir).results()
    chosen = rows[rows["selected"] & rows["method"].str.startswith("shiftlab: ")]
    assert set(chosen["method"]) == {f"shiftlab: {s}" for s in
                                     ("EnsV", "zconsensus", "safe", "IWA", "IW", "PE",
                                      "oracle")}
    assert (chosen.groupby("method").size() == 2).all()  # one per outer split
    assert set(rows["pool_method"].dropna()) - {""} == {
        "SourceOnly", "DensityReweight", "GaussianReweight"}
    # The safe selector keeps source-only or the consensus's choice.
    safe = chosen[chosen["method"] == "shiftlab: safe"]
    assert np.isfinite(safe["test_accuracy"]).all()
    report = write_report(run_dir).read_text()
    assert "shiftlab: safe" in report and "shiftlab: IWA" in report
    assert "what a user gets by letting shiftlab choose across every method" in report
    assert run_status(run_dir)["done"] == 12  # 10 jobs and 2 pools
    again = run_benchmark(tmp_path / "p.toml", run_dir, progress=False)
    assert again.n_done == 0 and again.n_pools == 0 and again.n_pools_cached == 2


def test_benchmark_jobs_seed_methods_left_unseeded(tmp_path):
    """A method with random_state=None (KLIEP, BBSE, MLLS, ...) gets the job's seed: a
    run and its rerun give the same numbers."""
    from dataclasses import replace as replaced

    from shiftlab.bench.definition import MethodEntry, load_definition
    from shiftlab.bench.jobs import build_estimator, job_seed
    from shiftlab.bench.planner import plan_jobs

    job = plan_jobs(load_definition(write_definition(tmp_path / "d.toml")))[0]
    for name in ("KLIEP", "BBSE", "MLLS", "KMM"):
        pipe, _ = build_estimator(replaced(job, method=MethodEntry(name)))
        adapter = pipe.steps[1][1]
        assert adapter.get_params()["random_state"] == job_seed(job), name


def test_report_of_one_outer_split_shows_no_spread_and_says_what_ranks_cover(tmp_path):
    run_dir = tmp_path / "run"
    run_benchmark(write_definition(tmp_path / "d.toml", outer_splits=1), run_dir,
                  progress=False)
    page = write_report(run_dir).read_text()
    assert "± 0.000" not in page and "±" not in page.split("<h2")[1]
    assert "avg. rank (1 task; too few to rank)" in page


def test_sanity_checks_flag_a_base_estimator_no_better_than_the_majority_class(tmp_path):
    """An RBF SVC with a huge gamma predicts one class far from its training points: even
    trained on target labels it scores the majority rate. Summary and report say so."""
    text = write_definition(tmp_path / "d.toml").read_text().replace(
        'name = "LogisticRegression"', 'name = "SVC"\nparams = { gamma = 100000.0 }')
    (tmp_path / "flat.toml").write_text(text)
    summary = run_benchmark(tmp_path / "flat.toml", tmp_path / "run", progress=False)
    assert any("Train Tgt) scores 0.500, the majority class alone 0.500" in c
               for c in summary.checks), summary.checks
    assert "check: sim-conditional: the base estimator" in str(summary)
    page = write_report(tmp_path / "run").read_text()
    assert "Sanity checks" in page and "majority class alone" in page
    # A base estimator that fits the data raises no such flag.
    fine = run_benchmark(tmp_path / "d.toml", tmp_path / "fine", progress=False)
    assert not any("majority class" in c for c in fine.checks)


def test_rows_account_cpu_and_memory_and_the_eta_uses_the_same_method_and_dataset(tmp_path):
    run_dir = tmp_path / "run"
    definition = write_definition(tmp_path / "d.toml")
    run_benchmark(definition, run_dir, progress=False)
    rows = RunStore(run_dir).results()
    assert (rows["job_cpu_seconds"] > 0).all() and (rows["job_peak_rss_mb"] > 10).all()
    # Two more outer splits to do: the estimate is the stored jobs' mean per method on
    # this dataset, times the jobs to do.
    more = write_definition(tmp_path / "d4.toml", outer_splits=4)
    dry = run_benchmark(more, run_dir, dry_run=True, progress=False)
    per_job = rows.drop_duplicates("job_key").groupby("method")["job_seconds"].mean()
    assert dry.n_todo == 8  # the definition's executor is inprocess: one worker
    assert dry.estimate_seconds == pytest.approx(2 * per_job.sum())
    # CPU and disk are estimated the same way, disk from the manifest's file sizes.
    jobs = rows.drop_duplicates("job_key")
    cpu = jobs.groupby("method")["job_cpu_seconds"].mean()
    assert dry.estimate.cpu_hours == pytest.approx(2 * cpu.sum() / 3600)
    manifest = RunStore(run_dir).manifest()
    sizes = jobs["job_key"].map(lambda k: manifest[k].result["size"]
                                + (manifest[k].records or {}).get("size", 0))
    disk = sizes.groupby(jobs["method"]).mean()
    assert dry.estimate.disk_bytes == pytest.approx(2 * disk.sum())
    assert dry.estimate.basis["from the same method and dataset"] == 8
    out = CliRunner().invoke(cli, ["run", str(more), "--out", str(run_dir), "--dry-run"])
    assert "CPU-hours" in out.output and " GB (8 from the same method and dataset)" in out.output


def test_cpu_of_the_processes_a_job_starts_is_counted():
    """A job's CPU includes its children (joblib workers, subprocesses), not only itself."""
    from shiftlab.bench.jobs import children_cpu_seconds

    before = children_cpu_seconds()
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass"
    subprocess.run([sys.executable, "-c", busy], check=True)
    assert children_cpu_seconds() - before >= 0.45


def test_several_run_folders_report_as_one(tmp_path):
    """Two folders of one benchmark (e.g. methods run at two subsamplings) give one report;
    a job present in both counts once."""
    a = write_definition(tmp_path / "a.toml")
    b_text = a.read_text().replace("[methods.GaussianReweight]\n", "[methods.SA]\n")
    (tmp_path / "b.toml").write_text(b_text)
    run_benchmark(a, tmp_path / "A", progress=False)
    run_benchmark(tmp_path / "b.toml", tmp_path / "B", progress=False)
    out = tmp_path / "both" / "report.html"
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "A"), str(tmp_path / "B"),
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "trust + trust" in page
    both = pd.read_csv(out.parent / "table_realistic.csv", index_col=0)
    assert {"GaussianReweight", "SA", "DensityReweight", "Train Src"} <= set(both.index)
    # Train Src, Train Tgt and DensityReweight ran in both folders: counted once, so the
    # Train Src cell equals either folder's.
    single = pd.read_csv(tmp_path / "A" / "table_realistic.csv", index_col=0) if (
        tmp_path / "A" / "table_realistic.csv").exists() else None
    write_report(tmp_path / "A")
    single = pd.read_csv(tmp_path / "A" / "table_realistic.csv", index_col=0)
    col = [c for c in both.columns if c.endswith("mean")][0]
    assert both.loc["Train Src", col] == pytest.approx(single.loc["Train Src", col])
