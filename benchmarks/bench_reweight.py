"""Fit + predict time and target accuracy of the reweighting / label-shift methods vs skada.

Each method is run as ``adapter -> LogisticRegression`` in both libraries on
``make_shifted_gaussians`` (50 features, 5 classes; covariate shift for the covariate
methods, target shift for MMDTarS / BBSE / MLLS) and timed over ``--repeats`` runs
(median), end to end (fit + predict of the pipeline) and for the adapter alone
(``fit_adapt`` / skada's ``fit_transform``), with the BLAS thread pool limited by
``--threads``. skada is imported through the test helper that undoes its global
metadata-routing switch, and run inside ``skada_context()``.

Usage::

    python benchmarks/bench_reweight.py --sizes 1000 5000 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from shiftlab.data.simulate import make_shifted_gaussians
from shiftlab.methods import get_method, make_da

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _skada import import_skada, skada_context

METHODS = [
    "SourceOnly",
    "DensityReweight",
    "GaussianReweight",
    "DiscriminatorReweight",
    "KLIEP",
    "KMM",
    "NearestNeighborReweight",
    "MMDTarS",
    "BBSE",
    "MLLS",
]


def _timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def _skada_pipeline(skada, spec):
    final = LogisticRegression().set_fit_request(sample_weight=True)
    if spec.skada_name is None:
        return skada.make_da_pipeline(LogisticRegression())
    adapter = getattr(skada, spec.skada_name)(**spec.skada_params)
    return skada.make_da_pipeline(adapter, final)


def run(sizes, repeats, methods, seed=0):
    """Rows ``(n, method, shift, skada fit+predict s, shiftlab fit+predict s, skada adapter s,
    shiftlab adapter s, skada acc, shiftlab acc)``."""
    skada = import_skada()
    rows = []
    for n in sizes:
        data = {}
        for shift in ("covariate", "target"):
            ds = make_shifted_gaussians(shift, n_samples_source=n, n_samples_target=n,
                                        random_state=seed)
            data[shift] = ds.pack("source", "target", return_target_labels=True)
        for name in methods:
            spec = get_method(name)
            shifts = ("covariate", "target") if name == "SourceOnly" else (
                ("target",) if "target" in spec.designed_for else ("covariate",))
            for shift in shifts:
                X, y, sd, y_true = data[shift]
                tgt = sd < 0

                def ours(name=name, X=X, y=y, sd=sd, tgt=tgt):
                    return make_da(name).fit(X, y, sd).predict(X[tgt])

                def ours_adapter(spec=spec, X=X, y=y, sd=sd):
                    return spec.cls().fit_adapt(X, y, sd)

                t_ours, pred = _timed(ours, repeats)
                a_ours = _timed(ours_adapter, repeats)[0] if name != "SourceOnly" else 0.0
                acc_ours = float((pred == y_true[tgt]).mean())
                t_sk = a_sk = acc_sk = float("nan")
                if spec.skada_name is not None or name == "SourceOnly":

                    def theirs(spec=spec, X=X, y=y, sd=sd, tgt=tgt):
                        with skada_context(), warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            model = _skada_pipeline(skada, spec)
                            model.fit(X, y, sample_domain=sd)
                            return model.predict(X[tgt])

                    def theirs_adapter(spec=spec, X=X, y=y, sd=sd):
                        with skada_context(), warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            adapter = getattr(skada, spec.skada_name)(**spec.skada_params)
                            return adapter.fit_transform(X, y, sample_domain=sd)

                    t_sk, pred = _timed(theirs, repeats)
                    if spec.skada_name is not None:
                        a_sk = _timed(theirs_adapter, repeats)[0]
                    acc_sk = float((pred == y_true[tgt]).mean())
                row = (n, name, shift, t_sk, t_ours, a_sk, a_ours, acc_sk, acc_ours)
                rows.append(row)
                print(f"{n:>6} {name:<24} {shift:<9} fit+predict skada {t_sk:8.3f}s "
                      f"shiftlab {t_ours:7.3f}s | adapter skada {a_sk:8.3f}s shiftlab "
                      f"{a_ours:7.3f}s | acc {acc_sk:.3f} / {acc_ours:.3f}", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000],
                        help="samples per domain")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP threads for both libraries (1 is the most stable "
                        "on a shared machine)")
    args = parser.parse_args(argv)
    with threadpool_limits(limits=args.threads):
        rows = run(args.sizes, args.repeats, args.methods, args.seed)
    print("\n| n per domain | method | shift | skada s | shiftlab s | ratio | skada adapter s "
          "| shiftlab adapter s | adapter ratio | skada acc | shiftlab acc |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, name, shift, t_sk, t_ours, a_sk, a_ours, acc_sk, acc_ours in rows:
        print(f"| {n} | {name} | {shift} | {t_sk:.3f} | {t_ours:.3f} | {t_sk / t_ours:.1f} | "
              f"{a_sk:.3f} | {a_ours:.3f} | {a_sk / a_ours if a_ours else float('nan'):.1f} | "
              f"{acc_sk:.3f} | {acc_ours:.3f} |")


if __name__ == "__main__":
    main()
