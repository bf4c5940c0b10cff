"""Scorers: hand-computed values on tiny examples, the higher-is-better direction, the
registry, and leakage prevention by construction."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from shiftlab.exceptions import TargetLabelLeakError, UnknownNameError
from shiftlab.methods import make_da_pipeline
from shiftlab.selection import (
    BatchNuclearNorm,
    CircularValidation,
    ClassAMI,
    DeepEmbeddedValidation,
    ImportanceWeighted,
    MaNo,
    MixVal,
    PredictionEntropy,
    RankConsensus,
    SoftNeighborhoodDensity,
    SourceAccuracy,
    SupervisedOracle,
    get_scorer,
    list_scorers,
    make_scorer,
)
from shiftlab.selection._context import SplitContext, SplitLabels, density_ratio
from shiftlab.selection._refit import FitCache
from shiftlab.selection.records import CandidateRecord


def _ctx(y_source_val=(0, 1, 1, 0), n_target=4, weights=None, **kw):
    y = np.asarray(y_source_val)
    return SplitContext(
        split=0,
        X_source_val=np.zeros((len(y), 1)),
        y_source_val=y,
        X_target_val=np.zeros((n_target, 1)),
        source_val_weights=None if weights is None else np.asarray(weights, dtype=float),
        **kw,
    )


def _rec(**kw):
    kw.setdefault("classes", np.array([0, 1]))
    return CandidateRecord(candidate=0, params={}, split=0, **kw)


# --------------------------------------------------------------------------- hand values
def test_source_accuracy_hand_value():
    rec = _rec(pred_source_val=np.array([0, 1, 0, 0]))
    assert SourceAccuracy().score(rec, _ctx()) == pytest.approx(0.75)


def test_importance_weighted_hand_value():
    # Correct rows 0, 1, 3 with weights 1, 2, 4 out of 1 + 2 + 3 + 4.
    rec = _rec(pred_source_val=np.array([0, 1, 0, 0]))
    ctx = _ctx(weights=[1, 2, 3, 4])
    assert ImportanceWeighted().score(rec, ctx) == pytest.approx(7 / 10)


def test_dev_hand_value_zero_one_loss():
    # l = [0, 0, 1, 0], w = [1, 2, 3, 2] -> L = [0, 0, 3, 0]; mean L = .75, mean w = 2,
    # Cov(L, w) = 3 / 3 = 1, Var(w) = 2 / 3 -> eta = -1.5;
    # DEV = .75 - 1.5 * 2 + 1.5 = -.75 -> score = +.75.
    rec = _rec(pred_source_val=np.array([0, 1, 0, 0]))
    ctx = _ctx(weights=[1, 2, 3, 2])
    assert DeepEmbeddedValidation(loss="zero_one").score(rec, ctx) == pytest.approx(0.75)


def test_devn_hand_value():
    # Same case with w / max(w) = [1/3, 2/3, 1, 2/3]: L = [0, 0, 1, 0], mean L = 1/4,
    # mean w = 2/3, Cov = 1/9, Var = 2/27 -> eta = -1.5;
    # DEVN = 1/4 - 1 + 1.5 = .75 -> score = -.75 (DEV is not scale invariant).
    rec = _rec(pred_source_val=np.array([0, 1, 0, 0]))
    ctx = _ctx(weights=[1, 2, 3, 2])
    scorer = get_scorer("DEVN", loss="zero_one")
    assert scorer.name == "DEVN"
    assert scorer.score(rec, ctx) == pytest.approx(-0.75)


def test_dev_log_loss_constant_weights_is_mean_log_loss():
    # Var(w) = 0 -> eta = 0 and DEV is the plain mean log loss.
    rec = _rec(
        pred_source_val=np.array([0, 1]),
        proba_source_val=np.array([[0.8, 0.2], [0.4, 0.6]]),
    )
    ctx = _ctx(y_source_val=(0, 1), weights=[1.0, 1.0])
    expected = (math.log(0.8) + math.log(0.6)) / 2
    assert DeepEmbeddedValidation().score(rec, ctx) == pytest.approx(expected)


def test_prediction_entropy_hand_value():
    rec = _rec(proba_target_val=np.array([[1.0, 0.0], [0.5, 0.5]]))
    assert PredictionEntropy().score(rec, _ctx(n_target=2)) == pytest.approx(-math.log(2) / 2)


def test_snd_hand_value():
    # T = 1: rows 0 and 1 see similarities (1, 0) to their two neighbours, row 2 sees (0, 0).
    rec = _rec(proba_target_val=np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    a = math.e / (math.e + 1)
    h = -(a * math.log(a) + (1 - a) * math.log(1 - a))
    expected = (2 * h + math.log(2)) / 3
    assert SoftNeighborhoodDensity(T=1.0).score(rec, _ctx(n_target=3)) == pytest.approx(expected)


def test_mixval_hand_values():
    # a = [0, 0, 1, 1], partner perm [1, 2, 3, 0] -> b = [0, 1, 1, 0]: pairs 0 and 2 are
    # intra-cluster, 1 and 3 inter-cluster. Probe predictions [0, 1, 1, 1] vs pseudo-labels a:
    # hits [T, F, T, T] -> intra 1.0, inter 0.5, both 0.75.
    ctx = _ctx(n_target=4, mix_perm=np.array([1, 2, 3, 0]))
    rec = _rec(pred_target_val=np.array([0, 0, 1, 1]), pred_target_mix=np.array([0, 1, 1, 1]))
    assert MixVal(ice="intra").score(rec, ctx) == pytest.approx(1.0)
    assert MixVal(ice="inter").score(rec, ctx) == pytest.approx(0.5)
    assert MixVal().score(rec, ctx) == pytest.approx(0.75)
    assert get_scorer("MixVal-inter").name == "MixVal-inter"


def test_mixval_probes_are_the_documented_mixup():
    ctx = SplitContext(
        split=0,
        X_source_val=np.zeros((2, 1)),
        y_source_val=np.array([0, 1]),
        X_target_val=np.array([[0.0], [10.0]]),
        mix_perm=np.array([1, 0]),
    )
    np.testing.assert_allclose(ctx.mix_inputs(), [[4.5], [5.5]])


def test_mano_hand_value():
    rec = _rec(proba_target_val=np.array([[1.0, 0.0], [0.5, 0.5]]))
    expected = ((1 + 0 + 0.5**4 + 0.5**4) / 4) ** 0.25
    assert MaNo().score(rec, _ctx(n_target=2)) == pytest.approx(expected)


def test_bnm_hand_value():
    # P^T P = diag(2, 1) -> singular values sqrt(2), 1.
    rec = _rec(proba_target_val=np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))
    assert BatchNuclearNorm().score(rec, _ctx(n_target=3)) == pytest.approx((math.sqrt(2) + 1) / 3)


def test_class_ami_hand_values():
    F = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
    ctx = _ctx(n_target=6)
    aligned = _rec(features_target_val=F, pred_target_val=np.array([1, 1, 1, 0, 0, 0]))
    constant = _rec(features_target_val=F, pred_target_val=np.zeros(6, dtype=int))
    # Predictions identical to the k-means partition (up to label names): AMI = 1.
    assert ClassAMI().score(aligned, ctx) == pytest.approx(1.0)
    # Constant predictions share no information with two clusters: AMI = 0.
    assert ClassAMI().score(constant, ctx) == pytest.approx(0.0)


def _circ_case(y_source_val):
    # 1-NN on a line, on the validation fold: target-val rows 2, 3, 12, 13 (the forward
    # model labelled them [0, 0, 1, 1]) and source-val rows 0.5, 11.5, 6.0.
    ctx = SplitContext(
        split=0,
        X_source_val=np.array([[0.5], [11.5], [6.0]]),
        y_source_val=np.asarray(y_source_val),
        X_target_val=np.array([[2.0], [3.0], [12.0], [13.0]]),
    )
    return ctx


def test_circular_validation_hand_value_and_cache():
    # Backward 1-NN trained on the pseudo-labelled targets predicts source-val 0.5 -> 2 (0),
    # 11.5 -> 12 (1), 6.0 -> 3 (0). With true labels [0, 1, 1]: accuracy 2/3, balanced
    # accuracy (1 + 1/2) / 2 = .75.
    est = make_da_pipeline(KNeighborsClassifier(n_neighbors=1))
    ctx = _circ_case([0, 1, 1])
    rec = _rec(pred_target_val=np.array([0, 0, 1, 1]))
    cache = FitCache()
    bal, acc = CircularValidation(), CircularValidation(metric="accuracy")
    req = bal.refit_request(rec, ctx)
    # The backward model sees only the fold: 4 pseudo-labelled + 3 unlabelled rows.
    assert len(req.X_fit) == 7 and np.sum(req.y_fit == -1) == 3
    cache.run(est, [req])
    np.testing.assert_array_equal(cache[req.key], [0, 1, 0])
    assert bal.score(rec, ctx, cache[req.key]) == pytest.approx(0.75)
    # A second CircV variant shares the cached backward fit: no new fit.
    cache.run(est, [acc.refit_request(rec, ctx)])
    assert cache.n_fits == 1
    assert acc.score(rec, ctx, cache[req.key]) == pytest.approx(2 / 3)


def test_oracle_hand_value():
    rec = _rec(pred_target_val=np.array([0, 1, 1]))
    labels = SplitLabels(0, np.array([0, 1, 0]))
    assert SupervisedOracle().score(rec, _ctx(n_target=3), labels) == pytest.approx(2 / 3)


def test_rank_consensus_hand_value():
    scores = {"a": np.array([0.9, 0.5, 0.1]), "b": np.array([0.2, 0.8, np.nan])}
    # ranks a: 1, 2, 3; b: 2, 1, 3 (NaN last) -> mean 1.5, 1.5, 3.
    np.testing.assert_allclose(RankConsensus().aggregate(scores), [-1.5, -1.5, -3.0])


# --------------------------------------------------------------------------- direction
def _pair_direction(scorer, good, bad, ctx, *extra):
    s_good = scorer.score(good, ctx, *extra)
    s_bad = scorer.score(bad, ctx, *extra)
    assert s_good > s_bad, (scorer.name, s_good, s_bad)


def test_direction_source_based_scorers():
    y = np.array([0, 1, 1, 0, 1, 0])
    good = _rec(
        pred_source_val=y.copy(),
        proba_source_val=np.eye(2)[y] * 0.9 + 0.05,
    )
    bad = _rec(
        pred_source_val=1 - y,
        proba_source_val=np.eye(2)[1 - y] * 0.9 + 0.05,
    )
    ctx = _ctx(y_source_val=y, weights=[1, 2, 1, 3, 1, 2])
    for scorer in (SourceAccuracy(), ImportanceWeighted(), DeepEmbeddedValidation(),
                   get_scorer("DEVN")):
        assert scorer.greater_is_better
        _pair_direction(scorer, good, bad, ctx)


def test_direction_target_prediction_scorers():
    rng = np.random.default_rng(0)
    n = 40
    labels = np.repeat([0, 1], n // 2)
    confident = np.eye(2)[labels] * 0.98 + 0.01
    spread = rng.dirichlet([1.0, 1.0], size=n)
    uniform = np.full((n, 2), 0.5)
    ctx = _ctx(n_target=n)
    good = _rec(proba_target_val=confident)
    # Confident, class-balanced predictions beat uniform ones for PE, MaNo and BNM ...
    for scorer in (PredictionEntropy(), MaNo(), BatchNuclearNorm()):
        _pair_direction(scorer, good, _rec(proba_target_val=uniform), ctx)
    # ... and tight prediction clusters beat scattered predictions for SND.
    _pair_direction(SoftNeighborhoodDensity(), good, _rec(proba_target_val=spread), ctx)


def test_direction_mixval_and_class_ami():
    n = 20
    F = np.r_[np.zeros((n // 2, 1)), np.full((n // 2, 1), 10.0)]
    F = F + np.linspace(0, 0.1, n)[:, None]
    pred = np.repeat([0, 1], n // 2)
    rng = np.random.default_rng(1)
    ctx = _ctx(n_target=n, mix_perm=rng.permutation(n))
    a, b = pred, pred[ctx.mix_perm]
    consistent = _rec(pred_target_val=pred, pred_target_mix=a.copy(), features_target_val=F)
    # Probes whose predictions contradict the dominant sample's label.
    inconsistent = _rec(pred_target_val=pred, pred_target_mix=np.where(a == b, 1 - a, b),
                        features_target_val=F)
    for scorer in (MixVal(), MixVal(ice="intra"), MixVal(ice="inter")):
        _pair_direction(scorer, consistent, inconsistent, ctx)
    random_pred = _rec(pred_target_val=rng.integers(0, 2, n), features_target_val=F)
    _pair_direction(ClassAMI(), consistent, random_pred, ctx)


def test_direction_circular_validation():
    est = make_da_pipeline(KNeighborsClassifier(n_neighbors=1))
    ctx = _circ_case([0, 1, 1])
    good = _rec(pred_target_val=np.array([0, 0, 1, 1]))
    bad = CandidateRecord(candidate=1, params={}, split=0, classes=np.array([0, 1]),
                          pred_target_val=np.array([1, 1, 0, 0]))
    scorer, cache = CircularValidation(), FitCache()
    cache.run(est, [scorer.refit_request(good, ctx), scorer.refit_request(bad, ctx)])
    s_good = scorer.score(good, ctx, cache[("circular", 0, 0)])
    s_bad = scorer.score(bad, ctx, cache[("circular", 1, 0)])
    assert s_good > s_bad


def test_direction_oracle():
    labels = SplitLabels(0, np.array([0, 1, 1, 0]))
    good = _rec(pred_target_val=np.array([0, 1, 1, 0]))
    bad = _rec(pred_target_val=np.array([1, 1, 1, 1]))
    _pair_direction(SupervisedOracle(), good, bad, _ctx(), labels)


def test_regression_scores_are_negated_losses():
    ctx = SplitContext(split=0, X_source_val=np.zeros((3, 1)),
                       y_source_val=np.array([0.5, 1.5, 2.5]), X_target_val=np.zeros((2, 1)),
                       source_val_weights=np.array([1.0, 1.0, 2.0]))
    rec = CandidateRecord(candidate=0, params={}, split=0,
                          pred_source_val=np.array([0.5, 2.5, 2.5]))
    assert ctx.kind == "regression"
    assert SourceAccuracy().score(rec, ctx) == pytest.approx(-1 / 3)
    assert ImportanceWeighted().score(rec, ctx) == pytest.approx(-1 / 4)


# --------------------------------------------------------------------------- density ratio
def test_density_ratio_recovers_gaussian_ratio():
    # N(0, 1) -> N(1, 1): p_T / p_S = exp(x - 1/2), log-linear, so the logistic
    # discriminator is well specified.
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(0, 1, (4000, 1)), rng.normal(1, 1, (4000, 1))
    grid = np.array([[-1.0], [0.5], [1.5]])
    w = density_ratio(Xs, Xt, grid)
    np.testing.assert_allclose(np.log(w), grid.ravel() - 0.5, atol=0.15)


def test_split_weights_are_computed_once_and_shared():
    rng = np.random.default_rng(0)
    X_train = np.r_[rng.normal(0, 1, (50, 2)), rng.normal(1, 1, (50, 2))]
    ctx = SplitContext(
        split=0, X_source_val=rng.normal(size=(10, 2)), y_source_val=np.arange(10) % 2,
        X_target_val=rng.normal(size=(10, 2)), X_train=X_train,
        y_train=np.r_[np.arange(50) % 2, -np.ones(50, dtype=int)],
        sample_domain_train=np.r_[np.ones(50, dtype=int), -2 * np.ones(50, dtype=int)],
    )
    w1 = ctx.importance_weights()
    assert ctx.importance_weights() is w1  # cached object, not recomputed


# --------------------------------------------------------------------------- leakage
def test_only_the_oracle_can_receive_target_labels():
    for name in list_scorers(include_aggregate=False):
        scorer = get_scorer(name)
        # Where the scorer reads its inputs: a record, a split's pool, or the whole search.
        entry = next(getattr(scorer, m) for m in ("score", "score_pool", "aggregate_search",
                                                  "weights") if hasattr(scorer, m))
        params = inspect.signature(entry).parameters
        if name == "oracle":
            assert scorer.uses_target_labels and "labels" in params
            assert "ORACLE" in repr(scorer)
        else:
            assert not scorer.uses_target_labels
            assert "labels" not in params, name


def test_context_refuses_visible_target_labels():
    with pytest.raises(TargetLabelLeakError):
        SplitContext(
            split=0, X_source_val=np.zeros((2, 1)), y_source_val=np.array([0, 1]),
            X_target_val=np.zeros((2, 1)), X_train=np.zeros((4, 1)),
            y_train=np.array([0, 1, 1, 0]), sample_domain_train=np.array([1, 1, -2, -2]),
        )


# --------------------------------------------------------------------------- registry
def test_registry_names_aliases_and_suggestions():
    names = list_scorers()
    for expected in ("IW", "DEV", "DEVN", "PE", "SND", "MixVal", "MixVal-intra", "MixVal-inter",
                     "MaNo", "BNM", "ClassAMI", "SrcVal", "CircV", "consensus", "oracle"):
        assert expected in names
    assert names[-1] == "oracle"
    assert get_scorer("supervised").name == "oracle"
    assert get_scorer("snd", T=0.1).T == 0.1
    with pytest.raises(UnknownNameError, match="Did you mean 'PE'"):
        get_scorer("PEE")
    custom = make_scorer(lambda r, c: 1.0, name="one")
    assert get_scorer(custom) is custom and custom.greater_is_better


def test_scorers_register_next_to_their_class():
    """Each scorer class carries its registration (a decorator); variants fix arguments."""
    from shiftlab.selection import scorers as sc
    from shiftlab.selection import selectors

    assert sc._FACTORIES["PE"] is sc.PredictionEntropy
    assert sc._FACTORIES["EnsV"] is selectors.EnsembleValidation
    assert get_scorer("dev_normalized").normalize == "max"
    assert get_scorer("DEV").normalize != "max"
    assert (get_scorer("mixval_intra").ice, get_scorer("MixVal-inter").ice) == ("intra", "inter")
    with pytest.raises(TypeError):  # a variant's fixed argument cannot be given again
        get_scorer("DEVN", normalize="none")
    with pytest.raises(ValueError, match="already an alias of 'PE'"):
        sc.register_scorer("entropy", sc.PredictionEntropy)
    before = list_scorers()
    try:
        @sc.register_scorer("PE-test", aliases=("pe_test_alias",))
        class _Test(sc.PredictionEntropy):
            pass

        assert type(get_scorer("pe_test_alias")) is _Test
        assert list_scorers()[: len(before) - 2] == before[:-2]
    finally:
        sc._FACTORIES.pop("PE-test")
        sc._ALIASES.pop("pe-test")
        sc._ALIASES.pop("pe_test_alias")
    assert list_scorers() == before


def test_dev_feature_space_weights_and_decision_only_models():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(40, 3))
    y = (F[:, 0] > 0).astype(int)
    proba = np.column_stack([1 - (y * 0.8 + 0.1), y * 0.8 + 0.1])
    # Source and target features from one distribution: weights near 1, DEV near the mean
    # log loss (-log .9).
    rec = _rec(pred_source_val=y, proba_source_val=proba, features_source_val=F[:20],
               features_target_val=F[20:])
    ctx = _ctx(y_source_val=y[:20], n_target=20)
    rec.proba_source_val = proba[:20]
    rec.pred_source_val = y[:20]
    dev = DeepEmbeddedValidation(weights="features")
    assert "features" in dev.needs
    assert dev.score(rec, ctx) == pytest.approx(math.log(0.9), abs=0.1)
    # Models without predict_proba: probabilities come from the decision values.
    margins = np.r_[np.full(10, 4.0), np.full(10, -4.0)]
    sure = _rec(decision_target_val=margins)
    unsure = _rec(decision_target_val=margins / 40)
    for scorer in (PredictionEntropy(), MaNo(), BatchNuclearNorm()):
        assert scorer.has_inputs(sure)
        _pair_direction(scorer, sure, unsure, _ctx(n_target=20))


def test_mixval_pairing_follows_skadas_random_state_convention():
    from shiftlab.selection.search import mixval_seed

    X_t = np.arange(20.0).reshape(10, 2)
    ctx = SplitContext(split=0, X_source_val=np.zeros((3, 2)), y_source_val=np.array([0, 1, 0]),
                       X_target_val=X_t, mix_seed=7)
    # skada's MixValScorer(random_state=7) draws RandomState(7).permutation(n_target).
    np.testing.assert_array_equal(ctx.mix_perm, np.random.RandomState(7).permutation(10))
    # One pairing seed per outer split, a pure function of the search's random_state.
    assert mixval_seed(3) == mixval_seed(3) != mixval_seed(4)
