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

import json
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import (
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import ParameterGrid
from sklearn.utils.validation import check_is_fitted

from shiftlab.data.convention import (
    check_domain_arrays,
    is_masked,
    label_kind,
    mask_target_labels,
)
from shiftlab.exceptions import (
    AllCandidatesFailedError,
    DataValidationError,
    MissingOutputsError,
)
from shiftlab.selection.ensemble import combine_probabilities
from shiftlab.selection.metrics import binary_roc_auc, label_metrics
from shiftlab.selection.records import (
    MODEL_OUTPUTS,
    CandidateRecord,
    FitCache,
    SplitContext,
    SplitLabels,
    accepts_sample_domain,
    as_float,
    call_with_domain,
    candidate_model,
    fit_candidate,
    model_outputs,
)
from shiftlab.selection.scorers import DEFAULT_REALISTIC, BaseScorer, get_scorer
from shiftlab.selection.splitters import check_domain_cv

__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "DomainSearchCV",
    "OuterSplitSearch",
    "candidate_list",
    "evaluate_split",
    "resolve_scorers",
]

#: Outer test metrics (columns ``test_<name>`` of the results table).
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc")
REGRESSION_METRICS = ("mse", "r2")


# --------------------------------------------------------------------------- helpers
def candidate_list(param_grid) -> list[dict]:
    """Expand a grid (dict or list of dicts, as in scikit-learn) into candidate params."""
    if param_grid is None or param_grid == {} or param_grid == []:
        return [{}]
    return [dict(p) for p in ParameterGrid(param_grid)]


def resolve_scorers(scorers, kind: str, *, oracle: bool = True) -> list[BaseScorer]:
    """Scorer objects for a search.

    ``None`` means every default realistic scorer that supports ``kind``, the rank
    consensus and (when ``oracle``, i.e. target labels are known) the oracle. Names must
    be unique; a scorer that does not support ``kind`` raises.
    """
    if scorers is None:
        objs = [get_scorer(n) for n in DEFAULT_REALISTIC]
        objs = [s for s in objs if s.supports(kind)]
        objs.append(get_scorer("consensus"))
        if oracle:
            objs.append(get_scorer("oracle"))
    else:
        if isinstance(scorers, (str, BaseScorer)):
            scorers = [scorers]
        objs = [get_scorer(s) for s in scorers]
    names = [s.name for s in objs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataValidationError(
            f"Scorer names must be unique within a search; repeated: {dupes}. Give "
            "variants a name, e.g. get_scorer('SND', T=0.1, name='SND-0.1')."
        )
    for s in objs:
        if not s.supports(kind):
            raise DataValidationError(
                f"Scorer {s.name!r} supports {list(s.tasks)} only, but the labels are "
                f"{kind}. Leave it out (scorers=None picks the suitable ones)."
            )
    return objs


def _check_estimator(estimator) -> None:
    if not hasattr(estimator, "fit") or not accepts_sample_domain(estimator.fit):
        raise DataValidationError(
            f"{type(estimator).__name__}.fit does not accept sample_domain. Wrap plain "
            "scikit-learn estimators in a DA pipeline, e.g. "
            "shiftlab.methods.make_da_pipeline(LogisticRegression()), so that target "
            "rows are handled (and masked) properly."
        )


def _check_stored_outputs(scorer: BaseScorer, rec) -> None:
    """Raise if ``rec`` lacks what ``scorer`` reads because the search chose not to keep
    it (the scorer was not part of the search); other gaps leave the record unscored."""
    if "features" in scorer.needs and rec.features_target_val is None:
        raise MissingOutputsError(
            f"Scorer {scorer.name!r} needs features, which this search did not store; "
            "rerun it with the scorer (or store_features=True)."
        )
    # Records keep both decision fields or neither; with probabilities and without
    # them, the search dropped them.
    if scorer.reads_decision and rec.decision_target_val is None and (
        rec.proba_target_val is not None
    ):
        raise MissingOutputsError(
            f"Scorer {scorer.name!r} reads decision values, which this search did not "
            "store (the model has predict_proba, so they are kept only for scorers that "
            "declare needs=('decision',)); rerun it with the scorer."
        )


def _seed_ints(seed_seq: np.random.SeedSequence, n: int) -> list[int]:
    return [int(s) for s in seed_seq.generate_state(n, dtype=np.uint32)]


def mixval_seed(random_state) -> int:
    """Seed of MixVal's target pairing in an outer split searched with ``random_state``.

    Every inner split pairs its target validation rows with the permutation
    ``numpy.random.RandomState(seed).permutation(n_target)``, as skada's
    ``MixValScorer(random_state=seed)`` does, so both libraries probe the same pairs.
    """
    return _seed_ints(np.random.SeedSequence(random_state).spawn(3)[2], 1)[0]


def _params_str(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=repr)


def _param_value(value):
    """A table-friendly parameter value: scalars as they are, objects as their repr."""
    if value is None or isinstance(value, (bool, int, float, str, np.number)):
        return value.item() if isinstance(value, np.number) else value
    return repr(value)


@dataclass
class OuterRecord:
    """Outputs of one candidate refitted on a whole outer-train part, on its test targets."""

    candidate: int
    pred: np.ndarray | None = None
    proba: np.ndarray | None = None
    decision: np.ndarray | None = None
    classes: np.ndarray | None = None
    fit_time: float = float("nan")
    error: str | None = None


def _combined_outer_record(outer: dict[int, OuterRecord], weights: np.ndarray) -> OuterRecord:
    """The weighted ensemble of refitted candidates' test probabilities, as one record.

    Predictions are the argmax of the weighted sum (weights may be negative: IWA's are
    a least-squares fit); the probabilities reported for ROC AUC are that sum clipped at
    0 and normalised per row.
    """
    used = np.flatnonzero(weights)
    parts = [(outer[c], weights[c]) for c in used
             if c in outer and outer[c].pred is not None and outer[c].classes is not None]
    if not parts or len(parts) < len(used):  # a combined candidate was not refitted
        return OuterRecord(candidate=-1, error="not every weighted candidate was refitted")
    pred, proba, union = combine_probabilities(
        [(rec.classes, rec.proba, rec.pred, w) for rec, w in parts], len(parts[0][0].pred))
    return OuterRecord(candidate=-1, pred=pred, proba=proba, classes=union)


def _check_same_splits(a: OuterSplitSearch, b: OuterSplitSearch, name: str) -> None:
    """Pooled searches must have scored their candidates on the same rows."""
    same = a.outer_split == b.outer_split and a.n_inner == b.n_inner and a.kind == b.kind
    if same:
        for ca, cb in zip(a.contexts, b.contexts, strict=True):
            # equal_nan: rows with missing values (a pipeline that imputes them)
            if not (np.array_equal(ca.X_source_val, cb.X_source_val, equal_nan=True)
                    and np.array_equal(ca.X_target_val, cb.X_target_val, equal_nan=True)):
                same = False
                break
    if not same:
        raise DataValidationError(
            f"Search {name!r} was not run on the same outer split and inner splits as the "
            "first search of the pool; run every method with the same data, outer split "
            "and random_state."
        )


def _fit_outer(estimator, params, candidate, X, y, sd, X_test, sd_test, kind, error_score):
    rec = OuterRecord(candidate=candidate)
    model = candidate_model(estimator, params)
    t0 = time.perf_counter()
    try:
        model.fit(X, y, sample_domain=sd)
    except Exception as exc:
        if error_score == "raise":
            raise
        warnings.warn(f"Outer refit of candidate {candidate} failed: {exc!r}", stacklevel=2)
        rec.error = repr(exc)
        return rec
    rec.fit_time = time.perf_counter() - t0
    if len(X_test) == 0:
        return rec
    # One adapter pass for all outputs when the model offers it (final_outputs).
    out = model_outputs(model, X_test, sd_test, MODEL_OUTPUTS[kind], features=False)
    rec.pred = np.asarray(out["predict"])
    if kind == "classification":
        rec.classes = np.asarray(getattr(model, "classes_", np.unique(y[sd >= 0])))
        rec.proba = as_float(out.get("predict_proba"))
        rec.decision = as_float(out.get("decision_function"))
    return rec


def target_metrics(kind: str, y_true, rec: OuterRecord | None) -> dict[str, float]:
    """Outer test metrics of a refitted candidate on the labelled target test rows."""
    names = CLASSIFICATION_METRICS if kind == "classification" else REGRESSION_METRICS
    out = {f"test_{m}": float("nan") for m in names}
    if rec is None or rec.pred is None or y_true is None or len(y_true) == 0:
        return out
    pred = rec.pred
    if kind == "regression":
        out["test_mse"] = float(mean_squared_error(y_true, pred))
        out["test_r2"] = float(r2_score(y_true, pred)) if len(y_true) > 1 else float("nan")
        return out
    out.update(label_metrics(y_true, pred))
    try:
        classes = rec.classes
        if classes is not None and len(classes) == 2:
            if rec.proba is not None:
                s = rec.proba[:, 1]
            elif rec.decision is not None:
                s = rec.decision.ravel()
            else:
                s = None
            if s is not None:
                out["test_roc_auc"] = binary_roc_auc(y_true == classes[1], s)
        elif classes is not None and rec.proba is not None:
            out["test_roc_auc"] = float(
                roc_auc_score(y_true, rec.proba, multi_class="ovr", labels=classes)
            )
    except ValueError:  # a class missing from the test rows, unknown labels, ...
        pass
    return out


# --------------------------------------------------------------------------- one outer split
@dataclass
class OuterSplitSearch:
    """State of the protocol on one outer split: records, scores, selections, refits.

    Built and run by :func:`evaluate_split` and :class:`DomainSearchCV`; kept by the
    latter so that scorers can be added after the search (:meth:`add_scorer`).
    Evaluator-only data (``_labels``, ``_y_test``) never reach a realistic scorer.
    """

    estimator: Any
    candidates: list[dict]
    outer_split: int
    kind: str
    contexts: list[SplitContext] = field(repr=False)
    records: dict[tuple[int, int], CandidateRecord] = field(repr=False)
    n_jobs: Any = None
    refit: str = "all"
    error_score: str = "nan"
    scores: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    scorers: dict[str, BaseScorer] = field(default_factory=dict)
    selected: dict[str, int | None] = field(default_factory=dict)
    outer: dict[int, OuterRecord] = field(default_factory=dict, repr=False)
    refit_cache: FitCache = field(default_factory=FitCache, repr=False)
    # evaluator-only
    _labels: list[SplitLabels] = field(default_factory=list, repr=False)
    _y_test: np.ndarray | None = field(default=None, repr=False)
    _train: tuple | None = field(default=None, repr=False)
    _test: tuple | None = field(default=None, repr=False)
    n_outer_fits: int = 0
    #: Method of each candidate, for pools merged from several searches (:meth:`pool`).
    methods: list[str] | None = None
    #: Aggregations (name -> (scorer, weights per candidate)): weighted ensembles of the
    #: refitted candidates, reported as candidate -1.
    aggregations: dict[str, tuple[BaseScorer, np.ndarray]] = field(default_factory=dict)

    @property
    def n_inner(self) -> int:
        return len(self.contexts)

    # ---- scoring ------------------------------------------------------------
    def _score_records(self, scorer: BaseScorer) -> np.ndarray:
        n_c, n_s = len(self.candidates), self.n_inner
        out = np.full((n_c, n_s), np.nan)
        if getattr(scorer, "is_pool", False):  # reads every candidate of a split at once
            for s, ctx in enumerate(self.contexts):
                recs = [self.records[(c, s)] for c in range(n_c)]
                out[:, s] = scorer.score_pool([None if r.failed else r for r in recs], ctx)
            return out
        if scorer.needs_refit:
            requests = []
            for (_c, s), rec in self.records.items():
                if not rec.failed and scorer.has_inputs(rec):
                    requests.append(scorer.refit_request(rec, self.contexts[s]))
            self.refit_cache.run(self.estimator, requests, n_jobs=self.n_jobs)
        for (c, s), rec in self.records.items():
            if rec.failed:
                continue
            if not scorer.has_inputs(rec):
                _check_stored_outputs(scorer, rec)
                continue
            ctx = self.contexts[s]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    if scorer.uses_target_labels:
                        # The one place where target labels reach a scorer: the oracle.
                        value = scorer.score(rec, ctx, self._labels[s])
                    elif scorer.needs_refit:
                        key = (scorer.refit_key, c, s)
                        value = scorer.score(rec, ctx, self.refit_cache[key])
                    else:
                        value = scorer.score(rec, ctx)
            except Exception as exc:
                # A scorer that cannot score one record (degenerate fold, ...) gives NaN there.
                if self.error_score == "raise":
                    raise
                warnings.warn(
                    f"Scorer {scorer.name!r} failed on candidate {c}, inner split {s}: "
                    f"{exc!r}. Score set to NaN.",
                    stacklevel=3,
                )
                value = np.nan
            out[c, s] = value
        return out

    def add_scorer(self, scorer: BaseScorer) -> None:
        """Score every stored record with ``scorer`` (no fit except CircV's cached refits).

        An aggregation (``scorer.is_aggregation``, e.g. IWA) selects nothing: it gets a
        weight per candidate, and the weighted ensemble of the refitted candidates is
        reported as candidate -1.
        """
        if getattr(scorer, "is_aggregation", False):
            aggregations = self.__dict__.setdefault("aggregations", {})
            aggregations[scorer.name] = (scorer, np.asarray(scorer.weights(self), dtype=float))
            return
        if hasattr(scorer, "aggregate_search"):  # reads the whole pool (zconsensus, safe)
            self.scores[scorer.name] = np.asarray(scorer.aggregate_search(self),
                                                  dtype=float)[:, None]
        elif scorer.is_aggregate:
            members = scorer.members
            members = self.realistic_members(members, scorer.name)
            means = {m: self._mean(m) for m in members}
            agg = np.asarray(scorer.aggregate(means), dtype=float)
            self.scores[scorer.name] = agg[:, None]
        else:
            self.scores[scorer.name] = self._score_records(scorer)
        self.scorers[scorer.name] = scorer
        self.selected[scorer.name] = self._select(scorer.name)

    def realistic_members(self, members, name: str) -> list[str]:
        """The scorers an ensemble or a cross-method selector named ``name`` combines.

        ``None``: every realistic (non-oracle, non-aggregate) scorer already computed.
        Raises when a member is missing, is the oracle, or when there is none.
        """
        if members is None:
            members = [n for n, s in self.scorers.items()
                       if not (s.uses_target_labels or s.is_aggregate) and n != name]
        missing = [m for m in members if m not in self.scores]
        if missing:
            raise DataValidationError(
                f"{name!r} combines {missing}, which this search has not computed; add them "
                "first."
            )
        if any(self.scorers[m].uses_target_labels for m in members):
            raise DataValidationError(f"A realistic selector ({name!r}) cannot read the oracle.")
        if not members:
            raise DataValidationError(f"{name!r} needs at least one realistic scorer.")
        return list(members)

    def rescore(self, scorers) -> pd.DataFrame:
        """Add scorers missing from this split (names or objects) and return the table.

        Scores come from the stored records; only CircV's backward fits (cached) and, with
        ``refit="selected"``, outer refits of newly selected candidates are fitted.
        """
        if isinstance(scorers, (str, BaseScorer)):
            scorers = [scorers]
        new = [get_scorer(sc) for sc in scorers]
        for sc in sorted(new, key=lambda sc: sc.is_aggregate):
            if sc.name not in self.scorers:
                if not sc.supports(self.kind):
                    raise DataValidationError(f"Scorer {sc.name!r} does not support {self.kind}.")
                self.add_scorer(sc)
        self.evaluate()
        return self.table()

    def save(self, path) -> None:
        """Write the split's state (records, caches, labels), for rescoring.

        A plain pickle (C implementation, highest protocol): 1-3 ms for a benchmark
        job's records where ``joblib.dump(compress=3)`` (a pure-Python pickler, then
        zlib) took 12-35 ms. Compression halved the files at most: they hold float
        predictions and features, which zlib barely shrinks.
        """
        import pickle

        with open(path, "wb") as fh:
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def load(path) -> OuterSplitSearch:
        """Read a state written by :meth:`save` (a trusted file: joblib unpickles it).

        joblib detects the compression, so files of earlier versions (written by
        ``joblib.dump``) load too.
        """
        import joblib

        obj = joblib.load(path)
        if not isinstance(obj, OuterSplitSearch):
            raise DataValidationError(f"{path} does not hold an OuterSplitSearch.")
        return obj

    def _mean(self, name: str) -> np.ndarray:
        vals = self.scores[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(vals, axis=1)

    def _select(self, name: str) -> int | None:
        mean = self._mean(name)
        if np.all(np.isnan(mean)):
            warnings.warn(
                f"Scorer {name!r} gave no finite score on outer split {self.outer_split}; "
                "nothing selected.",
                stacklevel=3,
            )
            return None
        # First best on ties: deterministic, and independent of anything but the scores.
        return int(np.nanargmax(mean))

    # ---- outer refits -------------------------------------------------------
    def evaluate(self) -> None:
        """Refit the candidates to evaluate (all, or the selected ones) once each."""
        if self.refit == "all":
            wanted = set(range(len(self.candidates)))
        else:
            wanted = {c for c in self.selected.values() if c is not None}
            for _, weights in getattr(self, "aggregations", {}).values():
                wanted |= {int(c) for c in np.flatnonzero(np.nan_to_num(weights))}
        X_tr, y_tr, sd_tr = self._train
        X_te, sd_te = self._test
        if len(X_te) == 0:
            return  # selection-only run: nothing to evaluate
        todo = sorted(wanted - set(self.outer))
        if not todo:
            return
        outs = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_outer)(
                self.estimator,
                self.candidates[c],
                c,
                X_tr,
                y_tr,
                sd_tr,
                X_te,
                sd_te,
                self.kind,
                self.error_score,
            )
            for c in todo
        )
        for c, rec in zip(todo, outs, strict=True):
            self.outer[c] = rec
        self.n_outer_fits += len(todo)

    # ---- results ------------------------------------------------------------
    def table(self) -> pd.DataFrame:
        """Tidy table: one row per (candidate, scorer) of this outer split."""
        metrics = {c: target_metrics(self.kind, self._y_test, r) for c, r in self.outer.items()}
        empty = target_metrics(self.kind, None, None)
        fit_time = np.full(len(self.candidates), np.nan)
        for c in range(len(self.candidates)):
            times = [self.records[(c, s)].fit_time for s in range(self.n_inner)]
            fit_time[c] = np.nanmean(times) if np.isfinite(times).any() else np.nan
        param_names = sorted({k for p in self.candidates for k in p})
        # What does not depend on the scorer, computed once per candidate.
        per_candidate = [
            {
                "outer_split": self.outer_split,
                "candidate": c,
                "params": _params_str(params),
                **{f"param_{k}": _param_value(params.get(k)) for k in param_names},
            }
            for c, params in enumerate(self.candidates)
        ]
        rows = []
        for name, scorer in self.scorers.items():
            vals = self.scores[name]
            mean = self._mean(name)
            ranks = pd.Series(mean).rank(ascending=False, method="min").to_numpy()
            finite = np.isfinite(vals)
            n_finite = finite.sum(axis=1)
            with warnings.catch_warnings():  # all-NaN rows: std NaN, as below
                warnings.simplefilter("ignore", RuntimeWarning)
                std = np.nanstd(np.where(finite, vals, np.nan), axis=1)
            sel = self.selected.get(name)
            for c in range(len(self.candidates)):
                is_sel = sel == c
                row = {
                    **per_candidate[c],
                    "scorer": name,
                    "oracle": bool(scorer.uses_target_labels),
                    "inner_score": float(mean[c]),
                    # The spread over inner splits (NaN with fewer than two scores).
                    "inner_score_std": float(std[c]) if n_finite[c] > 1 else float("nan"),
                    "n_inner": int(n_finite[c]),
                    "rank": float(ranks[c]),
                    "selected": bool(is_sel),
                }
                show = self.refit == "all" or is_sel
                row.update(metrics.get(c, empty) if show else empty)
                row["mean_fit_time"] = float(fit_time[c])
                rows.append(row)
        rows += self._aggregation_rows()
        table = pd.DataFrame(rows)
        methods = self.candidate_methods()
        if any(methods):  # a pool of several methods: say which each candidate is
            table.insert(2, "pool_method", [
                methods[c] if c >= 0 else "" for c in table["candidate"]])
        for k in param_names:
            col = f"param_{k}"
            kinds = {type(v) for v in table[col] if v is not None}
            if len(kinds) > 1:  # e.g. gamma in [0.1, 1.0, "auto"]: one type per column
                table[col] = [None if v is None else str(v) for v in table[col]]
        return table

    def _aggregation_rows(self) -> list[dict]:
        """One row per aggregation: the weighted ensemble of the refitted candidates."""
        rows = []
        for name, (_, weights) in getattr(self, "aggregations", {}).items():
            rec = _combined_outer_record(self.outer, np.nan_to_num(weights))
            used = np.flatnonzero(np.nan_to_num(weights))
            fit_time = sum(self.outer[c].fit_time for c in used if c in self.outer)
            rows.append({
                "outer_split": self.outer_split,
                "candidate": -1,
                "params": json.dumps({str(c): round(float(weights[c]), 6) for c in used}),
                "scorer": name,
                "oracle": False,
                "inner_score": float("nan"),
                "inner_score_std": float("nan"),
                "n_inner": self.n_inner,
                "rank": 1.0,
                "selected": True,
                **target_metrics(self.kind, self._y_test, rec),
                # What the aggregate costs: every candidate it combines is refitted.
                "mean_fit_time": float(fit_time),
            })
        return rows

    def candidate_methods(self) -> list[str]:
        """The method of each candidate ("" when the search holds one method).

        A merged pool knows them (:meth:`pool`); a cross-method grid
        (:func:`~shiftlab.selection.method_pool`) names them by the adapter (or DA
        estimator) each candidate puts in the pipeline.
        """
        if getattr(self, "methods", None) is not None:
            return list(self.methods)
        from shiftlab.methods.base import BaseAdapter, BaseDAEstimator
        from shiftlab.methods.registry import method_name_of

        out = []
        for params in self.candidates:
            steps = [v for k, v in params.items() if "__" not in k
                     and isinstance(v, BaseAdapter | BaseDAEstimator)]
            names = [method_name_of(type(v)) for v in steps]
            names = [n for n in names if n]
            # A DA estimator behind the identity adapter is the method.
            out.append(names[-1] if names else "")
        return out

    @classmethod
    def pool(cls, searches: dict[str, OuterSplitSearch]) -> OuterSplitSearch:
        """One pool from the searches of several methods on the same outer split.

        The searches must share their inner splits (same rows in every split), as the
        benchmark's jobs of one task and outer split do. The pool holds every candidate
        of every search (``methods`` says whose), their records, the scores of the
        scorers all searches have, and their outer refits; it refits nothing (its
        estimator is ``None``), so pool scorers and aggregations are computed from what
        was stored.
        """
        if not searches:
            raise DataValidationError("A pool needs at least one search.")
        items = list(searches.items())
        first = items[0][1]
        for name, other in items[1:]:
            _check_same_splits(first, other, name)
        candidates, methods, records, outer = [], [], {}, {}
        scores: dict[str, list[np.ndarray]] = {}
        common = set.intersection(*(set(s.scores) for _, s in items))
        for name, search in items:
            offset = len(candidates)
            candidates += [dict(p) for p in search.candidates]
            methods += [name] * len(search.candidates)
            for (c, sp), rec in search.records.items():
                records[(offset + c, sp)] = replace(rec, candidate=offset + c)
            for c, rec in search.outer.items():
                outer[offset + c] = replace(rec, candidate=offset + c)
            for scorer in common:
                if not getattr(search.scorers[scorer], "is_aggregate", False):
                    scores.setdefault(scorer, []).append(search.scores[scorer])
        merged = cls(
            estimator=None, candidates=candidates, outer_split=first.outer_split,
            kind=first.kind, contexts=first.contexts, records=records,
            refit=first.refit, error_score=first.error_score,
            _labels=first._labels, _y_test=first._y_test, _train=first._train,
            _test=first._test, methods=methods, outer=outer,
            n_outer_fits=sum(s.n_outer_fits for _, s in items),
        )
        for scorer, parts in scores.items():
            merged.scores[scorer] = np.vstack(parts)
            merged.scorers[scorer] = first.scorers[scorer]
            merged.selected[scorer] = merged._select(scorer)
        return merged

    def inner_table(self) -> pd.DataFrame:
        """Long table of every inner score: (outer_split, inner_split, candidate, scorer)."""
        rows = []
        for name, vals in self.scores.items():
            if self.scorers[name].is_aggregate:
                continue
            for c in range(vals.shape[0]):
                for s in range(vals.shape[1]):
                    rows.append(
                        {
                            "outer_split": self.outer_split,
                            "inner_split": s,
                            "candidate": c,
                            "scorer": name,
                            "oracle": bool(self.scorers[name].uses_target_labels),
                            "score": float(vals[c, s]),
                        }
                    )
        return pd.DataFrame(rows)


def _imputes(estimator) -> bool:
    """Whether ``estimator`` takes rows with missing values: a DA pipeline whose first
    steps are plain transformers (an imputer), or an estimator tagged ``allow_nan``."""
    from sklearn.utils import get_tags

    from shiftlab.methods.base import DAPipeline, _leading_transformers

    if isinstance(estimator, DAPipeline):
        return _leading_transformers(estimator.steps) > 0
    try:
        return bool(get_tags(estimator).input_tags.allow_nan)
    except (AttributeError, TypeError, ValueError):
        return False


def _prepare(X, y, sample_domain, estimator=None):
    """Validate arrays; return X, the masked labels, sample_domain and the true labels.

    Missing values (NaN) in X are accepted when ``estimator`` imputes them itself.
    """
    X, y_true, sd = check_domain_arrays(X, y, sample_domain, target_labels="keep",
                                        allow_nan=_imputes(estimator))
    kind = label_kind(y_true[sd >= 0])
    y_masked = mask_target_labels(y_true, sd, kind)
    return X, y_masked, sd, y_true, kind


def _has_target_labels(y_true, sd, kind) -> bool:
    tgt = sd < 0
    return bool(tgt.any() and not is_masked(y_true[tgt], kind).any())


def _target_labels(y_true, sd, kind):
    """True labels of the target rows, or None if any of them is masked (unknown)."""
    tgt = sd < 0
    yt = y_true[tgt]
    if yt.size == 0 or is_masked(yt, kind).any():
        return None
    return yt


def run_outer_split(
    estimator,
    candidates: list[dict],
    scorers: list[BaseScorer],
    X,
    y_masked,
    sample_domain,
    y_true,
    kind: str,
    train_idx,
    test_idx,
    *,
    inner_cv=5,
    inner_test_size=0.2,
    random_state=None,
    n_jobs=None,
    refit: str = "all",
    outer_split: int = 0,
    store_features="auto",
    store_estimators: bool = False,
    error_score="nan",
    memory=None,
) -> OuterSplitSearch:
    """Run the protocol on one outer split from validated arrays (see :func:`evaluate_split`)."""
    if refit not in ("all", "selected"):
        raise DataValidationError(f"refit must be 'all' or 'selected', got {refit!r}.")
    if error_score not in ("nan", "raise") and not (
        isinstance(error_score, float) and np.isnan(error_score)
    ):
        raise DataValidationError("error_score must be 'nan' or 'raise'.")
    error_score = "raise" if error_score == "raise" else "nan"
    train_idx = np.asarray(train_idx, dtype=np.int64)
    test_idx = np.asarray(test_idx, dtype=np.int64)
    if np.intersect1d(train_idx, test_idx).size:
        raise DataValidationError("Outer train and test indices overlap.")
    ss = np.random.SeedSequence(random_state)
    cv_seq, ctx_seq = ss.spawn(2)  # the first two children of mixval_seed's spawn(3)
    mix_seed = mixval_seed(random_state)
    X_tr, y_tr, sd_tr = X[train_idx], y_masked[train_idx], sample_domain[train_idx]
    if (sd_tr >= 0).sum() == 0 or (sd_tr < 0).sum() == 0:
        raise DataValidationError("The outer-train part needs both source and target rows.")
    inner = check_domain_cv(
        inner_cv, test_size=inner_test_size, random_state=_seed_ints(cv_seq, 1)[0]
    )
    # Inner splits see masked labels only: they cannot depend on target classes.
    pairs = list(inner) if isinstance(inner, list) else list(inner.split(X_tr, y_tr, sd_tr))
    if not pairs:
        raise DataValidationError("The inner cross-validator yielded no split.")
    seeds = _seed_ints(ctx_seq, len(pairs))
    contexts, labels = [], []
    y_true_tr = y_true[train_idx]
    for s, (tr, va) in enumerate(pairs):
        tr, va = np.asarray(tr), np.asarray(va)
        sv, tv = va[sd_tr[va] >= 0], va[sd_tr[va] < 0]
        if sv.size == 0 or tv.size == 0:
            raise DataValidationError(
                f"Inner split {s} has no source or no target validation row; use a "
                "domain-stratified inner splitter (StratifiedDomainShuffleSplit)."
            )
        contexts.append(
            SplitContext(
                split=s,
                X_source_val=X_tr[sv],
                y_source_val=y_tr[sv],
                X_target_val=X_tr[tv],
                sample_domain_source_val=sd_tr[sv],
                sample_domain_target_val=sd_tr[tv],
                X_train=X_tr[tr],
                y_train=y_tr[tr],
                sample_domain_train=sd_tr[tr],
                seed=seeds[s],
                mix_seed=mix_seed,
                kind=kind,
                memory=memory,
            )
        )
        yt = y_true_tr[tv]
        labels.append(SplitLabels(s, None if is_masked(yt, kind).any() else yt.copy()))
    if store_features == "auto":
        store_features = any("features" in sc.needs for sc in scorers)
    store_decision = any(sc.reads_decision for sc in scorers)
    jobs = [(c, s) for c in range(len(candidates)) for s in range(len(contexts))]
    recs = Parallel(n_jobs=n_jobs)(
        delayed(fit_candidate)(
            estimator,
            candidates[c],
            c,
            contexts[s],
            store_features=bool(store_features),
            store_decision=store_decision,
            store_estimator=store_estimators,
            error_score=error_score,
        )
        for c, s in jobs
    )
    _raise_if_all_failed(candidates, recs)
    te_tgt = test_idx[sample_domain[test_idx] < 0]
    y_test = _target_labels(y_true[te_tgt], sample_domain[te_tgt], kind)
    search = OuterSplitSearch(
        estimator=estimator,
        candidates=candidates,
        outer_split=outer_split,
        kind=kind,
        contexts=contexts,
        records=dict(zip(jobs, recs, strict=True)),
        n_jobs=n_jobs,
        refit=refit,
        error_score=error_score,
        _labels=labels,
        _y_test=y_test,
        _train=(X_tr, y_tr, sd_tr),
        _test=(X[te_tgt], sample_domain[te_tgt]),
    )
    # Record-based scorers first, then ensembles over them.
    for scorer in sorted(scorers, key=lambda s: s.is_aggregate):
        search.add_scorer(scorer)
    search.evaluate()
    return search


def _raise_if_all_failed(candidates: list[dict], records: list[CandidateRecord]) -> None:
    """Raise :class:`AllCandidatesFailedError` when no inner fit succeeded.

    Every score would then be NaN and nothing could be selected: going on would only
    produce a table of NaN (and a benchmark job that "succeeded" with it), so the search
    stops with the reason instead, as scikit-learn's "All the N fits failed".
    """
    if not records or not all(rec.failed for rec in records):
        return
    first = min(records, key=lambda rec: (rec.candidate, rec.split))
    n_c = len(candidates)
    n_splits = len({rec.split for rec in records})
    others: dict[str, int] = {}
    for rec in records:
        if rec.error != first.error:
            others[rec.error] = others.get(rec.error, 0) + 1
    more = ""
    if others:
        shown = sorted(others.items(), key=lambda item: -item[1])[:3]
        more = " Other errors: " + "; ".join(f"{n} fit(s) with {err}" for err, n in shown)
        more += " ..." if len(others) > len(shown) else "."
    head, which = (f"All {n_c} candidates", "The first") if n_c > 1 else ("1 candidate", "The")
    raise AllCandidatesFailedError(
        f"{head} failed to fit on every inner split ({len(records)} fits on {n_splits} "
        f"split(s), all failed), so no candidate can be selected. {which} candidate, "
        f"{_params_str(first.params)}, failed on inner split {first.split} with "
        f"{first.error}.{more}"
    )


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
    _check_estimator(estimator)
    X, y_masked, sd, y_true, kind = _prepare(X, y, sample_domain, estimator)
    search = run_outer_split(
        estimator,
        candidate_list(param_grid),
        resolve_scorers(scorers, kind, oracle=_has_target_labels(y_true, sd, kind)),
        X,
        y_masked,
        sd,
        y_true,
        kind,
        train_idx,
        test_idx,
        inner_cv=inner_cv,
        random_state=random_state,
        n_jobs=n_jobs,
        refit=refit,
        outer_split=outer_split,
        store_features=store_features,
        error_score=error_score,
        memory=memory,
    )
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

    def _run(self, X, y_m, sd, y_true, kind, train_idx, test_idx, outer_id, seed):
        return run_outer_split(
            self.estimator,
            self.candidates_,
            self.scorers_,
            X,
            y_m,
            sd,
            y_true,
            kind,
            train_idx,
            test_idx,
            inner_cv=self.inner_cv,
            random_state=seed,
            n_jobs=self.n_jobs,
            refit=self.refit_candidates,
            outer_split=outer_id,
            store_features=self.store_features,
            error_score=self.error_score,
        )

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
        _check_estimator(self.estimator)
        X, y_m, sd, y_true, kind = _prepare(X, y, sample_domain, self.estimator)
        self.kind_ = kind
        self.candidates_ = candidate_list(self.param_grid)
        self.scorers_ = resolve_scorers(
            self.scorers, kind, oracle=_has_target_labels(y_true, sd, kind)
        )
        if self.refit is not None:
            refit_scorer = next((s for s in self.scorers_ if s.name == self.refit), None)
            if refit_scorer is None:
                raise DataValidationError(
                    f"refit={self.refit!r} is not among the search's scorers "
                    f"{[s.name for s in self.scorers_]}."
                )
            if refit_scorer.uses_target_labels:
                raise DataValidationError(
                    "refit with the oracle would select with target labels; pick a realistic "
                    "scorer."
                )
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
        self.splits_ = [
            self._run(X, y_m, sd, y_true, kind, tr, te, i, seeds[i])
            for i, (tr, te) in enumerate(pairs)
        ]
        self._collect()
        if self.refit is not None:
            final = (
                self.splits_[0]
                if self.cv is None
                else self._run(
                    X, y_m, sd, y_true, kind, all_idx, np.array([], dtype=np.int64), -1,
                    _seed_ints(final_seq, 1)[0],
                )
            )
            self.final_search_ = final
            if self.refit in getattr(final, "aggregations", {}):
                self.best_estimator_ = self._ensemble(final, X, y_m, sd)
                return self
            idx = final.selected[self.refit]
            if idx is None:
                raise DataValidationError(f"Scorer {self.refit!r} selected no candidate.")
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

