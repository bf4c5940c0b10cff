"""Entry points: read a definition (a file or a preset), validate it and build
the :class:`BenchmarkDefinition`."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from shiftlab.exceptions import suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from shiftlab.bench.definition._checker import (
    _Checker,
    _key,
    _require,
    _shown,
)
from shiftlab.bench.definition._params import (
    _check_deep_method,
    _check_grid,
    _check_method_cap,
    _check_method_params,
    _is_deep_key,
    _known_datasets,
    _known_deep_methods,
    _known_methods,
)
from shiftlab.bench.definition._sections import (
    _check_dataset,
    _check_estimator,
    _check_execution,
    _check_name,
    _check_pool,
    _check_protocol,
    _check_scorers,
    _check_selection_metric,
)
from shiftlab.bench.definition._spec import (
    BASELINES,
    BenchmarkDefinition,
    DefinitionError,
    MethodEntry,
)


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

    For example ``tomllib.loads`` of a definition file, edited; ``None`` values stand
    for keys left out (TOML has no null).
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
    # What a method's dataset_grids / dataset_estimators may name.
    dataset_names = list(dict.fromkeys([*(d.name for d in datasets), *known_ds]))
    methods = []
    for mname, body in methods_raw.items():
        where = f"methods.{mname}"
        if body is None:  # dict definitions: no settings
            body = {}
        if not isinstance(body, dict):
            raise chk.fail(where, f"methods.{mname} must be a table ([methods.{mname}], "
                           f"with an optional grid), got {_shown(body)}.",
                           f"[methods.{mname}]", mname)
        # Deep: a qualified name (deep:NAME), a `class` key, or a name only the deep
        # registry has (names in both, i.e. SourceOnly, stay shallow without a prefix or
        # `class`, as before deep methods came).
        if _is_deep_key(mname) or "class" in body or mname not in known_methods:
            deep_names = _known_deep_methods()
            if ("class" in body and not _is_deep_key(mname) and mname not in deep_names
                    and mname in known_methods):
                raise chk.fail(where, f"{mname} is a shallow method: `class` is for deep "
                               "methods only (shiftlab.deep.NAME); remove it.", "class")
            if _is_deep_key(mname) or "class" in body or mname in deep_names:
                entry = _check_deep_method(chk, mname, body, where)
                if any(m.deep and m.name == entry.name for m in methods):
                    raise chk.fail(where, f"the deep method {entry.name} is given twice "
                                   f"(as [methods.{entry.name}] and [methods.\"deep:"
                                   f"{entry.name}\"]); keep one.",
                                   f"[methods.{mname}]", f'"{mname}"', mname)
                methods.append(entry)
                continue
            names = known_methods + deep_names
            hint = "" if deep_names else " (deep methods need torch, which is not installed)"
            raise chk.fail(
                where,
                f"unknown method {mname!r}.{suggest(mname, names)} "
                f"Run `shiftlab list methods` to see them{hint}.",
                f"[methods.{mname}]", f'"{mname}"', mname,
            )
        chk.only_keys(body, {"grid", "max_samples_per_domain", "dataset_grids",
                             "dataset_estimators"}, where)
        grid = _checked_grid(chk, body.get("grid", {}), where, mname)
        dataset_grids = _check_per_dataset(
            chk, body, "dataset_grids", where, dataset_names,
            lambda grid, at, method=mname: _checked_grid(chk, grid, at, method))
        dataset_estimators = _check_per_dataset(
            chk, body, "dataset_estimators", where, dataset_names,
            lambda raw, at: _check_estimator(chk, raw, at))
        if dataset_estimators and mname in BASELINES:
            raise chk.fail(where, f"{mname} is a baseline: it runs with the dataset's "
                           "estimator; remove dataset_estimators.", "dataset_estimators")
        methods.append(MethodEntry(mname, grid,
                                   max_samples_per_domain=_check_method_cap(chk, body, where),
                                   dataset_grids=dataset_grids,
                                   dataset_estimators=dataset_estimators))

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


def _checked_grid(chk, grid, where: str, method: str) -> dict:
    """A method's grid, its keys and values checked against the method's parameters."""
    checked = _check_grid(chk, grid, where, method)
    _check_method_params(chk, method, checked, where)
    return checked


def _check_per_dataset(chk, body: dict, key: str, where: str, dataset_names, check) -> dict:
    """A method's per-dataset table ``key`` ({dataset name: value}): each value checked
    by ``check(value, where)``, each name a dataset of the definition or of the catalog
    (a definition cut down to fewer datasets keeps its per-dataset tables; a misspelt
    name is an error)."""
    raw = body.get(key, {})
    if not isinstance(raw, dict):
        raise chk.fail(where, f"{key} must be a table {{dataset = {{...}}}}.", key)
    out = {}
    for dataset, value in raw.items():
        if dataset not in dataset_names:
            raise chk.fail(
                where,
                f"{key} names {dataset!r}, which is no known dataset."
                f"{suggest(dataset, dataset_names)} Run `shiftlab datasets` to see them.",
                dataset, key)
        out[dataset] = check(value, f"{where}.{key}.{dataset}")
    return out
