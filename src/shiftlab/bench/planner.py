"""Expand a benchmark definition into jobs, each with a content-addressed cache key.

A job is one (dataset, task, outer split, method): it runs the method's whole inner grid
search on the outer-train part and evaluates the selected candidates on the outer test
part. Its key hashes what was fitted:

* the data: name, options, file checksums, subsampling, and the task;
* the outer split's own rows (a hash of its train and test indices) and its index (which
  seeds the inner splits), so adding outer splits reuses the splits already computed;
* the fit protocol (inner splits, validation size, seed, which candidates are refitted);
* the method with its grid, and the base estimator (deep methods: their training
  settings instead, and the method's ``sgd_training`` changes when they apply); a
  method's ``max_samples_per_domain`` only when it sets one, so that the keys of the
  other methods are those of a definition without it;
* the code version: a hash of the shiftlab source files the job's code and the method's
  class reach (:func:`method_source_files`, one function for shallow and deep methods).

Scorers are not part of the key: a job stores the candidates' outputs (records), each
row carries its scorer's version (:func:`scorer_version`), and a scorer added or changed
later is computed from the records without refitting. Re-running a definition after
adding a method, scorer, dataset or outer split therefore computes only what is new;
editing a method's code invalidates that method's results alone. The device is not part
of the key (like the executor, it says how to run, not what): every deep row records the
device it was computed on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from functools import cache

from shiftlab import __version__
from shiftlab.bench.code_deps import hash_files, source_files
from shiftlab.bench.datasets import load_spec, spec_fingerprint
from shiftlab.bench.definition import (
    BASELINES,
    BenchmarkDefinition,
    DatasetSpec,
    DefinitionError,
    EstimatorSpec,
    MethodEntry,
    ProtocolSpec,
)
from shiftlab.data.dataset import Task

__all__ = [
    "Job", "PoolJob", "code_version", "job_scorer", "method_source_files", "plan_jobs",
    "plan_pools", "pool_exclusions", "pool_methods", "pooled", "scorer_version",
]


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
    #: The run's secret that keys the HMAC tag of the records the job writes (hex; not
    #: part of the key). Sent to Dask workers with the job: use TLS beyond one machine.
    run_key: str | None = None
    #: ``[scorers] metric``: what the label-based scorers measure (not part of the key:
    #: like a scorer, it is applied to the stored records; see :func:`scorer_version`).
    selection_metric: str = "accuracy"

    @property
    def label(self) -> str:
        return f"{self.dataset.name} {self.task} split {self.outer_split} {self.method.name}"


#: Modules that are not part of what a job fitted: scorers (their rows are rescored from
#: the stored records, each row carries its scorer's version), registries (a method's
#: name and grid are in the key themselves), the benchmark's own plumbing and the data
#: loaders (the data are keyed by their options and file checksums).
KEY_EXCLUDED_MODULES = (
    "shiftlab.selection.scorers",
    "shiftlab.selection.reliability",
    "shiftlab.methods.registry",
    "shiftlab.deep.registry",
    "shiftlab.bench.store",
    "shiftlab.bench.planner",
    "shiftlab.bench.definition",
    "shiftlab.bench.datasets",
    "shiftlab.bench.execute",
    "shiftlab.bench.runner",
    "shiftlab.bench.code_deps",
    "shiftlab.bench.provenance",
    "shiftlab.report",
    "shiftlab.cli",
)


def _method_class(method_name: str, deep: bool):
    if deep:
        from shiftlab.deep.registry import get_deep_method

        return get_deep_method(method_name).cls
    if method_name in BASELINES:
        return None
    from shiftlab.methods.registry import get_method

    return get_method(method_name).cls


def method_source_files(method_name: str, deep: bool = False) -> set[str]:
    """Source files a method's job runs: the fit protocol's and the method class's.

    One function for shallow and deep methods: the transitive closure of the shiftlab
    code reachable from the job function (outer split, baselines, nested selection,
    pipeline) and from the method's class (see :mod:`shiftlab.bench.code_deps`), less
    :data:`KEY_EXCLUDED_MODULES`.
    """
    from shiftlab.bench import jobs

    roots = [jobs.run_job]
    cls = _method_class(method_name, deep)
    if cls is not None:
        roots.append(cls)
    return source_files(*roots, exclude=KEY_EXCLUDED_MODULES)


@cache
def code_version(method_name: str, deep: bool = False) -> str:
    """Hash of the source files a method's results depend on (``deep``: a deep method)."""
    return hash_files(method_source_files(method_name, deep))


@cache
def scorer_version(name: str, metric: str = "accuracy") -> str:
    """Hash of the source files a scorer runs, and of the metric it is given.

    Stored in each row it scored. A changed scorer (or selection metric) changes no job
    key: its rows are computed again from the records.
    """
    from shiftlab.selection import get_scorer

    scorer = get_scorer(name)
    code = hash_files(source_files(
        type(scorer),
        exclude=("shiftlab.methods.registry", "shiftlab.deep.registry", "shiftlab.bench"),
    ))
    return f"{code}:{metric}" if _takes_metric(scorer, metric) else code


def _takes_metric(scorer, metric: str) -> bool:
    """Whether a run's selection metric changes ``scorer``: a label-based scorer given a
    metric other than "accuracy", the setting that keeps every scorer's usual score."""
    return metric != "accuracy" and metric in getattr(scorer, "supported_metrics", ())


def job_scorer(name: str, metric: str, kind: str):
    """The scorer ``name`` measuring ``metric`` where it can (label-based scorers on
    classification tasks); every other scorer as registered."""
    from shiftlab.selection import get_scorer

    scorer = get_scorer(name)
    if kind == "classification" and _takes_metric(scorer, metric):
        return get_scorer(name, metric=metric)
    return scorer


def _rows_digest(train_idx, test_idx) -> str:
    """Hash of an outer split's own rows (train and test indices)."""
    import numpy as np

    digest = hashlib.sha256()
    for idx in (train_idx, test_idx):
        digest.update(np.ascontiguousarray(idx, dtype=np.int64).tobytes())
        digest.update(b"|")
    return digest.hexdigest()[:16]


def _job_key(job: Job, rows: str) -> str:
    protocol = asdict(job.protocol)
    # The outer split is keyed by its own rows, not by how many splits the definition
    # asks for: raising outer_splits from 3 to 5 reuses the 3 splits already computed.
    protocol.pop("outer_splits")
    protocol.pop("outer_test_size")
    payload = {
        "data": spec_fingerprint(job.dataset),
        "max_samples": job.dataset.max_samples_per_domain,
        "task": job.task,
        "outer_split": job.outer_split,
        "rows": rows,
        "protocol": protocol,
        "method": job.method.name,
        "grid": job.method.grid,
        "estimator": asdict(job.estimator),
        "code": code_version(job.method.name, job.method.deep),
        "format": 2,
    }
    if job.method.max_samples_per_domain is not None:
        # Only where set: every uncapped method keeps the key it had before caps existed.
        payload["method_max_samples_per_domain"] = job.method.max_samples_per_domain
    if job.method.deep:  # no base estimator: training settings instead
        training = job.dataset.training
        sgd = job.method.sgd_training if training.get("optimizer") == "sgd" else {}
        payload["estimator"] = None
        payload["deep"] = {"training": training, "sgd_training": sgd}
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def _check_tasks(spec: DatasetSpec, ds, where: str) -> list[str]:
    """The dataset's tasks: the definition's, checked against its domains, or all."""
    if not spec.tasks:
        return [t.name for t in ds.tasks()]
    domains = list(ds.domain_names)
    for name in spec.tasks:
        task = Task.parse(name)
        unknown = [d for d in (*task.sources, task.target) if d not in domains]
        if unknown:
            raise DefinitionError(
                f"{where}: task {name!r} names domain(s) {unknown} that dataset "
                f"{spec.name!r} does not have; its domains are {domains}."
            )
    return list(spec.tasks)


@dataclass(frozen=True)
class PoolJob:
    """Selection across the methods of one (dataset, task, outer split).

    Run on the driver once its member jobs are stored: their records are pooled
    (:meth:`~shiftlab.selection.search.OuterSplitSearch.pool`) and the ``selectors``
    choose or aggregate among every candidate, with no fit. Its key hashes the members'
    keys and the selectors' versions.
    """

    template: Job
    members: tuple[tuple[str, str], ...]
    selectors: tuple[str, ...]
    key: str = ""

    @property
    def label(self) -> str:
        t = self.template
        return f"{t.dataset.name} {t.task} split {t.outer_split} pool of {len(self.members)}"


#: The method every pool holds (the identity adapter: the protocol's source-only).
POOL_SOURCE_ONLY = MethodEntry("SourceOnly")


def pool_methods(definition: BenchmarkDefinition) -> tuple[MethodEntry, ...]:
    """The definition's methods, with source-only added when it asks for a pool."""
    methods = definition.methods
    if definition.pool and not any(m.name == "SourceOnly" and not m.deep for m in methods):
        methods = (*methods, POOL_SOURCE_ONLY)
    return methods


def pooled(method: MethodEntry) -> bool:
    """Whether a method's candidates join the cross-method pools: shallow, not a
    baseline, not capped (``max_samples_per_domain``: its inner splits are drawn from
    other rows than the other methods', and a pool compares candidates on common inner
    validation folds), and on the dataset's base estimator (no ``dataset_estimators``:
    ``shiftlab select`` refits a pool's choice on one base estimator)."""
    return not (method.deep or method.is_baseline or method.max_samples_per_domain is not None
                or method.dataset_estimators or method.estimator is not None)


def pool_exclusions(definition: BenchmarkDefinition) -> list[str]:
    """The shallow methods a definition's pools leave out: capped ones, and those with
    their own base estimators (see :func:`pooled`)."""
    if not definition.pool:
        return []
    return [m.name for m in definition.methods if not (m.deep or m.is_baseline or pooled(m))]


def plan_pools(definition: BenchmarkDefinition, jobs: list[Job]) -> list[PoolJob]:
    """The pools of a definition with ``[scorers] pool``: one per task and outer split,
    over its shallow, non-baseline, uncapped methods (see :func:`pooled`)."""
    if not definition.pool:
        return []
    groups: dict[tuple, list[Job]] = {}
    for job in jobs:
        if pooled(job.method):
            groups.setdefault((job.dataset.name, job.task, job.outer_split), []).append(job)
    pools = []
    for members in groups.values():
        selectors = tuple(definition.pool)
        payload = {
            "members": sorted(j.key for j in members),
            "scorers": list(definition.scorers),
            "selectors": [(s, scorer_version(s, definition.selection_metric))
                          for s in selectors],
            "format": 1,
        }
        key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]
        pools.append(PoolJob(template=members[0], selectors=selectors, key=key,
                             members=tuple((j.method.name, j.key) for j in members)))
    return pools


def template_job(definition: BenchmarkDefinition, spec: DatasetSpec, task: str,
                 outer_split: int, digest: str, *, method: MethodEntry) -> Job:
    """A job of ``definition`` on one dataset, task and outer split (no key yet):
    the fields every method's job of that split shares."""
    return Job(
        dataset=spec, task=task, outer_split=outer_split, method=method,
        estimator=spec.estimator or definition.estimator,
        protocol=definition.protocol, scorers=definition.scorers,
        definition_digest=digest, device=definition.execution.device,
        selection_metric=definition.selection_metric,
    )


def plan_jobs(definition: BenchmarkDefinition) -> list[Job]:
    """Every job of a definition, in a stable order (dataset, task, split, method).

    Loads each dataset once (tasks and the outer splits' rows are part of the keys).
    """
    from shiftlab.bench.jobs import outer_splits

    jobs = []
    digest = definition.digest()
    source = definition.source or "definition"
    methods = pool_methods(definition)
    for spec in definition.datasets:
        try:
            ds = load_spec(spec, definition.protocol.seed)
        except Exception:
            if not spec.tasks:  # its tasks cannot be known: nothing can be planned
                raise
            # Failure isolation: the dataset's jobs fail (each recorded with the loader's
            # traceback) and the other datasets run.
            ds = None
        tasks = spec.tasks if ds is None else _check_tasks(
            spec, ds, f"{source}: [[datasets]] {spec.name}")
        for task in tasks:
            parsed = Task.parse(task)  # early, clear error on a malformed task name
            if ds is None:
                rows = ["unavailable"] * definition.protocol.outer_splits
            else:
                _, _, sd, y_true = ds.pack(parsed, return_target_labels=True)
                rows = [_rows_digest(*split)
                        for split in outer_splits(definition.protocol, y_true, sd)]
            for split, split_rows in enumerate(rows):
                template = template_job(definition, spec, task, split, digest,
                                        method=methods[0])
                for method in methods:
                    entry = method.on_dataset(spec.name)
                    job = replace(template, method=entry,
                                  estimator=entry.estimator or template.estimator)
                    jobs.append(replace(job, key=_job_key(job, split_rows)))
    return jobs


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
