"""Realistic (label-free) model selection for domain adaptation.

* scorers (:mod:`~shiftlab.selection.scorers`): IW, DEV, DEVN, PE, SND, MixVal
  (both / intra / inter), MaNo, BNM, ClassAMI, source validation accuracy, circular
  validation, a rank consensus ensemble, and the supervised **oracle** (the only scorer
  that reads target labels; flagged everywhere). All scores are higher-is-better.
* stored predictions (:mod:`~shiftlab.selection.records`): one record per (candidate,
  inner split); every scorer is computed from records.
* splitters (:mod:`~shiftlab.selection.splitters`): stratified domain shuffle split,
  source/target shuffle split, leave-one-domain-out.
* the nested protocol (:mod:`~shiftlab.selection.search`): :func:`evaluate_split` for one
  outer split and :class:`DomainSearchCV` for all, with a tidy results table.
* reliability (:mod:`~shiftlab.selection.reliability`): per-scorer correlation with the
  test accuracy and regret versus the oracle.
"""

from shiftlab.selection.records import (
    CandidateRecord,
    FitCache,
    RefitRequest,
    SplitContext,
    SplitLabels,
    density_ratio,
    fit_candidate,
)
from shiftlab.selection.reliability import scorer_reliability, selection_summary
from shiftlab.selection.scorers import (
    DEFAULT_REALISTIC,
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
from shiftlab.selection.search import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    DomainSearchCV,
    OuterSplitSearch,
    candidate_list,
    evaluate_split,
    resolve_scorers,
)
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
    "CLASSIFICATION_METRICS",
    "DEFAULT_REALISTIC",
    "REGRESSION_METRICS",
    "AggregateScorer",
    "AverageAggregation",
    "BaseScorer",
    "BatchNuclearNorm",
    "CandidateRecord",
    "CircularValidation",
    "ClassAMI",
    "DeepEmbeddedValidation",
    "DomainSearchCV",
    "EnsembleValidation",
    "FitCache",
    "ImportanceWeighted",
    "ImportanceWeightedAggregation",
    "LeaveOneDomainOut",
    "MaNo",
    "MixVal",
    "OracleScorer",
    "OuterSplitSearch",
    "PredictionEntropy",
    "RankConsensus",
    "RefitRequest",
    "RefitScorer",
    "SafeSelector",
    "SoftNeighborhoodDensity",
    "SourceAccuracy",
    "SourceTargetShuffleSplit",
    "SplitContext",
    "SplitLabels",
    "StandardizedConsensus",
    "StratifiedDomainShuffleSplit",
    "SupervisedOracle",
    "UnsupervisedScorer",
    "candidate_list",
    "check_domain_cv",
    "density_ratio",
    "evaluate_split",
    "fit_candidate",
    "get_scorer",
    "list_scorers",
    "make_scorer",
    "method_pool",
    "pack_all_domains",
    "register_scorer",
    "resolve_scorers",
    "scorer_reliability",
    "selection_summary",
]
