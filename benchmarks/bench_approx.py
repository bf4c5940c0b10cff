"""Exact solvers against their documented approximations, at full size.

For each method (default: MMD-LS and ClassRegOT, the two whose ``skada-bench`` jobs
exceed 120 CPU-seconds on full Mushrooms) and each candidate of its ``skada-bench`` grid
on the dataset, the pipeline ``adapter -> the preset's base estimator`` is fitted on the
outer-train rows of one task and outer split of the preset's protocol, twice:

* **exact**: ``approx=False`` (every row of both domains in one problem);
* **approx**: ``approx=True`` with ``max_exact_samples`` (MMD-LS: the map is fitted on
  random subsets of that many rows per domain) or ``batch_size`` (ClassRegOT: minibatch
  OT with batches of that many rows per domain) set to ``--rows``;

and scored on the target rows of the outer test part. Printed per candidate: both target
accuracies, their difference (approx - exact, in points), and each fit's CPU seconds
(``time.process_time``, one BLAS thread); then the mean and worst absolute difference
and the CPU ratio. A job of the protocol fits each candidate 11 times (5 inner fits, 5
circular-validation backward fits, 1 outer refit), on a little less than these rows, so
a job costs about 11 times the sum over candidates printed here.

Usage::

    python benchmarks/bench_approx.py                                # Mushrooms, 1000 rows
    python benchmarks/bench_approx.py --datasets mushrooms,phishing --rows 1000 2000
    python benchmarks/bench_approx.py --methods MMD-LS --task 1 --split 2
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as the local executor's workers run

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.model_selection import ParameterGrid  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: The parameter that sets the size of each method's approximation.
SIZE_PARAM = {"MMD-LS": "max_exact_samples", "ClassRegOT": "batch_size"}


def _fit_score(pipe, X, y, sd, test_X, test_y):
    start = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y, sd)
    cpu = time.process_time() - start
    return float(np.mean(pipe.predict(test_X) == test_y)), cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="mushrooms")
    parser.add_argument("--methods", default="MMD-LS,ClassRegOT")
    parser.add_argument("--rows", type=int, nargs="+", default=[1000],
                        help="sizes of the approximation (rows per domain)")
    parser.add_argument("--task", type=int, default=0, help="index of the dataset's task")
    parser.add_argument("--split", type=int, default=0, help="outer split")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / "src"))
    from dataclasses import replace

    from shiftlab.bench.definition import load_definition
    from shiftlab.bench.jobs import job_base_estimator, load_task, outer_split_indices
    from shiftlab.bench.planner import plan_jobs
    from shiftlab.methods import get_method, make_da_pipeline

    datasets = [d.strip() for d in args.datasets.split(",")]
    methods = [m.strip() for m in args.methods.split(",")]
    preset = load_definition("skada-bench")
    # The preset's own jobs: each method's grid and base estimator on each dataset.
    jobs = plan_jobs(replace(
        preset, datasets=tuple(d for d in preset.datasets if d.name in datasets),
        methods=tuple(m for m in preset.methods if m.name in methods)))
    print(f"# exact vs approximate solvers, skada-bench grids, outer split {args.split}, "
          "CPU seconds of one fit (1 BLAS thread)")
    summary = []
    for name in datasets:
        task = list(dict.fromkeys(j.task for j in jobs if j.dataset.name == name))[args.task]
        for method in methods:
            job = next(j for j in jobs if (j.dataset.name, j.task, j.outer_split,
                                           j.method.name) == (name, task, args.split, method))
            X, y, sd, y_true = load_task(job)
            train, test = outer_split_indices(job, y_true, sd)
            test = test[sd[test] < 0]
            estimator = job_base_estimator(job)
            grid = job.method.grid
            cls = get_method(method).cls
            n_src, n_tgt = int((sd[train] >= 0).sum()), int((sd[train] < 0).sum())
            print(f"\n## {name} {task}, {method}: {n_src} source + {n_tgt} target rows, "
                  f"base {estimator.name}")
            print("| candidate | rows | exact acc | approx acc | diff (points) | exact CPU s "
                  "| approx CPU s |")
            print("|---|---|---|---|---|---|---|")
            for params in ParameterGrid({k: list(v) for k, v in grid.items()}):
                shown = {k: v for k, v in params.items() if len(grid[k]) > 1}
                exact = make_da_pipeline(cls(**{**params, "approx": False}), estimator.build())
                acc_e, cpu_e = _fit_score(exact, X[train], y[train], sd[train],
                                          X[test], y_true[test])
                for rows in args.rows:
                    # The grid may already set the size (the preset's approximation).
                    approx = make_da_pipeline(
                        cls(**{**params, "approx": True, "random_state": 0,
                               SIZE_PARAM[method]: rows}), estimator.build())
                    acc_a, cpu_a = _fit_score(approx, X[train], y[train], sd[train],
                                              X[test], y_true[test])
                    diff = 100 * (acc_a - acc_e)
                    summary.append((name, method, rows, diff, cpu_e, cpu_a))
                    print(f"| {shown} | {rows} | {acc_e:.3f} | {acc_a:.3f} | {diff:+.1f} | "
                          f"{cpu_e:.1f} | {cpu_a:.1f} |", flush=True)
    print("\n| dataset | method | rows | mean abs diff (points) | worst diff | exact CPU s "
          "| approx CPU s | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    keys = sorted({(d, m, r) for d, m, r, *_ in summary})
    for d, m, r in keys:
        rows = [s for s in summary if s[:3] == (d, m, r)]
        diffs = np.array([s[3] for s in rows])
        cpu_e, cpu_a = sum(s[4] for s in rows), sum(s[5] for s in rows)
        worst = diffs[np.argmax(np.abs(diffs))]
        print(f"| {d} | {m} | {r} | {np.mean(np.abs(diffs)):.1f} | {worst:+.1f} | "
              f"{cpu_e:.1f} | {cpu_a:.1f} | {cpu_e / max(cpu_a, 1e-9):.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
