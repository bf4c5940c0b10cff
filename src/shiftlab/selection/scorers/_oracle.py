"""The supervised oracle: the one scorer that reads target labels."""

from __future__ import annotations

from sklearn.metrics import mean_squared_error

from shiftlab.selection.metrics import METRIC_NAMES, UndefinedMetricError, accuracy
from shiftlab.selection.scorers._base import OracleScorer, register_scorer
from shiftlab.selection.scorers._constants import NAN
from shiftlab.selection.scorers._helpers import (
    _check_regression,
    _label_metric,
    _LabelMetric,
    _undefined,
)


@register_scorer("oracle", aliases=("supervised", "ss"))
class SupervisedOracle(_LabelMetric, OracleScorer):
    """ORACLE -- supervised target validation score (reads target labels): accuracy, or
    with ``metric`` balanced accuracy, ROC AUC or negative log-loss.

    The score on the *labelled* target validation rows (negative MSE for regression).
    Not a realistic scorer: it is the upper reference of model selection (SKADA-Bench's
    "supervised" scorer) and is flagged ``uses_target_labels=True`` and reported as the
    oracle in every table. Higher is better.

    Parameters
    ----------
    metric : {"accuracy", "balanced_accuracy", "roc_auc", "log_loss"}, default="accuracy"
        As for :class:`SourceAccuracy`, on the target validation rows: the oracle of a
        search run with a selection metric should use the same one. A metric other than
        accuracy is for classification only.
    name : str, optional

    References
    ----------
    Lalou, Y., Gnassounou, T., Collas, A., et al. (2024). SKADA-Bench: benchmarking
    unsupervised domain adaptation methods with realistic validation. arXiv:2407.11676.
    """

    name = "oracle"
    reference = "SKADA-Bench supervised scorer (Lalou et al., 2024)"
    needs = ("pred_target_val",)
    proba_need = "proba"

    @property
    def metric_description(self) -> str:
        return f"{METRIC_NAMES[self.metric]} on the labelled target validation rows"

    def score(self, record, context, labels):
        if labels is None or not labels.available or record.pred_target_val is None:
            return NAN
        y = labels.y_target_val
        if context.kind == "regression":
            _check_regression(self)
            return -float(mean_squared_error(y, record.pred_target_val))
        if self.metric == "accuracy":
            return accuracy(y, record.pred_target_val)
        try:
            return _label_metric(self.metric, y, record, "target_val")
        except UndefinedMetricError as exc:
            return _undefined(self, exc)
