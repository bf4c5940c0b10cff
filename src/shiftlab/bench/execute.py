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

Stopping a run leaves no process behind: when the generator :func:`execute` returns is
closed, or interrupted (``KeyboardInterrupt``, which the run driver raises on SIGTERM
too), it stops the processes it started (joblib's workers, the local Dask cluster)
before it returns, and a job's child process stops by itself within about a second of
the process that launched it dying, however that process died.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "JobOutcome",
    "JobTimeoutError",
    "NoDaskWorkerError",
    "dask_security_from_files",
    "execute",
    "run_guarded",
]

#: How often a job's child process checks that the process that launched it still runs.
_LAUNCHER_CHECK_SECONDS = 0.5
#: Exit status of a job's child process that stopped because its launcher was gone.
_ORPHANED_EXIT = 75


class JobTimeoutError(TimeoutError):
    """A job ran past its time limit and was stopped."""


class NoDaskWorkerError(RuntimeError):
    """The Dask cluster had no worker for longer than ``dask_no_worker_timeout``."""


@dataclass
class JobOutcome:
    """What became of one job."""

    ok: bool
    value: Any = None
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    elapsed: float = 0.0


def _launcher_gone(pid: int, start: bytes | None) -> bool:
    """Whether process ``pid`` (started at ``start``, read from /proc) has ended."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists but is not ours: /proc tells whether pid was reused
        pass
    state, started = _proc_stat(pid)
    if state is None:  # no procfs (macOS): os.kill found the process, trust that
        return False
    # A dead launcher nobody has reaped yet is a zombie: os.kill still finds it. A pid
    # with another start time is a new process that reused the launcher's pid.
    return state == b"Z" or (start is not None and started != start)


def _proc_stat(pid: int) -> tuple[bytes | None, bytes | None]:
    """State and start time of a process, from /proc/<pid>/stat (None, None if absent)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None, None
    fields = stat[stat.rfind(b")") + 2:].split()  # the name in parentheses may hold spaces
    return fields[0], fields[19]


def _watch_launcher(pid: int) -> None:  # pragma: no cover - runs in a child process
    """Exit this process as soon as process ``pid``, which launched it, has ended.

    A job's child is forked by the forkserver, so its parent is the forkserver, not the
    process that launched it and waits for its result: parent-death signals and
    ``os.getppid()`` cannot tell that the launcher died. The forkserver itself exits
    when the launcher dies, but leaves its children running; without this watch they
    would run to the end of their job (or forever), holding CPU and memory.
    """
    start = _proc_stat(pid)[1]
    while True:
        time.sleep(_LAUNCHER_CHECK_SECONDS)
        if _launcher_gone(pid, start):
            os._exit(_ORPHANED_EXIT)  # nobody is left to read the result: stop now


def _child_main(func, job, conn, launcher_pid: int) -> None:  # pragma: no cover - child
    threading.Thread(target=_watch_launcher, args=(launcher_pid,), daemon=True,
                     name="shiftlab-launcher-watch").start()
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
    proc = ctx.Process(target=_child_main, args=(func, job, child, os.getpid()), daemon=True)
    _start_child(proc)
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
        # Also on KeyboardInterrupt (a stopped run): the child must not outlive the wait.
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


_START_LOCK = threading.Lock()


def _start_child(proc) -> None:
    """Start ``proc``, also from a daemonic process such as a Dask worker.

    multiprocessing refuses to start children in a daemonic process, because they
    would outlive it; Dask's nanny starts its workers daemonic, so every job with a
    timeout failed on Dask with "daemonic processes are not allowed to have children".
    Our children watch their launcher and stop when it ends (:func:`_watch_launcher`),
    so the flag is lifted while one starts (under a lock: a Dask worker may run several
    jobs in threads).
    """
    current = mp.current_process()
    if not current.daemon:
        proc.start()
        return
    with _START_LOCK:
        current._config["daemon"] = False
        try:
            proc.start()
        finally:
            current._config["daemon"] = True


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
    dask_no_worker_timeout: float | None = 300.0,
    dask_security=None,
) -> Iterator[tuple[Any, JobOutcome]]:
    """Run ``func`` on every job and yield ``(job, outcome)`` as each finishes.

    Closing the returned generator early (``.close()``, or dropping it) or interrupting
    it (``KeyboardInterrupt``) stops every worker and job process it started before it
    returns; jobs not yielded yet are simply not run. On a Dask cluster given by address
    the workers are not this run's to stop: the run's tasks are cancelled, but a task
    already running finishes on its worker (its job process, with a timeout, is stopped
    with the worker only).

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
    n_jobs : int, default=-1
        Worker processes of the ``local`` executor (-1: all cores).
    timeout : float, optional
        Seconds after which a job is stopped and recorded as failed.
    dask_address : str, optional
        Scheduler address of the ``dask`` executor (``tcp://...`` or ``tls://...``).
    dask_workers : int, default=2
        Worker processes of the local Dask cluster (when ``dask_address`` is None).
    dask_no_worker_timeout : float or None, default=300.0
        Seconds the ``dask`` executor waits while the cluster has no worker at all
        before it raises :class:`NoDaskWorkerError` (``None``: wait forever).
    dask_security : distributed.Security, optional
        TLS credentials for the Dask cluster (see :func:`dask_security_from_files`).
        With no ``dask_address``, the local cluster then talks TLS too.

    Yields
    ------
    job, outcome : object, JobOutcome
        Each job with what became of it, in the order jobs finish.

    Raises
    ------
    NoDaskWorkerError
        The Dask cluster had no worker for longer than ``dask_no_worker_timeout``.
    """
    jobs = list(jobs)
    if not jobs:
        return
    if executor == "inprocess":
        for job in jobs:
            yield job, run_guarded(func, job, timeout)
    elif executor == "local":
        yield from _execute_local(func, jobs, timeout, n_jobs)
    elif executor == "dask":
        yield from _execute_dask(func, jobs, timeout, dask_address, dask_workers,
                                 no_worker_timeout=dask_no_worker_timeout,
                                 security=dask_security)
    else:
        raise ValueError(f"Unknown executor {executor!r}; use inprocess, local or dask.")


def _indexed(func, i, job, timeout):
    return i, run_guarded(func, job, timeout)


def _execute_local(func, jobs, timeout, n_jobs):
    from joblib import Parallel, delayed

    workers = min(_n_workers(n_jobs), len(jobs))
    if workers == 1:
        for job in jobs:
            yield job, run_guarded(func, job, timeout)
        return
    parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
    results = parallel(delayed(_indexed)(func, i, job, timeout) for i, job in enumerate(jobs))
    try:
        for i, outcome in results:
            yield jobs[i], outcome
    finally:
        # Closing joblib's generator before it is exhausted makes joblib abort the call:
        # it shuts its loky executor down with kill_workers=True, which kills each worker
        # with its process tree (the forkserver and the job children of timed jobs).
        # Close it here, now, rather than whenever the garbage collector gets to it: the
        # run's workers must be gone when this generator returns. (An interrupt raised
        # inside joblib's own loop has already made it abort; closing is then a no-op.)
        with warnings.catch_warnings():
            # joblib's advice on closing early ("adjust the input task iterator") does
            # not apply to a run that was stopped on purpose.
            warnings.filterwarnings("ignore", message=r".*still being processed by the workers",
                                    category=UserWarning)
            results.close()


def dask_security_from_files(
    ca_file: str | os.PathLike | None,
    cert_file: str | os.PathLike | None,
    key_file: str | os.PathLike | None = None,
):
    """TLS credentials for a Dask cluster, from PEM files (or None without any file).

    The certificate and key serve this client and, when the run starts its own local
    cluster, its scheduler and workers too. Encryption is then required on every
    connection: a ``tcp://`` address is refused instead of talking in the clear.

    Parameters
    ----------
    ca_file : path or None
        The certificate authority (PEM) that signed the cluster's certificates.
    cert_file : path or None
        This client's certificate (PEM); it may hold the private key too.
    key_file : path or None
        This client's private key (PEM), unless ``cert_file`` holds it.

    Returns
    -------
    distributed.Security or None
        ``None`` when all three are ``None`` (no TLS).

    Raises
    ------
    ValueError
        Only some of the files are given (a CA and a certificate are both needed), or
        the files do not make a usable TLS configuration (e.g. a key that does not
        match the certificate).
    FileNotFoundError
        A file does not exist.
    """
    if ca_file is None and cert_file is None and key_file is None:
        return None
    names = {"dask_tls_ca_file": ca_file, "dask_tls_cert_file": cert_file}
    missing = [name for name, value in names.items() if value is None]
    if missing:
        # Dask sets up TLS only with both: without them it would silently not use TLS.
        raise ValueError(
            f"Dask TLS needs {' and '.join(missing)} as well: the CA certificate checks "
            "the scheduler, and this client's certificate (with its key) identifies it."
        )
    files = {**names, "dask_tls_key_file": key_file}
    for name, value in files.items():
        if value is not None and not Path(value).is_file():
            raise FileNotFoundError(f"{name}: no file at {str(value)!r}")
    try:
        from distributed import Security
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Dask TLS needs dask.distributed: pip install 'shiftlab[dask]'."
        ) from exc
    ca, cert = str(ca_file), str(cert_file)
    key = None if key_file is None else str(key_file)
    security = Security(
        require_encryption=True, tls_ca_file=ca,
        tls_client_cert=cert, tls_client_key=key,
        tls_scheduler_cert=cert, tls_scheduler_key=key,
        tls_worker_cert=cert, tls_worker_key=key,
    )
    try:
        # Dask reads the files only when it connects; build the client's TLS context
        # now so that a bad file is reported here, by name, not as an SSL error later.
        security.get_connection_args("client")
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        shown = ", ".join(f"{k} = {str(v)!r}" for k, v in files.items() if v is not None)
        raise ValueError(f"cannot set up Dask TLS from {shown}: {exc}") from exc
    return security


def _execute_dask(func, jobs, timeout, address, n_workers, *, no_worker_timeout=300.0,
                  security=None):
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The dask executor needs dask.distributed: pip install 'shiftlab[dask]'."
        ) from exc
    cluster = client = None
    try:
        if address is None:
            tls = {} if security is None else {"security": security, "protocol": "tls://"}
            cluster = LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None, **tls,
            )
            address = cluster.scheduler_address
            client = Client(cluster, security=security)
        else:
            client = Client(address, security=security)
        futures = {
            client.submit(_indexed, func, i, job, timeout, pure=False): i
            for i, job in enumerate(jobs)
        }
        pending = as_completed(futures)
        watch = _WorkerWatch(client, address, no_worker_timeout, security is not None)
        while not pending.is_empty():
            batch = pending.next_batch(block=False)
            for future in batch:
                yield jobs[futures[future]], _dask_outcome(future)
            if batch:
                watch.saw_work()
                continue
            watch.check(pending.count())
            # as_completed's own blocking iteration polls at 0.1 s too; polling here
            # lets the loop notice a cluster without workers while it waits.
            time.sleep(0.05)
    finally:
        # Also on GeneratorExit / KeyboardInterrupt: closing the client cancels the
        # run's tasks; closing the local cluster stops its worker processes (their
        # job children then stop by themselves, see _watch_launcher).
        _close_quietly(client)
        _close_quietly(cluster)


def _dask_outcome(future) -> JobOutcome:
    try:
        return future.result()[1]
    except Exception as exc:  # a worker died, say so for this job
        return JobOutcome(False, error=f"Dask task failed: {exc}",
                          error_type=type(exc).__name__, traceback=traceback.format_exc())


def _close_quietly(resource) -> None:
    """Close a Dask client or cluster; a failure to close must not hide the run's error."""
    if resource is None:
        return
    try:
        resource.close()
    except Exception:  # best effort: the run's own error matters more
        pass


class _WorkerWatch:
    """Raise NoDaskWorkerError once the cluster has had no worker for too long."""

    def __init__(self, client, address: str, limit: float | None, tls: bool):
        self.client, self.address, self.limit, self.tls = client, address, limit, tls
        # Ask the scheduler at most about once a second (more often for short limits).
        self.every = 1.0 if limit is None else min(1.0, max(0.05, limit / 4))
        self.next_check = time.monotonic()
        self.empty_since: float | None = None
        self.unreachable = False

    def saw_work(self) -> None:
        self.empty_since = None

    def check(self, n_waiting: int) -> None:
        now = time.monotonic()
        if self.limit is None or now < self.next_check:
            return
        self.next_check = now + self.every
        self.unreachable = False
        try:
            n_workers = len(self.client.nthreads())
        except OSError:  # scheduler unreachable: no worker serves this run either
            n_workers, self.unreachable = 0, True
        if n_workers:
            self.empty_since = None
            return
        if self.empty_since is None:
            self.empty_since = now
            return
        waited = now - self.empty_since
        if waited > self.limit:
            tls = (" with the cluster's TLS options (--tls-ca-file, --tls-cert, --tls-key)"
                   if self.tls else "")
            unreachable = " (and could not be reached just now)" if self.unreachable else ""
            raise NoDaskWorkerError(
                f"the Dask scheduler at {self.address}{unreachable} has had no worker for "
                f"{waited:.0f} s (dask_no_worker_timeout = {self.limit:g} s), with "
                f"{n_waiting} job(s) waiting; the run stopped. Start workers with "
                f"`dask worker {self.address}`"
                f"{tls}, or raise dask_no_worker_timeout in the definition's [execution] "
                "table to wait longer."
            )
