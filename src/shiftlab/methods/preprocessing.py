"""Preprocessing of a user's table inside the protocol: impute, encode, scale.

The steps :func:`make_preprocessor` builds are plain scikit-learn transformers. Put
first in a :class:`~shiftlab.methods.DAPipeline`, they are fitted like every other step:
on each training part (source and target rows, without labels), never on the rows they
are evaluated on, so imputation means, categories and scales carry no information from
a test part into its model.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

__all__ = ["ENCODINGS", "IMPUTE_STRATEGIES", "make_preprocessor"]

#: Imputation strategies of the numeric columns (categorical ones take the most frequent).
IMPUTE_STRATEGIES = ("mean", "median", "most_frequent")
#: How categorical columns (float codes 0, 1, 2, ...) reach the methods.
ENCODINGS = ("onehot", "ordinal")


def make_preprocessor(
    n_features: int,
    *,
    categorical: Sequence[int] = (),
    impute: str | None = None,
    encode: str = "onehot",
    scale: bool = False,
) -> ColumnTransformer | None:
    """The preprocessing step of a table's pipelines, or None when there is nothing to do.

    Parameters
    ----------
    n_features : int
        Columns of X.
    categorical : sequence of int
        Indices of the categorical columns (float codes, NaN where missing; see
        :func:`shiftlab.data.tables.read_table`).
    impute : {"mean", "median", "most_frequent"} or None
        Strategy for missing numeric values; missing categories take the most frequent
        one. None: no imputation (a missing value then reaches the methods, which
        refuse it, unless one-hot encoding gives it a column of its own).
    encode : {"onehot", "ordinal"}
        ``"onehot"``: one column per category (an unseen category: all zeros);
        ``"ordinal"``: the codes as they are.
    scale : bool
        Standardise the numeric columns (one-hot columns are left as 0/1).

    Returns
    -------
    sklearn.compose.ColumnTransformer or None
    """
    if impute is not None and impute not in IMPUTE_STRATEGIES:
        raise ValueError(f"impute must be one of {IMPUTE_STRATEGIES} or None, got {impute!r}.")
    if encode not in ENCODINGS:
        raise ValueError(f"encode must be one of {ENCODINGS}, got {encode!r}.")
    categorical = sorted({int(j) for j in categorical})
    if any(not 0 <= j < n_features for j in categorical):
        raise ValueError(f"categorical column indices {categorical} out of range for "
                         f"{n_features} features.")
    numeric = [j for j in range(n_features) if j not in set(categorical)]
    numeric_steps = []
    if impute is not None:
        numeric_steps.append(SimpleImputer(strategy=impute, keep_empty_features=True))
    if scale:
        numeric_steps.append(StandardScaler())
    categorical_steps = []
    if impute is not None:
        categorical_steps.append(SimpleImputer(strategy="most_frequent",
                                               keep_empty_features=True))
    if encode == "onehot":
        categorical_steps.append(OneHotEncoder(handle_unknown="ignore", sparse_output=False))
    parts = []
    if numeric and numeric_steps:
        parts.append(("numeric", make_pipeline(*numeric_steps), numeric))
    if categorical and categorical_steps:
        parts.append(("categorical", make_pipeline(*categorical_steps), categorical))
    if not parts:
        return None
    return ColumnTransformer(parts, remainder="passthrough", sparse_threshold=0.0,
                             verbose_feature_names_out=False)
