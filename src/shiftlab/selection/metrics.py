"""Classification metrics of model selection, without scikit-learn's per-call checks.

Every candidate of a search is scored on small validation folds, thousands of times per
benchmark job; there scikit-learn's input validation (target-type detection, dataframe
checks) costs more than the metric itself. These functions return the values of
scikit-learn's ``accuracy_score``, ``balanced_accuracy_score`` (classes absent from
``y_true`` ignored) and ``f1_score(average="macro")`` (over the labels of either array)
for 1-D label arrays of numbers or strings, and of ``roc_auc_score`` for binary
problems (tests/test_selection_search.py compares them).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

__all__ = ["accuracy", "balanced_accuracy", "binary_roc_auc", "label_metrics"]


def _confusion(y_true, pred) -> np.ndarray:
    """Confusion matrix over the sorted labels of either array (rows: true labels)."""
    y_true, pred = np.asarray(y_true), np.asarray(pred)
    labels = np.unique(np.concatenate([y_true, pred]))
    n_labels = labels.size
    return np.bincount(
        np.searchsorted(labels, y_true) * n_labels + np.searchsorted(labels, pred),
        minlength=n_labels * n_labels,
    ).reshape(n_labels, n_labels)


def _balanced(tp: np.ndarray, support: np.ndarray) -> float:
    present = support > 0
    return float(np.mean(tp[present] / support[present]))


def accuracy(y_true, pred) -> float:
    """Fraction of rows where ``pred`` equals ``y_true``."""
    return float(np.mean(np.asarray(y_true) == np.asarray(pred)))


def balanced_accuracy(y_true, pred) -> float:
    """Mean per-class recall over the classes present in ``y_true``."""
    cm = _confusion(y_true, pred)
    return _balanced(np.diag(cm).astype(float), cm.sum(axis=1))


def label_metrics(y_true, pred) -> dict[str, float]:
    """Accuracy, balanced accuracy and macro F1 from one confusion matrix."""
    cm = _confusion(y_true, pred)
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    return {
        "test_accuracy": float(tp.sum() / len(np.asarray(y_true))),
        "test_balanced_accuracy": _balanced(tp, support),
        "test_f1": float(np.mean(2.0 * tp / (support + predicted))),
    }


def binary_roc_auc(positive, scores) -> float:
    """Area under the ROC curve of ``scores`` for the rows where ``positive`` is true.

    The Mann-Whitney statistic: the probability that a positive row scores higher than a
    negative one, ties counting one half (Hanley and McNeil, 1982, Radiology 143(1)),
    which is the trapezoidal area scikit-learn computes.

    Raises
    ------
    ValueError
        When one class is absent or a score is not finite (AUC undefined).
    """
    positive = np.asarray(positive, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs positive and negative rows; one class is absent.")
    if not np.isfinite(scores).all():
        raise ValueError("ROC AUC needs finite scores.")
    ranks = rankdata(scores)  # average ranks of tied scores
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
