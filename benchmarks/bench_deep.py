"""Speed and accuracy of the deep DA methods: epochs/second and target accuracy.

Runs every deep method (or ``--methods``) on

* ``digits``: MNIST->USPS and USPS->MNIST (the JDA 16x16 subsets, small CNN, the
  deep preset's training settings for the chosen device),
* ``digits-full``: SKADA-Bench's deep digits setting, the ``deep-digits`` preset's data
  (MNIST's training set when the data home has it or it can be downloaded, else its
  10,000-digit test set, as the preset does; USPS train, 28x28) and training (2-conv
  CNN, SGD lr 0.1, momentum 0.6, batch 256, 10 epochs); ``--params`` sets the adapted
  methods' hyperparameters (default: each method's own defaults),
* ``office``: Office-Caltech10 GoogLeNet features, amazon->webcam and webcam->amazon
  (MLP, the preset's settings), and
* ``synthetic``: a seeded Gaussian-cluster task whose target is the source rotated by
  90 degrees and translated (an MLP on 10 features) -- the controlled shift of the tests.

Target accuracy is measured on all target rows (transductive UDA protocol: those rows
were given to ``fit`` without labels). ``epochs/s`` counts the training loop only
(``history_`` times); ``fit s`` is the whole ``fit`` call. Source-free methods (SHOT,
EntropyKLPrior, TENT) and TIM start from the SourceOnly model fitted just before, so
their times are those of the adaptation stage alone.

Usage::

    python benchmarks/bench_deep.py                       # every dataset, CPU or GPU
    python benchmarks/bench_deep.py --device cuda         # GPU (preset's GPU settings)
    python benchmarks/bench_deep.py --dataset digits --epochs 3 --methods SourceOnly,MCC
    python benchmarks/bench_deep.py --json results.json
    python benchmarks/bench_deep.py --dataset digits-full \
        --methods SourceOnly,TargetOnly,DeepCORAL,DANN,MCC
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def load_digits_jda():
    """``{"mnist": (X, y), "usps": (X, y)}`` from the shiftlab loader or the .mat file."""
    try:
        from shiftlab.data.loaders import load_dataset

        ds = load_dataset("mnist_usps", download=False)
        return {name: tuple(np.asarray(a) for a in ds[name]) for name in ("mnist", "usps")}
    except Exception:  # loader not available: read the JDA file directly
        from scipy.io import loadmat

        homes = [os.environ.get("SHIFTLAB_DATA"), REPO.parent / "shared" / "datasets"]
        for home in homes:
            if home and (Path(home) / "mnist_usps_jda" / "MNIST_vs_USPS.mat").exists():
                m = loadmat(Path(home) / "mnist_usps_jda" / "MNIST_vs_USPS.mat")
                return {
                    "mnist": (m["X_src"].T, m["Y_src"].ravel().astype(int) - 1),
                    "usps": (m["X_tar"].T, m["Y_tar"].ravel().astype(int) - 1),
                }
        raise FileNotFoundError(
            "MNIST_vs_USPS.mat not found: set SHIFTLAB_DATA to the data home."
        ) from None


def load_office_googlenet():
    """``{domain: (X, y)}`` of Office-Caltech10 GoogLeNet features, rows L2-normalised."""
    try:
        from shiftlab.data.loaders import load_dataset

        ds = load_dataset("office_caltech10_googlenet", download=False, normalize="l2")
        return {d: tuple(np.asarray(a) for a in ds[d]) for d in ("amazon", "dslr", "webcam")}
    except Exception:  # loader not available: read the .mat files directly
        from scipy.io import loadmat

        homes = [os.environ.get("SHIFTLAB_DATA"), REPO.parent / "shared" / "datasets"]
        for home in homes:
            folder = Path(home or "") / "office_caltech10_deep_partial" / "googlenet1024"
            if home and folder.is_dir():
                out = {}
                for d in ("amazon", "dslr", "webcam"):
                    m = loadmat(folder / f"{d}.mat")
                    X = m["fts"].astype(np.float64)
                    X /= np.linalg.norm(X, axis=1, keepdims=True)
                    out[d] = (X, m["labels"].ravel().astype(int) - 1)
                return out
        raise FileNotFoundError(
            "Office-Caltech10 GoogLeNet features not found: set SHIFTLAB_DATA."
        ) from None


def preset_training(entry, args) -> dict:
    """A preset dataset's ``training`` table as estimator parameters (lists of sizes as
    tuples), with ``--epochs`` applied."""
    training = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.training.items()}
    if args.epochs:
        training["n_epochs"] = args.epochs
    return training


def run_task(task_name, Xs, ys, Xt, yt, methods, training, args, rows):
    import shiftlab.deep as deep
    from shiftlab.bench.definition import effective_training

    X = np.concatenate([Xs, Xt]).astype(np.float32)
    y = np.concatenate([ys, np.full(len(yt), -1)])
    sd = np.r_[np.ones(len(ys), dtype=int), -2 * np.ones(len(yt), dtype=int)]
    source_model = None
    for name in methods:
        spec = deep.get_deep_method(name)
        # SKADA-Bench's per-method SGD changes, as the runner applies them.
        params = effective_training(training, spec.sgd_training)
        params.update(device=args.device, random_state=args.seed)
        if name == "TENT":
            params.pop("n_epochs", None)  # TENT's own default: one online pass
        if name in ("SHOT", "EntropyKLPrior", "TENT") and source_model is not None:
            params["source_model"] = source_model
        if name == "TIM" and source_model is not None:
            params["base_model"] = source_model
        params.update(args.params.get(name, {}))
        model = spec.cls(**params)
        t0 = time.perf_counter()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        if name == "TargetOnly":
            model.fit(X, y, sd, oracle_target_labels=np.concatenate([ys, yt]))
        else:
            model.fit(X, y, sd)
        if model.device_.type == "cuda":
            import torch

            torch.cuda.synchronize()
        fit_s = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        if name == "SourceOnly":
            source_model = model
        acc = float(np.mean(model.predict(Xt.astype(np.float32)) == yt))
        if name == "TIM":
            loop_s, unit, n_units = fit_s, "it/s", model.n_iter_
        else:
            loop_s = sum(h["seconds"] for h in model.history_)
            unit, n_units = "epochs/s", model.n_epochs_
        rate = n_units / loop_s if loop_s > 0 else float("nan")
        rows.append(
            {
                "task": task_name,
                "method": name,
                "target_accuracy": round(acc, 4),
                "rate": round(rate, 3),
                "rate_unit": unit,
                "fit_seconds": round(fit_s, 3),
                "fit_cpu_seconds": round(cpu_s, 1),
                "params": {k: v for k, v in model.get_params().items()
                           if k in ("reg", "temperature", "lr", "momentum")},
                "epochs": n_units,
                "device": str(model.device_),
            }
        )
        print(
            f"{task_name:14s} {name:15s} acc={acc:.3f}  {rate:8.2f} {unit:8s} "
            f"fit={fit_s:6.1f}s cpu={cpu_s:6.1f}s",
            flush=True,
        )


def run_digits_full(names, args, rows):
    """Both digit tasks with the ``deep-digits`` preset's data and training."""
    from shiftlab.bench.definition import load_definition
    from shiftlab.data.loaders import load_dataset

    entry = load_definition("deep-digits").datasets[0]
    training = preset_training(entry, args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(entry.name, **entry.options)
    for w in caught:
        print(f"# warning: {w.message}")
    args.mnist_split = ds.metadata["options"]["mnist_split"]
    print(f"# data: {entry.name} {ds.metadata['options']} "
          f"(mnist {len(ds['mnist'][1])}, usps {len(ds['usps'][1])} digits)")
    for src, tgt in (("mnist", "usps"), ("usps", "mnist")):
        (Xs, ys), (Xt, yt) = ds[src], ds[tgt]
        run_task(f"{src}->{tgt}", Xs, ys, Xt, yt, names, training, args, rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--dataset", default="all",
        choices=["digits", "digits-full", "office", "synthetic", "all"],
        help="'all' runs digits, office and synthetic (digits-full takes hours on a CPU)",
    )
    parser.add_argument(
        "--params", type=json.loads, default={},
        help='JSON {method: {param: value}}, e.g. \'{"DeepCORAL": {"reg": 1.0}}\'',
    )
    parser.add_argument("--methods", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--epochs", type=int, default=None, help="override n_epochs")
    parser.add_argument(
        "--max-samples",
        type=int,
        default=None,
        help="subsample each digits domain (default: the preset's)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="torch CPU threads (1 is faster on a busy machine)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the results to this file")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / "src"))
    import torch

    import shiftlab.deep as deep
    from shiftlab.deep.training import resolve_device

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    args.device = str(device)
    variant = "gpu" if device.type == "cuda" else "cpu"
    from shiftlab.bench.definition import load_definition

    preset = load_definition(f"deep-{variant}")  # the TOML preset
    names = [s.name for s in deep.list_deep_methods()]
    if args.methods:
        names = [deep.get_deep_method(m.strip()).name for m in args.methods.split(",")]
    if "SourceOnly" in names:  # source-free methods start from it: run it first
        names.remove("SourceOnly")
        names.insert(0, "SourceOnly")
    print(
        f"# deep bench on {device} ({platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads), torch {torch.__version__}, preset {variant}"
    )
    if device.type == "cuda":
        print(f"# GPU: {torch.cuda.get_device_name(device)}")
    rows: list[dict] = []
    t_all = time.perf_counter()
    if args.dataset in ("digits", "all"):
        entry = next(d for d in preset.datasets if d.name == "mnist_usps")
        training = preset_training(entry, args)
        cap = args.max_samples or entry.max_samples_per_domain
        domains = load_digits_jda()
        rng = np.random.default_rng(args.seed)
        for src, tgt in (("mnist", "usps"), ("usps", "mnist")):
            (Xs, ys), (Xt, yt) = domains[src], domains[tgt]
            if cap:
                i = rng.permutation(len(ys))[:cap]
                j = rng.permutation(len(yt))[:cap]
                Xs, ys, Xt, yt = Xs[i], ys[i], Xt[j], yt[j]
            run_task(f"{src}->{tgt}", Xs, ys, Xt, yt, names, training, args, rows)
    if args.dataset == "digits-full":
        run_digits_full(names, args, rows)
    if args.dataset in ("office", "all"):
        entry = next(d for d in preset.datasets if d.name == "office_caltech10_googlenet")
        training = preset_training(entry, args)
        domains = load_office_googlenet()
        for src, tgt in (("amazon", "webcam"), ("webcam", "amazon")):
            (Xs, ys), (Xt, yt) = domains[src], domains[tgt]
            run_task(f"{src}->{tgt}", Xs, ys, Xt, yt, names, training, args, rows)
    if args.dataset in ("synthetic", "all"):
        from shiftlab.data.simulate import make_rotated_clusters

        training = {"backbone": "mlp", "n_epochs": args.epochs or 15, "lr": 1e-3, "batch_size": 64}
        Xs, ys, Xt, yt = make_rotated_clusters(seed=args.seed)
        run_task("synthetic", Xs, ys, Xt, yt, names, training, args, rows)
    total = time.perf_counter() - t_all
    print("\n| task | method | target acc | speed | fit (s) |\n|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['task']} | {r['method']} | {r['target_accuracy']:.3f} | "
            f"{r['rate']:.2f} {r['rate_unit']} | {r['fit_seconds']:.1f} |"
        )
    print(f"\ntotal {total:.0f} s")
    if args.json:
        meta = {
            "device": str(device),
            "torch": torch.__version__,
            "threads": args.threads,
            "preset": "deep-digits" if args.dataset == "digits-full" else variant,
            "mnist_split": getattr(args, "mnist_split", None),
            "total_seconds": round(total, 1),
        }
        Path(args.json).write_text(json.dumps({"meta": meta, "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
