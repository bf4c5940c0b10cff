"""Stored predictions: what fitting one candidate on one inner split leaves for the scorers.

The search fits each candidate (estimator + parameters) once per inner split and keeps a
:class:`CandidateRecord` of its outputs on the validation part. Every scorer, including
one added after the search, is a pure function of records, so scoring never refits
(circular validation, whose backward refit is cached, is the one exception).

Three objects travel to the scorers, and the split between them is what makes leakage of
target labels impossible by construction: the split's unsupervised view
(:class:`~shiftlab.selection._context.SplitContext`), one candidate's outputs
(:class:`CandidateRecord`, built from masked data only) and the target validation labels
only the oracle receives (:class:`~shiftlab.selection._context.SplitLabels`).

Where the rest lives (each name is still importable from here, the module they all lived
in: stored run folders pickled them under this path):

* :mod:`~shiftlab.selection._context`: ``SplitContext``, ``SplitLabels``,
  ``density_ratio``;
* :mod:`~shiftlab.selection._refit`: ``RefitRequest``, ``FitCache`` (circular
  validation's backward fits);
* :mod:`~shiftlab.selection._fastpath`: how a candidate is fitted and asked for its
  outputs cheaply (the runners), ``call_with_domain``, ``accepts_sample_domain``,
  ``candidate_model``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from shiftlab.selection._context import SplitContext, SplitLabels, density_ratio
from shiftlab.selection._fastpath import (
    CandidateRunner,
    Fitted,
    RowSet,
    accepts_sample_domain,
    call_with_domain,
    candidate_model,
    runner_for,
)
from shiftlab.selection._refit import FitCache, RefitRequest

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
]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


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


#: What the search records of a model, per kind of task.
MODEL_OUTPUTS = {
    "classification": ("predict", "predict_proba", "decision_function"),
    "regression": ("predict",),
}


def as_float(a):
    """``a`` as a float array, ``None`` kept."""
    return None if a is None else np.asarray(a, dtype=float)


def _candidate_rows(context: SplitContext) -> RowSet:
    """The split's training rows, and the parts every candidate's outputs are recorded
    on: source and target validation rows, and MixVal's probes (classification)."""
    parts = {"source": (context.X_source_val, context.sample_domain_source_val)}
    if len(context.X_target_val):
        parts["target"] = (context.X_target_val, context.sample_domain_target_val)
        if context.kind == "classification":
            parts["mix"] = (context.mix_inputs(), context.sample_domain_target_val)
    return RowSet(context.X_train, context.y_train, context.sample_domain_train, parts)


def _fill_record(rec: CandidateRecord, runner: CandidateRunner, fitted: Fitted,
                 context: SplitContext, store_features: bool, store_decision=True) -> None:
    """Predictions, probabilities, decision values and features of the validation rows.

    Decision values are recorded only with ``store_decision`` or when the model has no
    ``predict_proba``: scorers read probabilities when they exist, and for a kernel
    machine each output is one more pass over the support vectors (SVC's
    ``decision_function`` was 8% of a protocol job). The MixVal probes need predictions
    only.
    """
    model, methods = fitted.model, MODEL_OUTPUTS[context.kind]
    lean = not store_decision and hasattr(model, "predict_proba")
    wanted = tuple(m for m in methods if m != "decision_function") if lean else methods
    outs = runner.outputs(fitted, wanted, features=store_features, light=("mix",))
    if lean and context.kind == "classification" and (
        outs["source"].get("predict_proba") is None
    ):
        # predict_proba exists but gave nothing (unavailable for these parameters):
        # the decision values stand in for the probabilities after all.
        outs = runner.outputs(fitted, methods, features=store_features, light=("mix",))
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
    runner = runner_for(estimator)
    model = runner.candidate(params)
    # One row set per split: what the runner shares between candidates lives in it.
    rows = context.cached(("fastpath", "candidate rows"), lambda: _candidate_rows(context))
    t0 = time.perf_counter()
    try:
        fitted = runner.fit(model, params, rows)
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
    _fill_record(rec, runner, fitted, context, store_features, store_decision)
    if store_features and rec.features_source_val is None and not hasattr(model, "transform"):
        rec.features_source_val = np.asarray(Xs, dtype=float).reshape(len(Xs), -1)
        rec.features_target_val = np.asarray(Xt, dtype=float).reshape(len(Xt), -1)
    rec.score_time = time.perf_counter() - t0
    if store_estimator:
        rec.estimator = model
    return rec
