"""Circular validation (CircV): a backward fit on the target pseudo-labels."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_squared_error

from shiftlab.selection.metrics import METRIC_NAMES, accuracy, balanced_accuracy
from shiftlab.selection.records import RefitRequest
from shiftlab.selection.scorers._base import RefitScorer, register_scorer
from shiftlab.selection.scorers._constants import NAN
from shiftlab.selection.scorers._helpers import _check_regression, _set_metric, _swap_domains


@register_scorer("CircV", aliases=("circular", "circular_validation"))
class CircularValidation(RefitScorer):
    """Circular (reverse) validation (CircV): balanced accuracy (or with ``metric``
    accuracy) of a backward model fitted on the candidate's target pseudo-labels.

    The candidate's predictions on the split's target validation rows become
    pseudo-labels; a backward model with the same parameters is fitted on the
    validation fold with the domains swapped (pseudo-labelled target rows as the source,
    the source validation rows, unlabelled, as the target) and its accuracy is measured
    on those source validation rows against their true labels. A candidate whose target
    labels are consistent with the source scores higher (higher is better). The
    backward fit is a derived fit, cached per (candidate, split) by the search.

    Parameters
    ----------
    metric : {"balanced_accuracy", "accuracy"}, default="balanced_accuracy"
        Selection metric of the backward model's predictions on the source validation
        rows (negative MSE for regression). The default is balanced accuracy, as skada's
        ``CircularValidation`` (not accuracy, the default of the other scorers).
        ``"roc_auc"`` and ``"log_loss"`` are not supported: the backward fit returns
        predicted labels only (:class:`~shiftlab.selection.records.RefitRequest`
        predicts), not probabilities. ``"accuracy"`` is for classification only.
    name : str, optional

    Notes
    -----
    This is the validation-fold formulation used by skada and SKADA-Bench, so that
    selections agree with theirs. The backward model is fitted on the fold only
    (one fifth of the training rows with the default splits), which keeps this
    derived fit far cheaper than the candidate's own fit.

    References
    ----------
    Bruzzone, L. and Marconcini, M. (2010). Domain adaptation problems: a DASVM
    classification technique and a circular validation strategy. IEEE TPAMI, 32(5).
    """

    name = "CircV"
    reference = "Bruzzone and Marconcini (2010), IEEE TPAMI 32(5)"
    refit_key = "circular"
    needs = ("pred_target_val",)
    tasks = ("classification", "regression")
    metric = "balanced_accuracy"
    supported_metrics = ("accuracy", "balanced_accuracy")

    def __init__(self, *, metric: str = "balanced_accuracy", name=None):
        super().__init__(name=name)
        _set_metric(
            self, metric, "balanced_accuracy",
            reason="Circular validation's backward fit returns predicted labels only, not "
            "the probabilities this metric needs.",
        )

    @property
    def metric_description(self) -> str:
        return (f"{METRIC_NAMES[self.metric]} of the backward model on the source "
                "validation rows")

    def refit_request(self, record, context):
        Xs = np.asarray(context.X_source_val)
        Xt = np.asarray(context.X_target_val)
        sds = np.asarray(context.sample_domain_source_val)
        sdt = np.asarray(context.sample_domain_target_val)
        pseudo = np.asarray(record.pred_target_val)
        # Swap the roles: former target rows are labelled sources, former sources targets.
        X_fit = np.concatenate([Xt, Xs])
        sd_fit = _swap_domains(np.concatenate([sdt, sds]))
        if context.kind == "regression":
            y_fit = np.concatenate([pseudo.astype(float), np.full(len(Xs), np.nan)])
        else:
            y_fit = np.concatenate([pseudo, np.full(len(Xs), -1, dtype=pseudo.dtype)])
        constant = None
        if context.kind == "classification" and np.unique(pseudo).size < 2:
            # A classifier cannot be fitted on one class: it would predict that class.
            constant = pseudo[0]
        return RefitRequest(
            key=(self.refit_key, record.candidate, record.split),
            params=record.params,
            X_fit=X_fit,
            y_fit=y_fit,
            sample_domain_fit=sd_fit,
            X_predict=Xs,
            sample_domain_predict=_swap_domains(sds),
            constant=constant,
            rows_key=(self.refit_key, record.split),
        )

    def score(self, record, context, refit_prediction):
        if refit_prediction is None:
            return NAN
        y = context.y_source_val
        if context.kind == "regression":
            _check_regression(self)
            return -float(mean_squared_error(y, refit_prediction))
        if self.metric == "accuracy":
            return accuracy(y, refit_prediction)
        return balanced_accuracy(y, refit_prediction)
