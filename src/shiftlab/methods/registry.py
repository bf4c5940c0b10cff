"""Catalogue of the shallow methods: names, families, references, grids and a factory.

Each method module registers its methods with :func:`register_method` at import time.
The benchmark, the CLI and the docs read this catalogue instead of hard-coding names.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from shiftlab.exceptions import UnknownParameterError, suggest, unknown_name

__all__ = [
    "MethodSpec", "get_method", "list_methods", "make_da", "method_name_of", "register_method",
]

Family = Literal["baseline", "reweighting", "mapping", "subspace", "other", "label_shift"]

#: Prefix of the qualified names of the deep methods (``deep:SourceOnly``; see
#: :mod:`shiftlab.deep.registry`). Shallow and deep methods share one namespace: a
#: shallow name is bare and cannot take this prefix.
DEEP_PREFIX = "deep:"

# Modules that register methods when imported (one per family).
#: Modules whose import registers the shallow methods (imported on first registry use).
METHOD_MODULES = (
    "shiftlab.methods.baselines",
    "shiftlab.methods.reweight",
    "shiftlab.methods.label_shift",
    "shiftlab.methods.mapping",
    "shiftlab.methods.subspace",
    "shiftlab.methods.selflabel",
)


@dataclass(frozen=True)
class MethodSpec:
    """Description of one method.

    Attributes
    ----------
    name : str
        Short name used in benchmark files and reports (e.g. ``"CORAL"``).
    cls : type
        The adapter (:class:`~shiftlab.methods.base.BaseAdapter`) or DA estimator class.
    family : str
        ``"reweighting"``, ``"mapping"``, ``"subspace"``, ``"other"``, ...
    reference : str
        Paper reference (authors, title, venue, year).
    grid : dict
        Hyperparameter grid of the method's own parameters (SKADA-Bench's where it has
        one), as ``{param: [values]}``.
    designed_for : tuple of str
        Shift kinds the method is designed for (``"covariate"``, ``"target"``,
        ``"conditional"``, ``"subspace"``).
    complexity : str
        Time / memory complexity of the exact and the scalable form.
    needs_estimator : bool
        True for adapters (they need a final estimator), False for DA estimators.
    multiclass, regression : bool
        Whether the method handles multiclass labels / regression targets.
    skada_name : str or None
        Name of skada's counterpart (an attribute of the ``skada`` module), used by
        differential tests and ``benchmarks/bench_methods.py``.
    skada_params : dict
        Parameters that make skada's counterpart equivalent to shiftlab's defaults.
    """

    name: str
    cls: type
    family: str
    reference: str
    grid: dict[str, list[Any]] = field(default_factory=dict)
    designed_for: tuple[str, ...] = ()
    complexity: str = ""
    needs_estimator: bool = True
    multiclass: bool = True
    regression: bool = False
    skada_name: str | None = None
    skada_params: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, MethodSpec] = {}


def register_method(**spec_kwargs) -> Callable[[type], type]:
    """Class decorator that registers a method (see :class:`MethodSpec` for the fields)."""

    def deco(cls: type) -> type:
        spec = MethodSpec(cls=cls, **spec_kwargs)
        if spec.name[: len(DEEP_PREFIX)].lower() == DEEP_PREFIX:
            raise ValueError(f"{spec.name!r}: the {DEEP_PREFIX!r} prefix names deep methods.")
        _REGISTRY[spec.name] = spec
        return cls

    return deco


@functools.cache
def _load() -> None:
    """Import the modules whose decorators fill the registry (once)."""
    for module in METHOD_MODULES:
        importlib.import_module(module)


def list_methods(family: str | None = None) -> list[MethodSpec]:
    """All registered methods (optionally of one family), sorted by family then name."""
    _load()
    specs = [s for s in _REGISTRY.values() if family is None or s.family == family]
    return sorted(specs, key=lambda s: (s.family, s.name.lower()))


def get_method(name: str) -> MethodSpec:
    """Look a method up by name (case-insensitive), with a suggestion when unknown."""
    _load()
    if name in _REGISTRY:
        return _REGISTRY[name]
    lowered = {k.lower(): k for k in _REGISTRY}
    if name.lower() in lowered:
        return _REGISTRY[lowered[name.lower()]]
    raise unknown_name("method", name, _REGISTRY)


def method_name_of(cls: type) -> str:
    """The registered name of a method class ("" for a class that is not registered)."""
    _load()
    for spec in _REGISTRY.values():
        if spec.cls is cls:
            return spec.name
    return ""


def _check_params(spec: MethodSpec, params: dict[str, Any]) -> None:
    """Raise a clear error when ``params`` holds a name ``spec.cls`` does not accept.

    Parameters
    ----------
    spec : MethodSpec
        The method whose constructor receives ``params``.
    params : dict
        Keyword arguments given to :func:`make_da`.

    Raises
    ------
    UnknownParameterError
        Naming the method, the unknown parameter, a close match and the valid names.
    """
    try:
        signature = inspect.signature(spec.cls.__init__)
    except (TypeError, ValueError):  # pragma: no cover - builtin or odd constructor
        return
    valid = []
    for pname, p in signature.parameters.items():
        if p.kind is p.VAR_KEYWORD:
            return  # accepts anything
        if pname != "self" and p.kind is not p.VAR_POSITIONAL:
            valid.append(pname)
    for pname in params:
        if pname not in valid:
            raise UnknownParameterError(
                f"Method {spec.name!r} has no parameter {pname!r}.{suggest(pname, valid)} "
                f"Valid parameters: {', '.join(sorted(valid)) or '(none)'}."
            )


def make_da(name: str, estimator=None, **params):
    """One-call factory: a ready-to-fit DA model for method ``name``.

    Adapters are wrapped in a :class:`~shiftlab.methods.base.DAPipeline` with
    ``estimator`` as final step (``LogisticRegression()`` by default); DA estimators are
    returned directly (``estimator`` is passed as their ``base_estimator`` when given).

    Examples
    --------
    >>> from shiftlab.methods import make_da
    >>> model = make_da("CORAL")
    >>> [name for name, _ in model.steps]
    ['coral', 'logisticregression']
    """
    from sklearn.linear_model import LogisticRegression

    from shiftlab.methods.base import make_da_pipeline

    spec = get_method(name)
    _check_params(spec, params)
    if not spec.needs_estimator:
        if estimator is not None:
            params = {"base_estimator": estimator, **params}
        return spec.cls(**params)
    adapter = spec.cls(**params)
    return make_da_pipeline(adapter, estimator if estimator is not None else LogisticRegression())
