"""The realistic nested model-selection protocol (SKADA-Bench, arXiv:2407.11676, sec. 1).

For each **outer split** (train / test) of one task:

1. the target labels of the outer-train part are masked before any method sees them;
2. every candidate (estimator + parameters) is fitted on the training part of each
   **inner split** of the outer-train part and leaves a
   :class:`~shiftlab.selection.records.CandidateRecord` of its outputs on the inner
   validation part;
3. every scorer scores every record (realistic scorers see the validation source rows
   with labels and the target rows without); the oracle alone also gets the target
   validation labels;
4. for **each scorer separately**, the candidate with the best mean inner score is
   selected and refitted on the whole outer-train part (one refit per candidate, shared
   by all scorers that select it);
5. the refitted model is evaluated on the target rows of the outer test part (accuracy,
   balanced accuracy, macro F1 and ROC-AUC; MSE and R^2 for regression).

:func:`evaluate_split` runs one outer split and returns its tidy table; it is what a
benchmark job calls. :class:`DomainSearchCV` runs all outer splits with a
scikit-learn-like interface and keeps the records, so scorers can be added afterwards
without any fit.

Where target labels live
------------------------
The caller passes the *unmasked* labels ``y`` with ``sample_domain``: the search masks the
target entries (:func:`~shiftlab.data.mask_target_labels`) before building anything a
method or a realistic scorer sees, and keeps the true labels in evaluator-only objects
(:class:`~shiftlab.selection.records.SplitLabels` for the oracle, the outer test labels
for the test metrics). When ``y`` is already masked at target rows, the search still runs;
the oracle and the test metrics are then NaN.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from shiftlab.exceptions import DataValidationError, MaskedTargetLabelsWarning
from shiftlab.selection._fastpath import call_with_domain
from shiftlab.selection._outer import OuterRecord as OuterRecord
from shiftlab.selection._outer import OuterSplitSearch
from shiftlab.selection._protocol import SearchData as SearchData
from shiftlab.selection._protocol import (
    SearchSettings,
    _seed_ints,
    candidate_list,
    resolve_scorers,
    run_outer_split,
    start_search,
)
from shiftlab.selection._protocol import mixval_seed as mixval_seed
from shiftlab.selection._table import CLASSIFICATION_METRICS, REGRESSION_METRICS, target_metrics
from shiftlab.selection.scorers import get_scorer
from shiftlab.selection.splitters import check_domain_cv

# The state of one outer split (OuterSplitSearch, OuterRecord) lives in _outer and the
# running of one in _protocol; both classes stay importable here, the path under which
# run folders pickled them.
__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "DomainSearchCV",
    "OuterSplitSearch",
    "candidate_list",
    "evaluate_split",
    "resolve_scorers",
    "target_metrics",
]


def evaluate_split(
    estimator,
    param_grid,
    X,
    y,
    sample_domain,
    train_idx,
    test_idx,
    *,
    scorers=None,
    inner_cv=5,
    random_state=None,
    n_jobs=None,
    refit: str = "all",
    outer_split: int = 0,
    store_features="auto",
    error_score="nan",
    return_search: bool = False,
    memory=None,
):
    """Run the realistic selection protocol on one outer split.

    Deterministic for a given ``random_state`` (and deterministic estimators).

    Parameters
    ----------
    estimator : estimator with ``fit(X, y, sample_domain)``
        A :class:`~shiftlab.methods.DAPipeline` or any DA estimator.
    param_grid : dict or list of dict
        Candidate parameters, as in :class:`sklearn.model_selection.GridSearchCV`.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Labels **including the true target labels** when known (the evaluator's view).
        They are masked before any method or realistic scorer sees them; only the oracle
        (inner target validation rows) and the test metrics (outer test target rows) read
        them. Masked target labels make both NaN.
    sample_domain : array-like of int
        Domain ids (source >= 0, target < 0); required when ``y`` is unmasked.
    train_idx, test_idx : array-like of int
        The outer split.
    scorers : list of str or scorer objects, optional
        Default: every realistic scorer suited to the labels, the rank consensus and the
        oracle.
    inner_cv : int or splitter, default=5
        An int means a :class:`~shiftlab.selection.StratifiedDomainShuffleSplit` with 20%
        validation, seeded from ``random_state``. It receives masked labels.
    random_state : int or None
        Seeds the inner splits and the scorers' randomness (MixVal probes, k-means).
    n_jobs : int, optional
        joblib workers for the candidate fits.
    refit : {"all", "selected"}, default="all"
        Refit every candidate on the outer-train part (enables the reliability report
        and makes later scorers fit-free) or only the selected ones. Either way each
        candidate is refitted at most once, whatever the number of scorers selecting it.
    outer_split : int, default=0
        Id written in the ``outer_split`` column.
    store_features : bool or "auto", default="auto"
        Keep ``transform`` outputs in the records ("auto": if a scorer needs them).
    error_score : "nan" or "raise", default="nan"
    return_search : bool, default=False
        Also return the :class:`OuterSplitSearch` (records, caches).
    memory : joblib.Memory, str or None
        Disk cache of candidate-independent split resources (the density-ratio weights
        of IW/DEV). Every method searched on the same data and inner splits then
        estimates them once; the benchmark runner points it at the run folder.

    Returns
    -------
    results : pandas.DataFrame
        One row per (candidate, scorer); see :attr:`DomainSearchCV.results_`.
    search : OuterSplitSearch, only with ``return_search=True``

    Raises
    ------
    AllCandidatesFailedError
        When every candidate failed to fit on every inner split (with
        ``error_score="nan"``): no score exists and nothing can be selected. A candidate
        failing on some splits only is scored on the others, with a warning.
    """
    data = start_search(estimator, param_grid, scorers, X, y, sample_domain)
    settings = SearchSettings(inner_cv=inner_cv, n_jobs=n_jobs, refit_candidates=refit,
                              store_features=store_features, error_score=error_score,
                              memory=memory)
    search = run_outer_split(data, train_idx, test_idx, settings, random_state=random_state,
                             outer_split=outer_split)
    table = search.table()
    return (table, search) if return_search else table


# --------------------------------------------------------------------------- estimator
class DomainSearchCV(BaseEstimator):
    """Nested, realistic hyperparameter search for domain adaptation.

    Runs the protocol of SKADA-Bench (Lalou et al., 2024, section 1 of the reference):
    outer splits, inner splits of the outer-train part, every scorer on every candidate,
    per-scorer selection and refit, target test metrics. See :mod:`shiftlab.selection.search`.

    Parameters
    ----------
    estimator : estimator with ``fit(X, y, sample_domain)``
        A :class:`~shiftlab.methods.DAPipeline` (e.g. from ``make_da``) or a DA estimator.
    param_grid : dict or list of dict, optional
        Candidate parameters (``{}`` / ``None``: the estimator as is).
    scorers : list of str or scorer objects, optional
        Default: every realistic scorer suited to the labels, ``"consensus"`` and the
        ``"oracle"`` (flagged as such in every table).
    cv : int, splitter, iterable of (train, test) or None, default=5
        Outer splits. An int is a
        :class:`~shiftlab.selection.StratifiedDomainShuffleSplit` on (domain, *true*
        class) with ``test_size`` test rows (the evaluator may stratify on target
        classes). ``None``: no outer evaluation; the selection runs on all rows (use with
        ``refit`` to get a tuned model for an unlabelled target). Given the outer split,
        nothing realistic depends on the target labels of its train part; to hold the
        outer split itself fixed across label sets, pass it as explicit pairs.
    inner_cv : int or splitter, default=5
        Inner splits of each outer-train part (an int: stratified domain shuffle split
        with 20% validation). They only see masked labels.
    test_size : float, default=0.2
        Test fraction of the default outer splitter.
    refit_candidates : {"all", "selected"}, default="all"
        Which candidates are refitted on each outer-train part and evaluated on its test
        targets. ``"all"`` allows the reliability report and fit-free :meth:`add_scorer`;
        ``"selected"`` refits only the winners (each once, shared across scorers).
    refit : str or None, default=None
        A realistic scorer's name: after the evaluation, select with it on *all* rows and
        fit :attr:`best_estimator_`, used by :meth:`predict` and friends.
    n_jobs : int, optional
        joblib workers (candidate fits run in parallel).
    random_state : int or None
        Seeds the outer and inner splits and the scorers' randomness.
    store_features : bool or "auto", default="auto"
    error_score : "nan" or "raise", default="nan"

    Attributes
    ----------
    results_ : pandas.DataFrame
        Tidy table, one row per (outer split, candidate, scorer): ``outer_split``,
        ``candidate``, ``params`` (JSON), ``param_<name>``, ``scorer``, ``oracle`` (True
        only for the oracle), ``inner_score`` (mean over inner splits; higher is better),
        ``inner_score_std``, ``n_inner``, ``rank``, ``selected``, the outer target test
        metrics ``test_accuracy``, ``test_balanced_accuracy``, ``test_f1`` (macro),
        ``test_roc_auc`` (``test_mse``, ``test_r2`` for regression; NaN when not refitted)
        and ``mean_fit_time``.
    inner_scores_ : pandas.DataFrame
        Every inner score: (outer_split, inner_split, candidate, scorer, oracle, score).
    best_params_ : dict
        ``{scorer: [params selected on each outer split]}``.
    best_index_ : dict
        ``{scorer: [candidate index per outer split]}``.
    candidates_ : list of dict
    scorers_ : list of scorer objects
    splits_ : list of OuterSplitSearch
        Per outer split state (records, caches).
    best_estimator_ : estimator
        Only with ``refit``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from shiftlab.methods import make_da_pipeline
    >>> from shiftlab.selection import DomainSearchCV
    >>> search = DomainSearchCV(make_da_pipeline(LogisticRegression()),
    ...                         {"logisticregression__C": [0.1, 1.0]},
    ...                         scorers=["IW", "PE", "oracle"], cv=2, inner_cv=2,
    ...                         random_state=0)  # doctest: +SKIP
    >>> search.fit(X, y, sample_domain).results_  # doctest: +SKIP
    """

    def __init__(
        self,
        estimator,
        param_grid=None,
        *,
        scorers=None,
        cv=5,
        inner_cv=5,
        test_size=0.2,
        refit_candidates: str = "all",
        refit: str | None = None,
        n_jobs=None,
        random_state=None,
        store_features="auto",
        error_score="nan",
    ):
        self.estimator = estimator
        self.param_grid = param_grid
        self.scorers = scorers
        self.cv = cv
        self.inner_cv = inner_cv
        self.test_size = test_size
        self.refit_candidates = refit_candidates
        self.refit = refit
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.store_features = store_features
        self.error_score = error_score

    def fit(self, X, y, sample_domain=None):
        """Run the nested protocol.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels, with the **true target labels** if the evaluator knows them (they are
            masked before any method or realistic scorer sees them; see the module doc).
        sample_domain : array-like of int, optional
            Required when ``y`` holds target labels.

        Returns
        -------
        self
        """
        data = start_search(self.estimator, self.param_grid, self.scorers, X, y,
                            sample_domain)
        X, y_m, sd, y_true = data.X, data.y_masked, data.sample_domain, data.y_true
        self.kind_, self.candidates_, self.scorers_ = data.kind, data.candidates, data.scorers
        # refit here is the scorer whose winner is fitted on all rows (best_estimator_);
        # refit_candidates says which candidates each outer split refits and evaluates.
        final_scorer = self.refit
        if final_scorer is not None:
            chosen = next((s for s in self.scorers_ if s.name == final_scorer), None)
            if chosen is None:
                raise DataValidationError(
                    f"refit={final_scorer!r} is not among the search's scorers "
                    f"{[s.name for s in self.scorers_]}."
                )
            if chosen.uses_target_labels:
                raise DataValidationError(
                    "refit with the oracle would select with target labels; pick a realistic "
                    "scorer."
                )
        settings = SearchSettings(inner_cv=self.inner_cv, n_jobs=self.n_jobs,
                                  refit_candidates=self.refit_candidates,
                                  store_features=self.store_features,
                                  error_score=self.error_score)
        ss = np.random.SeedSequence(self.random_state)
        cv_seq, run_seq, final_seq = ss.spawn(3)
        all_idx = np.arange(X.shape[0])
        if self.cv is None:
            pairs = [(all_idx, np.array([], dtype=np.int64))]
        else:
            cv = check_domain_cv(
                self.cv, test_size=self.test_size, random_state=_seed_ints(cv_seq, 1)[0]
            )
            # The evaluator draws the outer split and may stratify on true target classes.
            pairs = list(cv) if isinstance(cv, list) else list(cv.split(X, y_true, sd))
        seeds = _seed_ints(run_seq, len(pairs))
        self.splits_ = []
        with warnings.catch_warnings():
            for i, (tr, te) in enumerate(pairs):
                self.splits_.append(run_outer_split(data, tr, te, settings,
                                                    random_state=seeds[i], outer_split=i))
                # Masked target labels: said once for the search, not once per split.
                warnings.filterwarnings("ignore", category=MaskedTargetLabelsWarning)
        self._collect()
        if final_scorer is not None:
            final = (
                self.splits_[0]
                if self.cv is None
                else run_outer_split(data, all_idx, np.array([], dtype=np.int64), settings,
                                     random_state=_seed_ints(final_seq, 1)[0], outer_split=-1)
            )
            self.final_search_ = final
            if final_scorer in getattr(final, "aggregations", {}):
                self.best_estimator_ = self._ensemble(final, X, y_m, sd)
                return self
            idx = final.selected[final_scorer]
            if idx is None:
                raise DataValidationError(f"Scorer {final_scorer!r} selected no candidate.")
            self.best_params_final_ = dict(self.candidates_[idx])
            self.best_estimator_ = (
                clone(self.estimator).set_params(**self.best_params_final_).fit(X, y_m, sd)
            )
        return self

    def _ensemble(self, final: OuterSplitSearch, X, y_m, sd):
        """The aggregation's model: its weighted candidates, each fitted on all rows."""
        from shiftlab.selection.ensemble import WeightedEnsemble

        weights = np.nan_to_num(final.aggregations[self.refit][1])
        used = np.flatnonzero(weights)
        if not used.size:
            raise DataValidationError(f"Aggregation {self.refit!r} gave every candidate a "
                                      "zero weight.")
        self.best_params_final_ = {
            "ensemble": [dict(self.candidates_[c]) for c in used],
            "weights": [float(weights[c]) for c in used],
        }
        # clone again: set_params puts a candidate's step object itself in the pipeline
        # and then sets its parameters; members sharing that object must not share them.
        members = [clone(clone(self.estimator).set_params(**self.candidates_[c]))
                   for c in used]
        return WeightedEnsemble(members, [float(weights[c]) for c in used]).fit(X, y_m, sd)

    def _collect(self) -> None:
        self.results_ = pd.concat([s.table() for s in self.splits_], ignore_index=True)
        self.best_index_ = {
            name: [s.selected.get(name) for s in self.splits_] for name in self._scorer_names()
        }
        self.best_params_ = {
            name: [None if c is None else dict(self.candidates_[c]) for c in idx]
            for name, idx in self.best_index_.items()
        }

    def _scorer_names(self) -> list[str]:
        return list(self.splits_[0].scorers) if self.splits_ else []

    @property
    def inner_scores_(self) -> pd.DataFrame:
        check_is_fitted(self, "splits_")
        return pd.concat([s.inner_table() for s in self.splits_], ignore_index=True)

    def add_scorer(self, scorer, **params):
        """Score the stored records with a new scorer and update the results.

        No estimator is fitted, except circular validation's backward refits (cached:
        free when CircV already ran) and, with ``refit_candidates="selected"``, the outer
        refit of a newly selected candidate that no other scorer had selected.

        Parameters
        ----------
        scorer : str or scorer object
        **params
            Passed to :func:`~shiftlab.selection.get_scorer` with a name.

        Returns
        -------
        self
        """
        check_is_fitted(self, "splits_")
        scorer = get_scorer(scorer, **params)
        if scorer.name in self._scorer_names():
            raise DataValidationError(
                f"A scorer named {scorer.name!r} is already in the search; give the new one "
                "another name."
            )
        if not scorer.supports(self.kind_):
            raise DataValidationError(f"Scorer {scorer.name!r} does not support {self.kind_}.")
        for s in self.splits_:
            s.add_scorer(scorer)
            s.evaluate()
        self.scorers_ = [*self.scorers_, scorer]
        self._collect()
        return self

    # ---- summaries ----------------------------------------------------------
    def summary(self, metric: str | None = None) -> pd.DataFrame:
        """Per scorer: mean, std and standard error over outer splits of the selected
        candidates' test metric (default ``test_accuracy`` / ``test_mse``)."""
        check_is_fitted(self, "results_")
        from shiftlab.selection.reliability import selection_summary

        return selection_summary(self.results_, metric=metric)

    def reliability(self, metric: str | None = None) -> pd.DataFrame:
        """Per scorer: rank correlation with the test metric and regret vs the oracle."""
        check_is_fitted(self, "results_")
        from shiftlab.selection.reliability import scorer_reliability

        return scorer_reliability(self.results_, metric=metric)

    # ---- prediction with the refitted model ---------------------------------
    def _best(self):
        if not hasattr(self, "best_estimator_"):
            raise AttributeError(
                "best_estimator_ exists only when DomainSearchCV is built with refit=<scorer>."
            )
        return self.best_estimator_

    def predict(self, X, sample_domain=None):
        return call_with_domain(self._best(), "predict", X, sample_domain)

    def predict_proba(self, X, sample_domain=None):
        return call_with_domain(self._best(), "predict_proba", X, sample_domain)

    def decision_function(self, X, sample_domain=None):
        return call_with_domain(self._best(), "decision_function", X, sample_domain)

    def transform(self, X, sample_domain=None):
        return call_with_domain(self._best(), "transform", X, sample_domain)
