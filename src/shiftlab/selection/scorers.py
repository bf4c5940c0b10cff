"""Model-selection scorers: pure functions of what a fitted candidate produced.

Every scorer maps the stored outputs of one candidate on one inner split (a
:class:`~shiftlab.selection.records.CandidateRecord`) plus the split's unsupervised view
(a :class:`~shiftlab.selection.records.SplitContext`) to one number. **Convention: every
score is oriented so that higher is better** (losses and entropies are negated);
``greater_is_better`` is therefore always ``True``.

Kinds of scorers, told apart by their ``score`` signature so that target labels can only
reach the one scorer allowed to read them:

* :class:`UnsupervisedScorer` -- ``score(record, context)``: the realistic scorers;
* :class:`RefitScorer` -- ``refit_request(record, context)`` then
  ``score(record, context, refit_prediction)``: circular validation, which needs a
  derived (backward) fit, cached by the search like any other fit;
* :class:`OracleScorer` -- ``score(record, context, labels)``: the supervised oracle, the
  only scorer that receives :class:`~shiftlab.selection.records.SplitLabels` (target
  labels). It is flagged ``uses_target_labels=True`` and reported as ORACLE everywhere;
* :class:`AggregateScorer` -- ``aggregate({scorer: mean scores})``: ensembles over other
  scorers' candidate scores (:class:`RankConsensus`).

Scorers are looked up by name with :func:`get_scorer`; :func:`list_scorers` lists them.

**Selection metric.** The scorers that compare predictions with labels -- ``SrcVal``
(source validation), ``IW`` (importance-weighted source validation), ``DEV``/``DEVN``
(their risk), ``CircV`` (the backward model's score) and the ``oracle`` -- take a
``metric`` parameter (:data:`~shiftlab.selection.metrics.SELECTION_METRICS`):
``"accuracy"``, ``"balanced_accuracy"``, ``"roc_auc"`` or ``"log_loss"`` (scored as the
negative log-loss), e.g. ``get_scorer("IW", metric="balanced_accuracy")``. Each scorer's
default is its established behaviour, unchanged (accuracy; DEV's log-loss; CircV's
balanced accuracy); the scorer keeps its name, and its ``metric`` attribute and ``repr``
say what it measures. Which metrics a scorer supports, and how a weighted scorer weights
them, is in each class's documentation. Selection metrics are for classification: a
scorer given a metric other than its default does not support regression.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.stats import rankdata
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_mutual_info_score, mean_squared_error
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shiftlab.exceptions import DataValidationError, unknown_name
from shiftlab.selection.metrics import (
    METRIC_NAMES,
    SELECTION_METRICS,
    UndefinedMetricError,
    accuracy,
    balanced_accuracy,
    check_metric,
    log_loss,
    roc_auc,
)
from shiftlab.selection.records import (
    CandidateRecord,
    RefitRequest,
    SplitContext,
    SplitLabels,
)

__all__ = [
    "AggregateScorer",
    "BaseScorer",
    "BatchNuclearNorm",
    "CircularValidation",
    "ClassAMI",
    "DeepEmbeddedValidation",
    "FunctionScorer",
    "ImportanceWeighted",
    "MaNo",
    "MixVal",
    "OracleScorer",
    "PredictionEntropy",
    "RankConsensus",
    "RefitScorer",
    "SoftNeighborhoodDensity",
    "SourceAccuracy",
    "SupervisedOracle",
    "UnsupervisedScorer",
    "get_scorer",
    "list_scorers",
    "make_scorer",
    "register_scorer",
]

_EPS = 1e-15
NAN = float("nan")


class BaseScorer:
    """Common attributes of all scorers.

    Attributes
    ----------
    name : str
        Column name in results tables (unique within a search).
    reference : str
        Paper the scorer comes from.
    greater_is_better : bool
        Always ``True``: scores are oriented so that higher is better.
    uses_target_labels : bool
        ``True`` only for the supervised oracle.
    needs_refit : bool
        ``True`` for scorers that need a derived fit (circular validation).
    needs : tuple of str
        Record fields the scorer reads (``"proba"`` means probabilities or decision
        values, ``"features"`` the ``transform`` outputs, ``"decision"`` the decision
        values themselves: a search keeps those of models with ``predict_proba`` only
        for scorers that declare this need).
    tasks : tuple of str
        Label kinds supported: ``"classification"`` and/or ``"regression"``.
    metric : str or None
        Selection metric of the scorers that compare predictions with labels (one of
        :data:`~shiftlab.selection.metrics.SELECTION_METRICS`); ``None`` for the others.
    supported_metrics : tuple of str
        The metrics its ``metric`` parameter takes (empty: no such parameter).
    """

    name: str = ""
    reference: str = ""
    greater_is_better: bool = True
    uses_target_labels: bool = False
    needs_refit: bool = False
    is_aggregate: bool = False
    needs: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ("classification",)
    metric: str | None = None
    supported_metrics: tuple[str, ...] = ()

    def __init__(self, *, name: str | None = None):
        if name is not None:
            self.name = str(name)
        self._init_params = {"name": name}

    def _set_params(self, **params):
        self._init_params.update(params)
        for k, v in params.items():
            setattr(self, k, v)

    def get_params(self) -> dict:
        return {k: v for k, v in self._init_params.items() if k != "name"}

    def supports(self, kind: str) -> bool:
        return kind in self.tasks

    @property
    def reads_decision(self) -> bool:
        """Whether the scorer reads decision values themselves (``"decision"`` or a
        ``decision_*`` field), not as stand-in probabilities."""
        return any(n == "decision" or n.startswith("decision_") for n in self.needs)

    def has_inputs(self, record: CandidateRecord) -> bool:
        """Whether the record holds what this scorer reads."""
        for need in self.needs:
            if need in ("proba", "proba_source"):
                # Probabilities only exist for classifiers (regression scorers skip them).
                part = "target_val" if need == "proba" else "source_val"
                if record.classes is not None and record.probabilities(part) is None:
                    return False
            elif need == "features":
                if record.features_target_val is None:
                    return False
            elif need == "decision":
                if record.decision_target_val is None:
                    return False
            elif getattr(record, need, None) is None:
                return False
        return True

    @property
    def metric_description(self) -> str | None:
        """What the score measures, in words (``None`` for scorers without a metric)."""
        return None

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        oracle = " [ORACLE: reads target labels]" if self.uses_target_labels else ""
        described = self.metric_description
        scores = f" scores: {described}" if described else ""
        return f"{type(self).__name__}({params}) name={self.name!r}{oracle}{scores}"


class UnsupervisedScorer(BaseScorer):
    """A realistic scorer: sees source validation labels and target inputs only."""

    def score(self, record: CandidateRecord, context: SplitContext) -> float:
        raise NotImplementedError  # pragma: no cover


class RefitScorer(BaseScorer):
    """A realistic scorer that needs one derived fit per (candidate, split)."""

    needs_refit = True
    #: Scorers with the same ``refit_key`` share their cached derived fits.
    refit_key: str = ""

    def refit_request(self, record: CandidateRecord, context: SplitContext) -> RefitRequest:
        raise NotImplementedError  # pragma: no cover

    def score(self, record, context, refit_prediction) -> float:
        raise NotImplementedError  # pragma: no cover


class OracleScorer(BaseScorer):
    """A scorer that reads target labels: for reference only, never realistic."""

    uses_target_labels = True

    def score(self, record: CandidateRecord, context: SplitContext, labels: SplitLabels) -> float:
        raise NotImplementedError  # pragma: no cover


class AggregateScorer(BaseScorer):
    """Combines other scorers' per-candidate mean scores into one score per candidate."""

    is_aggregate = True

    def aggregate(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover


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


# --------------------------------------------------------------------------- scorers
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


class _SourceValidationScorer(_LabelMetric, UnsupervisedScorer):
    """A scorer of the predictions on the labelled source validation rows."""


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


class PredictionEntropy(UnsupervisedScorer):
    """Prediction entropy (PE): negated mean entropy of the target predictions.

    .. math:: \\mathrm{PE} = \\frac1n \\sum_i \\sum_k p_{ik} \\log p_{ik}

    over the target validation rows. Confident predictions score higher (higher is
    better).

    References
    ----------
    Morerio, P., Cavazza, J. and Murino, V. (2018). Minimal-entropy correlation alignment
    for unsupervised deep domain adaptation. ICLR (arXiv:1711.10288, 2017).
    """

    name = "PE"
    reference = "Morerio, Cavazza and Murino (2017/2018), ICLR"
    needs = ("proba",)

    def score(self, record, context):
        P = record.probabilities("target_val")
        if P is None or len(P) == 0:
            return NAN
        return -float(_entropy_rows(P).mean())


class SoftNeighborhoodDensity(UnsupervisedScorer):
    """Soft neighbourhood density (SND) of the target predictions.

    Rows of the target probability matrix are L2-normalised; their cosine similarities
    (self-similarity excluded) divided by the temperature ``T`` go through a row softmax,
    and SND is the mean entropy of these rows. Dense, well-clustered predictions score
    higher (higher is better).

    Parameters
    ----------
    T : float, default=0.05
        Temperature (the paper's value).

    References
    ----------
    Saito, K., Kim, D., Teterwak, P., Sclaroff, S., Darrell, T. and Saenko, K. (2021).
    Tune it the right way: unsupervised validation of domain adaptation via soft
    neighborhood density. ICCV.
    """

    name = "SND"
    reference = "Saito et al. (2021), ICCV"
    needs = ("proba",)

    def __init__(self, *, T: float = 0.05, name=None):
        super().__init__(name=name)
        self._set_params(T=float(T))

    def score(self, record, context):
        P = record.probabilities("target_val")
        if P is None or len(P) < 2:
            return NAN
        norms = np.linalg.norm(P, axis=1, keepdims=True)
        Pn = P / np.where(norms > 0, norms, 1.0)
        S = Pn @ Pn.T / self.T
        np.fill_diagonal(S, -np.inf)  # a row is not its own neighbour
        S = S - S.max(axis=1, keepdims=True)
        E = np.exp(S)
        Q = E / E.sum(axis=1, keepdims=True)
        return float(_entropy_rows(Q).mean())


class MixVal(UnsupervisedScorer):
    """MixVal: consistency of predictions on mixed target samples (ICE; ``MixVal`` is the
    mean of the intra- and inter-cluster ICE). A one-class predictor scores NaN with
    ``MixVal`` and ``MixVal-inter``, but the best possible score with ``MixVal-intra``.

    Each target validation row :math:`x_i` is mixed with a partner :math:`x_{\\pi(i)}`
    as :math:`x^{mix}_i = \\lambda x_i + (1-\\lambda) x_{\\pi(i)}`, with
    :math:`\\lambda = 0.55` (the split's ``mix_lambda``, the paper's default). The
    probe's pseudo-label is that of the dominant component,
    :math:`\\arg\\max_k \\lambda e_{\\hat y_i} + (1-\\lambda) e_{\\hat y_{\\pi(i)}}
    = \\hat y_i` (:math:`\\hat y` the candidate's predicted labels, :math:`e` one-hot),
    and the ICE (interpolation consistency evaluation) of a set of probes is the
    accuracy of the candidate's predictions on them against these pseudo-labels. Pairs
    with :math:`\\hat y_i = \\hat y_{\\pi(i)}` are *intra-cluster* probes, the others
    *inter-cluster* probes. Higher is better.

    * ``ice="intra"`` (``MixVal-intra``): ICE of the intra-cluster probes, which
      measures how dense each predicted cluster is (Hu et al. relate it to SND).
    * ``ice="inter"`` (``MixVal-inter``): ICE of the inter-cluster probes, which
      measures where the decision boundary lies between clusters (related to entropy
      minimisation); NaN when there is no inter-cluster probe.
    * ``ice="both"`` (``MixVal``, the default): the mean of the two ICE scores, NaN when
      either is undefined -- in particular for a candidate predicting **one class** on
      the target validation rows, which has no inter-cluster probe.

    Parameters
    ----------
    ice : {"both", "intra", "inter"}, default="both"

    Notes
    -----
    *A one-class predictor and MixVal-intra.* A candidate that predicts the same class
    for every target row makes every pair intra-cluster, and predicts that class on every
    probe: its intra-cluster ICE is 1, the best possible score, whatever its accuracy.
    This holds by construction of the paper's intra-cluster ICE (it scores consistency
    with the candidate's own pseudo-labels), so ``MixVal-intra`` **cannot** rank a
    degenerate majority-class predictor below a real classifier; on imbalanced data it
    prefers such predictors (its correlation with target accuracy can be negative). The
    default ``MixVal`` (``"both"``) is NaN for such a candidate, as ``MixVal-inter`` is:
    a search leaves NaN out of a candidate's mean over inner splits and never selects a
    candidate that is NaN on every split, and the rank consensus ranks NaN last.

    *Linear candidates and MixVal-intra.* A candidate whose predicted classes are convex
    regions of the input space (a linear classifier, after affine adapters such as
    standardisation or CORAL) predicts every mix of two rows of class :math:`k` as
    :math:`k`: its intra-cluster ICE is 1 whatever its accuracy, and ``MixVal`` then
    ranks such candidates as ``MixVal-inter`` does. The intra-cluster ICE only tells
    candidates apart through non-convex class regions (kernels, neighbours, trees,
    non-linear adapters).

    *Comparison with the paper and its reference code* (github.com/LHXXHB/MixVal,
    ``val_mixval_intra.py`` and ``val_mixval_inter.py``). The mixing coefficient (0.55),
    the mixing of inputs (here the inputs given to the search, before the candidate's
    adapters; there images), the hard pseudo-labels, the dominant-component label of a
    probe and the ICE (agreement of the predicted label of the probe with that label)
    are the paper's. The pairing
    differs by design: the reference pairs each sample with the reversed position in its
    batch, and for the intra-cluster ICE first sorts the target rows by pseudo-label,
    so that nearly every sample gets a same-class partner; here one permutation of the
    target validation rows is drawn per split (``SplitContext.mix_perm``, as skada's
    ``MixValScorer(random_state=...)`` draws it) *before* any candidate predicts, so
    that all candidates are probed on the same mixed inputs, predicted in the same pass
    as the validation rows. Intra- and inter-cluster probes are the pairs of that
    permutation that a candidate's labels make so: fewer intra-cluster probes than in
    the reference (about :math:`n \\sum_k p_k^2` for predicted class shares
    :math:`p_k`, instead of about :math:`n`), each class weighted by :math:`p_k^2` rather
    than :math:`p_k`. The reference computes the two ICE scores in separate scripts and
    ships no combination of them; ``"both"`` averages them as skada's ``MixValScorer``
    does, except that skada's current version averages with ``nanmean`` and so gives a
    one-class predictor the intra-cluster ICE of 1, the best score, which is why this
    mean is NaN instead.

    References
    ----------
    Hu, D., Liang, J., Liew, J. H., Xue, C., Bai, S. and Wang, X. (2023). Mixed samples
    as probes for unsupervised model selection in domain adaptation. NeurIPS.
    """

    reference = "Hu et al. (2023), NeurIPS"
    needs = ("pred_target_val", "pred_target_mix")

    def __init__(self, *, ice: str = "both", name=None):
        if ice not in ("both", "intra", "inter"):
            raise DataValidationError(f"ice must be 'both', 'intra' or 'inter', got {ice!r}.")
        self.name = "MixVal" if ice == "both" else f"MixVal-{ice}"
        super().__init__(name=name)
        self._set_params(ice=ice)

    def ice_scores(self, record, context) -> tuple[float, float]:
        """``(intra, inter)``: the ICE of the intra- and inter-cluster probes of a record
        (NaN for a kind of probe the candidate's labels leave empty)."""
        a = np.asarray(record.pred_target_val)
        b = a[context.mix_perm]
        pseudo = a if context.mix_lambda >= 0.5 else b
        hit = np.asarray(record.pred_target_mix) == pseudo
        same = a == b
        intra = float(hit[same].mean()) if same.any() else NAN
        inter = float(hit[~same].mean()) if (~same).any() else NAN
        return intra, inter

    def score(self, record, context):
        intra, inter = self.ice_scores(record, context)
        if self.ice == "intra":
            return intra
        if self.ice == "inter":
            return inter
        # NaN when either is: a one-class candidate has no inter-cluster probe, and its
        # intra-cluster ICE of 1 alone would make it the best candidate.
        return float(np.mean([intra, inter]))


class MaNo(UnsupervisedScorer):
    """MaNo: normalised entry-wise p-norm of the target prediction matrix.

    .. math:: \\mathrm{MaNo} = \\Big(\\frac{1}{nK} \\sum_{i,k} q_{ik}^p\\Big)^{1/p}

    where :math:`q` are the class probabilities (``predict_proba``). For models with
    decision values only, :math:`q` normalises them as the paper does: a softmax when
    the predictions are uncertain (mean negative log-softmax above ``threshold``),
    otherwise a second-order Taylor softmax. Higher is better (sharper, more accurate
    predictions).

    Parameters
    ----------
    p : float, default=4
    threshold : float, default=5

    References
    ----------
    Xie, R., Odonnat, A., Feofanov, V., Deng, W., Zhang, J. and An, B. (2024). MaNo:
    exploiting matrix norm for unsupervised accuracy estimation under distribution
    shifts. NeurIPS.
    """

    name = "MaNo"
    reference = "Xie et al. (2024), NeurIPS"
    needs = ("proba",)

    def __init__(self, *, p: float = 4, threshold: float = 5.0, name=None):
        if p <= 0:
            raise DataValidationError(f"p must be positive, got {p}.")
        super().__init__(name=name)
        self._set_params(p=p, threshold=threshold)

    def _normalised(self, record):
        if record.proba_target_val is not None:
            return np.asarray(record.proba_target_val, dtype=float)
        dec = record.decision_target_val
        if dec is None:
            return None
        z = np.asarray(dec, dtype=float)
        if z.ndim == 1:
            z = np.column_stack([-z / 2, z / 2])
        soft = np.exp(z - z.max(axis=1, keepdims=True))
        soft /= soft.sum(axis=1, keepdims=True)
        if -np.mean(np.log(np.clip(soft, _EPS, 1))) > self.threshold:
            return soft
        # Second-order Taylor softmax (paper's Eq. 6): 1 + z + z^2/2 > 0 for every z.
        taylor = 1 + z + z**2 / 2
        return taylor / taylor.sum(axis=1, keepdims=True)

    def score(self, record, context):
        Q = self._normalised(record)
        if Q is None or len(Q) == 0:
            return NAN
        return float(np.mean(np.abs(Q) ** self.p) ** (1.0 / self.p))


class BatchNuclearNorm(UnsupervisedScorer):
    """Batch nuclear norm (BNM) of the target probability matrix, divided by its rows.

    .. math:: \\mathrm{BNM} = \\lVert P \\rVert_* / n

    The nuclear norm grows with both confidence (discriminability) and the number of
    classes predicted (diversity). Higher is better.

    References
    ----------
    Cui, S., Wang, S., Zhuo, J., Li, L., Huang, Q. and Tian, Q. (2020). Towards
    discriminability and diversity: batch nuclear-norm maximization under label
    insufficient situations. CVPR.
    """

    name = "BNM"
    reference = "Cui et al. (2020), CVPR"
    needs = ("proba",)

    def score(self, record, context):
        P = record.probabilities("target_val")
        if P is None or len(P) == 0:
            return NAN
        return float(np.linalg.svd(P, compute_uv=False).sum() / len(P))


class ClassAMI(UnsupervisedScorer):
    """ClassAMI: agreement between predicted classes and clusters of target features.

    k-means with as many clusters as classes is run on the target validation features
    (``transform`` outputs); the score is the adjusted mutual information between the
    cluster assignments and the predicted labels. Higher is better.

    Parameters
    ----------
    n_init : int, default=10
        k-means restarts (seeded by the split's seed).

    References
    ----------
    Musgrave, K., Belongie, S. and Lim, S.-N. (2022). Three new validators and a
    large-scale benchmark ranking for unsupervised domain adaptation. arXiv:2208.07360.
    """

    name = "ClassAMI"
    reference = "Musgrave, Belongie and Lim (2022), arXiv:2208.07360"
    needs = ("features", "pred_target_val")

    def __init__(self, *, n_init: int = 10, name=None):
        super().__init__(name=name)
        self._set_params(n_init=int(n_init))

    def score(self, record, context):
        F = np.asarray(record.features_target_val, dtype=float)
        F = F.reshape(len(F), -1)
        k = len(record.classes) if record.classes is not None else 2
        if len(F) <= k:
            return NAN
        clusters = kmeans_labels(F, k, n_init=self.n_init, seed=context.seed)
        return float(adjusted_mutual_info_score(record.pred_target_val, clusters))


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


class FunctionScorer(UnsupervisedScorer):
    """A realistic scorer from a function ``func(record, context) -> float``.

    Use :func:`make_scorer`. The function must return higher-is-better values.
    """

    def __init__(self, func: Callable, *, name: str, needs=(), tasks=("classification",)):
        super().__init__(name=name)
        self.func = func
        self.needs = tuple(needs)
        self.tasks = tuple(tasks)
        self._init_params.update(func=getattr(func, "__name__", repr(func)))

    def score(self, record, context):
        return float(self.func(record, context))


def make_scorer(func, *, name: str, needs=(), tasks=("classification",)) -> FunctionScorer:
    """Wrap ``func(record, context) -> float`` (higher is better) as a realistic scorer.

    Such a scorer can be added to a finished search with
    :meth:`~shiftlab.selection.DomainSearchCV.add_scorer`; it is computed from the stored
    records without any fit.
    """
    return FunctionScorer(func, name=name, needs=needs, tasks=tasks)


class RankConsensus(AggregateScorer):
    """Scorer ensemble: mean-rank aggregation of several realistic scorers.

    For each scorer, candidates are ranked by their mean inner score (rank 1 is best,
    ties get the average rank, NaN scores rank last); the consensus score of a candidate
    is minus its mean rank, so the ``consensus`` candidate is the one with the best mean
    rank. Higher is better. The oracle is never a member.

    Parameters
    ----------
    members : sequence of str, optional
        Names of the scorers to aggregate; default: every realistic (non-aggregate,
        non-oracle) scorer of the search.

    References
    ----------
    Rank aggregation by mean rank (Borda count): de Borda, J.-C. (1781). Mémoire sur les
    élections au scrutin. See also Musgrave et al. (2022) on combining validators.
    """

    name = "consensus"
    reference = "Borda mean-rank aggregation"
    tasks = ("classification", "regression")

    def __init__(self, members: Sequence[str] | None = None, *, name=None):
        super().__init__(name=name)
        self._set_params(members=None if members is None else list(members))

    def aggregate(self, scores):
        if not scores:
            raise DataValidationError("RankConsensus needs at least one member scorer.")
        ranks = []
        for values in scores.values():
            v = np.asarray(values, dtype=float)
            # NaN ranks last: replace by -inf before ranking descending.
            v = np.where(np.isnan(v), -np.inf, v)
            ranks.append(rankdata(-v, method="average"))
        return -np.mean(ranks, axis=0)


# --------------------------------------------------------------------------- registry
_FACTORIES: dict[str, Callable[..., BaseScorer]] = {}
_ALIASES: dict[str, str] = {}
#: Realistic scorers run by default (the oracle is added separately).
DEFAULT_REALISTIC = (
    "IW",
    "DEV",
    "DEVN",
    "PE",
    "SND",
    "MixVal",
    "MixVal-intra",
    "MixVal-inter",
    "MaNo",
    "BNM",
    "ClassAMI",
    "SrcVal",
    "CircV",
)


def register_scorer(name: str, factory: Callable[..., BaseScorer], aliases=()) -> None:
    """Register a scorer factory under ``name`` (and case-insensitive aliases)."""
    _FACTORIES[name] = factory
    for alias in (name, *aliases):
        _ALIASES[alias.lower()] = name


register_scorer("SrcVal", SourceAccuracy, ("source_accuracy", "source", "src_acc"))
register_scorer("IW", ImportanceWeighted, ("importance_weighted",))
register_scorer("DEV", DeepEmbeddedValidation, ("deep_embedded_validation",))
register_scorer(
    "DEVN", lambda **kw: DeepEmbeddedValidation(normalize="max", **kw), ("dev_normalized",)
)
register_scorer("PE", PredictionEntropy, ("prediction_entropy", "entropy"))
register_scorer("SND", SoftNeighborhoodDensity, ("soft_neighborhood_density",))
register_scorer("MixVal", MixVal, ("mixval-both", "mixval_both"))
register_scorer("MixVal-intra", lambda **kw: MixVal(ice="intra", **kw), ("mixval_intra",))
register_scorer("MixVal-inter", lambda **kw: MixVal(ice="inter", **kw), ("mixval_inter",))
register_scorer("MaNo", MaNo)
register_scorer("BNM", BatchNuclearNorm, ("batch_nuclear_norm",))
register_scorer("ClassAMI", ClassAMI, ("class_ami",))
register_scorer("CircV", CircularValidation, ("circular", "circular_validation"))
register_scorer("oracle", SupervisedOracle, ("supervised", "ss"))
register_scorer("consensus", RankConsensus, ("ensemble", "rank_consensus"))


def list_scorers(*, include_oracle: bool = True, include_aggregate: bool = True) -> list[str]:
    """Names of the registered scorers, the oracle last.

    ``get_scorer(name)`` builds one (``.uses_target_labels``, ``.reference``, ...).
    """
    names = [n for n in _FACTORIES if n not in ("oracle", "consensus")]
    if include_aggregate:
        names.append("consensus")
    if include_oracle:
        names.append("oracle")
    return names


def get_scorer(scorer, **params) -> BaseScorer:
    """A scorer from its name (case-insensitive, aliases allowed) or a scorer object.

    Parameters
    ----------
    scorer : str or BaseScorer
    **params
        Passed to the scorer's constructor (e.g. ``get_scorer("SND", T=0.1)``).

    Raises
    ------
    UnknownNameError
        With a "did you mean" suggestion.
    """
    if isinstance(scorer, BaseScorer):
        if params:
            raise DataValidationError("Give params only with a scorer name.")
        return scorer
    if not isinstance(scorer, str):
        raise DataValidationError(
            f"A scorer is a name or a BaseScorer, got {type(scorer).__name__}."
        )
    key = _ALIASES.get(scorer.lower())
    if key is None:
        raise unknown_name("scorer", scorer, _FACTORIES)
    return _FACTORIES[key](**params)
