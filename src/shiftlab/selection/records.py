"""Stored predictions: what fitting one candidate on one inner split leaves for the scorers.

The search fits each candidate (estimator + parameters) once per inner split and keeps a
:class:`CandidateRecord` of its outputs on the validation part. Every scorer, including
one added after the search, is a pure function of records, so scoring never refits
(circular validation, whose backward refit is cached, is the one exception).

Three objects travel to the scorers, and the split between them is what makes leakage of
target labels impossible by construction:

:class:`SplitContext`
    The *unsupervised* view of an inner split, shared by all candidates: source
    validation rows with their labels, target validation rows **without** labels, the
    training rows with target labels masked, the mixup probes of MixVal and the
    density-ratio weights of IW/DEV (computed once per split, then cached).
:class:`CandidateRecord`
    One candidate's outputs on that split: predictions, probabilities / decision values,
    features (``transform``) and fit time. Built from masked data only.
:class:`SplitLabels`
    The true labels of the target validation rows. Only the search holds it, and only
    scorers flagged ``uses_target_labels`` (the oracle) ever receive it.
"""

from __future__ import annotations

import functools
import inspect
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_memory

from shiftlab.data.convention import is_masked, label_kind
from shiftlab.exceptions import TargetLabelLeakError
from shiftlab.methods.base import DAPipeline

__all__ = [
    "MODEL_OUTPUTS",
    "CandidateRecord",
    "FitCache",
    "RefitRequest",
    "SplitContext",
    "SplitLabels",
    "accepts_sample_domain",
    "as_float",
    "call_with_domain",
    "candidate_model",
    "density_ratio",
    "fit_candidate",
    "model_outputs",
]


# --------------------------------------------------------------------------- helpers
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


def candidate_model(estimator, params: dict):
    """An unfitted ``clone(estimator).set_params(**params)``.

    Estimators that can do it cheaper say so with a ``with_params`` method
    (:meth:`~shiftlab.methods.DAPipeline.with_params` shares the steps ``params`` leave
    alone).
    """
    with_params = getattr(estimator, "with_params", None)
    if with_params is not None:
        return with_params(params)
    return clone(estimator).set_params(**params)


def _shared_prefix(cache: dict, rows_key, estimator, params, X, y, sample_domain):
    """The leading steps of ``estimator`` that candidates setting ``params`` share.

    Fitted on ``(X, y, sample_domain)`` once per ``rows_key`` (rows that are the same
    for every candidate) and kept in ``cache``; ``None`` when ``estimator`` has no such
    steps (see :meth:`~shiftlab.methods.DAPipeline.shareable_prefix`).
    """
    shareable = getattr(estimator, "shareable_prefix", None)
    n_steps = shareable(params) if shareable is not None else 0
    if not n_steps:
        return None
    key = ("prefix", id(estimator), rows_key, n_steps)
    if key not in cache:
        # The estimator itself is kept in the cached value, so its id is not reused.
        cache[key] = (estimator, estimator.fit_prefix(X, y, sample_domain, n_steps))
    return cache[key][1]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def density_ratio(X_source, X_target, X_eval, estimator=None, clip: float = 1e-6) -> np.ndarray:
    """Importance weights :math:`w(x) = p_T(x) / p_S(x)` by probabilistic classification.

    A domain classifier ``c`` is trained to tell target (1) from source (0); by Bayes'
    rule :math:`p_T(x)/p_S(x) = (n_S / n_T)\\,c(x) / (1 - c(x))` (Bickel et al., 2009).

    Parameters
    ----------
    X_source, X_target : ndarray
        Rows the classifier is trained on.
    X_eval : ndarray
        Rows at which the ratio is evaluated.
    estimator : classifier with predict_proba, optional
        Default: standardisation then logistic regression.
    clip : float, default=1e-6
        Probabilities are clipped to ``[clip, 1 - clip]`` so weights stay finite.

    Returns
    -------
    ndarray of shape (n_eval,)
    """
    X_source = np.asarray(X_source, dtype=float).reshape(len(X_source), -1)
    X_target = np.asarray(X_target, dtype=float).reshape(len(X_target), -1)
    X_eval = np.asarray(X_eval, dtype=float).reshape(len(X_eval), -1)
    if estimator is None:
        steps = [StandardScaler(), LogisticRegression(max_iter=1000)]
        if np.isnan(X_source).any() or np.isnan(X_target).any() or np.isnan(X_eval).any():
            # Rows with missing values (for a pipeline that imputes them itself): the
            # domain classifier imputes them too.
            steps.insert(0, SimpleImputer(keep_empty_features=True))
        estimator = make_pipeline(*steps)
    clf = clone(estimator)
    Xd = np.concatenate([X_source, X_target])
    yd = np.concatenate([np.zeros(len(X_source)), np.ones(len(X_target))])
    clf.fit(Xd, yd)
    col = list(clf.classes_).index(1.0)
    p = np.clip(clf.predict_proba(X_eval)[:, col], clip, 1 - clip)
    return (len(X_source) / len(X_target)) * p / (1 - p)


# --------------------------------------------------------------------------- records
@dataclass
class SplitLabels:
    """Evaluator-only: true labels of the target validation rows of one inner split.

    Only scorers with ``uses_target_labels=True`` (the supervised oracle) receive it.
    """

    split: int
    y_target_val: np.ndarray | None

    @property
    def available(self) -> bool:
        return self.y_target_val is not None


@dataclass
class SplitContext:
    """Unsupervised view of one inner split, shared by every candidate and scorer.

    Holds no target label: the constructor raises
    :class:`~shiftlab.exceptions.TargetLabelLeakError` if the training labels show one.

    Parameters
    ----------
    split : int
        Inner split id.
    X_source_val, y_source_val : ndarray
        Source validation rows and their labels.
    X_target_val : ndarray
        Target validation rows (no labels).
    sample_domain_source_val, sample_domain_target_val : ndarray, optional
        Their domain ids (default 1 and -2).
    X_train, y_train, sample_domain_train : ndarray, optional
        Training rows of the split (target labels masked); needed by the split-level
        density ratio and by circular validation.
    mix_perm : ndarray, optional
        Permutation of the target validation rows pairing each row with a partner for
        MixVal's mixup probes (drawn once per split, shared by all candidates). Default:
        ``RandomState(mix_seed).permutation(n_target)`` when ``mix_seed`` is set (skada's
        MixVal draws the same with ``random_state=mix_seed``), else drawn from ``seed``.
    mix_seed : int, optional
        See ``mix_perm``.
    mix_lambda : float, default=0.55
        Mixup coefficient of the probes (Hu et al., 2023).
    source_val_weights : ndarray, optional
        Importance weights of the source validation rows. When ``None`` they are
        estimated on first use by :func:`density_ratio` (domain classifier trained on the
        split's source-train vs target-train rows) and cached.
    weight_estimator : classifier, optional
        Domain classifier of that estimate.
    seed : int, default=0
        Seed of the split's randomised scorer internals (k-means, cross-fitting).
    kind : {"classification", "regression"}, optional
        Inferred from ``y_source_val`` when omitted.
    memory : joblib.Memory, str or None
        Disk cache for the density-ratio weights, shared across searches (and processes)
        that see the same rows.
    """

    split: int
    X_source_val: np.ndarray
    y_source_val: np.ndarray
    X_target_val: np.ndarray
    sample_domain_source_val: np.ndarray | None = None
    sample_domain_target_val: np.ndarray | None = None
    X_train: np.ndarray | None = None
    y_train: np.ndarray | None = None
    sample_domain_train: np.ndarray | None = None
    mix_perm: np.ndarray | None = None
    mix_seed: int | None = None
    mix_lambda: float = 0.55
    source_val_weights: np.ndarray | None = None
    weight_estimator: Any = None
    seed: int = 0
    kind: str | None = None
    memory: Any = None
    _cache: dict = field(default_factory=dict, repr=False, init=False, compare=False)

    def __post_init__(self):
        self.X_source_val = np.asarray(self.X_source_val)
        self.y_source_val = np.asarray(self.y_source_val)
        self.X_target_val = np.asarray(self.X_target_val)
        if self.sample_domain_source_val is None:
            self.sample_domain_source_val = np.ones(len(self.X_source_val), dtype=np.int64)
        if self.sample_domain_target_val is None:
            self.sample_domain_target_val = np.full(len(self.X_target_val), -2, dtype=np.int64)
        if self.kind is None:
            self.kind = label_kind(self.y_source_val)
        if self.y_train is not None:
            y_train = np.asarray(self.y_train)
            sd = np.asarray(self.sample_domain_train)
            if (~is_masked(y_train[sd < 0], self.kind)).any():
                raise TargetLabelLeakError(
                    "SplitContext received visible target labels in y_train; the search "
                    "masks them before building contexts (shiftlab.data.mask_target_labels)."
                )
        if self.mix_perm is None:
            n_target = len(self.X_target_val)
            if self.mix_seed is not None:
                self.mix_perm = np.random.RandomState(self.mix_seed).permutation(n_target)
            else:
                self.mix_perm = np.random.default_rng(self.seed).permutation(n_target)

    # ---- split-level resources shared by all candidates -------------------------
    @property
    def source_train_mask(self) -> np.ndarray:
        return np.asarray(self.sample_domain_train) >= 0

    def mix_inputs(self) -> np.ndarray:
        """MixVal probes: ``lam * x_i + (1 - lam) * x_perm(i)`` over target validation rows."""
        Xt = np.asarray(self.X_target_val, dtype=float)
        return self.mix_lambda * Xt + (1 - self.mix_lambda) * Xt[self.mix_perm]

    def importance_weights(self) -> np.ndarray:
        """Density-ratio weights of the source validation rows (computed once, cached).

        Estimated in input space from the split's *training* rows (source-train vs
        target-train), so they do not depend on the candidate and are shared by IW, DEV
        and DEVN for all candidates.
        """
        if self.source_val_weights is not None:
            return np.asarray(self.source_val_weights, dtype=float)
        if "weights" not in self._cache:
            if self.X_train is not None and self.sample_domain_train is not None:
                src = self.source_train_mask
                Xs, Xt = np.asarray(self.X_train)[src], np.asarray(self.X_train)[~src]
            else:  # hand-built contexts: fall back to the validation rows
                Xs, Xt = self.X_source_val, self.X_target_val
            func = density_ratio
            if self.memory is not None:
                func = check_memory(self.memory).cache(density_ratio)
            self._cache["weights"] = func(
                Xs, Xt, self.X_source_val, estimator=self.weight_estimator
            )
        return self._cache["weights"]

    def shared_prefix(self, estimator, params):
        """The label-free first steps of ``estimator`` fitted on this split's training rows.

        ``None`` unless ``estimator`` is a pipeline whose leading transformers ``params``
        leave alone (:meth:`~shiftlab.methods.DAPipeline.shareable_prefix`); those steps
        come out the same for every such candidate, so they are fitted once per split.
        """
        return _shared_prefix(self._cache, "train", estimator, params,
                              self.X_train, self.y_train, self.sample_domain_train)

    def cached(self, key, compute):
        """Generic per-split cache for other candidate-independent resources."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def __getstate__(self):  # never ship caches between processes
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state


@dataclass
class CandidateRecord:
    """What one candidate produced on one inner split (no target label inside).

    Attributes
    ----------
    candidate : int
        Index of the candidate in the parameter grid.
    params : dict
        Its parameters.
    split : int
        Inner split id.
    classes : ndarray or None
        Class labels, aligned with the columns of ``proba_*`` / ``decision_*``.
    pred_source_val, pred_target_val : ndarray
        Predictions on the validation rows.
    proba_source_val, proba_target_val : ndarray or None
        Class probabilities (``predict_proba``) when the model has them.
    decision_source_val, decision_target_val : ndarray or None
        Decision values (``decision_function``) when the model has them.
    features_source_val, features_target_val : ndarray or None
        ``transform`` outputs (the representation the final estimator sees); the raw
        inputs for models without ``transform``. ``None`` when not stored.
    pred_target_mix : ndarray or None
        Predictions on the split's MixVal probes.
    fit_time, score_time : float
        Seconds to fit and to compute the outputs.
    error : str or None
        Set when the fit failed; the record's scores are then NaN.
    estimator : object or None
        The fitted model, kept only with ``store_estimators=True``.
    """

    candidate: int
    params: dict
    split: int
    classes: np.ndarray | None = None
    pred_source_val: np.ndarray | None = None
    pred_target_val: np.ndarray | None = None
    proba_source_val: np.ndarray | None = None
    proba_target_val: np.ndarray | None = None
    decision_source_val: np.ndarray | None = None
    decision_target_val: np.ndarray | None = None
    features_source_val: np.ndarray | None = None
    features_target_val: np.ndarray | None = None
    pred_target_mix: np.ndarray | None = None
    fit_time: float = float("nan")
    score_time: float = float("nan")
    error: str | None = None
    estimator: Any = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def probabilities(self, part: str = "target_val") -> np.ndarray | None:
        """Class probabilities of a part (``"source_val"`` or ``"target_val"``).

        ``predict_proba`` when the model has it; otherwise a softmax of the decision values
        (a logistic of the margin for binary problems). ``None`` if neither exists.
        """
        proba = getattr(self, f"proba_{part}")
        if proba is not None:
            return np.asarray(proba, dtype=float)
        dec = getattr(self, f"decision_{part}")
        if dec is None:
            return None
        dec = np.asarray(dec, dtype=float)
        if dec.ndim == 1:
            dec = np.column_stack([-dec / 2, dec / 2])  # softmax of (-m/2, m/2) = logistic(m)
        return _softmax(dec)


# --------------------------------------------------------------------------- refits
@dataclass
class RefitRequest:
    """A derived fit a scorer needs (circular validation's backward model).

    The search executes it once per ``key`` (cached) and returns the predictions of the
    fitted model on ``X_predict``.
    """

    key: tuple
    params: dict
    X_fit: np.ndarray
    y_fit: np.ndarray
    sample_domain_fit: np.ndarray
    X_predict: np.ndarray
    sample_domain_predict: np.ndarray
    constant: Any = None  # when set, skip the fit: the model predicts this constant
    #: Requests with the same ``rows_key`` fit on the same rows and predict the same
    #: rows (labels may differ): their label-free leading steps are fitted once.
    rows_key: Any = None


class FitCache:
    """Cache of derived fits' predictions, keyed by :attr:`RefitRequest.key`.

    ``n_fits`` counts the fits actually run (a cache hit runs none).
    """

    def __init__(self):
        self._store: dict = {}
        self.n_fits = 0

    def __contains__(self, key) -> bool:
        return key in self._store

    def __getitem__(self, key):
        return self._store[key]

    def __len__(self) -> int:
        return len(self._store)

    def run(self, estimator, requests, n_jobs=None) -> None:
        """Execute the requests whose key is not cached yet (in parallel with joblib)."""
        from joblib import Parallel, delayed

        todo, seen = [], set()
        for r in requests:
            if r.key not in self._store and r.key not in seen:
                seen.add(r.key)
                todo.append(r)
        if not todo:
            return
        prefixes: dict = {}  # shared prefixes and their outputs, for this run only
        shared = [_shared_refit_prefix(estimator, r, prefixes) for r in todo]
        outs = Parallel(n_jobs=n_jobs)(
            delayed(_run_refit)(estimator, r, pre) for r, pre in zip(todo, shared, strict=True)
        )
        for r, out in zip(todo, outs, strict=True):
            self._store[r.key] = out
            self.n_fits += r.constant is None


def _shared_refit_prefix(estimator, request: RefitRequest, prefixes: dict):
    """``(prefix, X_predict through it)`` shared by the requests of one ``rows_key``.

    ``None`` when there is nothing to share (no key, a constant, a failed prefix fit:
    the request then fits on its own and reports its own error).
    """
    if request.rows_key is None or request.constant is not None:
        return None
    try:
        prefix = _shared_prefix(prefixes, request.rows_key, estimator, request.params,
                                request.X_fit, request.y_fit, request.sample_domain_fit)
        if prefix is None:
            return None
        key = (id(prefix), "predict")
        if key not in prefixes:
            prefixes[key] = prefix.transform(request.X_predict, request.sample_domain_predict)
        return prefix, prefixes[key]
    except Exception:
        return None


def _run_refit(estimator, request: RefitRequest, shared=None):
    if request.constant is not None:
        return np.full(len(request.X_predict), request.constant)
    model = candidate_model(estimator, request.params)
    try:
        if shared is None:
            model.fit(request.X_fit, request.y_fit, sample_domain=request.sample_domain_fit)
            pred = call_with_domain(
                model, "predict", request.X_predict, request.sample_domain_predict
            )
        else:
            prefix, X_pred = shared
            model.fit_after(prefix, y=request.y_fit)
            pred = model.final_outputs(
                X_pred, request.sample_domain_predict, ("predict",),
                skip_steps=len(prefix.steps),
            )["predict"]
        return np.asarray(pred)
    except Exception as exc:  # a failed backward fit scores NaN, like a failed candidate
        warnings.warn(f"Derived refit {request.key} failed: {exc!r}", stacklevel=2)
        return None


# --------------------------------------------------------------------------- fitting
def _maybe(model, method, X, sd):
    if not hasattr(model, method) or len(X) == 0:
        return None
    try:
        return np.asarray(call_with_domain(model, method, X, sd), dtype=float)
    except (AttributeError, NotImplementedError):
        return None


#: What the search records of a model, per kind of task.
MODEL_OUTPUTS = {
    "classification": ("predict", "predict_proba", "decision_function"),
    "regression": ("predict",),
}


def as_float(a):
    """``a`` as a float array, ``None`` kept."""
    return None if a is None else np.asarray(a, dtype=float)


def model_outputs(model, X, sample_domain, methods, features: bool, skip_steps=0) -> dict:
    """``{"predict": ..., <other methods>: ..., "features": ...}`` of ``model`` on ``X``.

    A :class:`~shiftlab.methods.DAPipeline` computes them from one adapter pass
    (:meth:`~shiftlab.methods.DAPipeline.final_outputs`); other models through one call
    per output. Outputs the model lacks are absent. ``skip_steps > 0``: ``X`` already
    went through the pipeline's first steps (a shared prefix).
    """
    if skip_steps:
        return model.final_outputs(X, sample_domain, methods, skip_steps=skip_steps)
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


def _stacked_call(func, parts: dict) -> dict:
    """``func`` of every part's ``(X, sample_domain)`` in one call on the stacked rows, cut
    back into parts: ``{name: output}``, or ``{name: {key: output}}`` when ``func`` returns
    a dict. Only for functions that treat rows independently."""
    out = func(np.concatenate([X for X, _ in parts.values()]),
               np.concatenate([sd for _, sd in parts.values()]))
    ends = np.cumsum([len(X) for X, _ in parts.values()])
    cut = {}
    for (name, (X, _)), end in zip(parts.items(), ends, strict=True):
        rows = slice(end - len(X), end)
        cut[name] = ({key: value[rows] for key, value in out.items()}
                     if isinstance(out, dict) else out[rows])
    return cut


def _fill_record(rec, model, context, store_features, prefix=None, store_decision=True) -> None:
    """Predictions, probabilities, decision values and features of the validation rows.

    Decision values are recorded only with ``store_decision`` or when the model has no
    ``predict_proba``: scorers read probabilities when they exist, and for a kernel
    machine each output is one more pass over the support vectors (SVC's
    ``decision_function`` was 8% of a protocol job).

    With a shared ``prefix`` (see :meth:`SplitContext.shared_prefix`), the rows go
    through its steps once per split, not once per candidate. A
    :class:`~shiftlab.methods.DAPipeline` gets all parts (source and target validation
    rows, MixVal probes) in one call: its steps adapt rows one by one, so stacking them
    only saves the per-call overhead, which dominates on validation folds.
    """
    methods = MODEL_OUTPUTS[context.kind]
    skip_decision = not store_decision and hasattr(model, "predict_proba")
    if skip_decision:
        methods = tuple(m for m in methods if m != "decision_function")
    Xs, sds = context.X_source_val, context.sample_domain_source_val
    Xt, sdt = context.X_target_val, context.sample_domain_target_val
    parts = {"source": (Xs, sds)}
    if len(Xt):
        parts["target"] = (Xt, sdt)
        if context.kind == "classification":
            parts["mix"] = (context.mix_inputs(), sdt)
    skip = 0
    if prefix is not None:
        skip = len(prefix.steps)
        # Once per split, all parts in one call (the prefix's transformers work row by
        # row, like the adapters below).
        done = context.cached((id(prefix), "validation parts"),
                              lambda: _stacked_call(prefix.transform, parts))
        parts = {name: (done[name], sd) for name, (_, sd) in parts.items()}
    if isinstance(model, DAPipeline):
        outs = _stacked_call(
            lambda X, sd: model_outputs(model, X, sd, methods, store_features, skip), parts
        )
    else:
        outs = {
            name: model_outputs(model, X, sd, ("predict",) if name == "mix" else methods,
                                 store_features and name != "mix", skip)
            for name, (X, sd) in parts.items()
        }
    src, tgt = outs["source"], outs.get("target", {})
    rec.pred_source_val = np.asarray(src["predict"])
    rec.pred_target_val = np.asarray(tgt["predict"]) if tgt else None
    if context.kind == "classification":
        rec.classes = np.asarray(getattr(model, "classes_", np.unique(context.y_source_val)))
        rec.proba_source_val = as_float(src.get("predict_proba"))
        rec.proba_target_val = as_float(tgt.get("predict_proba"))
        rec.decision_source_val = as_float(src.get("decision_function"))
        rec.decision_target_val = as_float(tgt.get("decision_function"))
        if "mix" in outs:
            rec.pred_target_mix = np.asarray(outs["mix"]["predict"])
        if skip_decision and rec.proba_source_val is None:
            # predict_proba exists but gave nothing (unavailable for these parameters):
            # the decision values stand in for the probabilities after all.
            _fill_record(rec, model, context, store_features, prefix, store_decision=True)
            return
    if store_features:
        rec.features_source_val = as_float(src.get("features"))
        rec.features_target_val = as_float(tgt.get("features"))


def fit_candidate(
    estimator,
    params: dict,
    candidate: int,
    context: SplitContext,
    *,
    store_features: bool = True,
    store_decision: bool = True,
    store_estimator: bool = False,
    error_score="nan",
) -> CandidateRecord:
    """Fit one candidate on the training rows of a split and record its outputs.

    Parameters
    ----------
    estimator : estimator with ``fit(X, y, sample_domain)``
        Cloned, then given ``params``.
    params : dict
    candidate : int
    context : SplitContext
        Must carry the training rows (``X_train`` ...), whose target labels are masked.
    store_features : bool, default=True
        Keep ``transform`` outputs on the validation rows.
    store_decision : bool, default=True
        Keep ``decision_function`` outputs even when the model has ``predict_proba``
        (without it, they are kept only as a stand-in for missing probabilities).
    store_estimator : bool, default=False
        Keep the fitted model in the record.
    error_score : "nan" or "raise", default="nan"
        On a failed fit, return a record with ``error`` set, or re-raise.

    Returns
    -------
    CandidateRecord
    """
    rec = CandidateRecord(candidate=candidate, params=dict(params), split=context.split)
    model = candidate_model(estimator, params)
    t0 = time.perf_counter()
    try:
        prefix = context.shared_prefix(estimator, params)
        if prefix is None:
            model.fit(context.X_train, context.y_train, sample_domain=context.sample_domain_train)
        else:
            model.fit_after(prefix)
    except Exception as exc:
        if error_score == "raise":
            raise
        warnings.warn(
            f"Candidate {candidate} {params} failed to fit on inner split {context.split}: "
            f"{exc!r}. Its scores are NaN.",
            stacklevel=2,
        )
        rec.error = repr(exc)
        return rec
    rec.fit_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    Xs, Xt = context.X_source_val, context.X_target_val
    _fill_record(rec, model, context, store_features, prefix, store_decision)
    if store_features and rec.features_source_val is None and not hasattr(model, "transform"):
        rec.features_source_val = np.asarray(Xs, dtype=float).reshape(len(Xs), -1)
        rec.features_target_val = np.asarray(Xt, dtype=float).reshape(len(Xt), -1)
    rec.score_time = time.perf_counter() - t0
    if store_estimator:
        rec.estimator = model
    return rec
