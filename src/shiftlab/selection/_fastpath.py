"""How model selection gets a candidate's outputs cheaply: one runner per kind of estimator.

The search fits every candidate (the template estimator with one set of parameters) on
the training rows of every inner split and records its outputs on the validation rows
(:func:`~shiftlab.selection.records.fit_candidate`); circular validation refits it on
swapped rows (:class:`~shiftlab.selection._refit.FitCache`) and the outer evaluation on the
outer-train part. All three ask the runner :func:`runner_for` gives, never the class of
the estimator:

:class:`PlainRunner`
    Any estimator with ``fit(X, y, sample_domain)``: a clone per candidate, one call per
    output (one ``final_outputs`` call when the fitted model has that method, as the deep
    estimators do: every output from one forward pass).
:class:`PipelineRunner`
    A :class:`~shiftlab.methods.DAPipeline`. Candidates share the steps their parameters
    leave alone (unfitted, so not cloned); the label-free transformers leading the
    pipeline are fitted once per :class:`RowSet` and completed by the pipeline's one
    selection hook, ``DAPipeline._fit_from``; the parts of a row set go through the
    adapters in one stacked call.

The pipeline's shortcuts rest on two promises of
:class:`~shiftlab.methods.base.BaseAdapter` and scikit-learn transformers: ``transform``
treats rows one by one (so stacking parts changes no number), and a plain transformer
fits without labels (so a prefix of them fitted on the same rows is the same for every
candidate). Both runners give the numbers of a plain ``fit`` then one call per output,
bit for bit (tests/test_selection_search.py).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from shiftlab.data.convention import DEFAULT_TARGET_DOMAIN
from shiftlab.methods.base import (
    BaseAdapter,
    BaseDAEstimator,
    DAPipeline,
    PipelinePrefix,
    _fit_prefix,
    _transform_steps,
    prepare_fit,
)

__all__ = [
    "CandidateRunner",
    "Fitted",
    "PipelineRunner",
    "PlainRunner",
    "RowSet",
    "accepts_sample_domain",
    "call_with_domain",
    "candidate_model",
    "runner_for",
]


# --------------------------------------------------------------------------- signatures
def accepts_sample_domain(func) -> bool:
    """Whether a bound method takes a ``sample_domain`` argument."""
    plain = getattr(func, "__func__", None)
    if plain is not None:
        # A bound method's signature is its function's: inspect it once per function
        # (model selection asks thousands of times per job).
        return _function_accepts_sample_domain(plain)
    return _signature_accepts_sample_domain(func)


@functools.lru_cache(maxsize=1024)
def _function_accepts_sample_domain(func) -> bool:
    return _signature_accepts_sample_domain(func)


def _signature_accepts_sample_domain(func) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return "sample_domain" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def call_with_domain(model, method: str, X, sample_domain):
    """Call ``model.<method>(X, sample_domain)``, dropping ``sample_domain`` if unsupported."""
    func = getattr(model, method)
    if accepts_sample_domain(func):
        return func(X, sample_domain=sample_domain)
    return func(X)


# --------------------------------------------------------------------------- protocol
@dataclass(eq=False)
class RowSet:
    """Training rows many candidates are fitted on, and the parts of rows whose outputs
    are asked of each of them.

    ``parts`` maps a name to ``(X, sample_domain)``. ``memo`` holds what a runner shares
    between the candidates fitted on these rows (a fitted prefix, the parts through it);
    it lives as long as the row set, which the caller keeps for exactly those candidates
    (one per inner split, one per circular-validation ``rows_key``).
    """

    X: Any
    y: Any
    sample_domain: Any
    parts: dict
    memo: dict = field(default_factory=dict, repr=False)


@dataclass
class Fitted:
    """A fitted candidate with the rows it was fitted on (and the shared prefix it
    completed, if any), as :meth:`CandidateRunner.outputs` takes it."""

    model: Any
    rows: RowSet
    shared: _SharedPrefix | None = None


class CandidateRunner(Protocol):
    """What model selection asks about a template estimator, whatever its class."""

    def candidate(self, params: dict) -> Any:
        """An unfitted ``clone(template).set_params(**params)`` (raises on bad params)."""

    def prepare(self, params: dict, rows: RowSet) -> None:
        """Fit now what candidates with ``params`` share on ``rows`` (before their fits
        go to worker processes); a failure is left to each fit to meet and report."""

    def fit(self, model, params: dict, rows: RowSet, *, y=None, share: bool = True) -> Fitted:
        """Fit ``model`` (from :meth:`candidate` with ``params``) on ``rows``, with the
        labels ``y`` instead of ``rows.y`` when given (same rows, other labels);
        ``share=False`` fits it on its own."""

    def outputs(self, fitted: Fitted, methods, *, features: bool = True,
                light=()) -> dict[str, dict]:
        """``{part: {"predict": ..., <method>: ..., "features": ...}}`` of the fitted
        model on every part of ``fitted.rows``. Outputs the model lacks are absent; parts
        named in ``light`` need predictions only (a runner may give more)."""


def runner_for(estimator) -> CandidateRunner:
    """The runner of a template estimator: a :class:`PipelineRunner` for a
    :class:`~shiftlab.methods.DAPipeline`, else a :class:`PlainRunner`."""
    if isinstance(estimator, DAPipeline):
        return PipelineRunner(estimator)
    return PlainRunner(estimator)


def candidate_model(estimator, params: dict):
    """An unfitted ``clone(estimator).set_params(**params)``, as its runner builds it."""
    return runner_for(estimator).candidate(params)


def _stacked_call(func, parts: dict) -> dict:
    """``func`` of every part's ``(X, sample_domain)`` in one call on the stacked rows, cut
    back into parts: ``{name: output}``, or ``{name: {key: output}}`` when ``func`` returns
    a dict. Only for functions that treat rows independently."""
    if len(parts) == 1:
        ((name, (X, sd)),) = parts.items()
        return {name: func(X, sd)}
    out = func(np.concatenate([X for X, _ in parts.values()]),
               np.concatenate([sd for _, sd in parts.values()]))
    ends = np.cumsum([len(X) for X, _ in parts.values()])
    cut = {}
    for (name, (X, _)), end in zip(parts.items(), ends, strict=True):
        rows = slice(end - len(X), end)
        cut[name] = ({key: value[rows] for key, value in out.items()}
                     if isinstance(out, dict) else out[rows])
    return cut


# --------------------------------------------------------------------------- plain
def _maybe(model, method, X, sd):
    if not hasattr(model, method) or len(X) == 0:
        return None
    try:
        return np.asarray(call_with_domain(model, method, X, sd), dtype=float)
    except (AttributeError, NotImplementedError):
        return None


def _one_by_one(model, X, sample_domain, methods, features: bool) -> dict:
    """Outputs of a fitted model through its public methods (``final_outputs`` when it
    has one: one pass for all of them)."""
    if hasattr(model, "final_outputs"):
        return model.final_outputs(X, sample_domain, methods)
    out = {"predict": call_with_domain(model, "predict", X, sample_domain)}
    wanted = [m for m in methods if m != "predict"]
    if features and hasattr(model, "transform"):
        wanted.append("transform")
    for method in wanted:
        value = _maybe(model, method, X, sample_domain)
        if value is not None:
            out["features" if method == "transform" else method] = value
    return out


class PlainRunner:
    """Any estimator: a clone per candidate, fitted on its own, one call per output."""

    def __init__(self, template):
        self.template = template

    def candidate(self, params: dict):
        return clone(self.template).set_params(**params)

    def prepare(self, params: dict, rows: RowSet) -> None:
        return None  # nothing is shared

    def fit(self, model, params: dict, rows: RowSet, *, y=None, share: bool = True) -> Fitted:
        model.fit(rows.X, rows.y if y is None else y, sample_domain=rows.sample_domain)
        return Fitted(model, rows)

    def outputs(self, fitted: Fitted, methods, *, features: bool = True,
                light=()) -> dict[str, dict]:
        return {
            name: _one_by_one(fitted.model, X, sd, ("predict",) if name in light else methods,
                              features and name not in light)
            for name, (X, sd) in fitted.rows.parts.items()
        }


# --------------------------------------------------------------------------- pipeline
def _steps_set_by(params) -> set[str] | None:
    """Names of the steps ``params`` (``"<step>__<param>"`` or ``"<step>"``) set.

    ``None`` when ``params`` replaces the whole list of steps.
    """
    names = {key.partition("__")[0] for key in params}
    return None if "steps" in names else names


class _SharedPrefix:
    """A prefix fitted once on a row set, and that row set's parts through it (computed
    on first use, in one call for all parts: the prefix's transformers work row by row)."""

    def __init__(self, prefix: PipelinePrefix, parts: dict):
        self.prefix, self._raw, self._done = prefix, parts, None

    def parts(self) -> dict:
        if self._done is None:
            done = _stacked_call(self.prefix.transform, self._raw)
            self._done = {name: (done[name], sd) for name, (_, sd) in self._raw.items()}
        return self._done


def _pipeline_outputs(model: DAPipeline, X, sample_domain, methods, skip_steps: int) -> dict:
    """Features (as ``transform``) and the final estimator's ``methods`` from one pass
    through the adapters. With ``skip_steps=k``, ``X`` is already the output of the first
    ``k`` fitted steps (a shared prefix's), which are not run again."""
    if skip_steps:
        check_is_fitted(model, "steps_")
        if sample_domain is None:
            sample_domain = np.full(X.shape[0], DEFAULT_TARGET_DOMAIN)
        Xt = _transform_steps(model.steps_[skip_steps:-1], X, sample_domain)
    else:
        Xt = model.transform(X, sample_domain)
    final = model.steps_[-1][1]
    out = {"features": Xt}
    is_da = isinstance(final, BaseDAEstimator)
    if is_da and sample_domain is None:
        sample_domain = np.full(Xt.shape[0], DEFAULT_TARGET_DOMAIN)
    for method in methods:
        if not hasattr(final, method):
            continue
        try:
            func = getattr(final, method)
            out[method] = func(Xt, sample_domain) if is_da else func(Xt)
        except (AttributeError, NotImplementedError):
            continue
    return out


class PipelineRunner:
    """A :class:`~shiftlab.methods.DAPipeline`: shared untouched steps, a shared fitted
    prefix per row set, every part through the adapters in one call."""

    def __init__(self, template: DAPipeline):
        self.template = template

    def candidate(self, params: dict):
        """``clone(template).set_params(**params)``, sharing the steps ``params`` leave
        alone: the pipeline's fit clones every step and never changes the steps it is
        given, and each clone inspects signatures, which adds up over the thousands of
        fits of a search. A subclass, which may add parameters, is cloned as a whole."""
        touched = _steps_set_by(params)
        template = self.template
        if type(template) is not DAPipeline or touched is None:
            return clone(template).set_params(**params)
        steps = [(name, clone(step) if name in touched else step)
                 for name, step in template.steps]
        return DAPipeline(steps).set_params(**params)

    def shared_steps(self, params=()) -> int:
        """How many leading steps candidates differing only in ``params`` can share.

        Those are the plain transformers (fitted without labels, like a
        ``StandardScaler``) before the first adapter and before the first step a key of
        ``params`` (``"<step>__<param>"``) sets: fitted on the same rows, they come out
        identical for every such candidate. Always 0 for a subclass that overrides
        ``fit``, whose own ``fit`` must then run.
        """
        touched = _steps_set_by(params)
        if touched is None or type(self.template).fit is not DAPipeline.fit:
            return 0
        n = 0
        for name, step in self.template.steps[:-1]:
            if isinstance(step, BaseAdapter) or name in touched:
                break
            n += 1
        return n

    def _shared(self, params: dict, rows: RowSet) -> _SharedPrefix | None:
        """The prefix candidates with ``params`` share on ``rows``, fitted on first use."""
        n = self.shared_steps(params)
        if not n:
            return None
        # The template is part of the key (and so kept alive): a row set may serve the
        # candidates of several templates.
        key = ("prefix", self.template, n)
        if key not in rows.memo:
            prefix = _fit_prefix(self.template.steps, rows.X, rows.y, rows.sample_domain, n)
            rows.memo[key] = _SharedPrefix(prefix, rows.parts)
        return rows.memo[key]

    def prepare(self, params: dict, rows: RowSet) -> None:
        try:
            shared = self._shared(params, rows)
            if shared is not None:
                shared.parts()
        except Exception:
            return  # each fit then meets the failure and reports it

    def fit(self, model, params: dict, rows: RowSet, *, y=None, share: bool = True) -> Fitted:
        shared = self._shared(params, rows) if share else None
        if shared is None:
            model.fit(rows.X, rows.y if y is None else y, sample_domain=rows.sample_domain)
        elif y is None:
            model._fit_from(shared.prefix)
        else:
            # Same rows, other labels (circular validation's pseudo-labels): a prefix of
            # label-free transformers still holds.
            _, y, _ = prepare_fit(shared.prefix.X, y, shared.prefix.sample_domain)
            model._fit_from(replace(shared.prefix, y=y))
        return Fitted(model, rows, shared)

    def outputs(self, fitted: Fitted, methods, *, features: bool = True,
                light=()) -> dict[str, dict]:
        parts, skip = fitted.rows.parts, 0
        if fitted.shared is not None:
            parts, skip = fitted.shared.parts(), len(fitted.shared.prefix.steps)
        # Every part in one call, light ones too: the adapters adapt rows one by one, so
        # stacking only saves the per-call overhead, which dominates on validation folds.
        return _stacked_call(
            lambda X, sd: _pipeline_outputs(fitted.model, X, sd, methods, skip), parts
        )
