"""The weighted ensemble an aggregation selector (Average, IWA) deploys.

An aggregation does not select one candidate: its model is the weighted sum of the
class probabilities of several fitted candidates (Dinu et al., ICLR 2023, for IWA's
importance-weighted least-squares weights). :func:`combine_probabilities` is that sum,
used both by the protocol (to score an aggregation on each outer test part) and by
:class:`WeightedEnsemble` (the model a user deploys), so the two agree by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from shiftlab.selection._fastpath import call_with_domain

__all__ = ["WeightedEnsemble", "combine_probabilities"]


def combine_probabilities(parts: Sequence[tuple], n_rows: int):
    """Weighted sum of several classifiers' outputs over the union of their classes.

    Parameters
    ----------
    parts : sequence of (classes, proba, pred, weight)
        Each classifier's classes, its class probabilities (None: its predictions count
        as one-hot probabilities) and predictions, and its weight (may be negative:
        IWA's weights are a least-squares fit).
    n_rows : int

    Returns
    -------
    pred : ndarray
        The argmax of the weighted sum.
    proba : ndarray of shape (n_rows, n_classes)
        The weighted sum clipped at 0 and normalised per row (uniform where all is 0).
    classes : ndarray
        The union of the classes (columns of ``proba``).
    """
    union = np.unique(np.concatenate([np.asarray(classes) for classes, *_ in parts]))
    total = np.zeros((n_rows, union.size))
    for classes, proba, pred, weight in parts:
        if proba is not None:
            proba = np.asarray(proba, dtype=float)
        else:
            proba = np.asarray(pred)[:, None] == np.asarray(classes)[None, :]
        cols = np.searchsorted(union, np.asarray(classes))
        total[:, cols] += weight * np.asarray(proba, dtype=float)
    pred = union[total.argmax(axis=1)]
    clipped = np.clip(total, 0, None)
    sums = clipped.sum(axis=1, keepdims=True)
    proba = np.where(sums > 0, clipped / np.where(sums > 0, sums, 1), 1.0 / union.size)
    return pred, proba, union


class WeightedEnsemble(ClassifierMixin, BaseEstimator):
    """Classifier whose probabilities are a weighted sum of its members'.

    Parameters
    ----------
    estimators : list of estimators
        The members (e.g. DA pipelines); each is cloned and fitted on the same rows.
    weights : list of float
        One weight per member (an aggregation selector's weights).

    Attributes
    ----------
    estimators_ : list
        The fitted members.
    classes_ : ndarray
        The union of the members' classes.

    Notes
    -----
    Predictions are the argmax of the weighted sum of the members' class probabilities
    (a member without ``predict_proba`` counts with one-hot predictions), as the nested
    protocol scores an aggregation. The cost of deploying it is every member's fit and
    memory.
    """

    def __init__(self, estimators, weights):
        self.estimators = estimators
        self.weights = weights

    def fit(self, X, y=None, sample_domain=None, **fit_params):
        if len(self.estimators) == 0 or len(self.estimators) != len(self.weights):
            raise ValueError(
                f"WeightedEnsemble needs as many weights as estimators (>= 1), got "
                f"{len(self.estimators)} estimators and {len(self.weights)} weights."
            )
        self.estimators_ = [clone(est).fit(X, y, sample_domain, **fit_params)
                            for est in self.estimators]
        self.classes_ = np.unique(np.concatenate(
            [np.asarray(est.classes_) for est in self.estimators_]))
        if hasattr(self.estimators_[0], "n_features_in_"):
            self.n_features_in_ = self.estimators_[0].n_features_in_
        return self

    def _combined(self, X, sample_domain=None):
        check_is_fitted(self, "estimators_")
        parts = []
        for est, weight in zip(self.estimators_, self.weights, strict=True):
            proba = (call_with_domain(est, "predict_proba", X, sample_domain)
                     if hasattr(est, "predict_proba") else None)
            pred = None if proba is not None else call_with_domain(est, "predict", X,
                                                                   sample_domain)
            parts.append((est.classes_, proba, pred, float(weight)))
        return combine_probabilities(parts, len(X))

    def predict(self, X, sample_domain=None):
        return self._combined(X, sample_domain)[0]

    def predict_proba(self, X, sample_domain=None):
        return self._combined(X, sample_domain)[1]
