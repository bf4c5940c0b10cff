"""The results row: its columns, its markers, its target metrics and its constructors.

A search's table (:meth:`~shiftlab.selection.search.OuterSplitSearch.table`) has one row
per (outer split, candidate, scorer), plus one per aggregation; a benchmark adds one
baseline row per outer split (:func:`baseline_row`) and its provenance columns
(:mod:`shiftlab.bench.provenance`). Every writer builds its rows here and every reader
(:mod:`shiftlab.report.aggregate`) takes the markers from here.

Columns, in order::

    outer_split, candidate, params, [param_<name> ...], scorer, oracle, inner_score,
    inner_score_std, n_inner, rank, selected, test_<metric> ..., mean_fit_time

and ``role`` in a benchmark's rows (see :data:`ROLES`, :func:`result_roles`).

Markers:

* ``scorer == BASELINE_SCORER`` ("none"): a baseline fitted once, which no scorer ranked
  (candidate :data:`BASELINE_CANDIDATE`, rank 1, selected);
* ``candidate == AGGREGATION_CANDIDATE`` (-1): the weighted ensemble of an aggregation
  (IWA), whose ``params`` are the weights by candidate;
* ``oracle``: True for rows that read target labels, the oracle scorer's
  (:data:`ORACLE_SCORER`) and the target-only baselines'.
"""

from __future__ import annotations

import json
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.metrics import mean_squared_error, r2_score, roc_auc_score

from shiftlab.selection.metrics import binary_roc_auc, label_metrics

__all__ = [
    "AGGREGATION_CANDIDATE",
    "BASELINE_CANDIDATE",
    "BASELINE_SCORER",
    "CLASSIFICATION_METRICS",
    "METHOD",
    "ORACLE_SCORER",
    "POOL",
    "POOL_METHOD_PREFIX",
    "REGRESSION_METRICS",
    "ROLE",
    "ROLES",
    "SOURCE_ONLY",
    "TARGET_ONLY",
    "aggregation_row",
    "baseline_row",
    "candidate_key",
    "params_text",
    "prediction_metrics",
    "result_roles",
    "result_row",
    "target_metrics",
]

# ---------------------------------------------------------------- column names
OUTER_SPLIT = "outer_split"
CANDIDATE = "candidate"
PARAMS = "params"
SCORER = "scorer"
ORACLE = "oracle"
INNER_SCORE = "inner_score"
INNER_SCORE_STD = "inner_score_std"
N_INNER = "n_inner"
RANK = "rank"
SELECTED = "selected"
FIT_TIME = "mean_fit_time"
#: Which part a benchmark row plays (one of :data:`ROLES`).
ROLE = "role"
#: The column a benchmark's provenance names the method in.
METHOD_COLUMN = "method"

#: Outer test metrics (columns ``test_<name>`` of the results table).
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc")
REGRESSION_METRICS = ("mse", "r2")

# -------------------------------------------------------------------- markers
#: Scorer of a baseline row: fitted once, no selection.
BASELINE_SCORER = "none"
BASELINE_CANDIDATE = 0
#: Candidate of an aggregation's row (a weighted ensemble of candidates).
AGGREGATION_CANDIDATE = -1
#: Name of the oracle scorer, the one that reads target labels.
ORACLE_SCORER = "oracle"
#: ``method`` of a cross-method pool's rows: the prefix, then the selector's name.
POOL_METHOD_PREFIX = "shiftlab: "

# ---------------------------------------------------------------------- roles
#: Trained on source labels only, without adaptation: the reference a method must beat
#: (the bench's Train Src, the SourceOnly methods).
SOURCE_ONLY = "source_only"
#: Trained on target labels: an upper bound, never a realistic result (Train Tgt,
#: the deep TargetOnly).
TARGET_ONLY = "target_only"
#: A domain adaptation method searched by the protocol.
METHOD = "method"
#: A selector choosing among every method's candidates (``shiftlab: <selector>``).
POOL = "pool"
ROLES = (SOURCE_ONLY, TARGET_ONLY, METHOD, POOL)
#: Roles of rows stored before the ``role`` column existed, by their method name.
_STORED_ROLES = {"Train Src": SOURCE_ONLY, "SourceOnly": SOURCE_ONLY,
                 "Train Tgt": TARGET_ONLY, "TargetOnly": TARGET_ONLY}


class Outputs(Protocol):
    """What the target metrics read of a refitted model (an ``OuterRecord``)."""

    pred: np.ndarray | None
    proba: np.ndarray | None
    decision: np.ndarray | None
    classes: np.ndarray | None


# ------------------------------------------------------------- target metrics
def prediction_metrics(kind: str, y_true, pred, *, proba=None, decision=None,
                       classes=None) -> dict[str, float]:
    """Outer test metrics (``test_<name>``) of predictions on the labelled target rows.

    NaN when there is no prediction or no label; ROC AUC from ``proba`` (else
    ``decision``) for two classes, one-vs-rest from ``proba`` for more.
    """
    names = CLASSIFICATION_METRICS if kind == "classification" else REGRESSION_METRICS
    out = {f"test_{m}": float("nan") for m in names}
    if pred is None or y_true is None or len(y_true) == 0:
        return out
    if kind == "regression":
        out["test_mse"] = float(mean_squared_error(y_true, pred))
        out["test_r2"] = float(r2_score(y_true, pred)) if len(y_true) > 1 else float("nan")
        return out
    out.update(label_metrics(y_true, pred))
    try:
        if classes is not None and len(classes) == 2:
            if proba is not None:
                s = proba[:, 1]
            elif decision is not None:
                s = decision.ravel()
            else:
                s = None
            if s is not None:
                out["test_roc_auc"] = binary_roc_auc(y_true == classes[1], s)
        elif classes is not None and proba is not None:
            out["test_roc_auc"] = float(
                roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
            )
    except ValueError:  # a class missing from the test rows, unknown labels, ...
        pass
    return out


def target_metrics(kind: str, y_true, rec: Outputs | None) -> dict[str, float]:
    """Outer test metrics of a refitted candidate on the labelled target test rows."""
    if rec is None:
        return prediction_metrics(kind, y_true, None)
    return prediction_metrics(kind, y_true, rec.pred, proba=rec.proba, decision=rec.decision,
                              classes=rec.classes)


# ---------------------------------------------------------------- constructors
def params_text(params: dict) -> str:
    """A candidate's parameters as the ``params`` column shows them (sorted JSON)."""
    return json.dumps(params, sort_keys=True, default=repr)


def _param_value(value):
    """A table-friendly parameter value: scalars as they are, objects as their repr."""
    if value is None or isinstance(value, (bool, int, float, str, np.number)):
        return value.item() if isinstance(value, np.number) else value
    return repr(value)


def candidate_key(outer_split: int, candidate: int, params: dict, param_names) -> dict:
    """The columns that name a candidate: outer split, index, params, ``param_<name>``."""
    return {
        OUTER_SPLIT: outer_split,
        CANDIDATE: candidate,
        PARAMS: params_text(params),
        **{f"param_{k}": _param_value(params.get(k)) for k in param_names},
    }


def result_row(key: dict, scorer: str, *, oracle: bool, inner_score: float,
               inner_score_std: float, n_inner: int, rank: float, selected: bool,
               metrics: dict[str, float], fit_time: float) -> dict:
    """One results row: ``key`` (see :func:`candidate_key`), what ``scorer`` made of the
    candidate, its target ``metrics`` and its mean fit time."""
    return {
        **key,
        SCORER: scorer,
        ORACLE: oracle,
        INNER_SCORE: inner_score,
        # The spread over inner splits (NaN with fewer than two scores).
        INNER_SCORE_STD: inner_score_std,
        N_INNER: n_inner,
        RANK: rank,
        SELECTED: selected,
        **metrics,
        FIT_TIME: fit_time,
    }


def _unranked_row(outer_split: int, candidate: int, params: str, scorer: str, *,
                  oracle: bool, n_inner: int, metrics: dict[str, float],
                  fit_time: float) -> dict:
    """A row no inner score ranked (a baseline, an aggregation): selected, rank 1."""
    key = {OUTER_SPLIT: outer_split, CANDIDATE: candidate, PARAMS: params}
    return result_row(key, scorer, oracle=oracle, inner_score=float("nan"),
                      inner_score_std=float("nan"), n_inner=n_inner, rank=1.0,
                      selected=True, metrics=metrics, fit_time=fit_time)


def aggregation_row(outer_split: int, scorer: str, weights: np.ndarray, *, n_inner: int,
                    metrics: dict[str, float], fit_time: float) -> dict:
    """The row of an aggregation: candidate -1, ``params`` its non-zero weights."""
    used = np.flatnonzero(np.nan_to_num(weights))
    params = json.dumps({str(c): round(float(weights[c]), 6) for c in used})
    return _unranked_row(outer_split, AGGREGATION_CANDIDATE, params, scorer, oracle=False,
                         n_inner=n_inner, metrics=metrics, fit_time=fit_time)


def baseline_row(outer_split: int, kind: str, y_test, pred, *, proba=None, classes=None,
                 fit_time: float, role: str) -> dict:
    """The row of a baseline fitted once on an outer split (scorer ``"none"``).

    ``role`` is :data:`SOURCE_ONLY` or :data:`TARGET_ONLY`; a target-only baseline read
    target labels, so its row is flagged ``oracle``. Classification rows also get
    ``test_majority_rate``, what predicting the most frequent target test class scores.
    """
    if role not in (SOURCE_ONLY, TARGET_ONLY):
        raise ValueError(f"A baseline is {SOURCE_ONLY!r} or {TARGET_ONLY!r}, got {role!r}.")
    metrics = prediction_metrics(kind, y_test, pred, proba=proba, classes=classes)
    if kind == "classification" and len(y_test):
        # The report flags a base estimator that does no better even with target labels.
        _, counts = np.unique(y_test, return_counts=True)
        metrics["test_majority_rate"] = float(counts.max() / counts.sum())
    row = _unranked_row(outer_split, BASELINE_CANDIDATE, "{}", BASELINE_SCORER,
                        oracle=role == TARGET_ONLY, n_inner=0, metrics=metrics,
                        fit_time=fit_time)
    row[ROLE] = role
    return row


# ----------------------------------------------------------------------- reading
def result_roles(results: pd.DataFrame) -> pd.Series:
    """The role of each row of a benchmark's results (see :data:`ROLES`).

    The ``role`` column where a row has one; rows stored before it existed (or built by
    hand) get theirs from the method name: Train Src / SourceOnly, Train Tgt /
    TargetOnly, ``shiftlab: <selector>`` for a pool, else a method.
    """
    if METHOD_COLUMN not in results:
        derived = pd.Series(METHOD, index=results.index, dtype=object)
    else:
        method = results[METHOD_COLUMN].astype(str)
        derived = method.map(_STORED_ROLES)
        other = np.where(method.str.startswith(POOL_METHOD_PREFIX), POOL, METHOD)
        derived = derived.where(derived.notna(), pd.Series(other, index=results.index))
    if ROLE not in results:
        return derived
    stored = results[ROLE]
    return stored.where(stored.notna() & (stored != ""), derived)
