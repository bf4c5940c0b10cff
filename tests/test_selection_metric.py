"""Selection metrics of the label-based scorers, MixVal's one-class predictors, and the
``[scorers] metric`` key of benchmark definitions.

* the metric functions equal scikit-learn's, sample weights included (hypothesis);
* with the default metric, every affected scorer gives the very numbers it gave before;
* each metric of each scorer equals scikit-learn's on handcrafted records;
* on data with 6% positives, balanced accuracy / ROC AUC stop SrcVal and IW from
  preferring a majority-class predictor;
* a one-class predictor never gets the best ``MixVal`` / ``MixVal-inter`` score, and gets
  the best ``MixVal-intra`` score by construction (documented);
* no metric lets a realistic scorer read target labels.
"""

from __future__ import annotations

import inspect
import math
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    log_loss,
    roc_auc_score,
)
from sklearn.neighbors import KNeighborsClassifier

from shiftlab.bench.definition import DefinitionError, definition_from_dict, load_definition
from shiftlab.data.simulate import make_shifted_blobs
from shiftlab.exceptions import DataValidationError
from shiftlab.methods import DAPipeline, make_da, make_da_pipeline
from shiftlab.selection import (
    CircularValidation,
    DeepEmbeddedValidation,
    ImportanceWeighted,
    MixVal,
    SourceAccuracy,
    StratifiedDomainShuffleSplit,
    SupervisedOracle,
    evaluate_split,
    get_scorer,
)
from shiftlab.selection import metrics as M
from shiftlab.selection._context import SplitContext, SplitLabels
from shiftlab.selection._protocol import resolve_scorers
from shiftlab.selection.records import CandidateRecord

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

METRICS = M.SELECTION_METRICS


def _sk_log_loss(y, proba, **kw):
    """scikit-learn's log_loss, whichever name its probability argument has."""
    if "y_proba" in inspect.signature(log_loss).parameters:
        return log_loss(y, y_proba=proba, **kw)
    return log_loss(y, proba, **kw)  # pragma: no cover - scikit-learn < 1.9


# ----------------------------------------------------------- 1. metric functions
_weights = st.floats(0.05, 20.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=80, deadline=None)
@given(
    y=st.lists(st.integers(0, 3), min_size=2, max_size=40),
    data=st.data(),
)
def test_weighted_label_metrics_equal_scikit_learns(y, data):
    n = len(y)
    pred = data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    w = np.array(data.draw(st.lists(_weights, min_size=n, max_size=n)))
    y, pred = np.array(y), np.array(pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true", ...
        want_ba = balanced_accuracy_score(y, pred, sample_weight=w)
        plain_ba = balanced_accuracy_score(y, pred)
    assert M.accuracy(y, pred, w) == pytest.approx(
        accuracy_score(y, pred, sample_weight=w), rel=1e-10, abs=1e-10)
    assert M.balanced_accuracy(y, pred, w) == pytest.approx(want_ba, rel=1e-10, abs=1e-10)
    # Unweighted: the numbers of before, bit for bit.
    assert M.balanced_accuracy(y, pred) == plain_ba
    assert M.accuracy(y, pred) == accuracy_score(y, pred)
    # String labels give the same numbers.
    names = np.array(["a", "b", "c", "d", "e"])
    assert M.balanced_accuracy(names[y], names[pred], w) == pytest.approx(want_ba, rel=1e-10)


@settings(max_examples=80, deadline=None)
@given(
    positive=st.lists(st.booleans(), min_size=2, max_size=40),
    data=st.data(),
)
def test_weighted_binary_roc_auc_equals_scikit_learns(positive, data):
    n = len(positive)
    y = np.where(positive, "yes", "no")  # classes ["no", "yes"]: "yes" is positive
    # Few distinct scores, so that ties (counted one half) are common.
    s = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0]),
                                    min_size=n, max_size=n)))
    w = np.array(data.draw(st.lists(_weights, min_size=n, max_size=n)))
    classes = np.array(["no", "yes"])
    if len(set(positive)) < 2:
        with pytest.raises(M.UndefinedMetricError, match="one class is absent"):
            M.roc_auc(y, s, classes, w)
        return
    want = roc_auc_score(positive, s, sample_weight=w)
    proba = np.column_stack([1 - s, s])
    assert M.roc_auc(y, proba, classes, w) == pytest.approx(want, rel=1e-10, abs=1e-10)
    # A 1-D decision value of the positive class: the same AUC (only the order counts).
    assert M.roc_auc(y, 3 * s - 1, classes, w) == pytest.approx(want, rel=1e-10, abs=1e-10)
    assert M.roc_auc(y, proba, classes) == pytest.approx(roc_auc_score(positive, s),
                                                         rel=1e-10, abs=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(3, 4),
    extra=st.lists(st.integers(0, 3), min_size=0, max_size=30),
    data=st.data(),
)
def test_weighted_multiclass_roc_auc_and_log_loss_equal_scikit_learns(k, extra, data):
    # Every class present (scikit-learn's OvR AUC is undefined otherwise).
    y = np.r_[np.arange(k), np.array(extra) % k]
    n = len(y)
    raw = np.array(data.draw(st.lists(
        st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0]), min_size=k, max_size=k),
        min_size=n, max_size=n)), dtype=float) + 1e-3
    proba = raw / raw.sum(axis=1, keepdims=True)
    w = np.array(data.draw(st.lists(_weights, min_size=n, max_size=n)))
    classes = np.arange(k)
    want = roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes,
                         sample_weight=w)
    assert M.roc_auc(y, proba, classes, w) == pytest.approx(want, rel=1e-10, abs=1e-10)
    assert M.log_loss(y, proba, classes, w) == pytest.approx(
        _sk_log_loss(y, proba, sample_weight=w, labels=classes), rel=1e-10, abs=1e-10)
    assert M.log_loss(y, proba, classes) == pytest.approx(
        _sk_log_loss(y, proba, labels=classes), rel=1e-10, abs=1e-10)


@settings(max_examples=60, deadline=None)
@given(y=st.lists(st.integers(0, 1), min_size=1, max_size=30), data=st.data())
def test_binary_log_loss_equals_scikit_learns_even_with_certain_probabilities(y, data):
    n = len(y)
    # 0 and 1 included: both clip the probabilities to [eps, 1 - eps].
    p = np.array(data.draw(st.lists(st.sampled_from([0.0, 1e-20, 0.3, 0.5, 0.99, 1.0]),
                                    min_size=n, max_size=n)))
    w = np.array(data.draw(st.lists(_weights, min_size=n, max_size=n)))
    proba = np.column_stack([1 - p, p])
    want = _sk_log_loss(np.array(y), proba, sample_weight=w, labels=[0, 1])
    assert M.log_loss(np.array(y), proba, np.array([0, 1]), w) == pytest.approx(
        want, rel=1e-10, abs=1e-10)


def test_multiclass_roc_auc_leaves_out_classes_absent_from_the_labels():
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]])
    y = np.array([0, 1, 0, 1])  # class 2 absent: the mean of the AUCs of classes 0 and 1
    want = np.mean([roc_auc_score(y == 0, proba[:, 0]), roc_auc_score(y == 1, proba[:, 1])])
    assert M.roc_auc(y, proba, np.arange(3)) == pytest.approx(want)
    with pytest.raises(M.UndefinedMetricError, match="one class"):
        M.roc_auc(np.zeros(4, dtype=int), proba, np.arange(3))
    with pytest.raises(M.UndefinedMetricError, match="finite"):
        M.roc_auc(y, np.full(4, np.nan), np.arange(2))


# ------------------------------------------------------------- records and contexts
def _ctx(y_source_val, n_target=4, weights=None, **kw):
    y = np.asarray(y_source_val)
    return SplitContext(
        split=0, X_source_val=np.zeros((len(y), 1)), y_source_val=y,
        X_target_val=np.zeros((n_target, 1)),
        source_val_weights=None if weights is None else np.asarray(weights, dtype=float),
        **kw,
    )


def _rec(**kw):
    kw.setdefault("classes", np.array([0, 1]))
    return CandidateRecord(candidate=0, params={}, split=0, **kw)


def _sk(metric, y, pred, proba, w=None):
    """scikit-learn's value of a selection metric, higher is better."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if metric == "accuracy":
            return accuracy_score(y, pred, sample_weight=w)
        if metric == "balanced_accuracy":
            return balanced_accuracy_score(y, pred, sample_weight=w)
        if metric == "roc_auc":
            if proba.shape[1] == 2:
                return roc_auc_score(y, proba[:, 1], sample_weight=w)
            return roc_auc_score(y, proba, multi_class="ovr", labels=np.arange(proba.shape[1]),
                                 sample_weight=w)
        return -_sk_log_loss(y, proba, sample_weight=w, labels=np.arange(proba.shape[1]))


def _case(k, n=30, seed=0):
    rng = np.random.default_rng(seed)
    y = np.r_[np.arange(k), rng.integers(0, k, n - k)]
    proba = rng.dirichlet(np.ones(k), n)
    pred = proba.argmax(axis=1)
    w = rng.uniform(0.1, 5.0, n)
    return y, pred, proba, w


# --------------------------------------------------- 2. default metric: bit-identical
def _data(n=80, seed=0, positives=0.5):
    rng = np.random.default_rng(seed)
    ys = (rng.random(n) < positives).astype(int)
    yt = (rng.random(n) < positives).astype(int)
    Xs = rng.normal(size=(n, 2)) + 1.5 * ys[:, None]
    Xt = 1.5 * (rng.normal(size=(n, 2)) + 1.5 * yt[:, None]) + np.array([2.0, -1.0])
    sd = np.r_[np.ones(n, dtype=int), -2 * np.ones(n, dtype=int)]
    return np.r_[Xs, Xt], np.r_[ys, yt], sd


def _pipe():
    return DAPipeline(make_da("CORAL", LogisticRegression()).steps)


GRID = {"coral__assume_centered": [False, True], "logisticregression__C": [0.01, 1.0]}


def _old_dev(w, loss):
    """DEV as computed before selection metrics existed (the control-variate formula)."""
    L = w * loss
    var_w = np.var(w, ddof=1)
    eta = 0.0 if var_w == 0 else -np.cov(L, w, ddof=1)[0, 1] / var_w
    return -float(L.mean() + eta * w.mean() - eta)


def _old_value(name, rec, ctx, labels, refit):
    """The score of a record the way each scorer computed it before ``metric``."""
    if name == "SrcVal":
        return float(np.mean(ctx.y_source_val == rec.pred_source_val))
    if name == "oracle":
        return float(np.mean(labels.y_target_val == rec.pred_target_val))
    if name == "CircV":
        return balanced_accuracy_score(ctx.y_source_val, refit)
    w = ctx.importance_weights()
    if name == "IW":
        return float(np.sum(w * (rec.pred_source_val == ctx.y_source_val)) / w.sum())
    P, y = rec.probabilities("source_val"), ctx.y_source_val
    loss = -np.log(np.clip(P[np.arange(len(y)), y], 1e-15, 1.0))
    if name == "DEVN":
        w = w / w.max()
    return _old_dev(w, loss)


def test_default_metric_gives_the_numbers_of_before():
    names = ["SrcVal", "IW", "DEV", "DEVN", "CircV", "oracle"]
    X, y, sd = _data(seed=1, positives=0.3)
    train, test = next(StratifiedDomainShuffleSplit(1, test_size=0.25, random_state=0)
                       .split(X, y, sd))
    # The defaults, and the same metrics given explicitly (named apart).
    explicit = [get_scorer(n, metric=m, name=f"{n}+") for n, m in
                [("SrcVal", "accuracy"), ("IW", "accuracy"), ("DEV", "log_loss"),
                 ("DEVN", "log_loss"), ("CircV", "balanced_accuracy"), ("oracle", "accuracy")]]
    _, search = evaluate_split(_pipe(), GRID, X, y, sd, train, test,
                               scorers=[*names, *explicit], inner_cv=3, random_state=0,
                               return_search=True)
    checked = 0
    for name in names:
        assert get_scorer(name).metric == {"DEV": "log_loss", "DEVN": "log_loss",
                                           "CircV": "balanced_accuracy"}.get(name, "accuracy")
        for (c, s), rec in search.records.items():
            ctx = search.contexts[s]
            want = _old_value(name, rec, ctx, search._labels[s],
                              search.refit_cache[("circular", c, s)])
            assert search.scores[name][c, s] == want, (name, c, s)  # exact
            assert search.scores[f"{name}+"][c, s] == want
            checked += 1
    assert checked == len(names) * len(GRID["logisticregression__C"]) * 2 * 3
    # DEV(loss="zero_one") is DEV(metric="accuracy"), bit for bit, as before.
    rec = search.records[(0, 0)]
    ctx = search.contexts[0]
    zero_one = (rec.pred_source_val != ctx.y_source_val).astype(float)
    want = _old_dev(ctx.importance_weights(), zero_one)
    assert DeepEmbeddedValidation(loss="zero_one").score(rec, ctx) == want
    assert DeepEmbeddedValidation(metric="accuracy").score(rec, ctx) == want


def test_regression_keeps_its_default_and_refuses_classification_metrics():
    y = np.array([0.5, 1.5, 2.0, 3.0])
    ctx = _ctx(y, weights=[1, 2, 3, 4])
    rec = _rec(classes=None, pred_source_val=np.array([0.0, 1.0, 2.0, 4.0]),
               pred_target_val=np.zeros(4))
    assert SourceAccuracy().score(rec, ctx) == -np.mean((rec.pred_source_val - y) ** 2)
    assert DeepEmbeddedValidation(loss="zero_one").supports("regression")  # as before
    for scorer in (SourceAccuracy(metric="balanced_accuracy"), ImportanceWeighted(metric="roc_auc"),
                   DeepEmbeddedValidation(metric="accuracy"), CircularValidation(metric="accuracy"),
                   SupervisedOracle(metric="log_loss")):
        assert not scorer.supports("regression") and scorer.supports("classification")
        with pytest.raises(DataValidationError, match="supports .'classification'. only"):
            resolve_scorers([scorer], "regression")
    with pytest.raises(DataValidationError, match="a classification metric, but the labels"):
        ImportanceWeighted(metric="balanced_accuracy").score(rec, ctx)


# -------------------------------------------------- 3. every metric equals scikit-learn's
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("metric", METRICS)
def test_source_iw_and_oracle_metrics_equal_scikit_learns(metric, k):
    y, pred, proba, w = _case(k)
    classes = np.arange(k)
    ctx = _ctx(y, n_target=len(y), weights=w)
    rec = _rec(classes=classes, pred_source_val=pred, proba_source_val=proba,
               pred_target_val=pred, proba_target_val=proba)
    src = get_scorer("SrcVal", metric=metric)
    iw = get_scorer("IW", metric=metric)
    oracle = get_scorer("oracle", metric=metric)
    assert (src.name, iw.name, oracle.name) == ("SrcVal", "IW", "oracle")
    assert src.metric == iw.metric == oracle.metric == metric
    assert metric.split("_")[0] in repr(iw).lower()
    assert src.score(rec, ctx) == pytest.approx(_sk(metric, y, pred, proba), rel=1e-10)
    assert iw.score(rec, ctx) == pytest.approx(_sk(metric, y, pred, proba, w), rel=1e-10)
    labels = SplitLabels(0, y)
    assert oracle.score(rec, ctx, labels) == pytest.approx(_sk(metric, y, pred, proba),
                                                           rel=1e-10)


def test_dev_metrics():
    y, pred, proba, w = _case(2, n=40, seed=3)
    ctx = _ctx(y, n_target=4, weights=w)
    rec = _rec(pred_source_val=pred, proba_source_val=proba)
    assert DeepEmbeddedValidation(metric="log_loss").score(rec, ctx) == \
        DeepEmbeddedValidation().score(rec, ctx)
    # Balanced: the 0-1 loss of each row divided by K times its class's weight share.
    share = np.array([w[y == c].sum() for c in (0, 1)]) / w.sum()
    loss = (pred != y) / (2 * share[y])
    bal = DeepEmbeddedValidation(metric="balanced_accuracy")
    assert bal.loss == "balanced_zero_one" and bal.name == "DEV"
    assert bal.score(rec, ctx) == pytest.approx(_old_dev(w, loss), rel=1e-12)
    # Before the control variate, the weighted mean loss is the weighted balanced error.
    assert np.sum(w * loss) / w.sum() == pytest.approx(
        1 - balanced_accuracy_score(y, pred, sample_weight=w), rel=1e-12)
    # Constant weights, no control variate: DEV is minus the balanced error rate.
    flat = _ctx(y, n_target=4, weights=np.ones(len(y)))
    assert bal.score(rec, flat) == pytest.approx(balanced_accuracy_score(y, pred) - 1)
    devn = get_scorer("DEVN", metric="balanced_accuracy")
    assert devn.name == "DEVN" and devn.normalize == "max"


def test_circular_validation_metrics():
    ctx = _ctx([0, 0, 0, 1])
    rec = _rec(pred_target_val=np.array([0, 1, 0, 1]))
    back = np.array([0, 0, 0, 0])
    assert CircularValidation().score(rec, ctx, back) == 0.5
    assert CircularValidation(metric="accuracy").score(rec, ctx, back) == 0.75


def test_roc_auc_of_decision_values_and_undefined_metrics():
    y = np.array([0, 0, 1, 1, 0, 1])
    margin = np.array([-2.0, 0.5, 1.0, 3.0, -1.0, 0.2])
    rec = _rec(pred_source_val=(margin > 0).astype(int), decision_source_val=margin)
    ctx = _ctx(y)
    # Without predict_proba, the AUC reads the decision values (only their order counts).
    assert get_scorer("SrcVal", metric="roc_auc").score(rec, ctx) == pytest.approx(
        roc_auc_score(y, margin), rel=1e-12)
    # The log-loss needs probabilities: NaN, and a warning that says why.
    with pytest.warns(UndefinedMetricWarning, match="needs class probabilities"):
        assert math.isnan(get_scorer("SrcVal", metric="log_loss").score(rec, ctx))
    # One class in the fold: the AUC is undefined.
    one = _ctx(np.zeros(6, dtype=int), weights=np.ones(6))
    with pytest.warns(UndefinedMetricWarning, match="one class is absent"):
        assert math.isnan(get_scorer("IW", metric="roc_auc").score(rec, one))


def test_which_scorers_take_which_metrics():
    expected = {"SrcVal": METRICS, "IW": METRICS, "oracle": METRICS,
                "DEV": ("accuracy", "balanced_accuracy", "log_loss"),
                "DEVN": ("accuracy", "balanced_accuracy", "log_loss"),
                "CircV": ("accuracy", "balanced_accuracy")}
    for name, metrics in expected.items():
        assert get_scorer(name).supported_metrics == metrics
        for metric in metrics:
            scorer = get_scorer(name, metric=metric)
            assert scorer.name == name and scorer.metric == metric
            assert scorer.metric_description in repr(scorer)
    for name in ("PE", "SND", "MixVal", "MaNo", "BNM", "ClassAMI"):
        assert get_scorer(name).supported_metrics == () and get_scorer(name).metric is None


def test_unknown_or_unsupported_metrics_raise_listing_the_valid_ones():
    valid = "'accuracy', 'balanced_accuracy', 'roc_auc', 'log_loss'"
    for name in ("SrcVal", "IW", "oracle"):
        with pytest.raises(DataValidationError, match=re.escape(valid)) as info:
            get_scorer(name, metric="balanced")
        assert "Did you mean 'balanced_accuracy'" in str(info.value)
        assert f"scorer {name!r}" in str(info.value)
    with pytest.raises(DataValidationError, match="Unknown selection metric 'f1'"):
        get_scorer("DEV", metric="f1")
    with pytest.raises(DataValidationError, match="pairwise statistic"):
        get_scorer("DEV", metric="roc_auc")
    with pytest.raises(DataValidationError, match="predicted labels only"):
        get_scorer("CircV", metric="log_loss")
    with pytest.raises(DataValidationError, match="disagree"):
        DeepEmbeddedValidation(loss="zero_one", metric="log_loss")


# ------------------------------------------------------ 4. imbalanced data, 6% positives
def test_balanced_metrics_stop_preferring_a_majority_class_predictor():
    n, n_pos = 100, 6
    y = np.r_[np.ones(n_pos, dtype=int), np.zeros(n - n_pos, dtype=int)]
    rng = np.random.default_rng(0)
    w = rng.uniform(0.5, 2.0, n)
    majority = _rec(pred_source_val=np.zeros(n, dtype=int),
                    proba_source_val=np.tile([0.94, 0.06], (n, 1)))
    # A real classifier: 5 of the 6 positives found, at the cost of 8 false positives.
    pred = np.r_[np.ones(5, dtype=int), 0, np.ones(8, dtype=int), np.zeros(n - 14, dtype=int)]
    p1 = np.where(pred == 1, 0.7, 0.1)
    real = _rec(pred_source_val=pred, proba_source_val=np.column_stack([1 - p1, p1]))
    ctx = _ctx(y, weights=w)
    for cls in (SourceAccuracy, ImportanceWeighted):
        # Accuracy prefers the majority-class predictor (0.94 against 0.91)...
        assert cls().score(majority, ctx) > cls().score(real, ctx)
        for metric in ("balanced_accuracy", "roc_auc"):
            sc = cls(metric=metric)
            assert sc.score(majority, ctx) == pytest.approx(0.5)
            assert sc.score(real, ctx) > 0.8, (cls, metric)


def _imbalanced(seed=2, n=400, positives=0.06):
    """Overlapping classes, 6% positives; the target is translated."""
    rng = np.random.default_rng(seed)
    ys = (rng.random(n) < positives).astype(int)
    yt = (rng.random(n) < positives).astype(int)
    Xs = rng.normal(size=(n, 2)) + 1.5 * ys[:, None]
    Xt = rng.normal(size=(n, 2)) + 1.5 * yt[:, None] + np.array([0.5, -0.3])
    sd = np.r_[np.ones(n, dtype=int), -2 * np.ones(n, dtype=int)]
    return np.r_[Xs, Xt], np.r_[ys, yt], sd


def test_a_search_with_balanced_accuracy_selects_a_real_classifier_on_imbalanced_data():
    X, y, sd = _imbalanced()
    train, test = next(StratifiedDomainShuffleSplit(1, test_size=0.25, random_state=0)
                       .split(X, y, sd))
    pipe = make_da_pipeline(LogisticRegression())
    # Candidate 0 always predicts the majority class; candidate 1 is a real classifier.
    grid = {"logisticregression": [DummyClassifier(strategy="most_frequent"),
                                   LogisticRegression(class_weight="balanced")]}
    scorers = [get_scorer(n, metric=m, name=f"{n}-{m}") for n in ("SrcVal", "IW")
               for m in ("accuracy", "balanced_accuracy", "roc_auc")]
    res = evaluate_split(pipe, grid, X, y, sd, train, test, scorers=scorers, inner_cv=3,
                         random_state=0)
    chosen = res[res["selected"]].set_index("scorer")
    for name in ("SrcVal", "IW"):
        # Accuracy picks the majority-class predictor: balanced accuracy 0.5 on the target.
        assert chosen.loc[f"{name}-accuracy", "candidate"] == 0
        assert chosen.loc[f"{name}-accuracy", "test_balanced_accuracy"] == 0.5
        for metric in ("balanced_accuracy", "roc_auc"):
            row = chosen.loc[f"{name}-{metric}"]
            assert row["candidate"] == 1
            assert row["test_balanced_accuracy"] > 0.7


# --------------------------------------------------------------------- 5. MixVal
def test_mixval_of_a_one_class_record():
    ctx = _ctx([0, 1], n_target=4, mix_perm=np.array([1, 2, 3, 0]))
    one = _rec(pred_target_val=np.zeros(4, dtype=int), pred_target_mix=np.zeros(4, dtype=int))
    assert MixVal(ice="intra").score(one, ctx) == 1.0  # the best possible score
    assert math.isnan(MixVal(ice="inter").score(one, ctx))
    assert math.isnan(MixVal().score(one, ctx))
    assert MixVal().ice_scores(one, ctx)[0] == 1.0


@pytest.mark.parametrize("shift", ["covariate", "conditional"])
def test_a_one_class_predictor_never_gets_the_best_mixval(shift):
    ds = make_shifted_blobs(shift, n_samples_source=150, n_samples_target=150, random_state=0)
    X, _, sd, y = ds.pack("source", "target", return_target_labels=True)
    train, test = next(StratifiedDomainShuffleSplit(1, test_size=0.25, random_state=0)
                       .split(X, y, sd))
    pipe = make_da_pipeline(LogisticRegression())
    grid = {"logisticregression": [DummyClassifier(strategy="most_frequent"),
                                   LogisticRegression(),
                                   KNeighborsClassifier(n_neighbors=5)]}
    res, search = evaluate_split(pipe, grid, X, y, sd, train, test, inner_cv=3, random_state=0,
                                 scorers=["MixVal", "MixVal-inter", "MixVal-intra"],
                                 return_search=True)
    for (c, _), rec in search.records.items():
        assert (np.unique(rec.pred_target_val).size == 1) == (c == 0)
    chosen = res[res["selected"]].set_index("scorer")["candidate"]
    for name in ("MixVal", "MixVal-inter"):
        assert np.isnan(search.scores[name][0]).all()  # one class: no inter-cluster probe
        assert np.isfinite(search.scores[name][1:]).all()
        assert chosen[name] != 0
    # The paper's intra-cluster ICE cannot avoid it: 1, the best possible score, on every
    # split (documented in MixVal's docstring).
    intra = search.scores["MixVal-intra"]
    assert (intra[0] == 1.0).all() and (intra <= 1.0).all()
    assert intra[0].mean() == intra.mean(axis=1).max()


# ------------------------------------------------------------------- 6. no leakage
def _metric_scorers():
    out = [get_scorer(n, metric=m, name=f"{n}-{m}") for n in ("SrcVal", "IW", "oracle")
           for m in METRICS]
    out += [get_scorer(n, metric=m, name=f"{n}-{m}") for n in ("DEV", "DEVN")
            for m in ("accuracy", "balanced_accuracy", "log_loss")]
    out += [get_scorer("CircV", metric=m, name=f"CircV-{m}")
            for m in ("accuracy", "balanced_accuracy")]
    return out


def test_no_metric_lets_a_realistic_scorer_read_target_labels():
    X, y, sd = _data(n=60, seed=2)
    outer = next(StratifiedDomainShuffleSplit(1, test_size=0.25, random_state=0).split(X, y, sd))
    train, test = outer
    rng = np.random.default_rng(7)
    y_random = y.copy()
    tgt = sd < 0
    y_random[tgt] = rng.integers(0, 2, tgt.sum())  # every target label random
    y_unseen = y.copy()
    y_unseen[tgt] = rng.integers(0, 3, tgt.sum())  # even an unseen class
    kw = dict(scorers=_metric_scorers(), inner_cv=2, random_state=0)
    cols = ["candidate", "scorer", "inner_score", "inner_score_std", "rank", "selected"]
    ref = evaluate_split(_pipe(), GRID, X, y, sd, train, test, **kw)
    realistic = ~ref["oracle"]
    assert set(ref.loc[realistic, "scorer"]) == {s.name for s in kw["scorers"]
                                                 if not s.uses_target_labels}
    for other_y in (y_random, y_unseen):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            other = evaluate_split(_pipe(), GRID, X, other_y, sd, train, test, **kw)
        pd.testing.assert_frame_equal(
            ref.loc[realistic, cols].reset_index(drop=True),
            other.loc[~other["oracle"], cols].reset_index(drop=True), check_exact=True)
        # The oracles do read them (the check above is not vacuous).
        oracle = ref["oracle"].to_numpy()
        assert not np.array_equal(ref.loc[oracle, "inner_score"].to_numpy(),
                                  other.loc[other["oracle"], "inner_score"].to_numpy())


# ------------------------------------------------------ 7. [scorers] metric of definitions
DEF = """\
[benchmark]
name = "metric"

[protocol]
outer_splits = 2
inner_splits = 2

[[datasets]]
name = "sim-conditional"

[methods."Train Src"]

[scorers]
names = ["IW", "oracle"]
"""


def _load(tmp_path: Path, text: str):
    path = tmp_path / "metric.toml"
    path.write_text(text)
    return path, load_definition(path)


def test_definition_metric_key(tmp_path):
    _, base = _load(tmp_path, DEF)
    assert base.selection_metric == "accuracy"
    assert "selection_metric" not in base.to_dict()
    _, same = _load(tmp_path, DEF + 'metric = "accuracy"\n')
    assert same.to_dict() == base.to_dict() and same.digest() == base.digest()
    for metric in METRICS[1:]:
        _, other = _load(tmp_path, DEF + f'metric = "{metric}"\n')
        assert other.selection_metric == metric
        assert other.to_dict()["selection_metric"] == metric
        assert other.digest() != base.digest()
    data = tomllib.loads(DEF)
    data["scorers"]["metric"] = None  # dict definitions: None is "left out"
    assert definition_from_dict(data).selection_metric == "accuracy"
    data["scorers"]["metric"] = "roc_auc"
    assert definition_from_dict(data).selection_metric == "roc_auc"


@pytest.mark.parametrize(("value", "expected"), [
    ('"balanced"', "got 'balanced' (a string). Did you mean 'balanced_accuracy'?"),
    ("3", "got 3 (an integer)."),
    ('["roc_auc"]', "got ['roc_auc'] (an array)."),
])
def test_definition_metric_errors_are_located(tmp_path, value, expected):
    path = tmp_path / "metric.toml"
    path.write_text(DEF + f"metric = {value}\n")
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    message = str(info.value)
    line = len(DEF.splitlines()) + 1
    assert message.startswith(f"{path}:{line}: [scorers] metric must be one of 'accuracy', "
                              "'balanced_accuracy', 'roc_auc', 'log_loss', "), message
    assert expected in message
