"""Selection across methods: pools, EnsV, the standardised consensus, the safe selector,
and the aggregations (Average, IWA)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from shiftlab.data.dataset import Task
from shiftlab.data.simulate import make_shifted_blobs
from shiftlab.exceptions import DataValidationError
from shiftlab.selection import (
    DomainSearchCV,
    EnsembleValidation,
    ImportanceWeightedAggregation,
    StratifiedDomainShuffleSplit,
    evaluate_split,
    get_scorer,
    method_pool,
)
from shiftlab.selection._outer import OuterSplitSearch
from shiftlab.selection.records import CandidateRecord, SplitContext

METHODS = {"CORAL": {"reg": [1e-3, 1.0]}, "SA": {"n_components": [1, 2]},
           "DensityReweight": None}
REALISTIC = ["IW", "PE", "SND", "EnsV", "zconsensus", "safe", "Average", "IWA"]


@pytest.fixture(scope="module")
def task():
    ds = make_shifted_blobs("covariate", random_state=0)
    X, _, sd, y = ds.pack(Task.parse("source->target"), return_target_labels=True)
    outer = next(StratifiedDomainShuffleSplit(n_splits=1, test_size=0.2, random_state=0)
                 .split(X, y, sd))
    return X, y, sd, outer


def _pool_search(task, y=None, scorers=(*REALISTIC, "oracle"), refit="all"):
    X, y_true, sd, (train, test) = task
    pipe, grid = method_pool(METHODS, LogisticRegression())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate_split(pipe, grid, X, y_true if y is None else y, sd, train, test,
                              scorers=list(scorers), inner_cv=3, random_state=1,
                              refit=refit, return_search=True)


def _record(c, pred, proba=None, classes=(0, 1)):
    return CandidateRecord(candidate=c, params={}, split=0, classes=np.array(classes),
                           pred_target_val=np.asarray(pred), proba_target_val=proba)


def test_ensv_scores_agreement_with_the_pool_ensemble():
    ctx = SplitContext(split=0, X_source_val=np.zeros((2, 1)), y_source_val=np.array([0, 1]),
                       X_target_val=np.zeros((4, 1)))
    recs = [_record(0, [0, 0, 1, 1]), _record(1, [0, 0, 1, 1]), _record(2, [1, 1, 0, 1]),
            None]  # a failed fit
    scores = EnsembleValidation().score_pool(recs, ctx)
    # The ensemble (mean of one-hot predictions) is [0, 0, 1, 1]: the two that agree
    # with it score 1, the odd one 1/4, the failed fit NaN.
    np.testing.assert_allclose(scores[:3], [1.0, 1.0, 0.25])
    assert np.isnan(scores[3])


def test_method_pool_has_source_only_and_names_each_candidate(task):
    table, search = _pool_search(task, scorers=["IW", "oracle"])
    methods = search.candidate_methods()
    assert methods[0] == "SourceOnly"
    assert set(methods) == {"SourceOnly", "CORAL", "SA", "DensityReweight"}
    assert len(methods) == 1 + 2 + 2 + 1
    assert set(table["pool_method"]) == set(methods)


def test_merged_searches_equal_one_cross_method_grid(task):
    """Searches of each method on the same outer split, merged, score like one search
    over the cross-method grid: same inner splits, same records, same choices."""
    X, y, sd, (train, test) = task
    _, whole = _pool_search(task)
    searches = {}
    for name, grid in {"SourceOnly": None, **METHODS}.items():
        pipe, grids = method_pool({} if name == "SourceOnly" else {name: grid},
                                  LogisticRegression())
        grids = grids[-1:]  # this method's grid only
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, searches[name] = evaluate_split(
                pipe, grids, X, y, sd, train, test, scorers=["IW", "PE", "SND", "oracle"],
                inner_cv=3, random_state=1, return_search=True)
    pool = OuterSplitSearch.pool(searches)
    assert pool.candidate_methods() == whole.candidate_methods()
    for name in ("EnsV", "zconsensus", "safe", "Average", "IWA"):
        pool.add_scorer(get_scorer(name))
    for name in ("IW", "PE", "SND", "oracle", "EnsV", "zconsensus", "safe"):
        np.testing.assert_allclose(pool.scores[name], whole.scores[name], err_msg=name)
        assert pool.selected[name] == whole.selected[name], name
    for name in ("Average", "IWA"):
        np.testing.assert_allclose(pool.aggregations[name][1], whole.aggregations[name][1])
    merged, single = pool.table(), whole.table()
    cols = ["candidate", "scorer", "selected", "test_accuracy"]
    a = merged[cols].sort_values(cols[:2]).reset_index(drop=True)
    b = single[cols].sort_values(cols[:2]).reset_index(drop=True)
    assert a.equals(b)


def test_pool_refuses_searches_on_other_splits(task):
    X, y, sd, (train, test) = task
    pipe, grids = method_pool({}, LogisticRegression())
    runs = [evaluate_split(pipe, grids, X, y, sd, train, test, scorers=["PE"], inner_cv=3,
                           random_state=seed, return_search=True)[1] for seed in (1, 2)]
    with pytest.raises(DataValidationError, match="same outer split and inner splits"):
        OuterSplitSearch.pool({"a": runs[0], "b": runs[1]})


def test_safe_selector_follows_its_stated_rule(task):
    _, search = _pool_search(task)
    methods = search.candidate_methods()
    members = [n for n, s in search.scorers.items()
               if not (s.uses_target_labels or s.is_aggregate)]
    consensus = search.scores["zconsensus"][:, 0]
    best = int(np.argmax(consensus))
    source = [c for c, m in enumerate(methods) if m == "SourceOnly"]
    s0 = source[int(np.argmax(consensus[source]))]
    wins = total = 0
    for m in members:
        v = search.scores[m]
        ok = np.isfinite(v[best]) & np.isfinite(v[s0])
        wins += int(np.sum(v[best][ok] > v[s0][ok]))
        total += int(ok.sum())
    expected = best if best not in source and wins / total >= 2 / 3 else s0
    assert search.selected["safe"] == expected
    # With a quorum no adapted candidate can reach, the safe choice is source-only.
    search.add_scorer(get_scorer("safe", quorum=1.0, members=["PE"]))
    strict = search.selected["safe"]
    assert methods[strict] == "SourceOnly" or np.all(
        search.scores["PE"][strict] > search.scores["PE"][s0])


def test_safe_selector_needs_source_only(task):
    X, y, sd, (train, test) = task
    pipe, grids = method_pool({"CORAL": None}, LogisticRegression())
    with pytest.raises(DataValidationError, match="source-only candidate"):
        evaluate_split(pipe, grids[1:], X, y, sd, train, test, scorers=["PE", "safe"],
                       inner_cv=2, random_state=0)


def test_aggregations_combine_the_refitted_candidates(task):
    table, search = _pool_search(task)
    rows = table[table["candidate"] == -1].set_index("scorer")
    assert set(rows.index) == {"Average", "IWA"} and rows["selected"].all()
    weights = search.aggregations["Average"][1]
    np.testing.assert_allclose(weights, 1 / len(search.candidates))
    # The Average row's accuracy is that of the mean of the refitted candidates'
    # probabilities on the outer test rows.
    outer = [search.outer[c] for c in range(len(search.candidates))]
    mean = np.mean([r.proba for r in outer], axis=0)
    pred = outer[0].classes[mean.argmax(axis=1)]
    assert rows.loc["Average", "test_accuracy"] == pytest.approx(
        np.mean(pred == search._y_test))
    used = json.loads(rows.loc["IWA", "params"])
    assert set(map(int, used)) <= set(range(len(search.candidates)))
    # The cost of an aggregate: the fits of every model it combines.
    assert rows.loc["Average", "mean_fit_time"] == pytest.approx(
        sum(r.fit_time for r in outer))


def test_iwa_puts_its_weight_on_a_perfect_source_predictor():
    y = np.array([0, 1, 0, 1, 1, 0])
    perfect = np.column_stack([y == 0, y == 1]).astype(float)
    noise = np.full((6, 2), 0.5)
    ctx = SplitContext(split=0, X_source_val=np.zeros((6, 1)), y_source_val=y,
                       X_target_val=np.zeros((3, 1)), source_val_weights=np.ones(6))

    class Pool:  # the two attributes IWA reads
        candidates = [{}, {}]
        contexts = [ctx]
        records = {(c, 0): CandidateRecord(candidate=c, params={}, split=0,
                                           classes=np.array([0, 1]), proba_source_val=p)
                   for c, p in enumerate([perfect, noise])}

    weights = ImportanceWeightedAggregation(alpha=1e-9).weights(Pool())
    np.testing.assert_allclose(weights, [1.0, 0.0], atol=1e-6)


def test_aggregations_refit_what_they_combine_with_refit_selected(task):
    table, search = _pool_search(task, scorers=["PE", "Average"], refit="selected")
    assert set(search.outer) == set(range(len(search.candidates)))
    assert np.isfinite(table.loc[table["candidate"] == -1, "test_accuracy"]).all()


def test_pool_selectors_never_read_target_labels(task):
    """With the outer split fixed, random target labels leave every realistic selector's
    choice, scores and aggregation weights identical."""
    X, y, sd, outer = task
    rng = np.random.default_rng(0)
    shuffled = y.copy()
    target = sd < 0
    shuffled[target] = rng.permutation(np.unique(y))[rng.integers(0, 2, target.sum())]
    assert (shuffled[target] != y[target]).any()
    _, a = _pool_search(task)
    _, b = _pool_search((X, shuffled, sd, outer))
    for name in REALISTIC:
        if name in a.aggregations:
            np.testing.assert_array_equal(a.aggregations[name][1], b.aggregations[name][1])
        else:
            np.testing.assert_array_equal(a.scores[name], b.scores[name])
            assert a.selected[name] == b.selected[name], name
    assert not np.array_equal(a.scores["oracle"], b.scores["oracle"])  # the test can fail


def test_domain_search_cv_reports_pool_selectors(task):
    X, y, sd, _ = task
    pipe, grid = method_pool({"CORAL": None}, LogisticRegression())
    search = DomainSearchCV(pipe, grid, scorers=["PE", "EnsV", "safe", "IWA", "oracle"],
                            cv=2, inner_cv=2, random_state=0).fit(X, y, sd)
    chosen = search.results_[search.results_["selected"]]
    assert set(chosen["scorer"]) == {"PE", "EnsV", "safe", "IWA", "oracle"}
    assert (chosen.groupby("scorer").size() == 2).all()  # one per outer split


def test_method_pool_seeds_the_methods_that_take_a_random_state():
    _, grid = method_pool({"KLIEP": None, "CORAL": None}, LogisticRegression(),
                          random_state=7)
    steps = {type(g["adapter"][0]).__name__: g["adapter"][0] for g in grid}
    assert steps["KLIEP"].random_state == 7
    assert "random_state" not in steps["CORAL"].get_params()


@pytest.mark.parametrize("selector", ["Average", "IWA"])
def test_refit_with_an_aggregation_deploys_its_weighted_ensemble(task, selector):
    """refit=<aggregation>: the model is the weighted ensemble of its candidates, each
    fitted on all rows, combined as the protocol scores it."""
    from shiftlab.selection.ensemble import WeightedEnsemble, combine_probabilities

    X, y, sd, _ = task
    pipe, grid = method_pool({"CORAL": None, "SA": {"n_components": [1, 2]}},
                             LogisticRegression())
    search = DomainSearchCV(pipe, grid, scorers=["IW", selector], cv=2, inner_cv=2,
                            refit=selector, random_state=0).fit(X, y, sd)
    model = search.best_estimator_
    assert isinstance(model, WeightedEnsemble)
    weights = np.nan_to_num(search.final_search_.aggregations[selector][1])
    used = np.flatnonzero(weights)
    np.testing.assert_allclose(model.weights, weights[used])
    assert search.best_params_final_["weights"] == list(model.weights)
    # Each member is its own candidate (SA with 1 and with 2 components, not one of them
    # twice), fitted on all rows.
    n_components = [m.steps_[-2][1].get_params().get("n_components")
                    for m in model.estimators_]
    expected = [search.candidates_[c].get("adapter__n_components") for c in used]
    assert n_components == expected
    target = X[sd < 0]
    parts = [(m.classes_, m.predict_proba(target), None, w)
             for m, w in zip(model.estimators_, model.weights, strict=True)]
    pred, proba, _ = combine_probabilities(parts, len(target))
    np.testing.assert_array_equal(model.predict(target), pred)
    np.testing.assert_allclose(model.predict_proba(target), proba)
    assert np.mean(model.predict(target) == y[sd < 0]) > 0.5
