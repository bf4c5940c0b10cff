"""How a benchmark job's rows were obtained: job, seeds, versions, host, scorer versions.

Kept apart from :mod:`shiftlab.bench.jobs` because it is not part of what a job fits:
the job keys (:mod:`shiftlab.bench.planner`) hash the code a job runs but leave this
module out, so recording one more version never invalidates stored results.
"""

from __future__ import annotations

import json
import platform
import socket

import numpy as np
import pandas as pd

from shiftlab import __version__
from shiftlab.selection._table import BASELINE_SCORER, METHOD, ROLE, SOURCE_ONLY, TARGET_ONLY

__all__ = ["method_role", "with_provenance"]

#: The bench's own baselines (``[methods."Train Src"]``, ...) and the part they play.
_BASELINE_ROLES = {"Train Src": SOURCE_ONLY, "Train Tgt": TARGET_ONLY}
#: Deep registry settings that make a method a baseline.
_DEEP_SETTING_ROLES = {"baseline": SOURCE_ONLY, "oracle": TARGET_ONLY}


def method_role(method) -> str:
    """The ``role`` of a definition method's rows (:data:`~shiftlab.selection._table.ROLES`).

    The bench's Train Src / Train Tgt, the deep methods of setting "baseline" / "oracle"
    (SourceOnly, TargetOnly), the shallow methods of family "baseline" (SourceOnly):
    source-only or target-only; every other method: a method.
    """
    if method.name in _BASELINE_ROLES:
        return _BASELINE_ROLES[method.name]
    if method.deep:
        return _DEEP_SETTING_ROLES.get(method.setting, METHOD)
    from shiftlab.methods.registry import list_methods

    baselines = {spec.name for spec in list_methods(family="baseline")}
    return SOURCE_ONLY if method.name in baselines else METHOD


def _provenance(job, seed: int) -> dict:
    import scipy
    import sklearn

    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    }
    extra = {}
    if job.method.deep:
        import torch

        from shiftlab.deep.training import resolve_device

        versions["torch"] = torch.__version__
        try:
            extra["device"] = str(resolve_device(job.device))
        except ValueError:  # "cuda" where there is none: the fit itself says so
            extra["device"] = job.device
    cap = getattr(job.method, "max_samples_per_domain", None)
    if cap is not None:  # only on the rows of capped methods: fitted on fewer rows
        extra["method_max_samples_per_domain"] = cap
    if job.dataset.file:  # a user's table: the bytes the rows come from
        extra["data_sha256"] = job.dataset.file_sha256
    return {
        "dataset": job.dataset.name,
        "task": job.task,
        "method": job.method.name,
        "job_key": job.key,
        "seed": seed,
        "protocol_seed": job.protocol.seed,
        "definition_digest": job.definition_digest,
        "shiftlab_version": __version__,
        "versions": json.dumps(versions),
        "host": socket.gethostname(),
        **extra,
    }


def with_provenance(job, frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A job's rows with how they were obtained: job, seeds, versions, scorer versions."""
    from shiftlab.bench.planner import job_scorer, scorer_version

    for key, value in _provenance(job, seed).items():
        frame[key] = value
    if ROLE not in frame:  # baselines and pools say theirs
        frame[ROLE] = method_role(job.method)
    metric = job.selection_metric
    versions = {name: scorer_version(name, metric) for name in set(frame["scorer"])
                if name != BASELINE_SCORER}
    # "" where there is none (a baseline's rows): a text column, never a float NaN.
    frame["scorer_version"] = [versions.get(name, "") for name in frame["scorer"]]
    # The metric a row's scorer measured (the scorer's own: CircV's default is balanced
    # accuracy, DEV's the log-loss); "" for scorers without one (entropy, density, ...).
    metrics = {name: getattr(job_scorer(name, metric, "classification"), "metric", "")
               for name in versions}
    frame["selection_metric"] = [metrics.get(name, "") or "" for name in frame["scorer"]]
    return _parquet_safe(frame)


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Parameter columns may mix types (0.1 and "scott"): store those as text."""
    for col in frame.columns:
        if col.startswith("param_") and frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: v if isinstance(v, str) else repr(v))
    return frame
