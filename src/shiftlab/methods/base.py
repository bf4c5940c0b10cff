"""Base classes shared by every shallow domain-adaptation method.

Two kinds of building blocks exist:

* an **adapter** (:class:`BaseAdapter`) learns from labelled source and unlabelled target
  data and changes what a standard estimator is trained on: it may re-weight source
  samples (reweighting methods), move them (mapping methods) or project every sample
  (subspace methods);
* a **DA estimator** (:class:`BaseDAEstimator`) predicts by itself and uses the target
  data while fitting (self-labelling methods such as JDOT or DASVM).

:class:`DAPipeline` chains plain scikit-learn transformers, adapters and a final
scikit-learn estimator. It is the one place where target labels are masked before any
step sees them, so that no method can read them, whatever the caller passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, has_fit_parameter

from shiftlab.data.convention import (
    DEFAULT_TARGET_DOMAIN,
    check_domain_arrays,
    label_kind,
    source_mask,
)
from shiftlab.exceptions import DataValidationError
from shiftlab.methods._threads import blas_scope

__all__ = [
    "BaseAdapter",
    "BaseDAEstimator",
    "DAPipeline",
    "make_da_pipeline",
    "prepare_fit",
    "prepare_predict",
    "seeded",
]


def prepare_fit(X, y, sample_domain, *, allow_nd: bool = False, allow_nan: bool = False):
    """Validate fit inputs and mask target labels (on copies).

    Every ``fit`` of a shiftlab method starts here. Target labels are masked whatever
    the caller passed, which is what makes leakage impossible by construction.
    """
    if y is None:
        raise DataValidationError(
            "fit needs y: source labels, with target labels masked (-1 / NaN)."
        )
    return check_domain_arrays(X, y, sample_domain, target_labels="mask", allow_nd=allow_nd,
                               allow_nan=allow_nan)


def prepare_predict(X, sample_domain=None, *, allow_nd: bool = False, allow_nan: bool = False):
    """Validate predict inputs. ``sample_domain=None`` means every sample is target."""
    X, _, sample_domain = check_domain_arrays(
        X,
        None,
        sample_domain,
        require_source=False,
        require_target=False,
        allow_nd=allow_nd,
        allow_nan=allow_nan,
    )
    return X, sample_domain


def _check_imputed(X, step_name: str) -> None:
    """Rows reaching an adapter or the final estimator must be complete."""
    if np.issubdtype(np.asarray(X).dtype, np.floating) and np.isnan(X).any():
        raise DataValidationError(
            f"X still has missing values (NaN) after step {step_name!r}; the steps before "
            "the first adapter must impute every missing value: put an imputer first, e.g. "
            "make_da_pipeline(SimpleImputer(), CORAL(), LogisticRegression())."
        )


class BaseAdapter(BaseEstimator):
    """Base class of adapters (reweighting, mapping and subspace methods).

    Subclasses implement :meth:`_fit` and :meth:`_transform`, and reweighting methods
    also :meth:`_weights`. They receive validated copies with target labels masked.

    The public API is

    ``fit(X, y, sample_domain=None)``
        learn the adaptation (returns ``self``);
    ``fit_adapt(X, y, sample_domain=None)``
        fit, then return ``(X_adapted, sample_weight)`` for the *training* rows, where
        in-sample maps (e.g. barycentric OT maps) apply and ``sample_weight`` is ``None``
        for methods that do not reweight;
    ``transform(X, sample_domain=None)``
        adapt *new* rows (``sample_domain=None``: all target), each row on its own: the
        output of a row must not depend on the other rows of the call (model selection
        stacks validation parts into one call).
    """

    #: Whether the adapter yields sample weights (reweighting family).
    produces_weights: bool = False
    #: scikit-learn's parameter constraints, checked at the start of ``fit``
    #: (``_validate_params``) and by benchmark definitions. Every registered method
    #: declares its own; this empty default leaves a subclass that declares none
    #: (a user's adapter) unchecked rather than failing.
    _parameter_constraints: dict = {}

    # ---- to implement -------------------------------------------------------
    def _fit(self, X, y, sample_domain):  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform(self, X, sample_domain):
        """Adapt new rows; the identity by default (reweighting methods)."""
        return X

    def _fit_transform(self, X, y, sample_domain):
        """Adapt the training rows; defaults to ``_transform`` after ``_fit``."""
        self._fit(X, y, sample_domain)
        return self._transform(X, sample_domain)

    def _weights(self, X, sample_domain):
        """Weights of the training rows (only called when ``produces_weights``)."""
        raise NotImplementedError  # pragma: no cover

    def _set_domain_states(self, states: dict, mode: str) -> None:
        """Keep the fitted state of each source group (``domain_states_``) and, for a
        pooled fit, expose its attributes directly on the adapter. Attributes mirrored
        from an earlier pooled fit do not survive a refit."""
        for name in getattr(self, "domain_states_", {}).get("pooled", {}):
            if hasattr(self, name):
                delattr(self, name)
        if mode == "pooled":
            for name, value in states["pooled"].items():
                setattr(self, name, value)
        self.domain_states_ = states
        self.source_pooling_ = mode

    # ---- public API ---------------------------------------------------------
    def fit(self, X, y=None, sample_domain=None):
        self.fit_adapt(X, y, sample_domain)
        return self

    def fit_adapt(self, X, y=None, sample_domain=None):
        """Fit on training rows and return ``(X_adapted, sample_weight or None)``."""
        self._validate_params()
        X, y, sample_domain = prepare_fit(X, y, sample_domain)
        self.n_features_in_ = X.shape[1]
        self.source_domains_ = np.unique(sample_domain[sample_domain >= 0])
        self.target_domains_ = np.unique(sample_domain[sample_domain < 0])
        # Small problems run with one BLAS thread: see shiftlab.methods._threads.
        with blas_scope(X):
            X_out = self._fit_transform(X, y, sample_domain)
            weights = self._weights(X, sample_domain) if self.produces_weights else None
        return X_out, weights

    def fit_transform(self, X, y=None, sample_domain=None):
        return self.fit_adapt(X, y, sample_domain)[0]

    def transform(self, X, sample_domain=None):
        check_is_fitted(self, "n_features_in_")
        X, sample_domain = prepare_predict(X, sample_domain)
        if X.shape[1] != self.n_features_in_:
            raise DataValidationError(
                f"X has {X.shape[1]} features but {type(self).__name__} was fitted with "
                f"{self.n_features_in_}."
            )
        with blas_scope(X):
            return self._transform(X, sample_domain)


def _keep_every_class(weights: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Source weights in which every class keeps a positive total weight.

    A reweighting may give all the rows of a class weight 0 (a target-shift estimate that
    says the class is absent). libsvm then drops the class while ``classes_`` keeps it,
    and SVC's ``decision_function`` fails at predict; those rows get instead 1e-8 of the
    largest weight, so the class stays known but has no say in the fit.
    """
    if label_kind(y) != "classification" or not np.isfinite(weights).all():
        return weights
    top = float(weights.max(initial=0.0))
    classes, codes = np.unique(y, return_inverse=True)
    totals = np.bincount(codes, weights=weights, minlength=classes.size)
    empty = totals <= 0
    if not empty.any() or top <= 0:
        return weights
    weights = np.array(weights, dtype=float)
    weights[empty[codes]] = 1e-8 * top
    return weights


def _default_score(estimator, X, y, sample_domain):
    """scikit-learn's default ``score``: accuracy, or R^2 for continuous labels."""
    from sklearn.metrics import accuracy_score, r2_score

    y = np.asarray(y)
    pred = estimator.predict(X, sample_domain)
    if label_kind(y) == "regression":
        return r2_score(y, pred)
    return accuracy_score(y, pred)


def _has(name):
    return lambda self: hasattr(self, name)


class BaseDAEstimator(BaseEstimator):
    """Base class of methods that predict by themselves (self-labelling family).

    Subclasses implement ``_fit(X, y, sample_domain)`` and ``_predict(X)`` (plus
    ``_predict_proba`` / ``_decision_function`` when they have them).
    """

    #: See :attr:`BaseAdapter._parameter_constraints`.
    _parameter_constraints: dict = {}

    def _fit(self, X, y, sample_domain):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X, y=None, sample_domain=None):
        self._validate_params()
        X, y, sample_domain = prepare_fit(X, y, sample_domain)
        self.n_features_in_ = X.shape[1]
        with blas_scope(X):  # see shiftlab.methods._threads
            self._fit(X, y, sample_domain)
        return self

    def _call(self, method, X, sample_domain):
        check_is_fitted(self, "n_features_in_")
        X, _ = prepare_predict(X, sample_domain)
        if X.shape[1] != self.n_features_in_:  # as BaseAdapter.transform
            raise DataValidationError(
                f"X has {X.shape[1]} features but {type(self).__name__} was fitted with "
                f"{self.n_features_in_}."
            )
        with blas_scope(X):
            return getattr(self, method)(X)

    def predict(self, X, sample_domain=None):
        return self._call("_predict", X, sample_domain)

    @available_if(_has("_predict_proba"))
    def predict_proba(self, X, sample_domain=None):
        return self._call("_predict_proba", X, sample_domain)

    @available_if(_has("_decision_function"))
    def decision_function(self, X, sample_domain=None):
        return self._call("_decision_function", X, sample_domain)

    def score(self, X, y, sample_domain=None):
        """Accuracy (classification) or R^2 (regression) on the given rows."""
        return _default_score(self, X, y, sample_domain)


def _transform_steps(steps, X, sample_domain, check_after: int = 0):
    """Pass validated rows through fitted steps (adapters also receive the domains).

    ``check_after=k``: the rows may have missing values, which the first ``k`` steps
    impute (checked after them).
    """
    for i, (name, step) in enumerate(steps):
        if isinstance(step, BaseAdapter):
            X = step.transform(X, sample_domain)
        else:
            X = step.transform(X)
        if i + 1 == check_after:
            _check_imputed(X, name)
    return X


def _leading_transformers(steps) -> int:
    """How many plain transformers come before the first adapter (or the final step):
    the steps that may receive missing values to impute."""
    n = 0
    for _, step in steps[:-1]:
        if isinstance(step, BaseAdapter):
            break
        n += 1
    return n


@dataclass
class PipelinePrefix:
    """The first steps of a :class:`DAPipeline`, fitted on some training rows.

    Built by :func:`_fit_prefix` and completed by :meth:`DAPipeline._fit_from`, the one
    hook the pipeline keeps for model selection: ``fit`` is ``_fit_from`` of an empty
    prefix, and selection's runner (:mod:`shiftlab.selection._fastpath`) completes one
    prefix of label-free transformers per set of rows for every candidate that leaves
    those steps alone.

    Attributes
    ----------
    steps : list of (str, estimator)
        The fitted steps (shared, never refitted: later fits clone their own steps).
    X : ndarray
        The training rows as these steps output them.
    y, sample_domain : ndarray
        The validated training labels (target labels masked) and domains.
    weights : ndarray or None
        Product of the sample weights of the reweighting steps (``None`` if none).
    n_features_in : int
        Features of the rows given to the pipeline.
    """

    steps: list
    X: np.ndarray
    y: np.ndarray
    sample_domain: np.ndarray
    weights: np.ndarray | None
    n_features_in: int

    def transform(self, X, sample_domain=None) -> np.ndarray:
        """New rows (``sample_domain=None``: all target) through the prefix's steps."""
        n_impute = _leading_transformers([*self.steps, None])
        X, sample_domain = prepare_predict(X, sample_domain, allow_nan=n_impute > 0)
        return _transform_steps(self.steps, X, sample_domain, check_after=n_impute)


def _check_steps(steps) -> None:
    """Raise unless ``steps`` is a valid :class:`DAPipeline` chain."""
    if not steps:
        raise ValueError("DAPipeline needs at least one step (the final estimator).")
    names = [n for n, _ in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"DAPipeline step names must be unique, got {names}.")
    for name, step in steps[:-1]:
        if not (isinstance(step, BaseAdapter) or hasattr(step, "transform")):
            raise TypeError(
                f"Step {name!r} ({type(step).__name__}) is neither an adapter nor a "
                "transformer; only the last step may be a plain estimator."
            )


def _fit_prefix(steps, X, y, sample_domain, n_steps: int) -> PipelinePrefix:
    """Validate the training rows and fit the first ``n_steps`` of ``steps`` on them.

    The final estimator is never part of a prefix; ``n_steps=0`` gives the validated
    rows alone (what :meth:`DAPipeline.fit` starts from).
    """
    _check_steps(steps)
    if not 0 <= n_steps < len(steps):
        raise ValueError(
            f"n_steps must be in [0, {len(steps) - 1}] (the final estimator is "
            f"never part of a prefix), got {n_steps}."
        )
    n_impute = _leading_transformers(steps)
    X, y, sample_domain = prepare_fit(X, y, sample_domain, allow_nan=n_impute > 0)
    prefix = PipelinePrefix(
        steps=[], X=X, y=y, sample_domain=sample_domain,
        weights=None, n_features_in=X.shape[1],
    )
    return _fit_steps(prefix, steps[:n_steps], n_impute)


def _fit_steps(prefix: PipelinePrefix, steps, check_after: int = 0) -> PipelinePrefix:
    """Fit ``steps`` after the prefix's; the rows may have missing values until step
    ``check_after`` (counted over the whole pipeline), checked complete after it."""
    X, weights = prefix.X, prefix.weights
    fitted = list(prefix.steps)
    for name, step in steps:
        step = clone(step)
        if isinstance(step, BaseAdapter):
            X, w = step.fit_adapt(X, prefix.y, prefix.sample_domain)
            if w is not None:
                w = np.asarray(w, dtype=float)
                weights = w if weights is None else weights * w
        else:
            if X is prefix.X and prefix.steps:
                # A shared prefix's rows: a transformer fitting in place (copy=False)
                # must not change them under the other candidates.
                X = X.copy()
            X = step.fit_transform(X)
        fitted.append((name, step))
        if len(fitted) == check_after:
            _check_imputed(X, name)
    return PipelinePrefix(
        steps=fitted, X=X, y=prefix.y, sample_domain=prefix.sample_domain,
        weights=weights, n_features_in=prefix.n_features_in,
    )


def _final_has(name):
    def check(self):
        return hasattr(self.steps[-1][1], name)

    return check


class DAPipeline(MetaEstimatorMixin, BaseEstimator):
    """Chain of transformers and adapters ending with any scikit-learn estimator.

    At fit time every step sees all rows (source and target) with target labels
    masked; plain scikit-learn transformers are fitted *without* labels. Sample weights
    of reweighting adapters multiply along the chain. The final estimator is fitted on
    the adapted **source** rows only, with those weights; it must accept
    ``sample_weight`` when a reweighting adapter is present.

    The final step may also be a :class:`BaseDAEstimator`, which then receives all rows.

    Parameters
    ----------
    steps : list of (str, estimator)
        As in :class:`sklearn.pipeline.Pipeline`.

    Attributes
    ----------
    steps_ : list of (str, estimator)
        The fitted clones (the given steps are never modified).
    classes_ : ndarray
        Class labels seen in the source (classification only).
    """

    def __init__(self, steps: Sequence[tuple[str, object]]):
        self.steps = steps

    # sklearn's get_params/set_params for nested "name__param" keys.
    def get_params(self, deep=True):
        out = {"steps": self.steps}
        if deep:
            for name, step in self.steps:
                out[name] = step
                if hasattr(step, "get_params"):
                    for key, value in step.get_params(deep=True).items():
                        out[f"{name}__{key}"] = value
        return out

    def set_params(self, **params):
        if "steps" in params:
            self.steps = params.pop("steps")
        steps = list(self.steps)
        names = [n for n, _ in steps]
        nested: dict[str, dict] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in names:
                raise ValueError(
                    f"Invalid parameter {key!r} for DAPipeline; step names are {names}."
                )
            if not sub:
                steps[names.index(name)] = (name, value)
            else:
                nested.setdefault(name, {})[sub] = value
        for name, sub_params in nested.items():
            steps[names.index(name)][1].set_params(**sub_params)
        self.steps = steps
        return self

    def fit(self, X, y=None, sample_domain=None, **fit_params):
        """Fit every step, then the final estimator on adapted source rows.

        ``fit_params`` are forwarded to the final estimator's ``fit``.
        """
        return self._fit_from(_fit_prefix(self.steps, X, y, sample_domain, 0), **fit_params)

    def _fit_from(self, prefix: PipelinePrefix, **fit_params):
        """Fit the steps after a fitted prefix, then the final estimator (the selection hook).

        :meth:`fit` is this of an empty prefix. Model selection's runner
        (:class:`shiftlab.selection._fastpath.PipelineRunner`) passes a prefix of
        label-free leading transformers fitted once for many candidates (from
        :func:`_fit_prefix` on the template's steps); a subclass overriding :meth:`fit`
        gets none. The prefix's steps must be fitted versions of this pipeline's first
        steps (same names); they become the first entries of ``steps_``.
        """
        _check_steps(self.steps)
        n = len(prefix.steps)
        names = [name for name, _ in self.steps[:n]]
        if [name for name, _ in prefix.steps] != names:
            raise ValueError(
                f"The prefix fits steps {[name for name, _ in prefix.steps]}, but this "
                f"pipeline starts with {names}."
            )
        done = _fit_steps(prefix, self.steps[n:-1], _leading_transformers(self.steps))
        X, y, sample_domain = done.X, done.y, done.sample_domain
        self.n_features_in_ = done.n_features_in
        name, final = self.steps[-1]
        final = clone(final)
        if isinstance(final, BaseDAEstimator):
            final.fit(X, y, sample_domain)
        else:
            src = source_mask(sample_domain)
            if done.weights is not None:
                if not has_fit_parameter(final, "sample_weight"):
                    raise TypeError(
                        f"{type(final).__name__} does not accept sample_weight, which the "
                        "reweighting adapter needs; use an estimator that does (e.g. "
                        "LogisticRegression, SVC)."
                    )
                weights = _keep_every_class(done.weights[src], y[src])
                fit_params = {**fit_params, "sample_weight": weights}
            final.fit(X[src], y[src], **fit_params)
        self.steps_ = [*done.steps, (name, final)]
        if hasattr(final, "classes_"):
            self.classes_ = final.classes_
        return self

    # ---- prediction ---------------------------------------------------------
    def transform(self, X, sample_domain=None):
        """The representation the final estimator sees (used by feature-based scorers)."""
        check_is_fitted(self, "steps_")
        n_impute = _leading_transformers(self.steps_)
        X, sample_domain = prepare_predict(X, sample_domain, allow_nan=n_impute > 0)
        return _transform_steps(self.steps_[:-1], X, sample_domain, check_after=n_impute)

    def _final_call(self, method, X, sample_domain):
        Xt = self.transform(X, sample_domain)
        final = self.steps_[-1][1]
        if isinstance(final, BaseDAEstimator):
            if sample_domain is None:
                sample_domain = np.full(Xt.shape[0], DEFAULT_TARGET_DOMAIN)
            return getattr(final, method)(Xt, sample_domain)
        return getattr(final, method)(Xt)

    def predict(self, X, sample_domain=None):
        return self._final_call("predict", X, sample_domain)

    @available_if(_final_has("predict_proba"))
    def predict_proba(self, X, sample_domain=None):
        return self._final_call("predict_proba", X, sample_domain)

    @available_if(_final_has("decision_function"))
    def decision_function(self, X, sample_domain=None):
        return self._final_call("decision_function", X, sample_domain)

    def score(self, X, y, sample_domain=None):
        """Accuracy (classification) or R^2 (regression); ``sample_domain=None``: target."""
        return _default_score(self, X, y, sample_domain)

    @property
    def named_steps(self):
        return dict(getattr(self, "steps_", self.steps))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        last = self.steps[-1][1] if self.steps else None
        if last is not None and isinstance(last, ClassifierMixin):
            tags.estimator_type = "classifier"
        return tags


def make_da_pipeline(*steps) -> DAPipeline:
    """Build a :class:`DAPipeline` from steps, naming them after their classes.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import StandardScaler
    >>> from shiftlab.methods.base import make_da_pipeline
    >>> pipe = make_da_pipeline(StandardScaler(), LogisticRegression())
    >>> [name for name, _ in pipe.steps]
    ['standardscaler', 'logisticregression']
    """
    if not steps:
        raise ValueError("make_da_pipeline needs at least one step.")
    names: list[str] = []
    for step in steps:
        base = type(step).__name__.lower()
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return DAPipeline(list(zip(names, steps, strict=True)))


def seeded(estimator, seed: int):
    """``estimator`` with ``random_state=seed`` when it has one left at None.

    A method whose randomness is unseeded (calibration splits, random features,
    initialisations) gives another result on every fit: a benchmark job seeds it from
    the job's seed (so a run, its resume and a rerun agree), and
    :func:`~shiftlab.selection.method_pool` from its ``random_state``.
    """
    params = estimator.get_params(deep=False)
    if "random_state" in params and params["random_state"] is None:
        estimator.set_params(random_state=seed)
    return estimator
