"""The rank consensus of several realistic scorers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from shiftlab.exceptions import DataValidationError
from shiftlab.selection.scorers._base import AggregateScorer, register_scorer


@register_scorer("consensus", aliases=("ensemble", "rank_consensus"))
class RankConsensus(AggregateScorer):
    """Scorer ensemble: mean-rank aggregation of several realistic scorers.

    For each scorer, candidates are ranked by their mean inner score (rank 1 is best,
    ties get the average rank, NaN scores rank last); the consensus score of a candidate
    is minus its mean rank, so the ``consensus`` candidate is the one with the best mean
    rank. Higher is better. The oracle is never a member.

    Parameters
    ----------
    members : sequence of str, optional
        Names of the scorers to aggregate; default: every realistic (non-aggregate,
        non-oracle) scorer of the search.

    References
    ----------
    Rank aggregation by mean rank (Borda count): de Borda, J.-C. (1781). Mémoire sur les
    élections au scrutin. See also Musgrave et al. (2022) on combining validators.
    """

    name = "consensus"
    reference = "Borda mean-rank aggregation"
    tasks = ("classification", "regression")

    def __init__(self, members: Sequence[str] | None = None, *, name=None):
        super().__init__(name=name)
        self._set_params(members=None if members is None else list(members))

    def aggregate(self, scores):
        if not scores:
            raise DataValidationError("RankConsensus needs at least one member scorer.")
        ranks = []
        for values in scores.values():
            v = np.asarray(values, dtype=float)
            # NaN ranks last: replace by -inf before ranking descending.
            v = np.where(np.isnan(v), -np.inf, v)
            ranks.append(rankdata(-v, method="average"))
        return -np.mean(ranks, axis=0)
