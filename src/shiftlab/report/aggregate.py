"""Aggregate a run's result rows into the tables and statistics of the report.

Input: the tidy rows a benchmark stores, one per (dataset, task, outer split, method,
candidate, scorer), with at least the columns ``dataset, task, method, outer_split,
scorer, selected, accuracy``. Baselines (``Train Src``, ``Train Tgt``) have scorer
``"none"``; the supervised oracle is the scorer ``"oracle"``.

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

ORACLE = "oracle"
BASELINE_SCORER = "none"
SOURCE_ONLY = "Train Src"
TARGET_ONLY = "Train Tgt"
#: Deep runs have no Train Src / Train Tgt rows; their source-only and target-only
#: (oracle) methods play those roles.
DEEP_SOURCE_ONLY = "SourceOnly"
DEEP_TARGET_ONLY = "TargetOnly"


def source_baseline(rows: pd.DataFrame) -> str:
    """Name of the source-only reference of ``rows``: Train Src, else deep SourceOnly."""
    names = set(rows["method"]) if len(rows) else set()
    if SOURCE_ONLY not in names and DEEP_SOURCE_ONLY in names:
        return DEEP_SOURCE_ONLY
    return SOURCE_ONLY


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
    rows: pd.DataFrame, metric: str = "test_accuracy", exclude=(TARGET_ONLY, DEEP_TARGET_ONLY)
):
    """Mean rank of each method over tasks (1 = best), ties sharing the average rank."""
    per_task = rows[~rows["method"].isin(exclude)].groupby(["dataset", "task", "method"])[
        metric
    ].mean()
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
    order = [m for m in (SOURCE_ONLY, TARGET_ONLY) if m in table.index]
    rest = sorted(set(table.index) - set(order), key=lambda m: (table.loc[m, "rank"], m))
    table = table.loc[order + rest]
    # How many tasks the ranks average over (tasks where every method has a result).
    table.attrs["rank_tasks"] = n_rank_tasks
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

    Uses every candidate row with an inner score and the candidate's target accuracy
    (column ``truth``). Returns the pooled Spearman correlation, the mean per-(task,
    method, split) Spearman correlation, and the mean regret: oracle-selected accuracy
    minus the scorer-selected accuracy on the outer test split.
    """
    needed = {"scorer", "inner_score", truth}
    if results.empty or not needed <= set(results.columns):
        return pd.DataFrame()
    results = with_candidate_truth(results, truth)
    truth = "candidate_truth"
    cand = results[~results["scorer"].isin([ORACLE, BASELINE_SCORER])]
    cand = cand[np.isfinite(cand["inner_score"].astype(float))
                & np.isfinite(cand[truth].astype(float))]
    out = []
    sel = selected_rows(results)
    oracle_acc = sel[sel["scorer"] == ORACLE].set_index(
        ["dataset", "task", "method", "outer_split"]
    )["test_accuracy"]
    for scorer, grp in cand.groupby("scorer"):
        pooled = stats.spearmanr(grp["inner_score"], grp[truth]).statistic
        local = []
        for _, g in grp.groupby(["dataset", "task", "method", "outer_split"]):
            if g["inner_score"].nunique() > 1 and g[truth].nunique() > 1:
                local.append(stats.spearmanr(g["inner_score"], g[truth]).statistic)
        mine = sel[sel["scorer"] == scorer].set_index(
            ["dataset", "task", "method", "outer_split"]
        )["test_accuracy"]
        common = mine.index.intersection(oracle_acc.index)
        regret = (oracle_acc.loc[common] - mine.loc[common]).mean() if len(common) else np.nan
        out.append({
            "scorer": scorer,
            "spearman_pooled": pooled,
            "spearman_mean": float(np.mean(local)) if local else np.nan,
            "regret_vs_oracle": regret,
            "n_candidates": len(grp),
        })
    if not out:  # only baselines so far (a run in progress): nothing to rank
        return pd.DataFrame()
    return pd.DataFrame(out).sort_values("spearman_pooled", ascending=False)


def sanity_checks(results: pd.DataFrame, metric: str = "test_accuracy",
                  tolerance: float = 0.02) -> list[str]:
    """Signs that a run's numbers mean less than they seem, each with its numbers.

    * a base estimator that, trained on the target labels (Train Tgt), scores within
      ``tolerance`` of predicting the majority class: no method can show anything there;
    * a scorer that selected nothing on some splits (every score NaN);
    * a method identical to Train Src on every task and split (it did not adapt).
    """
    if results.empty or "method" not in results:
        return []
    out = []
    tgt = results[(results["method"] == TARGET_ONLY) & (results["scorer"] == BASELINE_SCORER)]
    if "test_majority_rate" in tgt:
        for dataset, grp in tgt.groupby("dataset"):
            acc, rate = grp[metric].mean(), grp["test_majority_rate"].mean()
            if np.isfinite(acc) and np.isfinite(rate) and acc - rate <= tolerance:
                out.append(
                    f"{dataset}: the base estimator trained on target labels (Train Tgt) "
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
    src = sel[(sel["method"] == SOURCE_ONLY) & (sel["scorer"] == BASELINE_SCORER)]
    if not src.empty:
        ref = src.set_index(["dataset", "task", "outer_split"])[metric]
        adapted = sel[~sel["method"].isin([SOURCE_ONLY, TARGET_ONLY])
                      & (sel["scorer"] != BASELINE_SCORER)]
        for method, grp in adapted.groupby("method"):
            g = grp.groupby(["dataset", "task", "outer_split"])[metric].apply(
                lambda v: np.allclose(v, ref.get(v.name, np.nan)))
            if len(g) >= 2 and g.all():
                out.append(f"{method} equals Train Src on all {len(g)} (task, split) pairs "
                           "under every scorer: it did not change the predictions.")
    return out
