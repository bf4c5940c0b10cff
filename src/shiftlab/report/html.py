"""A self-contained HTML report of a benchmark run, plus CSV / Markdown / LaTeX tables.

The page embeds its styles and its figures (inline SVG drawn with matplotlib), loads no
script and no external resource, and so works offline and from a file:// URL.
"""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

import shiftlab.report.aggregate as agg
from shiftlab.selection._table import TARGET_ONLY

__all__ = ["render_html", "table_to_latex", "table_to_markdown", "write_report"]

#: The look every shiftlab page shares (the report, the diagnosis): text and tables.
PAGE_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;color:#1d2733;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #e3e8ee;
padding-bottom:.2rem;font-size:1.25rem}.sub{color:#5b6b7c}
table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}
th,td{padding:.3rem .6rem;border-bottom:1px solid #e3e8ee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}thead th{background:#f4f6f9}
"""

_CSS = PAGE_CSS + """tr.baseline td{background:#fafbfc;font-style:italic}
td.best{font-weight:700}.up{color:#0a7d32}.down{color:#b3261e}
.note{font-size:.85rem;color:#5b6b7c}details{margin:.4rem 0}summary{cursor:pointer}
.oracle{color:#8a4b00}.fig{margin:1rem 0}code{background:#f4f6f9;padding:0 .2rem}
"""


# ---------------------------------------------------------------- formatting
def _fmt(m, s) -> str:
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "–"
    if s is None or pd.isna(s):  # one outer split: a mean without a spread
        return f"{m:.3f}"
    return f"{m:.3f} ± {s:.3f}"


def _datasets_of(table: pd.DataFrame) -> list[str]:
    return sorted({c[0] for c in table.columns if isinstance(c, tuple)})


def _table_html(table: pd.DataFrame, caption: str, css_class: str = "") -> str:
    if table.empty:
        return f"<p class='note'>{html.escape(caption)}: no result yet.</p>"
    datasets = _datasets_of(table)
    # The target-only bound is never "best"; it and the source-only reference are shaded.
    bounds = [m for m, role in table.attrs.get("roles", {}).items() if role == TARGET_ONLY]
    reference = table.attrs.get("reference") or "the source-only reference"
    ref = html.escape(reference)
    best = {}
    for d in datasets:
        col = table[(d, "mean")].drop(labels=bounds, errors="ignore")
        best[d] = col.max() if col.notna().any() else None
    out = [f"<table class='{css_class}'><caption class='note'>{html.escape(caption)}</caption>"]
    out.append("<thead><tr><th>method</th><th>scorer</th>")
    out += [f"<th>{html.escape(d)}</th>" for d in datasets]
    n_tasks = table.attrs.get("rank_tasks")
    rank_head = "avg. rank" if n_tasks is None else (
        f"avg. rank ({n_tasks} task{'s' if n_tasks != 1 else ''}"
        + ("; too few to rank" if n_tasks < 2 else "") + ")")
    out.append(f"<th>{html.escape(rank_head)}</th></tr></thead><tbody>")
    for method, row in table.iterrows():
        cls = " class='baseline'" if method == reference or method in bounds else ""
        scorer = row.get("scorer", "")
        scorer_txt = "" if scorer == agg.BASELINE_SCORER else str(scorer)
        if scorer == agg.ORACLE:
            scorer_txt = "<span class='oracle'>oracle (target labels)</span>"
        else:
            scorer_txt = html.escape(scorer_txt)
        out.append(f"<tr{cls}><td>{html.escape(str(method))}</td><td>{scorer_txt}</td>")
        for d in datasets:
            m = row.get((d, "mean"), np.nan)
            s = row.get((d, "std"), np.nan)
            w = row.get((d, "wilcoxon"), 0)
            mark = ""
            if w == 1:
                mark = f" <span class='up' title='better than {ref} (Wilcoxon p<0.05)'>▲</span>"
            elif w == -1:
                mark = f" <span class='down' title='worse than {ref} (Wilcoxon p<0.05)'>▼</span>"
            is_best = best[d] is not None and not pd.isna(m) and m >= best[d] - 1e-12 and (
                method not in bounds
            )
            td = "<td class='best'>" if is_best else "<td>"
            out.append(f"{td}{_fmt(m, s)}{mark}</td>")
        rank = row.get("rank", np.nan)
        out.append(f"<td>{'' if pd.isna(rank) else f'{rank:.2f}'}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _frame_html(frame: pd.DataFrame, float_fmt: str = "{:.3f}") -> str:
    if frame.empty:
        return "<p class='note'>nothing to show.</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for v in row:
            if isinstance(v, float | np.floating):
                cells.append(f"<td>{'–' if np.isnan(v) else float_fmt.format(v)}</td>")
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


# ------------------------------------------------------------------- figures
def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.find("<svg"):]


def _cd_diagram(ranks: pd.Series, cd: float, n_tasks: int) -> str:
    """Critical-difference diagram: methods on the average-rank axis, CD bar on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(ranks)
    if k < 2:
        return "<p class='note'>a diagram needs at least two methods.</p>"
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.28 * k))
    lo, hi = 1, max(k, 2)
    ax.set_xlim(lo - 0.3, hi + 0.3)
    ax.set_ylim(-(k + 1), 1.6)
    ax.hlines(0, lo, hi, color="black")
    for r in range(lo, hi + 1):
        ax.vlines(r, -0.08, 0.08, color="black")
        ax.text(r, 0.22, str(r), ha="center", fontsize=8)
    for i, (method, rank) in enumerate(ranks.items()):
        y = -(i + 1)
        ax.plot([rank, rank], [0, y], color="#4a6fa5", lw=0.8)
        ax.plot(rank, 0, "o", color="#4a6fa5", ms=3)
        ax.text(rank + 0.05, y, f"{method} ({rank:.2f})", va="center", fontsize=8)
    if np.isfinite(cd):
        ax.hlines(1.1, lo, lo + cd, color="#b3261e", lw=3)
        ax.text(lo + cd / 2, 1.3, f"CD = {cd:.2f} (Nemenyi, α=0.05, {n_tasks} tasks)",
                ha="center", fontsize=8, color="#b3261e")
        # Groups of methods whose ranks differ by less than CD are joined by a bar.
        values = ranks.to_numpy()
        y = -0.5
        for i in range(k):
            j = max(jj for jj in range(i, k) if values[jj] - values[i] < cd)
            if j > i and (i == 0 or values[j] - values[i - 1] >= cd):
                ax.hlines(y, values[i] - 0.03, values[j] + 0.03, color="#888", lw=2.5)
                y -= 0.25
    ax.axis("off")
    ax.set_title("average rank over tasks (lower is better)", fontsize=9)
    return _svg(fig)


def _reliability_plot(results: pd.DataFrame, truth: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cand = results[~results["scorer"].isin([agg.ORACLE, agg.BASELINE_SCORER])]
    cand = cand[np.isfinite(cand["inner_score"].astype(float))
                & np.isfinite(cand[truth].astype(float))]
    scorers = sorted(cand["scorer"].unique())
    if not scorers:
        return "<p class='note'>no candidate scores to plot.</p>"
    ncol = min(4, len(scorers))
    nrow = math.ceil(len(scorers) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.1 * ncol, 2.6 * nrow), squeeze=False)
    for ax, scorer in zip(axes.ravel(), scorers, strict=False):
        g = cand[cand["scorer"] == scorer]
        # Scores live on different scales per task; rank them within each group.
        x = g.groupby(["dataset", "task", "method", "outer_split"])["inner_score"].rank(pct=True)
        ax.scatter(x, g[truth], s=6, alpha=0.5, color="#4a6fa5")
        ax.set_title(scorer, fontsize=9)
        ax.set_xlabel("inner score (percentile in its search)", fontsize=7)
        ax.set_ylabel("target accuracy", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(scorers):]:
        ax.axis("off")
    fig.tight_layout()
    return _svg(fig)


# ------------------------------------------------------------------- exports
def _flat(table: pd.DataFrame) -> pd.DataFrame:
    datasets = _datasets_of(table)
    out = pd.DataFrame(index=table.index)
    out["scorer"] = table["scorer"]
    for d in datasets:
        out[f"{d} mean"] = table[(d, "mean")]
        out[f"{d} std"] = table[(d, "std")]
        out[f"{d} vs Train Src"] = table[(d, "wilcoxon")].map({1: "+", -1: "-", 0: ""})
    out["rank"] = table["rank"]
    return out


def table_to_markdown(table: pd.DataFrame) -> str:
    """GitHub-flavoured Markdown of a main table (mean ± std, ▲/▼ markers, rank)."""
    if table.empty:
        return "(no results)\n"
    datasets = _datasets_of(table)
    lines = ["| method | scorer | " + " | ".join(datasets) + " | rank |",
             "|---|---|" + "---|" * len(datasets) + "---|"]
    for method, row in table.iterrows():
        cells = []
        for d in datasets:
            w = row.get((d, "wilcoxon"), 0)
            mark = " ▲" if w == 1 else (" ▼" if w == -1 else "")
            cells.append(_fmt(row.get((d, "mean")), row.get((d, "std"))) + mark)
        rank = row.get("rank", np.nan)
        lines.append(f"| {method} | {row.get('scorer', '')} | " + " | ".join(cells)
                     + f" | {'' if pd.isna(rank) else f'{rank:.2f}'} |")
    return "\n".join(lines) + "\n"


def table_to_latex(table: pd.DataFrame, caption: str = "") -> str:
    """A booktabs LaTeX table of a main table."""
    if table.empty:
        return "% no results\n"
    datasets = _datasets_of(table)

    def esc(s: str) -> str:
        for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                     ("#", r"\#"), ("$", r"\$")):
            s = s.replace(a, b)
        return s

    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{ll" + "c" * len(datasets) + "c}", r"\toprule",
             "Method & Scorer & " + " & ".join(esc(d) for d in datasets) + r" & Rank \\",
             r"\midrule"]
    for method, row in table.iterrows():
        cells = []
        for d in datasets:
            m, s = row.get((d, "mean")), row.get((d, "std"))
            w = row.get((d, "wilcoxon"), 0)
            mark = r"$^\uparrow$" if w == 1 else (r"$^\downarrow$" if w == -1 else "")
            cells.append("--" if m is None or pd.isna(m) else (
                f"{m:.2f}{mark}" if pd.isna(s) else f"{m:.2f}$\\pm${s:.2f}{mark}"))
        rank = row.get("rank", np.nan)
        lines.append(f"{esc(str(method))} & {esc(str(row.get('scorer', '')))} & "
                     + " & ".join(cells) + f" & {'' if pd.isna(rank) else f'{rank:.2f}'} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(r"\caption{" + esc(caption) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- page
def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _read_run(folder: Path):
    """A run folder's verified rows (of the jobs it last planned), metadata and failures."""
    from shiftlab.bench.store import RunStore

    store = RunStore(folder)
    if not store.exists():
        raise FileNotFoundError(f"{folder} holds no benchmark run (no run.json).")
    # The jobs of the definition last run (a folder may keep results of earlier
    # definitions); every results file is checked against the manifest first.
    plan = store.read_plan()
    results = store.results({job["key"] for job in plan} if plan is not None else None)
    return results, store.read_meta(), store.failures()


def render_html(results: pd.DataFrame, meta: dict, failures: pd.DataFrame | None = None) -> str:
    """The report page as one HTML string."""
    title = f"shiftlab benchmark: {meta.get('name', 'run')}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"]
    parts.append(f"<h1>{html.escape(title)}</h1>")
    n_rows = len(results)
    n_tasks = results.groupby(["dataset", "task"]).ngroups if n_rows else 0
    parts.append(
        f"<p class='sub'>{n_tasks} tasks, {results['method'].nunique() if n_rows else 0} "
        f"methods, {n_rows} result rows. Target accuracy on the outer test splits; "
        "mean ± std over outer splits, averaged over the tasks of each dataset. "
        "▲/▼: significantly better/worse than Train Src (Wilcoxon signed-rank over "
        "tasks × splits, p&lt;0.05). Bold: best method per dataset.</p>"
    )
    if n_rows and results["method"].astype(str).str.startswith("shiftlab: ").any():
        parts.append(
            "<p class='sub'>Rows <b>shiftlab: &lt;selector&gt;</b> are what a user gets by "
            "letting shiftlab choose across every method of the run, source-only included, "
            "with that selector (Average and IWA deploy an ensemble of the refitted "
            "candidates); <b>shiftlab: oracle</b> chooses with target labels and is not "
            "achievable in deployment.</p>")
    metric = (meta.get("definition") or {}).get("selection_metric", "accuracy")
    parts.append(f"<p class='sub'>Selection metric of the label-based scorers (SrcVal, IW, "
                 f"DEV, CircV, oracle): <b>{html.escape(str(metric))}</b>.</p>")
    checks = agg.sanity_checks(results) if n_rows else []
    if checks:
        parts.append("<h2>Sanity checks</h2><ul>" + "".join(
            f"<li>{html.escape(c)}</li>" for c in checks) + "</ul>")
    if not n_rows:
        parts.append("<p>No finished job yet.</p>")
    else:
        realistic = agg.main_table(results, "realistic")
        parts.append("<h2>Realistic selection (no target label)</h2>")
        parts.append(_table_html(realistic, "Each method uses its best unsupervised scorer "
                                 "(column 'scorer'), as in SKADA-Bench."))
        parts.append("<h2 class='oracle'>Oracle selection (uses target labels)</h2>")
        parts.append("<p class='note'>Hyperparameters chosen with the target labels of the "
                     "inner validation folds: not achievable in deployment, shown only as a "
                     "reference for what a perfect scorer would give.</p>")
        parts.append(_table_html(agg.main_table(results, "oracle"), "Oracle scorer."))

        parts.append("<h2>Critical-difference diagram (realistic selection)</h2>")
        sel = agg.selected_rows(results)
        rows = agg._choose(sel, "realistic", "test_accuracy")
        ranks, n_t = agg.average_ranks(rows)
        cd = agg.critical_difference(len(ranks), n_t)
        parts.append(f"<div class='fig'>{_cd_diagram(ranks, cd, n_t)}</div>")

        parts.append("<h2>Per-scorer comparison</h2>")
        per_scorer = sel[sel["scorer"] != agg.BASELINE_SCORER].pivot_table(
            index="method", columns="scorer", values="test_accuracy", aggfunc="mean"
        )
        parts.append(_frame_html(per_scorer.reset_index()))

        truth = "test_accuracy"
        parts.append("<h2>Scorer reliability</h2>")
        parts.append("<p class='note'>Spearman correlation between each scorer's inner "
                     "score and the candidate's target accuracy (pooled, and averaged per "
                     "search), and the regret of its selection against the oracle's.</p>")
        parts.append(_frame_html(agg.scorer_reliability(results, truth)))
        plot = _reliability_plot(agg.with_candidate_truth(results, truth), "candidate_truth")
        parts.append(f"<div class='fig'>{plot}</div>")

        parts.append("<h2>Per-task results</h2>")
        tasks = agg.task_table(results)
        for (dataset, task), grp in tasks.groupby(["dataset", "task"]):
            body = grp.drop(columns=["dataset", "task"]).sort_values("mean", ascending=False)
            parts.append(f"<details><summary>{html.escape(dataset)}: {html.escape(task)}"
                         f"</summary>{_frame_html(body)}</details>")

        if "base_estimator" in results and results["base_estimator"].notna().any():
            # How the rows were obtained: the estimator after every adapter, per task
            # (the definition's, the one SKADA-Bench's first stage chose, or a method's
            # own from dataset_estimators), with the methods that ran on it.
            chosen = (results.dropna(subset=["base_estimator"])
                      .groupby(["dataset", "task", "base_estimator"])["method"]
                      .agg(lambda s: ", ".join(sorted(set(s)))).reset_index()
                      .rename(columns={"method": "methods"}))
            parts.append("<h2>Base estimators</h2>" + _frame_html(chosen))

        parts.append("<h2>Timing</h2>")
        if "job_seconds" in results:
            timing = results.drop_duplicates("job_key") if "job_key" in results else results
            t = timing.groupby("method")["job_seconds"].agg(["count", "mean", "sum"])
            t.columns = ["jobs", "mean s / job", "total s"]
            if "job_cpu_seconds" in timing:  # CPU: what a job costs on a shared machine
                t["mean CPU s / job"] = timing.groupby("method")["job_cpu_seconds"].mean()
            parts.append(_frame_html(t.reset_index(), "{:.2f}"))

    if failures is not None and not failures.empty:
        parts.append("<h2>Failed jobs</h2>")
        cols = [c for c in ("label", "error_type", "error") if c in failures]
        parts.append(_frame_html(failures[cols]))

    parts.append("<h2>Provenance</h2>")
    prov = {k: meta.get(k) for k in ("definition_digest", "started", "finished", "host")}
    prov["versions"] = meta.get("versions")
    prov["protocol"] = (meta.get("definition") or {}).get("protocol")
    parts.append("<pre>" + html.escape(json.dumps(prov, indent=2, default=str)) + "</pre>")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(run_dir: str | Path | list, out: str | Path | None = None) -> Path:
    """Write ``report.html`` and the main tables as CSV, Markdown and LaTeX.

    Parameters
    ----------
    run_dir : path, or list of paths
        A run folder, or several reported as one (e.g. the same benchmark run in two
        folders, one per subsampling): their verified rows are concatenated; a job
        present in two folders counts once (the first folder's).
    out : path, optional
        The HTML file (default ``report.html`` in the first run folder).

    Returns the path of the HTML file.
    """
    folders = [Path(p) for p in run_dir] if isinstance(run_dir, list | tuple) else [Path(run_dir)]
    if not folders:
        raise ValueError("No run folder to report.")
    runs = [_read_run(folder) for folder in folders]  # (results, meta, failures) each
    # A job stored in two folders (same key: same data, split, method and code) counts
    # once, from the first folder that has it.
    seen: set[str] = set()
    kept = []
    for frame, _, _ in runs:
        if "job_key" in frame:
            keys = set(frame["job_key"])
            frame = frame[~frame["job_key"].isin(seen)]
            seen |= keys
        kept.append(frame)
    results = _concat(kept)
    failures = _concat([failed for _, _, failed in runs])
    meta = dict(runs[0][1])
    if len(folders) > 1:
        meta["name"] = " + ".join(str(m.get("name", f)) for (_, m, _), f in zip(
            runs, folders, strict=True))
        meta["run_folders"] = [str(f) for f in folders]
    out = Path(out) if out is not None else folders[0] / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    page = render_html(results, meta, failures)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    if not results.empty:
        for mode in ("realistic", "oracle"):
            table = agg.main_table(results, mode)
            stem = out.parent / f"table_{mode}"
            _flat(table).to_csv(stem.with_suffix(".csv"))
            stem.with_suffix(".md").write_text(table_to_markdown(table), encoding="utf-8")
            stem.with_suffix(".tex").write_text(
                table_to_latex(table, f"Target accuracy, {mode} selection."), encoding="utf-8"
            )
    return out
