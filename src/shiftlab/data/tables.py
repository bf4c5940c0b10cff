"""A user's own table as a :class:`~shiftlab.data.DomainDataset`.

Practitioners arrive with one table: rows from several sites, years or sensors (the
*domain* column), a *label* column that is empty where labels are unknown, numeric and
categorical feature columns, missing values. :func:`read_table` turns such a file (CSV,
Parquet, a ``.npz`` of columns, or a file written by :meth:`DomainDataset.save`) into a
dataset whose domains are the domain column's values:

* numeric columns stay numbers, with NaN where a value is missing;
* categorical columns (text columns, and those named in ``categorical``) become float
  codes ``0, 1, 2, ...`` in the sorted order of their categories, NaN where missing. The
  codes are only names: a pipeline one-hot encodes them (a benchmark definition's
  ``preprocessing``), fitted inside each training part like every other step;
* class labels become ``0 .. K-1`` (their original values are the ``target_names``);
  a row with no label gets the masked label ``-1``, as an unlabelled target row has.

How the table was read is kept as a :class:`TableSchema` (``metadata["schema"]``), so
that new rows of the same table (the rows a saved model predicts) are encoded the same
way; the file's sha256 is ``metadata["sha256"]``.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shiftlab.data.convention import MASKED_CLASS
from shiftlab.data.dataset import DomainDataset
from shiftlab.exceptions import DataValidationError, suggest

__all__ = ["TABLE_SUFFIXES", "TableSchema", "file_sha256", "read_frame", "read_table",
           "table_from_frame"]

#: File types :func:`read_table` reads (``.npz``: columns, or a DomainDataset file).
TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".npz")



def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (read in chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _key(value) -> str:
    """A category's name: ``3``, ``3.0`` and ``"3"`` are one category."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _missing(series: pd.Series) -> np.ndarray:
    """Missing cells: NaN/None, and text cells that are empty or blank."""
    missing = series.isna().to_numpy().copy()
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        text = series.astype("string").str.strip()
        missing |= (text == "").fillna(False).to_numpy(dtype=bool)
    return missing


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    """Data rows of a table, counted from 1 after the header (as a spreadsheet shows
    them, minus the header line)."""
    rows = (np.flatnonzero(mask) + 1).tolist()
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(map(str, rows[:limit])) + more


@dataclass
class TableSchema:
    """How a table was read: which columns, and how values became numbers.

    Attributes
    ----------
    domain_column, label_column : str
        The columns naming each row's domain and label (``label_column`` may be None).
    feature_columns : list of str
        The feature columns, in the order of X's columns.
    categories : dict of str to list of str
        Each categorical column's categories; category ``categories[col][k]`` is code k.
    classes : list
        The original class labels; class ``classes[k]`` is label k (classification).
    label_kind : {"classification", "regression"}
    """

    domain_column: str
    label_column: str | None
    feature_columns: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)
    classes: list = field(default_factory=list)
    label_kind: str = "classification"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TableSchema:
        return cls(**data)

    def encode_features(self, frame: pd.DataFrame, *, where: str = "the table") -> np.ndarray:
        """The feature matrix of new rows, encoded as the table was.

        Columns are taken by name (their order in ``frame`` does not matter); a missing
        feature column is an error. A category never seen in the table becomes a
        missing value, with a warning naming it.
        """
        absent = [c for c in self.feature_columns if c not in frame.columns]
        if absent:
            raise DataValidationError(
                f"{where} lacks the feature column(s) {absent}{suggest(absent[0], frame.columns)}."
                f" The model was trained on the columns {self.feature_columns}; give rows "
                "with every one of them (extra columns are ignored)."
            )
        out = np.empty((len(frame), len(self.feature_columns)), dtype=np.float64)
        for j, col in enumerate(self.feature_columns):
            series = frame[col]
            missing = _missing(series)
            if col in self.categories:
                codes = {name: float(k) for k, name in enumerate(self.categories[col])}
                keys = [None if m else _key(v) for v, m in zip(series, missing, strict=True)]
                unseen = sorted({k for k in keys if k is not None and k not in codes})
                if unseen:
                    warnings.warn(
                        f"Column {col!r} of {where} has categories the table did not have: "
                        f"{unseen[:5]}; they are treated as missing values.",
                        UserWarning, stacklevel=2,
                    )
                out[:, j] = [np.nan if k is None else codes.get(k, np.nan) for k in keys]
            else:
                out[:, j] = _numeric(series, missing, col, where)
        return out


def _numeric(series: pd.Series, missing: np.ndarray, col: str, where: str) -> np.ndarray:
    values = pd.to_numeric(series.where(~missing), errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(values) & ~missing
    if bad.any():
        example = series[bad].iloc[0]
        raise DataValidationError(
            f"Column {col!r} of {where} is numeric but has text in rows {_rows(bad)} "
            f"(e.g. {example!r}). Leave a missing value's cell empty, or name the column in "
            "`categorical` if its values are categories."
        )
    if np.isinf(values).any():
        raise DataValidationError(
            f"Column {col!r} of {where} has infinite values in rows {_rows(np.isinf(values))}; "
            "replace them (an empty cell is a missing value)."
        )
    return values


def _is_text(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series.dtype)
                or pd.api.types.is_bool_dtype(series.dtype))


def _mostly_numbers(series: pd.Series, missing: np.ndarray) -> bool:
    """A text column whose values are numbers but a few (e.g. "n/a" for missing)."""
    present = series[~missing]
    if present.empty:
        return False
    parsed = pd.to_numeric(present, errors="coerce")
    return bool(parsed.notna().mean() >= 0.9 and parsed.isna().any())


def read_frame(path: str | Path) -> pd.DataFrame:
    """A table file as a DataFrame: CSV, Parquet, or a ``.npz`` of 1-D column arrays."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"No table file at {path}.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            return pd.read_csv(path)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataValidationError(f"{path} could not be read as CSV: {exc}") from exc
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise DataValidationError(f"{path} could not be read as Parquet: {exc}") from exc
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            columns = {k: data[k] for k in data.files}
        bad = [k for k, v in columns.items() if v.ndim != 1]
        if bad:
            raise DataValidationError(
                f"{path}: a table .npz holds one 1-D array per column, but {bad} are not 1-D. "
                "Save a DomainDataset with DomainDataset.save, or one array per column."
            )
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise DataValidationError(f"{path}: the column arrays have different lengths "
                                      f"{sorted(lengths)}; a table's columns share one length.")
        return pd.DataFrame(columns)
    raise DataValidationError(
        f"{path}: unknown table type {path.suffix!r}; give a {', '.join(TABLE_SUFFIXES)} file."
    )


def _is_dataset_file(path: Path) -> bool:
    if path.suffix.lower() != ".npz":
        return False
    with np.load(path, allow_pickle=False) as data:
        return "__meta__" in data.files


def _column(frame: pd.DataFrame, name: str, role: str, where: str) -> pd.Series:
    if name not in frame.columns:
        raise DataValidationError(
            f"{where} has no {role} column {name!r}.{suggest(name, list(map(str, frame.columns)))}"
            f" Its columns are {list(frame.columns)}."
        )
    return frame[name]


def _encode_labels(series: pd.Series, where: str) -> tuple[np.ndarray, list, str]:
    """Labels as ``0..K-1`` (classification, -1 where missing) or floats (regression)."""
    missing = _missing(series)
    present = series[~missing]
    if present.empty:
        raise DataValidationError(f"The label column {series.name!r} of {where} is empty; at "
                                  "least the source rows need labels.")
    numeric = pd.to_numeric(present, errors="coerce")
    if numeric.notna().all() and not np.all(np.mod(numeric.to_numpy(dtype=float), 1) == 0):
        y = np.full(len(series), np.nan)
        y[~missing] = numeric.to_numpy(dtype=float)
        return y, [], "regression"
    keys = [_key(v) for v in present]
    if numeric.notna().all():  # integer classes: sorted as numbers, not as text
        classes = sorted(set(numeric.astype(np.int64).tolist()))
        names = [str(c) for c in classes]
    else:
        names = sorted(set(keys))
        classes = names
    index = {name: k for k, name in enumerate(names)}
    y = np.full(len(series), MASKED_CLASS, dtype=np.int64)
    y[~missing] = [index[k] for k in keys]
    return y, classes, "classification"


def table_from_frame(
    frame: pd.DataFrame,
    *,
    domain: str,
    label: str | None,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    name: str = "table",
    where: str | None = None,
) -> DomainDataset:
    """A DataFrame as a :class:`DomainDataset` (see :func:`read_table`)."""
    where = where or f"table {name!r}"
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    dom = _column(frame, domain, "domain", where)
    dom_missing = _missing(dom)
    if dom_missing.any():
        raise DataValidationError(
            f"The domain column {domain!r} of {where} is empty in rows {_rows(dom_missing)}; "
            "give every row its domain (site, year, ...) or drop those rows."
        )
    dom_names = np.array([_key(v) for v in dom], dtype=object)
    if label is not None:
        y, classes, kind = _encode_labels(_column(frame, label, "label", where), where)
    else:
        y, classes, kind = np.full(len(frame), MASKED_CLASS, dtype=np.int64), [], \
            "classification"
    if features is None:
        features = [c for c in frame.columns if c not in (domain, label)]
    else:
        features = [str(c) for c in features]
        for col in features:
            _column(frame, col, "feature", where)
        clash = [c for c in features if c in (domain, label)]
        if clash:
            raise DataValidationError(f"{where}: {clash} cannot be a feature: it is the domain "
                                      "or the label column.")
    if not features:
        raise DataValidationError(f"{where} has no feature column besides {domain!r} and "
                                  f"{label!r}.")
    categorical = [str(c) for c in (categorical or [])]
    for col in categorical:
        if col not in features:
            raise DataValidationError(
                f"{where}: the categorical column {col!r} is not a feature column."
                f"{suggest(col, features)} Features: {features}."
            )
    categories = {}
    for col in features:
        series = frame[col]
        missing = _missing(series)
        if col in categorical or _is_text(series):
            if col not in categorical and _mostly_numbers(series, missing):
                _numeric(series, missing, col, where)  # raises, naming the text rows
            categories[col] = sorted({_key(v) for v, m in zip(series, missing, strict=True)
                                      if not m})
    schema = TableSchema(domain_column=domain, label_column=label, feature_columns=features,
                         categories=categories, classes=classes, label_kind=kind)
    X = schema.encode_features(frame, where=where)
    domains = {}
    for dname in dict.fromkeys(dom_names):  # in order of first appearance
        rows = dom_names == dname
        domains[dname] = (X[rows], y[rows])
    return DomainDataset(
        domains, name=name, feature_names=features,
        target_names=[str(c) for c in classes] or None,
        metadata={"schema": schema.to_dict(), "categorical_columns": list(categories),
                  "n_missing_values": int(np.isnan(X).sum())},
        allow_missing=True,
    )


def read_table(
    path: str | Path,
    *,
    domain: str | None = None,
    label: str | None = None,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    name: str | None = None,
) -> DomainDataset:
    """Read a user's table into a :class:`DomainDataset`, one domain per domain value.

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.parquet`` (``.pq``) or ``.npz`` file. A ``.npz`` written by
        :meth:`DomainDataset.save` is read as it is (its domains and labels are its
        own: give no column names); another ``.npz`` holds one 1-D array per column.
    domain : str
        The column naming each row's domain (site, hospital, year, ...).
    label : str, optional
        The label column; a row whose cell is empty has an unknown label (masked).
        Integer or text values are classes; non-integer numbers a regression target.
    features : sequence of str, optional
        The feature columns (default: every other column), in this order.
    categorical : sequence of str, optional
        Numeric feature columns to treat as categories (text columns always are).
    name : str, optional
        The dataset's name (default: the file's stem).

    Returns
    -------
    DomainDataset
        ``allow_missing=True``; ``metadata`` holds the ``schema`` (a
        :class:`TableSchema` as a dict), the file's ``sha256`` and its ``source_file``.

    Raises
    ------
    DataValidationError
        Naming the file, the column and the rows at fault, and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"No table file at {path}.")
    sha = file_sha256(path)
    if _is_dataset_file(path):
        if domain is not None or label is not None or features or categorical:
            raise DataValidationError(
                f"{path} is a shiftlab dataset file (written by DomainDataset.save): its "
                "domains and labels are its own; give no domain, label, feature or "
                "categorical columns for it."
            )
        ds = DomainDataset.load(path)
        ds.metadata = {**ds.metadata, "sha256": sha, "source_file": path.name}
        if name:
            ds.name = name
        return ds
    if domain is None:
        raise DataValidationError(f"{path}: name its domain column (the column whose values "
                                  "are the sites, years, ... to adapt between).")
    ds = table_from_frame(read_frame(path), domain=domain, label=label, features=features,
                          categorical=categorical, name=name or path.stem,
                          where=str(path))
    ds.metadata.update(sha256=sha, source_file=path.name)
    return ds
