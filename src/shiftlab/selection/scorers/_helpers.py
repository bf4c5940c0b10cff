"""What several scorers share: label metrics, their checks and small numerics."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning

from shiftlab.exceptions import DataValidationError
from shiftlab.selection.metrics import (
    SELECTION_METRICS,
    UndefinedMetricError,
    accuracy,
    balanced_accuracy,
    check_metric,
    log_loss,
    roc_auc,
)
from shiftlab.selection.records import CandidateRecord
from shiftlab.selection.scorers._base import BaseScorer
from shiftlab.selection.scorers._constants import _EPS, NAN


# --------------------------------------------------------------------------- helpers
def _label_columns(classes, y) -> np.ndarray:
    """Column of each label in ``classes`` (-1 when the class is unknown to the model)."""
    classes = np.asarray(classes)
    pos = np.searchsorted(classes, y)
    pos = np.clip(pos, 0, len(classes) - 1)
    return np.where(classes[pos] == y, pos, -1)


def _log_loss_per_sample(proba, classes, y) -> np.ndarray:
    cols = _label_columns(classes, y)
    p = np.where(cols >= 0, proba[np.arange(len(y)), np.maximum(cols, 0)], 0.0)
    return -np.log(np.clip(p, _EPS, 1.0))


def _set_metric(scorer: BaseScorer, metric, default: str, reason: str = "") -> None:
    """Check ``metric`` against ``scorer.supported_metrics`` and set it; a non-default
    metric restricts the scorer to classification (selection metrics compare classes)."""
    metric = check_metric(metric, scorer.supported_metrics,
                          scorer=scorer.name or type(scorer).__name__, reason=reason)
    scorer._set_params(metric=metric)
    scorer._metric_default = default
    if metric != default:
        scorer.tasks = ("classification",)


def _check_regression(scorer: BaseScorer) -> None:
    """Raise when a scorer given a selection metric meets regression labels."""
    default = getattr(scorer, "_metric_default", scorer.metric)
    if scorer.metric != default:
        raise DataValidationError(
            f"Scorer {scorer.name!r} has metric={scorer.metric!r}, a classification metric, "
            "but the labels are regression (scored by their squared error); leave metric "
            f"at its default ({default!r}) for regression."
        )


def _undefined(scorer: BaseScorer, exc: Exception) -> float:
    """NaN for a metric undefined on a record, with the reason as a warning."""
    warnings.warn(
        f"Scorer {scorer.name!r} (metric={scorer.metric!r}): {exc} Score set to NaN.",
        UndefinedMetricWarning,
        stacklevel=3,
    )
    return NAN


def _label_metric(metric: str, y, record: CandidateRecord, part: str,
                  sample_weight=None) -> float:
    """``metric`` of a record's outputs on ``part`` (``"source_val"``/``"target_val"``)
    against ``y``, higher is better (log-loss negated).

    ``"roc_auc"`` reads the probabilities, else the decision values (the AUC only reads
    their order); ``"log_loss"`` needs probabilities (``predict_proba``): the softmax of
    decision values is no calibrated probability, so a model without them raises
    :class:`UndefinedMetricError`.
    """
    pred = getattr(record, f"pred_{part}")
    if metric == "accuracy":
        return accuracy(y, pred, sample_weight)
    if metric == "balanced_accuracy":
        return balanced_accuracy(y, pred, sample_weight)
    classes = record.classes if record.classes is not None else np.unique(y)
    proba = getattr(record, f"proba_{part}")
    if metric == "roc_auc":
        scores = proba if proba is not None else getattr(record, f"decision_{part}")
        if scores is None:
            raise UndefinedMetricError(
                "ROC AUC needs the model's probabilities or decision values; the record "
                "holds neither."
            )
        return roc_auc(y, scores, classes, sample_weight)
    if proba is None:
        raise UndefinedMetricError(
            "log-loss needs class probabilities (predict_proba); the model gives decision "
            "values only, whose softmax is no calibrated probability."
        )
    return -log_loss(y, proba, classes, sample_weight)


def kmeans_labels(F: np.ndarray, k: int, *, n_init: int = 10, seed=0, max_iter: int = 100):
    """Cluster labels of Lloyd's k-means with k-means++ seeding, best of ``n_init`` runs.

    A small numpy implementation: the scorers run it once per record, where the fixed
    per-call overhead of :class:`sklearn.cluster.KMeans` dominates on validation folds of
    a few hundred rows.
    """
    F = np.asarray(F, dtype=float)
    rng = np.random.default_rng(seed)
    sq = (F**2).sum(axis=1)
    best, best_inertia = None, np.inf
    for _ in range(n_init):
        centers = [F[rng.integers(len(F))]]
        d2 = ((F - centers[0]) ** 2).sum(axis=1)
        for _ in range(1, k):
            total = d2.sum()
            idx = rng.choice(len(F), p=d2 / total) if total > 0 else rng.integers(len(F))
            centers.append(F[idx])
            d2 = np.minimum(d2, ((F - F[idx]) ** 2).sum(axis=1))
        C = np.array(centers)
        labels = None
        for _ in range(max_iter):
            dist = sq[:, None] - 2 * F @ C.T + (C**2).sum(axis=1)[None, :]
            new = dist.argmin(axis=1)
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = labels == j
                if members.any():
                    C[j] = F[members].mean(axis=0)
        inertia = float(((F - C[labels]) ** 2).sum())
        if inertia < best_inertia - 1e-12:
            best, best_inertia = labels, inertia
    return best


def _swap_domains(sd: np.ndarray) -> np.ndarray:
    """Sources become targets and targets sources (source id 0 included: 0 -> -1)."""
    return np.where(sd >= 0, -sd - 1, -sd)


def _entropy_rows(P: np.ndarray) -> np.ndarray:
    P = np.asarray(P, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0)
    return -terms.sum(axis=1)


# ------------------------------------------------------------- SrcVal, IW, oracle
class _LabelMetric:
    """Scores predictions against labels with a selection metric (SrcVal, IW, oracle).

    ``needs`` names the predictions of the labelled rows it reads; under a
    probability-based metric (ROC AUC, log-loss) it also reads ``proba_need``.
    """

    needs = ("pred_source_val",)
    proba_need = "proba_source"
    tasks = ("classification", "regression")
    metric = "accuracy"
    supported_metrics = SELECTION_METRICS

    def __init__(self, *, metric: str = "accuracy", name=None):
        super().__init__(name=name)
        _set_metric(self, metric, "accuracy")
        if metric in ("roc_auc", "log_loss"):
            self.needs = (*type(self).needs, self.proba_need)
