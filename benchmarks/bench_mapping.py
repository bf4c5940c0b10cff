"""Fit + predict time and target accuracy of the mapping methods, shiftlab vs skada.

Every registered mapping method runs as ``adapter -> LogisticRegression`` in both
libraries, on the same data, with shiftlab's defaults and the skada parameters the
registry records as equivalent (``MethodSpec.skada_params``). Times are end to end
(pipeline fit on source + target, predict on the target), median over ``--repeats``
runs, with the BLAS thread pool limited to ``--threads``. skada is imported through the
test helper that undoes its global metadata-routing switch and runs inside
``skada_context()``; a skada fit longer than ``--skada-timeout`` seconds is interrupted
(SIGALRM) and reported as "> timeout".

Data: ``make_shifted_gaussians("conditional")``, 50 features, 5 classes, the setting of
the peer timings in REFERENCE.md section 4 (not standardised).

Usage::

    python benchmarks/bench_mapping.py                       # 1,000 and 5,000 per domain
    python benchmarks/bench_mapping.py --sizes 1000 --repeats 3 --methods MapOT EntOT
    python benchmarks/bench_mapping.py --sizes 1000 --adapter-only   # adapters alone
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from shiftlab.data.simulate import make_shifted_gaussians
from shiftlab.methods import get_method, make_da_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _skada import import_skada, skada_context

METHODS = ["CORAL", "MapOT", "EntOT", "ClassRegOT", "LinOT", "MMD-LS"]


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def _data(n, seed):
    ds = make_shifted_gaussians("conditional", n_features=50, n_classes=5,
                                n_samples_source=n, n_samples_target=n, random_state=seed)
    return ds.pack("source", "target", return_target_labels=True)


def _run_shiftlab(spec, data, adapter_only=False):
    X, y, sd, yt = data
    t = sd < 0
    params = {"random_state": 0} if "random_state" in spec.cls().get_params() else {}
    adapter = spec.cls(**params)
    if adapter_only:
        start = time.perf_counter()
        adapter.fit_adapt(X, y, sd)
        path = "minibatch" if getattr(adapter, "approx_", False) else "exact"
        return time.perf_counter() - start, float("nan"), path
    start = time.perf_counter()
    pipe = make_da_pipeline(adapter, LogisticRegression()).fit(X, y, sd)
    pred = pipe.predict(X[t])
    elapsed = time.perf_counter() - start
    fitted = pipe.named_steps[type(adapter).__name__.lower()]
    path = "minibatch" if getattr(fitted, "approx_", False) else "exact"
    return elapsed, float(np.mean(pred == yt[t])), path


def _run_skada(skada, spec, data, timeout, adapter_only=False):
    X, y, sd, yt = data
    t = sd < 0
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(timeout))
    try:
        with skada_context(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            adapter = getattr(skada, spec.skada_name)(**spec.skada_params)
            if adapter_only:
                start = time.perf_counter()
                adapter.fit_transform(X, y, sample_domain=sd)
                return time.perf_counter() - start, float("nan")
            start = time.perf_counter()
            pipe = skada.make_da_pipeline(adapter, LogisticRegression())
            pipe.fit(X, y, sample_domain=sd)
            pred = pipe.predict(X[t], sample_domain=sd[t])
            elapsed = time.perf_counter() - start
    except _Timeout:
        return None, None
    finally:
        signal.alarm(0)
    return elapsed, float(np.mean(pred == yt[t]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skada-timeout", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--adapter-only", action="store_true",
                        help="time the adapters' fit_transform alone (no final estimator)")
    args = parser.parse_args()
    skada = import_skada()
    warnings.simplefilter("ignore")
    with threadpool_limits(args.threads):
        for n in args.sizes:
            data = _data(n, args.seed)
            what = "adapter fit_transform only" if args.adapter_only else "pipeline fit+predict"
            print(f"\n{n} + {n} samples, 50 features, 5 classes, {args.threads} thread(s), "
                  f"{what}")
            print("| method | skada s | shiftlab s | ratio | acc skada | acc shiftlab | path |")
            print("|---|---|---|---|---|---|---|")
            ratios = []
            for name in args.methods:
                spec = get_method(name)
                ours = [_run_shiftlab(spec, data, args.adapter_only)
                        for _ in range(args.repeats)]
                t_ours = statistics.median(r[0] for r in ours)
                acc_ours, path = ours[0][1], ours[0][2]
                theirs = [_run_skada(skada, spec, data, args.skada_timeout, args.adapter_only)
                          for _ in range(args.repeats)]
                if theirs[0][0] is None:
                    ratio = args.skada_timeout / t_ours
                    ratios.append(ratio)
                    print(f"| {name} | > {args.skada_timeout:.0f} | {t_ours:.3f} | "
                          f"> {ratio:.1f} | - | {acc_ours:.3f} | {path} |")
                    continue
                t_skada = statistics.median(r[0] for r in theirs)
                ratio = t_skada / t_ours
                ratios.append(ratio)
                print(f"| {name} | {t_skada:.3f} | {t_ours:.3f} | {ratio:.1f} | "
                      f"{theirs[0][1]:.3f} | {acc_ours:.3f} | {path} |", flush=True)
            print(f"median speed-up {statistics.median(ratios):.1f}x, "
                  f"slowest {min(ratios):.2f}x")


if __name__ == "__main__":
    main()
