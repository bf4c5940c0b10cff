"""The run folder of a benchmark: its one owner, for readers and for the one writer.

Layout (nothing else in shiftlab knows it)::

    RUN/
      run.json              run id, definition digest, provenance, start/finish times
      definition.toml       the definition text the run was last started with
      plan.json             the jobs of that definition (key -> label), for `status`
      manifest.jsonl        one line per stored job: its files' sha256 and sizes, the
                            records' HMAC tag, the versions of the scorers in its rows
      lock                  held (flock) by the writer while it runs; says pid and host
      results/<key>.parquet     rows of one finished job
      records/<key>.pkl         the job's selection state, to add scorers without refitting
      failed/<key>.json         error and traceback of a failed or timed-out job
      running/<key>.json        marker of a job in progress (pid, host, start time)
      cache/                    split resources shared by the jobs (joblib.Memory)

**Readers** (``shiftlab status``, ``report``, a dry run) open a store with
``RunStore(path)``: that creates, deletes and locks nothing, so watching a run never
disturbs it. **The writer** (``shiftlab run``) enters :meth:`RunStore.writing`: it takes
the lock (a second writer gets :class:`RunFolderLocked`), creates the folders, and removes
what dead processes left (temporary files and running markers whose process is gone);
files of live processes are never touched.

**Integrity.** Every file is written to a temporary name in its folder, then renamed
(atomic on POSIX): a run killed at any point, even with ``kill -9``, leaves each file
complete or absent. A job counts as stored only once its manifest line is written, after
its files; the manifest holds each file's sha256 (and size), so a truncated or altered
file is found (:meth:`verify`) and its job computed again instead of served.

**Records are pickles**, which can run code when loaded. They are loaded only after their
HMAC-SHA256 tag, keyed by a per-run secret that never lies in the run folder, matches the
manifest: a records file that shiftlab did not write for this run (copied in, crafted,
corrupted) is never unpickled; its job is computed again. The per-run secret is derived
from a per-user secret file (``$SHIFTLAB_SECRET_FILE``, default
``~/.local/share/shiftlab/secret``, created with mode 0600) and the run's random id; a run
folder moved to another account or machine keeps its results but recomputes a job instead
of rescoring it from records.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import io
import json
import os
import pickle
import secrets
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from shiftlab.data.home import sha256_file
from shiftlab.exceptions import ShiftlabError

__all__ = [
    "CorruptRunFile",
    "JobEntry",
    "RunFolderLocked",
    "RunStore",
    "records_tag",
    "user_secret_file",
]

SECRET_ENV = "SHIFTLAB_SECRET_FILE"
_TMP_SUFFIX = ".tmp"


class RunFolderLocked(ShiftlabError, RuntimeError):
    """Another process is writing to this run folder."""


class CorruptRunFile(ShiftlabError, ValueError):
    """A stored file of a run does not match its manifest (truncated, altered, missing)."""


# ----------------------------------------------------------------------- helpers
def _host() -> str:
    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except (OSError, ValueError):
        return False
    return True


def _temporary(path: Path) -> Path:
    """``.<name>.<host>.<pid>.tmp`` beside ``path``: its writer is known by the name."""
    return path.with_name(f".{path.name}.{_host()}.{os.getpid()}{_TMP_SUFFIX}")


def _left_by_dead_writer(tmp: Path) -> bool:
    """Whether a temporary file's writer (named in it) was a process of this host, now gone.

    Temporaries of other hosts (a shared folder) are left alone: their writer may live.
    """
    head, _, pid = tmp.name[: -len(_TMP_SUFFIX)].rpartition(".")
    return pid.isdigit() and head.endswith("." + _host()) and not _pid_alive(int(pid))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    tmp = _temporary(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def user_secret_file() -> Path:
    """Where the per-user secret that keys the records' HMAC tags lives."""
    env = os.environ.get(SECRET_ENV, "")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME", "") or Path.home() / ".local" / "share")
    return base / "shiftlab" / "secret"


def _user_secret() -> bytes | None:
    """The per-user secret (created on first use, mode 0600); None where it cannot be."""
    path = user_secret_file()
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        try:
            return bytes.fromhex(path.read_text().strip())
        except (OSError, ValueError):
            return None
    except OSError:
        return None
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def records_tag(run_key: str, data: bytes) -> str:
    """HMAC-SHA256 tag of a records file's bytes under the run's key (hex)."""
    return hmac.new(bytes.fromhex(run_key), data, hashlib.sha256).hexdigest()


@dataclass
class JobEntry:
    """A stored job, as its manifest line says."""

    key: str
    label: str = ""
    #: sha256 and size of the results file.
    result: dict = field(default_factory=dict)
    #: HMAC tag and size of the records file (None: the job kept no records).
    records: dict | None = None
    #: Version of each scorer whose rows the results hold.
    scorers: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"key": self.key, "label": self.label, "result": self.result,
                           "records": self.records, "scorers": self.scorers},
                          sort_keys=True)


# ------------------------------------------------------------------------ store
class RunStore:
    """The run folder ``root`` of a benchmark (see the module docstring).

    Constructing one reads nothing and changes nothing; :meth:`writing` makes the
    caller the folder's one writer.

    Parameters
    ----------
    root : path
        The run folder.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.results_dir = self.root / "results"
        self.records_dir = self.root / "records"
        self.failed_dir = self.root / "failed"
        self.running_dir = self.root / "running"
        self.cache_dir = self.root / "cache"
        self.manifest_path = self.root / "manifest.jsonl"
        self.plan_path = self.root / "plan.json"
        self.lock_path = self.root / "lock"
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    def exists(self) -> bool:
        """Whether the folder holds a run (a ``run.json``)."""
        return (self.root / "run.json").is_file()

    # ------------------------------------------------------------------ writer
    @contextlib.contextmanager
    def writing(self) -> Iterator[RunStore]:
        """Be the folder's one writer for the ``with`` block.

        Raises
        ------
        RunFolderLocked
            When another live process writes to the folder.
        """
        for d in (self.results_dir, self.records_dir, self.failed_dir, self.running_dir):
            d.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = self._lock_holder()
            raise RunFolderLocked(
                f"{self.root} is being written by another shiftlab run ({holder}). Wait for "
                "it to finish or stop it; `shiftlab status` and `shiftlab report` can read "
                "the folder meanwhile. Use another folder (-o) for a separate run."
            ) from None
        # The lock is ours: the OS releases it when this process dies, so a lock file
        # left by a killed run is never an obstacle (stale by construction).
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": _host(),
                                 "started": time.time()}).encode())
        self._lock_fd = fd
        try:
            self._clean_dead_writers()
            yield self
        finally:
            self._lock_fd = None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)

    def _lock_holder(self) -> str:
        try:
            info = json.loads(self.lock_path.read_text() or "{}")
        except (OSError, ValueError):
            return "holder unknown"
        if not info:
            return "holder unknown"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
        return f"pid {info.get('pid')} on host {info.get('host')}, since {since}"

    def _require_writer(self) -> None:
        if self._lock_fd is None:
            raise RuntimeError("write to a run folder inside `with store.writing():`")

    def _clean_dead_writers(self) -> None:
        """Remove temporaries and running markers whose process (on this host) is gone."""
        me = _host()
        folders = (self.root, self.results_dir, self.records_dir, self.failed_dir,
                   self.running_dir)
        for d in folders:
            for tmp in d.glob(f".*{_TMP_SUFFIX}"):
                if _left_by_dead_writer(tmp):
                    tmp.unlink(missing_ok=True)
        for marker in self.running_dir.glob("*.json"):
            info = _read_json(marker)
            if info is None or (info.get("host") == me and not _pid_alive(_pid(info))):
                marker.unlink(missing_ok=True)

    # ------------------------------------------------------------ run metadata
    def write_meta(self, meta: dict, definition_text: str | None = None) -> None:
        """Merge ``meta`` into ``run.json`` (and save the definition text)."""
        self._require_writer()
        old = self.read_meta()
        merged = {**old, **meta}
        merged.setdefault("first_started", meta.get("started"))
        merged.setdefault("run_id", uuid.uuid4().hex)
        atomic_write_bytes(self.root / "run.json",
                           json.dumps(merged, indent=2, default=str).encode())
        if definition_text is not None:
            atomic_write_bytes(self.root / "definition.toml", definition_text.encode())

    def read_meta(self) -> dict:
        """``run.json`` as a dict ({} when absent)."""
        path = self.root / "run.json"
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text())
        except ValueError as exc:
            raise CorruptRunFile(f"{path} is not valid JSON ({exc}).") from None

    def run_key(self) -> str | None:
        """The per-run secret (hex) that keys the records' tags; None when unavailable.

        It is derived from the per-user secret and the run's id, so it never lies in the
        run folder; a reader on another account gets a different key and trusts no
        records.
        """
        run_id = self.read_meta().get("run_id")
        user = _user_secret()
        if not run_id or user is None:
            return None
        return hmac.new(user, f"shiftlab-run:{run_id}".encode(), hashlib.sha256).hexdigest()

    def write_plan(self, jobs: list[dict]) -> None:
        """Save the jobs of the definition being run (key, label, ...), for `status`."""
        self._require_writer()
        atomic_write_bytes(self.plan_path, json.dumps(jobs, indent=1).encode())

    def read_plan(self) -> list[dict] | None:
        """The jobs saved by :meth:`write_plan` (None for a folder without one)."""
        if not self.plan_path.exists():
            return None
        try:
            return json.loads(self.plan_path.read_text())
        except ValueError as exc:
            raise CorruptRunFile(f"{self.plan_path} is not valid JSON ({exc}).") from None

    # ---------------------------------------------------------------- manifest
    def manifest(self) -> dict[str, JobEntry]:
        """The stored jobs by key (the last line of a key wins).

        A line cut short by a kill while it was appended is ignored: its job's files
        may be there, but the job counts as not stored and runs again.
        """
        entries: dict[str, JobEntry] = {}
        if not self.manifest_path.exists():
            return entries
        with open(self.manifest_path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    d = json.loads(line)
                    entry = JobEntry(key=str(d["key"]), label=d.get("label", ""),
                                     result=dict(d["result"]), records=d.get("records"),
                                     scorers=dict(d.get("scorers") or {}))
                except (ValueError, KeyError, TypeError):
                    continue
                if d.get("removed"):
                    entries.pop(entry.key, None)
                else:
                    entries[entry.key] = entry
        return entries

    def _append_manifest(self, text: str) -> None:
        with open(self.manifest_path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def compact_manifest(self) -> None:
        """Rewrite the manifest with one line per stored job (atomic)."""
        self._require_writer()
        text = "".join(e.to_json() + "\n" for e in self.manifest().values())
        atomic_write_bytes(self.manifest_path, text.encode())

    # ----------------------------------------------------------- job results
    def result_path(self, key: str) -> Path:
        return self.results_dir / f"{key}.parquet"

    def records_path(self, key: str) -> Path:
        return self.records_dir / f"{key}.pkl"

    def write_result(self, key: str, frame: pd.DataFrame, *, label: str = "",
                     records: dict | None = None, scorers: dict | None = None) -> JobEntry:
        """Store a finished job's rows, then its manifest line (forgets an old failure).

        ``records`` is the tag and size of the records file the job's worker wrote
        (:meth:`write_records`), ``scorers`` the versions of the scorers in ``frame``.
        """
        self._require_writer()
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        data = buffer.getvalue()
        path = self.result_path(key)
        atomic_write_bytes(path, data)
        entry = JobEntry(key=key, label=label,
                         result={"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)},
                         records=records, scorers=dict(scorers or {}))
        self._append_manifest(entry.to_json())
        (self.failed_dir / f"{key}.json").unlink(missing_ok=True)
        self.clear_running(key)
        return entry

    def forget(self, key: str) -> None:
        """Drop a job from the manifest and delete its files (it will run again)."""
        self._require_writer()
        self._append_manifest(json.dumps({"key": key, "removed": True, "result": {}}))
        self.result_path(key).unlink(missing_ok=True)
        self.records_path(key).unlink(missing_ok=True)

    def write_records(self, key: str, state: object, run_key: str | None) -> dict | None:
        """Pickle a job's selection state to ``records/`` and return its tag and size.

        Called by the process that ran the job (it shares the file system with the
        driver); returns None when the state cannot be pickled (a lambda in a user's
        estimator) or no run key is available: the job then cannot be rescored.
        """
        if run_key is None or not self.root.is_dir():
            return None
        try:
            data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        except (TypeError, AttributeError, pickle.PicklingError):
            return None
        self.records_dir.mkdir(exist_ok=True)
        try:
            atomic_write_bytes(self.records_path(key), data)
        except OSError:
            return None
        return {"hmac": records_tag(run_key, data), "size": len(data)}

    def load_records(self, key: str, entry: JobEntry, run_key: str | None) -> object:
        """The state saved by :meth:`write_records`, unpickled only once its tag matches.

        Raises
        ------
        CorruptRunFile
            When the file is missing, or its tag differs from the manifest's (altered,
            corrupted, or not written by this run on this account).
        """
        path = self.records_path(key)
        if entry.records is None or run_key is None:
            raise CorruptRunFile(f"{path}: no trusted records for this job.")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CorruptRunFile(f"{path}: cannot read ({exc.strerror}).") from None
        if not _tag_matches(entry, data, run_key):
            raise CorruptRunFile(
                f"{path}: its HMAC tag does not match the manifest (altered, corrupted, or "
                "not written by this run); it is not loaded."
            )
        return pickle.loads(data)  # authenticated above: written by this run

    def verify(self, entry: JobEntry, *, records: str = "tag",
               run_key: str | None = None) -> str | None:
        """Why a stored job cannot be trusted (None when its files match the manifest).

        Checks the results file's size and sha256, and the records file by ``records``:
        ``"tag"`` its size and HMAC tag under ``run_key`` (what a run that reuses the
        job needs), ``"size"`` its size only (a cheap look for `status`), ``"none"``.
        """
        path = self.result_path(entry.key)
        problem = _size_problem(path, entry.result.get("size"))
        if problem is None and sha256_file(path) != entry.result.get("sha256"):
            problem = f"{path}: its sha256 differs from the manifest's"
        if problem is not None or records == "none" or entry.records is None:
            return problem
        rpath = self.records_path(entry.key)
        problem = _size_problem(rpath, entry.records.get("size"))
        if problem is not None or records != "tag":
            return problem
        if run_key is None:
            return f"{rpath}: no run key to check its HMAC tag (see the secret file)"
        if not _tag_matches(entry, rpath.read_bytes(), run_key):
            return f"{rpath}: its HMAC tag differs from the manifest's"
        return None

    # ---------------------------------------------------------------- job state
    def mark_running(self, key: str, info: dict | None = None) -> None:
        """Say that a job runs (pid, host, start time), for `shiftlab status`."""
        if not self.running_dir.is_dir():
            return
        payload = {"pid": os.getpid(), "host": _host(), "started": time.time()}
        payload.update(info or {})
        with contextlib.suppress(OSError):
            atomic_write_bytes(self.running_dir / f"{key}.json", json.dumps(payload).encode())

    def clear_running(self, key: str) -> None:
        (self.running_dir / f"{key}.json").unlink(missing_ok=True)

    def write_failure(self, key: str, info: dict) -> None:
        self._require_writer()
        atomic_write_bytes(
            self.failed_dir / f"{key}.json", json.dumps(info, indent=2, default=str).encode()
        )
        self.clear_running(key)

    # ------------------------------------------------------------------ reading
    def result_keys(self) -> set[str]:
        """Keys of the stored jobs (manifest lines whose results file is there)."""
        return {k for k in self.manifest() if self.result_path(k).exists()}

    def failure_keys(self) -> set[str]:
        return {p.stem for p in self.failed_dir.glob("*.json")}

    def running(self) -> list[dict]:
        """Markers of jobs in progress whose process is still alive (this host's checked)."""
        out = []
        host = _host()
        for p in self.running_dir.glob("*.json"):
            info = _read_json(p)
            if info is None:
                continue
            if info.get("host") == host and not _pid_alive(_pid(info)):
                continue
            out.append({"key": p.stem, **info})
        return out

    def failures(self) -> pd.DataFrame:
        rows = []
        for p in sorted(self.failed_dir.glob("*.json")):
            info = _read_json(p)
            if info is not None:
                rows.append({"key": p.stem, **info})
        return pd.DataFrame(rows)

    def results(self, keys: set[str] | None = None, *, verify: bool = True) -> pd.DataFrame:
        """Rows of the stored jobs (optionally some keys) as one DataFrame.

        Raises
        ------
        CorruptRunFile
            With ``verify`` (the default), when a results file does not match its
            manifest line: a report is never built from altered numbers.
        """
        entries = self.manifest()
        if keys is not None:
            entries = {k: e for k, e in entries.items() if k in keys}
        frames = []
        for key in sorted(entries):
            if verify:
                problem = self.verify(entries[key], records="none")
                if problem is not None:
                    raise CorruptRunFile(
                        f"{problem}. Run `shiftlab run` on this folder again: it recomputes "
                        "the jobs whose files are corrupt."
                    )
            frames.append(pd.read_parquet(self.result_path(key)))
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)


def _size_problem(path: Path, expected) -> str | None:
    """Why a stored file does not have the manifest's size (None when it has)."""
    try:
        size = path.stat().st_size
    except OSError:
        return f"{path} is missing"
    return None if size == expected else (
        f"{path} has {size} bytes where the manifest says {expected}")


def _tag_matches(entry: JobEntry, data: bytes, run_key: str) -> bool:
    """Whether records bytes carry the HMAC tag the manifest holds for them."""
    return hmac.compare_digest(records_tag(run_key, data), str(entry.records.get("hmac")))


def _pid(info: dict) -> int:
    try:
        return int(info.get("pid", -1))
    except (TypeError, ValueError):
        return -1


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
