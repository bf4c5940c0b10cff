"""Baselines: the source-only model ("Train Src") and the target-only oracle ("Train Tgt").

* :class:`SourceOnly` is an ordinary (identity) adapter: ``make_da("SourceOnly")`` trains
  the final estimator on the labelled source rows, ignoring the target. It is the
  reference every DA method must beat (SKADA-Bench's "Train Src").
* The **oracle** "Train Tgt" trains on the *target labels*, which no method may see. It
  is therefore not an adapter and is not in the method registry: it lives in
  :func:`fit_target_only` and :class:`TargetOnly`, whose target labels go through an
  explicitly named argument (``oracle_target_labels``), so that generic code calling
  ``fit(X, y, sample_domain)`` cannot use it by accident. Only the evaluator uses it, to
  report the upper bound of a task.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from shiftlab.data.convention import (
    check_domain_arrays,
    infer_sample_domain,
    is_masked,
    label_kind,
)
from shiftlab.exceptions import DataValidationError
from shiftlab.methods.base import BaseAdapter, prepare_predict
from shiftlab.methods.registry import register_method

__all__ = ["SourceOnly", "TargetOnly", "fit_target_only"]


@register_method(
    name="SourceOnly",
    family="baseline",
    reference=(
        "Train Src baseline of SKADA-Bench: Lalou, Y., Gnassounou, T., Collas, A., et al. "
        "(2024). SKADA-Bench: Benchmarking unsupervised domain adaptation methods with "
        "realistic validation. arXiv:2407.11676."
    ),
    grid={},
    designed_for=(),
    complexity="that of the final estimator on the source rows",
    regression=True,
)
class SourceOnly(BaseAdapter):
    """Identity adapter: the final estimator learns from the source rows only.

    ``make_da("SourceOnly", estimator)`` is SKADA-Bench's "Train Src" baseline. With
    several source domains, all of them are pooled (the final estimator of a
    :class:`~shiftlab.methods.base.DAPipeline` is always fitted on every source row).

    Attributes
    ----------
    n_features_in_ : int
    source_domains_, target_domains_ : ndarray
        Domain ids seen at fit time.
    source_pooling_ : str
        ``"pooled"``.

    Notes
    -----
    ``O(1)``: nothing is learned.
    """

    _parameter_constraints: dict = {}  # no parameter

    def _fit(self, X, y, sample_domain):
        self.source_pooling_ = "pooled"
        return self


def _target_rows(X, y, sample_domain):
    if sample_domain is None:
        if y is None:
            return np.ones(X.shape[0], dtype=bool)
        sample_domain = infer_sample_domain(y)
    return np.asarray(sample_domain) < 0


def fit_target_only(estimator, X_target, y_target, **fit_params):
    """Fit a clone of ``estimator`` on labelled target rows: the "Train Tgt" oracle.

    This is the upper bound of a task, for the evaluator only: it uses target labels,
    which domain-adaptation methods never get.

    Parameters
    ----------
    estimator : estimator or None
        Any scikit-learn estimator (cloned); ``None``: ``LogisticRegression()``.
    X_target : array-like of shape (n_target, n_features)
    y_target : array-like of shape (n_target,)
        True (unmasked) target labels.
    **fit_params
        Passed to ``estimator.fit`` (e.g. ``sample_weight``).

    Returns
    -------
    estimator
        The fitted clone.
    """
    X_target = np.asarray(X_target)
    y_target = np.asarray(y_target)
    if X_target.ndim != 2 or y_target.shape != (X_target.shape[0],):
        raise DataValidationError(
            f"X_target {X_target.shape} and y_target {y_target.shape} must be (n, d) and (n,)."
        )
    if is_masked(y_target).any():
        raise DataValidationError(
            "y_target holds masked labels (-1 / NaN): the oracle needs the true target "
            "labels (DomainDataset.pack(..., return_target_labels=True) gives them)."
        )
    base = LogisticRegression() if estimator is None else estimator
    return clone(base).fit(X_target, y_target, **fit_params)


class TargetOnly(BaseEstimator):
    """The "Train Tgt" oracle as an estimator on the domain-convention arrays.

    Trains ``estimator`` on the target rows of ``X`` with the labels given through the
    keyword-only ``oracle_target_labels``. Used by the evaluator to report the upper
    bound of a task; never part of a method grid (it reads target labels).

    Parameters
    ----------
    estimator : estimator or None, default=None
        ``None``: ``LogisticRegression()`` (cloned at fit time).

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone.
    n_features_in_ : int
    classes_ : ndarray
        Present when the estimator is a classifier.

    Examples
    --------
    >>> from shiftlab.data.simulate import make_shifted_blobs
    >>> X, y, sd, y_true = make_shifted_blobs("covariate", random_state=0).pack(
    ...     "source", "target", return_target_labels=True)
    >>> oracle = TargetOnly().fit(X, y, sd, oracle_target_labels=y_true)
    >>> bool(oracle.score(X[sd < 0], y_true[sd < 0]) > 0.8)
    True
    """

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y=None, sample_domain=None, *, oracle_target_labels):
        """Fit on the target rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like, optional
            The usual masked labels; only used to infer ``sample_domain`` when it is
            ``None`` (the source labels are not used).
        sample_domain : array-like of int, optional
            Target rows are those with a negative id. When both ``y`` and
            ``sample_domain`` are ``None``, every row is a target row.
        oracle_target_labels : array-like
            True labels, either aligned with ``X`` (only the target entries are read) or
            one per target row.
        """
        X = np.asarray(X)
        tgt = _target_rows(X, y, sample_domain)
        labels = np.asarray(oracle_target_labels)
        if labels.shape == (X.shape[0],):
            labels = labels[tgt]
        elif labels.shape != (int(tgt.sum()),):
            raise DataValidationError(
                f"oracle_target_labels has shape {labels.shape}; give one label per row of X "
                f"({X.shape[0]}) or per target row ({int(tgt.sum())})."
            )
        X_t, _, _ = check_domain_arrays(X[tgt], None, None, require_source=False)
        self.estimator_ = fit_target_only(self.estimator, X_t, labels)
        self.n_features_in_ = X_t.shape[1]
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X, sample_domain=None):
        check_is_fitted(self, "estimator_")
        X, _ = prepare_predict(X, sample_domain)
        return self.estimator_.predict(X)

    def predict_proba(self, X, sample_domain=None):
        check_is_fitted(self, "estimator_")
        X, _ = prepare_predict(X, sample_domain)
        return self.estimator_.predict_proba(X)

    def score(self, X, y, sample_domain=None):
        """Accuracy (classification) or R^2 (regression) on the given rows."""
        from sklearn.metrics import accuracy_score, r2_score

        y = np.asarray(y)
        pred = self.predict(X, sample_domain)
        return r2_score(y, pred) if label_kind(y) == "regression" else accuracy_score(y, pred)
