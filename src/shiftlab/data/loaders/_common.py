"""What every loader shares: option checks, fetching, building the
:class:`~shiftlab.data.DomainDataset`, and the feature cache of the text datasets."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shiftlab.data.catalog import DatasetInfo
from shiftlab.data.dataset import DomainDataset
from shiftlab.data.home import fetch_file, get_feature_cache_dir
from shiftlab.data.text import TFIDF_SVD_DEFAULTS, tfidf_svd
from shiftlab.exceptions import DataValidationError, suggest

PathLike = str | os.PathLike | None
Domains = dict[str, tuple[np.ndarray, np.ndarray]]

# Bumped whenever a featurisation changes, so stale feature caches are not reused.
_FEATURE_VERSION = 1


# ============================================================================ helpers
def _check_choice(option: str, value, choices) -> None:
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        hint = suggest(str(value), [str(c) for c in choices]) if isinstance(value, str) else ""
        raise DataValidationError(
            f"Invalid {option}={value!r}.{hint} Valid values: {listed}."
        )


def _fetch(info: DatasetInfo, data_home: PathLike, download: bool) -> dict[str, Path]:
    """Fetch the files a loader needs; return ``{file name: local path}``."""
    return {
        f.filename: fetch_file(f, data_home, download) for f in info.files if f.required
    }


def _file_digests(info: DatasetInfo) -> dict[str, str]:
    return {f.path: f.sha256 for f in info.files if f.required}


def _normalise(X: np.ndarray, how: str) -> np.ndarray:
    """Per-sample (and, for 'l1_zscore', per-domain) normalisation of one domain."""
    X = np.asarray(X, dtype=np.float64)
    if how == "none":
        return X
    if how in ("l1", "l1_zscore"):
        norms = np.abs(X).sum(axis=1, keepdims=True)
    else:  # l2
        norms = np.sqrt((X * X).sum(axis=1, keepdims=True))
    # All-zero rows stay zero instead of becoming NaN.
    X = X / np.where(norms > 0, norms, 1.0)
    if how == "l1_zscore":
        # GFK's recipe (MATLAB zscore: sample std, ddof=1), within the domain; constant
        # features become 0 rather than NaN.
        std = X.std(axis=0, ddof=1) if X.shape[0] > 1 else np.zeros(X.shape[1])
        X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return X


_NORMALIZE = ("none", "l1", "l2", "l1_zscore")


def _labels(raw, offset: int = 0) -> np.ndarray:
    return np.asarray(raw).ravel().astype(np.int64) - offset


_FROM_CATALOG = object()  # sentinel: class names as in the catalog entry


def _dataset(
    info: DatasetInfo,
    domains: Domains,
    options: dict,
    *,
    feature_names=None,
    target_names=_FROM_CATALOG,
    extra: dict | None = None,
) -> DomainDataset:
    metadata = {
        "dataset": info.name,
        "title": info.title,
        "options": options,
        "domain_definition": info.domain_definition,
        "citation": list(info.citation),
        "licence": info.licence,
        "files": _file_digests(info),
        **(extra or {}),
    }
    return DomainDataset(
        domains,
        name=info.name,
        feature_names=list(feature_names) if feature_names is not None else None,
        target_names=(
            list(info.classes) if target_names is _FROM_CATALOG
            else None if target_names is None else list(target_names)
        ),
        metadata=metadata,
    )


def _loadmat(path: Path) -> dict:
    from scipy.io import loadmat

    return loadmat(path)


# ------------------------------------------------------------------- feature cache
def _cached_features(
    info: DatasetInfo,
    params: dict,
    compute: Callable[[], Domains],
    *,
    cache: bool,
    data_home: PathLike,
) -> Domains:
    """Return ``compute()``, memoised on disk by dataset, parameters and file digests."""
    if not cache:
        return compute()
    import sklearn

    key = json.dumps(
        {
            "dataset": info.name,
            "version": _FEATURE_VERSION,
            "params": params,
            "files": _file_digests(info),
            # TF-IDF / SVD details can change between scikit-learn releases.
            "sklearn": sklearn.__version__,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    folder = get_feature_cache_dir(data_home)
    path = folder / f"{info.name}-{digest}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                names = [str(n) for n in data["domains"]]
                return {n: (data[f"X_{i}"], data[f"y_{i}"]) for i, n in enumerate(names)}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # unreadable cache entry: recompute and overwrite it
    domains = compute()
    arrays = {"domains": np.array(list(domains))}
    for i, (X, y) in enumerate(domains.values()):
        arrays[f"X_{i}"] = X
        arrays[f"y_{i}"] = y
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)  # atomic: concurrent loaders never read a partial file
    except OSError as exc:
        warnings.warn(
            f"Could not cache the {info.name} features in {folder} ({exc}); they will be "
            "recomputed next time. Set SHIFTLAB_CACHE to a writable folder to cache them.",
            RuntimeWarning,
            stacklevel=3,
        )
    return domains


def _text_params(n_components, max_features, random_state) -> dict:
    params = dict(TFIDF_SVD_DEFAULTS)
    params.update(n_components=n_components, max_features=max_features,
                  random_state=random_state)
    return params


def _featurise(texts_by_domain: dict[str, tuple[list[str], np.ndarray]], params: dict) -> Domains:
    """Fit TF-IDF + SVD on the documents of all domains (no labels), split back by domain."""
    names = list(texts_by_domain)
    texts = [t for n in names for t in texts_by_domain[n][0]]
    Z = tfidf_svd(texts, **params)
    out: Domains = {}
    start = 0
    for n in names:
        docs, y = texts_by_domain[n]
        out[n] = (Z[start:start + len(docs)], np.asarray(y, dtype=np.int64))
        start += len(docs)
    return out


# ===================================================================== Office-Caltech
