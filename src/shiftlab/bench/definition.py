"""Benchmark definitions: a readable TOML file, validated with located errors.

A definition names the datasets (and tasks), the methods with their grids, the base
estimator, the scorers, the protocol (outer / inner splits, sizes, seed) and how to
execute the jobs. Presets ship with the package (``quick``, ``skada-bench``); any other
argument is read as a path. Example::

    [benchmark]
    name = "my-bench"

    [protocol]
    outer_splits = 5
    inner_splits = 5

    [[datasets]]
    name = "sim-conditional"

    [estimator]
    name = "LogisticRegression"

    [methods.CORAL]
    grid = { assume_centered = [false, true] }

    [scorers]
    names = ["IW", "PE", "SND", "oracle"]

The ``[scorers]`` table may also set ``metric``, the *selection metric* of the scorers
that compare predictions with labels (``SrcVal``, ``IW``, ``DEV``/``DEVN``, ``CircV`` and
the oracle; see :mod:`shiftlab.selection.scorers`): ``"accuracy"`` (the default: each of
these scorers keeps its usual score), ``"balanced_accuracy"``, ``"roc_auc"`` or
``"log_loss"`` (scored as the negative log-loss)::

    [scorers]
    names = ["IW", "DEV", "oracle"]
    metric = "balanced_accuracy"

``[scorers] pool`` asks for selection *across* methods: for each task and outer split,
the candidates of every shallow method (and source-only, which the run adds when no
``[methods.SourceOnly]`` is given) are pooled from their stored records, and each named
selector chooses (``EnsV``, ``zconsensus``, ``safe``, or any realistic scorer of
``names``) or aggregates (``Average``, ``IWA``) among them, with no refit. The report
shows one row per selector, as the method ``shiftlab: <selector>`` (``shiftlab: oracle``
is the cross-method oracle when ``names`` has the oracle). Pools refit nothing, so they
need ``[protocol] refit_candidates = "all"`` (the default)::

    [scorers]
    names = ["IW", "PE", "oracle"]
    pool = ["EnsV", "zconsensus", "safe", "IWA"]

Deep methods (:mod:`shiftlab.deep`, needs torch) are methods like the others: a name of
the deep registry in ``[methods.NAME]`` (``class = "shiftlab.deep.NAME"`` is required for
``SourceOnly``, a name both registries use, and allowed everywhere), with a grid of the
deep estimator's parameters and optional ``sgd_training`` changes applied on datasets that
train with SGD (``lr_scale`` multiplies the learning rate, other keys replace training
parameters). Each dataset may carry a ``training`` table (backbone, optimiser, epochs...:
the shared parameters of :class:`shiftlab.deep.BaseDeepDA`) used by every deep method on
it, and ``[execution] device`` picks ``"auto"``, ``"cpu"`` or ``"cuda"``::

    [[datasets]]
    name = "mnist_usps"
    tasks = ["mnist->usps"]
    training = { backbone = "cnn", input_shape = [1, 16, 16], n_epochs = 5 }

    [methods.DANN]
    class = "shiftlab.deep.DANN"
    grid = { reg = [0.1, 1.0] }
    sgd_training = { lr_scale = 0.1, momentum = 0.9 }

    [execution]
    device = "cpu"

The ``[execution]`` table (every key optional; the command line overrides them)::

    [execution]
    executor = "local"              # "inprocess", "local" (processes) or "dask"
    n_jobs = -1                     # local workers; negative: cores + 1 + n_jobs
    timeout = 3600                  # seconds per job (a positive number); absent: none
    device = "auto"                 # deep methods: "auto", "cpu" or "cuda"
    dask_address = "tls://scheduler:8786"   # absent: a local Dask cluster
    dask_workers = 2                # workers of that local cluster (a positive integer)
    dask_no_worker_timeout = 300.0  # seconds a Dask run waits with no worker, then stops
    dask_tls_ca_file = "ca.pem"     # PEM files for TLS to the scheduler: the CA, and
    dask_tls_cert_file = "me.pem"   # this client's certificate and key (both or neither;
    dask_tls_key_file = "me.key"    # relative paths are read from the current folder)

Everything is validated when the definition is loaded, before any job runs, so that a
typo costs an error message rather than a run of failed jobs:

* every key is known and every value has its type and range (an integer, a positive
  number, a fraction in (0, 1), one of a list of names, tasks as ``"SRC->TGT"``...);
* the benchmark's ``name`` names its run folder (``shiftlab-runs/NAME``), so it holds
  only letters, digits, ``-``, ``_`` and ``.`` (not first): no path separator, no
  ``..``, no hidden or absolute path;
* every grid value of a shallow method passes the method's parameter constraints
  (scikit-learn's ``_parameter_constraints``, which its ``fit`` checks too), and the base
  estimators' parameters pass scikit-learn's; a deep method's grid values are checked
  for their type and by the method's own parameter checks;
* the Dask TLS files exist.

Every error names the file, the line (when it can be found), the table and the
offending key, says what is expected, and suggests the nearest valid name.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from shiftlab.exceptions import ShiftlabError, suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "BASELINES",
    "BenchmarkDefinition",
    "DatasetSpec",
    "DefinitionError",
    "EstimatorSpec",
    "ExecutionSpec",
    "MethodEntry",
    "ProtocolSpec",
    "definition_from_dict",
    "effective_training",
    "list_presets",
    "load_definition",
]

#: Baseline "methods" handled by the runner itself (no adaptation).
BASELINES = ("Train Src", "Train Tgt")
EXECUTORS = ("inprocess", "local", "dask")
DEVICES = ("auto", "cpu", "cuda")
BACKBONES = ("auto", "mlp", "cnn")
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

    @property
    def is_baseline(self) -> bool:
        """Whether the runner fits it once, without selection (Train Src/Tgt, deep oracle)."""
        return self.name in BASELINES or (self.deep and self.setting == "oracle")


@dataclass(frozen=True)
class EstimatorSpec:
    """The final (base) estimator put after every adapter."""

    name: str = "LogisticRegression"
    params: dict[str, Any] = field(default_factory=dict)
    standardize: bool = True

    def build(self):
        """Instantiate the estimator (standardisation is a separate pipeline step)."""
        import importlib

        module, _, attr = ESTIMATORS[self.name].partition(":")
        return getattr(importlib.import_module(module), attr)(**self.params)


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

        changes = {k: v for k, v in changes.items() if v is not None}
        merged = {**asdict(self.execution), **changes}
        chk = _Checker("", f"{self.source or self.name} (execution settings)")
        return replace(self, execution=_check_execution(chk, merged))


# --------------------------------------------------------------------- loading
def list_presets() -> list[str]:
    """Names of the definitions shipped with shiftlab."""
    folder = resources.files("shiftlab.bench") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def _read(path_or_preset: str | Path) -> tuple[str, str]:
    text_name = str(path_or_preset)
    path = Path(text_name)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise DefinitionError(f"No benchmark definition at {path}.")
        return path.read_text(encoding="utf-8"), str(path)
    presets = list_presets()
    if text_name not in presets:
        raise DefinitionError(
            f"{text_name!r} is neither a file nor a preset.{suggest(text_name, presets)} "
            f"Presets: {', '.join(presets)}."
        )
    res = resources.files("shiftlab.bench") / "presets" / f"{text_name}.toml"
    return res.read_text(encoding="utf-8"), f"preset:{text_name}"


class _Checker:
    """Collects context (file, text) to produce located error messages."""

    def __init__(self, text: str, source: str):
        self.text = text
        self.source = source
        #: Keep a table's rows without a label (see :func:`load_definition`).
        self.keep_unlabelled = False

    def line_of(self, *tokens: str, start: int = 0) -> int | None:
        """First line holding a token, searched from line ``start`` (0-based) first."""
        lines = self.text.splitlines()
        for first in dict.fromkeys((start, 0)):
            for token in tokens:
                if not token:
                    continue
                # A key must not match inside a longer one ("timeout" in
                # "dask_no_worker_timeout"): a token starting with a word character
                # starts a word.
                bound = r"(?<![\w-])" if re.match(r"\w", token) else ""
                pattern = re.compile(bound + re.escape(token))
                for i in range(first, len(lines)):
                    if pattern.search(lines[i].split("#", 1)[0]):
                        return i + 1
        return None

    def _section_start(self, where: str) -> int:
        """0-based line where the table an error is about begins (0 when not found)."""
        lines = [line.split("#", 1)[0].strip() for line in self.text.splitlines()]
        match = re.match(r"datasets #(\d+)", where)
        if match:
            starts = [i for i, line in enumerate(lines) if line == "[[datasets]]"]
            n = int(match.group(1))
            return starts[n - 1] if len(starts) >= n else 0
        match = re.match(r"methods\.([^.]+)", where)
        if match:
            heads = {f"[methods.{match.group(1)}]", f'[methods."{match.group(1)}"]'}
            return next((i for i, line in enumerate(lines) if line in heads), 0)
        match = re.match(r"(benchmark|protocol|estimator|scorers|execution)\b", where)
        if match:
            head = f"[{match.group(1)}]"
            return next((i for i, line in enumerate(lines) if line == head), 0)
        return 0

    def fail(self, where: str, message: str, *tokens: str) -> DefinitionError:
        line = self.line_of(*tokens, start=self._section_start(where))
        loc = f"{self.source}:{line}" if line else self.source
        return DefinitionError(f"{loc}: [{where}] {message}")

    def table(self, data: dict, key: str, where: str) -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(where, f"'{key}' must be a table, got {type(value).__name__}.", key)
        return value

    def only_keys(self, data: dict, allowed: set[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(
                    where,
                    f"unknown key {key!r}.{suggest(key, allowed)} "
                    f"Allowed: {', '.join(sorted(allowed))}.",
                    key,
                )


def _known_methods() -> list[str]:
    from shiftlab.methods.registry import list_methods

    return [s.name for s in list_methods()]


def _deep_registry():
    """``shiftlab.deep.registry``, or None when torch (an optional extra) is missing."""
    try:
        from shiftlab.deep import registry
    except ImportError:
        return None
    return registry


def _needs_torch(what: str) -> str:
    from shiftlab.deep._torch import INSTALL_HINT

    return f"{what} need torch, which is not installed. {INSTALL_HINT}"


def _known_deep_methods() -> list[str]:
    registry = _deep_registry()
    return [] if registry is None else [s.name for s in registry.list_deep_methods()]


def effective_training(training: dict, sgd_training: dict, default_lr: float = 1e-3) -> dict:
    """A deep method's training parameters on a dataset.

    The dataset's ``training`` table, with the method's ``sgd_training`` changes when
    that table trains with SGD: other keys replace parameters, then ``lr_scale``
    multiplies the learning rate (``default_lr`` when the table gives none).
    """
    params = dict(training)
    if params.get("optimizer") == "sgd" and sgd_training:
        changes = dict(sgd_training)
        scale = changes.pop("lr_scale", None)
        params.update(changes)
        if scale is not None:
            params["lr"] = float(params.get("lr", default_lr)) * float(scale)
    return params


def _none(value):
    return None if value == "none" else value


def _positive_ints(value, length: int | None = None) -> bool:
    return (
        isinstance(value, list | tuple)
        and (length is None or len(value) == length)
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    )


def _check_training_values(chk: _Checker, params: dict, where: str, allowed: set[str]) -> None:
    """Known keys, then values: types here, ranges by the deep training config itself."""
    for key in params:
        if key in RUNNER_PARAMS:
            raise chk.fail(where, f"{key!r} cannot be set here: {RUNNER_PARAMS[key]}.", key)
    chk.only_keys(params, allowed, where)
    from dataclasses import fields

    from shiftlab.deep.training import TrainingConfig

    checks = {
        "backbone": (lambda v: v in BACKBONES, f"one of {', '.join(map(repr, BACKBONES))}"),
        "input_shape": (lambda v: v is None or _positive_ints(v, 3),
                        "a list [channels, height, width] of positive integers"),
        "hidden_sizes": (_positive_ints, "a list of positive integers"),
        "mixed_precision": (lambda v: v in ("auto", True, False), '"auto", true or false'),
        "batch_norm": (lambda v: isinstance(v, bool), "true or false"),
        "dropout": (lambda v: isinstance(v, int | float) and 0 <= v < 1, "a number in [0, 1)"),
    }
    for key in ("n_epochs", "batch_size", "feature_dim", "patience", "verbose"):
        checks[key] = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                       "a non-negative integer")
    for key in ("lr", "momentum", "weight_decay", "validation_fraction", "label_smoothing"):
        checks[key] = (lambda v: isinstance(v, int | float) and not isinstance(v, bool),
                       "a number")
    for key, value in params.items():
        if key in checks and not checks[key][0](value):
            raise chk.fail(where, f"{key} must be {checks[key][1]}, got {value!r}.", key)
    config_keys = {f.name for f in fields(TrainingConfig)}
    try:
        TrainingConfig(**{k: v for k, v in params.items() if k in config_keys}).validate()
    except (TypeError, ValueError) as exc:
        bad = str(exc).split(" ", 1)[0]  # the config's messages start with the key
        raise chk.fail(where, str(exc), f"{bad} =", bad) from exc


def _training_keys() -> set[str]:
    from shiftlab.deep import TRAINING_PARAMS

    return set(TRAINING_PARAMS) - set(RUNNER_PARAMS)


def _check_training(chk: _Checker, raw: Any, where: str) -> dict:
    """A dataset's ``training`` table of deep training settings."""
    if not isinstance(raw, dict):
        raise chk.fail(where, "training must be a table {backbone = ..., n_epochs = ...}.",
                       "training")
    if _deep_registry() is None:
        raise chk.fail(where, _needs_torch("training settings (deep methods)"), "training")
    params = {k: _none(v) for k, v in raw.items()}
    _check_training_values(chk, params, where, _training_keys())
    return params


def _check_deep_method(chk: _Checker, name: str, body: dict, where: str) -> MethodEntry:
    """A ``[methods.NAME]`` table of a deep method: class, setting, grid, sgd_training."""
    registry = _deep_registry()
    if registry is None:
        raise chk.fail(where, _needs_torch(f"deep methods ({name})"), f"[methods.{name}]", name)
    deep_names = _known_deep_methods()
    if name not in deep_names:
        raise chk.fail(
            where,
            f"unknown deep method {name!r}.{suggest(name, deep_names)} "
            f"Deep methods: {', '.join(deep_names)}.",
            f"[methods.{name}]", name,
        )
    spec = registry.get_deep_method(name)
    chk.only_keys(body, {"grid", "class", "setting", "sgd_training"}, where)
    cls = body.get("class")
    valid_cls = {f"shiftlab.deep.{spec.cls_name}", f"{spec.cls.__module__}.{spec.cls_name}"}
    if cls is not None and cls not in valid_cls:
        raise chk.fail(where, f"class of the deep method {name} is "
                       f"'shiftlab.deep.{spec.cls_name}', got {cls!r}.", "class")
    setting = body.get("setting", spec.setting)
    if setting != spec.setting:
        raise chk.fail(where, f"{name}'s setting is {spec.setting!r}, got {setting!r}.",
                       "setting")
    grid = _check_grid(chk, body.get("grid", {}), where, name)
    if grid and spec.setting == "oracle":
        raise chk.fail(where, f"{name} is the oracle baseline (trained on target labels, "
                       "evaluation only) and takes no grid.", "grid")
    for param in grid:
        if param in RUNNER_PARAMS:
            raise chk.fail(where, f"{param!r} cannot be in a grid: {RUNNER_PARAMS[param]}.",
                           param)
    _check_grid_keys(chk, name, grid, set(spec.cls().get_params(deep=False)), where)
    _check_deep_grid_values(chk, spec, grid, where)
    sgd = body.get("sgd_training")
    sgd = {} if sgd is None else sgd
    if not isinstance(sgd, dict):
        raise chk.fail(where, "sgd_training must be a table {lr_scale = 0.1, momentum = 0.9}.",
                       "sgd_training")
    sgd = {k: _none(v) for k, v in sgd.items()}
    scale = sgd.get("lr_scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise chk.fail(where, f"lr_scale must be a positive number, got {scale!r}.", "lr_scale")
    _check_training_values(
        chk, {k: v for k, v in sgd.items() if k != "lr_scale"}, f"{where}.sgd_training",
        _training_keys() | {"lr_scale"},
    )
    return MethodEntry(name, grid, deep=True, setting=spec.setting, sgd_training=sgd)


def _known_scorers() -> list[str]:
    from shiftlab.selection import list_scorers

    return [s if isinstance(s, str) else s.name for s in list_scorers()]


def _known_datasets() -> list[str]:
    from shiftlab.bench.datasets import available_dataset_names

    return available_dataset_names()


def _check_grid(chk: _Checker, grid: Any, where: str, method: str) -> dict[str, list]:
    if not isinstance(grid, dict):
        raise chk.fail(where, "grid must be a table {param = [values]}.", method)
    out = {}
    for param, values in grid.items():
        if not isinstance(values, list) or not values:
            raise chk.fail(
                where,
                f"grid value of {param!r} must be a non-empty list, e.g. {param} = [0.1, 1].",
                param,
            )
        out[param] = [None if v == "none" else v for v in values]
    return out


def _check_method_params(chk: _Checker, name: str, grid: dict, where: str) -> None:
    """Grid keys must be parameters of the method's estimator, and values valid ones."""
    if name in BASELINES:
        if grid:
            raise chk.fail(where, f"{name} is a baseline and takes no grid.", name)
        return
    from shiftlab.methods.registry import get_method

    cls = get_method(name).cls
    _check_grid_keys(chk, name, grid, set(cls().get_params(deep=False)), where)
    _check_grid_values(chk, cls, grid, where)


def _check_grid_keys(chk: _Checker, name: str, grid: dict, valid: set, where: str) -> None:
    """Every grid key is a parameter of the method (else a "did you mean" error)."""
    for param in grid:
        if param not in valid:
            raise chk.fail(
                where,
                f"{name} has no parameter {param!r}.{suggest(param, valid)} "
                f"Parameters: {', '.join(sorted(valid))}.",
                param,
            )


# ------------------------------------------------------------- parameter values
def _key(name: str) -> tuple[str, ...]:
    """Tokens that locate ``name = ...`` in the text (the assignment first)."""
    return f"{name} =", f"{name}=", name


def _admits_bool(constraints) -> bool:
    """Whether scikit-learn constraints mean to accept true / false.

    scikit-learn's ``Interval(Real, ...)`` and ``Integral`` accept booleans (``True`` is
    the integer 1), so ``C = true`` or ``reg = [false]`` would pass its validation and
    be read as 1 / 0; a TOML boolean is only taken where a boolean is meant.
    """
    from sklearn.utils._param_validation import Options

    if isinstance(constraints, str):  # "no_validation"
        return True
    for c in constraints:
        if c in ("boolean", "verbose") or c is bool or c is object:
            return True
        if isinstance(c, Options) and any(isinstance(o, bool) for o in c.options):
            return True
    return False


def _constraint_error(cls: type, param: str, value) -> str | None:
    """scikit-learn's message for an invalid ``value`` of ``param``, or None if valid."""
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        validate_parameter_constraints,
    )

    constraints = getattr(cls, "_parameter_constraints", {}).get(param, "no_validation")
    probe = value
    if isinstance(value, bool) and not _admits_bool(constraints):
        probe = _NO_VALUE  # satisfies no constraint: gives the "must be ..." text
    try:
        validate_parameter_constraints({param: constraints}, {param: probe},
                                       caller_name=cls.__name__)
    except InvalidParameterError as exc:
        text = str(exc)
        cut = text.rfind(" Got ")
        return f"{text[:cut] if cut > 0 else text} Got {value!r} instead."
    return None


class _NoValue:
    def __repr__(self) -> str:  # pragma: no cover - replaced in the message
        return "<no value>"


_NO_VALUE = _NoValue()


def _check_grid_values(chk: _Checker, cls: type, grid: dict, where: str) -> None:
    """Every grid value passes the method's parameter constraints.

    Each candidate of the grid is the method with one value per parameter; scikit-learn
    validates each parameter on its own, so checking every value once checks every
    candidate, at a cost linear in the grid's size instead of its product.
    """
    for param, values in grid.items():
        for value in values:
            message = _constraint_error(cls, param, value)
            if message is not None:
                raise chk.fail(where, f"{param}: {value!r} is not valid: {message}", *_key(param))


def _check_estimator_params(chk: _Checker, estimator, where: str) -> None:
    """The built estimator's parameters pass scikit-learn's own validation."""
    cls = type(estimator)
    if not hasattr(cls, "_parameter_constraints"):  # pragma: no cover - all listed have it
        return
    for param, value in estimator.get_params(deep=False).items():
        message = _constraint_error(cls, param, value)
        if message is not None:
            raise chk.fail(where, f"params.{param}: {value!r} is not valid: {message}",
                           *_key(param), "params")


def _deep_value_error(param: str, default, value) -> str | None:
    """What a deep method's own parameter must be, when ``value`` is not of its type.

    The deep estimators declare no scikit-learn constraints; the type of a parameter is
    that of its default, and the ranges are left to the method's own checks.
    """
    if value is None and default is None:
        return None
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, expected = _is_int(value), "an integer"
    elif isinstance(default, float):
        ok, expected = _is_number(value), "a number"
    elif isinstance(default, str):
        # A name, or (EntropyKLPrior's class_prior) a list of proportions.
        ok = isinstance(value, str) or (
            isinstance(value, list) and all(_is_number(v) for v in value))
        expected = "a string"
    elif isinstance(default, tuple):
        ok, expected = _positive_ints(value), "a list of positive integers"
    elif param.endswith("_model"):
        ok = False
        expected = "a deep estimator object, which a definition cannot give (leave it out)"
    else:
        return None  # no default to read a type from: the method's own checks decide
    return None if ok else expected


def _check_deep_grid_values(chk: _Checker, spec, grid: dict, where: str) -> None:
    """A deep method's grid values: training parameters as in a ``training`` table,
    its own parameters by type, then by the method's own checks (run at fit)."""
    training_keys = _training_keys()
    defaults = spec.cls().get_params(deep=False)
    for param, values in grid.items():
        for value in values:
            if param in training_keys:
                _check_training_values(chk, {param: value}, where, training_keys)
                continue
            expected = _deep_value_error(param, defaults.get(param), value)
            if expected is not None:
                raise chk.fail(where, f"{param}: {value!r} is not valid: {spec.name}'s "
                               f"{param!r} must be {expected}.", *_key(param))
            try:
                spec.cls(**{param: value})._check_method_params()
            except (TypeError, ValueError) as exc:
                raise chk.fail(where, f"{param}: {value!r} is not valid: {exc}",
                               *_key(param)) from exc


# ------------------------------------------------------------------ value types
def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    """A finite int or float (TOML also has inf and nan, which no setting takes)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _shown(value) -> str:
    """A value with its TOML type, for "got ..." messages."""
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "an array", dict: "a table"}
    kind = kinds.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})"


def _require(chk: _Checker, ok: bool, where: str, key: str, expected: str, value) -> None:
    if not ok:
        raise chk.fail(where, f"{key} must be {expected}, got {_shown(value)}.", *_key(key))


#: What a benchmark name may hold: it names a folder (``shiftlab-runs/NAME``).
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_NAME_RULE = ("letters, digits, '-', '_' and '.' (not first), at most 128 characters, "
              "e.g. \"my-bench_2\"")


def _check_name(chk: _Checker, bench: dict) -> str:
    """The benchmark's name, safe as a folder name (never a path)."""
    if bench.get("name") is not None:
        name = bench["name"]
        _require(chk, isinstance(name, str), "benchmark", "name", "a string", name)
        origin = "name"
    else:
        stem = Path(chk.source).stem
        name = stem[len("preset:"):] if stem.startswith("preset:") else stem
        origin = f"the name (none given: the file's name, {name!r})"
    if not _NAME_PATTERN.fullmatch(name):
        if not name:
            why = "it is empty"
        elif "\0" in name:
            why = "it holds a NUL character"
        elif "/" in name or "\\" in name:
            why = "it holds a path separator ('/' or '\\')"
        elif name.startswith("."):
            why = "it starts with '.' (a hidden folder, or '..' the parent one)"
        else:
            bad = sorted({c for c in name if not re.fullmatch(r"[A-Za-z0-9._-]", c)})
            why = (f"it holds {', '.join(map(repr, bad))}" if bad
                   else "it is longer than 128 characters")
        fix = "" if origin == "name" else " Set [benchmark] name = \"...\"."
        raise chk.fail("benchmark", f"{origin} {name!r} names the run folder "
                       f"(shiftlab-runs/NAME) and cannot be used: {why}. Use {_NAME_RULE}."
                       f"{fix}", *_key("name"))
    return name


def _check_protocol(chk: _Checker, raw: dict) -> ProtocolSpec:
    where = "protocol"
    raw = {k: v for k, v in raw.items() if v is not None}  # None: left out (dict definitions)
    chk.only_keys(raw, set(ProtocolSpec.__dataclass_fields__), where)
    for key in ("outer_splits", "inner_splits"):
        if key in raw:
            v = raw[key]
            _require(chk, _is_int(v) and v >= 1, where, key, "a positive integer", v)
    for key in ("outer_test_size", "inner_val_size"):
        if key in raw:
            v = raw[key]
            _require(chk, _is_number(v) and 0 < v < 1, where, key, "a fraction in (0, 1)", v)
    if "seed" in raw:
        v = raw["seed"]
        # It seeds numpy's generators, which take 0 .. 2**32 - 1.
        _require(chk, _is_int(v) and 0 <= v < 2**32, where, "seed",
                 "an integer in [0, 2**32 - 1]", v)
    if "refit_candidates" in raw:
        v = raw["refit_candidates"]
        _require(chk, isinstance(v, str) and v in ("all", "selected"), where,
                 "refit_candidates", '"all" or "selected"', v)
    return ProtocolSpec(**raw)


def _check_tasks(chk: _Checker, tasks, where: str) -> tuple[str, ...] | None:
    """``tasks``: a list of ``"SRC->TGT"`` (``"S1+S2->TGT"``) strings, as Task.parse reads."""
    from shiftlab.data.dataset import Task
    from shiftlab.exceptions import DataValidationError as _TaskError

    if tasks is None:
        return None
    form = 'a list of "SOURCE->TARGET" strings, e.g. ["a->b", "b->a"] (several sources: "a+c->b")'
    _require(chk, isinstance(tasks, list), where, "tasks", form, tasks)
    for text in tasks:
        _require(chk, isinstance(text, str), where, "tasks", form, text)
        try:
            task = Task.parse(text)
        except _TaskError as exc:
            raise chk.fail(where, f"tasks: {text!r} is not a task: {exc}", text, "tasks") from exc
        if not task.target or not all(task.sources):
            raise chk.fail(where, f"tasks: {text!r} names an empty domain; write it as "
                           "\"source->target\".", text, "tasks")
    return tuple(tasks) if tasks else None


#: Keys of a ``[[datasets]]`` entry that reads a user's table.
TABLE_KEYS = {"file", "domain", "label", "features", "categorical"}
PREPROCESSING_KEYS = {"impute", "encode", "scale"}


def _check_preprocessing(chk: _Checker, raw: Any, where: str) -> dict:
    from shiftlab.methods.preprocessing import ENCODINGS, IMPUTE_STRATEGIES

    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise chk.fail(where, "preprocessing must be a table, e.g. preprocessing = { impute = "
                       '"median", encode = "onehot", scale = true }.', "preprocessing")
    chk.only_keys(raw, PREPROCESSING_KEYS, f"{where}.preprocessing")
    if "impute" in raw:
        _require(chk, raw["impute"] in IMPUTE_STRATEGIES, where, "impute",
                 f"one of {', '.join(map(repr, IMPUTE_STRATEGIES))}", raw["impute"])
    if "encode" in raw:
        _require(chk, raw["encode"] in ENCODINGS, where, "encode",
                 f"one of {', '.join(map(repr, ENCODINGS))}", raw["encode"])
    if "scale" in raw:
        _require(chk, isinstance(raw["scale"], bool), where, "scale", "true or false",
                 raw["scale"])
    return dict(raw)


def _table_path(chk: _Checker, file: str) -> Path:
    """A table's path: relative paths are read from the definition file's folder."""
    path = Path(file).expanduser()
    if not path.is_absolute():
        base = Path(chk.source)
        base = base.parent if base.is_file() else Path.cwd()
        path = base / path
    return path.resolve()


def _columns(chk: _Checker, entry: dict, where: str) -> dict:
    columns = {}
    for key in ("domain", "label"):
        if entry.get(key) is not None:
            _require(chk, isinstance(entry[key], str), where, key, "a column name (a string)",
                     entry[key])
            columns[key] = entry[key]
    for key in ("features", "categorical"):
        if entry.get(key) is not None:
            value = entry[key]
            _require(chk, isinstance(value, list) and all(isinstance(v, str) for v in value),
                     where, key, "a list of column names", value)
            columns[key] = list(value)
    return columns


def _read_table_entry(chk: _Checker, entry: dict, where: str, known_ds: list[str]):
    """A ``file = ...`` entry: read and check the table now, before any job runs.

    Returns the dataset's name, the file's path and sha256, its columns and the parsed
    dataset (rows without a label left out: ``shiftlab run`` measures target accuracy).
    """
    import warnings

    import numpy as np

    from shiftlab.data.dataset import DomainDataset
    from shiftlab.data.tables import read_table
    from shiftlab.exceptions import DataValidationError

    file = entry["file"]
    _require(chk, isinstance(file, str) and bool(file), where, "file",
             "the path of a .csv, .parquet or .npz table", file)
    path = _table_path(chk, file)
    dname = entry.get("name") or path.stem
    _require(chk, isinstance(dname, str), where, "name", "a dataset name (a string)", dname)
    if dname in known_ds:
        raise chk.fail(where, f"name {dname!r} is a catalog or generated dataset's name; "
                       "give your table another name (name = \"...\").", "name", "file")
    if not path.is_file():
        raise chk.fail(where, f"file: no table at {path}. Relative paths are read from the "
                       "definition file's folder.", "file")
    columns = _columns(chk, entry, where)
    try:
        ds = read_table(path, name=dname, **columns)
    except DataValidationError as exc:
        raise chk.fail(where, f"file {file!r}: {exc}", "file") from exc
    if ds.label_kind == "classification":
        labelled = {d: y != -1 for d, (_, y) in ds.domains.items()}
    else:
        labelled = {d: ~np.isnan(y) for d, (_, y) in ds.domains.items()}
    dropped = {d: int((~keep).sum()) for d, keep in labelled.items() if (~keep).any()}
    if dropped and not chk.keep_unlabelled:
        empty = [d for d, keep in labelled.items() if not keep.any()]
        if empty:
            raise chk.fail(where, f"file {file!r}: domain(s) {empty} have no labelled row; "
                           "`shiftlab run` measures accuracy on target labels. Leave them out "
                           "(tasks = [...]) or label some rows; to choose a model for an "
                           "unlabelled domain, use `shiftlab select`.", "file")
        warnings.warn(f"{path.name}: rows without a label are left out of the benchmark "
                      f"(`shiftlab run` scores on labels): {dropped}.", UserWarning,
                      stacklevel=2)
        ds = DomainDataset({d: (X[labelled[d]], y[labelled[d]]) for d, (X, y) in
                            ds.domains.items()}, name=ds.name, feature_names=ds.feature_names,
                           target_names=ds.target_names,
                           metadata={**ds.metadata, "unlabelled_rows_left_out": dropped},
                           allow_missing=True)
    return dname, path, ds, columns


def _check_table_needs(chk: _Checker, ds, preprocessing: dict, where: str) -> None:
    """A table with missing values needs ``impute`` (one-hot encoding alone gives a
    missing category its own column); categorical columns need ``encode``."""
    import numpy as np

    cats = ds.metadata.get("categorical_columns") or []
    missing_in = {ds.feature_names[j] for X, _ in ds.domains.values()
                  for j in np.flatnonzero(np.isnan(X).any(axis=0))}
    if preprocessing.get("encode") == "onehot":
        missing_in -= set(cats)
    if missing_in and "impute" not in preprocessing:
        raise chk.fail(where, f"the table has missing values in {sorted(missing_in)}; declare "
                       "how to fill them, e.g. preprocessing = { impute = \"median\" } (fitted "
                       "on each training part, without target labels).", "file")
    if cats and "encode" not in preprocessing:
        raise chk.fail(where, f"the table has categorical columns {cats}; declare how to "
                       "encode them: preprocessing = { encode = \"onehot\" } (or "
                       "\"ordinal\": the category codes as numbers).", "file")


def _check_dataset(chk: _Checker, entry: Any, i: int, known_ds: list[str]) -> DatasetSpec:
    where = f"datasets #{i + 1}"
    if not isinstance(entry, dict) or ("name" not in entry and "file" not in entry):
        raise chk.fail(where, "each [[datasets]] entry needs a name (or the file of your "
                       "own table).", "[[datasets]]")
    common = {"name", "tasks", "options", "max_samples_per_domain", "estimator", "training",
              "preprocessing"}
    chk.only_keys(entry, common | (TABLE_KEYS if "file" in entry else set()), where)
    preprocessing = _check_preprocessing(chk, entry.get("preprocessing"), where)
    table = {}
    if "file" in entry:
        if entry.get("options"):
            raise chk.fail(where, "options are for catalog and generated datasets; a table "
                           "is read with domain, label, features and categorical.", "options")
        dname, path, ds, columns = _read_table_entry(chk, entry, where, known_ds)
        _check_table_needs(chk, ds, preprocessing, where)
        table = {"file": str(path), "file_sha256": ds.metadata["sha256"],
                 "columns": columns, "table": ds.to_bytes()}
        known_ds = [*known_ds, dname]
        entry = {**entry, "name": dname}
    dname = entry["name"]
    _require(chk, isinstance(dname, str), where, "name", "a dataset name (a string)", dname)
    if dname not in known_ds:
        raise chk.fail(
            where,
            f"unknown dataset {dname!r}.{suggest(dname, known_ds)} "
            "Run `shiftlab list datasets` to see them.",
            dname,
        )
    tasks = _check_tasks(chk, entry.get("tasks"), where)
    options = entry.get("options")
    options = {} if options is None else options
    _require(chk, isinstance(options, dict), where, "options",
             "a table {option = value}", options)
    cap = entry.get("max_samples_per_domain")
    if cap is not None:
        _require(chk, _is_int(cap) and cap >= 1, where, "max_samples_per_domain",
                 "a positive integer (leave it out for every sample)", cap)
    ds_estimator = None
    if entry.get("estimator") is not None:
        ds_estimator = _check_estimator(chk, entry["estimator"], f"{where}.estimator")
    training = {}
    if entry.get("training") is not None:  # None: left out (dict definitions)
        training = _check_training(chk, entry["training"], f"{where}.training")
    return DatasetSpec(
        name=dname,
        tasks=tasks,
        options=dict(options),
        max_samples_per_domain=cap,
        estimator=ds_estimator,
        training=training,
        preprocessing=preprocessing,
        **table,
    )


def _check_estimator(chk: _Checker, raw: Any, where: str) -> EstimatorSpec:
    if not isinstance(raw, dict):
        raise chk.fail(where, "the estimator must be a table {name = ..., params = {...}}.")
    chk.only_keys(raw, {"name", "params", "standardize"}, where)
    name = raw.get("name", "LogisticRegression")
    _require(chk, isinstance(name, str), where, "name", "an estimator name (a string)", name)
    if name not in ESTIMATORS:
        raise chk.fail(
            where,
            f"unknown estimator {name!r}.{suggest(name, ESTIMATORS)} "
            f"Known: {', '.join(ESTIMATORS)}.",
            name,
        )
    params = raw.get("params")
    params = {} if params is None else params
    _require(chk, isinstance(params, dict), where, "params", "a table {param = value}", params)
    standardize = raw.get("standardize")
    standardize = True if standardize is None else standardize
    _require(chk, isinstance(standardize, bool), where, "standardize", "true or false",
             standardize)
    spec = EstimatorSpec(name, dict(params), standardize)
    try:
        estimator = spec.build()
    except TypeError as exc:
        raise chk.fail(where, f"bad params for {name}: {exc}", "params") from exc
    _check_estimator_params(chk, estimator, where)
    return spec


def _check_selection_metric(chk: _Checker, raw: dict) -> str:
    """``[scorers] metric``: one of :data:`shiftlab.selection.metrics.SELECTION_METRICS`
    (default "accuracy")."""
    from shiftlab.selection.metrics import SELECTION_METRICS

    metric = raw.get("metric")
    if metric is None:  # left out (or None in dict definitions)
        return "accuracy"
    if not isinstance(metric, str) or metric not in SELECTION_METRICS:
        raise chk.fail(
            "scorers",
            f"metric must be one of {', '.join(map(repr, SELECTION_METRICS))}, got "
            f"{_shown(metric)}.{suggest(str(metric), SELECTION_METRICS)}",
            *_key("metric"),
        )
    return metric


#: Selectors that only make sense across methods (they compare with source-only).
POOL_ONLY_SCORERS = ("safe",)


def _check_pool(chk: _Checker, raw: dict, names: tuple[str, ...]) -> tuple[str, ...]:
    """``[scorers] pool``: realistic scorers or selectors applied across methods."""
    pool = raw.get("pool")
    if pool is None:
        return ()
    _require(chk, isinstance(pool, list) and bool(pool), "scorers", "pool",
             'a non-empty list of selectors, e.g. ["EnsV", "zconsensus", "safe", "IWA"]',
             pool)
    from shiftlab.selection import get_scorer

    known_sc = _known_scorers()
    for s in pool:
        if not isinstance(s, str) or s not in known_sc:
            raise chk.fail("scorers", f"pool: unknown selector {s!r}."
                           f"{suggest(str(s), known_sc)} Known: {', '.join(known_sc)}.",
                           *_key("pool"))
        if get_scorer(s).uses_target_labels:
            raise chk.fail("scorers", "pool: the oracle is not a realistic selector; it is "
                           "reported across methods anyway when `names` has it.",
                           *_key("pool"))
    if len(set(pool)) != len(pool):
        raise chk.fail("scorers", f"pool: {pool} names a selector twice.", *_key("pool"))
    return tuple(pool)


def _check_scorers(chk: _Checker, raw: dict) -> tuple[str, ...]:
    chk.only_keys(raw, {"names", "metric", "pool"}, "scorers")
    known_sc = _known_scorers()
    names = raw.get("names")
    if names is None:
        return tuple(s for s in known_sc if s not in POOL_ONLY_SCORERS)
    _require(chk, isinstance(names, list) and bool(names), "scorers", "names",
             'a non-empty list of scorer names, e.g. ["IW", "DEV", "oracle"]', names)
    for s in names:
        if not isinstance(s, str) or s not in known_sc:
            raise chk.fail(
                "scorers",
                f"unknown scorer {s!r}.{suggest(str(s), known_sc)} "
                f"Known: {', '.join(known_sc)}.",
                str(s),
            )
        if s in POOL_ONLY_SCORERS:
            raise chk.fail("scorers", f"{s!r} selects across methods (it compares with "
                           f"source-only): list it in `pool`, not in `names`.", str(s))
    return tuple(names)


def _check_tls_files(chk: _Checker, ex: dict, where: str) -> None:
    keys = ("dask_tls_ca_file", "dask_tls_cert_file", "dask_tls_key_file")
    for key in keys:
        value = ex.get(key)
        if value is None:
            continue
        _require(chk, isinstance(value, str) and bool(value), where, key,
                 "the path of a PEM file (a string)", value)
        if not Path(value).is_file():
            raise chk.fail(where, f"{key}: no file at {value!r} (relative paths are read "
                           f"from the current folder, {Path.cwd()}).", *_key(key))
    cert, key_file = ex.get("dask_tls_cert_file"), ex.get("dask_tls_key_file")
    if (cert is None) != (key_file is None):
        given, missing = (("dask_tls_cert_file", "dask_tls_key_file") if cert is not None
                          else ("dask_tls_key_file", "dask_tls_cert_file"))
        raise chk.fail(where, f"{given} is set but {missing} is not: a TLS client needs "
                       "both its certificate and its private key.", *_key(given))
    ca = ex.get("dask_tls_ca_file")
    if (ca is None) != (cert is None):
        given, missing = (("dask_tls_ca_file", "dask_tls_cert_file") if ca is not None
                          else ("dask_tls_cert_file", "dask_tls_ca_file"))
        # Dask sets up TLS only with both: either alone would silently connect in clear.
        raise chk.fail(where, f"{given} is set but {missing} is not: TLS to a Dask "
                       "cluster needs the cluster's CA certificate and this client's "
                       "certificate and key.", *_key(given))


def _check_execution(chk: _Checker, raw: dict) -> ExecutionSpec:
    """The ``[execution]`` table (or the settings given to ``with_execution``)."""
    where = "execution"
    raw = {k: v for k, v in raw.items() if v is not None}  # None: left out / default
    chk.only_keys(raw, set(ExecutionSpec.__dataclass_fields__), where)
    executor = raw.get("executor", "local")
    if not isinstance(executor, str) or executor not in EXECUTORS:
        raise chk.fail(
            where,
            f"unknown executor {executor!r}.{suggest(str(executor), EXECUTORS)} "
            f"Choose one of {', '.join(EXECUTORS)}.",
            *_key("executor"),
        )
    if "n_jobs" in raw:
        _require(chk, _is_int(raw["n_jobs"]), where, "n_jobs",
                 "an integer (negative: cores + 1 + n_jobs, e.g. -1 for all cores)",
                 raw["n_jobs"])
    if "timeout" in raw:
        v = raw["timeout"]
        _require(chk, _is_number(v) and v > 0, where, "timeout",
                 "a positive number of seconds (leave it out for no timeout)", v)
    if "dask_address" in raw:
        v = raw["dask_address"]
        _require(chk, isinstance(v, str) and bool(v.strip()), where, "dask_address",
                 'a scheduler address (a string), e.g. "tcp://host:8786"', v)
    if "dask_workers" in raw:
        v = raw["dask_workers"]
        _require(chk, _is_int(v) and v >= 1, where, "dask_workers", "a positive integer", v)
    if "dask_no_worker_timeout" in raw:
        v = raw["dask_no_worker_timeout"]
        _require(chk, _is_number(v) and v > 0, where, "dask_no_worker_timeout",
                 "a positive number of seconds", v)
        raw["dask_no_worker_timeout"] = float(v)
    device = raw.get("device", "auto")
    if not isinstance(device, str) or device not in DEVICES:
        raise chk.fail(where, f"unknown device {device!r}.{suggest(str(device), DEVICES)} "
                       f"Choose one of {', '.join(DEVICES)}.", *_key("device"))
    _check_tls_files(chk, raw, where)
    return ExecutionSpec(**raw)


def load_definition(path_or_preset: str | Path, *,
                    keep_unlabelled: bool = False) -> BenchmarkDefinition:
    """Read and validate a benchmark definition (a ``.toml`` path or a preset name).

    ``keep_unlabelled``: keep the rows of a table (``file = ...``) that have no label,
    as ``shiftlab select`` does (they are unlabelled target rows to adapt to); a run
    leaves them out, since it scores on target labels.
    """
    text, source = _read(path_or_preset)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{source}: not valid TOML: {exc}") from exc
    chk = _Checker(text, source)
    chk.keep_unlabelled = keep_unlabelled
    return _parse(data, chk)


def definition_from_dict(data: dict, source: str = "<dict>") -> BenchmarkDefinition:
    """Validate a definition given as a dict in the TOML layout.

    For example :func:`shiftlab.deep.deep_preset`'s dict; ``None`` values stand for
    keys left out (TOML has no null).
    """
    import copy

    return _parse(copy.deepcopy(data), _Checker("", source))


def _parse(data: dict, chk: _Checker) -> BenchmarkDefinition:
    chk.only_keys(
        data,
        {"benchmark", "protocol", "datasets", "estimator", "methods", "scorers", "execution"},
        "top level",
    )
    bench = chk.table(data, "benchmark", "benchmark")
    chk.only_keys(bench, {"name", "description"}, "benchmark")
    name = _check_name(chk, bench)
    description = bench.get("description")
    description = "" if description is None else description
    _require(chk, isinstance(description, str), "benchmark", "description", "a string",
             description)

    protocol = _check_protocol(chk, chk.table(data, "protocol", "protocol"))

    raw_datasets = data.get("datasets")
    if not isinstance(raw_datasets, list) or not raw_datasets:
        raise chk.fail("datasets", "give at least one [[datasets]] entry with a name.")
    known_ds = _known_datasets()
    datasets = [_check_dataset(chk, entry, i, known_ds) for i, entry in enumerate(raw_datasets)]

    estimator = _check_estimator(chk, chk.table(data, "estimator", "estimator"), "estimator")

    # methods
    methods_raw = chk.table(data, "methods", "methods")
    if not methods_raw:
        raise chk.fail("methods", "give at least one [methods.NAME] table.")
    known_methods = [*BASELINES, *_known_methods()]
    methods = []
    for mname, body in methods_raw.items():
        where = f"methods.{mname}"
        if body is None:  # dict definitions: no settings
            body = {}
        if not isinstance(body, dict):
            raise chk.fail(where, f"methods.{mname} must be a table ([methods.{mname}], "
                           f"with an optional grid), got {_shown(body)}.",
                           f"[methods.{mname}]", mname)
        # Deep: a `class` key, or a name only the deep registry has (names in both,
        # i.e. SourceOnly, stay shallow without `class`, as before deep methods came).
        if "class" in body or mname not in known_methods:
            deep_names = _known_deep_methods()
            if "class" in body and mname not in deep_names and mname in known_methods:
                raise chk.fail(where, f"{mname} is a shallow method: `class` is for deep "
                               "methods only (shiftlab.deep.NAME); remove it.", "class")
            if "class" in body or mname in deep_names:
                methods.append(_check_deep_method(chk, mname, body, where))
                continue
            names = known_methods + deep_names
            hint = "" if deep_names else " (deep methods need torch, which is not installed)"
            raise chk.fail(
                where,
                f"unknown method {mname!r}.{suggest(mname, names)} "
                f"Run `shiftlab list methods` to see them{hint}.",
                f"[methods.{mname}]", f'"{mname}"', mname,
            )
        chk.only_keys(body, {"grid"}, where)
        grid = _check_grid(chk, body.get("grid", {}), where, mname)
        _check_method_params(chk, mname, grid, where)
        methods.append(MethodEntry(mname, grid))

    scorers_raw = chk.table(data, "scorers", "scorers")
    scorer_names = _check_scorers(chk, scorers_raw)
    selection_metric = _check_selection_metric(chk, scorers_raw)
    pool = _check_pool(chk, scorers_raw, scorer_names)
    if pool and protocol.refit_candidates != "all":
        # A pool is built from stored records and refits nothing: a selector's choice
        # (or an ensemble's members) must already have been refitted by its method's job.
        raise chk.fail("scorers", "pool needs [protocol] refit_candidates = \"all\" (a "
                       "pool's choice can be any candidate of any method, and pools refit "
                       "nothing); set it, or drop `pool`.", *_key("pool"))
    execution = _check_execution(chk, chk.table(data, "execution", "execution"))

    return BenchmarkDefinition(
        name=name,
        description=description,
        datasets=tuple(datasets),
        methods=tuple(methods),
        scorers=scorer_names,
        estimator=estimator,
        protocol=protocol,
        execution=execution,
        source=chk.source,
        selection_metric=selection_metric,
        pool=pool,
    )
