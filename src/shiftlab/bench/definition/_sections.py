"""Checks of the other tables of a definition: benchmark name, protocol, datasets (and
tables read from files), estimator, scorers and execution."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shiftlab.bench.definition._checker import (
    _Checker,
    _is_int,
    _is_number,
    _key,
    _require,
    _shown,
)
from shiftlab.bench.definition._params import (
    _check_estimator_params,
    _check_training,
    _known_scorers,
)
from shiftlab.bench.definition._spec import (
    AUTO_ESTIMATOR,
    DEVICES,
    ESTIMATORS,
    EXECUTORS,
    DatasetSpec,
    EstimatorSpec,
    ExecutionSpec,
    ProtocolSpec,
)
from shiftlab.exceptions import suggest

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

    from shiftlab.data.convention import is_masked
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
    labelled = {d: ~is_masked(y, ds.label_kind) for d, (_, y) in ds.domains.items()}
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
    if name == AUTO_ESTIMATOR:  # chosen per task on source data (bench.base_estimator)
        if raw.get("params"):
            raise chk.fail(where, 'estimator "auto" takes no params: the first stage '
                           "chooses them (see shiftlab.bench.base_estimator).", "params")
        standardize = raw.get("standardize")
        standardize = True if standardize is None else standardize
        _require(chk, isinstance(standardize, bool), where, "standardize", "true or false",
                 standardize)
        return EstimatorSpec(AUTO_ESTIMATOR, {}, standardize)
    if name not in ESTIMATORS:
        raise chk.fail(
            where,
            f"unknown estimator {name!r}.{suggest(name, ESTIMATORS)} "
            f"Known: {', '.join(ESTIMATORS)}, or \"auto\" (chosen on source data).",
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
