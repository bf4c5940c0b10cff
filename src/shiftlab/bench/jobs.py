"""What one benchmark job computes: a method's nested selection on one outer split.

:func:`run_job` is a module-level function of a picklable :class:`~shiftlab.bench.planner.Job`
so that every executor (this process, local processes, Dask workers) can run it. It
returns the job's tidy rows with their provenance; the driver stores them.

The evaluator's view of the data (true target labels) stays here: methods and realistic
scorers receive masked labels through :func:`shiftlab.selection.evaluate_split`, and the
``Train Tgt`` baseline (and its deep counterpart, the ``TargetOnly`` oracle) is the one
place that fits on target labels, by definition.

A method with ``max_samples_per_domain`` is fitted on a capped outer-train part
(:func:`fit_indices`) and evaluated on the whole outer test part, as every method is.

Deep methods (:mod:`shiftlab.deep`) run through the same selection protocol: the deep
estimator itself is the candidate (no scaler, no base estimator); its ``predict_proba``
and ``transform`` (the extractor's features) feed the scorers.
"""

from __future__ import annotations

import hashlib
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler

from shiftlab.bench.datasets import load_spec
from shiftlab.bench.definition._spec import AUTO_ESTIMATOR, SVC_PROBABILITY_WARNING
from shiftlab.bench.planner import Job, job_scorer
from shiftlab.bench.provenance import method_role, with_provenance
from shiftlab.data.convention import label_kind
from shiftlab.data.dataset import Task
from shiftlab.methods.base import make_da_pipeline, seeded
from shiftlab.selection import evaluate_split
from shiftlab.selection._storage import attach_rows, detach_rows
from shiftlab.selection._table import SOURCE_ONLY, baseline_row
from shiftlab.selection.search import OuterSplitSearch
from shiftlab.selection.splitters import StratifiedDomainShuffleSplit

__all__ = [
    "JobResult", "build_estimator", "fit_indices", "job_seed", "outer_split_indices",
    "outer_splits", "preprocessing_step", "rescore_job", "run_job",
]


def job_seed(job: Job) -> int:
    """Seed of a job's inner splits and scorers: depends on the task and split only.

    Every method of a task and outer split gets the same inner splits, so methods are
    compared on equal terms, and the seed never depends on the order jobs run in.
    """
    text = f"{job.protocol.seed}|{job.dataset.name}|{job.task}|{job.outer_split}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def outer_splits(protocol, y_true, sample_domain) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every outer (train, test) split of a task, stratified on domain x true class."""
    splitter = StratifiedDomainShuffleSplit(
        n_splits=protocol.outer_splits,
        test_size=protocol.outer_test_size,
        random_state=protocol.seed,
    )
    return list(splitter.split(np.zeros((len(y_true), 1)), y_true, sample_domain))


def outer_split_indices(job: Job, y_true, sample_domain):
    """The job's outer (train, test) split (see :func:`outer_splits`)."""
    return outer_splits(job.protocol, y_true, sample_domain)[job.outer_split]


def fit_indices(job: Job, y_masked, sample_domain, train_idx) -> np.ndarray:
    """The outer-train rows a job's method is fitted on (inner splits and refits).

    ``train_idx`` itself, unless the method sets ``max_samples_per_domain = N``: then
    each domain keeps at most ``N`` of its rows, drawn from the job's seed (the same
    rows for every method of the task and outer split), stratified on the class in
    source domains (proportional allocation, largest remainders) and uniformly in target
    domains, whose labels are masked. The rows keep their order in ``train_idx``. The
    outer test rows are not capped: the method is scored on the same rows as the others.
    """
    train_idx = np.asarray(train_idx)
    cap = job.method.max_samples_per_domain
    if cap is None:
        return train_idx
    sd = np.asarray(sample_domain)[train_idx]
    y = np.asarray(y_masked)[train_idx]
    classes = label_kind(y[sd >= 0]) == "classification"
    rng = np.random.default_rng(job_seed(job))
    keep = np.ones(train_idx.size, dtype=bool)
    for domain in np.unique(sd):
        pos = np.flatnonzero(sd == domain)
        if pos.size <= cap:
            continue
        stratify = classes and domain >= 0
        chosen = _stratified_choice(pos, y[pos] if stratify else None, cap, rng)
        keep[pos] = False
        keep[chosen] = True
    return train_idx[keep]


def _stratified_choice(pos: np.ndarray, labels, n: int, rng) -> np.ndarray:
    """``n`` of the positions ``pos``, each class (of ``labels``, None: one class) given
    its proportional share, the remainders to the largest fractions (ties: class order)."""
    if labels is None:
        return rng.choice(pos, n, replace=False)
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse, minlength=classes.size)
    quota = counts * (n / pos.size)
    take = np.floor(quota).astype(np.int64)
    rest = n - int(take.sum())
    if rest:
        take[np.argsort(-(quota - take), kind="stable")[:rest]] += 1
    return np.concatenate([rng.choice(pos[inverse == k], take[k], replace=False)
                           for k in range(classes.size)])


def _build_deep(job: Job):
    """The job's deep estimator and its grid (the estimator's own parameter names).

    Settings: the dataset's ``training`` table (plus the method's ``sgd_training``
    changes on SGD datasets), the run's device, and the job's seed as ``random_state``,
    so every method of a task and split starts from the same seed.
    """
    from shiftlab.bench.definition import effective_training
    from shiftlab.deep.registry import get_deep_method

    cls = get_deep_method(job.method.name).cls
    default_lr = cls().get_params()["lr"]
    params = effective_training(job.dataset.training, job.method.sgd_training, default_lr)
    for key in ("input_shape", "hidden_sizes"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    params.update(device=job.device, random_state=job_seed(job))
    return cls(**params), {k: list(v) for k, v in job.method.grid.items()}


def preprocessing_step(job: Job):
    """The dataset's declared preprocessing (impute, encode, scale) as one pipeline step
    (None when it declares none)."""
    prep = job.dataset.preprocessing
    if not prep:
        return None
    from shiftlab.methods.preprocessing import make_preprocessor

    ds = load_spec(job.dataset, random_state=job.protocol.seed)
    schema = ds.metadata.get("schema") or {}
    features = schema.get("feature_columns", [])
    categorical = [features.index(c) for c in schema.get("categories", {})]
    return make_preprocessor(ds.n_features, categorical=categorical,
                             impute=prep.get("impute"), encode=prep.get("encode", "onehot"),
                             scale=bool(prep.get("scale", False)))


def build_estimator(job: Job):
    """The job's DA pipeline: [preprocessing] -> [StandardScaler] -> adapter -> base
    estimator (or DA estimator).

    Returns the pipeline and the grid with step-prefixed parameter names. For a deep
    method: the deep estimator and its grid (see :func:`_build_deep`).
    """
    from shiftlab.methods.registry import get_method

    if job.method.deep:
        return _build_deep(job)

    spec = job_base_estimator(job)
    base = spec.build()
    pre = [step for step in (preprocessing_step(job),) if step is not None]
    pre += [StandardScaler()] if spec.standardize else []
    if job.method.name in ("Train Src", "Train Tgt"):
        return make_da_pipeline(*pre, base), {}
    spec = get_method(job.method.name)
    if spec.needs_estimator:
        step = seeded(spec.cls(), job_seed(job))
        pipe = make_da_pipeline(*pre, step, base)
    else:
        step = seeded(spec.cls(base_estimator=base), job_seed(job))
        pipe = make_da_pipeline(*pre, step)
    name = pipe.steps[len(pre)][0]
    grid = {f"{name}__{k}": list(v) for k, v in job.method.grid.items()}
    return pipe, grid


def job_base_estimator(job: Job):
    """The job's base estimator spec: its definition's, or for ``name = "auto"`` the one
    SKADA-Bench's first stage chooses on the task's source rows (cached per task; see
    :mod:`shiftlab.bench.base_estimator`)."""
    from shiftlab.bench.base_estimator import first_stage_estimator

    if job.estimator.name != AUTO_ESTIMATOR:
        return job.estimator
    store = _store(job)
    return first_stage_estimator(job, lambda: load_task(job),
                                 cache_dir=None if store is None else str(store.cache_dir),
                                 preprocessing=preprocessing_step(job))


def _store(job: Job):
    """The run folder, for the files a job writes itself (None when it is not visible).

    Workers on other machines without a shared file system see no folder: their jobs
    keep no records and leave no running marker; the driver stores their rows.
    """
    from shiftlab.bench.store import RunStore

    if not job.run_dir or not Path(job.run_dir).is_dir():
        return None
    return RunStore(job.run_dir)


def _mark_running(job: Job) -> None:
    """Best effort: tell `shiftlab status` this job runs (when the run folder is shared)."""
    store = _store(job)
    if store is not None:
        store.mark_running(job.key, {"label": job.label})


def _baseline_rows(job: Job, X, y_masked, y_true, sd, train_idx, test_idx) -> pd.DataFrame:
    """Train Src (source labels only), or Train Tgt / deep TargetOnly (the oracle bound)."""
    pipe, _ = build_estimator(job)
    role = method_role(job.method)
    tr_sd = sd[train_idx]
    test_tgt = test_idx[sd[test_idx] < 0]
    start = time.perf_counter()
    if job.method.deep:  # the deep oracle reads target labels only through this argument
        model = clone(pipe).fit(X[train_idx], y_masked[train_idx], sample_domain=tr_sd,
                                oracle_target_labels=y_true[train_idx])
    elif role == SOURCE_ONLY:
        model = clone(pipe).fit(X[train_idx], y_masked[train_idx], sample_domain=tr_sd)
    else:
        tgt = train_idx[tr_sd < 0]
        # Explicitly the evaluator's privilege: fit on the labelled target training rows.
        model = clone(pipe).steps[-1][1]
        if len(pipe.steps) > 1:  # the same preprocessing and scaler as every method's
            from sklearn.pipeline import make_pipeline

            model = make_pipeline(*[clone(step) for _, step in pipe.steps[:-1]], model)
        model.fit(X[tgt], y_true[tgt])
    fit_time = time.perf_counter() - start
    pred = model.predict(X[test_tgt])
    proba = model.predict_proba(X[test_tgt]) if hasattr(model, "predict_proba") else None
    row = baseline_row(job.outer_split, label_kind(y_true), y_true[test_tgt], pred,
                       proba=proba, classes=getattr(model, "classes_", None),
                       fit_time=fit_time, role=role)
    return pd.DataFrame([row])


def load_task(job: Job):
    """The arrays of a job's task: ``X, y_masked, sample_domain, y_true``."""
    ds = load_spec(job.dataset, random_state=job.protocol.seed)
    X, y_masked, sd, y_true = ds.pack(Task.parse(job.task), return_target_labels=True)
    return X, y_masked, sd, y_true


def _memory(job: Job):
    """Disk cache of split resources shared by the run's jobs (None without a run folder)."""
    store = _store(job)
    if store is None:
        return None
    from joblib import Memory

    return Memory(store.cache_dir, verbose=0)


@dataclass
class JobResult:
    """What a job returns to the driver: its rows, and its records file if it wrote one.

    ``records`` is the HMAC tag and size of ``records/<key>.pkl`` (see
    :meth:`~shiftlab.bench.store.RunStore.write_records`), None when no records were kept.
    """

    frame: pd.DataFrame
    records: dict | None = None


def run_job(job: Job) -> JobResult:
    """Run one job and return its rows (one per candidate and scorer, with provenance).

    The rows carry the job's CPU time (``job_cpu_seconds``: its process and the
    processes it started, of which ``job_children_cpu_seconds``) and peak memory
    (``job_peak_rss_mb``, and its children's ``job_children_peak_rss_mb``); the driver
    adds its wall time (``job_seconds``).
    Warnings raised while the job runs (convergence, ill-conditioning, ...) are not
    printed, which would bury the progress bar under repeats from every worker: they
    are recorded in the ``warnings`` column (see :func:`summarize_warnings`) and
    counted at the end of the run.
    """
    own_start, children_start = time.process_time(), children_cpu_seconds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", SVC_PROBABILITY_WARNING, FutureWarning)
        result = _run_job(job)
    result.frame["warnings"] = summarize_warnings(caught)
    # CPU time of the job's process, all its threads (BLAS included), and of the
    # processes it started (joblib workers): what the job cost on a shared machine,
    # where wall time also counts the waits for other work.
    children = children_cpu_seconds() - children_start
    result.frame["job_cpu_seconds"] = time.process_time() - own_start + children
    result.frame["job_children_cpu_seconds"] = children
    result.frame["job_peak_rss_mb"] = _peak_rss_mb()
    result.frame["job_children_peak_rss_mb"] = _peak_rss_mb(children=True)
    return result


def children_cpu_seconds() -> float:
    """CPU seconds, so far, of the processes this one started and their descendants.

    Those that ended and were waited for (``RUSAGE_CHILDREN``), plus the live ones
    (joblib's reusable workers, which a job's difference of two readings then counts
    for the time they worked during the job).
    """
    import psutil

    total = 0.0
    try:
        import resource

        ended = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += ended.ru_utime + ended.ru_stime
    except ImportError:  # pragma: no cover - not POSIX
        pass
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # ended between the listing and the reading
            continue
        total += times.user + times.system
    return total


def _peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process so far (or of the largest of its ended
    children), in MiB (NaN where unknown).

    Exact for a job run in its own process (jobs with a timeout); for a worker that runs
    several jobs, the largest of them so far.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return float("nan")
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    peak = resource.getrusage(who).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def summarize_warnings(caught) -> str:
    """One line per distinct warning, ``"<count>x <Category>: <message>"``; "" if none."""
    counts: dict[str, int] = {}
    for w in caught:
        text = f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}"
        counts[text] = counts.get(text, 0) + 1
    return "\n".join(f"{n}x {text}" for text, n in counts.items())


def _run_job(job: Job) -> JobResult:
    _mark_running(job)
    seed = job_seed(job)
    X, y_masked, sd, y_true = load_task(job)
    train_idx, test_idx = outer_split_indices(job, y_true, sd)
    train_idx = fit_indices(job, y_masked, sd, train_idx)  # the test rows stay whole
    records = None
    if job.method.is_baseline:
        frame = _baseline_rows(job, X, y_masked, y_true, sd, train_idx, test_idx)
    else:
        pipe, grid = build_estimator(job)
        inner = StratifiedDomainShuffleSplit(
            n_splits=job.protocol.inner_splits, test_size=job.protocol.inner_val_size,
            random_state=seed,
        )
        kind = label_kind(y_true[sd >= 0])
        scorers = [job_scorer(name, job.selection_metric, kind) for name in job.scorers]
        frame, search = evaluate_split(
            pipe, grid, X, y_true, sd, train_idx, test_idx, scorers=scorers,
            inner_cv=inner, random_state=seed, refit=job.protocol.refit_candidates,
            outer_split=job.outer_split,
            return_search=True,
            memory=_memory(job),
        )
        store = _store(job)
        if store is not None:
            records = store.write_records(job.key, detach_rows(search), job.run_key)
    if not job.method.deep:  # how the rows were obtained: the base estimator used
        from shiftlab.bench.base_estimator import describe

        frame["base_estimator"] = describe(job_base_estimator(job))
    return JobResult(with_provenance(job, frame, seed), records)


def load_search(store, job: Job, entry, run_key: str | None, task=None):
    """A job's stored search (authenticated by ``store``) with its rows rebuilt.

    Records keep row indices, not rows (:mod:`shiftlab.selection._storage`): the rows are
    taken again from the job's task, ``task`` (the arrays of :func:`load_task`) when the
    caller has them already. Raises :class:`~shiftlab.bench.store.CorruptRunFile` as
    :meth:`~shiftlab.bench.store.RunStore.load_records` does.
    """
    search = store.load_records(job.key, entry, run_key)
    if getattr(search, "rows", None) is not None:
        X, _, sd, y_true = load_task(job) if task is None else task
        attach_rows(search, X, y_true, sd)
    return search


def rescore_job(job: Job, search: OuterSplitSearch, scorers: tuple[str, ...]) -> pd.DataFrame:
    """Rows of ``scorers`` (added or changed since ``job`` ran), from its stored records.

    ``search`` is the job's selection state, loaded (and authenticated) by the run
    folder's store; it is updated in place so that it can be saved again. Realistic
    scorers cost no fit; circular validation refits on the stored splits.

    Raises
    ------
    MissingOutputsError
        When the records lack outputs a scorer reads (``transform`` features, decision
        values): the job must run again.
    """
    for name in scorers:
        search.add_scorer(job_scorer(name, job.selection_metric, search.kind))
    search.evaluate()
    table = search.table()
    return with_provenance(job, table[table["scorer"].isin(scorers)].copy(), job_seed(job))
