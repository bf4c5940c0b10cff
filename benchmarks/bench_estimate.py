"""How close the dry run's cost estimate is to the run it estimates.

What is measured
----------------
A definition is run with ``--first`` outer splits (the stored jobs the estimate learns
from), then extended to ``--outer`` outer splits. The dry run of the extended definition
estimates the CPU-hours, disk and wall time of the jobs left (each from the stored jobs of
the same method and dataset); those jobs are then run, and their measured cost (the sum
of their ``job_cpu_seconds``, their files' sizes in the manifest, the run's wall time) is
printed beside the estimate, with the ratio.

Usage::

    python benchmarks/bench_estimate.py quick --first 1 --outer 5
    python benchmarks/bench_estimate.py my.toml --first 1 --outer 3 --executor inprocess
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from importlib import resources
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("definition", help="a preset name or a .toml file")
    p.add_argument("--first", type=int, default=1, help="outer splits run first (default 1)")
    p.add_argument("--outer", type=int, default=5, help="outer splits in all (default 5)")
    p.add_argument("--executor", default=None, help="override the definition's executor")
    return p.parse_args(argv)


def with_outer_splits(text: str, n: int) -> str:
    """The definition's TOML with ``[protocol] outer_splits = n``."""
    new, count = re.subn(r"(?m)^outer_splits\s*=\s*\d+", f"outer_splits = {n}", text)
    if count != 1:
        raise SystemExit("the definition must set [protocol] outer_splits once")
    return new


def main(argv=None) -> None:
    args = parse_args(argv)
    from shiftlab.bench.runner import run_benchmark
    from shiftlab.bench.store import RunStore

    path = Path(args.definition)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        presets = resources.files("shiftlab.bench") / "presets"
        text = (presets / f"{args.definition}.toml").read_text()
    scratch = Path(tempfile.mkdtemp(prefix="bench_estimate_"))
    first, full = scratch / "first.toml", scratch / "full.toml"
    first.write_text(with_outer_splits(text, args.first))
    full.write_text(with_outer_splits(text, args.outer))
    run_dir = scratch / "run"
    start = run_benchmark(first, run_dir, executor=args.executor, progress=False)
    print(f"{args.definition}: {start.n_jobs} jobs with {args.first} outer split(s) run first")
    dry = run_benchmark(full, run_dir, executor=args.executor, dry_run=True, progress=False)
    if dry.estimate is None:
        raise SystemExit("no estimate: nothing stored")
    print(f"dry run of {args.outer} outer splits: {dry.n_todo} jobs to run; {dry.estimate}")
    before = set(RunStore(run_dir).manifest())
    t0 = time.perf_counter()
    rest = run_benchmark(full, run_dir, executor=args.executor, progress=False)
    wall = time.perf_counter() - t0
    store = RunStore(run_dir)
    manifest = store.manifest()
    new = set(manifest) - before
    rows = store.results(new).drop_duplicates("job_key")
    rows = rows[~rows["method"].astype(str).str.startswith("shiftlab: ")]  # pools: not jobs
    cpu_h = rows["job_cpu_seconds"].sum() / 3600
    disk = sum(manifest[k].result.get("size", 0) + (manifest[k].records or {}).get("size", 0)
               for k in rows["job_key"])
    print(f"measured: {len(rows)} jobs ({rest.n_done} run), {cpu_h:.3f} CPU-hours, "
          f"{disk / 1e9:.4f} GB, {wall:.0f} s wall (pools included)")
    for name, est, got in (("CPU-hours", dry.estimate.cpu_hours, cpu_h),
                           ("disk", dry.estimate.disk_bytes / 1e9, disk / 1e9),
                           ("wall", dry.estimate.seconds, wall)):
        print(f"  {name:<10} estimated {est:10.4f}  measured {got:10.4f}  "
              f"estimate / measured {est / got:5.2f}")


if __name__ == "__main__":
    main()
