"""SKADA-Bench's realistic validation protocol, run by shiftlab and by a skada loop.

The same small protocol (simulated shifts, a few methods with their SKADA-Bench grids,
``outer`` x ``inner`` splits, the scorers both libraries have) is run twice, in one
invocation:

* **shiftlab**: a temporary TOML benchmark definition run by
  :func:`shiftlab.bench.runner.run_benchmark` (``executor="local"``) in a fresh run folder;
* **skada**: a straightforward loop equivalent to SKADA-Bench's solver. For each job
  (task, outer split, method) of the very same plan, ``skada.make_da_pipeline(
  StandardScaler(), <skada adapter>, <base estimator>)`` goes through scikit-learn's
  ``GridSearchCV(scoring={name: skada scorer}, refit=False)`` on the outer-train part
  (target labels masked, true ones routed as ``target_labels`` metadata to
  ``SupervisedScorer`` only); then, **for each scorer**, the best candidate is refitted on
  the outer-train part and its accuracy measured on the target rows of the outer test
  part. Jobs run in parallel on ``--n-jobs`` processes, like shiftlab's.

Both sides use shiftlab's outer splits (:func:`shiftlab.bench.jobs.outer_split_indices`),
so they are evaluated on identical test rows, and by default the same inner splits too
(``--inner-cv shiftlab``: shiftlab's ``StratifiedDomainShuffleSplit`` seeded with
:func:`~shiftlab.bench.jobs.job_seed`, handed to ``GridSearchCV`` as explicit index
pairs); ``--inner-cv skada`` uses skada's own ``StratifiedDomainShuffleSplit`` instead.
Candidates are enumerated in the same order on both sides and ties go to the first best
candidate on both sides, so with identical scores both select the same candidate.

Printed: wall time and CPU time (user + system, the process and all its workers) of each
side and the skada / shiftlab ratios; for each (task, outer split, method, scorer) the
selected target accuracy of both; the mean absolute difference per scorer and overall;
the mean accuracy per method x scorer on both sides.

Isolation: ``import skada`` switches scikit-learn's metadata routing on for the whole
process (``sklearn.set_config(enable_metadata_routing=True)``). Each side therefore runs
in its own child process (``multiprocessing`` *spawn*), shiftlab's first, and the parent
never imports skada. Each child shuts its worker pool down before it returns, so that the
CPU time of the workers is accounted for.

Usage::

    python benchmarks/bench_protocol.py                  # 4 shifts, 5 methods, 5 x 5 splits
    python benchmarks/bench_protocol.py --quick          # ~2 min on an idle 2-core machine
    python benchmarks/bench_protocol.py --outer 3 --inner 3 --methods CORAL LinOT
    python benchmarks/bench_protocol.py --estimator LogisticRegression --csv rows.csv
    python benchmarks/bench_protocol.py --inner-cv skada --n-jobs 2 --keep
    python benchmarks/bench_protocol.py --profile --methods DensityReweight KMM
    python benchmarks/bench_protocol.py --estimator LogisticRegression --floor

Defaults: datasets ``sim-covariate``, ``sim-target``, ``sim-conditional``,
``sim-subspace`` (task source->target; the generator is seeded, ``--data-seed``, so that
every worker of both sides draws the same data); methods CORAL, SA, LinOT,
DensityReweight, NearestNeighborReweight with the grids of the shiftlab registry (those of
SKADA-Bench; ``n_components`` values larger than the number of features, 2, are dropped:
skada fails on them and shiftlab would fit duplicates); base estimator
``SVC(probability=True, random_state=0)`` as in SKADA-Bench's simulated-data runs;
scorers IW, PE, SND, DEV, CircV, MixVal and the oracle. skada's DEV gets
``random_state=--seed`` so that runs repeat; its MixVal gets the pairing seed of shiftlab's
job (:func:`shiftlab.selection.search.mixval_seed`), so both probe the same target pairs.

``--profile`` skips the comparison and runs one shiftlab job per method (first dataset,
outer split 0) under :mod:`cProfile` in a child process, printing where its time goes
(candidate fits, circular validation's backward refits, outer refits, importance
weights, saving records, scikit-learn input validation, ...).

``--floor`` adds, after the comparison, a third child that runs every shiftlab job in
one process and times apart the work no implementation of the protocol can skip: the
final estimator's fits and the adapters' fits (every candidate on every inner split,
circular validation's backward fits, the selected candidates' outer refits). Their sum
divided by the number of workers is a floor on any implementation's wall time, and the
skada side's wall time over it the largest ratio the protocol leaves room for with
this estimator.

Reading the agreement: rows where both sides selected the same candidate but report
different accuracies come from the methods (shiftlab's reweighting adapters normalise
the weights to mean one, skada's do not, which changes the effective ``C`` of the final
estimator). Different selections mostly come from scorers defined differently in the
two libraries: IW weights (shiftlab: a logistic domain classifier on the inner-train
rows; skada: Gaussian KDEs of bandwidth 1 on the validation fold), DEV (split-level
input-space weights on every source validation row vs a domain classifier on the
adapter's features of 2/3 of them, scored on the last third) and SND (self-similarity
set to -inf vs to minus itself). CircV follows skada's validation-fold formulation,
MixVal its pairing, and CORAL its centring convention.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

DATASETS = ("sim-covariate", "sim-target", "sim-conditional", "sim-subspace")
TASK = "source->target"
DEFAULT_METHODS = ("CORAL", "SA", "LinOT", "DensityReweight", "NearestNeighborReweight")
QUICK_METHODS = ("CORAL", "LinOT", "DensityReweight")
SCORERS = ("IW", "PE", "SND", "DEV", "CircV", "MixVal", "oracle")
ESTIMATORS = {
    "SVC": {"probability": True, "random_state": 0},
    "LogisticRegression": {"max_iter": 1000},
}
#: shiftlab parameter name -> skada parameter name, where they differ.
SKADA_PARAM_NAMES = {"DensityReweight": {"bandwidth": "weight_estimator__bandwidth"}}
#: Parameters that cannot exceed the number of features.
DIMENSION_PARAMS = ("n_components",)
N_FEATURES = 2  # the simulated shifts are two-dimensional


# --------------------------------------------------------------------------- definition
def _toml_value(value) -> str:
    if value is None:
        return '"none"'  # the definition reader turns "none" into None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    raise TypeError(f"{value!r} cannot be written in a TOML grid")


def _toml_table(mapping: dict) -> str:
    items = []
    for key, value in mapping.items():
        text = (
            "[" + ", ".join(_toml_value(v) for v in value) + "]"
            if isinstance(value, list)
            else _toml_value(value)
        )
        items.append(f"{key} = {text}")
    return "{ " + ", ".join(items) + " }"


def method_grid(name: str) -> dict:
    """The registry's (SKADA-Bench) grid of a method, trimmed to the data's dimension."""
    from shiftlab.methods.registry import get_method

    spec = get_method(name)
    if spec.skada_name is None or not spec.needs_estimator:
        raise SystemExit(
            f"{name}: this benchmark needs an adapter with a skada counterpart "
            "(MethodSpec.skada_name set and needs_estimator=True)."
        )
    grid = {}
    for key, values in spec.grid.items():
        values = list(values)
        if key in DIMENSION_PARAMS:
            values = [v for v in values if v is None or v <= N_FEATURES]
        try:
            for v in values:
                _toml_value(v)  # grids holding objects cannot go into a definition
        except TypeError as exc:
            raise SystemExit(f"{name}: {exc}; pick another method.") from exc
        grid[key] = values
    return grid


def definition_text(args) -> str:
    """The TOML benchmark definition both sides run."""
    lines = [
        "# Written by benchmarks/bench_protocol.py",
        "[benchmark]",
        'name = "bench-protocol"',
        "",
        "[protocol]",
        f"outer_splits = {args.outer}",
        "outer_test_size = 0.2",
        f"inner_splits = {args.inner}",
        "inner_val_size = 0.2",
        f"seed = {args.seed}",
        # Like the skada loop, refit only the candidates some scorer selected.
        'refit_candidates = "selected"',
        "",
    ]
    for name in args.datasets:
        lines += [
            "[[datasets]]",
            f'name = "{name}"',
            f'tasks = ["{TASK}"]',
            f"options = {{ random_state = {args.data_seed} }}",
            "",
        ]
    lines += [
        "[estimator]",
        f'name = "{args.estimator}"',
        f"params = {_toml_table(ESTIMATORS[args.estimator])}",
        "",
    ]
    for name in args.methods:
        lines += [f"[methods.{name}]", f"grid = {_toml_table(method_grid(name))}", ""]
    lines += [
        "[scorers]",
        "names = [" + ", ".join(f'"{s}"' for s in args.scorers) + "]",
        "",
        "[execution]",
        'executor = "local"',
        f"n_jobs = {args.n_jobs}",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- helpers
def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its terminated children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _shutdown_workers() -> None:
    """Stop joblib's reusable worker pool so that its CPU time is accounted for."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def _task_arrays(job):
    """The job's arrays, loaded as :func:`shiftlab.bench.jobs.run_job` loads them."""
    from shiftlab.bench.datasets import load_benchmark_dataset
    from shiftlab.data.dataset import Task

    ds = load_benchmark_dataset(
        job.dataset.name, job.dataset.options, job.dataset.max_samples_per_domain,
        random_state=job.protocol.seed,
    )
    return ds.pack(Task.parse(job.task), return_target_labels=True)


def _params_key(params: dict) -> str:
    """Parameters without their step prefix, as JSON (the same text on both sides)."""
    plain = {k.split("__", 1)[1] if "__" in k else k: v for k, v in params.items()}
    return json.dumps(plain, sort_keys=True, default=str)


# --------------------------------------------------------------------------- shiftlab side
def run_shiftlab_side(toml_path: str, run_dir: str, n_jobs: int) -> dict:
    """Child process: run the definition with shiftlab's runner; return timings and rows."""
    warnings.filterwarnings("ignore")
    from shiftlab.bench.runner import run_benchmark
    from shiftlab.bench.store import RunStore

    cpu0, start = _cpu_seconds(), time.perf_counter()
    summary = run_benchmark(toml_path, run_dir, executor="local", n_jobs=n_jobs, progress=False)
    wall = time.perf_counter() - start
    _shutdown_workers()
    cpu = _cpu_seconds() - cpu0
    frame = RunStore(run_dir).results()
    chosen = frame[frame["selected"]].copy()
    chosen["params"] = [_params_key(json.loads(p)) for p in chosen["params"]]
    cols = ["dataset", "task", "outer_split", "method", "scorer", "candidate", "params",
            "test_accuracy"]
    return {
        "wall": wall,
        "cpu": cpu,
        "job_seconds": float(frame.groupby("job_key")["job_seconds"].first().sum()),
        "n_jobs_run": summary.n_done,
        "failures": [f"{f['label']}: {f['error_type']}: {f['error']}" for f in summary.failures],
        "rows": chosen[cols].to_dict("records"),
    }


# --------------------------------------------------------------------------- skada side
def _skada_scorers(names, seed: int, mix_seed: int) -> dict:
    from skada.metrics import (
        CircularValidation,
        DeepEmbeddedValidation,
        ImportanceWeightedScorer,
        MixValScorer,
        PredictionEntropyScorer,
        SoftNeighborhoodDensity,
        SupervisedScorer,
    )

    factories = {
        "IW": ImportanceWeightedScorer,
        "PE": PredictionEntropyScorer,
        "SND": SoftNeighborhoodDensity,
        "DEV": lambda: DeepEmbeddedValidation(random_state=seed),
        "CircV": CircularValidation,
        # shiftlab's pairing (selection.search.mixval_seed): both probe the same pairs.
        "MixVal": lambda: MixValScorer(ice_type="both", random_state=mix_seed),
        "MixVal-intra": lambda: MixValScorer(ice_type="intra", random_state=mix_seed),
        "MixVal-inter": lambda: MixValScorer(ice_type="inter", random_state=mix_seed),
        "oracle": SupervisedScorer,  # reads the routed `target_labels`
    }
    unknown = [n for n in names if n not in factories]
    if unknown:
        raise SystemExit(f"No skada counterpart for scorer(s) {unknown}.")
    return {n: factories[n]() for n in names}


def _skada_pipeline(job):
    """skada's pipeline for a job and its candidates, in shiftlab's candidate order."""
    import skada
    from sklearn.preprocessing import StandardScaler

    from shiftlab.methods.registry import get_method
    from shiftlab.selection.search import candidate_list

    spec = get_method(job.method.name)
    base = job.estimator.build()
    # What SKADA-Bench's FinalEstimator declares: weights reach fit (reweighting
    # adapters) and score (the importance-weighted scorer).
    base.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
    adapter = getattr(skada, spec.skada_name)(**spec.skada_params)
    pre = [StandardScaler()] if job.estimator.standardize else []
    pipe = skada.make_da_pipeline(*pre, adapter, base)
    step = pipe.steps[len(pre)][0]
    names = SKADA_PARAM_NAMES.get(job.method.name, {})
    valid = set(adapter.get_params())
    candidates = []
    for params in candidate_list(job.method.grid):
        skada_params = {}
        for key, value in params.items():
            key = names.get(key, key)
            if key not in valid:
                raise SystemExit(f"{spec.skada_name} has no parameter {key!r}.")
            skada_params[f"{step}__{key}"] = [value]
        candidates.append(skada_params)
    return pipe, candidates


def skada_job(job, inner_cv: str, seed: int) -> dict:
    """One (task, outer split, method) the way SKADA-Bench's solver runs it."""
    warnings.filterwarnings("ignore")
    import skada  # noqa: F401  (switches metadata routing on, as below)
    import sklearn
    from skada.model_selection import StratifiedDomainShuffleSplit as SkadaSplit
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    from shiftlab.bench.jobs import job_seed, outer_split_indices
    from shiftlab.selection.splitters import StratifiedDomainShuffleSplit

    sklearn.set_config(enable_metadata_routing=True)
    start = time.perf_counter()
    X, y_masked, sd, y_true = _task_arrays(job)
    train, test = outer_split_indices(job, y_true, sd)
    X_tr, y_tr, sd_tr, yt_tr = X[train], y_masked[train], sd[train], y_true[train]
    test_tgt = test[sd[test] < 0]
    proto = job.protocol
    if inner_cv == "shiftlab":  # the very inner splits shiftlab's job uses
        splitter = StratifiedDomainShuffleSplit(
            proto.inner_splits, test_size=proto.inner_val_size, random_state=job_seed(job)
        )
        cv = list(splitter.split(X_tr, y_tr, sd_tr))
    else:
        cv = SkadaSplit(proto.inner_splits, test_size=proto.inner_val_size,
                        random_state=job_seed(job))
    pipe, candidates = _skada_pipeline(job)
    from shiftlab.selection.search import mixval_seed

    scoring = _skada_scorers(job.scorers, seed, mixval_seed(job_seed(job)))
    search = GridSearchCV(pipe, candidates, scoring=scoring, cv=cv, refit=False,
                          error_score=np.nan)
    search.fit(X_tr, y_tr, sample_domain=sd_tr, target_labels=yt_tr)
    search_seconds = time.perf_counter() - start
    rows = []
    for name in scoring:
        mean = np.asarray(search.cv_results_[f"mean_test_{name}"], dtype=float)
        row = {"dataset": job.dataset.name, "task": job.task, "outer_split": job.outer_split,
               "method": job.method.name, "scorer": name, "candidate": -1, "params": "",
               "test_accuracy": math.nan}
        if np.isfinite(mean).any():
            best = int(np.nanargmax(mean))  # first best on ties, as shiftlab
            params = search.cv_results_["params"][best]
            # SKADA-Bench refits the selected candidate once per scorer.
            try:
                model = clone(pipe).set_params(**params)
                model.fit(X_tr, y_tr, sample_domain=sd_tr)
                pred = model.predict(X[test_tgt], sample_domain=sd[test_tgt])
                row["test_accuracy"] = float(np.mean(pred == y_true[test_tgt]))
            except Exception as exc:
                print(f"skada refit failed ({job.label}, {name}): {exc!r}", file=sys.stderr)
            row.update(candidate=best, params=_params_key(params))
        rows.append(row)
    total = time.perf_counter() - start
    return {"rows": rows, "seconds": total, "search_seconds": search_seconds,
            "refit_seconds": total - search_seconds}


def run_skada_side(toml_path: str, n_jobs: int, inner_cv: str, seed: int) -> dict:
    """Child process: run every job of the plan with the skada loop, in parallel."""
    warnings.filterwarnings("ignore")
    import skada  # noqa: F401  (metadata routing on in this child only)
    from joblib import Parallel, delayed

    # Workers must import this module by name (it runs as __main__ / __mp_main__ here).
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_protocol as module
    from shiftlab.bench.definition import load_definition
    from shiftlab.bench.planner import plan_jobs

    jobs = plan_jobs(load_definition(toml_path))
    cpu0, start = _cpu_seconds(), time.perf_counter()
    outs = Parallel(n_jobs=n_jobs)(
        delayed(module.skada_job)(job, inner_cv, seed) for job in jobs
    )
    wall = time.perf_counter() - start
    _shutdown_workers()
    cpu = _cpu_seconds() - cpu0
    return {
        "wall": wall,
        "cpu": cpu,
        "job_seconds": sum(o["seconds"] for o in outs),
        "refit_seconds": sum(o["refit_seconds"] for o in outs),
        "n_jobs_run": len(jobs),
        "failures": [],
        "rows": [r for o in outs for r in o["rows"]],
    }


def _in_child(func, *args):
    """Run ``func(*args)`` in a fresh spawned interpreter and return its result."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(func, *args).result()


# --------------------------------------------------------------------------- profile
#: Functions whose cumulative time the profile reports: label -> (file suffix, name)
#: pairs (summed; none of them calls another).
PROFILE_SPOTS = {
    "inner fits + outputs (records.fit_candidate)": [("selection/records.py", "fit_candidate")],
    "CircV backward refits (_refit.FitCache.run)": [("selection/_refit.py", "run")],
    "outer refits (_outer.OuterSplitSearch.evaluate)": [("selection/_outer.py", "evaluate")],
    "IW/DEV weights (_context.density_ratio)": [("selection/_context.py", "density_ratio")],
    "save records (store.RunStore.write_records)": [("bench/store.py", "write_records")],
    "  final estimator fits (SVC/LR .fit)": [("sklearn/svm/_base.py", "fit"),
                                             ("linear_model/_logistic.py", "fit")],
    "  adapter fits (methods.base.fit_adapt)": [("methods/base.py", "fit_adapt")],
    "  sklearn input validation (check_array)": [("utils/validation.py", "check_array")],
    "  inspect.signature (clone, get_params)": [("inspect.py", "signature")],
}


def profile_shiftlab(toml_path: str, run_dir: str, top: int = 20) -> None:
    """Run one job per method under cProfile (in this process) and print the hotspots."""
    import cProfile
    import dataclasses
    import pstats

    from shiftlab.bench.definition import load_definition
    from shiftlab.bench.jobs import run_job
    from shiftlab.bench.planner import plan_jobs

    warnings.filterwarnings("ignore")
    (Path(run_dir) / "records").mkdir(parents=True, exist_ok=True)
    jobs = plan_jobs(load_definition(toml_path))
    first = jobs[0].dataset.name
    # A run key, so the jobs save their records as in a run (tagged with an HMAC).
    jobs = [dataclasses.replace(j, run_dir=run_dir, run_key="00" * 32) for j in jobs
            if j.outer_split == 0 and j.dataset.name == first]
    run_job(jobs[0])  # imports and caches out of the way
    for job in jobs:
        prof = cProfile.Profile()
        start = time.perf_counter()
        prof.runcall(run_job, job)
        seconds = time.perf_counter() - start
        stats = pstats.Stats(prof)
        print(f"\n--- {job.label}: {seconds:.2f} s (under cProfile)")
        for label, spots in PROFILE_SPOTS.items():
            cum = sum(v[3] for (f, _, n), v in stats.stats.items()
                      for suffix, name in spots if n == name and f.endswith(suffix))
            print(f"    {label:50s} {cum:7.2f} s")
        stats.sort_stats("tottime").print_stats(top)


# --------------------------------------------------------------------------- floor
class _StopwatchSet:
    """Wraps methods of classes with stopwatches; only the outermost call is timed, so an
    estimator fitted inside an adapter's fit counts once, as adapter time."""

    def __init__(self):
        self.seconds, self.calls, self._depth, self._saved = {}, {}, 0, []

    def wrap(self, cls, name: str, label: str) -> None:
        import functools

        original = getattr(cls, name)
        self.seconds.setdefault(label, 0.0)
        self.calls.setdefault(label, 0)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            if self._depth:
                return original(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1
                self._depth -= 1

        self._saved.append((cls, name, cls.__dict__.get(name)))
        setattr(cls, name, timed)

    def restore(self) -> None:
        for cls, name, original in reversed(self._saved):
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)


def measure_floor(toml_path: str, run_dir: str) -> dict:
    """Child process: every shiftlab job, one after the other, with the work the protocol
    cannot skip timed apart.

    Any implementation of the protocol fits every candidate on every inner split, fits
    circular validation's backward models and refits the selected candidates on the outer
    train part; shiftlab already fits nothing more (shared scaler, one refit per selected
    candidate). The seconds spent inside the final estimator's ``fit`` and the adapters'
    ``fit_adapt`` (outermost calls, timed by wrapping the two classes' methods in this
    child only) are thus a floor on any implementation's job time; predictions are timed
    too but left out of the floor (their number depends on the scorers). BLAS and OpenMP
    run one thread, as in the workers of both sides.
    """
    import dataclasses

    from threadpoolctl import threadpool_limits

    from shiftlab.bench.definition import load_definition
    from shiftlab.bench.jobs import run_job
    from shiftlab.bench.planner import plan_jobs
    from shiftlab.methods.base import BaseAdapter
    from shiftlab.selection.records import SplitContext

    warnings.filterwarnings("ignore")
    (Path(run_dir) / "records").mkdir(parents=True, exist_ok=True)
    jobs = [dataclasses.replace(j, run_dir=run_dir, run_key="00" * 32)
            for j in plan_jobs(load_definition(toml_path))]
    clock = _StopwatchSet()
    estimator_cls = type(jobs[0].estimator.build())
    clock.wrap(estimator_cls, "fit", "estimator fits")
    for name in ("predict", "predict_proba", "decision_function"):
        if hasattr(estimator_cls, name):
            clock.wrap(estimator_cls, name, "estimator predictions")
    clock.wrap(BaseAdapter, "fit_adapt", "adapter fits")
    # The scorers' density-ratio weights fit a LogisticRegression domain classifier: timed
    # on their own, so that those fits do not count as the final estimator's.
    clock.wrap(SplitContext, "importance_weights", "IW/DEV weights")
    try:
        with threadpool_limits(1):
            start = time.perf_counter()
            for job in jobs:
                run_job(job)
            total = time.perf_counter() - start
    finally:
        clock.restore()
    return {"job_seconds": total, "seconds": clock.seconds, "calls": clock.calls}


def report_floor(args, floor: dict, sl: dict, sk: dict) -> None:
    from shiftlab.bench.execute import _n_workers

    sec, calls, total = floor["seconds"], floor["calls"], floor["job_seconds"]
    print("\n== Floor: the fits the protocol needs, with shiftlab's adapters "
          "(all jobs in one process)")
    for label in sec:
        print(f"{label:22s}: {sec[label]:7.1f} s  {calls[label]:6d} calls  "
              f"{sec[label] / total:6.1%} of the job time")
    fits = sec["estimator fits"] + sec["adapter fits"]
    rest = total - sum(sec.values())
    print(f"{'everything else':22s}: {rest:7.1f} s{'':15s}{rest / total:6.1%}"
          "   (other scorer work, records, splits, clones, input checks)")
    workers = min(_n_workers(args.n_jobs), sk["n_jobs_run"])
    floor_wall = fits / workers
    print(f"floor wall on {workers} worker(s): {floor_wall:.1f} s (fits only, perfectly "
          "balanced, no start-up)")
    print(f"largest ratio an implementation making these fits can reach: skada wall "
          f"{sk['wall']:.1f} s / {floor_wall:.1f} s = {sk['wall'] / floor_wall:.2f}x")
    above_sk, above_sl = sk["wall"] - floor_wall, sl["wall"] - floor_wall
    print(f"wall time above that floor: skada {above_sk:.1f} s, shiftlab {above_sl:.1f} s "
          f"({above_sk / above_sl:.2f}x: the ratio on the work the fits leave to each side)")


# --------------------------------------------------------------------------- report
def _fmt(x: float) -> str:
    return "  nan" if x is None or not np.isfinite(x) else f"{x:.3f}"


def report(args, sl: dict, sk: dict) -> None:
    import pandas as pd

    keys = ["dataset", "task", "outer_split", "method", "scorer"]
    a = pd.DataFrame(sl["rows"])
    b = pd.DataFrame(sk["rows"])
    m = a.merge(b, on=keys, how="outer", suffixes=("_sl", "_sk"))
    m["diff"] = m["test_accuracy_sl"] - m["test_accuracy_sk"]
    m["absdiff"] = m["diff"].abs()
    # Both sides enumerate the candidates in the same order: compare their indices.
    m["same"] = m["candidate_sl"] == m["candidate_sk"]
    scorer_order = [s for s in args.scorers if s in set(m["scorer"])]
    method_order = [x for x in args.methods if x in set(m["method"])]
    m["scorer"] = pd.Categorical(m["scorer"], scorer_order, ordered=True)
    m["method"] = pd.Categorical(m["method"], method_order, ordered=True)
    m = m.sort_values(keys).reset_index(drop=True)
    if args.csv:
        m.to_csv(args.csv, index=False)

    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 10_000)
    pd.set_option("display.max_columns", 50)

    print("\n== Selected target accuracy per (task, outer split, method): shiftlab / skada "
          "(* = different candidate selected)")
    cell = m.apply(
        lambda r: f"{_fmt(r.test_accuracy_sl)}/{_fmt(r.test_accuracy_sk)}"
        + (" " if r.same else "*"),
        axis=1,
    )
    wide = m.assign(cell=cell).pivot_table(
        index=["dataset", "outer_split", "method"], columns="scorer", values="cell",
        aggfunc="first", observed=True,
    )
    print(wide.to_string())

    print("\n== Agreement per scorer (over tasks x outer splits x methods)")
    per_scorer = m.groupby("scorer", observed=True).agg(
        n=("absdiff", "size"),
        mean_abs_diff=("absdiff", "mean"),
        max_abs_diff=("absdiff", "max"),
        mean_diff_sl_minus_sk=("diff", "mean"),
        same_candidate=("same", "mean"),
        acc_shiftlab=("test_accuracy_sl", "mean"),
        acc_skada=("test_accuracy_sk", "mean"),
    )
    print(per_scorer.round(4).to_string())

    print("\n== Agreement per method")
    per_method = m.groupby("method", observed=True).agg(
        mean_abs_diff=("absdiff", "mean"),
        same_candidate=("same", "mean"),
        acc_shiftlab=("test_accuracy_sl", "mean"),
        acc_skada=("test_accuracy_sk", "mean"),
    )
    print(per_method.round(4).to_string())

    print("\n== Mean selected target accuracy per method x scorer: shiftlab / skada")
    cells = m.groupby(["method", "scorer"], observed=True).agg(
        sl=("test_accuracy_sl", "mean"), sk=("test_accuracy_sk", "mean")
    )
    table = cells.apply(lambda r: f"{_fmt(r.sl)}/{_fmt(r.sk)}", axis=1).unstack("scorer")
    print(table.to_string())

    same = m[m["same"]]
    diff = m[~m["same"]]
    overall = float(m["absdiff"].mean())
    cell_gap = float((cells["sl"] - cells["sk"]).abs().mean())
    realistic = m[m["scorer"] != "oracle"]
    print("\n== Summary")
    print(f"rows compared            : {len(m)} ({int(m['absdiff'].isna().sum())} with a NaN)")
    print(f"same candidate selected  : {m['same'].mean():.1%} of rows; mean |diff| there "
          f"{_fmt(float(same['absdiff'].mean()))}, elsewhere {_fmt(float(diff['absdiff'].mean()))}")
    print(f"mean |diff| (all scorers): {overall:.4f}  (realistic only "
          f"{float(realistic['absdiff'].mean()):.4f})")
    print(f"mean |gap| of method x scorer means: {cell_gap:.4f}")
    print(f"mean accuracy            : shiftlab {float(m['test_accuracy_sl'].mean()):.4f}, "
          f"skada {float(m['test_accuracy_sk'].mean()):.4f}")

    print("\n== Time (both sides on the same machine, one after the other)")
    for label, side in (("shiftlab", sl), ("skada", sk)):
        extra = (f", refits {side['refit_seconds']:.1f} s"
                 if "refit_seconds" in side else "")
        print(f"{label:9s}: wall {side['wall']:8.1f} s   CPU {side['cpu']:8.1f} s   "
              f"sum of job times {side['job_seconds']:8.1f} s{extra}   "
              f"({side['n_jobs_run']} jobs, {len(side['failures'])} failed)")
        for f in side["failures"][:10]:
            print(f"    failed: {f}")
    wall_ratio = sk["wall"] / sl["wall"]
    cpu_ratio = sk["cpu"] / sl["cpu"] if sl["cpu"] > 0 else math.nan
    print(f"ratio skada / shiftlab   : wall {wall_ratio:.2f}x   CPU {cpu_ratio:.2f}x")
    print(f"\ngoal shiftlab >= 10x faster      : {'MET' if wall_ratio >= 10 else 'NOT MET'} "
          f"(wall {wall_ratio:.2f}x)")
    print(f"goal |diff| <= 0.01 on average    : {'MET' if overall <= 0.01 else 'NOT MET'} "
          f"(mean |diff| {overall:.4f}; method x scorer means {cell_gap:.4f})")


# --------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="2 outer x 3 inner splits, 3 methods, 2 shifts (about 2 minutes)")
    p.add_argument("--outer", type=int, help="outer splits (default 5; --quick 2)")
    p.add_argument("--inner", type=int, help="inner splits (default 5; --quick 3)")
    p.add_argument("--methods", nargs="+", help=f"default {' '.join(DEFAULT_METHODS)}")
    p.add_argument("--datasets", nargs="+", choices=DATASETS,
                   help="simulated shifts (default all four; --quick covariate, conditional)")
    p.add_argument("--scorers", nargs="+", default=list(SCORERS))
    p.add_argument("--estimator", choices=sorted(ESTIMATORS), default="SVC")
    p.add_argument("--n-jobs", type=int, default=-1, help="worker processes of each side")
    p.add_argument("--inner-cv", choices=("shiftlab", "skada"), default="shiftlab",
                   help="inner splits of the skada side: shiftlab's (identical) or skada's")
    p.add_argument("--seed", type=int, default=0, help="protocol seed (outer/inner splits)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the simulated data")
    p.add_argument("--csv", help="write every compared row to this CSV file")
    p.add_argument("--keep", action="store_true", help="keep the temporary run folder")
    p.add_argument("--profile", action="store_true",
                   help="only profile one shiftlab job per method (no skada side)")
    p.add_argument("--floor", action="store_true",
                   help="also time the fits no implementation can skip and print the "
                        "largest ratio they leave room for")
    args = p.parse_args(argv)
    args.outer = args.outer or (2 if args.quick else 5)
    args.inner = args.inner or (3 if args.quick else 5)
    args.methods = args.methods or list(QUICK_METHODS if args.quick else DEFAULT_METHODS)
    args.datasets = args.datasets or (
        ["sim-covariate", "sim-conditional"] if args.quick else list(DATASETS)
    )
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    # Library warnings (e.g. SVC's deprecated `probability`) would flood the output; the
    # spawned children and their workers inherit this setting.
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    warnings.filterwarnings("ignore")
    folder = Path(tempfile.mkdtemp(prefix="bench_protocol_"))
    try:
        toml_path = folder / "definition.toml"
        toml_path.write_text(definition_text(args), encoding="utf-8")
        print(toml_path.read_text(encoding="utf-8"))
        from shiftlab.bench.definition import load_definition
        from shiftlab.bench.planner import plan_jobs

        if args.profile:
            _in_child(profile_shiftlab, str(toml_path), str(folder / "run"))
            return
        n = len(plan_jobs(load_definition(toml_path)))
        print(f"{n} jobs (task x outer split x method) on each side; n_jobs={args.n_jobs}; "
              f"skada inner splits: {args.inner_cv}'s\n", flush=True)
        sl = _in_child(run_shiftlab_side, str(toml_path), str(folder / "run"), args.n_jobs)
        print(f"shiftlab done: {sl['wall']:.1f} s wall", flush=True)
        sk = _in_child(run_skada_side, str(toml_path), args.n_jobs, args.inner_cv, args.seed)
        print(f"skada done: {sk['wall']:.1f} s wall", flush=True)
        report(args, sl, sk)
        if args.floor:
            floor = _in_child(measure_floor, str(toml_path), str(folder / "floor"))
            report_floor(args, floor, sl, sk)
    finally:
        if args.keep:
            print(f"\nrun folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
