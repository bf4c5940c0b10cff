"""What two benchmark runs must agree on: the rows' identity, selection and scores.

Timings, hosts, keys and provenance differ between runs by design; these columns must
not.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["dataset", "task", "method", "outer_split", "candidate", "scorer", "selected",
           "inner_score", "test_accuracy"]


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """The comparable columns of a results table, in a stable row order."""
    return frame[COLUMNS].sort_values(COLUMNS[:6]).reset_index(drop=True)
