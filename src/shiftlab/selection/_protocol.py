"""Running the protocol on one outer split (:func:`run_outer_split`) and what every
outer split of a search shares: the checked data (:func:`start_search`,
:class:`SearchData`), the candidates and scorers, the settings (:class:`SearchSettings`)
and the seeds. :func:`~shiftlab.selection.evaluate_split` and
:class:`~shiftlab.selection.DomainSearchCV` (in :mod:`shiftlab.selection.search`) are
built on these.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.model_selection import ParameterGrid

from shiftlab.data.convention import check_domain_arrays, is_masked, label_kind, mask_target_labels
from shiftlab.exceptions import AllCandidatesFailedError, DataValidationError
from shiftlab.selection._context import SplitContext, SplitLabels
from shiftlab.selection._fastpath import accepts_sample_domain
from shiftlab.selection._outer import OuterSplitSearch
from shiftlab.selection._storage import SearchRows
from shiftlab.selection._table import params_text
from shiftlab.selection.records import CandidateRecord, fit_candidate
from shiftlab.selection.scorers import DEFAULT_REALISTIC, BaseScorer, get_scorer
from shiftlab.selection.splitters import check_domain_cv


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


def _seed_ints(seed_seq: np.random.SeedSequence, n: int) -> list[int]:
    return [int(s) for s in seed_seq.generate_state(n, dtype=np.uint32)]


def mixval_seed(random_state) -> int:
    """Seed of MixVal's target pairing in an outer split searched with ``random_state``.

    Every inner split pairs its target validation rows with the permutation
    ``numpy.random.RandomState(seed).permutation(n_target)``, as skada's
    ``MixValScorer(random_state=seed)`` does, so both libraries probe the same pairs.
    """
    return _seed_ints(np.random.SeedSequence(random_state).spawn(3)[2], 1)[0]


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


def prepare_arrays(X, y, sample_domain, estimator=None):
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
    """True labels of the target rows, or None if any of them is masked (unknown).

    Masked labels leave every test metric NaN: this says so, once per outer split with
    test rows and in the same words each time (so that Python's default filter shows it
    once), with :class:`~shiftlab.exceptions.MaskedTargetLabelsWarning`. A warning, not
    an error: selection never reads target labels, so a search without them still
    selects a model.
    """
    from shiftlab.exceptions import MaskedTargetLabelsWarning

    tgt = sd < 0
    yt = y_true[tgt]
    if yt.size == 0:
        return None
    masked = is_masked(yt, kind)
    if masked.any():
        which = "All" if masked.all() else "Some"
        mark = "-1" if kind == "classification" else "NaN"
        metrics = ("test_accuracy, test_balanced_accuracy, test_f1 and test_roc_auc"
                   if kind == "classification" else "test_mse and test_r2")
        warnings.warn(
            f"{which} target labels in y are masked ({mark} at target rows), so the test "
            f"metrics ({metrics}) cannot be computed and are NaN. Model selection does "
            "not need them: the realistic scorers select without target labels, so the "
            "selected model (the 'selected' rows; DomainSearchCV's best_params_ and "
            "best_estimator_) can be used without a test score. To get test scores, pass "
            "the true target labels in y with "
            "sample_domain: methods and scorers never see them, shiftlab masks them "
            "itself before any fit.",
            MaskedTargetLabelsWarning,
            stacklevel=3,
        )
        return None
    return yt


@dataclass
class SearchData:
    """What every outer split of a search shares: the validated arrays (``y_masked`` for
    the methods and realistic scorers, the evaluator's ``y_true``), the kind of labels,
    the candidates and the scorers. Built by :func:`start_search`."""

    estimator: Any
    X: np.ndarray
    y_masked: np.ndarray
    sample_domain: np.ndarray
    y_true: np.ndarray
    kind: str
    candidates: list[dict]
    scorers: list[BaseScorer]


def start_search(estimator, param_grid, scorers, X, y, sample_domain) -> SearchData:
    """The prologue :func:`evaluate_split` and :meth:`DomainSearchCV.fit` share: check
    the estimator, validate the arrays and mask the target labels, expand the grid and
    resolve the scorers (the oracle among the defaults only when target labels are known).
    """
    _check_estimator(estimator)
    X, y_masked, sd, y_true, kind = prepare_arrays(X, y, sample_domain, estimator)
    return SearchData(
        estimator, X, y_masked, sd, y_true, kind, candidate_list(param_grid),
        resolve_scorers(scorers, kind, oracle=_has_target_labels(y_true, sd, kind)),
    )


@dataclass
class SearchSettings:
    """How each outer split is searched: what :func:`run_outer_split` needs besides the
    data, the split and its seed. Checked (and ``error_score`` normalised) when built.

    ``refit_candidates`` says which candidates are refitted on the outer-train part and
    evaluated on its test targets, ``"all"`` or ``"selected"``: the ``refit`` parameter
    of :func:`evaluate_split`, ``refit_candidates`` of :class:`DomainSearchCV`. (The
    ``refit`` of :class:`DomainSearchCV` is something else: the scorer whose winner is
    fitted on all rows as ``best_estimator_``.)
    """

    inner_cv: Any = 5
    inner_test_size: float = 0.2
    n_jobs: Any = None
    refit_candidates: str = "all"
    store_features: Any = "auto"
    store_estimators: bool = False
    error_score: Any = "nan"
    memory: Any = None

    def __post_init__(self):
        if self.refit_candidates not in ("all", "selected"):
            raise DataValidationError(
                "The candidates to refit (refit of evaluate_split, refit_candidates of "
                f"DomainSearchCV) must be 'all' or 'selected', got {self.refit_candidates!r}."
            )
        error_score = self.error_score
        if error_score not in ("nan", "raise") and not (
            isinstance(error_score, float) and np.isnan(error_score)
        ):
            raise DataValidationError("error_score must be 'nan' or 'raise'.")
        self.error_score = "raise" if error_score == "raise" else "nan"


def run_outer_split(
    data: SearchData,
    train_idx,
    test_idx,
    settings: SearchSettings | None = None,
    *,
    random_state=None,
    outer_split: int = 0,
) -> OuterSplitSearch:
    """Run the protocol on one outer split (see :func:`evaluate_split`).

    ``random_state`` seeds the split's inner splits and scorers; ``outer_split`` is its
    id in the tables.
    """
    settings = SearchSettings() if settings is None else settings
    estimator, candidates, scorers, kind = (data.estimator, data.candidates, data.scorers,
                                            data.kind)
    X, y_masked, sample_domain, y_true = data.X, data.y_masked, data.sample_domain, data.y_true
    error_score, store_features = settings.error_score, settings.store_features
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
        settings.inner_cv, test_size=settings.inner_test_size,
        random_state=_seed_ints(cv_seq, 1)[0],
    )
    # Inner splits see masked labels only: they cannot depend on target classes.
    pairs = list(inner) if isinstance(inner, list) else list(inner.split(X_tr, y_tr, sd_tr))
    if not pairs:
        raise DataValidationError("The inner cross-validator yielded no split.")
    seeds = _seed_ints(ctx_seq, len(pairs))
    contexts, labels, inner_rows = [], [], []
    y_true_tr = y_true[train_idx]
    for s, (tr, va) in enumerate(pairs):
        tr, va = np.asarray(tr), np.asarray(va)
        sv, tv = va[sd_tr[va] >= 0], va[sd_tr[va] < 0]
        inner_rows.append((tr, sv, tv))
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
                memory=settings.memory,
            )
        )
        yt = y_true_tr[tv]
        labels.append(SplitLabels(s, None if is_masked(yt, kind).any() else yt.copy()))
    if store_features == "auto":
        store_features = any("features" in sc.needs for sc in scorers)
    store_decision = any(sc.reads_decision for sc in scorers)
    jobs = [(c, s) for c in range(len(candidates)) for s in range(len(contexts))]
    recs = Parallel(n_jobs=settings.n_jobs)(
        delayed(fit_candidate)(
            estimator,
            candidates[c],
            c,
            contexts[s],
            store_features=bool(store_features),
            store_decision=store_decision,
            store_estimator=settings.store_estimators,
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
        n_jobs=settings.n_jobs,
        refit=settings.refit_candidates,
        error_score=error_score,
        _labels=labels,
        _y_test=y_test,
        _train=(X_tr, y_tr, sd_tr),
        _test=(X[te_tgt], sample_domain[te_tgt]),
        rows=SearchRows(train_idx, te_tgt, inner_rows),
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
        f"{params_text(first.params)}, failed on inner split {first.split} with "
        f"{first.error}.{more}"
    )
