"""The array convention shared by every shiftlab estimator, scorer and benchmark job.

Data from several domains travels as three aligned arrays, the convention skada uses,
so estimators of both libraries accept the same inputs:

``X`` : array of shape (n_samples, n_features)
    Features of all samples, source and target stacked.
``y`` : array of shape (n_samples,)
    Labels. Target labels are *masked*: ``-1`` for classification, ``NaN`` for
    regression. A method never sees anything else in a target position.
``sample_domain`` : int array of shape (n_samples,)
    Domain id of each sample: ``>= 0`` (in practice ``>= 1``) for source domains,
    ``< 0`` for target domains. Domain *k* of a dataset is ``k + 1`` when used as a
    source and ``-(k + 1)`` when used as a target, so its id keeps its magnitude.

When ``sample_domain`` is omitted at fit time it is inferred from ``y``: masked labels
are target (:data:`DEFAULT_TARGET_DOMAIN`), the rest source
(:data:`DEFAULT_SOURCE_DOMAIN`). At predict time an omitted ``sample_domain`` means
"all target".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse
from sklearn.utils.multiclass import type_of_target

from shiftlab.exceptions import DataValidationError, TargetLabelLeakError

__all__ = [
    "DEFAULT_SOURCE_DOMAIN",
    "DEFAULT_TARGET_DOMAIN",
    "MASKED_CLASS",
    "check_domain_arrays",
    "infer_sample_domain",
    "is_masked",
    "label_kind",
    "mask_target_labels",
    "source_mask",
    "split_source_target",
    "target_mask",
]

#: Label written in place of a hidden target class label.
MASKED_CLASS = -1
#: Domain ids used when ``sample_domain`` is inferred (the same values as skada).
DEFAULT_SOURCE_DOMAIN = 1
DEFAULT_TARGET_DOMAIN = -2

LabelKind = Literal["classification", "regression"]
TargetLabelPolicy = Literal["raise", "mask", "keep"]


def label_kind(y) -> LabelKind:
    """Tell whether ``y`` holds class labels or regression targets.

    Integer, boolean and string labels are classes. Floating labels are classes when
    every non-masked value is integral (as scikit-learn's ``type_of_target`` decides),
    otherwise regression targets. ``NaN`` entries are treated as masked.
    """
    y = np.asarray(y)
    if y.dtype.kind in "biuOUS":
        return "classification"
    finite = y[~np.isnan(y)] if y.dtype.kind == "f" else y
    if finite.size == 0:
        # Only masked entries: NaN masking is the regression convention.
        return "regression"
    kind = type_of_target(finite)
    return "regression" if kind.startswith("continuous") else "classification"


def is_masked(y, kind: LabelKind | None = None) -> np.ndarray:
    """Boolean array, True where a label is masked (-1 for classes, NaN for regression)."""
    y = np.asarray(y)
    kind = kind or label_kind(y)
    if kind == "regression":
        return np.isnan(y.astype(float))
    if y.dtype.kind == "f":
        return np.isnan(y) | (y == MASKED_CLASS)
    if y.dtype.kind in "OUS":
        return y.astype(str) == str(MASKED_CLASS)
    return y == MASKED_CLASS


def source_mask(sample_domain) -> np.ndarray:
    """Boolean array, True for source samples (``sample_domain >= 0``)."""
    return np.asarray(sample_domain) >= 0


def target_mask(sample_domain) -> np.ndarray:
    """Boolean array, True for target samples (``sample_domain < 0``)."""
    return np.asarray(sample_domain) < 0


def infer_sample_domain(y) -> np.ndarray:
    """Infer ``sample_domain`` from masked labels: masked -> target, the rest -> source."""
    masked = is_masked(y)
    return np.where(masked, DEFAULT_TARGET_DOMAIN, DEFAULT_SOURCE_DOMAIN).astype(np.int64)


def mask_target_labels(y, sample_domain, kind: LabelKind | None = None) -> np.ndarray:
    """Return a copy of ``y`` whose target entries are masked.

    Class labels become ``-1`` (the array is cast to a signed integer type when needed),
    regression targets become ``NaN``. The input is never modified.
    """
    y = np.asarray(y)
    kind = kind or label_kind(y)
    tgt = target_mask(sample_domain)
    if kind == "regression":
        out = y.astype(np.float64, copy=True)
        out[tgt] = np.nan
        return out
    if y.dtype.kind in "OUS":
        raise DataValidationError(
            "Class labels are strings; shiftlab needs integer class labels to mask targets. "
            "Encode them first, e.g. with sklearn.preprocessing.LabelEncoder."
        )
    if y.dtype.kind == "f":
        out = y.astype(np.int64)
    elif y.dtype.kind in "ub" or y.dtype.itemsize < 8:
        out = y.astype(np.int64)
    else:
        out = y.copy()
    out[tgt] = MASKED_CLASS
    return out


_MINUS_ONE_FIX = (
    "If -1 is one of your classes (e.g. labels {-1, +1}), re-encode the classes, e.g. "
    "{-1, +1} -> {0, 1} with sklearn.preprocessing.LabelEncoder or np.where(y == -1, 0, 1)"
)


def _check_X(X, *, allow_nd: bool, allow_nan: bool = False) -> np.ndarray:
    if scipy.sparse.issparse(X):
        raise DataValidationError(
            f"X is a scipy.sparse {type(X).__name__} of shape {X.shape}; shiftlab's methods "
            "need a dense array. Use X.toarray(), or reduce the dimension first (e.g. "
            "sklearn.decomposition.TruncatedSVD)."
        )
    try:
        X = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise DataValidationError(f"X could not be converted to an array: {exc}") from exc
    if X.dtype.kind not in "biuf":
        raise DataValidationError(
            f"X must be numeric, got dtype {X.dtype}. Encode categorical or text features "
            "first (shiftlab's loaders do this for the bundled datasets)."
        )
    if X.ndim == 1:
        raise DataValidationError(
            "X is 1-D; shiftlab expects shape (n_samples, n_features). "
            "Use X.reshape(-1, 1) for a single feature."
        )
    if X.ndim != 2 and not allow_nd:
        raise DataValidationError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    if X.ndim >= 2 and X.shape[1] == 0:
        raise DataValidationError(
            f"X has 0 features (shape {X.shape}); give at least one feature column."
        )
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    bad = np.isinf(X) if allow_nan else ~np.isfinite(X)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        what = "infinite" if allow_nan or not np.isnan(X).any() else "NaN"
        fix = ("Impute them inside the pipeline: put an imputer first, e.g. "
               "make_da_pipeline(SimpleImputer(), CORAL(), LogisticRegression()), or drop "
               "those rows." if what == "NaN" else "Replace or drop them.")
        raise DataValidationError(
            f"X contains {what} values in {rows.size} row(s) (first: {rows[:5].tolist()}). "
            + fix
        )
    return X


def check_domain_arrays(
    X,
    y=None,
    sample_domain=None,
    *,
    target_labels: TargetLabelPolicy = "raise",
    require_source: bool = True,
    require_target: bool = True,
    min_classes: int = 2,
    allow_nd: bool = False,
    allow_nan: bool = False,
    copy: bool = True,
):
    """Validate arrays that follow the domain convention and return safe copies.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features; must be finite. Integer features are converted to float64.
    y : array-like of shape (n_samples,), optional
        Labels with target entries masked. ``None`` is allowed at predict time.
    sample_domain : array-like of int of shape (n_samples,), optional
        Domain ids (source >= 0, target < 0). Inferred from masked labels when ``None``
        and ``y`` is given; "all target" when both are ``None``.
    target_labels : {"raise", "mask", "keep"}, default="raise"
        What to do with visible (unmasked) labels at target positions: raise
        :class:`~shiftlab.exceptions.TargetLabelLeakError`, mask them in the returned
        copy, or keep them (only the evaluator and the oracle scorer use ``"keep"``).
    require_source, require_target : bool, default=True
        Raise when there is no source / no target sample.
    min_classes : int, default=2
        Minimum number of distinct source classes for classification labels.
    allow_nd : bool, default=False
        Accept X with more than two dimensions (images for deep methods).
    allow_nan : bool, default=False
        Accept NaN (missing values) in X, for a pipeline that imputes them first.
    copy : bool, default=True
        Always return new arrays, so that callers' arrays are never modified.

    Returns
    -------
    X, y, sample_domain : ndarray
        Validated arrays (``y`` is ``None`` when it was ``None``).

    Raises
    ------
    DataValidationError
        With a message naming the problem and the fix.
    """
    X = _check_X(X, allow_nd=allow_nd, allow_nan=allow_nan)
    n = X.shape[0]
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1:
            if y.ndim == 2 and y.shape[1] == 1:
                y = y.ravel()
            else:
                raise DataValidationError(
                    f"y must be 1-D of shape (n_samples,), got shape {y.shape}."
                )
        if y.shape[0] != n:
            raise DataValidationError(
                f"X has {n} samples but y has {y.shape[0]}; they must be aligned row by row."
            )
    inferred = sample_domain is None
    if sample_domain is None:
        if y is None:
            sample_domain = np.full(n, DEFAULT_TARGET_DOMAIN, dtype=np.int64)
        else:
            sample_domain = infer_sample_domain(y)
    else:
        sample_domain = np.asarray(sample_domain)
        if sample_domain.ndim != 1 or sample_domain.shape[0] != n:
            raise DataValidationError(
                f"X has {n} samples but sample_domain has shape {sample_domain.shape}; "
                "give one domain id per sample."
            )
        if sample_domain.dtype.kind not in "iu":
            if sample_domain.dtype.kind == "f" and np.all(np.mod(sample_domain, 1) == 0):
                sample_domain = sample_domain.astype(np.int64)
            else:
                raise DataValidationError(
                    "sample_domain must hold integer domain ids (source >= 0, target < 0), got "
                    f"dtype {sample_domain.dtype}. Use DomainDataset.pack to build it from names."
                )
        sample_domain = sample_domain.astype(np.int64, copy=True)
    src = sample_domain >= 0
    if require_source and not src.any():
        raise DataValidationError(
            "No source sample: every sample_domain is negative (target). Give source samples "
            "ids >= 0, or leave sample_domain out and mask only the target labels."
        )
    if require_target and src.all():
        raise DataValidationError(
            "No target sample: every sample_domain is >= 0 (source). Give target samples "
            "negative ids (e.g. -2), or mask their labels and leave sample_domain out."
        )
    if y is not None:
        kind = label_kind(y[src]) if src.any() else label_kind(y)
        masked = is_masked(y, kind)
        visible_target = ~src & ~masked
        if visible_target.any():
            if target_labels == "raise":
                raise TargetLabelLeakError(
                    f"{int(visible_target.sum())} target sample(s) have visible labels. Target "
                    "labels must be hidden from methods and unsupervised scorers: mask them with "
                    "shiftlab.data.mask_target_labels(y, sample_domain) (-1 for classes, NaN "
                    "for regression), or build the arrays with DomainDataset.pack(...)."
                )
            if target_labels == "mask":
                y = mask_target_labels(y, sample_domain, kind)
        if src.any() and masked[src].any():
            n_bad = int(masked[src].sum())
            if kind == "classification":
                raise DataValidationError(
                    f"{n_bad} source sample(s) have masked labels: their label is -1, which "
                    "marks a masked (unknown) label in shiftlab's convention (skada's too). "
                    f"{_MINUS_ONE_FIX}; if they are unlabelled, give them a negative "
                    "sample_domain (target)."
                )
            raise DataValidationError(
                f"{n_bad} source sample(s) have masked labels (NaN). Source samples must be "
                "labelled; give unlabelled samples a negative sample_domain (target)."
            )
        if kind == "classification" and min_classes > 1 and src.any():
            classes = np.unique(y[src])
            if classes.size < min_classes:
                hint = ""
                if inferred and masked.any():
                    hint = (
                        " sample_domain was inferred from y, where -1 marks a masked (unknown) "
                        f"label (target sample). {_MINUS_ONE_FIX}."
                    )
                raise DataValidationError(
                    f"The source domain has {classes.size} class(es) ({classes.tolist()}); "
                    f"at least {min_classes} are needed to train a classifier.{hint}"
                )
        if copy:
            y = np.array(y, copy=True)
    if copy:
        X = np.array(X, copy=True)
    return X, y, sample_domain


def split_source_target(X, y=None, sample_domain=None):
    """Split aligned arrays into source and target parts.

    Returns
    -------
    X_source, y_source, X_target, y_target : ndarray
        ``y_*`` are ``None`` when ``y`` is ``None``. ``y_target`` is masked whenever the
        input was (this function does not unmask anything).
    """
    X = np.asarray(X)
    if sample_domain is None:
        if y is None:
            raise DataValidationError("Give sample_domain or masked y to split source/target.")
        sample_domain = infer_sample_domain(y)
    src = source_mask(sample_domain)
    if y is None:
        return X[src], None, X[~src], None
    y = np.asarray(y)
    return X[src], y[src], X[~src], y[~src]
