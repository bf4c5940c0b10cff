"""Expand a benchmark definition into jobs, each with a content-addressed cache key.

A job is one (dataset, task, outer split, method): it runs the method's whole inner grid
search on the outer-train part and evaluates the selected candidates on the outer test
part. Its key hashes everything its result depends on: the data (name, options, file
checksums, subsampling), the task, the split (protocol and seed), the method with its
grid, the base estimator, and the *code version* of the method (a hash of the source
files that implement it). Scorers are not part of the key: a job stores the candidates'
predictions (records), so a scorer added later is computed from them without refitting.
Re-running a definition after adding a method, scorer or dataset therefore computes only
what is new; editing a method's code invalidates that method's results alone.

Deep methods' keys also hold the dataset's ``training`` settings (and the method's
``sgd_training`` changes when they apply) instead of the base estimator, which they do
not use; their code version hashes the :mod:`shiftlab.deep` modules the method's class
is built from. The device is not part of the key (like the executor, it says how to run,
not what): every deep row records the device it was computed on.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from shiftlab import __version__
from shiftlab.bench.datasets import dataset_fingerprint, load_benchmark_dataset
from shiftlab.bench.definition import (
    BASELINES,
    BenchmarkDefinition,
    DatasetSpec,
    EstimatorSpec,
    MethodEntry,
    ProtocolSpec,
)
from shiftlab.data.dataset import Task

__all__ = ["Job", "code_version", "plan_jobs"]


@dataclass(frozen=True)
class Job:
    """One unit of benchmark work (picklable, sent to workers)."""

    dataset: DatasetSpec
    task: str
    outer_split: int
    method: MethodEntry
    estimator: EstimatorSpec
    protocol: ProtocolSpec
    scorers: tuple[str, ...]
    key: str = ""
    definition_digest: str = ""
    #: Run folder, where a worker that shares the file system marks the job as running.
    run_dir: str = ""
    #: Device of deep methods ([execution] device): "auto", "cpu" or "cuda".
    device: str = "auto"

    @property
    def label(self) -> str:
        return f"{self.dataset.name} {self.task} split {self.outer_split} {self.method.name}"


def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _deep_files(cls) -> set[str]:
    """Source files of the :mod:`shiftlab.deep` modules a deep method class is built from.

    The modules of its class hierarchy, then every ``shiftlab.deep`` module they import
    from (training core, losses, backbones; the source stage of source-free methods),
    transitively. The registry (names, grids) is left out: grids are in the key.
    """
    todo = [k.__module__ for k in inspect.getmro(cls) if k.__module__.startswith("shiftlab.")]
    seen: set[str] = set()
    files = set()
    while todo:
        name = todo.pop()
        if name in seen or name == "shiftlab.deep.registry":
            continue
        seen.add(name)
        module = sys.modules[name]
        files.add(inspect.getsourcefile(module))
        for value in vars(module).values():
            origin = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", "")
            if isinstance(origin, str) and origin.startswith("shiftlab.deep."):
                todo.append(origin)
    return files


@cache
def code_version(method_name: str, deep: bool = False) -> str:
    """Hash of the source files a method's results depend on (``deep``: a deep method)."""
    from shiftlab.methods import base
    from shiftlab.selection import __file__ as selection_init

    files = {inspect.getsourcefile(base), selection_init}
    files |= {str(p) for p in Path(selection_init).parent.glob("*.py")}
    if deep:
        from shiftlab.deep.registry import get_deep_method

        files |= _deep_files(get_deep_method(method_name).cls)
    elif method_name not in BASELINES:
        from shiftlab.methods.registry import get_method

        cls = get_method(method_name).cls
        for klass in inspect.getmro(cls):
            if klass.__module__.startswith("shiftlab."):
                files.add(inspect.getsourcefile(klass))
    digest = hashlib.sha256()
    for f in sorted(files):
        digest.update(_file_digest(f).encode())
    return digest.hexdigest()[:16]


def _job_key(job: Job) -> str:
    payload = {
        "data": dataset_fingerprint(job.dataset.name, job.dataset.options),
        "max_samples": job.dataset.max_samples_per_domain,
        "task": job.task,
        "outer_split": job.outer_split,
        "protocol": asdict(job.protocol),
        "method": job.method.name,
        "grid": job.method.grid,
        "estimator": asdict(job.estimator),
        "code": code_version(job.method.name, job.method.deep),
        "format": 1,
    }
    if job.method.deep:  # no base estimator: training settings instead
        training = job.dataset.training
        sgd = job.method.sgd_training if training.get("optimizer") == "sgd" else {}
        payload["estimator"] = None
        payload["deep"] = {"training": training, "sgd_training": sgd}
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def _tasks_of(spec: DatasetSpec, seed: int) -> list[str]:
    if spec.tasks:
        return list(spec.tasks)
    ds = load_benchmark_dataset(spec.name, spec.options, spec.max_samples_per_domain, seed)
    return [t.name for t in ds.tasks()]


def plan_jobs(definition: BenchmarkDefinition) -> list[Job]:
    """Every job of a definition, in a stable order (dataset, task, split, method)."""
    jobs = []
    digest = definition.digest()
    for spec in definition.datasets:
        tasks = _tasks_of(spec, definition.protocol.seed)
        for task in tasks:
            Task.parse(task)  # early, clear error on a malformed task name
            for split in range(definition.protocol.outer_splits):
                for method in definition.methods:
                    job = Job(
                        dataset=spec, task=task, outer_split=split, method=method,
                        estimator=spec.estimator or definition.estimator,
                        protocol=definition.protocol,
                        scorers=definition.scorers, definition_digest=digest,
                        device=definition.execution.device,
                    )
                    jobs.append(_with_key(job))
    return jobs


def _with_key(job: Job) -> Job:
    from dataclasses import replace

    return replace(job, key=_job_key(job))


def version_info(deep: bool = False) -> dict[str, str]:
    """Versions of shiftlab and of the libraries results depend on (provenance).

    ``deep`` adds torch's (and its CUDA build's) version.
    """
    import importlib.metadata
    import platform

    import numpy
    import scipy
    import sklearn

    info = {
        "shiftlab": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    }
    try:  # read from the installed metadata: importing POT imports torch (~1 s)
        info["POT"] = importlib.metadata.version("POT")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        pass
    if deep:
        import torch

        info["torch"] = torch.__version__
        if torch.version.cuda:
            info["cuda"] = torch.version.cuda
    return info
