"""Resolve the datasets a benchmark definition names into DomainDatasets.

Names are resolved through :mod:`shiftlab.data.registry`, where every generator and
loader registers itself: simulated shifts (``sim-<shift>``, ``gauss-<shift>``), the
datasets embedded in scikit-learn (``digits-shift``, ``breast-cancer-shift``) and every
real dataset of the catalog (read from the data home). The other source is a user's own
table (``file = "..."``; see :mod:`shiftlab.data.tables`), parsed once by the driver when
the definition is loaded; the parsed dataset travels with the jobs as bytes
(:attr:`~shiftlab.bench.definition.DatasetSpec.table`), so workers need no shared file
system.

Loading is memoised per process, so the jobs of one dataset that land on the same
worker load it once.
"""

from __future__ import annotations

import functools
import hashlib
import json

import numpy as np

from shiftlab.data.dataset import DomainDataset
from shiftlab.data.registry import get_dataset, list_datasets

__all__ = [
    "available_dataset_names", "dataset_fingerprint", "load_benchmark_dataset", "load_spec",
    "spec_fingerprint",
]


def available_dataset_names() -> list[str]:
    """Every dataset name a definition may use (registered in :mod:`shiftlab.data.registry`)."""
    return [entry.name for entry in list_datasets()]


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, options_json: str) -> DomainDataset:
    return get_dataset(name).load(**json.loads(options_json))


@functools.lru_cache(maxsize=8)
def _table_cached(sha256: str, table: bytes) -> DomainDataset:
    return DomainDataset.load(table)


def load_spec(spec, random_state: int = 0) -> DomainDataset:
    """The dataset of a definition's :class:`~shiftlab.bench.definition.DatasetSpec`."""
    if spec.file:
        if not spec.table:
            raise ValueError(f"dataset {spec.name!r}: its table was not read (a DatasetSpec "
                             "for a file is built by load_definition).")
        ds = _table_cached(spec.file_sha256, spec.table)
        return _subsample(ds, spec.max_samples_per_domain, random_state)
    return load_benchmark_dataset(spec.name, spec.options, spec.max_samples_per_domain,
                                  random_state)


def load_benchmark_dataset(
    name: str, options: dict | None = None, max_samples_per_domain: int | None = None,
    random_state: int = 0,
) -> DomainDataset:
    """Load a dataset by benchmark name, optionally subsampling each domain (stratified)."""
    options = dict(options or {})
    if get_dataset(name).seeded:
        # Generators must draw the same data in every worker: seed them from the
        # protocol unless the definition gives a seed.
        options.setdefault("random_state", random_state)
    ds = _load_cached(name, json.dumps(options, sort_keys=True))
    return _subsample(ds, max_samples_per_domain, random_state)


def _subsample(ds: DomainDataset, max_samples_per_domain: int | None,
               random_state: int) -> DomainDataset:
    """At most ``max_samples_per_domain`` rows of each domain (stratified on the class)."""
    if max_samples_per_domain is None:
        return ds
    from sklearn.model_selection import train_test_split

    domains = {}
    for dname in ds.domain_names:
        X, y = ds[dname]
        if X.shape[0] <= max_samples_per_domain:
            domains[dname] = (X, y)
            continue
        strat = y if ds.label_kind == "classification" and np.unique(y).size > 1 else None
        idx, _ = train_test_split(
            np.arange(X.shape[0]), train_size=max_samples_per_domain,
            stratify=strat, random_state=random_state,
        )
        idx.sort()
        domains[dname] = (X[idx], y[idx])
    return DomainDataset(
        domains, name=ds.name, heterogeneous=ds.heterogeneous,
        feature_names=ds.feature_names, target_names=ds.target_names,
        metadata={**ds.metadata, "max_samples_per_domain": max_samples_per_domain},
        allow_missing=ds.allow_missing,
    )


def spec_fingerprint(spec) -> str:
    """:func:`dataset_fingerprint` of a DatasetSpec; a table is keyed by its file's
    sha256 and how it is read (columns, preprocessing), not by its path."""
    if not spec.file:
        fingerprint = dataset_fingerprint(spec.name, spec.options)
    else:
        payload = {"sha256": spec.file_sha256, "columns": spec.columns}
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        fingerprint = hashlib.sha256(blob).hexdigest()[:16]
    if spec.preprocessing:
        blob = json.dumps([fingerprint, spec.preprocessing], sort_keys=True).encode()
        fingerprint = hashlib.sha256(blob).hexdigest()[:16]
    return fingerprint


def dataset_fingerprint(name: str, options: dict | None = None) -> str:
    """A short hash identifying the data a job reads (name, options and file sums)."""
    payload = {"name": name, "options": options or {}}
    catalog = {entry.name: entry for entry in list_datasets("catalog")}
    if name in catalog:
        payload["files"] = sorted(f.sha256 for f in catalog[name].info.files)
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
