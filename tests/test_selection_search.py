"""The nested protocol: leakage, stored records, shared refits and the results table."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier
from sklearn.preprocessing import StandardScaler

from shiftlab.data import mask_target_labels
from shiftlab.exceptions import DataValidationError, MissingOutputsError
from shiftlab.methods import DAPipeline, make_da
from shiftlab.selection import (
    CircularValidation,
    DomainSearchCV,
    StratifiedDomainShuffleSplit,
    evaluate_split,
    make_scorer,
)
from shiftlab.selection._outer import OuterSplitSearch
from shiftlab.selection._protocol import resolve_scorers

# Columns that must not move when target labels of the outer-train part change.
REALISTIC_COLUMNS = [
    "outer_split", "candidate", "params", "scorer", "oracle", "inner_score",
    "inner_score_std", "n_inner", "rank", "selected", "test_accuracy",
    "test_balanced_accuracy", "test_f1", "test_roc_auc",
]


class CountingPipeline(DAPipeline):
    """DAPipeline whose fits are counted (class-level, shared by clones)."""

    n_fit = 0

    def fit(self, X, y=None, sample_domain=None, **fit_params):
        type(self).n_fit += 1
        return super().fit(X, y, sample_domain, **fit_params)


def _pipe(cls=DAPipeline, method="CORAL"):
    """A registered method with a logistic regression, as a (possibly counting) pipeline."""
    return cls(make_da(method, LogisticRegression()).steps)


GRID = {"coral__assume_centered": [False, True], "logisticregression__C": [0.01, 1.0]}
RW_GRID = {"densityreweight__bandwidth": [0.1, 1.0], "logisticregression__C": [0.01, 1.0]}


def _data(n=60, seed=0):
    """Two Gaussian classes; the target is translated and scaled."""
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, 2, n)
    yt = rng.integers(0, 2, n)
    Xs = rng.normal(size=(n, 2)) + 1.5 * ys[:, None]
    Xt = 1.5 * (rng.normal(size=(n, 2)) + 1.5 * yt[:, None]) + np.array([2.0, -1.0])
    X = np.r_[Xs, Xt]
    y = np.r_[ys, yt]
    sd = np.r_[np.ones(n, dtype=int), -2 * np.ones(n, dtype=int)]
    return X, y, sd


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def outer(data):
    X, y, sd = data
    return next(StratifiedDomainShuffleSplit(1, test_size=0.25, random_state=0).split(X, y, sd))


def _realistic(table: pd.DataFrame) -> pd.DataFrame:
    return table.loc[~table["oracle"], REALISTIC_COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------- leakage
def test_outer_train_target_labels_cannot_change_realistic_scores_or_selections(data, outer):
    X, y, sd = data
    train, test = outer
    tgt_train = train[sd[train] < 0]
    rng = np.random.default_rng(42)
    y_perm = y.copy()
    y_perm[tgt_train] = rng.permutation(y[tgt_train])
    y_flip = y.copy()
    y_flip[tgt_train] = 1 - y[tgt_train]
    y_noise = y.copy()
    y_noise[tgt_train] = rng.integers(0, 3, tgt_train.size)  # even an unseen class
    kw = dict(inner_cv=2, random_state=0, store_features=True)
    ref = evaluate_split(_pipe(), GRID, X, y, sd, train, test, **kw)
    assert ref["scorer"].nunique() == 15  # every default scorer, consensus and the oracle
    others = [evaluate_split(_pipe(), GRID, X, yy, sd, train, test, **kw)
              for yy in (y_perm, y_flip, y_noise)]
    for other in others:
        # Bit-identical: exact comparison, NaN == NaN.
        pd.testing.assert_frame_equal(_realistic(ref), _realistic(other), check_exact=True)
    # The oracle does read them (the check above is not vacuous).
    flipped = others[1]
    o_ref = ref.loc[ref["oracle"], "inner_score"].to_numpy()
    o_flip = flipped.loc[flipped["oracle"], "inner_score"].to_numpy()
    assert not np.allclose(o_ref, o_flip)
    np.testing.assert_allclose(o_ref + o_flip, 1.0)  # flipped binary labels: acc -> 1 - acc


@pytest.mark.filterwarnings("ignore:Scorer 'oracle' gave no finite score")
def test_leakage_through_domain_search_cv_and_masked_labels(data, outer):
    X, y, sd = data
    train, test = outer
    y_flip = y.copy()
    tgt_train = train[sd[train] < 0]
    y_flip[tgt_train] = 1 - y[tgt_train]
    scorers = ["IW", "DEV", "PE", "MixVal", "CircV", "consensus", "oracle"]
    kw = dict(scorers=scorers, cv=[(train, test)], inner_cv=2, random_state=3)
    rw = _pipe(method="DensityReweight")  # a reweighting method this time
    a = DomainSearchCV(rw, RW_GRID, **kw).fit(X, y, sd)
    b = DomainSearchCV(rw, RW_GRID, **kw).fit(X, y_flip, sd)
    pd.testing.assert_frame_equal(_realistic(a.results_), _realistic(b.results_), check_exact=True)
    ia, ib = a.inner_scores_, b.inner_scores_
    pd.testing.assert_frame_equal(ia[~ia["oracle"]], ib[~ib["oracle"]], check_exact=True)
    for name in scorers[:-1]:
        assert a.best_params_[name] == b.best_params_[name]
    # With every target label masked, realistic scores are still the same; the oracle and
    # the test metrics become NaN (the evaluator has nothing to compare with).
    c = DomainSearchCV(rw, RW_GRID, **kw).fit(X, mask_target_labels(y, sd), sd)
    cols = ["candidate", "scorer", "inner_score", "selected"]
    ra, rc = _realistic(a.results_), _realistic(c.results_)
    pd.testing.assert_frame_equal(ra[cols], rc[cols], check_exact=True)
    assert c.results_["test_accuracy"].isna().all()
    assert c.results_.loc[c.results_["oracle"], "inner_score"].isna().all()


# --------------------------------------------------------------------------- records
def test_adding_scorers_after_the_search_reuses_records_without_fitting(data):
    X, y, sd = data
    search = DomainSearchCV(
        _pipe(CountingPipeline), GRID, scorers=["IW", "CircV", "oracle"], cv=2, inner_cv=2,
        random_state=0, store_features=True,
    )
    CountingPipeline.n_fit = 0
    search.fit(X, y, sd)
    n_candidates, n_outer, n_inner = 4, 2, 2
    # Inner fits + CircV backward fits (at most one per record) + outer refits of all.
    assert CountingPipeline.n_fit >= n_outer * (n_candidates * n_inner + n_candidates)
    CountingPipeline.n_fit = 0
    search.add_scorer("PE")
    search.add_scorer("SND", T=0.1)
    search.add_scorer("ClassAMI")
    search.add_scorer(CircularValidation(metric="accuracy", name="CircV-acc"))  # cached
    search.add_scorer(make_scorer(
        lambda rec, ctx: -abs(rec.pred_target_val.mean() - 0.5), name="balance",
        needs=("pred_target_val",),
    ))
    search.add_scorer("consensus")
    assert CountingPipeline.n_fit == 0
    names = set(search.results_["scorer"])
    assert {"PE", "SND", "ClassAMI", "CircV-acc", "balance", "consensus"} <= names
    assert len(search.results_) == n_outer * n_candidates * 9
    assert search.results_.groupby(["outer_split", "scorer"])["selected"].sum().eq(1).all()
    # A scorer added later scores exactly as if it had been there from the start.
    fresh = DomainSearchCV(
        _pipe(), GRID, scorers=["PE"], cv=2, inner_cv=2, random_state=0
    ).fit(X, y, sd)
    late = search.results_[search.results_["scorer"] == "PE"]["inner_score"].to_numpy()
    early = fresh.results_[fresh.results_["scorer"] == "PE"]["inner_score"].to_numpy()
    np.testing.assert_array_equal(late, early)


class CountingScaler(StandardScaler):
    """StandardScaler whose fits are counted (class-level, shared by clones)."""

    n_fit = 0

    def fit(self, X, y=None, sample_weight=None):
        type(self).n_fit += 1
        return super().fit(X, y, sample_weight)


class UnsharedPipeline(DAPipeline):
    """Overrides fit, which turns prefix sharing off: every candidate fits every step."""

    def fit(self, X, y=None, sample_domain=None, **fit_params):
        return super().fit(X, y, sample_domain, **fit_params)


def _scaled_pipe(cls=DAPipeline):
    return cls([("scale", CountingScaler()), *make_da("CORAL", LogisticRegression()).steps])


def test_label_free_leading_steps_are_fitted_once_per_set_of_rows(data, outer):
    # The scaler's parameters are not in the grid: every candidate of an inner split
    # would fit the same scaler on the same rows, so the search fits it once per split
    # (and once per split for circular validation's backward fits), with the very same
    # scores and selections as a search that fits it for every candidate.
    X, y, sd = data
    train, test = outer
    kwargs = dict(scorers=["IW", "CircV", "SND", "MixVal", "oracle"], inner_cv=2,
                  random_state=0, return_search=True)
    CountingScaler.n_fit = 0
    table, search = evaluate_split(_scaled_pipe(), GRID, X, y, sd, train, test, **kwargs)
    shared_fits = CountingScaler.n_fit
    CountingScaler.n_fit = 0
    ref, ref_search = evaluate_split(_scaled_pipe(UnsharedPipeline), GRID, X, y, sd, train,
                                     test, **kwargs)
    unshared_fits = CountingScaler.n_fit
    cols = [c for c in table.columns if c != "mean_fit_time"]
    pd.testing.assert_frame_equal(table[cols], ref[cols], check_exact=True)
    n_backward = search.refit_cache.n_fits
    assert n_backward == ref_search.refit_cache.n_fits > 0
    assert unshared_fits == 4 * 2 + n_backward + search.n_outer_fits
    assert shared_fits == 2 + 2 + search.n_outer_fits


def test_pipeline_prefix_completes_to_the_plain_fit(data):
    from shiftlab.methods.base import _fit_prefix
    from shiftlab.selection._fastpath import PipelineRunner, RowSet

    X, y, sd = data
    y = mask_target_labels(y, sd)
    pipe = _scaled_pipe()
    runner = PipelineRunner(pipe)
    assert runner.shared_steps() == 1
    assert runner.shared_steps({"coral__assume_centered": True}) == 1
    assert runner.shared_steps({"scale__with_mean": False}) == 0
    assert runner.shared_steps({"steps": pipe.steps}) == 0
    assert PipelineRunner(_scaled_pipe(UnsharedPipeline)).shared_steps() == 0
    plain = clone(pipe).fit(X, y, sd)
    rows = RowSet(X, y, sd, {"all": (X, sd)})
    CountingScaler.n_fit = 0
    fitted = runner.fit(runner.candidate({}), {}, rows)
    params = {"coral__assume_centered": True}
    other = runner.fit(runner.candidate(params), params, rows)
    assert CountingScaler.n_fit == 1 and other.shared is fitted.shared  # once per row set
    prefix, completed = fitted.shared.prefix, fitted.model
    assert [name for name, _ in prefix.steps] == ["scale"]
    assert completed.steps_[0][1] is prefix.steps[0][1]  # shared, not refitted
    np.testing.assert_array_equal(completed.predict_proba(X, sd), plain.predict_proba(X, sd))
    skipped = runner.outputs(fitted, ("predict_proba",))["all"]
    np.testing.assert_array_equal(skipped["predict_proba"], plain.predict_proba(X, sd))
    np.testing.assert_array_equal(skipped["features"], plain.transform(X, sd))
    # Same rows, other labels (circular validation's pseudo-labels).
    y_other = np.where(sd >= 0, 1 - y, y)
    np.testing.assert_array_equal(
        runner.fit(runner.candidate({}), {}, rows, y=y_other).model.predict(X, sd),
        clone(pipe).fit(X, y_other, sd).predict(X, sd),
    )
    # A transformer after the prefix that scales in place leaves the shared rows alone.
    in_place = DAPipeline([("scale", StandardScaler()), ("again", StandardScaler(copy=False)),
                           ("logisticregression", LogisticRegression())])
    shared = _fit_prefix(in_place.steps, X, y, sd, 1)
    rows_before = shared.X.copy()
    clone(in_place)._fit_from(shared)
    np.testing.assert_array_equal(shared.X, rows_before)
    with pytest.raises(ValueError, match="starts with"):
        make_da("CORAL", LogisticRegression())._fit_from(prefix)
    with pytest.raises(ValueError, match="n_steps must be in"):
        _fit_prefix(pipe.steps, X, y, sd, 3)


class _Opaque:
    """A fitted model seen through its public methods only (not a DAPipeline)."""

    def __init__(self, model):
        self.model, self.classes_ = model, model.classes_

    def predict(self, X, sample_domain=None):
        return self.model.predict(X, sample_domain)

    def predict_proba(self, X, sample_domain=None):
        return self.model.predict_proba(X, sample_domain)

    def decision_function(self, X, sample_domain=None):
        return self.model.decision_function(X, sample_domain)

    def transform(self, X, sample_domain=None):
        return self.model.transform(X, sample_domain)


@pytest.mark.parametrize("method", ["CORAL", "SA", "DensityReweight"])
def test_stacked_outputs_equal_those_of_separate_calls(data, method):
    # A DAPipeline's records come from one call on source, target and MixVal rows
    # stacked, other models' from one call per part and output: same numbers.
    from shiftlab.selection._fastpath import Fitted, PlainRunner
    from shiftlab.selection.records import (
        CandidateRecord,
        SplitContext,
        _candidate_rows,
        _fill_record,
        fit_candidate,
    )

    X, y, sd = data
    y = mask_target_labels(y, sd)
    tr, va = next(StratifiedDomainShuffleSplit(1, test_size=0.3, random_state=0).split(X, y, sd))
    sv, tv = va[sd[va] >= 0], va[sd[va] < 0]
    ctx = SplitContext(0, X[sv], y[sv], X[tv], sd[sv], sd[tv], X[tr], y[tr], sd[tr])
    pipe = DAPipeline([("scale", StandardScaler()),
                       *make_da(method, LogisticRegression()).steps])
    stacked = fit_candidate(pipe, {}, 0, ctx, store_estimator=True)
    separate = CandidateRecord(0, {}, 0)
    opaque = Fitted(_Opaque(stacked.estimator), _candidate_rows(ctx))
    _fill_record(separate, PlainRunner(None), opaque, ctx, store_features=True)
    for name in ("pred_source_val", "pred_target_val", "proba_source_val", "proba_target_val",
                 "decision_source_val", "decision_target_val", "features_source_val",
                 "features_target_val", "pred_target_mix", "classes"):
        got, want = getattr(stacked, name), getattr(separate, name)
        assert got is not None and got.shape == want.shape, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_candidate_model_sets_params_without_touching_the_template():
    from shiftlab.selection.records import candidate_model

    pipe = _scaled_pipe()
    before = pipe.get_params(deep=True)
    params = {"coral__assume_centered": True, "logisticregression__C": 0.5}
    model = candidate_model(pipe, params)
    want = clone(pipe).set_params(**params).get_params(deep=True)
    got = model.get_params(deep=True)
    assert {k: v for k, v in got.items() if "__" in k} == {
        k: v for k, v in want.items() if "__" in k}
    assert pipe.get_params(deep=True) == before  # the template keeps its parameters
    # Untouched steps are shared (fit clones them), touched ones are fresh copies.
    assert model.steps[0][1] is pipe.steps[0][1]
    assert model.steps[1][1] is not pipe.steps[1][1]
    # A subclass may have more parameters: it is cloned as a whole.
    unshared = _scaled_pipe(UnsharedPipeline)
    sub = candidate_model(unshared, params)
    assert type(sub) is UnsharedPipeline and sub.steps[0][1] is not unshared.steps[0][1]


def test_saved_split_state_rescores_without_fitting(data, outer, tmp_path):
    # What a benchmark job does: store the state of a split, add scorers later.
    X, y, sd = data
    train, test = outer
    CountingPipeline.n_fit = 0
    table, state = evaluate_split(_pipe(CountingPipeline), GRID, X, y, sd, train, test,
                                  scorers=["IW", "oracle"], inner_cv=2, random_state=0,
                                  return_search=True)
    assert CountingPipeline.n_fit == 4 * 2 + 4
    state.save(tmp_path / "split.joblib")
    loaded = OuterSplitSearch.load(tmp_path / "split.joblib")
    CountingPipeline.n_fit = 0
    more = loaded.rescore(["PE", "MixVal", "IW"])
    assert CountingPipeline.n_fit == 0
    assert set(more["scorer"]) == {"IW", "oracle", "PE", "MixVal"}
    cols = [c for c in table.columns if c != "mean_fit_time"]
    pd.testing.assert_frame_equal(more[more["scorer"].isin(["IW", "oracle"])][cols]
                                  .reset_index(drop=True), table[cols], check_exact=True)
    # Records written by earlier versions (joblib.dump) still load.
    import joblib

    joblib.dump(state, tmp_path / "old.joblib", compress=3)
    old = OuterSplitSearch.load(tmp_path / "old.joblib")
    pd.testing.assert_frame_equal(old.table()[cols], table[cols], check_exact=True)
    joblib.dump({"not": "a search"}, tmp_path / "other.joblib")
    with pytest.raises(DataValidationError, match="does not hold an OuterSplitSearch"):
        OuterSplitSearch.load(tmp_path / "other.joblib")


def test_a_search_that_cannot_be_pickled_leaves_no_records_file(data, outer, tmp_path):
    # A user estimator holding a lambda cannot be stored for rescoring: the job goes on,
    # and neither a records file nor a temporary is left behind.
    from shiftlab.bench.store import RunStore

    X, y, sd = data
    train, test = outer
    _, state = evaluate_split(_pipe(), GRID, X, y, sd, train, test, scorers=["PE"],
                              inner_cv=2, random_state=0, return_search=True)
    store = RunStore(tmp_path)
    assert store.write_records("job", state, run_key="00" * 32) is not None
    state.estimator.hook = lambda: None
    assert store.write_records("job2", state, run_key="00" * 32) is None
    assert sorted(p.name for p in store.records_dir.iterdir()) == ["job.pkl"]


def test_feature_scorer_needs_stored_features(data):
    X, y, sd = data
    search = DomainSearchCV(_pipe(), {"logisticregression__C": [0.1, 1.0]}, scorers=["PE"],
                            cv=1, inner_cv=2,
                            random_state=0).fit(X, y, sd)
    with pytest.raises(MissingOutputsError, match="store_features=True"):
        search.add_scorer("ClassAMI")


class _NoProbaLR(LogisticRegression):
    """Has predict_proba, which raises: the decision values must stand in for it."""

    def predict_proba(self, X):
        raise NotImplementedError("no probabilities here")


def _margin_scorer():
    return make_scorer(lambda rec, ctx: float(np.mean(np.abs(rec.decision_target_val))),
                       name="margin", needs=("decision",))


def test_decision_values_are_kept_only_for_scorers_that_read_them(data):
    X, y, sd = data
    grid = {"coral__assume_centered": [False, True]}

    def search(scorers, estimator=None):
        return DomainSearchCV(estimator or _pipe(), grid, scorers=scorers, cv=1, inner_cv=2,
                              random_state=0).fit(X, y, sd)

    def records(fitted):
        return list(fitted.splits_[0].records.values())

    plain = search(["PE", "MixVal"])
    assert all(r.decision_target_val is None and r.proba_target_val is not None
               for r in records(plain))
    with_margin = search(["PE", "MixVal", _margin_scorer()])
    assert all(r.decision_target_val is not None for r in records(with_margin))
    assert with_margin.results_.query("scorer == 'margin'")["inner_score"].notna().all()
    # Keeping them or not changes no other score.
    cols = ["candidate", "scorer", "inner_score", "selected", "test_accuracy"]
    same = with_margin.results_[with_margin.results_["scorer"] != "margin"][cols]
    pd.testing.assert_frame_equal(same.reset_index(drop=True),
                                  plain.results_[cols].reset_index(drop=True))
    # Added after the search, the scorer cannot be served from the records: say so.
    with pytest.raises(MissingOutputsError, match="needs=\\('decision',\\)"):
        plain.add_scorer(_margin_scorer())

    # Without usable probabilities the decision values are kept and read as such.
    for estimator in (RidgeClassifier(), _NoProbaLR()):
        fitted = search(["PE"], DAPipeline(make_da("CORAL", estimator).steps))
        assert all(r.proba_target_val is None and r.decision_target_val is not None
                   for r in records(fitted))
        assert fitted.results_.query("scorer == 'PE'")["inner_score"].notna().all()


def test_refits_of_the_same_winner_are_shared_across_scorers(data):
    X, y, sd = data
    scorers = ["IW", "SrcVal", "PE", "DEV", "MixVal", "oracle"]
    search = DomainSearchCV(
        _pipe(CountingPipeline), GRID, scorers=scorers, cv=2, inner_cv=2, random_state=1,
        refit_candidates="selected",
    )
    CountingPipeline.n_fit = 0
    search.fit(X, y, sd)
    winners = [len({idx[k] for idx in search.best_index_.values()}) for k in range(2)]
    assert CountingPipeline.n_fit == 2 * 4 * 2 + sum(winners)
    assert [s.n_outer_fits for s in search.splits_] == winners
    res = search.results_
    # Test metrics only where selected; equal for scorers that chose the same candidate.
    assert res.loc[~res["selected"], "test_accuracy"].isna().all()
    sel = res[res["selected"]]
    assert sel["test_accuracy"].notna().all()
    assert (sel.groupby(["outer_split", "candidate"])["test_accuracy"].nunique() == 1).all()


# --------------------------------------------------------------------------- table contract
def test_results_table_contract_and_determinism(data):
    X, y, sd = data
    kw = dict(scorers=["IW", "PE", "SND", "consensus", "oracle"], cv=2, inner_cv=2,
              random_state=7)
    a = DomainSearchCV(_pipe(), GRID, **kw).fit(X, y, sd)
    res = a.results_
    assert len(res) == 2 * 4 * 5
    for col in ("outer_split", "candidate", "params", "param_logisticregression__C",
                "param_coral__assume_centered",
                "scorer", "oracle", "inner_score", "inner_score_std", "n_inner", "rank",
                "selected", "test_accuracy", "test_balanced_accuracy", "test_f1",
                "test_roc_auc", "mean_fit_time"):
        assert col in res.columns
    assert res.loc[res["oracle"], "scorer"].unique().tolist() == ["oracle"]
    assert res.groupby(["outer_split", "scorer"])["selected"].sum().eq(1).all()
    assert res["test_accuracy"].between(0, 1).all()  # refit_candidates="all"
    assert set(a.best_params_) == {"IW", "PE", "SND", "consensus", "oracle"}
    assert all(len(v) == 2 for v in a.best_params_.values())
    # The consensus picks the candidate with the best mean rank over the realistic scorers.
    for k in range(2):
        r = res[(res["outer_split"] == k) & res["scorer"].isin(["IW", "PE", "SND"])]
        ranks = r.pivot(index="candidate", columns="scorer", values="inner_score").rank(
            ascending=False, method="average").mean(axis=1)
        assert a.best_index_["consensus"][k] == int(ranks.idxmin())
    b = DomainSearchCV(_pipe(), GRID, **kw).fit(X, y, sd)
    cols = [c for c in res.columns if c != "mean_fit_time"]
    pd.testing.assert_frame_equal(res[cols], b.results_[cols], check_exact=True)
    summary = a.summary()
    assert summary.loc["oracle", "oracle"] and not summary.loc["IW", "oracle"]
    rel = a.reliability()
    assert {"spearman", "regret_vs_oracle", "regret_vs_best"} <= set(rel.columns)
    assert rel.loc["oracle", "regret_vs_oracle"] == 0


def test_evaluate_split_is_deterministic_for_a_seed(data, outer):
    X, y, sd = data
    train, test = outer
    # A DA estimator (self-labelling family) rather than a pipeline this time.
    est, grid = make_da("OTLabelProp", LogisticRegression()), {"metric": ["sqeuclidean",
                                                                          "cityblock"]}
    kw = dict(scorers=["IW", "MixVal", "ClassAMI", "DEV", "CircV"], inner_cv=2, random_state=5)
    a = evaluate_split(est, grid, X, y, sd, train, test, **kw)
    b = evaluate_split(est, grid, X, y, sd, train, test, **kw)
    c = evaluate_split(est, grid, X, y, sd, train, test, **{**kw, "random_state": 6})
    assert a["inner_score"].notna().all()
    pd.testing.assert_frame_equal(_realistic(a), _realistic(b), check_exact=True)
    assert not np.array_equal(a["inner_score"], c["inner_score"])


def test_parallel_fits_give_the_same_results(data, outer):
    X, y, sd = data
    train, test = outer
    kw = dict(scorers=["IW", "PE", "CircV", "oracle"], inner_cv=2, random_state=2)
    seq = evaluate_split(_pipe(), GRID, X, y, sd, train, test, n_jobs=1, **kw)
    par = evaluate_split(_pipe(), GRID, X, y, sd, train, test, n_jobs=2, **kw)
    cols = [c for c in seq.columns if c != "mean_fit_time"]
    pd.testing.assert_frame_equal(seq[cols], par[cols], check_exact=True)


def test_default_scorers():
    names = [s.name for s in resolve_scorers(None, "classification")]
    assert names[-2:] == ["consensus", "oracle"] and len(names) == 15
    # Without target labels there is nothing for the oracle to read: it is left out.
    assert "oracle" not in [s.name for s in resolve_scorers(None, "classification",
                                                            oracle=False)]
    reg = [s.name for s in resolve_scorers(None, "regression")]
    assert reg == ["IW", "DEV", "DEVN", "SrcVal", "CircV", "consensus", "oracle"]


def test_regression_search():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 1.0
    w = np.array([1.0, -2.0])
    X = np.r_[Xs, Xt]
    y = X @ w + 0.1 * rng.normal(size=120)
    sd = np.r_[np.ones(60, dtype=int), -2 * np.ones(60, dtype=int)]
    search = DomainSearchCV(
        DAPipeline([("ridge", Ridge())]), {"ridge__alpha": [0.01, 100.0]}, cv=2, inner_cv=2,
        random_state=0,
    ).fit(X, y, sd)
    res = search.results_
    assert set(res["scorer"]) == {"IW", "DEV", "DEVN", "SrcVal", "CircV", "consensus", "oracle"}
    assert {"test_mse", "test_r2"} <= set(res.columns) and "test_accuracy" not in res.columns
    assert search.best_params_["oracle"] == [{"ridge__alpha": 0.01}] * 2
    assert search.summary().loc["oracle", "mean"] < 0.1  # test_mse, lower is better


def test_selection_only_mode_with_refit(data):
    X, y, sd = data
    search = DomainSearchCV(_pipe(), GRID, scorers=["IW", "PE"], cv=None, inner_cv=2,
                            refit="IW", random_state=0)
    search.fit(X, mask_target_labels(y, sd), sd)
    assert search.results_["test_accuracy"].isna().all()
    assert search.best_params_final_ == search.best_params_["IW"][0]
    pred = search.predict(X[sd < 0], sd[sd < 0])
    assert pred.shape == ((sd < 0).sum(),)
    assert search.predict_proba(X[sd < 0]).shape == ((sd < 0).sum(), 2)


# --------------------------------------------------------------------------- errors
def test_errors_are_clear(data):
    X, y, sd = data
    with pytest.raises(DataValidationError, match="make_da_pipeline"):
        DomainSearchCV(LogisticRegression(), {}, cv=2).fit(X, y, sd)
    with pytest.raises(DataValidationError, match="realistic"):
        DomainSearchCV(_pipe(), {}, scorers=["IW", "oracle"], refit="oracle").fit(X, y, sd)
    with pytest.raises(DataValidationError, match="unique"):
        DomainSearchCV(_pipe(), {}, scorers=["IW", "importance_weighted"]).fit(X, y, sd)
    with pytest.raises(DataValidationError, match="supports"):
        DomainSearchCV(DAPipeline([("r", Ridge())]), {}, scorers=["PE"]).fit(
            X, y + 0.5, sd)


def test_failing_candidate_scores_nan_and_is_never_selected(data, outer):
    X, y, sd = data
    train, test = outer
    grid = {"logisticregression__C": [-1.0, 1.0]}  # C < 0: scikit-learn rejects it at fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluate_split(_pipe(), grid, X, y, sd, train, test, scorers=["IW", "PE"],
                             inner_cv=2, random_state=0)
    bad = res[res["candidate"] == 0]
    assert bad["inner_score"].isna().all() and not bad["selected"].any()
    assert res[res["candidate"] == 1]["selected"].all()
    with pytest.raises(ValueError):
        evaluate_split(_pipe(), grid, X, y, sd, train, test, scorers=["IW"], inner_cv=2,
                       random_state=0, error_score="raise")


def test_density_ratio_weights_are_fitted_once_per_split(data, outer, monkeypatch):
    # Count the calls (the real function still runs): IW, DEV and DEVN of 4 candidates on
    # 2 inner splits share one weight estimate per split.
    from shiftlab.selection import _context

    calls = []
    real = _context.density_ratio

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_context, "density_ratio", counting)
    X, y, sd = data
    train, test = outer
    evaluate_split(_pipe(), GRID, X, y, sd, train, test, scorers=["IW", "DEV", "DEVN"],
                   inner_cv=2, random_state=0)
    assert len(calls) == 2


@settings(max_examples=60, deadline=None)
@given(
    y_true=st.lists(st.integers(0, 4), min_size=1, max_size=40),
    data=st.data(),
)
def test_label_metrics_equal_scikit_learns(y_true, data):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    from shiftlab.selection.metrics import accuracy, balanced_accuracy, label_metrics

    pred = data.draw(st.lists(st.integers(0, 5), min_size=len(y_true), max_size=len(y_true)))
    got = label_metrics(np.array(y_true), np.array(pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert got["test_accuracy"] == pytest.approx(accuracy_score(y_true, pred))
        assert got["test_balanced_accuracy"] == pytest.approx(
            balanced_accuracy_score(y_true, pred))
        assert got["test_f1"] == pytest.approx(f1_score(y_true, pred, average="macro"))
        # The scorers' single metrics are the very same numbers, bit for bit.
        assert accuracy(y_true, pred) == accuracy_score(y_true, pred)
        assert balanced_accuracy(y_true, pred) == balanced_accuracy_score(y_true, pred)
    # String labels go through the same confusion matrix.
    names = np.array(["a", "b", "c", "d", "e", "f"])
    assert label_metrics(names[y_true], names[pred]) == got


@settings(max_examples=60, deadline=None)
@given(
    positive=st.lists(st.booleans(), min_size=2, max_size=40),
    data=st.data(),
)
def test_binary_roc_auc_equals_scikit_learns(positive, data):
    from sklearn.metrics import roc_auc_score

    from shiftlab.selection.metrics import binary_roc_auc

    # Few distinct scores, so that ties (counted one half) are common.
    scores = data.draw(st.lists(st.sampled_from([-1.0, 0.0, 0.25, 0.5, 3.0]),
                                min_size=len(positive), max_size=len(positive)))
    if len(set(positive)) < 2:
        with pytest.raises(ValueError, match="one class is absent"):
            binary_roc_auc(positive, scores)
        return
    assert binary_roc_auc(positive, scores) == pytest.approx(
        roc_auc_score(positive, scores), rel=1e-12, abs=1e-12)
    with pytest.raises(ValueError, match="finite"):
        binary_roc_auc(positive, [np.nan] * len(positive))


def test_sample_domain_detection_is_per_function_and_survives_odd_callables():
    """The signature check is cached per function: two classes with a same-named method
    keep their own answer, and callables without ``__func__`` are still inspected."""
    import functools

    from shiftlab.selection.records import accepts_sample_domain, call_with_domain

    class WithDomain:
        def predict(self, X, sample_domain=None):
            return ("domain", sample_domain)

    class WithoutDomain:
        def predict(self, X):
            return ("plain", None)

    class WithKwargs:
        def predict(self, X, **kwargs):
            return ("kwargs", kwargs.get("sample_domain"))

    for _ in range(2):  # second round: answers from the cache
        assert call_with_domain(WithDomain(), "predict", [[0]], [-1]) == ("domain", [-1])
        assert call_with_domain(WithoutDomain(), "predict", [[0]], [-1]) == ("plain", None)
        assert call_with_domain(WithKwargs(), "predict", [[0]], [-1]) == ("kwargs", [-1])
    assert accepts_sample_domain(functools.partial(WithDomain().predict))
    assert not accepts_sample_domain(functools.partial(WithoutDomain().predict))
    assert not accepts_sample_domain(len)  # a builtin without a signature
