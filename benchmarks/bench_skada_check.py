"""A preset cell against skada's own adapter, on the same rows, per final estimator.

When a cell of ``bench_fidelity.py`` misses SKADA-Bench's published value, this script
tells an implementation difference from a setting difference. For each method (one
with a skada counterpart, ``MethodSpec.skada_name``), each task of the dataset and each
outer split of the ``skada-bench`` preset, it fits on the outer-train rows

* **skada**: skada's adapter, built from each candidate of the preset's grid on that
  dataset, followed by each final estimator named in ``--finals`` (SKADA-Bench's
  ``FinalEstimator`` names: ``LR`` = ``LogisticRegression()``, ``SVC`` =
  ``SVC(probability=True)``, ``XGB`` = ``xgboost.XGBClassifier()``, which needs
  ``pip install xgboost``; ``HGB`` = scikit-learn's ``HistGradientBoostingClassifier``,
  the preset's stand-in for XGB); skada's own ``make_da_pipeline``, sample weights routed
  to the estimator as SKADA-Bench does;
* **shiftlab**: the same candidates with the preset's own base estimator, and with each
  of those final estimators;

and scores target accuracy on the target rows of the outer test part. A method the preset
caps (``max_samples_per_domain``) is fitted on the same capped rows as in the preset. Printed per
(method, final estimator): the mean accuracy of each candidate, and the mean over
splits of the best candidate of each split (a fit that fails counts as missing). That
best-of-split value is an upper bound of what any selection (oracle included) can reach
with that grid, so a published cell above it was not produced by that grid and
estimator.

Usage::

    python benchmarks/bench_skada_check.py --dataset mushrooms \\
        --methods NearestNeighborReweight,KMM --finals LR,SVC,HGB
    python benchmarks/bench_skada_check.py --dataset mushrooms --methods KMM --splits 2

It runs the skada installed (the ``dev`` extra pins 0.6.0). SKADA-Bench pinned 0.4.0,
whose iterative solvers (KMM's Frank-Wolfe, stopped at ``max_iter``) may stop elsewhere:
run the script in an environment with ``skada==0.4.0`` (and scikit-learn 1.5) to compare
with the published run's code.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as the local executor's workers run

import argparse  # noqa: E402
import inspect  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.model_selection import ParameterGrid  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FINALS = ("LR", "SVC", "XGB", "HGB")


def final_estimator(name: str):
    """SKADA-Bench's ``FinalEstimator`` by name, asking for the sample weights. SVC is
    built as the preset builds it (``EstimatorSpec.build``: ``SVC(probability=True)``, or
    its replacement on scikit-learn >= 1.11)."""
    import sklearn

    from shiftlab.bench.definition import EstimatorSpec

    specs = {"LR": EstimatorSpec("LogisticRegression", {}, standardize=False),
             "SVC": EstimatorSpec("SVC", {"probability": True}, standardize=False),
             "HGB": EstimatorSpec("HistGradientBoostingClassifier", {}, standardize=False)}
    if name == "XGB":
        try:
            from xgboost import XGBClassifier
        except ImportError as exc:
            raise SystemExit(
                "--finals XGB needs xgboost: pip install xgboost (or use HGB, the "
                "preset's stand-in)."
            ) from exc
        estimator = XGBClassifier()
    elif name in specs:
        estimator = specs[name].build()
    else:
        raise SystemExit(f"unknown final estimator {name!r}; choose from {', '.join(FINALS)}")
    with sklearn.config_context(enable_metadata_routing=True):
        return estimator.set_fit_request(sample_weight=True)


def skada_adapter(skada, spec, params: dict):
    """skada's counterpart of a candidate: shiftlab's ``"none"`` is skada's ``None``;
    parameters skada's class does not take are left out."""
    cls = getattr(skada, spec.skada_name)
    accepted = set(inspect.signature(cls).parameters)
    return cls(**{k: (None if v == "none" else v) for k, v in params.items() if k in accepted})


def _pipeline(lib: str, skada, spec, params: dict, final):
    """One candidate's pipeline, shiftlab's or skada's adapter followed by ``final``."""
    if lib == "skada":
        return skada.make_da_pipeline(skada_adapter(skada, spec, params), final)
    from shiftlab.methods import make_da_pipeline

    return make_da_pipeline(spec.cls(**params), final)


def _accuracy(pipe, train, test, *, skada_routing: bool = False) -> float:
    """Target accuracy on ``test`` of ``pipe`` fitted on ``train`` (each ``X, y,
    sample_domain``), or NaN for a fit that fails (as SKADA-Bench scores a candidate
    whose fit raises: e.g. libsvm refuses weights that leave one class). skada's
    pipelines run with metadata routing on and get the test rows' domains."""
    import sklearn

    (X, y, sample_domain), (test_X, test_y, test_domain) = train, test
    predict_kw = {"sample_domain": test_domain} if skada_routing else {}
    with warnings.catch_warnings(), sklearn.config_context(
            enable_metadata_routing=skada_routing):
        warnings.simplefilter("ignore")
        try:
            pipe.fit(X, y, sample_domain=sample_domain)
            return float(np.mean(pipe.predict(test_X, **predict_kw) == test_y))
        except ValueError as exc:
            print(f"  failed fit ({type(exc).__name__}: {str(exc)[:80]})", file=sys.stderr)
            return float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="mushrooms")
    parser.add_argument("--methods", default="NearestNeighborReweight,KMM,KLIEP")
    parser.add_argument("--finals", default="LR,SVC,HGB",
                        help=f"comma-separated, among {', '.join(FINALS)}")
    parser.add_argument("--splits", type=int, default=None,
                        help="outer splits per task (default: the preset's)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / "src"))
    sys.path.insert(0, str(REPO / "tests"))
    from dataclasses import replace

    import sklearn

    from _skada import import_skada  # restores scikit-learn's routing flag after import
    from shiftlab.bench.definition import load_definition
    from shiftlab.bench.jobs import (
        fit_indices,
        job_base_estimator,
        load_task,
        outer_split_indices,
    )
    from shiftlab.bench.planner import plan_jobs
    from shiftlab.methods import get_method

    skada = import_skada()
    finals = [f.strip() for f in args.finals.split(",")]
    for name in finals:
        final_estimator(name)  # fail on a bad name or a missing xgboost before any work
    methods = [m.strip() for m in args.methods.split(",")]
    for method in methods:
        if get_method(method).skada_name is None:
            raise SystemExit(f"{method} has no skada counterpart (MethodSpec.skada_name).")
    preset = load_definition("skada-bench")
    jobs = plan_jobs(replace(
        preset, datasets=tuple(d for d in preset.datasets if d.name == args.dataset),
        methods=tuple(m for m in preset.methods if m.name in methods)))
    if not jobs:
        raise SystemExit(f"the skada-bench preset has no jobs for {args.dataset!r} and "
                         f"{', '.join(methods)}.")
    if args.splits is not None:
        jobs = [j for j in jobs if j.outer_split < args.splits]
    print(f"# {args.dataset}: skada {skada.__version__}, scikit-learn {sklearn.__version__}; "
          "target accuracy on the outer test part, the preset's outer splits")
    for method in methods:
        spec = get_method(method)
        mjobs = [j for j in jobs if j.method.name == method]
        candidates = list(ParameterGrid({k: list(v) for k, v in mjobs[0].method.grid.items()}))
        dropped = sorted(set(candidates[0]) - set(inspect.signature(
            getattr(skada, spec.skada_name)).parameters))
        # (pipeline, task) -> list over splits of per-candidate accuracies
        acc: dict[tuple[str, str], list[list[float]]] = {}
        for job in mjobs:
            X, y, sd, y_true = load_task(job)
            train, test = outer_split_indices(job, y_true, sd)
            train = fit_indices(job, y, sd, train)  # the method's max_samples_per_domain
            test = test[sd[test] < 0]
            fit_rows = (X[train], y[train], sd[train])
            test_rows = (X[test], y_true[test], sd[test])
            base = job_base_estimator(job)
            # (row name, library, maker of a fresh final estimator)
            variants = [(f"shiftlab + {base.name} (preset)", "shiftlab", base.build),
                        *[(f"shiftlab + {f}", "shiftlab", partial(final_estimator, f))
                          for f in finals],
                        *[(f"skada + {f}", "skada", partial(final_estimator, f))
                          for f in finals]]
            for name, lib, make_final in variants:
                acc.setdefault((name, job.task), []).append(
                    [_accuracy(_pipeline(lib, skada, spec, p, make_final()), fit_rows,
                               test_rows, skada_routing=lib == "skada")
                     for p in candidates])
            print(f"  {method} {job.task} split {job.outer_split}: done", file=sys.stderr,
                  flush=True)
        shown = {k: [c[k] for c in candidates] for k in candidates[0]
                 if len({repr(c[k]) for c in candidates}) > 1}
        print(f"\n## {method} ({len(candidates)} candidates: {shown})")
        if dropped:
            print(f"(parameters skada's {spec.skada_name} does not take, dropped: "
                  f"{', '.join(dropped)})")
        print("| pipeline | task | splits | mean per candidate | best per split (mean) |")
        print("|---|---|---|---|---|")
        for (pipeline, task), rows in acc.items():
            r = np.array(rows)
            failed = int(np.isnan(r).sum())
            print(f"| {pipeline} | {task} | {len(rows)} | "
                  f"{' '.join(f'{v:.3f}' for v in np.nanmean(r, axis=0))} | "
                  f"{np.nanmax(r, axis=1).mean():.3f} |" + (f" ({failed} failed fits)"
                                                            if failed else ""))
        # The grid SKADA-Bench's solvers declare by default crosses the candidates with
        # every final estimator: its best per split is over all of them.
        tasks = list(dict.fromkeys(t for _, t in acc))
        for lib in ("shiftlab", "skada"):
            acc.update({(f"{lib}, any final estimator", t): np.hstack(
                [acc[(f"{lib} + {f}", t)] for f in finals]) for t in tasks})
        print("\n| pipeline | best per split, mean over tasks |")
        print("|---|---|")
        for pipeline in dict.fromkeys(p for p, _ in acc):
            per_task = [np.nanmax(np.array(acc[(pipeline, t)]), axis=1).mean() for t in tasks]
            print(f"| {pipeline} | {np.mean(per_task):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
