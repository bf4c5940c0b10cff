"""Catalogue of the deep methods: names, classes, references, settings and grids.

Like :mod:`shiftlab.methods.registry` for the shallow methods: each deep method class
carries its spec in a :func:`register_deep_method` decorator next to its definition
(in :mod:`shiftlab.deep.methods`, :mod:`~shiftlab.deep.source_free`,
:mod:`~shiftlab.deep.transductive`): a name, its family and setting, its paper
reference, SKADA-Bench's grid (``grid``, the GPU-sized one) and a grid scaled to what a
CPU can run (``cpu_grid``). The benchmark presets that run them are TOML files only
(``shiftlab run deep-cpu``, ``src/shiftlab/bench/presets/deep-*.toml``).

Names. Shallow and deep methods share one namespace: a deep method's qualified name is
``deep:NAME`` (:attr:`DeepMethodSpec.qualified_name`, :data:`DEEP_PREFIX`), which no
shallow name can take. A bare ``NAME`` also finds a deep method here; benchmark
definitions read a bare name as the shallow method when both registries have it
(``SourceOnly``), so they write ``[methods."deep:SourceOnly"]`` for the deep one.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from shiftlab.exceptions import unknown_name
from shiftlab.methods.registry import DEEP_PREFIX

__all__ = [
    "DEEP_PREFIX",
    "DeepMethodSpec",
    "get_deep_method",
    "list_deep_methods",
    "make_deep_da",
    "register_deep_method",
    "split_deep_prefix",
]

Setting = Literal["baseline", "oracle", "unsupervised", "source_free", "test_time", "transductive"]

#: Modules whose import registers the deep methods (imported on first registry use).
DEEP_METHOD_MODULES = (
    "shiftlab.deep.methods",
    "shiftlab.deep.source_free",
    "shiftlab.deep.transductive",
)


@dataclass(frozen=True)
class DeepMethodSpec:
    """Description of one deep method.

    Attributes
    ----------
    name : str
        Short name (benchmark files, reports); :attr:`qualified_name` adds ``deep:``.
    cls : type
        The estimator class (a :class:`~shiftlab.deep.BaseDeepDA`).
    family : str
        ``"baseline"``, ``"statistic"``, ``"adversarial"``, ``"optimal_transport"``,
        ``"prediction"`` (self-training / prediction-based), ``"class_aware"``,
        ``"graph"``, ``"source_free"``, ``"transductive"``.
    setting : str
        What the method sees: ``"unsupervised"`` (labelled source + unlabelled target
        jointly), ``"source_free"`` / ``"test_time"`` (a source model, then target X
        only), ``"transductive"`` (fixed features, source labels + target X),
        ``"baseline"`` (source only) or ``"oracle"`` (target labels: evaluation only).
    reference : str
    grid : dict
        SKADA-Bench's grid where it has one (the GPU preset), ``{param: [values]}``.
    cpu_grid : dict
        A subset of ``grid`` sized for a CPU run.
    sgd_training : dict
        Changes to a dataset's training settings for this method when that dataset trains
        with SGD: ``lr_scale`` multiplies the learning rate, other keys replace
        parameters (SKADA-Bench runs DANN, MDD, CAN and SPA with lr x 0.1 and momentum
        0.9 on top of its SGD recipes).
    regression : bool
        Whether the method accepts regression targets.
    """

    name: str
    cls: type
    family: str
    setting: Setting
    reference: str
    grid: dict[str, list[Any]] = field(default_factory=dict)
    cpu_grid: dict[str, list[Any]] = field(default_factory=dict)
    sgd_training: dict[str, Any] = field(default_factory=dict)
    regression: bool = False

    @property
    def qualified_name(self) -> str:
        """``deep:NAME``: the name no shallow method can take."""
        return f"{DEEP_PREFIX}{self.name}"

    @property
    def cls_name(self) -> str:
        """Name of the class (exported by :mod:`shiftlab.deep`)."""
        return self.cls.__name__


_REGISTRY: dict[str, DeepMethodSpec] = {}


def register_deep_method(**spec_kwargs) -> Callable[[type], type]:
    """Class decorator that registers a deep method (fields: :class:`DeepMethodSpec`).

    Example (next to the class, in its module)::

        @register_deep_method(
            name="DANN", family="adversarial", setting="unsupervised",
            reference="Ganin et al. ... JMLR 2016.",
            grid={"reg": [1e-3, 1e-2, 0.1, 1.0]}, cpu_grid={"reg": [0.1, 1.0]},
            sgd_training={"lr_scale": 0.1, "momentum": 0.9},
        )
        class DANN(BaseDeepDA):
            ...
    """

    def deco(cls: type) -> type:
        spec = DeepMethodSpec(cls=cls, **spec_kwargs)
        if spec.name.lower().startswith(DEEP_PREFIX):
            raise ValueError(f"register {spec.name!r} without the {DEEP_PREFIX!r} prefix.")
        old = _REGISTRY.get(spec.name)
        if old is not None and old.cls.__qualname__ != cls.__qualname__:
            raise ValueError(f"deep method {spec.name!r} is already registered "
                             f"({old.cls.__module__}.{old.cls.__qualname__}).")
        bad = [p for p, values in spec.cpu_grid.items()
               if p not in spec.grid or not set(values) <= set(spec.grid[p])]
        if bad:
            raise ValueError(f"{spec.name}: cpu_grid values of {bad} are not in its grid.")
        _REGISTRY[spec.name] = spec
        return cls

    return deco


@functools.cache
def _load() -> None:
    """Import the modules whose decorators fill the registry (once)."""
    for module in DEEP_METHOD_MODULES:
        importlib.import_module(module)


def split_deep_prefix(name: str) -> tuple[bool, str]:
    """``(True, "NAME")`` for ``"deep:NAME"`` (any case of the prefix), else ``(False, name)``."""
    if name[: len(DEEP_PREFIX)].lower() == DEEP_PREFIX:
        return True, name[len(DEEP_PREFIX):]
    return False, name


def list_deep_methods(family: str | None = None) -> list[DeepMethodSpec]:
    """Every deep method (optionally of one family), in registration order."""
    _load()
    return [s for s in _REGISTRY.values() if family is None or s.family == family]


def get_deep_method(name: str) -> DeepMethodSpec:
    """Look a deep method up by name, ``NAME`` or ``deep:NAME`` (case-insensitive), with a
    suggestion when unknown."""
    _load()
    _, bare = split_deep_prefix(name)
    if bare in _REGISTRY:
        return _REGISTRY[bare]
    lowered = {k.lower(): k for k in _REGISTRY}
    if bare.lower() in lowered:
        return _REGISTRY[lowered[bare.lower()]]
    raise unknown_name("deep method", name, _REGISTRY)


def make_deep_da(name: str, **params):
    """Instantiate a deep method by name, e.g. ``make_deep_da("DANN", reg=0.1)``."""
    return get_deep_method(name).cls(**params)
