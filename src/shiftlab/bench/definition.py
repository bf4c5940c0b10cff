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

Every error names the file, the line (when it can be found) and the offending key, and
suggests the nearest valid name.
"""

from __future__ import annotations

import hashlib
import json
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

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        # Fields added for deep methods are left out at their defaults, so a definition
        # without deep parts has the same dict (and digest, and job keys) as before.
        for method in d["methods"]:
            if not method["deep"]:
                for key in ("deep", "setting", "sgd_training"):
                    method.pop(key)
        for dataset in d["datasets"]:
            if not dataset["training"]:
                dataset.pop("training")
        if d["execution"]["device"] == "auto":
            d["execution"].pop("device")
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
        """A copy with some execution settings replaced (CLI overrides)."""
        from dataclasses import replace

        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(self, execution=replace(self.execution, **changes))


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

    def line_of(self, *tokens: str, start: int = 0) -> int | None:
        """First line holding a token, searched from line ``start`` (0-based) first."""
        lines = self.text.splitlines()
        for first in dict.fromkeys((start, 0)):
            for token in tokens:
                if not token:
                    continue
                pattern = re.compile(re.escape(token))
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
    """Grid keys must be parameters of the method's estimator."""
    if name in BASELINES:
        if grid:
            raise chk.fail(where, f"{name} is a baseline and takes no grid.", name)
        return
    from shiftlab.methods.registry import get_method

    _check_grid_keys(chk, name, grid, set(get_method(name).cls().get_params(deep=False)), where)


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


def _check_estimator(chk: _Checker, raw: Any, where: str) -> EstimatorSpec:
    if not isinstance(raw, dict):
        raise chk.fail(where, "the estimator must be a table {name = ..., params = {...}}.")
    chk.only_keys(raw, {"name", "params", "standardize"}, where)
    name = raw.get("name", "LogisticRegression")
    if name not in ESTIMATORS:
        raise chk.fail(
            where,
            f"unknown estimator {name!r}.{suggest(name, ESTIMATORS)} "
            f"Known: {', '.join(ESTIMATORS)}.",
            name,
        )
    spec = EstimatorSpec(name, dict(raw.get("params", {})), bool(raw.get("standardize", True)))
    try:
        spec.build()
    except TypeError as exc:
        raise chk.fail(where, f"bad params for {name}: {exc}", "params") from exc
    return spec


def load_definition(path_or_preset: str | Path) -> BenchmarkDefinition:
    """Read and validate a benchmark definition (a ``.toml`` path or a preset name)."""
    text, source = _read(path_or_preset)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{source}: not valid TOML: {exc}") from exc
    return _parse(data, _Checker(text, source))


def definition_from_dict(data: dict, source: str = "<dict>") -> BenchmarkDefinition:
    """Validate a definition given as a dict in the TOML layout.

    For example :func:`shiftlab.deep.deep_preset`'s dict; ``None`` values stand for
    keys left out (TOML has no null).
    """
    import copy

    return _parse(copy.deepcopy(data), _Checker("", source))


def _parse(data: dict, chk: _Checker) -> BenchmarkDefinition:
    source = chk.source
    chk.only_keys(
        data,
        {"benchmark", "protocol", "datasets", "estimator", "methods", "scorers", "execution"},
        "top level",
    )
    bench = chk.table(data, "benchmark", "benchmark")
    chk.only_keys(bench, {"name", "description"}, "benchmark")
    name = str(bench.get("name") or Path(source).stem.replace("preset:", ""))

    # protocol
    proto_raw = chk.table(data, "protocol", "protocol")
    chk.only_keys(proto_raw, set(ProtocolSpec.__dataclass_fields__), "protocol")
    for key in ("outer_splits", "inner_splits"):
        v = proto_raw.get(key, 1)
        if not isinstance(v, int) or v < 1:
            raise chk.fail("protocol", f"{key} must be a positive integer, got {v!r}.", key)
    for key in ("outer_test_size", "inner_val_size"):
        v = proto_raw.get(key, 0.2)
        if not isinstance(v, int | float) or not 0 < v < 1:
            raise chk.fail("protocol", f"{key} must be a fraction in (0, 1), got {v!r}.", key)
    if proto_raw.get("refit_candidates", "all") not in ("all", "selected"):
        raise chk.fail("protocol", "refit_candidates must be \"all\" or \"selected\".",
                       "refit_candidates")
    protocol = ProtocolSpec(**proto_raw)

    # datasets
    raw_datasets = data.get("datasets")
    if not isinstance(raw_datasets, list) or not raw_datasets:
        raise chk.fail("datasets", "give at least one [[datasets]] entry with a name.")
    known_ds = _known_datasets()
    datasets = []
    for i, entry in enumerate(raw_datasets):
        where = f"datasets #{i + 1}"
        if not isinstance(entry, dict) or "name" not in entry:
            raise chk.fail(where, "each [[datasets]] entry needs a name.", "[[datasets]]")
        chk.only_keys(
            entry,
            {"name", "tasks", "options", "max_samples_per_domain", "estimator", "training"},
            where,
        )
        dname = entry["name"]
        if dname not in known_ds:
            raise chk.fail(
                where,
                f"unknown dataset {dname!r}.{suggest(dname, known_ds)} "
                "Run `shiftlab list datasets` to see them.",
                dname,
            )
        tasks = entry.get("tasks")
        if tasks is not None and (
            not isinstance(tasks, list) or not all(isinstance(t, str) and "->" in t for t in tasks)
        ):
            raise chk.fail(where, "tasks must be a list like [\"a->b\", \"b->a\"].", "tasks")
        ds_estimator = None
        if "estimator" in entry:
            ds_estimator = _check_estimator(chk, entry["estimator"], f"{where}.estimator")
        training = {}
        if entry.get("training") is not None:  # None: left out (dict definitions)
            training = _check_training(chk, entry["training"], f"{where}.training")
        datasets.append(
            DatasetSpec(
                name=dname,
                tasks=tuple(tasks) if tasks else None,
                options=dict(entry.get("options", {})),
                max_samples_per_domain=entry.get("max_samples_per_domain"),
                estimator=ds_estimator,
                training=training,
            )
        )

    estimator = _check_estimator(chk, chk.table(data, "estimator", "estimator"), "estimator")

    # methods
    methods_raw = chk.table(data, "methods", "methods")
    if not methods_raw:
        raise chk.fail("methods", "give at least one [methods.NAME] table.")
    known_methods = [*BASELINES, *_known_methods()]
    methods = []
    for mname, body in methods_raw.items():
        where = f"methods.{mname}"
        body = body if isinstance(body, dict) else {}
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

    # scorers
    sc_raw = chk.table(data, "scorers", "scorers")
    chk.only_keys(sc_raw, {"names"}, "scorers")
    known_sc = _known_scorers()
    scorer_names = sc_raw.get("names", known_sc)
    for s in scorer_names:
        if s not in known_sc:
            raise chk.fail(
                "scorers",
                f"unknown scorer {s!r}.{suggest(s, known_sc)} Known: {', '.join(known_sc)}.",
                s,
            )

    # execution
    ex_raw = chk.table(data, "execution", "execution")
    chk.only_keys(ex_raw, set(ExecutionSpec.__dataclass_fields__), "execution")
    executor = ex_raw.get("executor", "local")
    if executor not in EXECUTORS:
        raise chk.fail(
            "execution",
            f"unknown executor {executor!r}.{suggest(executor, EXECUTORS)} "
            f"Choose one of {', '.join(EXECUTORS)}.",
            executor,
        )
    timeout = ex_raw.get("timeout")
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise chk.fail("execution", f"timeout must be a positive number of seconds, got "
                       f"{timeout!r}.", "timeout")
    device = ex_raw.get("device", "auto")
    if device not in DEVICES:
        raise chk.fail("execution", f"unknown device {device!r}.{suggest(device, DEVICES)} "
                       f"Choose one of {', '.join(DEVICES)}.", "device")
    execution = ExecutionSpec(**ex_raw)

    return BenchmarkDefinition(
        name=name,
        description=str(bench.get("description", "")),
        datasets=tuple(datasets),
        methods=tuple(methods),
        scorers=tuple(scorer_names),
        estimator=estimator,
        protocol=protocol,
        execution=execution,
        source=source,
    )
