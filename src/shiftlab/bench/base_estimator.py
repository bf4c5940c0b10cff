"""SKADA-Bench's first stage: the base estimator, chosen on source data only.

SKADA-Bench picks each dataset's base estimator (the classifier after every adapter)
before any adaptation, by cross-validated accuracy on the *source* domain among
LogisticRegression, RBF-SVC and XGBoost grids (107 candidates). A definition asks for
the same with ``estimator = { name = "auto" }`` in a ``[[datasets]]`` table: each task's
estimator is then chosen, by :func:`choose_base_estimator`, among
:func:`first_stage_candidates`, a compact version of those grids (11 candidates:
LogisticRegression with 5 values of C, an RBF SVC with 4, scikit-learn's
HistGradientBoostingClassifier in place of XGBoost with 2 learning rates), by 3-fold
stratified accuracy on the task's source rows (at most :data:`MAX_ROWS`, a stratified
seeded subsample), keeping the cheapest candidate within one standard error of the best
(SKADA-Bench keeps the best). The standard error is the larger of the folds' (their
standard deviation over sqrt(folds)) and the binomial one of an accuracy measured on
every row, sqrt(p (1 - p) / n): three fold scores alone can agree by chance and
understate it. Target rows, labelled or not, are never read.

The choice is made once per task and seed and cached (in memory, and in the run folder's
cache when there is one), so every job of the task uses the same estimator; each job's
rows record it in their ``base_estimator`` column. A chosen SVC runs with
``probability = true``, as SKADA-Bench's SVCs do, for the scorers that read
probabilities.

Use it where a dataset's features are not SKADA-Bench's (so that its per-dataset choice
does not transfer) or for a user's own table.
"""

from __future__ import annotations

import numpy as np

from shiftlab.bench.definition import EstimatorSpec

__all__ = ["MAX_ROWS", "choose_base_estimator", "describe", "first_stage_candidates",
           "first_stage_estimator"]
#: Source rows the first stage cross-validates on at most (a stratified subsample).
MAX_ROWS = 4000


def first_stage_candidates(standardize: bool = True) -> list[EstimatorSpec]:
    """The candidates of the first stage, cheapest first (ties go to the first)."""
    specs = [EstimatorSpec("LogisticRegression", {"C": c, "max_iter": 1000}, standardize)
             for c in (0.01, 0.1, 1.0, 10.0, 100.0)]
    specs += [EstimatorSpec("SVC", {"C": c, "probability": True}, standardize)
              for c in (0.1, 1.0, 10.0, 100.0)]
    specs += [EstimatorSpec("HistGradientBoostingClassifier",
                            {"learning_rate": lr, "random_state": 0}, standardize)
              for lr in (0.1, 0.3)]
    return specs


def describe(spec: EstimatorSpec) -> str:
    """One line naming an estimator spec, e.g. ``SVC(C=10.0, probability=True)``."""
    params = ", ".join(f"{k}={v!r}" for k, v in sorted(spec.params.items()))
    return f"{spec.name}({params})" + ("" if spec.standardize else " without scaler")


def _candidate_model(spec: EstimatorSpec, preprocessing=None):
    """The candidate as cross-validated: an SVC without Platt scaling (the same
    predictions, 5 times cheaper), after the dataset's preprocessing and a scaler when
    the spec standardises."""
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if spec.name == "SVC":
        model = SVC(**{k: v for k, v in spec.params.items() if k != "probability"})
    else:
        model = spec.build()
    steps = [clone(preprocessing)] if preprocessing is not None else []
    steps += [StandardScaler()] if spec.standardize else []
    return make_pipeline(*steps, model) if steps else model


def choose_base_estimator(X_source, y_source, *, standardize: bool = True,
                          random_state: int = 0, cv: int = 3, preprocessing=None):
    """The first stage: the cheapest candidate within one standard error of the best
    ``cv``-fold accuracy on source rows.

    Parameters
    ----------
    X_source, y_source : array-like
        Labelled source rows only.
    standardize : bool, default=True
        Whether the candidates (and the chosen estimator) follow a StandardScaler.
    random_state : int, default=0
        Seed of the folds and of the subsample (above :data:`MAX_ROWS` rows).
    cv : int, default=3
        Number of stratified folds.
    preprocessing : transformer, optional
        Fitted first in every candidate (a definition's ``preprocessing``: imputation,
        encoding), as in the jobs' pipelines.

    Returns
    -------
    spec : EstimatorSpec
        The chosen estimator: the cheapest candidate (the first in the order of
        :func:`first_stage_candidates`) whose accuracy is within one standard error of
        the best one's (the larger of the folds' standard error and the binomial
        ``sqrt(p (1 - p) / n)`` of the best accuracy ``p`` on ``n`` rows).
    scores : list of (str, float)
        Every candidate's mean fold accuracy, in the order of
        :func:`first_stage_candidates`.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split

    X_source, y_source = np.asarray(X_source), np.asarray(y_source)
    if len(y_source) > MAX_ROWS:
        X_source, _, y_source, _ = train_test_split(
            X_source, y_source, train_size=MAX_ROWS, stratify=y_source,
            random_state=random_state)
    folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    specs = first_stage_candidates(standardize)
    scores, errors = [], []
    for spec in specs:
        fold_scores = cross_val_score(_candidate_model(spec, preprocessing), X_source,
                                      y_source, cv=folds, error_score=np.nan)
        mean = float(np.mean(fold_scores))
        scores.append((describe(spec), mean))
        # Three fold scores can agree by chance (Amazon kitchen: 0.002 between folds,
        # where 2,000 rows at 0.85 carry 0.008 of binomial error): the larger one counts.
        binomial = np.sqrt(mean * (1 - mean) / len(y_source)) if np.isfinite(mean) else 0.0
        errors.append(max(float(np.std(fold_scores) / np.sqrt(cv)), float(binomial)))
    values = np.array([s for _, s in scores])
    if not np.isfinite(values).any():
        raise ValueError("The first stage could not fit any candidate on the source rows.")
    # The one-standard-error rule (Breiman et al. 1984): the first candidate, in order of
    # cost, within one standard error of the best fold accuracy. Within that margin the
    # folds cannot tell the candidates apart, and the cheaper one is fitted thousands of
    # times in a benchmark (Amazon: LogisticRegression at 0.786 against SVC at 0.788,
    # standard error about 0.01; an SVC with probabilities costs ~1 CPU-s per fit there).
    best = int(np.nanargmax(values))
    within = np.flatnonzero(np.nan_to_num(values, nan=-np.inf) >= values[best] - errors[best])
    return specs[int(within[0])], scores


def _first_stage_choice(dataset_key: str, task: str, standardize: bool, seed: int,
                        loader, preprocessing=None) -> EstimatorSpec:
    """The first stage's choice for one task (``loader()`` gives the task's arrays; the
    key arguments name what it reads, and key the caches)."""
    from shiftlab.data.convention import is_masked, label_kind

    X, y_masked, sd, _ = loader()
    src = sd >= 0
    src &= ~is_masked(y_masked, label_kind(y_masked[src]))  # source rows with a label
    spec, _ = choose_base_estimator(X[src], y_masked[src], standardize=standardize,
                                    random_state=seed, preprocessing=preprocessing)
    return spec


#: Choices made in this process: (dataset key, task, standardize, seed) -> spec.
_CHOSEN: dict[tuple, EstimatorSpec] = {}


def first_stage_estimator(job, loader, cache_dir: str | None = None,
                          preprocessing=None) -> EstimatorSpec:
    """The base estimator the first stage chooses for a job whose definition says
    ``name = "auto"``.

    ``loader()`` gives the task's arrays ``X, y_masked, sample_domain, y_true`` (only the
    source rows are read). The choice is made once per task and seed in a process, and
    kept in ``cache_dir`` (joblib) for the other processes of a run.
    """
    from shiftlab.bench.datasets import spec_fingerprint

    key = (spec_fingerprint(job.dataset), job.task, job.estimator.standardize,
           int(job.protocol.seed))
    if key not in _CHOSEN:
        compute = _first_stage_choice
        if cache_dir is not None:
            from joblib import Memory

            compute = Memory(cache_dir, verbose=0).cache(
                _first_stage_choice, ignore=["loader", "preprocessing"])
        _CHOSEN[key] = compute(*key, loader=loader, preprocessing=preprocessing)
    return _CHOSEN[key]
