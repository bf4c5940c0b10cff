"""The contract every registered method and scorer honours (issue #20).

Shaped like scikit-learn's ``parametrize_with_checks``: a check is a function of one
case (a method or a scorer), :func:`method_cases` / :func:`scorer_cases` pair every
registered method and scorer with every check of its kind, and one test runs each pair,
with ids ``<name>-<check>``. The tables below say how each registered method is built
for the contract; :func:`test_contract_covers_every_registered_method_and_scorer` fails
when a method or scorer is registered without an entry, so nothing joins the registries
unchecked.

Methods (shallow, and deep under the ``deep`` marker) are used as the project uses them:
an adapter inside ``make_da_pipeline(adapter, estimator)``, a DA estimator with
``base_estimator=estimator``, a deep method on its own, the estimator being a
``LogisticRegression`` (a ``Ridge`` for regression-only methods), seeded with
``random_state=0`` where the method has one. Checks: clone round-trip, pickling a fitted
model, determinism under ``random_state``, no mutation of the caller's arrays, no target
label leakage, a clear error for a feature-count mismatch at predict time, and a
``DataValidationError`` pointing to imputation for NaN at fit time.

Scorers are checked through the search that runs them (an
:class:`~shiftlab.selection.search.OuterSplitSearch` over a small cross-method pool):
determinism, the target-label firewall (by signature, and by scoring again with wrong
target labels in the evaluator-only parts of the search), finite higher-is-better scores
(NaN only with a reason), clone and pickle.
"""

from __future__ import annotations

import functools
import inspect
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from shiftlab.data.convention import label_kind
from shiftlab.data.simulate import make_shifted_gaussians, make_shifted_regression
from shiftlab.exceptions import DataValidationError
from shiftlab.methods.base import make_da_pipeline, seeded
from shiftlab.methods.registry import get_method, list_methods
from shiftlab.selection import (
    OracleScorer,
    evaluate_split,
    get_scorer,
    list_scorers,
    method_pool,
)
from shiftlab.selection._context import SplitLabels
from shiftlab.selection._refit import FitCache

# ------------------------------------------------------------------ what is covered
#: Every registered shallow method, with the parameters the contract builds it with
#: (``{}``: its defaults, fast on 100 rows per domain; ``random_state`` is set to 0
#: wherever a method has one).
SHALLOW: dict[str, dict] = {
    "SourceOnly": {},
    # label shift
    "BBSE": {},
    "MLLS": {},
    # mapping
    "ClassRegOT": {},
    "CORAL": {},
    "EntOT": {},
    "LinOT": {},
    "MapOT": {},
    "MMD-LS": {},
    # other (DA estimators)
    "DASVM": {},
    "JCPOT": {},
    "JDOT": {},
    "JDOTRegressor": {},
    "OTLabelProp": {},
    # reweighting
    "DensityReweight": {},
    "DiscriminatorReweight": {},
    "GaussianReweight": {},
    "KLIEP": {},
    "KMM": {},
    "MMDTarS": {},
    "NearestNeighborReweight": {},
    # subspace
    "JPCA": {},
    "SA": {},
    "TCA": {},
    "TJM": {},
    "TSL": {},
}

#: Every registered deep method, with what it needs beyond the quick training settings
#: (:data:`DEEP_QUICK`).
DEEP: dict[str, dict] = {
    "SourceOnly": {},
    "TargetOnly": {},
    "DeepCORAL": {},
    "DAN": {},
    "DANN": {},
    "CDAN": {},
    "DeepJDOT": {},
    "MCC": {},
    "MDD": {},
    "CAN": {},
    "SPA": {},
    "BNM": {},
    "SHOT": {},
    "EntropyKLPrior": {},
    "TENT": {"source_epochs": 2},
    "TIM": {"n_iter": 10},
}
DEEP_QUICK = {"n_epochs": 2, "batch_size": 32, "random_state": 0, "device": "cpu"}

#: Every registered scorer (``list_scorers()``, the selectors' included).
SCORERS: tuple[str, ...] = (
    "SrcVal", "IW", "DEV", "DEVN", "PE", "SND", "MixVal", "MixVal-intra", "MixVal-inter",
    "MaNo", "BNM", "ClassAMI", "CircV", "EnsV", "zconsensus", "safe", "Average", "IWA",
    "consensus", "oracle",
)

#: Scorers whose NaN on a degenerate candidate is their documented behaviour, and why.
#: Any other NaN must come with a warning naming the scorer.
DOCUMENTED_NAN = {
    "MixVal": "a one-class predictor has no inter-cluster probe (see MixVal's docstring)",
    "MixVal-inter": "a one-class predictor has no inter-cluster probe (see MixVal)",
}


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small problems run fastest (and steadiest on a busy 2-core runner) single-threaded."""
    with threadpool_limits(limits=1):
        yield


# ------------------------------------------------------------------------- the data
@functools.cache
def classification_task():
    """``X, y (masked), sample_domain, y_true``: 3 classes, 4 features, 100 rows a domain."""
    ds = make_shifted_gaussians("conditional", n_features=4, n_classes=3,
                                n_samples_source=100, n_samples_target=100, random_state=0)
    return ds.pack("source", "target", return_target_labels=True)


@functools.cache
def regression_task():
    ds = make_shifted_regression("covariate", n_features=4, n_informative=2,
                                 n_samples_source=100, n_samples_target=100, random_state=0)
    return ds.pack("source", "target", return_target_labels=True)


def _wrong_target_labels(y_true, sd):
    """``y_true`` with every target label wrong, and the target class counts changed: the
    most frequent target class becomes another class and every other class becomes it
    (regression targets are shifted by 100)."""
    tgt = sd < 0
    if label_kind(y_true) == "regression":
        return np.where(tgt, y_true + 100.0, y_true)
    values, counts = np.unique(y_true[tgt], return_counts=True)
    top = values[np.argmax(counts)]
    other = next(c for c in np.unique(y_true) if c != top)
    return np.where(tgt, np.where(y_true == top, other, top), y_true)


# ----------------------------------------------------------------- comparing results
def _assert_same_value(a, b, where: str) -> None:
    """Parameter values are equal; estimators are equal when of one type with equal
    parameters (``clone`` makes new objects)."""
    if hasattr(a, "get_params") and not isinstance(a, type):
        assert type(a) is type(b), where
        _assert_same_params(a.get_params(deep=False), b.get_params(deep=False), f"{where}__")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (va, vb) in enumerate(zip(a, b, strict=True)):
            _assert_same_value(va, vb, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _assert_same_params(a: dict, b: dict, where: str = "") -> None:
    assert a.keys() == b.keys(), where
    for key, value in a.items():
        _assert_same_value(value, b[key], f"{where}{key}")


def _assert_same_outputs(got: dict, expected: dict, what: str) -> None:
    assert got.keys() == expected.keys(), what
    for key, value in expected.items():
        if value is None:
            assert got[key] is None, f"{what}: {key}"
        else:
            np.testing.assert_array_equal(got[key], value, err_msg=f"{what}: {key}")


# ------------------------------------------------------------------------ the cases
@dataclass
class MethodCase:
    """How the contract builds, fits and reads one registered method."""

    name: str
    deep: bool = False

    def __str__(self) -> str:
        return f"deep:{self.name}" if self.deep else self.name

    # ---- building -----------------------------------------------------------
    @property
    def spec(self):
        if self.deep:
            from shiftlab.deep.registry import get_deep_method

            return get_deep_method(self.name)
        return get_method(self.name)

    @property
    def regression_only(self) -> bool:
        spec = self.spec
        return not self.deep and spec.regression and not spec.multiclass

    @property
    def is_adapter(self) -> bool:
        return not self.deep and self.spec.needs_estimator

    @property
    def task(self):
        return regression_task() if self.regression_only else classification_task()

    def make_method(self):
        """The method object itself (adapter, DA estimator or deep estimator)."""
        if self.deep:
            return self.spec.cls(**{**DEEP_QUICK, **DEEP[self.name]})
        params = dict(SHALLOW[self.name])
        if not self.spec.needs_estimator:
            params["base_estimator"] = Ridge() if self.regression_only else LogisticRegression()
        return seeded(self.spec.cls(**params), 0)

    def make(self):
        """The model as the project fits it."""
        method = self.make_method()
        if self.is_adapter:
            return make_da_pipeline(method, LogisticRegression())
        return method

    def method_of(self, model):
        return model.steps[0][1] if self.is_adapter else model

    # ---- fitting and reading ------------------------------------------------
    def fit(self, model, X, y, sd):
        if self.deep and self.spec.setting == "oracle":
            # The deep oracle reads target labels through its own, explicit argument.
            return model.fit(X, y, sd, oracle_target_labels=self.task[3])
        return model.fit(X, y, sd)

    def outputs(self, model, X=None, sd=None) -> dict:
        """Everything a fitted model outputs on (by default) the task's rows."""
        if X is None:
            X, _, sd, _ = self.task
        out = {"predict": model.predict(X, sd)}
        for method in ("predict_proba", "decision_function", "transform"):
            if hasattr(model, method):
                out[method] = getattr(model, method)(X, sd)
        return out

    def fit_outputs(self, y, X=None, sd=None) -> dict:
        """Fit a fresh model with labels ``y`` and return its outputs; for adapters also
        what the adapter alone gives its training rows (``fit_adapt``: rows, weights)."""
        X0, _, sd0, _ = self.task
        X = X0 if X is None else X
        sd = sd0 if sd is None else sd
        model = self.fit(self.make(), X, y, sd)
        out = self.outputs(model, X, sd)
        if self.is_adapter:
            out["fit_adapt_X"], out["fit_adapt_weights"] = self.make_method().fit_adapt(X, y, sd)
        return out

    @functools.cached_property
    def reference(self):
        """A model fitted on the task with masked target labels (shared by the checks,
        which never change it)."""
        X, y, sd, _ = self.task
        return self.fit(self.make(), X, y, sd)

    @functools.cached_property
    def reference_outputs(self) -> dict:
        return self.fit_outputs(self.task[1])


# ------------------------------------------------------------------- method checks
def check_clone(case: MethodCase) -> None:
    """``clone`` gives an unfitted twin with equal parameters; fit leaves them alone."""
    model = case.make()
    for est in (case.method_of(model), model):
        twin = clone(est)
        assert twin is not est and type(twin) is type(est)
        _assert_same_params(twin.get_params(deep=False), est.get_params(deep=False))
    fitted = case.reference
    _assert_same_params(fitted.get_params(deep=False), model.get_params(deep=False))
    with pytest.raises(NotFittedError):
        check_is_fitted(clone(fitted))


def check_pickle(case: MethodCase) -> None:
    """A fitted model survives a pickle round-trip with identical outputs."""
    fitted = case.reference
    again = pickle.loads(pickle.dumps(fitted))
    _assert_same_outputs(case.outputs(again), case.outputs(fitted), "after pickling")
    _assert_same_params(again.get_params(deep=False), fitted.get_params(deep=False))


def check_deterministic(case: MethodCase) -> None:
    """Two fits with the same seed give identical predictions, weights and transforms."""
    _assert_same_outputs(case.fit_outputs(case.task[1]), case.reference_outputs,
                         "second fit")


def check_caller_arrays_not_mutated(case: MethodCase) -> None:
    """Fitting and predicting leave the caller's X, y and sample_domain as they were,
    with masked and with visible target labels."""
    X, y, sd, y_true = case.task
    for labels in (y, y_true):
        args = [X.copy(), labels.copy(), sd.copy()]
        before = [a.copy() for a in args]
        model = case.fit(case.make(), *args)
        case.outputs(model, args[0], args[2])
        if case.is_adapter:
            case.make_method().fit_adapt(*args)
        for got, expected, what in zip(args, before, ("X", "y", "sample_domain"),
                                       strict=True):
            np.testing.assert_array_equal(got, expected, err_msg=f"{case} changed {what}")


def check_target_labels_cannot_leak(case: MethodCase) -> None:
    """Visible (true or wrong) target labels give bit-identical results to masked ones:
    the methods mask target labels themselves."""
    _, _, sd, y_true = case.task
    for labels, what in ((y_true, "true"), (_wrong_target_labels(y_true, sd), "wrong")):
        _assert_same_outputs(case.fit_outputs(labels), case.reference_outputs,
                             f"fitted with {what} target labels visible")


def check_n_features_mismatch(case: MethodCase) -> None:
    """Predicting (or transforming) rows with another number of features raises
    shiftlab's DataValidationError, which says both numbers."""
    X, _, sd, _ = case.task
    fitted = case.reference
    n = X.shape[1]
    for method in ("predict", "transform"):
        if not hasattr(fitted, method):
            continue
        with pytest.raises(DataValidationError) as info:
            getattr(fitted, method)(X[:, :-1], sd)
        message = str(info.value)
        assert str(n) in message and str(n - 1) in message, (method, message)


def check_nan_at_fit_says_impute(case: MethodCase) -> None:
    """NaN in X at fit raises shiftlab's DataValidationError, which points to imputation."""
    X, y, sd, _ = case.task
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(DataValidationError, match=r"(?i)imput"):
        case.fit(case.make(), X_nan, y, sd)
    if case.is_adapter:
        with pytest.raises(DataValidationError, match=r"(?i)imput"):
            case.make_method().fit_adapt(X_nan, y, sd)


METHOD_CHECKS: tuple[Callable[[MethodCase], None], ...] = (
    check_clone,
    check_pickle,
    check_deterministic,
    check_caller_arrays_not_mutated,
    check_target_labels_cannot_leak,
    check_n_features_mismatch,
    check_nan_at_fit_says_impute,
)

SHALLOW_CASES = {name: MethodCase(name) for name in SHALLOW}
DEEP_CASES = {name: MethodCase(name, deep=True) for name in DEEP}


def method_cases():
    """``pytest.param(case, check)`` for every (method, check) pair, deep ones marked."""
    for cases, marks in ((SHALLOW_CASES, ()), (DEEP_CASES, (pytest.mark.deep,))):
        for case in cases.values():
            for check in METHOD_CHECKS:
                yield pytest.param(case, check, id=f"{case}-{check.__name__}", marks=marks)


@pytest.mark.parametrize("case, check", list(method_cases()))
def test_method_contract(case: MethodCase, check):
    if case.deep:
        torch = pytest.importorskip("torch")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            check(case)
        finally:
            torch.set_num_threads(threads)
    else:
        check(case)


# ------------------------------------------------------------------------- scorers
@dataclass
class Scored:
    """A scorer's outputs on the pool search: scores (candidates x inner splits), or
    per-candidate values for the search-level scorers, and the warnings it raised."""

    values: np.ndarray
    warnings: list[str]


def _kind_of(scorer) -> str:
    if getattr(scorer, "is_aggregation", False):
        return "aggregation"  # weights over the candidates (Average, IWA)
    if scorer.is_aggregate:
        return "aggregate"  # reads other scorers' scores (consensus, zconsensus, safe)
    return "record"  # reads records: realistic, refit, pool and oracle scorers


def _score(search, scorer) -> Scored:
    """``scorer``'s values on ``search``, which it is added to (as a search does)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search.add_scorer(scorer)
    if _kind_of(scorer) == "aggregation":
        values = search.aggregations[scorer.name][1]
    else:
        values = search.scores[scorer.name]
    return Scored(np.asarray(values, dtype=float), [str(w.message) for w in caught])


def _fresh(search, labels=None):
    """A copy of ``search`` with no score, no cached fit and no cached split resource
    (pickling drops the contexts' caches), optionally with other evaluator-only labels."""
    copy = pickle.loads(pickle.dumps(search))
    copy.scores, copy.scorers, copy.selected = {}, {}, {}
    copy.aggregations = {}
    copy.refit_cache = FitCache()
    if labels is not None:
        copy._labels, copy._y_test = labels
    return copy


def _score_all(search) -> dict[str, Scored]:
    """Every registered scorer on ``search``, record scorers first (as the search does)."""
    scorers = sorted((get_scorer(name) for name in SCORERS),
                     key=lambda s: _kind_of(s) != "record")
    return {s.name: _score(search, s) for s in scorers}


def _score_one(search, scorer) -> Scored:
    """One scorer on a fresh copy of ``search``: record scorers alone, scorers that read
    other scorers after every record scorer they may read."""
    copy = _fresh(search)
    if _kind_of(scorer) != "record":
        for name in SCORERS:
            other = get_scorer(name)
            if _kind_of(other) == "record":
                _score(copy, other)
    return _score(copy, scorer)


@functools.cache
def pool():
    """A small cross-method search, scored by every registered scorer.

    Candidates: source-only, CORAL (two regularisations), JDOT and a one-class predictor
    (a degenerate candidate: where a scorer is undefined, it must say why). Two inner
    splits; the outer test part is 40 target rows.
    """
    X, _, sd, y_true = classification_task()
    pipe, grid = method_pool({"CORAL": {"reg": [1e-3, 1.0]}, "JDOT": None},
                             LogisticRegression(), random_state=0)
    grid.append({"estimator": [DummyClassifier(strategy="most_frequent")]})
    tgt = np.flatnonzero(sd < 0)
    test_idx = tgt[::5][:40]
    train_idx = np.setdiff1d(np.arange(len(X)), test_idx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, search = evaluate_split(pipe, grid, X, y_true, sd, train_idx, test_idx,
                                   scorers=list(SCORERS), inner_cv=2, random_state=0,
                                   store_features=True, return_search=True)
    search = _fresh(search)
    return search, _score_all(search)


@functools.cache
def relabelled_pool_scores() -> dict[str, Scored]:
    """Every scorer on the pool search again, its evaluator-only target labels (the
    oracle's inner validation labels, the outer test labels) all wrong."""
    search, _ = pool()
    wrong = [SplitLabels(lab.split, _wrong_target_labels(lab.y_target_val,
                                                         -np.ones_like(lab.y_target_val)))
             for lab in search._labels]
    y_test = _wrong_target_labels(search._y_test, -np.ones_like(search._y_test))
    return _score_all(_fresh(search, labels=(wrong, y_test)))


def _degenerate(search) -> np.ndarray:
    """Which candidates of the pool are the one-class predictor."""
    return np.array([isinstance(p.get("estimator"), DummyClassifier)
                     for p in search.candidates])


def _entry_points(scorer) -> dict[str, inspect.Signature]:
    names = ("score", "score_pool", "refit_request", "aggregate", "aggregate_search",
             "weights")
    return {m: inspect.signature(getattr(scorer, m)) for m in names
            if callable(getattr(scorer, m, None))}


def check_scorer_deterministic(name: str) -> None:
    """Scoring again from scratch (fresh caches, refits and split resources) gives the
    same scores."""
    search, ref = pool()
    again = _score_one(search, get_scorer(name))
    np.testing.assert_array_equal(again.values, ref[name].values)


def check_scorer_target_label_firewall(name: str) -> None:
    """Only a scorer declaring ``uses_target_labels`` can receive target labels: its kind
    (:class:`OracleScorer`) and its ``score`` signature say so, and every other scorer
    scores the same when the evaluator-only labels of the search are wrong."""
    scorer = get_scorer(name)
    entries = _entry_points(scorer)
    assert entries, f"{name} has no entry point the search calls"
    reads_labels = {m for m, sig in entries.items() if "labels" in sig.parameters}
    if scorer.uses_target_labels:
        assert isinstance(scorer, OracleScorer) and reads_labels == {"score"}
        assert "ORACLE" in repr(scorer)
    else:
        assert not isinstance(scorer, OracleScorer) and not reads_labels, reads_labels
    ref, relabelled = pool()[1], relabelled_pool_scores()
    if scorer.uses_target_labels:  # the check can tell: the oracle's scores do change
        assert not np.array_equal(relabelled[name].values, ref[name].values, equal_nan=True)
    else:
        np.testing.assert_array_equal(relabelled[name].values, ref[name].values)


def check_scorer_finite_or_nan_with_reason(name: str) -> None:
    """Scores are higher-is-better numbers: finite for every real candidate; NaN only for
    the degenerate one, and then with a warning naming the scorer or as documented."""
    scorer = get_scorer(name)
    assert scorer.greater_is_better is True
    search, ref = pool()
    values = ref[name].values
    if _kind_of(scorer) == "record":
        degenerate = _degenerate(search)
        assert np.isfinite(values[~degenerate]).all(), values
        values = values[degenerate]
    if np.isnan(values).any():
        warned = any(repr(name) in message for message in ref[name].warnings)
        documented = name in DOCUMENTED_NAN and "NaN" in (type(scorer).__doc__ or "")
        assert warned or documented, f"{name} gives NaN without a reason"
    assert not np.isinf(values).any(), values


def check_scorer_clone(name: str) -> None:
    """A scorer rebuilt from its parameters has them and scores the same."""
    scorer = get_scorer(name)
    twin = type(scorer)(**scorer.get_params(), name=scorer.name)
    assert twin.get_params() == scorer.get_params() and repr(twin) == repr(scorer)
    search, ref = pool()
    np.testing.assert_array_equal(_score_one(search, twin).values, ref[name].values)


def check_scorer_pickle(name: str) -> None:
    """A scorer survives a pickle round-trip with its parameters and its scores."""
    scorer = get_scorer(name)
    again = pickle.loads(pickle.dumps(scorer))
    assert type(again) is type(scorer) and again.get_params() == scorer.get_params()
    search, ref = pool()
    np.testing.assert_array_equal(_score_one(search, again).values, ref[name].values)


SCORER_CHECKS: tuple[Callable[[str], None], ...] = (
    check_scorer_deterministic,
    check_scorer_target_label_firewall,
    check_scorer_finite_or_nan_with_reason,
    check_scorer_clone,
    check_scorer_pickle,
)


def scorer_cases():
    for name in SCORERS:
        for check in SCORER_CHECKS:
            yield pytest.param(name, check, id=f"{name}-{check.__name__}")


@pytest.mark.parametrize("name, check", list(scorer_cases()))
def test_scorer_contract(name, check):
    check(name)


# ------------------------------------------------------------------------ coverage
def _parametrised(cases) -> set[str]:
    return {p.values[0] if isinstance(p.values[0], str) else p.values[0].name for p in cases}


def test_contract_covers_every_registered_method_and_scorer():
    """The parametrisation covers 100% of the registered shallow methods and scorers,
    each with every check of its kind."""
    shallow = [p for p in method_cases() if not p.values[0].deep]
    registered = {s.name for s in list_methods()}
    assert _parametrised(shallow) == registered, (
        f"not covered: {sorted(registered - _parametrised(shallow))} (add them to SHALLOW); "
        f"not registered: {sorted(_parametrised(shallow) - registered)}")
    assert len(shallow) == len(registered) * len(METHOD_CHECKS)
    scorers = list(scorer_cases())
    registered = set(list_scorers())
    assert _parametrised(scorers) == registered, (
        f"not covered: {sorted(registered - _parametrised(scorers))} (add them to SCORERS); "
        f"not registered: {sorted(_parametrised(scorers) - registered)}")
    assert len(scorers) == len(registered) * len(SCORER_CHECKS)


@pytest.mark.deep
def test_contract_covers_every_registered_deep_method():
    pytest.importorskip("torch")
    from shiftlab.deep.registry import list_deep_methods

    deep = [p for p in method_cases() if p.values[0].deep]
    registered = {s.name for s in list_deep_methods()}
    assert _parametrised(deep) == registered, (
        f"not covered: {sorted(registered - _parametrised(deep))} (add them to DEEP); "
        f"not registered: {sorted(_parametrised(deep) - registered)}")
    assert len(deep) == len(registered) * len(METHOD_CHECKS)
