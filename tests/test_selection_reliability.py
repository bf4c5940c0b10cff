"""Reliability report and selection summary on hand-built results tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shiftlab.selection import scorer_reliability, selection_summary


def _table():
    # Two outer splits, three candidates with test accuracies .6 / .7 / .9 (split 0) and
    # .5 / .8 / .7 (split 1). "good" ranks candidates like the test accuracy, "bad" the
    # other way round, and the oracle is right on split 0 and picks .8 on split 1.
    acc = {0: [0.6, 0.7, 0.9], 1: [0.5, 0.8, 0.7]}
    inner = {
        "good": {0: [0.1, 0.2, 0.3], 1: [0.1, 0.3, 0.2]},
        "bad": {0: [0.3, 0.2, 0.1], 1: [0.3, 0.1, 0.2]},
        "oracle": {0: [0.61, 0.72, 0.88], 1: [0.52, 0.79, 0.71]},
    }
    rows = []
    for scorer, per_split in inner.items():
        for k in (0, 1):
            best = int(np.argmax(per_split[k]))
            for c in range(3):
                rows.append({
                    "outer_split": k, "candidate": c, "scorer": scorer,
                    "oracle": scorer == "oracle", "inner_score": per_split[k][c],
                    "selected": c == best, "test_accuracy": acc[k][c],
                })
    return pd.DataFrame(rows)


def test_scorer_reliability_hand_values():
    rel = scorer_reliability(_table())
    assert rel.loc["good", "spearman"] == pytest.approx(1.0)
    assert rel.loc["bad", "spearman"] == pytest.approx(-1.0)
    # good selects .9 and .8 = the oracle's choices: no regret.
    assert rel.loc["good", "regret_vs_oracle"] == pytest.approx(0.0)
    assert rel.loc["good", "selected"] == pytest.approx(0.85)
    # bad selects .6 and .5: regret (.9 - .6 + .8 - .5) / 2 = .3, also vs the best.
    assert rel.loc["bad", "regret_vs_oracle"] == pytest.approx(0.3)
    assert rel.loc["bad", "regret_vs_best"] == pytest.approx(0.3)
    assert rel.loc["good", "spearman_oracle_inner"] == pytest.approx(1.0)
    # The oracle row is kept, flagged, and listed after the realistic scorers.
    assert rel.loc["oracle", "oracle"] and not rel.loc["good", "oracle"]
    assert rel.index[-1] == "oracle" and rel.index[0] == "good"


def test_selection_summary():
    summ = selection_summary(_table())
    assert summ.loc["good", "mean"] == pytest.approx(0.85)
    assert summ.loc["good", "std"] == pytest.approx(np.std([0.9, 0.8], ddof=1))
    assert summ.loc["good", "sem"] == pytest.approx(np.std([0.9, 0.8], ddof=1) / np.sqrt(2))
    assert summ.loc["bad", "n_splits"] == 2
    assert list(summ.index)[-1] == "bad"  # sorted by mean, best first
    with pytest.raises(KeyError):
        selection_summary(_table(), metric="test_nope")


def test_missing_test_metrics_give_nan_correlations():
    t = _table()
    t.loc[~t["selected"], "test_accuracy"] = np.nan  # refit_candidates="selected"
    rel = scorer_reliability(t)
    assert rel["spearman"].isna().all() and rel["regret_vs_best"].isna().all()
    assert rel.loc["bad", "regret_vs_oracle"] == pytest.approx(0.3)
