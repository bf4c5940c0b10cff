"""Shared fixtures. Tests read the real datasets from ``../shared/datasets`` (the data home
CI provides beside the checkout); data tests are skipped with a clear reason elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = (REPO.parent / "shared" / "datasets").resolve()


@pytest.fixture(scope="session")
def shared_data_home() -> Path:
    """The read-only shared data home (``../shared/datasets``)."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(autouse=True)
def _data_home_env(monkeypatch, tmp_path_factory):
    """Point SHIFTLAB_DATA at the shared datasets so no test writes to the user's home."""
    if SHARED_DATASETS.is_dir():
        monkeypatch.setenv("SHIFTLAB_DATA", str(SHARED_DATASETS))
    else:  # pragma: no cover - CI always has ../shared
        monkeypatch.setenv("SHIFTLAB_DATA", str(tmp_path_factory.mktemp("data_home")))
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    # The per-user secret that keys run records' HMAC tags: one for the test session,
    # never the user's own.
    monkeypatch.setenv("SHIFTLAB_SECRET_FILE",
                       str(tmp_path_factory.getbasetemp() / "shiftlab-secret"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
