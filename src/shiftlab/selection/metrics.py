"""Classification metrics of model selection, without scikit-learn's per-call checks.

Every candidate of a search is scored on small validation folds, thousands of times per
benchmark job; there scikit-learn's input validation (target-type detection, dataframe
checks) costs more than the metric itself. These functions return the values of
scikit-learn's ``accuracy_score``, ``balanced_accuracy_score`` (classes absent from
``y_true`` ignored) and ``f1_score(average="macro")`` (over the labels of either array)
for 1-D label arrays of numbers or strings, and of ``roc_auc_score`` for binary
problems (tests/test_selection_search.py compares them).

The *selection metrics* (:data:`SELECTION_METRICS`) are what the source-validation
scorers (``SrcVal``, ``IW``, ``DEV``, ``CircV``) and the oracle optimise, chosen with
their ``metric`` parameter: :func:`accuracy`, :func:`balanced_accuracy`,
:func:`roc_auc` and :func:`log_loss`, each with optional ``sample_weight`` (the
importance weights of ``IW``). They equal scikit-learn's ``accuracy_score``,
``balanced_accuracy_score``, ``roc_auc_score`` (binary, and macro one-vs-rest for
multiclass) and ``log_loss`` with the same ``sample_weight``
(tests/test_selection_metric.py checks them to 1e-10 with hypothesis). A metric that is
undefined on the given rows (one class present, non-finite scores...) raises
:class:`UndefinedMetricError`, whose message says why; the scorers turn it into a NaN
score with that reason as a warning.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from shiftlab.exceptions import DataValidationError, suggest

__all__ = [
    "METRIC_NAMES",
    "SELECTION_METRICS",
    "UndefinedMetricError",
    "accuracy",
    "balanced_accuracy",
    "binary_roc_auc",
    "check_metric",
    "label_metrics",
    "log_loss",
    "roc_auc",
]

#: Metrics a selection scorer can optimise (its ``metric`` parameter). Every score is
#: oriented so that higher is better: ``"log_loss"`` is scored as the negative log-loss.
SELECTION_METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss")

#: Readable names of the selection metrics, for descriptions and reprs.
METRIC_NAMES = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy (mean per-class recall)",
    "roc_auc": "ROC AUC (binary: positive-class score; multiclass: macro one-vs-rest)",
    "log_loss": "negative log-loss",
}


class UndefinedMetricError(ValueError):
    """A metric is undefined on the given rows; the message says why."""


def check_metric(metric, allowed=SELECTION_METRICS, *, scorer: str = "",
                 reason: str = "") -> str:
    """``metric`` if it is one of ``allowed``, else a :class:`DataValidationError`.

    The error lists the valid metrics (and suggests the nearest one); a metric that
    exists but that ``scorer`` does not support is told apart from a misspelt one, with
    ``reason`` (why the scorer cannot compute it) when given.
    """
    who = f" for scorer {scorer!r}" if scorer else ""
    valid = ", ".join(repr(m) for m in allowed)
    if not isinstance(metric, str) or metric not in SELECTION_METRICS:
        raise DataValidationError(
            f"Unknown selection metric {metric!r}{who}.{suggest(str(metric), allowed)} "
            f"Valid metrics: {valid}."
        )
    if metric not in allowed:
        why = f" {reason}" if reason else ""
        raise DataValidationError(
            f"Selection metric {metric!r} is not supported{who}.{why} Valid metrics: "
            f"{valid}."
        )
    return metric


def _weights(sample_weight, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=float).reshape(-1)
    if w.shape[0] != n:
        raise DataValidationError(f"sample_weight has {w.shape[0]} values for {n} rows.")
    return w


def _confusion(y_true, pred, sample_weight=None) -> np.ndarray:
    """Confusion matrix over the sorted labels of either array (rows: true labels)."""
    y_true, pred = np.asarray(y_true), np.asarray(pred)
    labels = np.unique(np.concatenate([y_true, pred]))
    n_labels = labels.size
    return np.bincount(
        np.searchsorted(labels, y_true) * n_labels + np.searchsorted(labels, pred),
        weights=sample_weight,
        minlength=n_labels * n_labels,
    ).reshape(n_labels, n_labels)


def _balanced(tp: np.ndarray, support: np.ndarray) -> float:
    present = support > 0
    return float(np.mean(tp[present] / support[present]))


def accuracy(y_true, pred, sample_weight=None) -> float:
    """Fraction of rows where ``pred`` equals ``y_true`` (weighted: their weight share)."""
    hit = np.asarray(y_true) == np.asarray(pred)
    if sample_weight is None:
        return float(np.mean(hit))
    w = _weights(sample_weight, hit.size)
    return float(np.sum(w * hit) / np.sum(w))


def balanced_accuracy(y_true, pred, sample_weight=None) -> float:
    """Mean per-class recall over the classes present in ``y_true``.

    With ``sample_weight``, the recall of class ``k`` is the weight of its correctly
    predicted rows over the weight of its rows (classes of zero weight are left out), as
    scikit-learn's ``balanced_accuracy_score(..., sample_weight=w)``.

    References
    ----------
    Brodersen, K. H., Ong, C. S., Stephan, K. E. and Buhmann, J. M. (2010). The balanced
    accuracy and its posterior distribution. ICPR.
    """
    y_true = np.asarray(y_true)
    cm = _confusion(y_true, pred, _weights(sample_weight, y_true.size))
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


def _weighted_auc(positive: np.ndarray, scores: np.ndarray, w: np.ndarray) -> float:
    """Weighted Mann-Whitney statistic: the weight share of (positive, negative) pairs in
    which the positive row scores higher, ties counting one half. It is the trapezoidal
    area under the weighted ROC curve, which scikit-learn computes with ``sample_weight``.
    """
    values, group = np.unique(scores, return_inverse=True)
    w_pos = np.bincount(group, weights=w * positive, minlength=values.size)
    w_neg = np.bincount(group, weights=w * ~positive, minlength=values.size)
    total_pos, total_neg = w_pos.sum(), w_neg.sum()
    if not (total_pos > 0 and total_neg > 0):
        raise UndefinedMetricError(
            "ROC AUC needs positive and negative rows (of positive weight); one class is "
            "absent."
        )
    neg_below = np.cumsum(w_neg) - w_neg  # negative weight strictly below each value
    return float(np.sum(w_pos * (neg_below + 0.5 * w_neg)) / (total_pos * total_neg))


def roc_auc(y_true, scores, classes, sample_weight=None) -> float:
    """Area under the ROC curve of a classifier's scores.

    Parameters
    ----------
    y_true : array of shape (n,)
        True labels.
    scores : array of shape (n, n_classes) or (n,)
        Class probabilities (or decision values) with columns aligned with ``classes``;
        a 1-D array is the score of ``classes[1]`` (a binary decision function).
    classes : array of shape (n_classes,)
        The model's classes (``classes_``), sorted.
    sample_weight : array of shape (n,), optional

    Returns
    -------
    float
        Binary (two classes): the AUC of the score of ``classes[1]`` for the rows
        labelled ``classes[1]``, as scikit-learn's ``roc_auc_score``. Multiclass: the
        macro one-vs-rest average, each class's AUC computed on its own column against
        every other row, as ``roc_auc_score(multi_class="ovr", average="macro")``.
        Classes of the model absent from ``y_true`` have no AUC and are left out of the
        average (scikit-learn raises instead); labels unknown to the model only count as
        negatives. The AUC only reads the order of the scores, so decision values give
        the same binary AUC as the probabilities derived from them.

    Raises
    ------
    UndefinedMetricError
        When the model knows fewer than two classes, a score is not finite, or no class
        has both positive and negative rows in ``y_true``.

    Notes
    -----
    Each AUC is the (weighted) Mann-Whitney statistic: the weight share of (positive,
    negative) row pairs in which the positive row scores higher, ties counting one half
    (Hanley and McNeil, 1982), i.e. the trapezoidal area under the weighted ROC curve.

    References
    ----------
    Hanley, J. A. and McNeil, B. J. (1982). The meaning and use of the area under a
    receiver operating characteristic (ROC) curve. Radiology, 143(1), 29-36.
    Fawcett, T. (2006). An introduction to ROC analysis. Pattern Recognition Letters,
    27(8), 861-874 (one-vs-rest AUC of multiclass problems).
    """
    y_true = np.asarray(y_true)
    classes = np.asarray(classes)
    S = np.asarray(scores, dtype=float)
    w = _weights(sample_weight, y_true.size)
    if w is None:
        w = np.ones(y_true.size)
    if classes.size < 2:
        raise UndefinedMetricError("ROC AUC needs a model of two classes or more.")
    if not np.isfinite(S).all():
        raise UndefinedMetricError("ROC AUC needs finite scores.")
    if S.ndim == 1:
        if classes.size != 2:
            raise UndefinedMetricError(
                "ROC AUC of a 1-D score needs a binary model; got "
                f"{classes.size} classes."
            )
        return _weighted_auc(y_true == classes[1], S, w)
    if S.shape[1] != classes.size:
        raise DataValidationError(
            f"scores have {S.shape[1]} columns for {classes.size} classes."
        )
    if classes.size == 2:
        return _weighted_auc(y_true == classes[1], S[:, 1], w)
    aucs = []
    for k, label in enumerate(classes):
        positive = y_true == label
        try:
            aucs.append(_weighted_auc(positive, S[:, k], w))
        except UndefinedMetricError:
            continue  # the class is absent from y_true (or has all the rows)
    if not aucs:
        raise UndefinedMetricError(
            "ROC AUC needs, for some class, positive and negative rows; y_true holds one "
            "class."
        )
    return float(np.mean(aucs))


def log_loss(y_true, proba, classes, sample_weight=None) -> float:
    """Mean (weighted) cross-entropy of class probabilities, as scikit-learn's ``log_loss``.

    Probabilities are clipped to ``[eps, 1 - eps]`` (``eps`` the float64 machine
    epsilon), as scikit-learn does. A row whose label is not among ``classes`` (a class
    the model never saw) gets probability ``eps``: the largest loss (scikit-learn raises).

    Parameters
    ----------
    y_true : array of shape (n,)
    proba : array of shape (n, n_classes)
        Columns aligned with ``classes``.
    classes : array of shape (n_classes,)
        Sorted.
    sample_weight : array of shape (n,), optional

    Returns
    -------
    float
        The loss (lower is better); the scorers score its negative.
    """
    y_true = np.asarray(y_true)
    classes = np.asarray(classes)
    P = np.asarray(proba, dtype=float)
    if P.ndim != 2 or P.shape[1] != classes.size:
        raise DataValidationError(
            f"proba must have one column per class ({classes.size}), got shape {P.shape}."
        )
    if y_true.size == 0:
        raise UndefinedMetricError("log-loss of no row.")
    eps = np.finfo(np.float64).eps
    pos = np.clip(np.searchsorted(classes, y_true), 0, classes.size - 1)
    known = classes[pos] == y_true
    p = np.where(known, P[np.arange(y_true.size), pos], 0.0)
    loss = -np.log(np.clip(p, eps, 1 - eps))
    w = _weights(sample_weight, y_true.size)
    if w is None:
        return float(np.mean(loss))
    return float(np.sum(w * loss) / np.sum(w))
