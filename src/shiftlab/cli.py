"""The ``shiftlab`` command line.

Every sub-command prints one readable error line (and exits with status 1) when
something goes wrong; ``shiftlab --debug ...`` shows the full traceback instead.
Heavy modules are imported inside the commands so that ``shiftlab --help`` is instant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from shiftlab import __version__

SHIFT_KINDS = ("covariate", "target", "conditional", "subspace")


class _FriendlyGroup(click.Group):
    """A click group that turns exceptions into one line unless ``--debug`` is on."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted. A benchmark run folder stays resumable: run the same "
                       "command again.", err=True)
            sys.exit(130)
        except Exception as exc:  # the CLI's last line of defence
            if (ctx.obj or {}).get("debug"):
                raise
            message = str(exc).strip() or type(exc).__name__
            if isinstance(exc, KeyError) and message.startswith("'") and message.endswith("'"):
                message = message[1:-1]
            click.echo(f"error: {message}", err=True)
            click.echo("(run `shiftlab --debug ...` for the full traceback)", err=True)
            sys.exit(1)


def _console():
    from rich.console import Console

    return Console()


@click.group(cls=_FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shiftlab")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """shiftlab: domain adaptation methods, label-free model selection and benchmarks."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# ------------------------------------------------------------------ datasets
@main.group(cls=_FriendlyGroup, invoke_without_command=True)
@click.option("--data-home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data home to look in (default: $SHIFTLAB_DATA or the per-user cache).")
@click.option("--recheck", is_flag=True,
              help="Hash every local file again instead of trusting the digests cached in "
                   "<data home>/.verified.json.")
@click.pass_context
def datasets(ctx: click.Context, data_home: Path | None, recheck: bool) -> None:
    """List the real datasets of the catalog and whether they are available locally.

    The local column checks each present file's sha256 against the catalog: yes, no,
    partial (a needed file is missing) or corrupt (a file fails its check).
    """
    ctx.obj["data_home"] = data_home
    ctx.obj["recheck"] = recheck
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from shiftlab.data.catalog import catalog, local_state
    from shiftlab.data.home import get_data_home

    home = get_data_home(data_home)
    table = Table(title=f"shiftlab datasets (data home: {home})")
    for col in ("name", "modality", "domains", "samples", "features", "classes", "local"):
        table.add_column(col, overflow="fold")
    problems = []
    for info in catalog():
        d = info.to_dict()
        state = local_state(info.name, data_home, recheck=recheck)
        if state.file is not None:
            problems.append(f"{info.name}: {state.advice(info.name)}")
        table.add_row(
            d["name"],
            d["modality"],
            ", ".join(d["domains"]),
            str(sum(d["sizes"].values())) if d.get("sizes") else "?",
            str(d.get("n_features", "?")),
            str(d.get("n_classes", "?")),
            state.state,
        )
    _console().print(table)
    for line in problems:  # plain echo: file paths must not be folded or read as markup
        click.echo(line)


@datasets.command("info")
@click.argument("name")
@click.pass_context
def datasets_info(ctx: click.Context, name: str) -> None:
    """Show the catalog entry of dataset NAME (domains, sizes, citation, licence, files)."""
    from rich.table import Table

    from shiftlab.data.catalog import dataset_info, local_state

    d = dataset_info(name).to_dict()
    table = Table(show_header=False, title=d["name"])
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in d.items():
        if key == "files":
            value = "\n".join(f"{f['path']}  sha256={f['sha256'][:12]}…" for f in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list | tuple):
            value = ", ".join(map(str, value))
        table.add_row(key, str(value))
    state = local_state(name, ctx.obj.get("data_home"), recheck=ctx.obj.get("recheck", False))
    table.add_row("available locally", state.state)
    _console().print(table)
    if state.file is not None:
        click.echo(f"{d['name']}: {state.advice(d['name'])}")


# ------------------------------------------------------------------ simulate
@main.command()
@click.argument("shift", type=click.Choice(SHIFT_KINDS))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file (.npz), readable with DomainDataset.load.")
@click.option("--generator", type=click.Choice(["blobs", "gaussians"]), default="blobs",
              show_default=True,
              help="blobs: SKADA-Bench's 2-D generators; gaussians: high-dimensional.")
@click.option("--n-source", type=click.IntRange(min=2), default=None,
              help="Source samples (generator default if omitted).")
@click.option("--n-target", type=click.IntRange(min=1), default=None,
              help="Target samples (generator default if omitted).")
@click.option("--n-features", type=click.IntRange(min=2), default=50, show_default=True,
              help="Features (gaussians only).")
@click.option("--n-classes", type=click.IntRange(min=2), default=5, show_default=True,
              help="Classes (gaussians only).")
@click.option("--strength", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Shift strength (gaussians only; 0 means no shift).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
def simulate(shift, out, generator, n_source, n_target, n_features, n_classes, strength, seed):
    """Simulate a dataset with a SHIFT of a known kind and write it to a file."""
    from shiftlab.data import simulate as sim

    sizes = {}
    if n_source is not None:
        sizes["n_samples_source"] = n_source
    if n_target is not None:
        sizes["n_samples_target"] = n_target
    if generator == "blobs":
        ds = sim.make_shifted_blobs(shift, random_state=seed, **sizes)
    else:
        ds = sim.make_shifted_gaussians(
            shift, n_features=n_features, n_classes=n_classes, strength=strength,
            random_state=seed, **sizes,
        )
    path = ds.save(out)
    click.echo(f"wrote {path} ({ds!r})")


# ---------------------------------------------------------------------- demo
@main.command()
@click.option("--shift", type=click.Choice(SHIFT_KINDS), default="conditional",
              show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def demo(shift: str, seed: int) -> None:
    """Small end-to-end demo: simulate a shift, train on source, score source and target."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from shiftlab.data.simulate import make_shifted_blobs

    ds = make_shifted_blobs(shift, random_state=seed)
    Xs, ys = ds["source"]
    Xt, yt = ds["target"]
    Xtr, Xte, ytr, yte = train_test_split(Xs, ys, test_size=0.3, random_state=seed, stratify=ys)
    model = LogisticRegression().fit(Xtr, ytr)
    src, tgt = model.score(Xte, yte), model.score(Xt, yt)
    click.echo(f"{shift} shift, source-only logistic regression (seed {seed}):")
    click.echo(f"  source accuracy (held-out source): {src:.3f}")
    click.echo(f"  target accuracy:                   {tgt:.3f}")
    click.echo(f"  drop caused by the shift:          {src - tgt:+.3f}")


# ----------------------------------------------------------------- benchmark
@main.command()
@click.argument("definition")
@click.option("-o", "--out", "run_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Run folder (default: ./shiftlab-runs/<name>). Re-running "
              "with the same folder resumes.")
@click.option("--executor", type=click.Choice(["inprocess", "local", "dask"]), default=None,
              help="Override the definition's executor.")
@click.option("-j", "--n-jobs", type=int, default=None,
              help="Local worker processes (-1: all cores).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Per-job time limit in seconds.")
@click.option("--dask-address", default=None,
              help="Dask scheduler address (e.g. tcp://host:8786); implies --executor dask.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
              help="Override the definition's device of deep methods.")
@click.option("--retry-failed", is_flag=True, help="Run again jobs that failed before.")
@click.option("--dry-run", is_flag=True,
              help="Only count jobs and cached results; estimate wall time, CPU-hours, disk.")
@click.option("--report/--no-report", default=True, show_default=True,
              help="Write the HTML report at the end.")
@click.option("--dask-tls-ca-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="CA certificate (PEM) of the Dask cluster: connect over TLS.")
@click.option("--dask-tls-cert-file", type=click.Path(dir_okay=False, exists=True),
              default=None, help="This client's TLS certificate (PEM) for the Dask cluster.")
@click.option("--dask-tls-key-file", type=click.Path(dir_okay=False, exists=True),
              default=None, help="This client's TLS private key (PEM) for the Dask cluster.")
def run(definition, run_dir, executor, n_jobs, timeout, dask_address, device, retry_failed,
        dry_run, report, dask_tls_ca_file, dask_tls_cert_file, dask_tls_key_file):
    """Run (or resume) the benchmark DEFINITION: a .toml file or a preset name.

    \b
    Security and trust (README, "Security and trust"): the definition, the run folder
    and the Dask cluster are trusted inputs. Results are verified against the folder's
    manifest; records (pickles) are loaded only when their HMAC tag, keyed by a secret
    outside the folder, matches. Beyond one machine, run Dask over TLS
    (--dask-tls-*-file or [execution] dask_tls_*_file).
    """
    from shiftlab.bench.definition import load_definition
    from shiftlab.bench.runner import run_benchmark

    if dask_address and executor is None:
        executor = "dask"
    definition = load_definition(definition)
    if device is not None:
        definition = definition.with_execution(device=device)
    definition = definition.with_execution(
        dask_tls_ca_file=dask_tls_ca_file, dask_tls_cert_file=dask_tls_cert_file,
        dask_tls_key_file=dask_tls_key_file,
    )
    summary = run_benchmark(
        definition, run_dir, executor=executor, n_jobs=n_jobs, timeout=timeout,
        dask_address=dask_address, retry_failed=retry_failed, dry_run=dry_run,
    )
    if dry_run:
        ex = definition.execution
        click.echo(f"plan of {definition.name}: {definition.protocol.outer_splits} outer x "
                   f"{definition.protocol.inner_splits} inner splits, "
                   f"{len(definition.scorers)} scorers, executor {executor or ex.executor}"
                   + (f", device {ex.device}" if definition.has_deep else ""))
        for row in summary.plan:
            deep = f" ({row['deep_methods']} deep)" if row["deep_methods"] else ""
            click.echo(f"  {row['dataset']}: {row['tasks']} tasks x {row['outer_splits']} "
                       f"outer splits x {row['methods']} methods{deep} = {row['jobs']} jobs, "
                       f"{row['todo']} to run")
        click.echo(
            f"{summary.n_jobs} jobs: {summary.n_cached} cached, {summary.n_todo} to run"
            + (f", {summary.n_previously_failed} failed before (use --retry-failed)"
               if summary.n_previously_failed else "")
            + ("" if not summary.n_todo else
               f"; {summary.estimate}" if getattr(summary, "estimate", None) else
               "; no timing known yet for an estimate")
        )
        for note in getattr(summary, "notes", []):
            click.echo(f"note: {note}")
        return
    click.echo(str(summary))
    for failure in summary.failures[:10]:
        click.echo(f"  failed: {failure['label']}: {failure['error_type']}: "
                   f"{str(failure['error'])[:200]}", err=True)
    if report:
        from shiftlab.report import write_report

        path = write_report(summary.run_dir)
        click.echo(f"report: {path.resolve()}")


@main.command()
@click.argument("run_dirs", nargs=-1, required=True,
                type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file to write (default: report.html in the first run folder).")
def report(run_dirs, out):
    """Write the HTML report (plus CSV, Markdown and LaTeX tables) of one run, or of
    several run folders reported as one (shiftlab report RUN1 RUN2 -o both.html)."""
    from shiftlab.report import write_report

    path = write_report(list(run_dirs), out)
    click.echo(f"report: {path.resolve()}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
def status(run_dir):
    """Counts of a run's jobs: done (verified), corrupt, running, failed, to do.

    Reads the run folder only (its plan and manifest): no dataset is loaded and nothing
    is written, so it is safe to call while the run goes on.
    """
    from shiftlab.bench.runner import run_status

    counts = run_status(run_dir)
    click.echo("  ".join(f"{k}: {v}" for k, v in counts.items()))


# ------------------------------------------------------------------ select / predict
@main.command("select")
@click.argument("definition")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("model.skops"), show_default=True,
              help="Model file to write (.skops); the model card goes beside it (.card.md).")
@click.option("--dataset", default=None, help="Dataset of the definition (if it has several).")
@click.option("--task", default=None,
              help='Task "SOURCE->TARGET" ("S1+S2->TARGET"; if the definition has several).')
@click.option("--selector", default=None,
              help="Selector: EnsV, Average, IWA, safe, zconsensus or a realistic scorer "
              "(default: the first of the definition's [scorers] pool).")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder of `shiftlab run` on this definition, read for the model "
              "card's outer-split scores (default: shiftlab-runs/<name>).")
def select_(definition, out, dataset, task, selector, run_dir):
    """Choose a model for a task's target domain with the definition's pool, fit it on
    all rows and save it (skops) with a model card.

    \b
    The target rows are used without labels (their label cells may be empty). The
    selection is the one `shiftlab run` scored as "shiftlab: <selector>": run that first
    to have its outer-split scores in the card.
    Example: shiftlab select clinics.toml --task "north+east->south" -o clinic.skops
    """
    from shiftlab.bench.deploy import save_model, select_model

    model = select_model(definition, dataset=dataset, task=task, selector=selector,
                         run_dir=run_dir)
    path, card = save_model(model, out)
    click.echo(f"chosen: {model.card['chosen']}")
    estimate = model.card.get("outer_split_estimate")
    if estimate:
        for metric, row in estimate["metrics"].items():
            click.echo(f"{metric} over {estimate['n_outer_splits']} outer splits: "
                       f"{row['min']:.3f} to {row['max']:.3f} (mean {row['mean']:.3f}; "
                       f"source-only {row.get('source_only_mean', float('nan')):.3f})")
    else:
        click.echo(f"no outer-split estimate: {model.card['no_estimate_reason']}")
    click.echo(f"model: {path.resolve()}")
    click.echo(f"card: {card.resolve()}")


@main.command("predict")
@click.argument("model_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("data", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write (.csv or .parquet): DATA's rows with `prediction` and one "
              "`proba_<class>` column per class.")
def predict_(model_file, data, out):
    """Predict the rows of a table DATA (CSV, Parquet, .npz of columns) with a model
    written by `shiftlab select`. Feature columns are matched by name."""
    from shiftlab.bench.deploy import load_model
    from shiftlab.data.tables import read_frame
    from shiftlab.exceptions import DataValidationError

    if out.suffix.lower() not in (".csv", ".parquet"):
        raise DataValidationError(f"-o {out}: write predictions to a .csv or .parquet file.")
    model = load_model(model_file)
    frame = read_frame(data)
    predictions = model.predict_frame(frame, where=str(data))
    table = _with_predictions(frame, predictions)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        table.to_csv(out, index=False)
    else:
        table.to_parquet(out, index=False)
    counts = predictions["prediction"].value_counts().to_dict()
    click.echo(f"{len(table)} rows predicted: {counts}")
    click.echo(f"predictions: {out.resolve()}")


def _with_predictions(frame, predictions):
    """DATA's columns, then the predictions (a clash is renamed ``<name>_input``)."""
    clash = {c: f"{c}_input" for c in frame.columns if c in predictions.columns}
    return frame.rename(columns=clash).join(predictions)


# ------------------------------------------------------------------ diagnose
@main.command("diagnose")
@click.argument("data", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--domain", "domain_col", default=None,
              help="Column naming each row's domain (site, year, ...).")
@click.option("--label", "label_col", default=None,
              help="Label column; an empty cell is an unknown label.")
@click.option("--source", "sources", multiple=True,
              help="Source domain; repeat for several (merged). Default: every domain but "
              "the target.")
@click.option("--target", default=None,
              help="Target domain. Default: the domain with the most unlabelled rows, else "
              "the last one.")
@click.option("--features", multiple=True,
              help="Feature columns (repeat, or separate with commas). Default: every other "
              "column.")
@click.option("--categorical", multiple=True,
              help="Numeric feature columns to treat as categories (repeat, or commas).")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML page to write (default: <DATA stem>.diagnosis.html here); the "
              "numbers go beside it, with the suffix .json.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--n-bootstrap", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples of the AUC intervals.")
def diagnose_(data, domain_col, label_col, sources, target, features, categorical, out, seed,
              n_bootstrap):
    """Diagnose the shift between the domains of a table DATA (CSV, Parquet, .npz).

    \b
    Answers: how separable the domains are (domain classifier ROC AUC), the estimated
    target class prior (BBSE, MLLS; target labels are never used), the features that
    shift most, and which family of methods the shift suggests (a hint).
    Example: shiftlab diagnose visits.csv --domain hospital --label outcome -o diag.html
    """
    from shiftlab.data.tables import read_table
    from shiftlab.report.diagnosis import diagnose

    def _split(values):
        return [v.strip() for item in values for v in item.split(",") if v.strip()] or None

    out = out or Path(f"{data.stem}.diagnosis.html")
    json_path = out.with_suffix(".json")
    if json_path == out:
        raise click.BadParameter("give the HTML page's path (e.g. diag.html); the JSON file "
                                 "is written beside it.", param_hint="-o/--out")
    dataset = read_table(data, domain=domain_col, label=label_col, features=_split(features),
                         categorical=_split(categorical))
    diag = diagnose(dataset, list(sources) or None, target, random_state=seed,
                    n_bootstrap=n_bootstrap)
    _console().print(diag.to_rich())
    diag.write_html(out)
    diag.write_json(json_path)
    click.echo(f"wrote {out.resolve()} and {json_path.resolve()}")


@main.command("list")
@click.argument("what", type=click.Choice(["methods", "scorers", "datasets", "presets"]))
def list_(what):
    """List the available methods, scorers, datasets or benchmark presets."""
    from rich.table import Table

    table = Table(title=what)
    if what == "methods":
        from shiftlab.methods.registry import list_methods

        for col in ("name", "family", "designed for", "reference"):
            table.add_column(col, overflow="fold")
        for spec in list_methods():
            table.add_row(spec.name, spec.family, ", ".join(spec.designed_for), spec.reference)
        try:
            from shiftlab.deep.registry import list_deep_methods
        except ImportError:  # torch is an optional extra
            table.caption = "deep methods: install shiftlab[deep] (torch) to list them"
        else:
            for spec in list_deep_methods():
                table.add_row(spec.qualified_name, f"deep {spec.family}", spec.setting,
                              spec.reference)
    elif what == "scorers":
        from shiftlab.selection import get_scorer, list_scorers

        table.add_column("name")
        table.add_column("reads target labels")
        table.add_column("description", overflow="fold")
        for name in list_scorers():
            sc = get_scorer(name)
            doc = (type(sc).__doc__ or "").strip().splitlines()
            table.add_row(name, "yes (oracle)" if sc.uses_target_labels else "no",
                          doc[0] if doc else "")
    elif what == "datasets":
        from shiftlab.bench.datasets import available_dataset_names

        table.add_column("name")
        for name in available_dataset_names():
            table.add_row(name)
    else:
        from shiftlab.bench.definition import list_presets

        table.add_column("preset")
        for name in list_presets():
            table.add_row(name)
    _console().print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
