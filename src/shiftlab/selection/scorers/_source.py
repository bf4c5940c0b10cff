"""Scorers of the labelled source validation rows: SrcVal, IW, DEV and DEVN."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shiftlab.exceptions import DataValidationError
from shiftlab.selection.metrics import METRIC_NAMES, UndefinedMetricError, accuracy
from shiftlab.selection.scorers._base import UnsupervisedScorer, register_scorer
from shiftlab.selection.scorers._constants import NAN
from shiftlab.selection.scorers._helpers import (
    _check_regression,
    _label_metric,
    _LabelMetric,
    _log_loss_per_sample,
    _set_metric,
    _undefined,
)


class _SourceValidationScorer(_LabelMetric, UnsupervisedScorer):
    """A scorer of the predictions on the labelled source validation rows."""


@register_scorer("SrcVal", aliases=("source_accuracy", "source", "src_acc"))
class SourceAccuracy(_SourceValidationScorer):
    """Source validation score (SrcVal): accuracy, or with ``metric`` balanced accuracy, ROC
    AUC or negative log-loss (negative MSE for regression).

    The classic, adaptation-blind baseline of model selection: the candidate's score on
    the labelled source validation rows, which ignores the target. Evaluated as a UDA
    validator by Musgrave et al. (2022). Negative MSE for regression. Higher is better.

    Parameters
    ----------
    metric : {"accuracy", "balanced_accuracy", "roc_auc", "log_loss"}, default="accuracy"
        Selection metric on the source validation rows: accuracy (the default, as
        before), balanced accuracy (mean per-class recall, which a majority-class
        predictor cannot inflate on imbalanced data), ROC AUC (binary: the probability of
        the positive class, or the decision value of a model without ``predict_proba``;
        multiclass: macro one-vs-rest) or the negative log-loss (needs
        ``predict_proba``). A metric other than accuracy is for classification only.
    name : str, optional

    Notes
    -----
    An undefined metric (ROC AUC with one class in the fold, log-loss without
    probabilities) scores NaN with an ``UndefinedMetricWarning`` saying why.

    References
    ----------
    Musgrave, K., Belongie, S. and Lim, S.-N. (2022). Benchmarking validation methods for
    unsupervised domain adaptation. arXiv:2208.07360.
    Brodersen, K. H., Ong, C. S., Stephan, K. E. and Buhmann, J. M. (2010). The balanced
    accuracy and its posterior distribution. ICPR (balanced accuracy).
    """

    name = "SrcVal"
    reference = "Musgrave, Belongie and Lim (2022), arXiv:2208.07360"

    @property
    def metric_description(self) -> str:
        return f"{METRIC_NAMES[self.metric]} on the source validation rows"

    def score(self, record, context):
        y, pred = context.y_source_val, record.pred_source_val
        if context.kind == "regression":
            _check_regression(self)
            return -float(mean_squared_error(y, pred))
        if self.metric == "accuracy":
            return accuracy(y, pred)
        try:
            return _label_metric(self.metric, y, record, "source_val")
        except UndefinedMetricError as exc:
            return _undefined(self, exc)


@register_scorer("IW", aliases=("importance_weighted",))
class ImportanceWeighted(_SourceValidationScorer):
    """Importance-weighted source validation score (IW): weighted accuracy, or with
    ``metric`` weighted balanced accuracy, ROC AUC or negative log-loss.

    .. math:: \\mathrm{IW} = \\frac{\\sum_i w_i \\, 1[\\hat y_i = y_i]}{\\sum_i w_i}

    over the source validation rows, with :math:`w_i = p_T(x_i)/p_S(x_i)` the split's
    density-ratio weights (computed once per split and shared by all candidates, see
    :meth:`SplitContext.importance_weights`). For regression the weighted squared error
    is negated. Higher is better.

    Parameters
    ----------
    metric : {"accuracy", "balanced_accuracy", "roc_auc", "log_loss"}, default="accuracy"
        The weights enter every metric as sample weights, so each estimates the metric
        under the target's input distribution: weighted accuracy (the formula above, the
        default, as before); weighted balanced accuracy, the mean over classes of the
        weighted per-class recall :math:`\\sum_{i: y_i=k} w_i 1[\\hat y_i = k] /
        \\sum_{i: y_i=k} w_i`; weighted ROC AUC, the weight share of (positive,
        negative) row pairs ordered correctly (ties count one half; binary: probability
        of the positive class or the decision value, multiclass: macro one-vs-rest); or
        the negative weighted mean log-loss (needs ``predict_proba``). These equal
        scikit-learn's metrics with ``sample_weight=w``. A metric other than accuracy is
        for classification only.
    name : str, optional

    Notes
    -----
    An undefined metric (ROC AUC with one class in the fold, log-loss without
    probabilities) scores NaN with an ``UndefinedMetricWarning`` saying why.

    References
    ----------
    Sugiyama, M., Krauledat, M. and Müller, K.-R. (2007). Covariate shift adaptation by
    importance weighted cross validation. JMLR, 8, 985-1005.
    """

    name = "IW"
    reference = "Sugiyama, Krauledat and Müller (2007), JMLR 8"

    @property
    def metric_description(self) -> str:
        return f"importance-weighted {METRIC_NAMES[self.metric]} on the source validation rows"

    def score(self, record, context):
        w = context.importance_weights()
        if not np.isfinite(w).all() or w.sum() <= 0:
            return NAN
        y, pred = context.y_source_val, record.pred_source_val
        if context.kind == "regression":
            _check_regression(self)
            return -float(np.sum(w * (pred - y) ** 2) / w.sum())
        if self.metric == "accuracy":
            return float(np.sum(w * (pred == y)) / w.sum())
        try:
            return _label_metric(self.metric, y, record, "source_val", sample_weight=w)
        except UndefinedMetricError as exc:
            return _undefined(self, exc)


@register_scorer("DEVN", aliases=("dev_normalized",), params={"normalize": "max"})
@register_scorer("DEV", aliases=("deep_embedded_validation",))
class DeepEmbeddedValidation(UnsupervisedScorer):
    """Deep embedded validation (DEV) and its normalised form (DEVN): importance-weighted
    log-loss (with ``metric``: 0-1 or class-balanced 0-1 error) with a control variate.

    The importance-weighted source validation loss with a control variate that reduces
    its variance: with :math:`L_i = w_i \\ell_i`,

    .. math:: \\eta = -\\frac{\\mathrm{Cov}(L, w)}{\\mathrm{Var}(w)},\\qquad
              \\mathrm{DEV} = \\overline{L} + \\eta\\,\\overline{w} - \\eta,

    and the score is :math:`-\\mathrm{DEV}` (a risk, negated so that higher is better).
    :math:`\\ell_i` is the log loss of the predicted probabilities (squared error for
    regression; ``loss="zero_one"`` uses the 0-1 error).

    Parameters
    ----------
    normalize : {None, "max"}, default=None
        ``"max"`` divides the weights by their maximum first (DEVN, Musgrave et al. 2022),
        which tames the huge weights of an over-confident domain classifier.
    weights : {"split", "features"}, default="split"
        ``"split"``: the split's input-space density-ratio weights, computed once and
        shared by all candidates. ``"features"``: a domain classifier on *this
        candidate's* features (You et al.'s original choice), cross-fitted on the
        validation rows.
    loss : {"log_loss", "zero_one", "balanced_zero_one"}, optional
        The per-sample loss :math:`\\ell_i`. Default: the one of ``metric``, else
        ``"log_loss"`` (DEV's default, as before).
    metric : {"accuracy", "balanced_accuracy", "log_loss"}, optional
        Selection metric whose risk DEV estimates, an alternative to ``loss``:
        ``"log_loss"`` is the log loss (the default); ``"accuracy"`` the 0-1 error
        (``loss="zero_one"``: the score is minus the estimated error rate, ranking as
        the accuracy); ``"balanced_accuracy"`` the class-balanced 0-1 error
        (``loss="balanced_zero_one"``), :math:`\\ell_i = 1[\\hat y_i \\ne y_i] /
        (K \\hat\\pi_T(y_i))` with :math:`\\hat\\pi_T(k) = \\sum_{y_j=k} w_j /
        \\sum_j w_j` the importance-weighted class shares of the source validation rows
        (the estimated target class prior) and :math:`K` the classes present, so that
        :math:`\\overline{w\\ell}` is the weighted balanced error rate (one minus the
        weighted balanced accuracy) before the control variate. ``"roc_auc"`` is not
        supported: DEV's control variate corrects a mean of per-sample losses, and the
        AUC is a pairwise statistic, not such a mean (``IW`` with ``metric="roc_auc"``
        is its importance-weighted estimate). Giving both ``loss`` and ``metric`` is an
        error unless they agree. A metric other than the default is for classification
        only.
    name : str, optional

    References
    ----------
    You, K., Wang, X., Long, M. and Jordan, M. I. (2019). Towards accurate model
    selection in deep unsupervised domain adaptation. ICML.
    Musgrave, K., Belongie, S. and Lim, S.-N. (2022). Benchmarking validation methods for
    unsupervised domain adaptation. arXiv:2208.07360 (DEVN).
    """

    reference = "You, Wang, Long and Jordan (2019), ICML"
    tasks = ("classification", "regression")
    metric = "log_loss"
    supported_metrics = ("accuracy", "balanced_accuracy", "log_loss")
    #: The per-sample loss of each supported selection metric.
    METRIC_LOSS = {"accuracy": "zero_one", "balanced_accuracy": "balanced_zero_one",
                   "log_loss": "log_loss"}

    def __init__(self, *, normalize=None, weights="split", loss=None, metric=None, name=None):
        if normalize not in (None, "max"):
            raise DataValidationError(f"normalize must be None or 'max', got {normalize!r}.")
        if weights not in ("split", "features"):
            raise DataValidationError(f"weights must be 'split' or 'features', got {weights!r}.")
        losses = tuple(self.METRIC_LOSS.values())
        if loss is not None and loss not in losses:
            raise DataValidationError(
                f"loss must be one of {', '.join(map(repr, losses))}, got {loss!r}."
            )
        self.name = "DEVN" if normalize == "max" else "DEV"
        super().__init__(name=name)
        self._set_params(normalize=normalize, weights=weights)
        default = "log_loss"
        if metric is None:
            loss = "log_loss" if loss is None else loss
            # Chosen through `loss`, as before `metric` existed: regression is kept.
            metric = default = {v: k for k, v in self.METRIC_LOSS.items()}[loss]
        _set_metric(
            self, metric, default,
            reason="DEV's control variate corrects a mean of per-sample losses, and ROC "
            "AUC is a pairwise statistic, not such a mean; IW with metric='roc_auc' is "
            "its importance-weighted estimate.",
        )
        if loss is not None and loss != self.METRIC_LOSS[metric]:
            raise DataValidationError(
                f"loss={loss!r} and metric={metric!r} disagree: metric {metric!r} is the "
                f"loss {self.METRIC_LOSS[metric]!r}; give one of them."
            )
        self._set_params(loss=self.METRIC_LOSS[metric])
        needs = ["pred_source_val"]
        if self.loss == "log_loss":
            needs.append("proba_source")
        if weights == "features":
            needs.append("features")
        self.needs = tuple(needs)

    @property
    def metric_description(self) -> str:
        what = {"log_loss": "log-loss", "zero_one": "0-1 error (accuracy)",
                "balanced_zero_one": "class-balanced 0-1 error (balanced accuracy)"}
        return (f"minus the DEV risk (importance-weighted, control variate) of the "
                f"{what[self.loss]} on the source validation rows")

    def _weights(self, record, context):
        if self.weights == "split":
            return context.importance_weights()
        Fs = np.asarray(record.features_source_val, dtype=float).reshape(
            len(record.features_source_val), -1
        )
        Ft = np.asarray(record.features_target_val, dtype=float).reshape(
            len(record.features_target_val), -1
        )
        Xd = np.concatenate([Fs, Ft])
        yd = np.r_[np.zeros(len(Fs)), np.ones(len(Ft))]
        n_folds = int(min(5, len(Fs), len(Ft)))
        if n_folds < 2:
            return None
        # Cross-fitting: each validation row is weighted by a classifier that did not see it.
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        cv = StratifiedKFold(n_folds, shuffle=True, random_state=context.seed)
        p = cross_val_predict(clf, Xd, yd, cv=cv, method="predict_proba")[: len(Fs), 1]
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return (len(Fs) / len(Ft)) * p / (1 - p)

    def loss_per_sample(self, record, context, weights=None) -> np.ndarray:
        """The per-sample loss :math:`\\ell_i` of the source validation rows.

        ``weights`` (the importance weights) give the estimated target class prior of
        the class-balanced 0-1 loss; without them, the source class shares are used.
        """
        y = context.y_source_val
        if context.kind == "regression":
            _check_regression(self)
            return (np.asarray(record.pred_source_val, dtype=float) - y) ** 2
        if self.loss == "zero_one":
            return (record.pred_source_val != y).astype(float)
        if self.loss == "balanced_zero_one":
            w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
            _, group = np.unique(y, return_inverse=True)
            share = np.bincount(group, weights=w) / w.sum()  # estimated target prior
            n_present = int(np.count_nonzero(share > 0))
            row_share = share[group]
            err = (np.asarray(record.pred_source_val) != y).astype(float)
            safe = np.where(row_share > 0, row_share, 1.0)
            return np.where(row_share > 0, err / (n_present * safe), 0.0)
        return _log_loss_per_sample(record.probabilities("source_val"), record.classes, y)

    def score(self, record, context):
        w = self._weights(record, context)
        if w is None or len(w) < 2 or not np.isfinite(w).all():
            return NAN
        w = np.asarray(w, dtype=float)
        if self.normalize == "max":
            w = w / w.max()
        L = w * self.loss_per_sample(record, context, weights=w)
        var_w = np.var(w, ddof=1)
        eta = 0.0 if var_w == 0 else -np.cov(L, w, ddof=1)[0, 1] / var_w
        return -float(L.mean() + eta * w.mean() - eta)
