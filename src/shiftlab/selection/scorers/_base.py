"""The scorer kinds, the registry of scorers (:func:`register_scorer`,
:func:`get_scorer`, :func:`list_scorers`) and scorers made from a function
(:func:`make_scorer`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from shiftlab.exceptions import DataValidationError, unknown_name
from shiftlab.selection.records import CandidateRecord, RefitRequest, SplitContext, SplitLabels

# --------------------------------------------------------------------------- registry
# Every scorer registers itself with the decorator next to its class (in the modules of
# this package, and in selectors.py); get_scorer and list_scorers, at the end of this
# module, read the table.
_FACTORIES: dict[str, Callable[..., BaseScorer]] = {}
_ALIASES: dict[str, str] = {}


def register_scorer(name: str, factory: Callable[..., BaseScorer] | None = None, aliases=(),
                    *, params: Mapping | None = None):
    """Register a scorer under ``name`` (and case-insensitive ``aliases``).

    The built-in scorers use it as a class decorator, next to the class::

        @register_scorer("PE", aliases=("prediction_entropy", "entropy"))
        class PredictionEntropy(UnsupervisedScorer):
            ...

    ``params`` registers a variant with fixed constructor arguments; stack one decorator
    per name (they register from the innermost up)::

        @register_scorer("DEVN", aliases=("dev_normalized",), params={"normalize": "max"})
        @register_scorer("DEV", aliases=("deep_embedded_validation",))
        class DeepEmbeddedValidation(UnsupervisedScorer):
            ...

    Called with a ``factory`` (any callable returning a :class:`BaseScorer`, e.g. a
    ``lambda`` around :func:`make_scorer`), it registers that factory and returns None.
    """
    if name.lower() in _ALIASES and _ALIASES[name.lower()] != name:
        raise ValueError(f"scorer name {name!r} is already an alias of "
                         f"{_ALIASES[name.lower()]!r}.")

    def add(factory: Callable[..., BaseScorer]) -> None:
        _FACTORIES[name] = factory
        for alias in (name, *aliases):
            _ALIASES[alias.lower()] = name

    if factory is not None:
        if params:
            raise TypeError("give params with the decorator form only.")
        add(factory)
        return None

    def deco(cls: type) -> type:
        if params:
            fixed = dict(params)

            def variant(**kw):
                return cls(**fixed, **kw)

            variant.__qualname__ = f"{cls.__qualname__}[{name}]"
            add(variant)
        else:
            add(cls)
        return cls

    return deco


class BaseScorer:
    """Common attributes of all scorers.

    Attributes
    ----------
    name : str
        Column name in results tables (unique within a search).
    reference : str
        Paper the scorer comes from.
    greater_is_better : bool
        Always ``True``: scores are oriented so that higher is better.
    uses_target_labels : bool
        ``True`` only for the supervised oracle.
    needs_refit : bool
        ``True`` for scorers that need a derived fit (circular validation).
    needs : tuple of str
        Record fields the scorer reads (``"proba"`` means probabilities or decision
        values, ``"features"`` the ``transform`` outputs, ``"decision"`` the decision
        values themselves: a search keeps those of models with ``predict_proba`` only
        for scorers that declare this need).
    tasks : tuple of str
        Label kinds supported: ``"classification"`` and/or ``"regression"``.
    metric : str or None
        Selection metric of the scorers that compare predictions with labels (one of
        :data:`~shiftlab.selection.metrics.SELECTION_METRICS`); ``None`` for the others.
    supported_metrics : tuple of str
        The metrics its ``metric`` parameter takes (empty: no such parameter).
    """

    name: str = ""
    reference: str = ""
    greater_is_better: bool = True
    uses_target_labels: bool = False
    needs_refit: bool = False
    is_aggregate: bool = False
    needs: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ("classification",)
    metric: str | None = None
    supported_metrics: tuple[str, ...] = ()

    def __init__(self, *, name: str | None = None):
        if name is not None:
            self.name = str(name)
        self._init_params = {"name": name}

    def _set_params(self, **params):
        self._init_params.update(params)
        for k, v in params.items():
            setattr(self, k, v)

    def get_params(self) -> dict:
        return {k: v for k, v in self._init_params.items() if k != "name"}

    def supports(self, kind: str) -> bool:
        return kind in self.tasks

    @property
    def reads_decision(self) -> bool:
        """Whether the scorer reads decision values themselves (``"decision"`` or a
        ``decision_*`` field), not as stand-in probabilities."""
        return any(n == "decision" or n.startswith("decision_") for n in self.needs)

    def has_inputs(self, record: CandidateRecord) -> bool:
        """Whether the record holds what this scorer reads."""
        for need in self.needs:
            if need in ("proba", "proba_source"):
                # Probabilities only exist for classifiers (regression scorers skip them).
                part = "target_val" if need == "proba" else "source_val"
                if record.classes is not None and record.probabilities(part) is None:
                    return False
            elif need == "features":
                if record.features_target_val is None:
                    return False
            elif need == "decision":
                if record.decision_target_val is None:
                    return False
            elif getattr(record, need, None) is None:
                return False
        return True

    @property
    def metric_description(self) -> str | None:
        """What the score measures, in words (``None`` for scorers without a metric)."""
        return None

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        oracle = " [ORACLE: reads target labels]" if self.uses_target_labels else ""
        described = self.metric_description
        scores = f" scores: {described}" if described else ""
        return f"{type(self).__name__}({params}) name={self.name!r}{oracle}{scores}"


class UnsupervisedScorer(BaseScorer):
    """A realistic scorer: sees source validation labels and target inputs only."""

    def score(self, record: CandidateRecord, context: SplitContext) -> float:
        raise NotImplementedError  # pragma: no cover


class RefitScorer(BaseScorer):
    """A realistic scorer that needs one derived fit per (candidate, split)."""

    needs_refit = True
    #: Scorers with the same ``refit_key`` share their cached derived fits.
    refit_key: str = ""

    def refit_request(self, record: CandidateRecord, context: SplitContext) -> RefitRequest:
        raise NotImplementedError  # pragma: no cover

    def score(self, record, context, refit_prediction) -> float:
        raise NotImplementedError  # pragma: no cover


class OracleScorer(BaseScorer):
    """A scorer that reads target labels: for reference only, never realistic."""

    uses_target_labels = True

    def score(self, record: CandidateRecord, context: SplitContext, labels: SplitLabels) -> float:
        raise NotImplementedError  # pragma: no cover


class AggregateScorer(BaseScorer):
    """Combines other scorers' per-candidate mean scores into one score per candidate."""

    is_aggregate = True

    def aggregate(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover


class FunctionScorer(UnsupervisedScorer):
    """A realistic scorer from a function ``func(record, context) -> float``.

    Use :func:`make_scorer`. The function must return higher-is-better values.
    """

    def __init__(self, func: Callable, *, name: str, needs=(), tasks=("classification",)):
        super().__init__(name=name)
        self.func = func
        self.needs = tuple(needs)
        self.tasks = tuple(tasks)
        self._init_params.update(func=getattr(func, "__name__", repr(func)))

    def score(self, record, context):
        return float(self.func(record, context))


def make_scorer(func, *, name: str, needs=(), tasks=("classification",)) -> FunctionScorer:
    """Wrap ``func(record, context) -> float`` (higher is better) as a realistic scorer.

    Such a scorer can be added to a finished search with
    :meth:`~shiftlab.selection.DomainSearchCV.add_scorer`; it is computed from the stored
    records without any fit.
    """
    return FunctionScorer(func, name=name, needs=needs, tasks=tasks)


# --------------------------------------------------------------------------- registry
#: Realistic scorers run by default (the oracle is added separately).
DEFAULT_REALISTIC = (
    "IW",
    "DEV",
    "DEVN",
    "PE",
    "SND",
    "MixVal",
    "MixVal-intra",
    "MixVal-inter",
    "MaNo",
    "BNM",
    "ClassAMI",
    "SrcVal",
    "CircV",
)


def list_scorers(*, include_oracle: bool = True, include_aggregate: bool = True) -> list[str]:
    """Names of the registered scorers, the oracle last.

    ``get_scorer(name)`` builds one (``.uses_target_labels``, ``.reference``, ...).
    """
    names = [n for n in _FACTORIES if n not in ("oracle", "consensus")]
    if include_aggregate:
        names.append("consensus")
    if include_oracle:
        names.append("oracle")
    return names


def get_scorer(scorer, **params) -> BaseScorer:
    """A scorer from its name (case-insensitive, aliases allowed) or a scorer object.

    Parameters
    ----------
    scorer : str or BaseScorer
    **params
        Passed to the scorer's constructor (e.g. ``get_scorer("SND", T=0.1)``).

    Raises
    ------
    UnknownNameError
        With a "did you mean" suggestion.
    """
    if isinstance(scorer, BaseScorer):
        if params:
            raise DataValidationError("Give params only with a scorer name.")
        return scorer
    if not isinstance(scorer, str):
        raise DataValidationError(
            f"A scorer is a name or a BaseScorer, got {type(scorer).__name__}."
        )
    key = _ALIASES.get(scorer.lower())
    if key is None:
        raise unknown_name("scorer", scorer, _FACTORIES)
    return _FACTORIES[key](**params)
