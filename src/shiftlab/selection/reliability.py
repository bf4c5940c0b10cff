"""How much each scorer can be trusted on a run: summaries, correlations and regret.

Functions of a results table (``DomainSearchCV.results_`` or concatenated
:func:`~shiftlab.selection.evaluate_split` tables), so they also apply to benchmark
outputs read back from disk.

* :func:`selection_summary` -- per scorer, the test metric of the selected candidates
  (mean, std, standard error over outer splits);
* :func:`scorer_reliability` -- per scorer, the Spearman rank correlation between inner
  score and test metric over candidates (the quantity SKADA-Bench v2 reports pooled:
  MixVal 0.51, IW 0.44, CircV 0.40), the correlation with the oracle's inner score (needs
  no refit), and the regret of the selection versus the oracle's and the best candidate.

The oracle's rows are kept and flagged (``oracle=True``): they are a reference, never a
realistic result.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

__all__ = ["scorer_reliability", "selection_summary"]


def _default_metric(results: pd.DataFrame, metric: str | None) -> str:
    if metric is not None:
        if metric not in results.columns:
            raise KeyError(f"No column {metric!r} in the results; test metric columns are "
                           f"{[c for c in results.columns if c.startswith('test_')]}.")
        return metric
    return "test_accuracy" if "test_accuracy" in results.columns else "test_mse"


def _higher_is_better(metric: str) -> bool:
    return not metric.endswith("mse")


def selection_summary(results: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Test metric of each scorer's selected candidates over outer splits.

    Parameters
    ----------
    results : DataFrame
        A results table (one row per outer split, candidate and scorer).
    metric : str, optional
        A ``test_*`` column; default ``test_accuracy`` (``test_mse`` for regression).

    Returns
    -------
    DataFrame
        Index ``scorer``; columns ``oracle``, ``mean``, ``std`` (ddof=1), ``sem``,
        ``n_splits``, sorted by mean (best first), the oracle flagged.
    """
    metric = _default_metric(results, metric)
    sel = results[results["selected"]]
    g = sel.groupby("scorer", sort=False)
    out = pd.DataFrame(
        {
            "oracle": g["oracle"].first(),
            "mean": g[metric].mean(),
            "std": g[metric].std(ddof=1),
            "n_splits": g[metric].count(),
        }
    )
    out["sem"] = out["std"] / np.sqrt(out["n_splits"])
    out = out.sort_values("mean", ascending=not _higher_is_better(metric))
    out.index.name = "scorer"
    return out[["oracle", "mean", "std", "sem", "n_splits"]]


def _spearman(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(a[ok], b[ok]).statistic)


def scorer_reliability(
    results: pd.DataFrame, metric: str | None = None, *, oracle: str = "oracle"
) -> pd.DataFrame:
    """Reliability of each scorer on a run.

    Parameters
    ----------
    results : DataFrame
        A results table. Correlations with the test metric need every candidate's test
        metric (``refit_candidates="all"``); they are NaN otherwise.
    metric : str, optional
        A ``test_*`` column; default ``test_accuracy`` (``test_mse`` for regression).
    oracle : str, default="oracle"
        Name of the oracle scorer in the table.

    Returns
    -------
    DataFrame
        Index ``scorer``; columns:

        ``oracle``
            True for the oracle's own row (a reference, not a realistic scorer).
        ``spearman``
            Mean over outer splits of the Spearman correlation, across candidates,
            between the mean inner score and the test metric (higher is better).
        ``spearman_pooled``
            The same correlation over all (outer split, candidate) pairs pooled.
        ``spearman_oracle_inner``
            Mean over outer splits of the correlation with the oracle's inner score
            (available without outer refits).
        ``selected``
            Mean test metric of the selected candidates.
        ``regret_vs_oracle``
            Mean over outer splits of (oracle selection's metric - this selection's
            metric), signs flipped for losses: >= 0 means worse than the oracle.
        ``regret_vs_best``
            The same against the best candidate on the test split.
        ``n_splits``
            Outer splits with a selection.
    """
    metric = _default_metric(results, metric)
    sign = 1.0 if _higher_is_better(metric) else -1.0
    rows = []
    splits = sorted(results["outer_split"].unique())
    oracle_rows = results[results["scorer"] == oracle]
    for name, df in results.groupby("scorer", sort=False):
        per_split_rho, per_split_rho_or, regret_or, regret_best, chosen = [], [], [], [], []
        for k in splits:
            d = df[df["outer_split"] == k].sort_values("candidate")
            if d.empty:
                continue
            per_split_rho.append(_spearman(d["inner_score"], d[metric]))
            o = oracle_rows[oracle_rows["outer_split"] == k].sort_values("candidate")
            if not o.empty:
                per_split_rho_or.append(
                    _spearman(d["inner_score"].to_numpy(), o["inner_score"].to_numpy())
                )
            sel = d[d["selected"]]
            if sel.empty:
                continue
            value = float(sel[metric].iloc[0])
            chosen.append(value)
            if not o.empty and o["selected"].any():
                ref = float(o.loc[o["selected"], metric].iloc[0])
                regret_or.append(sign * (ref - value))
            if d[metric].notna().all():
                best = d[metric].max() if sign > 0 else d[metric].min()
                regret_best.append(sign * (best - value))
        rows.append(
            {
                "scorer": name,
                "oracle": bool(df["oracle"].iloc[0]),
                "spearman": _nanmean(per_split_rho),
                "spearman_pooled": _spearman(df["inner_score"], df[metric]),
                "spearman_oracle_inner": _nanmean(per_split_rho_or),
                "selected": _nanmean(chosen),
                "regret_vs_oracle": _nanmean(regret_or),
                "regret_vs_best": _nanmean(regret_best),
                "n_splits": len(chosen),
            }
        )
    out = pd.DataFrame(rows).set_index("scorer")
    return out.sort_values(["oracle", "spearman"], ascending=[True, False], na_position="last")


def _nanmean(values) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("nan")
