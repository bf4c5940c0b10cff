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
    "list_presets",
    "load_definition",
]

#: Baseline "methods" handled by the runner itself (no adaptation).
BASELINES = ("Train Src", "Train Tgt")
EXECUTORS = ("inprocess", "local", "dask")
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
    """A method and the grid of its own hyperparameters."""

    name: str
    grid: dict[str, list[Any]] = field(default_factory=dict)


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
        return d

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

    def line_of(self, *tokens: str) -> int | None:
        for token in tokens:
            if not token:
                continue
            pattern = re.compile(re.escape(token))
            for i, line in enumerate(self.text.splitlines(), start=1):
                if pattern.search(line.split("#", 1)[0]):
                    return i
        return None

    def fail(self, where: str, message: str, *tokens: str) -> DefinitionError:
        line = self.line_of(*tokens)
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

    spec = get_method(name)
    valid = set(spec.cls().get_params(deep=False))
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
    chk = _Checker(text, source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{source}: not valid TOML: {exc}") from exc
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
            entry, {"name", "tasks", "options", "max_samples_per_domain", "estimator"}, where
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
        datasets.append(
            DatasetSpec(
                name=dname,
                tasks=tuple(tasks) if tasks else None,
                options=dict(entry.get("options", {})),
                max_samples_per_domain=entry.get("max_samples_per_domain"),
                estimator=ds_estimator,
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
        if mname not in known_methods:
            raise chk.fail(
                where,
                f"unknown method {mname!r}.{suggest(mname, known_methods)} "
                "Run `shiftlab list methods` to see them.",
                f"[methods.{mname}]", f'"{mname}"', mname,
            )
        body = body if isinstance(body, dict) else {}
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
