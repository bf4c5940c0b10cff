"""Executors: run benchmark jobs in this process, on local processes, or on Dask.

All executors share one contract: they take picklable jobs and a function, and yield
``(job, outcome)`` pairs *as jobs finish*, where ``outcome`` is a
:class:`JobOutcome`. Errors and timeouts of a job become outcomes, never exceptions, so
one failing job never stops a run. Writing results is left to the caller, on the
driver, so Dask workers on other machines need no shared file system.

Per-job timeouts run the job in a child process (``forkserver`` start method, which is
safe in multi-threaded workers such as Dask's) and kill it when the time is up; this
also stops jobs stuck in native code and keeps a crashing job from taking its worker
down.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["JobOutcome", "JobTimeoutError", "execute", "run_guarded"]


class JobTimeoutError(TimeoutError):
    """A job ran past its time limit and was stopped."""


@dataclass
class JobOutcome:
    """What became of one job."""

    ok: bool
    value: Any = None
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    elapsed: float = 0.0


def _child_main(func, job, conn) -> None:  # pragma: no cover - runs in a child process
    try:
        conn.send(("ok", func(job)))
    except BaseException as exc:  # report everything to the parent
        conn.send(("error", (type(exc).__name__, str(exc), traceback.format_exc())))
    finally:
        conn.close()


def _context():
    methods = mp.get_all_start_methods()
    method = "forkserver" if "forkserver" in methods else "spawn"
    # Inside joblib's loky workers the global start method reads "loky", which a child
    # process cannot reproduce when it prepares itself; name a standard one instead.
    if mp.get_start_method(allow_none=True) not in methods:
        mp.set_start_method(method, force=True)
    ctx = mp.get_context(method)
    if method == "forkserver":
        # Children fork from a server that has imported shiftlab and its dependencies
        # once, instead of importing them again for every job. That includes POT, which
        # the OT methods import on first use and which imports torch when it is
        # installed (about 2 s per job otherwise, which tripled the quick benchmark's
        # time).
        from shiftlab.methods.registry import METHOD_MODULES

        ctx.set_forkserver_preload(["shiftlab.bench.jobs", *METHOD_MODULES, "ot"])
    return ctx


def _run_in_child(func: Callable, job, timeout: float):
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(func, job, child), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise JobTimeoutError(f"job exceeded its time limit of {timeout:g} s and was stopped")
        try:
            status, payload = parent.recv()
        except EOFError as exc:
            proc.join(5)
            raise RuntimeError(
                f"the job's process died without a result (exit code {proc.exitcode}); "
                "it may have run out of memory"
            ) from exc
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        proc.join()
        parent.close()
    if status == "error":
        name, message, tb = payload
        raise _RemoteError(name, message, tb)
    return payload


class _RemoteError(Exception):
    def __init__(self, name: str, message: str, tb: str):
        super().__init__(message)
        self.name, self.tb = name, tb


def run_guarded(func: Callable, job, timeout: float | None = None) -> JobOutcome:
    """Run ``func(job)`` and capture its result, error or timeout as a JobOutcome."""
    start = time.perf_counter()
    try:
        value = func(job) if timeout is None else _run_in_child(func, job, timeout)
        return JobOutcome(True, value=value, elapsed=time.perf_counter() - start)
    except _RemoteError as exc:
        return JobOutcome(False, error=str(exc), error_type=exc.name, traceback=exc.tb,
                          elapsed=time.perf_counter() - start)
    except Exception as exc:  # failure isolation is the point
        return JobOutcome(False, error=str(exc), error_type=type(exc).__name__,
                          traceback=traceback.format_exc(), elapsed=time.perf_counter() - start)


def _n_workers(n_jobs: int) -> int:
    cpus = os.cpu_count() or 1
    return max(1, cpus + 1 + n_jobs if n_jobs < 0 else n_jobs)


def execute(
    func: Callable,
    jobs: Iterable,
    *,
    executor: str = "local",
    n_jobs: int = -1,
    timeout: float | None = None,
    dask_address: str | None = None,
    dask_workers: int = 2,
) -> Iterator[tuple[Any, JobOutcome]]:
    """Run ``func`` on every job and yield ``(job, outcome)`` as each finishes.

    Parameters
    ----------
    func : callable
        A module-level function (picklable) taking one job.
    jobs : iterable
        Picklable job descriptions.
    executor : {"inprocess", "local", "dask"}
        ``inprocess`` runs jobs one after the other here (easiest to debug); ``local``
        uses joblib's process pool with ``n_jobs`` workers (-1: all cores); ``dask``
        submits to a Dask distributed cluster: ``dask_address`` (e.g.
        ``"tcp://10.0.0.5:8786"``) or, when it is ``None``, a local cluster of
        ``dask_workers`` single-threaded worker processes.
    timeout : float, optional
        Seconds after which a job is stopped and recorded as failed.
    """
    jobs = list(jobs)
    if not jobs:
        return
    if executor == "inprocess":
        for job in jobs:
            yield job, run_guarded(func, job, timeout)
    elif executor == "local":
        from joblib import Parallel, delayed

        workers = min(_n_workers(n_jobs), len(jobs))
        if workers == 1:
            for job in jobs:
                yield job, run_guarded(func, job, timeout)
            return
        parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
        results = parallel(delayed(_indexed)(func, i, job, timeout) for i, job in enumerate(jobs))
        for i, outcome in results:
            yield jobs[i], outcome
    elif executor == "dask":
        yield from _execute_dask(func, jobs, timeout, dask_address, dask_workers)
    else:
        raise ValueError(f"Unknown executor {executor!r}; use inprocess, local or dask.")


def _indexed(func, i, job, timeout):
    return i, run_guarded(func, job, timeout)


def _execute_dask(func, jobs, timeout, address, n_workers):
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The dask executor needs dask.distributed: pip install 'shiftlab[dask]'."
        ) from exc
    cluster = None
    if address is None:
        cluster = LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address=None,
        )
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        futures = {
            client.submit(_indexed, func, i, job, timeout, pure=False): i
            for i, job in enumerate(jobs)
        }
        for future in as_completed(futures):
            try:
                i, outcome = future.result()
            except Exception as exc:  # a worker died, say so for this job
                i = futures[future]
                outcome = JobOutcome(False, error=f"Dask task failed: {exc}",
                                     error_type=type(exc).__name__,
                                     traceback=traceback.format_exc())
            yield jobs[i], outcome
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
