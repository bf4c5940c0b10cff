"""Realistic (label-free) model selection for domain adaptation.

* scorers (:mod:`~shiftlab.selection.scorers`): IW, DEV, DEVN, PE, SND, MixVal
  (both / intra / inter), MaNo, BNM, ClassAMI, source validation accuracy, circular
  validation, a rank consensus ensemble, and the supervised **oracle** (the only scorer
  that reads target labels; flagged everywhere). All scores are higher-is-better.
* splitters (:mod:`~shiftlab.selection.splitters`): stratified domain shuffle split,
  source/target shuffle split, leave-one-domain-out.
* the nested protocol (:mod:`~shiftlab.selection.search`): :func:`evaluate_split` for one
  outer split and :class:`DomainSearchCV` for all, with a tidy results table.
* selection across a pool of methods (:mod:`~shiftlab.selection.selectors`):
  :func:`method_pool`, pool selectors and aggregations, whose weighted ensemble is a
  :class:`WeightedEnsemble`.
* reliability (:mod:`~shiftlab.selection.reliability`): per-scorer correlation with the
  test accuracy and regret versus the oracle.

This package exports that vocabulary only. The plumbing lives in private modules:
stored predictions (``records``: ``CandidateRecord``, ``fit_candidate``), the split's
view and labels (``_context``: ``SplitContext``, ``SplitLabels``, ``density_ratio``),
derived fits (``_refit``: ``RefitRequest``, ``FitCache``), one outer split
(``_outer``: ``OuterSplitSearch``; ``_protocol``: ``resolve_scorers``,
``candidate_list``, ``run_outer_split``) and the results table (``_table``).
"""

from shiftlab.selection.ensemble import WeightedEnsemble
from shiftlab.selection.reliability import scorer_reliability, selection_summary
from shiftlab.selection.scorers import (
    AggregateScorer,
    BaseScorer,
    BatchNuclearNorm,
    CircularValidation,
    ClassAMI,
    DeepEmbeddedValidation,
    ImportanceWeighted,
    MaNo,
    MixVal,
    OracleScorer,
    PredictionEntropy,
    RankConsensus,
    RefitScorer,
    SoftNeighborhoodDensity,
    SourceAccuracy,
    SupervisedOracle,
    UnsupervisedScorer,
    get_scorer,
    list_scorers,
    make_scorer,
    register_scorer,
)
from shiftlab.selection.search import DomainSearchCV, evaluate_split
from shiftlab.selection.selectors import (
    AverageAggregation,
    EnsembleValidation,
    ImportanceWeightedAggregation,
    SafeSelector,
    StandardizedConsensus,
    method_pool,
)
from shiftlab.selection.splitters import (
    LeaveOneDomainOut,
    SourceTargetShuffleSplit,
    StratifiedDomainShuffleSplit,
    check_domain_cv,
    pack_all_domains,
)

__all__ = [
    "AggregateScorer",
    "AverageAggregation",
    "BaseScorer",
    "BatchNuclearNorm",
    "CircularValidation",
    "ClassAMI",
    "DeepEmbeddedValidation",
    "DomainSearchCV",
    "EnsembleValidation",
    "ImportanceWeighted",
    "ImportanceWeightedAggregation",
    "LeaveOneDomainOut",
    "MaNo",
    "MixVal",
    "OracleScorer",
    "PredictionEntropy",
    "RankConsensus",
    "RefitScorer",
    "SafeSelector",
    "SoftNeighborhoodDensity",
    "SourceAccuracy",
    "SourceTargetShuffleSplit",
    "StandardizedConsensus",
    "StratifiedDomainShuffleSplit",
    "SupervisedOracle",
    "UnsupervisedScorer",
    "WeightedEnsemble",
    "check_domain_cv",
    "evaluate_split",
    "get_scorer",
    "list_scorers",
    "make_scorer",
    "method_pool",
    "pack_all_domains",
    "register_scorer",
    "scorer_reliability",
    "selection_summary",
]
