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

Where they live (private modules; import every name from here):

* ``_base``: the kinds above, the registry (:func:`register_scorer`, :func:`get_scorer`,
  :func:`list_scorers`, ``DEFAULT_REALISTIC``) and :func:`make_scorer`;
* ``_source``: ``SrcVal``, ``IW``, ``DEV``/``DEVN`` (labelled source validation rows);
* ``_target``: ``PE``, ``SND``, ``MixVal`` (and its variants), ``MaNo``, ``BNM``,
  ``ClassAMI`` (target predictions alone);
* ``_circular``: ``CircV``; ``_oracle``: the ``oracle``; ``_consensus``: ``consensus``;
* ``_helpers`` and ``_constants``: what several of them share (label metrics, k-means).

Stored searches pickled their scorers as ``shiftlab.selection.scorers.<Class>``: every
class stays importable from here. The whole package is left out of the benchmark's job
keys (a scorer is computed from the stored records).
"""

# isort: off
# The import order is the registration order, which list_scorers() keeps.
from shiftlab.selection.scorers._base import (
    _ALIASES as _ALIASES,
    _FACTORIES as _FACTORIES,
    DEFAULT_REALISTIC as DEFAULT_REALISTIC,
    AggregateScorer,
    BaseScorer,
    FunctionScorer,
    OracleScorer,
    RefitScorer,
    UnsupervisedScorer,
    get_scorer,
    list_scorers,
    make_scorer,
    register_scorer,
)
from shiftlab.selection.scorers._constants import NAN as NAN
from shiftlab.selection.scorers._helpers import kmeans_labels as kmeans_labels
from shiftlab.selection.scorers._source import (
    DeepEmbeddedValidation,
    ImportanceWeighted,
    SourceAccuracy,
)
from shiftlab.selection.scorers._target import (
    BatchNuclearNorm,
    ClassAMI,
    MaNo,
    MixVal,
    PredictionEntropy,
    SoftNeighborhoodDensity,
)
from shiftlab.selection.scorers._circular import CircularValidation
from shiftlab.selection.scorers._oracle import SupervisedOracle
from shiftlab.selection.scorers._consensus import RankConsensus
# isort: on

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
