"""Run a benchmark definition: plan, skip what is cached, execute the rest, store rows.

The run loop lives on the *driver*: executors yield finished jobs and the driver writes
each job's rows atomically into the :class:`~shiftlab.bench.store.RunStore` as soon as
it arrives. Killing the driver at any point loses at most the jobs in flight; running
the same command again resumes from the stored results.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from shiftlab.bench.definition import BenchmarkDefinition, MethodEntry, load_definition
from shiftlab.bench.execute import execute
from shiftlab.bench.jobs import load_search, load_task, rescore_job, run_job
from shiftlab.bench.planner import (
    Job,
    PoolJob,
    job_scorer,
    plan_jobs,
    plan_pools,
    pool_exclusions,
    pool_methods,
    scorer_version,
    version_info,
)
from shiftlab.bench.store import CorruptRunFile, JobEntry, RunStore
from shiftlab.exceptions import DataValidationError, MissingOutputsError
from shiftlab.selection._storage import detach_rows

__all__ = ["RunSummary", "default_run_dir", "plan_status", "run_benchmark", "run_status"]


@dataclass
class RunSummary:
    """What a call of :func:`run_benchmark` did."""

    run_dir: Path
    n_jobs: int
    n_cached: int
    n_done: int = 0
    n_failed: int = 0
    n_previously_failed: int = 0
    n_todo: int = 0
    n_rescored: int = 0
    #: Stored jobs not reused because a file no longer matched the manifest (recomputed).
    n_corrupt: int = 0
    corrupt: list[str] = field(default_factory=list)
    #: Cross-method pools computed, reused, and skipped (members missing) by this call.
    n_pools: int = 0
    n_pools_cached: int = 0
    n_pools_skipped: int = 0
    #: What the report's sanity checks flag in the run's results (see
    #: :func:`shiftlab.report.aggregate.sanity_checks`).
    checks: list[str] = field(default_factory=list)
    #: Jobs computed by this call whose run raised warnings (see the ``warnings`` column).
    n_with_warnings: int = 0
    estimate_seconds: float | None = None
    #: The dry run's estimate of what the jobs to run will cost.
    estimate: CostEstimate | None = None
    elapsed: float = 0.0
    failures: list[dict] = field(default_factory=list)
    #: Per dataset (dry runs): tasks, outer splits, methods (deep ones), jobs and to do.
    plan: list[dict] = field(default_factory=list)
    #: What the run did differently from what the definition may suggest (e.g. capped
    #: methods left out of the cross-method pools).
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.n_jobs} jobs: {self.n_cached} cached, {self.n_done} computed, "
            f"{self.n_failed} failed"
            + (f", {self.n_rescored} rescored" if self.n_rescored else "")
            + f" ({self.elapsed:.1f} s); results in {self.run_dir}"
        )
        if self.n_pools or self.n_pools_cached or self.n_pools_skipped:
            text += (f"\npools across methods: {self.n_pools} computed, "
                     f"{self.n_pools_cached} cached, {self.n_pools_skipped} skipped")
        for note in self.notes:
            text += f"\nnote: {note}"
        for check in self.checks:
            text += f"\ncheck: {check}"
        if self.n_corrupt:
            text += (f"\n{self.n_corrupt} stored jobs did not match the manifest and were "
                     "computed again: " + "; ".join(self.corrupt[:5]))
        if self.n_with_warnings:
            text += (
                f"\n{self.n_with_warnings} computed jobs raised warnings (e.g. convergence); "
                "they are in the results' `warnings` column"
            )
        return text


def default_run_dir(definition: BenchmarkDefinition) -> Path:
    """``./shiftlab-runs/<definition name>``."""
    return Path("shiftlab-runs") / definition.name


def _sound(store: RunStore, keys: set[str], records: str) -> tuple[set[str], set[str]]:
    """Which of ``keys`` are stored with files matching the manifest, and which not."""
    manifest = store.manifest()
    done, corrupt = set(), set()
    for key in keys & set(manifest):
        (corrupt if store.verify(manifest[key], records=records) else done).add(key)
    return done, corrupt


def _counts(store: RunStore, keys: set[str], records: str) -> dict:
    """Counts of ``keys``: stored and sound, corrupt, failed, running, to do."""
    done, corrupt = _sound(store, keys, records)
    failed = (keys & store.failure_keys()) - done
    running = {r["key"] for r in store.running()} & keys
    return {
        "total": len(keys),
        "done": len(done),
        "corrupt": len(corrupt),
        "failed": len(failed),
        "running": len(running - done),
        "todo": len(keys - done - failed - running),
    }


def run_status(run_dir: str | Path) -> dict:
    """Counts of a run's jobs from its folder alone: no dataset is loaded, nothing written.

    Reads the plan the last ``run`` saved and the manifest; a stored job counts as done
    when its results file matches the manifest (size and sha256) and its records file
    has the size the manifest says (the HMAC check is left to ``run``).
    """
    store = RunStore(run_dir)
    plan = store.read_plan()
    if plan is None:
        raise FileNotFoundError(
            f"{run_dir} has no plan.json: it is not a run folder, or was written by a "
            "shiftlab older than 0.x; run `shiftlab run` on it once to plan it."
        )
    return _counts(store, {job["key"] for job in plan}, records="size")


def plan_status(definition: BenchmarkDefinition, run_dir: str | Path) -> dict:
    """Counts of the jobs of ``definition`` in ``run_dir`` (plans it: loads the data)."""
    return _counts(RunStore(run_dir), {j.key for j in plan_jobs(definition)}, records="size")


def _plan_table(definition: BenchmarkDefinition, jobs: list[Job], todo: set[str]) -> list[dict]:
    """What a dry run shows: per dataset, its tasks, methods, jobs and jobs to run."""
    rows = []
    for spec in definition.datasets:
        mine = [j for j in jobs if j.dataset is spec]
        rows.append({
            "dataset": spec.name,
            "tasks": len({j.task for j in mine}),
            "outer_splits": definition.protocol.outer_splits,
            "methods": len(pool_methods(definition)),
            "deep_methods": sum(m.deep for m in definition.methods),
            "jobs": len(mine),
            "todo": sum(j.key in todo for j in mine),
        })
    return rows


#: Columns of a job's own cost, kept when its rows are rescored.
JOB_COST_COLUMNS = ("job_seconds", "job_cpu_seconds", "job_children_cpu_seconds",
                    "job_peak_rss_mb", "job_children_peak_rss_mb")


@dataclass
class CostEstimate:
    """What the jobs still to run will cost, from the stored jobs (dry run).

    Each job to run is costed as the mean of the stored jobs of the same method on the
    same dataset (same size and grid), else of the same method on the other datasets,
    else of all stored jobs; ``basis`` counts the jobs costed each way.
    """

    seconds: float
    cpu_hours: float
    disk_bytes: float
    basis: dict

    def __str__(self) -> str:
        basis = ", ".join(f"{n} {how}" for how, n in self.basis.items() if n)
        return (f"estimated {self.seconds:.0f} s wall, {self.cpu_hours:.2f} CPU-hours, "
                f"{self.disk_bytes / 1e9:.3f} GB ({basis})")


def _estimate_cost(store: RunStore, todo: list[Job], n_workers: int) -> CostEstimate | None:
    """Wall time, CPU-hours and disk of ``todo`` (None when nothing is stored yet)."""
    try:
        frame = store.results(verify=False)
        manifest = store.manifest()
    except (OSError, ValueError):
        return None
    if frame.empty or "job_seconds" not in frame or "job_key" not in frame:
        return None
    jobs = frame.drop_duplicates("job_key").set_index("job_key")
    jobs = jobs[jobs["method"].notna()]
    if "job_cpu_seconds" not in jobs:  # run folders from before CPU was recorded
        jobs["job_cpu_seconds"] = jobs["job_seconds"]
    jobs["disk"] = [
        (manifest[k].result.get("size", 0) + (manifest[k].records or {}).get("size", 0))
        if k in manifest else np.nan
        for k in jobs.index
    ]
    costs = ["job_seconds", "job_cpu_seconds", "disk"]
    same_size = jobs.groupby(["method", "dataset"])[costs].mean()
    per_method = jobs.groupby("method")[costs].mean()
    overall = jobs[costs].median()
    total = np.zeros(3)
    basis = dict.fromkeys(("from the same method and dataset", "from the same method",
                           "from the median job"), 0)
    for job in todo:
        stratum = (job.method.name, job.dataset.name)
        if stratum in same_size.index:
            row, how = same_size.loc[stratum], "from the same method and dataset"
        elif job.method.name in per_method.index:
            row, how = per_method.loc[job.method.name], "from the same method"
        else:
            row, how = overall, "from the median job"
        total += np.nan_to_num(row.to_numpy(dtype=float))
        basis[how] += 1
    return CostEstimate(seconds=total[0] / max(1, n_workers), cpu_hours=total[1] / 3600,
                        disk_bytes=total[2], basis=basis)


def _stale_scorers(entry: JobEntry, job: Job) -> tuple[str, ...]:
    """The definition's scorers that a stored job lacks, or scored with other code."""
    if job.method.is_baseline:  # one row with scorer "none", no records
        return ()
    return tuple(s for s in job.scorers
                 if entry.scorers.get(s) != scorer_version(s, job.selection_metric))


def _definition_text(definition: BenchmarkDefinition) -> str:
    """The definition as written (its file or preset), or its validated content as JSON
    for a definition built from a dict."""
    if definition.source and not definition.source.startswith("preset:"):
        path = Path(definition.source)
        if path.is_file():
            return path.read_text(encoding="utf-8")
        return json.dumps(definition.to_dict(), indent=2, sort_keys=True, default=str)
    from importlib import resources

    name = definition.source.removeprefix("preset:")
    if not name:
        return ""
    return (resources.files("shiftlab.bench") / "presets" / f"{name}.toml").read_text()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Turn SIGTERM into KeyboardInterrupt, so a terminated run stops like Ctrl-C.

    The executors then stop their workers and job processes, and the folder is left
    resumable (every stored job complete, the rest run again next time).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _interrupt(signum, frame):
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_benchmark(
    definition: BenchmarkDefinition | str | Path,
    run_dir: str | Path | None = None,
    *,
    executor: str | None = None,
    n_jobs: int | None = None,
    timeout: float | None = None,
    dask_address: str | None = None,
    retry_failed: bool = False,
    dry_run: bool = False,
    progress: bool = True,
) -> RunSummary:
    """Run (or resume) a benchmark.

    Parameters
    ----------
    definition : BenchmarkDefinition, path or preset name
    run_dir : path, optional
        Folder of the run's results (default ``./shiftlab-runs/<name>``). Running again
        with the same folder resumes: finished jobs are read from it, not recomputed,
        once their files match the folder's manifest; a corrupt one is computed again.
    executor, n_jobs, timeout, dask_address : optional
        Override the definition's ``[execution]`` settings.
    retry_failed : bool, default=False
        Run again the jobs that failed in an earlier attempt (by default they are
        reported and skipped).
    dry_run : bool, default=False
        Only plan: count jobs and cached results, estimate the time, run nothing and
        write nothing.
    progress : bool, default=True
        Show a Rich progress bar with ETA.

    Raises
    ------
    RunFolderLocked
        When another run writes to ``run_dir``.
    KeyboardInterrupt
        On Ctrl-C or SIGTERM, after the workers stopped; the folder stays resumable.
    """
    if not isinstance(definition, BenchmarkDefinition):
        definition = load_definition(definition)
    definition = definition.with_execution(
        executor=executor, n_jobs=n_jobs, timeout=timeout, dask_address=dask_address
    )
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(definition)
    store = RunStore(run_dir)
    jobs = plan_jobs(definition)
    if dry_run:
        summary = _dry_run(definition, store, jobs, retry_failed)
        summary.notes = _notes(definition)
        return summary
    pools = plan_pools(definition, jobs)
    with store.writing(), _sigterm_as_interrupt():
        summary = _run(definition, store, jobs, pools, retry_failed, progress)
        summary.notes = _notes(definition)
        _run_pools(store, pools, summary, progress)
        from shiftlab.report.aggregate import sanity_checks

        keys = {j.key for j in jobs} | {p.key for p in pools}
        summary.checks = sanity_checks(store.results(keys, verify=False))
        return summary


def _notes(definition: BenchmarkDefinition) -> list[str]:
    """What the summary says about the plan itself (see :attr:`RunSummary.notes`)."""
    excluded = pool_exclusions(definition)
    if not excluded:
        return []
    return [f"left out of the cross-method pools ([scorers] pool): {', '.join(excluded)}; "
            "they set max_samples_per_domain (their inner splits are drawn from other rows "
            "than the pooled methods') or dataset_estimators (a pool's choice is refitted "
            "on the dataset's base estimator). Their own rows are in the results as usual."]


def _dry_run(definition, store: RunStore, jobs: list[Job], retry_failed: bool) -> RunSummary:
    from shiftlab.bench.execute import _n_workers

    done, corrupt = _sound(store, {j.key for j in jobs}, records="size")
    failed_before = store.failure_keys() - done
    todo = [j for j in jobs if j.key not in done and (retry_failed or j.key not in failed_before)]
    ex = definition.execution
    workers = 1 if ex.executor == "inprocess" else _n_workers(ex.n_jobs)
    estimate = _estimate_cost(store, todo, workers)
    return RunSummary(
        run_dir=store.root, n_jobs=len(jobs), n_cached=sum(j.key in done for j in jobs),
        n_previously_failed=sum(j.key in failed_before for j in jobs),
        n_corrupt=len(corrupt), n_todo=len(todo),
        estimate_seconds=None if estimate is None else estimate.seconds,
        estimate=estimate,
        plan=_plan_table(definition, jobs, {j.key for j in todo}),
    )


def _run(definition, store: RunStore, jobs: list[Job], pools: list[PoolJob],
         retry_failed: bool, progress: bool) -> RunSummary:
    store.write_meta(
        {
            "name": definition.name,
            "definition_digest": definition.digest(),
            "definition": definition.to_dict(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": socket.gethostname(),
            "versions": version_info(deep=definition.has_deep),
        },
        definition_text=_definition_text(definition) or None,
    )
    store.write_plan(
        [{"key": j.key, "label": j.label, "dataset": j.dataset.name, "task": j.task,
          "outer_split": j.outer_split, "method": j.method.name} for j in jobs]
        + [{"key": p.key, "label": p.label, "dataset": p.template.dataset.name,
            "task": p.template.task, "outer_split": p.template.outer_split,
            "method": "pool"} for p in pools]
    )
    run_key = store.run_key()
    summary = RunSummary(run_dir=store.root, n_jobs=len(jobs), n_cached=0)
    start = time.perf_counter()

    # Reuse only what still matches the manifest; anything else runs again, and says why.
    manifest = store.manifest()
    done: dict[str, JobEntry] = {}
    for job in jobs:
        entry = manifest.get(job.key)
        if entry is None:
            continue
        problem = store.verify(entry, records="tag", run_key=run_key)
        if problem is None:
            done[job.key] = entry
        else:
            store.forget(job.key)
            summary.corrupt.append(f"{job.label}: {problem}; computing it again")
    summary.n_corrupt = len(summary.corrupt)
    for line in summary.corrupt[:20]:
        _say(progress, f"[yellow]not reused[/]: {line}")
    failed_before = store.failure_keys() - set(done)
    todo = [j for j in jobs
            if j.key not in done and (retry_failed or j.key not in failed_before)]
    summary.n_previously_failed = sum(j.key in failed_before for j in jobs)

    # Scorers added or changed since a job ran are computed from its records.
    for job in jobs:
        entry = done.get(job.key)
        stale = _stale_scorers(entry, job) if entry is not None else ()
        if not stale:
            continue
        if not _rescore(store, job, entry, stale, run_key):
            done.pop(job.key)
            todo.append(job)
            continue
        summary.n_rescored += 1
    summary.n_cached = len(done)

    # Absolute: a worker's working directory need not be the driver's (the forkserver
    # keeps the one it started in), and a relative folder would hide its records.
    todo = [replace(j, run_dir=str(store.root.resolve()), run_key=run_key) for j in todo]
    bar = _progress(progress, len(todo), summary)
    ex = definition.execution
    results = execute(
        run_job, todo, executor=ex.executor, n_jobs=ex.n_jobs, timeout=ex.timeout,
        dask_address=ex.dask_address, dask_workers=ex.dask_workers,
        **_dask_options(ex),
    )
    try:
        with bar as (advance, describe), contextlib.closing(results):
            for job, outcome in results:
                if outcome.ok:
                    _store_job(store, job, outcome, summary)
                else:
                    info = _failure_info(job, outcome)
                    store.write_failure(job.key, info)
                    summary.n_failed += 1
                    summary.failures.append(info)
                    describe(f"[red]failed[/]: {job.label}: {outcome.error_type}")
                advance()
    finally:
        store.compact_manifest()
    summary.elapsed = time.perf_counter() - start
    store.write_meta({"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return summary


def _dask_options(ex) -> dict:
    """The Dask settings beyond the address: TLS credentials and the no-worker limit."""
    if ex.executor != "dask":
        return {}
    from shiftlab.bench.execute import dask_security_from_files

    return {
        "dask_no_worker_timeout": ex.dask_no_worker_timeout,
        "dask_security": dask_security_from_files(
            ex.dask_tls_ca_file, ex.dask_tls_cert_file, ex.dask_tls_key_file
        ),
    }


def _store_job(store: RunStore, job: Job, outcome, summary: RunSummary) -> None:
    result = outcome.value
    frame = result.frame
    frame["job_seconds"] = outcome.elapsed
    scorers = dict(zip(frame["scorer"], frame["scorer_version"], strict=True))
    scorers.pop("none", None)
    store.write_result(job.key, frame, label=job.label, records=result.records,
                       scorers=scorers)
    summary.n_done += 1
    if "warnings" in frame and frame["warnings"].astype(bool).any():
        summary.n_with_warnings += 1


def _rescore(store: RunStore, job: Job, entry: JobEntry, stale: tuple[str, ...],
             run_key: str | None) -> bool:
    """Replace a stored job's rows of ``stale`` scorers; False when it must run again."""
    try:
        search = load_search(store, job, entry, run_key)
        frame = rescore_job(replace(job, run_dir=str(store.root)), search, stale)
    except (CorruptRunFile, MissingOutputsError):
        return False
    old = store.results({job.key}, verify=False)  # verified when the run started
    old = old[~old["scorer"].isin(stale)]
    for col in JOB_COST_COLUMNS:  # the job's own cost, not the rescoring's
        if col in old and len(old):
            frame[col] = old[col].iloc[0]
    merged = pd.concat([old, frame], ignore_index=True)
    records = store.write_records(job.key, detach_rows(search), run_key)
    scorers = {**entry.scorers, **{s: scorer_version(s, job.selection_metric) for s in stale}}
    store.write_result(job.key, merged, label=entry.label or job.label, records=records,
                       scorers=scorers)
    return True


def _run_pools(store: RunStore, pools: list[PoolJob], summary: RunSummary,
               progress: bool) -> None:
    """Selection across methods, from the stored records of each pool's members.

    A pool whose members are not all stored with records (a failed or unfinished job)
    is skipped and said so; it runs on a later call once they are there.
    """
    if not pools:
        return
    manifest = store.manifest()
    run_key = store.run_key()
    for pool in pools:
        if pool.key in manifest and store.verify(manifest[pool.key], records="none") is None:
            summary.n_pools_cached += 1
            continue
        missing = [m for m, key in pool.members
                   if key not in manifest or manifest[key].records is None]
        if missing:
            summary.n_pools_skipped += 1
            _say(progress, f"[yellow]pool skipped[/]: {pool.label}: no stored records of "
                 f"{missing}")
            continue
        try:
            frame = _pool_rows(store, pool, manifest, run_key)
        except (CorruptRunFile, DataValidationError) as exc:
            summary.n_pools_skipped += 1
            _say(progress, f"[yellow]pool skipped[/]: {pool.label}: {exc}")
            continue
        store.write_result(pool.key, frame, label=pool.label)
        summary.n_pools += 1


def _pool_rows(store: RunStore, pool: PoolJob, manifest: dict[str, JobEntry],
               run_key: str | None) -> pd.DataFrame:
    """The rows of one pool: every candidate of every member, for each selector and
    each scorer the members share; ``method`` is ``shiftlab: <selector>``."""
    from shiftlab.bench.jobs import job_seed
    from shiftlab.bench.provenance import with_provenance
    from shiftlab.selection._table import POOL, POOL_METHOD_PREFIX, ROLE
    from shiftlab.selection.search import OuterSplitSearch

    start, cpu = time.perf_counter(), time.process_time()
    # The members share the pool's task and outer split: its rows are loaded once.
    task = load_task(pool.template)
    searches = {m: load_search(store, replace(pool.template, key=key), manifest[key], run_key,
                               task=task)
                for m, key in pool.members}
    merged = OuterSplitSearch.pool(searches)
    metric = pool.template.selection_metric
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in pool.selectors:
            if name not in merged.scores and name not in merged.aggregations:
                merged.add_scorer(job_scorer(name, metric, merged.kind))
        table = merged.table()
    table[ROLE] = POOL
    job = replace(pool.template, method=MethodEntry("pool"), key=pool.key)
    frame = with_provenance(job, table, job_seed(pool.template))
    frame["method"] = POOL_METHOD_PREFIX + frame["scorer"].astype(str)
    frame["job_seconds"] = time.perf_counter() - start
    frame["job_cpu_seconds"] = time.process_time() - cpu
    frame["warnings"] = ""
    return frame


def _failure_info(job: Job, outcome) -> dict:
    return {
        "label": job.label,
        "dataset": job.dataset.name,
        "task": job.task,
        "method": job.method.name,
        "outer_split": job.outer_split,
        "error_type": outcome.error_type,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "seconds": outcome.elapsed,
    }


def _say(enabled: bool, msg: str) -> None:
    """Print a line (Rich markup, to stderr) when progress output is on."""
    if enabled:
        from rich.console import Console

        Console(stderr=True).print(msg)


class _progress:
    """Context manager around a Rich progress bar (or nothing when disabled)."""

    def __init__(self, enabled: bool, total: int, summary: RunSummary):
        self.enabled, self.total, self.summary = enabled, total, summary

    def __enter__(self):
        if not self.enabled or self.total == 0:
            return (lambda: None), (lambda msg: None)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]benchmark"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("jobs"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
        )
        self.bar.__enter__()
        self.task = self.bar.add_task("", total=self.total)

        def advance():
            self.bar.advance(self.task)

        def describe(msg):
            self.bar.console.print(msg)

        return advance, describe

    def __exit__(self, *exc):
        if hasattr(self, "bar"):
            self.bar.__exit__(*exc)
        return False
