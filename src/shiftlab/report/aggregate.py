"""Aggregate a run's result rows into the tables and statistics of the report.

Input: the tidy rows a benchmark stores, one per (dataset, task, outer split, method,
candidate, scorer), with at least the columns ``dataset, task, method, outer_split,
scorer, selected, accuracy`` (see :mod:`shiftlab.selection._table`). Baselines fitted once
(``Train Src``, ``Train Tgt``) have scorer ``"none"``; the supervised oracle is the scorer
``"oracle"``. The ``role`` column says which rows are the source-only reference and the
target-only bound (:func:`~shiftlab.selection._table.result_roles` derives it for rows
stored without it).

Conventions follow SKADA-Bench (arXiv 2407.11676): a cell is the mean over tasks of the
mean over outer splits; the realistic table uses, for each method, the unsupervised
scorer with the best mean accuracy; ranks are averaged over tasks; a Wilcoxon
signed-rank test over (task, split) pairs compares each method with Train Src.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from shiftlab.selection import reliability
from shiftlab.selection._table import (
    BASELINE_SCORER,
    ORACLE_SCORER,
    SOURCE_ONLY,
    TARGET_ONLY,
    result_roles,
)

__all__ = [
    "BASELINE_SCORER",
    "ORACLE",
    "average_ranks",
    "best_realistic_scorer",
    "critical_difference",
    "main_table",
    "sanity_checks",
    "scorer_reliability",
    "selected_rows",
    "task_table",
    "wilcoxon_vs_source",
]

ORACLE = ORACLE_SCORER
#: The columns that name one search (one selection per scorer) in a run's rows.
SEARCH_KEYS = ("dataset", "task", "method", "outer_split")


def source_baseline(rows: pd.DataFrame) -> str | None:
    """Method name of the source-only reference of ``rows`` (None without one).

    The source-only baseline fitted once (Train Src) when there is one, else the
    source-only method (SourceOnly: deep runs have no Train Src).
    """
    if not len(rows):
        return None
    source = rows[(result_roles(rows) == SOURCE_ONLY).to_numpy()]
    if source.empty:
        return None
    fixed = source[source["scorer"] == BASELINE_SCORER]
    return str((fixed if len(fixed) else source)["method"].iloc[0])


def selected_rows(results: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """Rows of selected candidates with a test metric (one per task/split/method/scorer)."""
    if results.empty:
        return results
    sel = results[results["selected"].astype(bool)].copy()
    sel = sel[np.isfinite(sel[metric].astype(float))]
    keys = ["dataset", "task", "method", "scorer", "outer_split"]
    return sel.drop_duplicates(keys)


def _per_task(sel: pd.DataFrame, metric: str) -> pd.DataFrame:
    return (
        sel.groupby(["dataset", "task", "method", "scorer"], as_index=False)[metric]
        .agg(["mean", "std", "count"])
        .reset_index(drop=True)
    )


def best_realistic_scorer(sel: pd.DataFrame, metric: str = "test_accuracy") -> dict[str, str]:
    """For each adapted method, the unsupervised scorer with the best mean metric."""
    realistic = sel[~sel["scorer"].isin([ORACLE, BASELINE_SCORER])]
    if realistic.empty:
        return {}
    means = realistic.groupby(["method", "scorer"])[metric].mean().reset_index()
    best = means.sort_values([metric, "scorer"], ascending=[False, True]).drop_duplicates(
        "method"
    )
    return dict(zip(best["method"], best["scorer"], strict=True))


def _choose(sel: pd.DataFrame, mode: str, metric: str) -> pd.DataFrame:
    """Rows of the table's mode: baselines plus the chosen scorer of each method."""
    base = sel[sel["scorer"] == BASELINE_SCORER]
    adapted = sel[sel["scorer"] != BASELINE_SCORER]
    if mode == "oracle":
        chosen = adapted[adapted["scorer"] == ORACLE]
    elif mode == "realistic":
        best = best_realistic_scorer(sel, metric)
        chosen = adapted[adapted["scorer"] == adapted["method"].map(best)]
    else:  # a scorer name
        chosen = adapted[adapted["scorer"] == mode]
    return pd.concat([base, chosen], ignore_index=True)


def wilcoxon_vs_source(rows: pd.DataFrame, metric: str = "test_accuracy", alpha: float = 0.05):
    """Per (method, dataset): +1 / -1 when significantly better / worse than Train Src.

    (Deep runs: than SourceOnly, see :func:`source_baseline`.)

    Pairs are (task, outer split); zero differences are dropped (Wilcoxon's convention),
    and fewer than 5 non-zero pairs cannot reach significance, so they give 0.
    """
    reference = source_baseline(rows)
    src = rows[rows["method"] == reference].set_index(["dataset", "task", "outer_split"])[
        metric
    ]
    out = {}
    for (method, dataset), grp in rows.groupby(["method", "dataset"]):
        if method == reference:
            continue
        g = grp.set_index(["dataset", "task", "outer_split"])[metric]
        common = g.index.intersection(src.index)
        diff = (g.loc[common] - src.loc[common]).to_numpy(dtype=float)
        diff = diff[diff != 0]
        if diff.size < 5:
            out[(method, dataset)] = 0
            continue
        # Exact null distribution when it is cheap and valid (no ties); scipy's default
        # would fall back to a slow permutation test on ties.
        ties = np.unique(np.abs(diff)).size < diff.size
        mode = "exact" if diff.size <= 50 and not ties else "approx"
        p = stats.wilcoxon(diff, method=mode).pvalue
        out[(method, dataset)] = int(np.sign(np.median(diff))) if p < alpha else 0
    return out


def average_ranks(
    rows: pd.DataFrame, metric: str = "test_accuracy", exclude_roles=(TARGET_ONLY,)
):
    """Mean rank of each method over tasks (1 = best), ties sharing the average rank.

    Methods of ``exclude_roles`` (the target-only bound) are not ranked.
    """
    kept = ~result_roles(rows).isin(exclude_roles).to_numpy()
    per_task = rows[kept].groupby(["dataset", "task", "method"])[metric].mean()
    table = per_task.unstack("method")
    table = table.dropna(axis=0, how="any")
    if table.empty:
        return pd.Series(dtype=float), 0
    ranks = table.rank(axis=1, ascending=False, method="average")
    return ranks.mean().sort_values(), int(table.shape[0])


def critical_difference(n_methods: int, n_tasks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks (Demsar, JMLR 2006)."""
    if n_methods < 2 or n_tasks < 1:
        return float("nan")
    q = stats.studentized_range.ppf(1 - alpha, n_methods, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(n_methods * (n_methods + 1) / (6.0 * n_tasks)))


def main_table(results: pd.DataFrame, mode: str = "realistic", metric: str = "test_accuracy"):
    """Methods x datasets table of ``mean ± std`` with rank and Wilcoxon markers.

    Parameters
    ----------
    mode : {"realistic", "oracle"} or a scorer name
        Which selection to report.

    Returns
    -------
    table : DataFrame
        Index: method; columns: each dataset as ``(mean, std, wilcoxon)`` triples,
        plus ``scorer`` and ``rank``.
    """
    sel = selected_rows(results, metric)
    if sel.empty:
        return pd.DataFrame()
    rows = _choose(sel, mode, metric)
    task_means = rows.groupby(["dataset", "task", "method"])[metric].agg(["mean", "std"])
    per_dataset = task_means.groupby(["method", "dataset"]).mean()
    marks = wilcoxon_vs_source(rows, metric)
    ranks, n_rank_tasks = average_ranks(rows, metric)
    scorer_of = rows.groupby("method")["scorer"].first()
    records = []
    for method in rows["method"].unique():
        rec = {"method": method, "scorer": scorer_of.get(method, "")}
        for dataset in sorted(rows["dataset"].unique()):
            if (method, dataset) in per_dataset.index:
                m, s = per_dataset.loc[(method, dataset)]
                rec[(dataset, "mean")] = m
                # NaN with a single outer split: no spread to show (not "± 0.000").
                rec[(dataset, "std")] = s
                rec[(dataset, "wilcoxon")] = marks.get((method, dataset), 0)
        rec["rank"] = ranks.get(method, np.nan)
        records.append(rec)
    table = pd.DataFrame(records).set_index("method")
    # The source-only reference first, then the target-only bound, then by rank.
    role_of = result_roles(rows).groupby(rows["method"].to_numpy()).first()
    reference = source_baseline(rows)
    order = [m for m in (reference,) if m in table.index]
    order += [m for m in table.index if role_of.get(m) == TARGET_ONLY]
    rest = sorted(set(table.index) - set(order), key=lambda m: (table.loc[m, "rank"], m))
    table = table.loc[order + rest]
    # How many tasks the ranks average over (tasks where every method has a result).
    table.attrs["rank_tasks"] = n_rank_tasks
    table.attrs["reference"] = reference
    table.attrs["roles"] = {m: role_of.get(m) for m in table.index}
    return table


def task_table(results: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """Per task, method and scorer: mean and std of the metric over outer splits."""
    sel = selected_rows(results, metric)
    if sel.empty:
        return pd.DataFrame()
    return _per_task(sel, metric)


def with_candidate_truth(results: pd.DataFrame, truth: str = "test_accuracy") -> pd.DataFrame:
    """Add ``candidate_truth``: each candidate's target accuracy.

    It is the outer test accuracy when every candidate was refitted
    (``refit_candidates = "all"``), else the oracle's inner score, i.e. the target
    accuracy on the inner validation folds.
    """
    out = results.copy()
    cand = out[~out["scorer"].isin([ORACLE, BASELINE_SCORER])]
    if cand.empty or np.isfinite(cand[truth].astype(float)).all():
        out["candidate_truth"] = out[truth]
        return out
    keys = ["dataset", "task", "method", "outer_split", "candidate"]
    oracle = out[out["scorer"] == ORACLE].drop_duplicates(keys).set_index(keys)["inner_score"]
    out["candidate_truth"] = oracle.reindex(pd.MultiIndex.from_frame(out[keys])).to_numpy()
    return out


def scorer_reliability(results: pd.DataFrame, truth: str = "test_accuracy") -> pd.DataFrame:
    """How well each scorer's inner score tracks target accuracy, per scorer.

    :func:`shiftlab.selection.scorer_reliability` over the run's searches (one per
    dataset, task, method and outer split), on every candidate row with an inner score
    and a target accuracy (see :func:`with_candidate_truth`). Returns the pooled
    Spearman correlation, the mean per-search Spearman correlation, and the mean regret:
    oracle-selected accuracy minus the scorer-selected accuracy on the outer test split.
    """
    needed = {"scorer", "inner_score", truth}
    if results.empty or not needed <= set(results.columns):
        return pd.DataFrame()
    results = with_candidate_truth(results, truth)
    searched = results[results["scorer"] != BASELINE_SCORER]
    if searched.empty:
        return pd.DataFrame()
    rel = reliability.scorer_reliability(
        searched, "test_accuracy", oracle=ORACLE, by=SEARCH_KEYS, truth="candidate_truth",
        min_pairs=2,
    )
    rel = rel[(rel.index != ORACLE) & (rel["n_candidates"] > 0)]
    if rel.empty:  # only baselines so far (a run in progress): nothing to rank
        return pd.DataFrame()
    out = rel.sort_index().reset_index().rename(columns={"spearman": "spearman_mean"})
    out = out[["scorer", "spearman_pooled", "spearman_mean", "regret_vs_oracle",
               "n_candidates"]]
    return out.sort_values("spearman_pooled", ascending=False)


def sanity_checks(results: pd.DataFrame, metric: str = "test_accuracy",
                  tolerance: float = 0.02) -> list[str]:
    """Signs that a run's numbers mean less than they seem, each with its numbers.

    * a base estimator that, trained on the target labels (Train Tgt: a target-only
      baseline), scores within ``tolerance`` of predicting the majority class, and whose
      balanced accuracy is not above chance (0.5 + ``tolerance``): no method can show
      anything there;
    * a scorer that selected nothing on some splits (every score NaN);
    * a method identical to the source-only baseline (Train Src) on every task and split
      (it did not adapt).
    """
    if results.empty or "method" not in results:
        return []
    out = []
    target_only = (result_roles(results) == TARGET_ONLY).to_numpy()
    tgt = results[target_only & (results["scorer"] == BASELINE_SCORER).to_numpy()]
    if "test_majority_rate" in tgt:
        for (dataset, method), grp in tgt.groupby(["dataset", "method"]):
            acc, rate = grp[metric].mean(), grp["test_majority_rate"].mean()
            # Near the majority rate in accuracy, yet telling the classes apart (balanced
            # accuracy above a two-class chance level): an imbalanced target with a
            # class-weighted estimator, not an estimator that learnt nothing.
            balanced = (grp["test_balanced_accuracy"].mean()
                        if "test_balanced_accuracy" in grp else np.nan)
            if np.isfinite(balanced) and balanced > 0.5 + tolerance:
                continue
            if np.isfinite(acc) and np.isfinite(rate) and acc - rate <= tolerance:
                out.append(
                    f"{dataset}: the base estimator trained on target labels ({method}) "
                    f"scores {acc:.3f}, the majority class alone {rate:.3f}: no method can "
                    "show a gain there; choose a base estimator that fits this data."
                )
    scored = results[results["scorer"] != BASELINE_SCORER]
    if not scored.empty:
        keys = ["dataset", "task", "method", "outer_split", "scorer"]
        chosen = scored.groupby(keys)["selected"].any()
        for scorer, flags in chosen.groupby(level="scorer"):
            missing = int((~flags).sum())
            if missing:
                out.append(f"scorer {scorer} selected nothing on {missing} of {len(flags)} "
                           "(task, split, method) searches: every score was NaN there.")
    sel = selected_rows(results, metric)
    reference = source_baseline(sel)
    src = sel[(sel["method"] == reference) & (sel["scorer"] == BASELINE_SCORER)]
    if not src.empty:
        ref = src.set_index(["dataset", "task", "outer_split"])[metric]
        adapted = sel[(sel["method"] != reference).to_numpy()
                      & (result_roles(sel) != TARGET_ONLY).to_numpy()
                      & (sel["scorer"] != BASELINE_SCORER).to_numpy()]
        for method, grp in adapted.groupby("method"):
            g = grp.groupby(["dataset", "task", "outer_split"])[metric].apply(
                lambda v: np.allclose(v, ref.get(v.name, np.nan)))
            if len(g) >= 2 and g.all():
                out.append(f"{method} equals {reference} on all {len(g)} (task, split) "
                           "pairs under every scorer: it did not change the predictions.")
    return out
