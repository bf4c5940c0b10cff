"""Executors you can stop: no orphans on SIGTERM or close, no endless wait on a Dask
cluster without workers, Dask over TLS.

What failed before (execute.py of 7ef6a49):

* a job's child process (jobs with a timeout) outlived the process that launched it;
* on Dask, every job with a timeout failed ("daemonic processes are not allowed to have
  children"), and closing the executor left the job processes running;
* with no Dask worker the run waited forever; there was no way to pass TLS credentials.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from shiftlab.bench.execute import NoDaskWorkerError, dask_security_from_files, execute

TESTS = Path(__file__).resolve().parent


# ------------------------------------------------------------------ helpers
def _sleepy(job):
    """A job that records the pid of the process running it, then sleeps."""
    folder, seconds = job
    Path(folder, str(os.getpid())).touch()
    time.sleep(seconds)
    return os.getpid()


def _worker_address(job):
    """The address of the Dask worker running the job (tls://... over TLS)."""
    from distributed import get_worker

    return job, get_worker().address


def _children_map() -> dict[int, list[int]]:
    """Parent pid -> child pids of every process (psutil when installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    out: dict[int, list[int]] = {}
    if psutil is not None:
        for proc in psutil.process_iter(["pid", "ppid"]):
            out.setdefault(proc.info["ppid"], []).append(proc.info["pid"])
        return out
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_bytes()
        except OSError:
            continue
        ppid = int(text[text.rfind(b")") + 2:].split()[1])
        out.setdefault(ppid, []).append(int(stat.parent.name))
    return out


def _descendants(pid: int) -> set[int]:
    children, found, todo = _children_map(), set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped yet, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] != b"Z"


def _still_alive(pids, within: float) -> dict[int, str]:
    """The pids still running after ``within`` seconds (checked every 0.1 s)."""
    deadline = time.monotonic() + within
    while True:
        alive = {pid: _cmdline(pid) for pid in pids if _alive(pid)}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _kill_all(pids) -> None:
    """Clean up after a failed check: the machine is shared."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _wait_for_files(folder: Path, n: int, within: float) -> set[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        pids = {int(p.name) for p in folder.iterdir()}
        if len(pids) >= n:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"only {len(list(folder.iterdir()))} of {n} jobs started "
                         f"within {within:g} s")


def _own_helpers(pids) -> set[int]:
    """Resource trackers: they belong to this (test) process and live as long as it."""
    return {pid for pid in pids if "resource_tracker" in _cmdline(pid)}


# ------------------------------------------------------------------ no orphans
def test_job_child_stops_when_its_launcher_is_killed(tmp_path):
    """SIGKILL on the process waiting for a timed job: its child stops by itself.

    The child is forked by the forkserver, so it is not the launcher's child and gets no
    signal; before, it slept its 60 s to the end. It is checked while the killed
    launcher is still a zombie (not reaped), which os.kill alone takes for alive.
    """
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    code = ("from test_execute_safety import _sleepy; "
            "from shiftlab.bench.execute import run_guarded; "
            f"run_guarded(_sleepy, ({str(pids_dir)!r}, 60), timeout=120)")
    path = [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    launcher = subprocess.Popen([sys.executable, "-c", code], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: set[int] = set()
    try:
        job_pids = _wait_for_files(pids_dir, 1, within=120)
        seen = _descendants(launcher.pid) | job_pids
        assert job_pids <= seen, "the job runs in a child of the launcher's forkserver"
        launcher.kill()
        alive = _still_alive(seen, within=5)
        assert not alive, f"still running 5 s after the launcher was killed: {alive}"
    finally:
        launcher.kill()
        launcher.wait()
        _kill_all(seen)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_closing_the_executor_stops_every_process_it_started(tmp_path, executor):
    """Close the generator with jobs running: workers and job processes are all gone.

    This is what the run driver does on Ctrl-C or SIGTERM (KeyboardInterrupt in its
    loop, then the generator is closed). Before, Dask could not run timed jobs at all
    and its job processes would have outlived the closed cluster.
    """
    config = contextlib.nullcontext()
    if executor == "dask":
        dask = pytest.importorskip("dask")
        pytest.importorskip("dask.distributed")
        # One task per worker at a time: the second long job then waits for the worker
        # the quick job frees, instead of possibly queueing behind the first.
        config = dask.config.set({"distributed.scheduler.worker-saturation": 1.0})
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    before = _descendants(os.getpid())
    # One quick job to take a result from, two that run until they are stopped.
    jobs = [(str(pids_dir), 0.0), (str(pids_dir), 120.0), (str(pids_dir), 120.0)]
    results = execute(_sleepy, jobs, executor=executor, n_jobs=2, dask_workers=2,
                      timeout=300)
    seen: set[int] = set()
    try:
        with config:  # the local Dask cluster starts on the first next()
            job, outcome = next(results)
        assert outcome.ok, outcome.error
        assert job[1] == 0.0
        job_pids = _wait_for_files(pids_dir, 3, within=120) - {outcome.value}
        seen = (_descendants(os.getpid()) - before) | job_pids
        seen -= _own_helpers(seen)
        workers = seen - job_pids
        assert len(job_pids) == 2 and workers, (job_pids, workers)
        start = time.monotonic()
        results.close()
        closed_in = time.monotonic() - start
        alive = _still_alive(seen, within=5)
        assert not alive, f"still running 5 s after close ({closed_in:.1f} s): {alive}"
        assert closed_in < 30
    finally:
        results.close()
        _kill_all(seen)


SLOW_DEFINITION = """
[benchmark]
name = "stoppable"

[protocol]
outer_splits = 2
inner_splits = 5
seed = 3

[[datasets]]
name = "sim-conditional"
tasks = ["source->target"]
options = { n_samples_source = 6000, n_samples_target = 6000 }

[estimator]
name = "SVC"

[methods.DensityReweight]
grid = { bandwidth = [0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, "scott", "silverman"] }

[scorers]
names = ["IW", "oracle"]

[execution]
executor = "local"
dask_workers = 2
"""


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_sigterm_on_shiftlab_run_leaves_no_process_behind(tmp_path, executor):
    """`kill <pid>` of `shiftlab run`: it exits 130 and every process it started stops.

    Two jobs of about 20 s each (SVC on 2 x 6000 samples, 10 bandwidths, 5 inner
    splits) run on two workers (joblib's, or a local Dask cluster's) with a timeout, so
    each runs in a forkserver child; SIGTERM comes as soon as both have written their
    running marker. Before, on Dask, the jobs failed at once (a timeout could not start
    a process in a Dask worker).
    """
    if executor == "dask":
        pytest.importorskip("dask.distributed")
    definition = tmp_path / "stoppable.toml"
    definition.write_text(SLOW_DEFINITION)
    run_dir = tmp_path / "run"
    log = tmp_path / "stderr.txt"
    cmd = [sys.executable, "-m", "shiftlab.cli", "run", str(definition), "-o", str(run_dir),
           "--executor", executor, "-j", "2", "--timeout", "60", "--no-report"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    # Output to a file, not a pipe: orphans holding a pipe would block reading it.
    with open(log, "wb") as err:
        driver = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                  start_new_session=True)
    seen: set[int] = set()
    marker_pids: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and driver.poll() is None:
            seen |= _descendants(driver.pid)
            markers = list((run_dir / "running").glob("*.json"))
            if len(markers) >= 2:
                with contextlib.suppress(OSError, ValueError):
                    marker_pids = {json.loads(m.read_text())["pid"] for m in markers}
                if len(marker_pids) == 2:
                    break
            time.sleep(0.1)
        assert driver.poll() is None, f"the run ended by itself: {log.read_text()[-2000:]}"
        assert len(marker_pids) == 2, "the jobs did not start within 180 s"
        seen |= _descendants(driver.pid) | marker_pids
        assert marker_pids <= seen, "markers name the job processes, started by the run"
        assert all(_alive(pid) for pid in marker_pids), "jobs must be running at SIGTERM"
        driver.send_signal(signal.SIGTERM)
        rc = driver.wait(60)
        stderr = log.read_text()
        assert rc == 130, (
            f"exit status {rc}: `shiftlab run` should turn SIGTERM into KeyboardInterrupt "
            f"(status 130, like Ctrl-C); stderr: {stderr[-2000:]}"
        )
        assert "Interrupted" in stderr
        alive = _still_alive(seen, within=10)
        assert not alive, f"still running 10 s after `shiftlab run` exited: {alive}"
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
        _kill_all(seen | marker_pids)


# ------------------------------------------------------------------ Dask without workers
def test_dask_run_without_any_worker_stops_with_a_message():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        start = time.monotonic()
        with pytest.raises(NoDaskWorkerError) as info:
            list(execute(abs, [-1, -2], executor="dask", dask_address=address,
                         dask_no_worker_timeout=2))
        waited = time.monotonic() - start
    assert 2 <= waited < 10
    message = str(info.value)
    assert address in message and "no worker for" in message
    assert f"`dask worker {address}`" in message and "dask_no_worker_timeout" in message


def test_dask_run_waits_for_a_worker_that_joins_within_the_limit():
    """The limit is on time *without* any worker: a late worker gets the jobs done."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        timer = threading.Timer(1.0, cluster.scale, args=(1,))
        timer.start()
        try:
            results = list(execute(abs, [-1, -2, -3], executor="dask",
                                   dask_address=cluster.scheduler_address,
                                   dask_no_worker_timeout=5))
        finally:
            timer.join()
    assert sorted(outcome.value for _, outcome in results) == [1, 2, 3]


# ------------------------------------------------------------------ Dask over TLS
def _credentials(folder: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA/certificate and its key, as PEM files (like Security.temporary)."""
    folder.mkdir()
    ca, cert, key = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    try:
        from distributed import Security

        temporary = Security.temporary()  # needs the cryptography package
        ca.write_text(temporary.tls_ca_file)
        cert.write_text(temporary.tls_client_cert)
        key.write_text(temporary.tls_client_key)
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("TLS credentials need the cryptography package or the openssl CLI")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
             str(cert), "-days", "2", "-subj", "/CN=dask-internal",
             "-addext", "subjectAltName=DNS:dask-internal"],
            check=True, capture_output=True,
        )
        shutil.copy(cert, ca)  # self-signed: the certificate is its own CA
    return ca, cert, key


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return _credentials(tmp_path_factory.mktemp("tls") / "cluster")


def test_dask_security_from_files(tls_files, tmp_path):
    pytest.importorskip("distributed")
    ca, cert, key = tls_files
    assert dask_security_from_files(None, None, None) is None
    security = dask_security_from_files(ca, cert, key)
    assert security.require_encryption
    assert security.get_connection_args("client")["ssl_context"] is not None
    with pytest.raises(ValueError, match="dask_tls_ca_file"):
        dask_security_from_files(None, cert, key)
    with pytest.raises(ValueError, match="dask_tls_cert_file"):
        dask_security_from_files(ca, None, None)
    with pytest.raises(FileNotFoundError, match="dask_tls_key_file"):
        dask_security_from_files(ca, cert, tmp_path / "missing.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="cannot set up Dask TLS"):
        dask_security_from_files(ca, cert, garbage)


def test_dask_over_tls_runs_jobs_and_refuses_clients_without_credentials(tls_files,
                                                                         tmp_path):
    # In a process of its own, as a user's run is: a Dask cluster started in the
    # pytest process after other tests' clusters and event loops once hung here.
    pytest.importorskip("distributed")
    script = tmp_path / "tls_check.py"
    script.write_text(_TLS_CHECK)
    ca, cert, key = tls_files
    proc = subprocess.run(
        [sys.executable, str(script), str(Path(__file__).parent), str(ca), str(cert),
         str(key), str(tmp_path)],
        capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("tls ok")


_TLS_CHECK = """
import sys, time
from pathlib import Path

sys.path.insert(0, sys.argv[1])
import distributed

from shiftlab.bench.execute import dask_security_from_files, execute
from test_execute_safety import _credentials, _worker_address

ca, cert, key, tmp = sys.argv[2], sys.argv[3], sys.argv[4], Path(sys.argv[5])
# The cluster's own credentials, set up without the helper under test.
server = distributed.Security(
    require_encryption=True, tls_ca_file=ca,
    tls_scheduler_cert=cert, tls_scheduler_key=key,
    tls_worker_cert=cert, tls_worker_key=key,
    tls_client_cert=cert, tls_client_key=key,
)
if __name__ == "__main__":
    with distributed.LocalCluster(n_workers=1, processes=False, protocol="tls://",
                                  host="127.0.0.1", security=server,
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        results = list(execute(_worker_address, [1, 2, 3], executor="dask",
                               dask_address=address,
                               dask_security=dask_security_from_files(ca, cert, key)))
        assert sorted(outcome.value[0] for _, outcome in results) == [1, 2, 3], results
        assert all(outcome.value[1].startswith("tls://") for _, outcome in results)
        # Refused, at once: a client without TLS, one talking plain TCP to the TLS port,
        # and one whose certificate the cluster's CA did not sign.
        stranger = dask_security_from_files(*_credentials(tmp / "stranger"))
        for kwargs in ({"address": address},
                       {"address": address.replace("tls://", "tcp://")},
                       {"address": address, "security": stranger}):
            start = time.monotonic()
            try:
                distributed.Client(timeout="2s", **kwargs)
            except (OSError, TypeError):  # TypeError: no TLS context at all
                pass
            else:
                raise AssertionError(f"connected without valid credentials: {kwargs}")
            assert time.monotonic() - start < 15, kwargs
    print("tls ok")
"""


@pytest.mark.slow
def test_local_dask_cluster_uses_tls_when_given_credentials(tls_files):
    pytest.importorskip("distributed")
    ca, cert, key = tls_files
    results = list(execute(_worker_address, [1, 2], executor="dask", dask_workers=1,
                           dask_security=dask_security_from_files(ca, cert, key)))
    assert [outcome.ok for _, outcome in results] == [True, True], results
    assert all(outcome.value[1].startswith("tls://127.0.0.1:") for _, outcome in results)
