"""On-disk results store of a benchmark run: crash-safe, resumable, queryable.

Layout of a run folder::

    RUN/
      run.json             definition digest, provenance, first/last start times
      definition.toml      the definition text the run was started with (latest)
      results/<key>.parquet   rows of one finished job (written atomically)
      failed/<key>.json       error and traceback of a failed or timed-out job
      running/<key>.json      marker of a job in progress (pid, host, start time)

Every file is written to a temporary name in the same folder and then renamed with
:func:`os.replace`, which is atomic on POSIX: a run killed at any point (even with
``kill -9``) leaves either the complete file or none, never a truncated one. Stale
temporary files are removed when the store is opened again.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pandas as pd

__all__ = ["RunStore"]


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RunStore:
    """Results of one benchmark run, stored under ``root``.

    Parameters
    ----------
    root : path
        The run folder (created when missing).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.results_dir = self.root / "results"
        self.failed_dir = self.root / "failed"
        self.running_dir = self.root / "running"
        for d in (self.results_dir, self.failed_dir, self.running_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._clean_temporaries()

    def _clean_temporaries(self) -> None:
        for d in (self.root, self.results_dir, self.failed_dir, self.running_dir):
            for tmp in d.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)

    # ------------------------------------------------------------ run metadata
    def write_meta(self, meta: dict, definition_text: str | None = None) -> None:
        path = self.root / "run.json"
        old = self.read_meta()
        merged = {**old, **meta}
        merged.setdefault("first_started", meta.get("started"))
        _atomic_write_bytes(path, json.dumps(merged, indent=2, default=str).encode())
        if definition_text is not None:
            _atomic_write_bytes(self.root / "definition.toml", definition_text.encode())

    def read_meta(self) -> dict:
        path = self.root / "run.json"
        return json.loads(path.read_text()) if path.exists() else {}

    # ---------------------------------------------------------------- job state
    def has_result(self, key: str) -> bool:
        return (self.results_dir / f"{key}.parquet").exists()

    def has_failure(self, key: str) -> bool:
        return (self.failed_dir / f"{key}.json").exists()

    def mark_running(self, key: str, info: dict | None = None) -> None:
        payload = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        payload.update(info or {})
        _atomic_write_bytes(self.running_dir / f"{key}.json", json.dumps(payload).encode())

    def clear_running(self, key: str) -> None:
        (self.running_dir / f"{key}.json").unlink(missing_ok=True)

    def write_result(self, key: str, frame: pd.DataFrame) -> None:
        """Store a finished job's rows (and forget an earlier failure of it)."""
        path = self.results_dir / f"{key}.parquet"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        frame.to_parquet(tmp, index=False)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        (self.failed_dir / f"{key}.json").unlink(missing_ok=True)
        self.clear_running(key)

    def write_failure(self, key: str, info: dict) -> None:
        _atomic_write_bytes(
            self.failed_dir / f"{key}.json", json.dumps(info, indent=2, default=str).encode()
        )
        self.clear_running(key)

    # ------------------------------------------------------------------ reading
    def result_keys(self) -> set[str]:
        return {p.stem for p in self.results_dir.glob("*.parquet")}

    def failure_keys(self) -> set[str]:
        return {p.stem for p in self.failed_dir.glob("*.json")}

    def running(self) -> list[dict]:
        """Markers of jobs in progress whose process is still alive on this host."""
        out = []
        host = socket.gethostname()
        for p in self.running_dir.glob("*.json"):
            try:
                info = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            alive = True
            if info.get("host") == host:
                try:
                    os.kill(int(info["pid"]), 0)
                except (OSError, ValueError, KeyError):
                    alive = False
            if alive:
                out.append({"key": p.stem, **info})
        return out

    def failures(self) -> pd.DataFrame:
        rows = []
        for p in sorted(self.failed_dir.glob("*.json")):
            try:
                rows.append({"key": p.stem, **json.loads(p.read_text())})
            except (OSError, ValueError):
                continue
        return pd.DataFrame(rows)

    def results(self, keys: set[str] | None = None) -> pd.DataFrame:
        """All stored rows (optionally of some job keys) as one DataFrame."""
        files = sorted(self.results_dir.glob("*.parquet"))
        if keys is not None:
            files = [f for f in files if f.stem in keys]
        if not files:
            return pd.DataFrame()
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
