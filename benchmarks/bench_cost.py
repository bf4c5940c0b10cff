"""What a benchmark definition will cost: CPU-hours and disk, from a sample of its jobs.

What is measured
----------------
The definition is planned (every job: dataset, task, outer split, method) and its jobs
are grouped into strata of (dataset, method): jobs of a stratum share their data size
and grid, so their costs are alike. ``--per-stratum`` jobs of each stratum (seeded) are
run for real, each in its own process with a time limit (``--timeout``), in a scratch
run folder, and measured:

* CPU seconds (``job_cpu_seconds``: ``time.process_time`` of the job's process, every
  thread) and wall seconds;
* disk: the job's results parquet and its records file, as the runner writes them.

A stratum's cost is its sampled mean times its number of jobs; the total is the sum over
strata. The spread is a 90% interval from resampling, within each stratum, the sampled
jobs (bootstrap, 2,000 draws): with one job per stratum it only reflects the spread
between strata, so give ``--per-stratum 2`` or more for an honest interval. A job that
hits ``--timeout`` counts with the limit as a lower bound (marked ">=").

Usage::

    python benchmarks/bench_cost.py skada-bench --per-stratum 2 --timeout 600
    python benchmarks/bench_cost.py quick --per-stratum 3
    python benchmarks/bench_cost.py my.toml --datasets mushrooms --methods CORAL KMM

Prints the sample size, per-stratum means and the whole definition's estimate:
CPU-hours and GB with their interval, next to the runner's own dry-run estimate where it
has one.
"""

from __future__ import annotations

import os

# A sampled job runs as a job of the local executor does, one BLAS thread per worker
# (joblib gives each of its workers cpu_count // n_workers threads: one, with a worker
# per core). Set before numpy is imported. Two threads on 2 cores add their spin-waits to
# the job's CPU time: Mushrooms/KMM took 48.2 CPU-s with 2 threads, 30.0 with one.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import io  # noqa: E402
import secrets  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("definition", help="a preset name or a .toml file")
    p.add_argument("--per-stratum", type=int, default=1,
                   help="jobs run per (dataset, method) stratum (default 1)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds a sampled job may run (default 600)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--datasets", nargs="*", help="only these datasets")
    p.add_argument("--methods", nargs="*", help="only these methods")
    return p.parse_args(argv)


def run_sampled(job, scratch: Path, timeout: float) -> dict:
    """Run one job in its own process, as the runner does; its CPU, wall and disk."""
    from shiftlab.bench.execute import run_guarded
    from shiftlab.bench.jobs import run_job
    from shiftlab.bench.store import RunStore

    store = RunStore(scratch)
    with store.writing():
        pass  # creates the folder layout
    job = replace(job, run_dir=str(scratch), run_key=secrets.token_hex(16))
    start = time.perf_counter()
    outcome = run_guarded(run_job, job, timeout=timeout)
    wall = time.perf_counter() - start
    if not outcome.ok:
        timed_out = "imeout" in str(outcome.error_type) or wall >= timeout
        return {"cpu": timeout if timed_out else np.nan, "wall": wall, "disk": np.nan,
                "lower_bound": timed_out, "error": str(outcome.error_type)}
    result = outcome.value
    buffer = io.BytesIO()
    result.frame.to_parquet(buffer)
    records = (result.records or {}).get("size", 0)
    return {"cpu": float(result.frame["job_cpu_seconds"].iloc[0]), "wall": wall,
            "disk": buffer.tell() + records, "lower_bound": False, "error": ""}


def stratum_mean(costs: list[dict], key: str) -> float:
    """Mean of one cost over a stratum's sampled jobs (NaN when none was measured)."""
    values = np.array([c[key] for c in costs], dtype=float)
    return float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() \
        else float("nan")


def bootstrap_total(samples: dict, counts: dict, key: str, rng, n_draws: int = 2000):
    """Total over strata of (mean of the stratum's samples x its job count), resampled."""
    totals = np.zeros(n_draws)
    for stratum, values in samples.items():
        values = np.asarray([v[key] for v in values], dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        draws = rng.choice(values, size=(n_draws, values.size), replace=True).mean(axis=1)
        totals += draws * counts[stratum]
    return totals


def main(argv=None) -> None:
    args = parse_args(argv)
    from shiftlab.bench.definition import load_definition
    from shiftlab.bench.planner import plan_jobs

    definition = load_definition(args.definition)
    jobs = plan_jobs(definition)
    if args.datasets:
        jobs = [j for j in jobs if j.dataset.name in args.datasets]
    if args.methods:
        jobs = [j for j in jobs if j.method.name in args.methods]
    if not jobs:
        sys.exit("no job left after --datasets / --methods")
    strata: dict[tuple, list] = {}
    for job in jobs:
        strata.setdefault((job.dataset.name, job.method.name), []).append(job)
    rng = np.random.default_rng(args.seed)
    counts = {s: len(v) for s, v in strata.items()}
    print(f"{args.definition}: {len(jobs)} jobs in {len(strata)} (dataset, method) strata; "
          f"sampling {args.per_stratum} per stratum, limit {args.timeout:.0f} s each")
    samples: dict[tuple, list] = {}
    scratch_root = Path(tempfile.mkdtemp(prefix="bench_cost_"))
    for stratum, members in sorted(strata.items()):
        picks = rng.choice(len(members), size=min(args.per_stratum, len(members)),
                           replace=False)
        samples[stratum] = []
        for k in picks:
            # One scratch run folder for every sampled job, as a real run has: what a run
            # computes once and caches (a task's first-stage estimator, a split's density
            # ratio) is paid by the first sampled job that needs it, not by each one.
            cost = run_sampled(members[k], scratch_root / "run", args.timeout)
            samples[stratum].append(cost)
        cpu, disk = (stratum_mean(samples[stratum], key) for key in ("cpu", "disk"))
        bound = ">=" if any(c["lower_bound"] for c in samples[stratum]) else "  "
        errors = {c["error"] for c in samples[stratum] if c["error"]}
        print(f"  {stratum[0]:<22} {stratum[1]:<22} {counts[stratum]:>5} jobs  "
              f"CPU {bound}{cpu:8.1f} s/job  disk {disk / 2**20:7.2f} MiB/job"
              + (f"  errors: {sorted(errors)}" if errors else ""), flush=True)

    n_sampled = sum(len(v) for v in samples.values())
    cpu = bootstrap_total(samples, counts, "cpu", rng) / 3600
    disk = bootstrap_total(samples, counts, "disk", rng) / 1e9
    point_cpu, point_disk = (
        np.nansum([stratum_mean(v, key) * counts[s] for s, v in samples.items()])
        for key in ("cpu", "disk"))
    lower = any(c["lower_bound"] for v in samples.values() for c in v)
    print(f"\nsample: {n_sampled} jobs of {len(jobs)}")
    print(f"estimated CPU: {'>= ' if lower else ''}{point_cpu / 3600:.2f} CPU-hours "
          f"(90% interval {np.percentile(cpu, 5):.2f} to {np.percentile(cpu, 95):.2f})")
    print(f"estimated disk: {point_disk / 1e9:.3f} GB (90% interval "
          f"{np.percentile(disk, 5):.3f} to {np.percentile(disk, 95):.3f})")
    if args.per_stratum < 2:
        print("(one job per stratum: the interval ignores the spread within a stratum; use "
              "--per-stratum 2 or more)")


if __name__ == "__main__":
    main()
