"""Checks of the methods' tables: known method names, grids and their values against
each method's constraints, deep methods and their training settings."""

from __future__ import annotations

from typing import Any

from shiftlab.bench.definition._checker import (
    _Checker,
    _is_int,
    _is_number,
    _key,
    _require,
)
from shiftlab.bench.definition._spec import (
    BACKBONES,
    BASELINES,
    RUNNER_PARAMS,
    MethodEntry,
)
from shiftlab.exceptions import suggest
from shiftlab.methods.registry import DEEP_PREFIX


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


def _is_deep_key(key: str) -> bool:
    """Whether a ``[methods.KEY]`` key is a qualified deep name (``deep:NAME``)."""
    return key[: len(DEEP_PREFIX)].lower() == DEEP_PREFIX


def _deep_name(key: str) -> str:
    """``NAME`` of a ``deep:NAME`` key (a bare key unchanged)."""
    return key[len(DEEP_PREFIX):] if _is_deep_key(key) else key


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


def _check_deep_method(chk: _Checker, key: str, body: dict, where: str) -> MethodEntry:
    """A ``[methods.NAME]`` or ``[methods."deep:NAME"]`` table of a deep method: class,
    setting, grid, sgd_training. The entry is named ``NAME`` (without the prefix), so
    every form of a definition gives the same job keys."""
    name = _deep_name(key)
    registry = _deep_registry()
    if registry is None:
        raise chk.fail(where, _needs_torch(f"deep methods ({key})"), f"[methods.{key}]",
                       f'"{key}"', key)
    deep_names = _known_deep_methods()
    if name not in deep_names:
        raise chk.fail(
            where,
            f"unknown deep method {name!r}.{suggest(name, deep_names)} "
            f"Deep methods: {', '.join(deep_names)}.",
            f"[methods.{key}]", f'"{key}"', key,
        )
    spec = registry.get_deep_method(name)
    chk.only_keys(body, {"grid", "class", "setting", "sgd_training", "max_samples_per_domain"},
                  where)
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
    return MethodEntry(name, grid, deep=True, setting=spec.setting, sgd_training=sgd,
                       max_samples_per_domain=_check_method_cap(chk, body, where))


def _check_method_cap(chk: _Checker, body: dict, where: str) -> int | None:
    """A method's ``max_samples_per_domain``: a positive integer, or None (left out)."""
    cap = body.get("max_samples_per_domain")
    if cap is not None:
        _require(chk, _is_int(cap) and cap >= 1, where, "max_samples_per_domain",
                 "a positive integer: the most outer-train rows per domain the method is "
                 "fitted on (leave it out for every row)", cap)
    return cap


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
