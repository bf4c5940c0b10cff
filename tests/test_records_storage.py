"""The stored form of a search: indices instead of rows, float32 outputs, same scores."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from shiftlab.bench.jobs import job_scorer
from shiftlab.bench.runner import run_benchmark
from shiftlab.bench.store import RunStore
from shiftlab.data.simulate import make_shifted_gaussians
from shiftlab.methods import CORAL, make_da_pipeline
from shiftlab.selection import StratifiedDomainShuffleSplit, evaluate_split
from shiftlab.selection._storage import attach_rows, detach_rows

#: The skada-bench preset's scorers.
PRESET_SCORERS = ["IW", "DEV", "PE", "SND", "CircV", "MixVal", "MixVal-intra",
                  "MixVal-inter", "consensus", "oracle"]


def _rescored(search):
    """Every scorer scored again from the records (as a run folder's rescoring does)."""
    scorers = dict(search.scorers)
    search.scores.clear()
    search.selected.clear()
    search.scorers.clear()
    search.aggregations.clear()
    for scorer in scorers.values():
        search.add_scorer(scorer)
    return search.table()


@pytest.fixture(scope="module")
def search_at_10k_rows():
    ds = make_shifted_gaussians("covariate", n_features=30, n_classes=2,
                                n_samples_source=5000, n_samples_target=5000, random_state=0)
    X, _, sd, y = ds.pack(ds.tasks()[0], return_target_labels=True)
    perm = np.random.default_rng(0).permutation(len(X))
    scorers = [job_scorer(name, "accuracy", "classification") for name in PRESET_SCORERS]
    frame, search = evaluate_split(
        make_da_pipeline(CORAL(), LogisticRegression(max_iter=1000)),
        {"coral__assume_centered": [False, True]}, X, y, sd, perm[2000:], perm[:2000],
        scorers=scorers, random_state=0, return_search=True,
        inner_cv=StratifiedDomainShuffleSplit(n_splits=5, test_size=0.2, random_state=0),
    )
    return (X, y, sd), frame, search


def test_a_stored_search_keeps_indices_and_rescores_the_same(search_at_10k_rows):
    (X, y, sd), frame, search = search_at_10k_rows
    whole = len(pickle.dumps(search, protocol=pickle.HIGHEST_PROTOCOL))
    stored = pickle.dumps(detach_rows(search), protocol=pickle.HIGHEST_PROTOCOL)
    # The bar: <= 2 MB per job at 10,000 rows (12.7 MiB as the search is built).
    assert len(stored) <= 2e6 < whole
    assert search._train is not None and search.contexts[0].X_train is not None  # untouched
    back = pickle.loads(stored)
    assert back._train is None and all(c.X_train is None for c in back.contexts)
    proba = next(iter(back.records.values())).proba_target_val
    assert proba.dtype == np.float32
    attach_rows(back, X, y, sd)
    for a, b in zip(search.contexts, back.contexts, strict=True):
        for name in ("X_train", "y_train", "X_source_val", "y_source_val", "X_target_val",
                     "sample_domain_train", "sample_domain_target_val"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # Rescoring every scorer from the stored form: same scores to 1e-6, same choices.
    table = _rescored(back)
    numeric = frame.select_dtypes("number").columns
    np.testing.assert_allclose(table[numeric].to_numpy(float), frame[numeric].to_numpy(float),
                               rtol=0, atol=1e-6, equal_nan=True)
    assert table["selected"].tolist() == frame["selected"].tolist()


def test_a_search_stored_whole_is_kept_as_it_is(search_at_10k_rows):
    """Run folders written before the stored form held whole searches: still loadable."""
    (X, y, sd), _, search = search_at_10k_rows
    old = pickle.loads(pickle.dumps(search))
    old.rows = None
    assert detach_rows(old) is old
    attach_rows(old, X[::-1], y, sd)  # nothing to rebuild: the arrays are not read
    np.testing.assert_array_equal(old._train[0], search._train[0])


TINY = """
[benchmark]
name = "tiny"

[protocol]
outer_splits = 2
inner_splits = 3
seed = 3

[[datasets]]
name = "sim-conditional"
tasks = ["source->target"]
options = {{ n_samples_source = 60, n_samples_target = 60 }}

[estimator]
name = "LogisticRegression"

[methods."Train Src"]
[methods.CORAL]
[methods.DensityReweight]
grid = {{ bandwidth = [0.5, "scott"] }}

[scorers]
names = [{scorers}]
pool = ["EnsV", "IW"]

[execution]
executor = "inprocess"
"""


def test_scorers_added_to_a_run_folder_match_a_fresh_run(tmp_path):
    """Rescoring reads the stored form (indices, float32) and gives a fresh run's rows."""
    first = tmp_path / "first.toml"
    first.write_text(TINY.format(scorers='"IW", "oracle"'))
    more = tmp_path / "more.toml"
    more.write_text(TINY.format(scorers='"IW", "oracle", "PE", "SND", "CircV", "DEV"'))
    run_dir, fresh_dir = tmp_path / "run", tmp_path / "fresh"
    run_benchmark(first, run_dir, progress=False)
    records = sorted((run_dir / "records").glob("*.pkl"))
    assert records
    for path in records:  # what a run folder keeps: indices, not rows
        stored = pickle.loads(path.read_bytes())
        assert stored.rows is not None and stored._train is None
    summary = run_benchmark(more, run_dir, progress=False)
    # 3 methods x 2 outer splits (Train Src too: it has records, for the pools)
    assert summary.n_done == 0 and summary.n_rescored == 6
    run_benchmark(more, fresh_dir, progress=False)
    key = ["job_key", "method", "outer_split", "candidate", "scorer"]
    fresh = RunStore(fresh_dir).results().sort_values(key).reset_index(drop=True)
    rescored = RunStore(run_dir).results()
    # The folder also keeps the first definition's pools (their keys name its scorers).
    rescored = rescored[rescored["job_key"].isin(set(fresh["job_key"]))]
    rescored = rescored.sort_values(key).reset_index(drop=True)
    assert len(rescored) == len(fresh)
    pd.testing.assert_series_equal(rescored["selected"], fresh["selected"])
    for col in ("inner_score", "test_accuracy", "test_roc_auc"):
        np.testing.assert_allclose(rescored[col].to_numpy(float), fresh[col].to_numpy(float),
                                   rtol=0, atol=1e-6, equal_nan=True)
