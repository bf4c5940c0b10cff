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

from shiftlab.selection._table import ORACLE_SCORER

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


def _spearman(a, b, min_pairs: int = 3) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < min_pairs or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(a[ok], b[ok]).statistic)


def scorer_reliability(
    results: pd.DataFrame,
    metric: str | None = None,
    *,
    oracle: str = ORACLE_SCORER,
    by=("outer_split",),
    truth: str | None = None,
    min_pairs: int = 3,
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
    by : sequence of str, default=("outer_split",)
        The columns that name one search (one selection per scorer): the outer split
        of a :class:`~shiftlab.selection.DomainSearchCV`; (dataset, task, method, outer
        split) in a benchmark's rows.
    truth : str, optional
        The column the inner scores are correlated with (default: ``metric``); the
        selections' metric and regrets stay ``metric``.
    min_pairs : int, default=3
        Fewest (inner score, truth) pairs a correlation is computed on (NaN below).

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
            Searches (outer splits) with a selection.
        ``n_candidates``
            Rows with a finite inner score and ``truth`` (what the pooled correlation
            is computed on).
    """
    metric = _default_metric(results, metric)
    truth = metric if truth is None else _default_metric(results, truth)
    sign = 1.0 if _higher_is_better(metric) else -1.0
    by = list(by)
    rows = []
    oracle_of = {k: o.sort_values("candidate")
                 for k, o in results[results["scorer"] == oracle].groupby(by)}
    for name, df in results.groupby("scorer", sort=False):
        per_split_rho, per_split_rho_or, regret_or, regret_best, chosen = [], [], [], [], []
        for k, d in df.groupby(by):  # one search at a time, in order
            d = d.sort_values("candidate")
            per_split_rho.append(_spearman(d["inner_score"], d[truth], min_pairs))
            o = oracle_of.get(k)
            if o is not None and len(o) == len(d):
                per_split_rho_or.append(_spearman(
                    d["inner_score"].to_numpy(), o["inner_score"].to_numpy(), min_pairs))
            sel = d[d["selected"].astype(bool)]
            if sel.empty:
                continue
            value = float(sel[metric].iloc[0])
            chosen.append(value)
            if o is not None and o["selected"].astype(bool).any():
                ref = float(o.loc[o["selected"].astype(bool), metric].iloc[0])
                regret_or.append(sign * (ref - value))
            if d[metric].notna().all():
                best = d[metric].max() if sign > 0 else d[metric].min()
                regret_best.append(sign * (best - value))
        pairs = (np.isfinite(df["inner_score"].to_numpy(dtype=float))
                 & np.isfinite(df[truth].to_numpy(dtype=float)))
        rows.append(
            {
                "scorer": name,
                "oracle": bool(df["oracle"].iloc[0]) if "oracle" in df else name == oracle,
                "spearman": _nanmean(per_split_rho),
                "spearman_pooled": _spearman(df["inner_score"], df[truth], min_pairs),
                "spearman_oracle_inner": _nanmean(per_split_rho_or),
                "selected": _nanmean(chosen),
                "regret_vs_oracle": _nanmean(regret_or),
                "regret_vs_best": _nanmean(regret_best),
                "n_splits": len(chosen),
                "n_candidates": int(pairs.sum()),
            }
        )
    out = pd.DataFrame(rows).set_index("scorer")
    return out.sort_values(["oracle", "spearman"], ascending=[True, False], na_position="last")


def _nanmean(values) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("nan")
