"""One outer split of the protocol, once searched: :class:`OuterSplitSearch` holds its
records, scores, selections and outer refits (:class:`OuterRecord`), and rescores,
pools and tabulates them without fitting again (circular validation's cached backward
fits and the outer refits of newly selected candidates aside).

Run folders store pickles of these objects under ``shiftlab.selection.search``, where
both classes are still importable.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from shiftlab.exceptions import DataValidationError, MissingOutputsError
from shiftlab.selection._context import SplitContext, SplitLabels
from shiftlab.selection._fastpath import RowSet, runner_for
from shiftlab.selection._refit import FitCache
from shiftlab.selection._table import (
    CANDIDATE,
    aggregation_row,
    candidate_key,
    result_row,
    target_metrics,
)
from shiftlab.selection.ensemble import combine_probabilities
from shiftlab.selection.records import MODEL_OUTPUTS, CandidateRecord, as_float
from shiftlab.selection.scorers import BaseScorer, get_scorer


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
    rows_a, rows_b = getattr(a, "rows", None), getattr(b, "rows", None)
    if same and rows_a is not None and rows_b is not None:
        same = rows_a.same_as(rows_b)
    elif same:
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
    runner = runner_for(estimator)
    model = runner.candidate(params)
    t0 = time.perf_counter()
    try:
        # On its own: the outer-train rows are fitted once per candidate anyway.
        fitted = runner.fit(model, params, RowSet(X, y, sd, {"test": (X_test, sd_test)}),
                            share=False)
    except Exception as exc:
        if error_score == "raise":
            raise
        warnings.warn(f"Outer refit of candidate {candidate} failed: {exc!r}", stacklevel=2)
        rec.error = repr(exc)
        return rec
    rec.fit_time = time.perf_counter() - t0
    if len(X_test) == 0:
        return rec
    out = runner.outputs(fitted, MODEL_OUTPUTS[kind], features=False)["test"]
    rec.pred = np.asarray(out["predict"])
    if kind == "classification":
        rec.classes = np.asarray(getattr(model, "classes_", np.unique(y[sd >= 0])))
        rec.proba = as_float(out.get("predict_proba"))
        rec.decision = as_float(out.get("decision_function"))
    return rec


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
    #: Which candidates :meth:`evaluate` refits on the outer-train part, "all" or
    #: "selected" (:class:`SearchSettings`'s ``refit_candidates``; the field keeps its
    #: name for the searches stored in run folders).
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
    #: Where the rows come from (:class:`~shiftlab.selection._storage.SearchRows`): what
    #: the stored form keeps instead of them.
    rows: Any = None

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
        per_candidate = [candidate_key(self.outer_split, c, params, param_names)
                         for c, params in enumerate(self.candidates)]
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
                show = self.refit == "all" or is_sel
                rows.append(result_row(
                    per_candidate[c], name,
                    oracle=bool(scorer.uses_target_labels),
                    inner_score=float(mean[c]),
                    inner_score_std=float(std[c]) if n_finite[c] > 1 else float("nan"),
                    n_inner=int(n_finite[c]),
                    rank=float(ranks[c]),
                    selected=bool(is_sel),
                    metrics=metrics.get(c, empty) if show else empty,
                    fit_time=float(fit_time[c]),
                ))
        rows += self._aggregation_rows()
        table = pd.DataFrame(rows)
        methods = self.candidate_methods()
        if any(methods):  # a pool of several methods: say which each candidate is
            table.insert(2, "pool_method", [
                methods[c] if c >= 0 else "" for c in table[CANDIDATE]])
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
            rows.append(aggregation_row(
                self.outer_split, name, weights, n_inner=self.n_inner,
                metrics=target_metrics(self.kind, self._y_test, rec),
                # What the aggregate costs: every candidate it combines is refitted.
                fit_time=float(fit_time),
            ))
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
        # sorted: the pool's scorer order (and its tables') must not depend on hashing
        common = sorted(set.intersection(*(set(s.scores) for _, s in items)))
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
            _test=first._test, methods=methods, outer=outer, rows=getattr(first, "rows", None),
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
