"""The parsed form of a benchmark definition: its dataclasses, the fixed choices
(baselines, executors, devices, estimators) and :class:`DefinitionError`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from shiftlab.exceptions import ShiftlabError

#: Baseline "methods" handled by the runner itself (no adaptation).
BASELINES = ("Train Src", "Train Tgt")
EXECUTORS = ("inprocess", "local", "dask")
DEVICES = ("auto", "cpu", "cuda")
BACKBONES = ("auto", "mlp", "cnn", "mnist_cnn")
#: Deep training parameters a definition may not set: the runner sets them per job.
RUNNER_PARAMS = {
    "device": "the device is set once for the run: [execution] device",
    "random_state": "the runner seeds every deep model with the job's seed",
}
ESTIMATORS = {
    "LogisticRegression": "sklearn.linear_model:LogisticRegression",
    "SVC": "sklearn.svm:SVC",
    "KNeighborsClassifier": "sklearn.neighbors:KNeighborsClassifier",
    "HistGradientBoostingClassifier": "sklearn.ensemble:HistGradientBoostingClassifier",
    "RandomForestClassifier": "sklearn.ensemble:RandomForestClassifier",
    "Ridge": "sklearn.linear_model:Ridge",
    "SVR": "sklearn.svm:SVR",
}


#: The estimator name that asks for SKADA-Bench's first stage: the base estimator chosen
#: per task on source data only (see :mod:`shiftlab.bench.base_estimator`).
AUTO_ESTIMATOR = "auto"


class DefinitionError(ShiftlabError, ValueError):
    """A benchmark definition is invalid; the message says where and how to fix it."""


@dataclass(frozen=True)
class MethodEntry:
    """A method and the grid of its own hyperparameters.

    ``deep`` marks a method of :mod:`shiftlab.deep` (``setting`` is then its registry
    setting and ``sgd_training`` its changes to SGD training settings).
    """

    name: str
    grid: dict[str, list[Any]] = field(default_factory=dict)
    deep: bool = False
    setting: str = ""
    sgd_training: dict[str, Any] = field(default_factory=dict)
    #: Fit on at most this many outer-train rows per domain (None: every row); the
    #: outer test rows are never capped. See "max_samples_per_domain" in the module
    #: docstring.
    max_samples_per_domain: int | None = None
    #: ``dataset_grids``: per-dataset grids that replace ``grid`` on those datasets
    #: (dataset name -> grid), as SKADA-Bench cuts some grids on some datasets.
    dataset_grids: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    #: ``dataset_estimators``: per-dataset base estimators of this method (dataset name
    #: -> EstimatorSpec), in place of the dataset's, as SKADA-Bench gives JDOT and DASVM
    #: the dataset's best SVC. ``estimator`` is the one in force on a dataset (set by
    #: :meth:`on_dataset`; None: the dataset's).
    dataset_estimators: dict[str, EstimatorSpec] = field(default_factory=dict)
    estimator: EstimatorSpec | None = None

    @property
    def is_baseline(self) -> bool:
        """Whether the runner fits it once, without selection (Train Src/Tgt, deep oracle)."""
        return self.name in BASELINES or (self.deep and self.setting == "oracle")

    def on_dataset(self, dataset: str) -> MethodEntry:
        """The entry as it runs on ``dataset``: its ``dataset_grids`` grid there if it
        has one, else ``grid``; its ``dataset_estimators`` estimator there as
        ``estimator`` (no per-dataset table is left to apply)."""
        if not (self.dataset_grids or self.dataset_estimators):
            return self
        return replace(self, grid=self.dataset_grids.get(dataset, self.grid), dataset_grids={},
                       estimator=self.dataset_estimators.get(dataset, self.estimator),
                       dataset_estimators={})


@dataclass(frozen=True)
class EstimatorSpec:
    """The final (base) estimator put after every adapter."""

    name: str = "LogisticRegression"
    params: dict[str, Any] = field(default_factory=dict)
    standardize: bool = True

    def build(self):
        """Instantiate the estimator (standardisation is a separate pipeline step).

        ``SVC`` with ``probability = true`` (SKADA-Bench's base estimator) is built as
        such while scikit-learn has the parameter (deprecated in 1.9, removed in 1.11),
        and as scikit-learn's replacement afterwards: see :func:`probabilistic_svc`.
        """
        import importlib

        if self.name == AUTO_ESTIMATOR:
            raise ValueError(
                'estimator "auto" is chosen per task on source data when a job runs: '
                "see shiftlab.bench.jobs.job_base_estimator."
            )
        module, _, attr = ESTIMATORS[self.name].partition(":")
        if self.name == "SVC" and self.params.get("probability"):
            return probabilistic_svc(self.params)
        return getattr(importlib.import_module(module), attr)(**self.params)


#: scikit-learn's FutureWarning for ``SVC(probability=True)`` (1.9 and 1.10): the
#: benchmark builds it on purpose (see :func:`probabilistic_svc`), so jobs do not record it.
SVC_PROBABILITY_WARNING = r"The `probability` parameter was deprecated"


def probabilistic_svc(params: dict, *, has_probability: bool | None = None):
    """An SVC with Platt-scaled probabilities, on any supported scikit-learn.

    ``SVC(probability=True)`` while scikit-learn has the parameter (up to 1.10), as in
    SKADA-Bench; from 1.11, which removed it, scikit-learn's documented replacement
    ``CalibratedClassifierCV(SVC(...), ensemble=False)``: one SVC fitted on all rows,
    with a sigmoid fitted on 5-fold cross-validated decision values (libsvm's Platt
    scaling also uses 5 folds; probabilities differ by the folds' draw, and multiclass
    predictions may differ where the argmax of calibrated probabilities and of the
    decision values disagree). ``has_probability`` overrides the detection (tests).
    """
    from sklearn.svm import SVC

    if has_probability is None:
        has_probability = "probability" in SVC().get_params()
    if has_probability:
        return SVC(**params)
    from sklearn.calibration import CalibratedClassifierCV

    rest = {k: v for k, v in params.items() if k != "probability"}
    return CalibratedClassifierCV(SVC(**rest), ensemble=False)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of the benchmark: a catalog name or a generator, with its tasks.

    ``estimator`` overrides the definition's base estimator for this dataset (SKADA-Bench
    picks the best base estimator of each dataset on source data).
    """

    name: str
    tasks: tuple[str, ...] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    max_samples_per_domain: int | None = None
    estimator: EstimatorSpec | None = None
    #: Training settings of the deep methods on this dataset (shared parameters of
    #: :class:`shiftlab.deep.BaseDeepDA`); shallow methods ignore them.
    training: dict[str, Any] = field(default_factory=dict)
    #: A user's table (``file = "..."``): the file's resolved path and sha256, and how it
    #: is read (``domain``, ``label``, ``features``, ``categorical`` columns).
    file: str | None = None
    file_sha256: str = ""
    columns: dict[str, Any] = field(default_factory=dict)
    #: Steps fitted on each training part before the methods: ``impute`` (a strategy),
    #: ``encode`` (categorical columns: "onehot" or "ordinal"), ``scale`` (numeric ones).
    preprocessing: dict[str, Any] = field(default_factory=dict)
    #: The parsed table (the bytes of :meth:`DomainDataset.to_bytes`): jobs carry it to
    #: the workers, which need no shared file system. Not part of the definition's dict.
    table: bytes = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True)
class ProtocolSpec:
    """Nested validation protocol (REFERENCE section 1 defaults)."""

    outer_splits: int = 5
    outer_test_size: float = 0.2
    inner_splits: int = 5
    inner_val_size: float = 0.2
    seed: int = 0
    #: "all" refits every candidate on each outer-train part (test accuracy of every
    #: candidate, for the reliability report); "selected" only the scorers' winners.
    refit_candidates: str = "all"


@dataclass(frozen=True)
class ExecutionSpec:
    """How jobs run: in this process, on local processes, or on a Dask cluster."""

    executor: str = "local"
    n_jobs: int = -1
    timeout: float | None = None
    dask_address: str | None = None
    dask_workers: int = 2
    #: Device of the deep methods: "auto" (CUDA when available), "cpu" or "cuda".
    device: str = "auto"
    #: Seconds a Dask run waits while the cluster has no worker before it stops.
    dask_no_worker_timeout: float = 300.0
    #: PEM files for TLS to the Dask scheduler: the CA certificate, and this client's
    #: certificate and private key (both or neither).
    dask_tls_ca_file: str | None = None
    dask_tls_cert_file: str | None = None
    dask_tls_key_file: str | None = None


#: Execution fields added after the first definitions, left out of ``to_dict`` at these
#: defaults so that older definitions keep their dicts (and the digests built on them).
_EXECUTION_ADDED = {
    "device": "auto",
    "dask_no_worker_timeout": 300.0,
    "dask_tls_ca_file": None,
    "dask_tls_cert_file": None,
    "dask_tls_key_file": None,
}


@dataclass(frozen=True)
class BenchmarkDefinition:
    """A validated benchmark definition (see the module docstring for the format)."""

    name: str
    datasets: tuple[DatasetSpec, ...]
    methods: tuple[MethodEntry, ...]
    scorers: tuple[str, ...]
    estimator: EstimatorSpec = field(default_factory=EstimatorSpec)
    protocol: ProtocolSpec = field(default_factory=ProtocolSpec)
    execution: ExecutionSpec = field(default_factory=ExecutionSpec)
    description: str = ""
    source: str = ""
    #: ``[scorers] metric``: selection metric of the label-based scorers (one of
    #: :data:`shiftlab.selection.metrics.SELECTION_METRICS`).
    selection_metric: str = "accuracy"
    #: ``[scorers] pool``: selectors applied across methods (pooled candidates).
    pool: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        # Added after the first definitions: left out at its default, so that existing
        # definitions keep their dict (and digest, and job keys).
        if d["selection_metric"] == "accuracy":
            d.pop("selection_metric")
        if not d["pool"]:
            d.pop("pool")
        # Fields added for deep methods are left out at their defaults, so a definition
        # without deep parts has the same dict (and digest, and job keys) as before.
        for method in d["methods"]:
            if not method["deep"]:
                for key in ("deep", "setting", "sgd_training"):
                    method.pop(key)
            # Added with per-method caps: left out at its default (no cap).
            if method["max_samples_per_domain"] is None:
                method.pop("max_samples_per_domain")
            # Added with per-dataset grids and estimators: left out when it has none.
            for key in ("dataset_grids", "dataset_estimators"):
                if not method[key]:
                    method.pop(key)
            if method["estimator"] is None:
                method.pop("estimator")
        for dataset in d["datasets"]:
            dataset.pop("table")
            for key in ("training", "file", "file_sha256", "columns", "preprocessing"):
                if not dataset[key]:
                    dataset.pop(key)
        for key, default in _EXECUTION_ADDED.items():
            if d["execution"][key] == default:
                d["execution"].pop(key)
        return d

    @property
    def has_deep(self) -> bool:
        """Whether some method is a deep one (needs torch)."""
        return any(m.deep for m in self.methods)

    def digest(self) -> str:
        """sha256 of the definition's content (execution settings excluded)."""
        d = self.to_dict()
        d.pop("execution")
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    def with_execution(self, **changes) -> BenchmarkDefinition:
        """A copy with some execution settings replaced (CLI overrides).

        ``None`` values leave a setting as it is. The result is checked as the
        ``[execution]`` table of a file is (:class:`DefinitionError` otherwise).
        """
        from dataclasses import replace

        from shiftlab.bench.definition._checker import _Checker
        from shiftlab.bench.definition._sections import _check_execution

        changes = {k: v for k, v in changes.items() if v is not None}
        merged = {**asdict(self.execution), **changes}
        chk = _Checker("", f"{self.source or self.name} (execution settings)")
        return replace(self, execution=_check_execution(chk, merged))
