"""Run a benchmark definition: plan, skip what is cached, execute the rest, store rows.

The run loop lives on the *driver*: executors yield finished jobs and the driver writes
each job's rows atomically into the :class:`~shiftlab.bench.store.RunStore` as soon as
it arrives. Killing the driver at any point loses at most the jobs in flight; running
the same command again resumes from the stored results.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from shiftlab.bench.definition import BenchmarkDefinition, load_definition
from shiftlab.bench.execute import execute
from shiftlab.bench.jobs import rescore_job, run_job
from shiftlab.bench.planner import Job, plan_jobs, version_info
from shiftlab.bench.store import RunStore

__all__ = ["RunSummary", "default_run_dir", "plan_status", "run_benchmark"]


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
    #: Jobs computed by this call whose run raised warnings (see the ``warnings`` column).
    n_with_warnings: int = 0
    estimate_seconds: float | None = None
    elapsed: float = 0.0
    failures: list[dict] = field(default_factory=list)
    #: Per dataset (dry runs): tasks, outer splits, methods (deep ones), jobs and to do.
    plan: list[dict] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.n_jobs} jobs: {self.n_cached} cached, {self.n_done} computed, "
            f"{self.n_failed} failed ({self.elapsed:.1f} s); results in {self.run_dir}"
        )
        if self.n_with_warnings:
            text += (
                f"\n{self.n_with_warnings} computed jobs raised warnings (e.g. convergence); "
                "they are in the results' `warnings` column"
            )
        return text


def default_run_dir(definition: BenchmarkDefinition) -> Path:
    """``./shiftlab-runs/<definition name>``."""
    return Path("shiftlab-runs") / definition.name


def plan_status(definition: BenchmarkDefinition, run_dir: str | Path) -> dict:
    """Counts of a run's jobs: total, cached (done), failed, running, to do."""
    store = RunStore(run_dir)
    jobs = plan_jobs(definition)
    keys = {j.key for j in jobs}
    done = keys & store.result_keys()
    failed = (keys & store.failure_keys()) - done
    running = {r["key"] for r in store.running()} & keys
    return {
        "total": len(keys),
        "done": len(done),
        "failed": len(failed),
        "running": len(running),
        "todo": len(keys - done - failed - running),
    }


def _missing_scorers(store: RunStore, jobs: list[Job]) -> list[tuple[Job, tuple[str, ...]]]:
    """Finished jobs whose stored rows lack some of the definition's scorers."""
    out = []
    for job in jobs:
        if job.method.is_baseline:  # one row with scorer "none", no records
            continue
        path = store.results_dir / f"{job.key}.parquet"
        have = set(pd.read_parquet(path, columns=["scorer"])["scorer"].unique())
        missing = tuple(s for s in job.scorers if s not in have)
        if missing:
            out.append((job, missing))
    return out


def _plan_table(definition: BenchmarkDefinition, jobs: list[Job], todo: set[str]) -> list[dict]:
    """What a dry run shows: per dataset, its tasks, methods, jobs and jobs to run."""
    rows = []
    for spec in definition.datasets:
        mine = [j for j in jobs if j.dataset is spec]
        rows.append({
            "dataset": spec.name,
            "tasks": len({j.task for j in mine}),
            "outer_splits": definition.protocol.outer_splits,
            "methods": len(definition.methods),
            "deep_methods": sum(m.deep for m in definition.methods),
            "jobs": len(mine),
            "todo": sum(j.key in todo for j in mine),
        })
    return rows


def _estimate_seconds(store: RunStore, todo: list[Job], n_workers: int) -> float | None:
    """Rough ETA from stored timings of the same methods (None when nothing is known)."""
    frame = store.results()
    if frame.empty or "job_seconds" not in frame:
        return None
    per_method = frame.groupby("method")["job_seconds"].first().to_dict()
    overall = float(pd.Series(list(per_method.values())).median())
    total = sum(per_method.get(j.method.name, overall) for j in todo)
    return total / max(1, n_workers)


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
        with the same folder resumes: finished jobs are read from it, not recomputed.
    executor, n_jobs, timeout, dask_address : optional
        Override the definition's ``[execution]`` settings.
    retry_failed : bool, default=False
        Run again the jobs that failed in an earlier attempt (by default they are
        reported and skipped).
    dry_run : bool, default=False
        Only plan: count jobs and cached results, estimate the time, run nothing.
    progress : bool, default=True
        Show a Rich progress bar with ETA.
    """
    if not isinstance(definition, BenchmarkDefinition):
        definition = load_definition(definition)
    definition = definition.with_execution(
        executor=executor, n_jobs=n_jobs, timeout=timeout, dask_address=dask_address
    )
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(definition)
    store = RunStore(run_dir)
    jobs = plan_jobs(definition)
    done = store.result_keys()
    failed_before = store.failure_keys() - done
    todo = [j for j in jobs if j.key not in done and (retry_failed or j.key not in failed_before)]
    rescore = _missing_scorers(store, [j for j in jobs if j.key in done])
    summary = RunSummary(
        run_dir=run_dir,
        n_jobs=len(jobs),
        n_cached=sum(j.key in done for j in jobs),
        n_previously_failed=sum(j.key in failed_before for j in jobs),
    )
    ex = definition.execution
    summary.n_rescored = len(rescore)
    if dry_run:
        from shiftlab.bench.execute import _n_workers

        workers = 1 if ex.executor == "inprocess" else _n_workers(ex.n_jobs)
        summary.estimate_seconds = _estimate_seconds(store, todo, workers)
        summary.n_todo = len(todo)
        summary.plan = _plan_table(definition, jobs, {j.key for j in todo})
        return summary

    text = ""
    if definition.source and not definition.source.startswith("preset:"):
        text = Path(definition.source).read_text(encoding="utf-8")
    else:
        from importlib import resources

        name = definition.source.removeprefix("preset:")
        if name:
            text = (resources.files("shiftlab.bench") / "presets" / f"{name}.toml").read_text()
    store.write_meta(
        {
            "name": definition.name,
            "definition_digest": definition.digest(),
            "definition": definition.to_dict(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": socket.gethostname(),
            "versions": version_info(deep=definition.has_deep),
        },
        definition_text=text or None,
    )
    start = time.perf_counter()
    for job, missing in rescore:
        frame = rescore_job(replace(job, run_dir=str(run_dir)), missing)
        if frame is None:  # no stored records: compute the whole job again
            todo.append(job)
            continue
        old = store.results({job.key})
        store.write_result(job.key, pd.concat([old, frame], ignore_index=True))
    bar = _progress(progress, len(todo), summary)
    todo = [replace(j, run_dir=str(run_dir)) for j in todo]
    with bar as (advance, describe):
        for job, outcome in execute(
            run_job, todo, executor=ex.executor, n_jobs=ex.n_jobs, timeout=ex.timeout,
            dask_address=ex.dask_address, dask_workers=ex.dask_workers,
        ):
            if outcome.ok:
                frame = outcome.value
                frame["job_seconds"] = outcome.elapsed
                store.write_result(job.key, frame)
                summary.n_done += 1
                if "warnings" in frame and frame["warnings"].astype(bool).any():
                    summary.n_with_warnings += 1
            else:
                info = {
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
                store.write_failure(job.key, info)
                summary.n_failed += 1
                summary.failures.append(info)
                describe(f"[red]failed[/]: {job.label}: {outcome.error_type}")
            advance()
    for job in todo:  # jobs the executor never returned (should not happen)
        store.clear_running(job.key)
    summary.elapsed = time.perf_counter() - start
    store.write_meta({"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return summary


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
