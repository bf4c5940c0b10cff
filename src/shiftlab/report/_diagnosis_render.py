"""How a :class:`~shiftlab.report.diagnosis.Diagnosis` is shown: plain text, Rich, and
one self-contained HTML page with inline SVG figures."""

from __future__ import annotations

import html
import io
import json
import math
from typing import Any

import numpy as np

from shiftlab.report.diagnosis import _EVALUATOR_LABEL, PLOT_FEATURES, Diagnosis, _clean
from shiftlab.report.html import PAGE_CSS


def _num(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.3f}"


def _p(v) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.1e}" if v < 1e-3 else f"{v:.3f}"


def _pct(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.1f}%"


# =============================================================================
# text
# =============================================================================
def render_text(diag: Diagnosis) -> str:
    """A plain-text summary (what the command line prints, without colours)."""
    lines = [f"Shift diagnosis of {diag.dataset}: {diag._task_line()}",
             f"  {diag.task_reason}",
             f"  rows: source {diag.n_source} ({diag.n_source_labelled} labelled), "
             f"target {diag.n_target}; {diag.n_features} features",
             "",
             "1. Domain separability (domain classifier, out-of-fold ROC AUC)",
             f"  AUC {diag.domain_auc:.3f}, 95% CI {diag._lo_hi(diag.domain_auc_ci)}: "
             f"{diag.covariate_text}"]
    if diag.residual_auc is not None:
        lines.append(f"  after reweighting the source to the estimated target prior: "
                     f"AUC {diag.residual_auc:.3f}, 95% CI "
                     f"{diag._lo_hi(diag.residual_auc_ci)}")
    lines += ["", "2. Label distribution"]
    if diag.source_prior is None:
        lines.append(f"  {diag.prior_text}")
    else:
        lines.append("  classes: " + ", ".join(diag.classes))
        for label, q in diag._prior_rows():
            lines.append(f"  {label}: " + ", ".join(f"{v:.3f}" for v in q))
        lines.append(f"  {diag.prior_text}")
        if diag.evaluator:
            lines.append(f"  {_EVALUATOR_LABEL}: true target prior "
                         + ", ".join(f"{v:.3f}" for v in diag.evaluator["true_prior"])
                         + f" ({diag.evaluator['n_labelled']} labelled target rows)")
    lines += ["", f"3. Features that shift most (top {len(diag.top_features)})"]
    for f in diag.top_features:
        lines.append(f"  {f.name}: {f.test} {_num(f.statistic)} (p={_p(f.p_value)}), "
                     f"SMD {_num(f.smd)}, missing {_pct(f.missing_source)} -> "
                     f"{_pct(f.missing_target)}")
    lines += ["", "4. Suggested family of methods (a hint, not a promise)",
              f"  {diag.hint}"]
    if diag.warnings:
        lines += ["", "Warnings:"] + [f"  ! {w}" for w in diag.warnings]
    if diag.notes:
        lines += ["", "Notes:"] + [f"  - {n}" for n in diag.notes]
    return "\n".join(lines)


def render_rich(diag: Diagnosis):
    """A Rich renderable (tables and coloured text) of the diagnosis."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = [
        Text(f"Shift diagnosis of {diag.dataset}: {diag._task_line()}", style="bold"),
        Text(f"{diag.task_reason} Rows: source {diag.n_source} "
             f"({diag.n_source_labelled} labelled), target {diag.n_target}; "
             f"{diag.n_features} features", style="dim"),
        Text(""),
        Text("1. Domain separability (domain classifier, out-of-fold ROC AUC)",
             style="bold"),
        Text(f"   AUC {diag.domain_auc:.3f}, 95% CI {diag._lo_hi(diag.domain_auc_ci)}: "
             f"{diag.covariate_text}"),
    ]
    if diag.residual_auc is not None:
        parts.append(Text(f"   after reweighting the source to the estimated target prior: "
                          f"AUC {diag.residual_auc:.3f}, 95% CI "
                          f"{diag._lo_hi(diag.residual_auc_ci)}"))
    parts += [Text(""), Text("2. Label distribution", style="bold")]
    if diag.source_prior is not None:
        table = Table(show_edge=False)
        table.add_column("")
        for c in diag.classes:
            table.add_column(c, justify="right")
        for label, q in diag._prior_rows():
            table.add_row(label, *(f"{v:.3f}" for v in q))
        if diag.evaluator:
            table.add_row(Text(f"{_EVALUATOR_LABEL}: true target prior", style="dim"),
                          *(Text(f"{v:.3f}", style="dim")
                            for v in diag.evaluator["true_prior"]))
        parts.append(table)
    parts.append(Text(f"   {diag.prior_text}"))
    parts += [Text(""), Text(f"3. Features that shift most (top {len(diag.top_features)})",
                             style="bold")]
    ftable = Table(show_edge=False)
    for col in ("feature", "test", "statistic", "p-value", "SMD", "missing source",
                "missing target"):
        ftable.add_column(col, justify="left" if col in ("feature", "test") else "right")
    for f in diag.top_features:
        ftable.add_row(f.name, f.test, _num(f.statistic), _p(f.p_value), _num(f.smd),
                       _pct(f.missing_source), _pct(f.missing_target))
    parts.append(ftable)
    parts += [Text(""), Text("4. Suggested family of methods (a hint, not a promise)",
                             style="bold"), Text(f"   {diag.hint}", style="green")]
    for w in diag.warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    for n in diag.notes:
        parts.append(Text(f"note: {n}", style="dim"))
    return Group(*parts)


# =============================================================================
# HTML
# =============================================================================
_CSS = PAGE_CSS + """.hint{background:#eef7f0;border-left:4px solid #0a7d32;padding:.6rem 1rem}
.warn{background:#fff6e5;border-left:4px solid #b36b00;padding:.6rem 1rem;margin:.4rem 0}
.evaluator td{color:#8a4b00;font-style:italic}.note{font-size:.85rem;color:#5b6b7c}
.fig{margin:1rem 0}pre{background:#f4f6f9;padding:.6rem;overflow:auto}
"""

_COLORS = ("#1f77b4", "#ff7f0e")


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.find("<svg"):]


def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _oof_figure(diag: Diagnosis) -> str:
    oof, d = diag._plot["oof"], diag._plot["domain"]
    fig = _figure(6, 2.8)
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 31)
    for k, label in enumerate(("source", "target")):
        ax.hist(oof[d == k], bins=bins, density=True, histtype="step", lw=1.8,
                color=_COLORS[k], label=label)
    ax.set_xlabel("out-of-fold P(target | x) of the domain classifier")
    ax.set_ylabel("density")
    ax.legend(frameon=False)
    return _svg(fig)


def _prior_figure(diag: Diagnosis) -> str:
    rows = diag._prior_rows()
    if diag.evaluator:
        rows.append(("true target prior (evaluator only)", diag.evaluator["true_prior"]))
    k = len(diag.classes)
    fig = _figure(max(4.0, 1.0 + 0.9 * k), 2.8)
    ax = fig.add_subplot()
    width = 0.8 / len(rows)
    for i, (label, q) in enumerate(rows):
        ax.bar(np.arange(k) + (i - (len(rows) - 1) / 2) * width, q, width, label=label,
               hatch="//" if "evaluator" in label else None,
               alpha=0.6 if "evaluator" in label else 1.0)
    ax.set_xticks(np.arange(k), diag.classes)
    ax.set_ylabel("class probability")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8)
    return _svg(fig)


def _features_figure(diag: Diagnosis) -> str:
    shown = [f for f in diag.features[:PLOT_FEATURES]]
    if not shown:
        return ""
    ncols = min(3, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    fig = _figure(4.0 * ncols, 2.8 * nrows)
    for i, f in enumerate(shown):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        xs, xt = diag._plot["features"][f.name]
        vs, vt = xs[~np.isnan(xs)], xt[~np.isnan(xt)]
        if f.kind == "categorical":
            cats = np.union1d(np.unique(vs), np.unique(vt))[:30]
            for k, v in enumerate((vs, vt)):
                freq = [(v == c).mean() if v.size else 0.0 for c in cats]
                ax.bar(np.arange(cats.size) + (k - 0.5) * 0.4, freq, 0.4, color=_COLORS[k],
                       label=("source", "target")[k])
            labels = diag._plot.get("categories", {}).get(f.name) or []
            ax.set_xticks(np.arange(cats.size),
                          [labels[int(c)] if 0 <= int(c) < len(labels) else f"{c:g}"
                           for c in cats], fontsize=7, rotation=30 if cats.size > 6 else 0)
        else:
            both = np.concatenate([vs, vt])
            if both.size:
                lo, hi = np.percentile(both, [0.5, 99.5])
                if hi <= lo:
                    lo, hi = lo - 0.5, hi + 0.5
                bins = np.linspace(lo, hi, 31)
                for k, v in enumerate((vs, vt)):
                    if v.size:
                        ax.hist(np.clip(v, lo, hi), bins=bins, density=True, histtype="step",
                                lw=1.6, color=_COLORS[k], label=("source", "target")[k])
        ax.set_title(f"{f.name}\n{f.test} {_num(f.statistic)}, missing "
                     f"{_pct(f.missing_source)} → {_pct(f.missing_target)}", fontsize=9)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return _svg(fig)


def render_html(diag: Diagnosis) -> str:
    e = html.escape
    title = f"Shift diagnosis: {diag.dataset} ({diag._task_line()})"
    p = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
         f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
         f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
         f"<h1>{e(title)}</h1>",
         f"<p class='sub'>{e(diag.task_reason)} Rows: source {diag.n_source} "
         f"({diag.n_source_labelled} labelled), target {diag.n_target}; "
         f"{diag.n_features} features.</p>",
         "<h2>Suggested family of methods</h2>",
         f"<p class='hint'>{e(diag.hint)}</p>"]
    for w in diag.warnings:
        p.append(f"<p class='warn'>Warning: {e(w)}</p>")

    p.append("<h2>1. How separable are the domains?</h2>")
    p.append(f"<p>Domain classifier ROC AUC (out-of-fold, {diag.provenance.get('cv')}-fold "
             f"stratified): <b>{diag.domain_auc:.3f}</b>, 95% CI "
             f"{e(diag._lo_hi(diag.domain_auc_ci))} (stratified bootstrap, "
             f"{diag.provenance.get('n_bootstrap')} resamples). {e(diag.covariate_text)}.</p>")
    p.append("<p class='note'>About 0.5: no detectable covariate shift; above 0.9: strong "
             "shift. The classifier is a histogram gradient boosting model: it handles missing "
             "values natively (a change of missingness is a shift it can detect), categorical "
             "codes as categories, and non-linear differences. The interval reflects the "
             "sampling of the evaluated rows, not the refitting of the folds.</p>")
    if diag.residual_auc is not None:
        p.append(f"<p>After reweighting the labelled source rows to the MLLS estimate of the "
                 f"target prior: AUC <b>{diag.residual_auc:.3f}</b>, 95% CI "
                 f"{e(diag._lo_hi(diag.residual_auc_ci))} (the same out-of-fold scores, with "
                 "each source row weighted by its class's estimated prior ratio). Under a pure "
                 "label shift the reweighted source has the target's feature distribution and "
                 "this AUC is about 0.5; what remains is shift that the change of class prior "
                 "does not explain.</p>")
    p.append(f"<div class='fig'>{_oof_figure(diag)}</div>")

    p.append("<h2>2. Estimated target label distribution</h2>")
    if diag.source_prior is None:
        p.append(f"<p>{e(diag.prior_text)}</p>")
    else:
        head = "".join(f"<th>{e(c)}</th>" for c in diag.classes)
        body = "".join(f"<tr><td>{e(label)}</td>" + "".join(f"<td>{v:.3f}</td>" for v in q)
                       + "</tr>" for label, q in diag._prior_rows())
        if diag.evaluator:
            body += (f"<tr class='evaluator'><td>{e(_EVALUATOR_LABEL)}: true target prior "
                     f"({diag.evaluator['n_labelled']} labelled target rows)</td>"
                     + "".join(f"<td>{v:.3f}</td>" for v in diag.evaluator["true_prior"])
                     + "</tr>")
        p.append(f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>")
        p.append(f"<p>{e(diag.prior_text)}</p>")
        p.append("<p class='note'>BBSE (Lipton et al., 2018) and MLLS (EM with bias-corrected "
                 "calibration; Saerens et al., 2002, Alexandari et al., 2020) are fitted on the "
                 "source labels and the target rows with their labels masked; a logistic "
                 "regression on imputed, standardised / one-hot features is their classifier "
                 f"(held-out source accuracy {_num(diag.source_heldout_accuracy)}). Both assume "
                 "label shift: P(x | y) shared by the domains.</p>")
        if diag.evaluator:
            p.append("<p class='note'>The evaluator-only row uses target labels present in the "
                     "file; no estimate on this page reads them.</p>")
        p.append(f"<div class='fig'>{_prior_figure(diag)}</div>")

    p.append(f"<h2>3. Features that shift most (top {len(diag.top_features)})</h2>")
    cols = ("feature", "kind", "test", "statistic", "p-value", "SMD", "missing source",
            "missing target")

    def rows(feats):
        return "".join(
            f"<tr><td>{e(f.name)}</td><td>{f.kind}</td><td>{f.test}</td>"
            f"<td>{_num(f.statistic)}</td><td>{_p(f.p_value)}</td><td>{_num(f.smd)}</td>"
            f"<td>{_pct(f.missing_source)}</td><td>{_pct(f.missing_target)}</td></tr>"
            for f in feats)

    head = "".join(f"<th>{c}</th>" for c in cols)
    p.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows(diag.top_features)}"
             "</tbody></table>")
    p.append("<p class='note'>Statistics on the values present in each domain: "
             "Kolmogorov-Smirnov for numeric features, total variation distance with a "
             "chi-square test for categorical ones; SMD: standardised mean difference "
             "(target minus source). Ranked by the larger of the statistic and the change of "
             "the missing-value rate. p-values are not corrected for multiple testing.</p>")
    p.append(f"<div class='fig'>{_features_figure(diag)}</div>")
    if len(diag.features) > len(diag.top_features):
        p.append(f"<details><summary>All {len(diag.features)} features</summary><table><thead>"
                 f"<tr>{head}</tr></thead><tbody>{rows(diag.features)}</tbody></table>"
                 "</details>")
    if diag.notes:
        p.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in diag.notes)
                 + "</ul>")
    p.append("<h2>Provenance</h2>")
    p.append("<pre>" + e(json.dumps(_clean(diag.provenance), indent=2)) + "</pre>")
    p.append("</body></html>")
    return "".join(p)
