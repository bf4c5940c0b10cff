"""SKADA-Bench faithful mode: per-method subsampling (``max_samples_per_domain``), the
``skada-bench`` preset, and the SKADA-Bench MNIST/USPS variant (``mnist_usps_skada``)."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from shiftlab.bench import jobs as bench_jobs
from shiftlab.bench.definition import DefinitionError, definition_from_dict, load_definition
from shiftlab.bench.planner import plan_jobs, plan_pools, pool_exclusions, pooled
from shiftlab.bench.runner import run_benchmark
from shiftlab.bench.store import RunStore
from shiftlab.data.dataset import Task

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CAP = 20
CAPPED = "CORAL"


def _toml(cap: int | None = None, *, pool: bool = False, outer_splits: int = 2) -> str:
    return f"""
[benchmark]
name = "faithful"

[protocol]
outer_splits = {outer_splits}
inner_splits = 2
seed = 3

[[datasets]]
name = "sim-conditional"
tasks = ["source->target"]
options = {{ n_samples_source = 60, n_samples_target = 60 }}

[estimator]
name = "LogisticRegression"
standardize = false

[methods."Train Src"]
[methods.DensityReweight]
grid = {{ bandwidth = [0.5] }}
[methods.{CAPPED}]
grid = {{ assume_centered = [false, true] }}
{"" if cap is None else f"max_samples_per_domain = {cap}"}

[scorers]
names = ["IW", "PE", "oracle"]
{'pool = ["EnsV"]' if pool else ""}

[execution]
executor = "inprocess"
"""


def _definition(cap: int | None = None, **kwargs):
    return definition_from_dict(tomllib.loads(_toml(cap, **kwargs)))


# --------------------------------------------------------------- per-method cap
def test_method_cap_changes_only_that_methods_keys_and_is_absent_from_old_dicts():
    base, capped = _definition(), _definition(CAP)
    assert next(m for m in capped.methods if m.name == CAPPED).max_samples_per_domain == CAP
    # Left out of the dict at its default: existing definitions keep their digest.
    assert all("max_samples_per_domain" not in m for m in base.to_dict()["methods"])
    assert [m.get("max_samples_per_domain") for m in capped.to_dict()["methods"]] == \
        [None, None, CAP]
    assert base.digest() != capped.digest()
    before = {(j.method.name, j.outer_split): j.key for j in plan_jobs(base)}
    after = {(j.method.name, j.outer_split): j.key for j in plan_jobs(capped)}
    assert before.keys() == after.keys()
    for (method, split), key in before.items():
        assert (after[(method, split)] == key) == (method != CAPPED), (method, split)
    # Another cap is another key.
    other = {(j.method.name, j.outer_split): j.key for j in plan_jobs(_definition(CAP + 1))}
    assert other[(CAPPED, 0)] != after[(CAPPED, 0)]
    assert other[("DensityReweight", 0)] == before[("DensityReweight", 0)]


@pytest.mark.parametrize("value", [0, -3, 1.5, "all", True])
def test_method_cap_is_checked(value, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        '[benchmark]\nname = "bad"\n[[datasets]]\nname = "sim-conditional"\n'
        '[methods.CORAL]\ngrid = { assume_centered = [false] }\n'
        f"max_samples_per_domain = {value!r}\n".replace("'", '"').replace("True", "true")
    )
    with pytest.raises(DefinitionError, match=r"bad.toml:\d+: \[methods.CORAL\] "
                       r"max_samples_per_domain must be a positive integer"):
        load_definition(path)


# --------------------------------------------------------- per-dataset grids
def _two_dataset_toml(dataset_grids: str = "") -> str:
    return _toml().replace(
        "[estimator]",
        '[[datasets]]\nname = "sim-covariate"\ntasks = ["source->target"]\n'
        "options = { n_samples_source = 60, n_samples_target = 60 }\n\n[estimator]",
    ).replace("[scorers]", dataset_grids + "\n[scorers]")


def test_dataset_grids_replace_the_grid_on_their_dataset_only():
    cut = f"[methods.{CAPPED}.dataset_grids]\n" + \
        '"sim-covariate" = { assume_centered = [true] }\n'
    base = definition_from_dict(tomllib.loads(_two_dataset_toml()))
    with_cut = definition_from_dict(tomllib.loads(_two_dataset_toml(cut)))
    entry = next(m for m in with_cut.methods if m.name == CAPPED)
    assert entry.dataset_grids == {"sim-covariate": {"assume_centered": [True]}}
    assert entry.on_dataset("sim-covariate").grid == {"assume_centered": [True]}
    assert entry.on_dataset("sim-conditional").grid == {"assume_centered": [False, True]}
    # Left out of the dict when empty: existing definitions keep their digest.
    assert all("dataset_grids" not in m for m in base.to_dict()["methods"])
    before = {(j.dataset.name, j.method.name, j.outer_split): j for j in plan_jobs(base)}
    after = {(j.dataset.name, j.method.name, j.outer_split): j for j in plan_jobs(with_cut)}
    assert before.keys() == after.keys()
    for (dataset, method, split), job in after.items():
        changed = dataset == "sim-covariate" and method == CAPPED
        assert (job.key != before[(dataset, method, split)].key) == changed
        if method == CAPPED:
            expected = [True] if dataset == "sim-covariate" else [False, True]
            assert job.method.grid == {"assume_centered": expected}


@pytest.mark.parametrize(("cut", "message"), [
    ('[methods.CORAL.dataset_grids]\n"sim-covaraite" = { assume_centered = [true] }\n',
     r"dataset_grids names 'sim-covaraite', which is no known dataset. "
     r"Did you mean 'sim-covariate'\?"),
    ('[methods.CORAL.dataset_grids]\n"sim-covariate" = { assume_centred = [true] }\n',
     r"\[methods.CORAL.dataset_grids.sim-covariate\] CORAL has no parameter "
     r"'assume_centred'. Did you mean 'assume_centered'\?"),
    ('[methods.CORAL]\ndataset_grids = 3\n', r"dataset_grids must be a table"),
])
def test_dataset_grids_are_checked(cut, message, tmp_path):
    text = _two_dataset_toml(cut) if "CORAL.dataset_grids" in cut else \
        _two_dataset_toml().replace('[methods.CORAL]\n', cut)
    path = tmp_path / "grids.toml"
    path.write_text(text)
    with pytest.raises(DefinitionError, match=message):
        load_definition(path)


def test_dataset_estimators_give_a_method_its_own_base_estimator_there(tmp_path):
    own = (f"[methods.{CAPPED}.dataset_estimators]\n"
           '"sim-covariate" = { name = "SVC", params = { probability = true }, '
           "standardize = false }\n")
    base = definition_from_dict(tomllib.loads(_two_dataset_toml()))
    with_own = definition_from_dict(tomllib.loads(_two_dataset_toml(own)))
    assert all("dataset_estimators" not in m and "estimator" not in m
               for m in base.to_dict()["methods"])
    before = {(j.dataset.name, j.method.name, j.outer_split): j for j in plan_jobs(base)}
    after = {(j.dataset.name, j.method.name, j.outer_split): j for j in plan_jobs(with_own)}
    for (dataset, method, split), job in after.items():
        changed = dataset == "sim-covariate" and method == CAPPED
        assert (job.key != before[(dataset, method, split)].key) == changed
        assert job.estimator.name == ("SVC" if changed else "LogisticRegression")
    entry = next(m for m in with_own.methods if m.name == CAPPED)
    assert not pooled(entry)  # a pool's choice is refitted on the dataset's estimator
    # The rows of that method on that dataset name the SVC.
    path = tmp_path / "own.toml"
    path.write_text(_two_dataset_toml(own).replace("outer_splits = 2", "outer_splits = 1"))
    run_benchmark(path, tmp_path / "run", progress=False)
    rows = RunStore(tmp_path / "run").results()
    used = rows.groupby(["dataset", "method"])["base_estimator"].first()
    assert used[("sim-covariate", CAPPED)].startswith("SVC(")
    assert used[("sim-conditional", CAPPED)].startswith("LogisticRegression(")
    assert used[("sim-covariate", "DensityReweight")].startswith("LogisticRegression(")
    # The report says which methods ran on which base estimator.
    from shiftlab.report.html import write_report

    page = write_report(tmp_path / "run").read_text()
    section = page.split("<h2>Base estimators</h2>", 1)[1].split("<h2>", 1)[0]
    assert "SVC(" in section and f">{CAPPED}<" in section


@pytest.mark.parametrize(("table", "message"), [
    ('"sim-covariate" = { name = "SVCC" }', r"unknown estimator 'SVCC'. Did you mean 'SVC'\?"),
    ('"sim-covarate" = { name = "SVC" }', r"dataset_estimators names 'sim-covarate'"),
])
def test_dataset_estimators_are_checked(table, message, tmp_path):
    path = tmp_path / "own.toml"
    path.write_text(_two_dataset_toml(f"[methods.CORAL.dataset_estimators]\n{table}\n"))
    with pytest.raises(DefinitionError, match=message):
        load_definition(path)
    path.write_text(_two_dataset_toml('[methods."Train Src".dataset_estimators]\n'
                                      '"sim-covariate" = { name = "SVC" }\n'))
    with pytest.raises(DefinitionError, match="Train Src is a baseline"):
        load_definition(path)


def test_faithful_preset_cuts_grids_as_skada_bench_did():
    methods = {m.name: m for m in load_definition("skada-bench").methods}
    tsl = methods["TSL"]
    assert tsl.on_dataset("mushrooms").grid["n_components"] == [5, 10, 20]
    assert tsl.on_dataset("mushrooms").grid["max_iter"] == [4]
    assert tsl.on_dataset("amazon_review_400").grid == tsl.grid  # no cut there
    assert methods["JDOT"].on_dataset("phishing").grid["alpha"] == [0.5]
    assert methods["TCA"].on_dataset("mnist_usps_skada").grid["n_components"] == [5, 10, 20]
    assert methods["MMD-LS"].on_dataset("twenty_newsgroups").grid["gamma"] == [1.0]
    for name in ("DASVM", "JDOT"):  # SKADA-Bench's SVCs for them
        assert methods[name].on_dataset("mushrooms").estimator.name == "SVC"
        assert methods[name].on_dataset("phishing").estimator.params["C"] == 100.0
        assert methods[name].on_dataset("amazon_review_400").estimator is None


def _task_arrays(job):
    from shiftlab.bench.datasets import load_spec

    ds = load_spec(job.dataset, random_state=job.protocol.seed)
    X, y_masked, sd, y_true = ds.pack(Task.parse(job.task), return_target_labels=True)
    return y_masked, sd, y_true


def test_fit_indices_are_capped_stratified_seeded_and_shared():
    jobs = plan_jobs(_definition(CAP))
    capped = next(j for j in jobs if j.method.name == CAPPED and j.outer_split == 0)
    uncapped = next(j for j in jobs if j.method.name == "DensityReweight"
                    and j.outer_split == 0)
    y_masked, sd, y_true = _task_arrays(capped)
    train, _ = bench_jobs.outer_split_indices(capped, y_true, sd)
    assert np.array_equal(bench_jobs.fit_indices(uncapped, y_masked, sd, train), train)
    rows = bench_jobs.fit_indices(capped, y_masked, sd, train)
    for domain in np.unique(sd[train]):
        assert (sd[rows] == domain).sum() == min(CAP, (sd[train] == domain).sum())
    # A subset of the outer-train rows, in their order.
    position = {r: i for i, r in enumerate(train)}
    assert all(np.diff([position[r] for r in rows]) > 0)
    # Source classes keep their proportions (largest remainders).
    src_all, src = train[sd[train] >= 0], rows[sd[rows] >= 0]
    share = np.bincount(y_true[src_all]) * CAP / src_all.size
    assert np.all(np.abs(np.bincount(y_true[src], minlength=share.size) - share) < 1)
    # Seeded by the job's seed: again the same rows, and the same for another capped
    # method of the task and split.
    from dataclasses import replace

    from shiftlab.bench.definition import MethodEntry

    other = replace(capped, method=MethodEntry("SA", max_samples_per_domain=CAP))
    assert np.array_equal(bench_jobs.fit_indices(other, y_masked, sd, train), rows)
    assert np.array_equal(bench_jobs.fit_indices(capped, y_masked, sd, train), rows)


def test_capped_job_fits_on_capped_rows_and_is_scored_on_the_same_test_rows(monkeypatch):
    seen = {}
    real = bench_jobs.evaluate_split

    def spy(pipe, grid, X, y, sd, train_idx, test_idx, **kwargs):
        frame, search = real(pipe, grid, X, y, sd, train_idx, test_idx, **kwargs)
        seen[len(seen)] = (np.asarray(train_idx), np.asarray(test_idx), sd, search)
        return frame, search

    monkeypatch.setattr(bench_jobs, "evaluate_split", spy)
    jobs = plan_jobs(_definition(CAP))
    pick = {j.method.name: j for j in jobs if j.outer_split == 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = {name: bench_jobs.run_job(pick[name]).frame
                  for name in ("DensityReweight", CAPPED)}
    (full_train, full_test, sd, full), (train, test, _, capped) = seen[0], seen[1]
    # Fitted on at most CAP rows per domain of the outer-train part...
    assert np.isin(train, full_train).all() and train.size < full_train.size
    for domain in np.unique(sd):
        assert (sd[train] == domain).sum() <= CAP
    for ctx in capped.contexts:  # inner fits too
        assert max(np.unique(ctx.sample_domain_train, return_counts=True)[1]) <= CAP
    sd_fit = capped._train[2]
    assert sd_fit.size == train.size and (sd_fit >= 0).sum() <= CAP
    # ... and scored on the same outer test rows as the uncapped method.
    assert np.array_equal(test, full_test)
    assert np.array_equal(capped._y_test, full._y_test)
    assert np.array_equal(capped._test[0], full._test[0])
    n_test_target = int((sd[full_test] < 0).sum())
    assert capped._y_test.size == n_test_target
    # Its rows say they come from capped fits; the others' rows are unchanged.
    assert set(frames[CAPPED]["method_max_samples_per_domain"]) == {CAP}
    assert "method_max_samples_per_domain" not in frames["DensityReweight"]
    assert frames[CAPPED]["test_accuracy"].notna().any()


def test_pools_leave_capped_methods_out_and_say_so(tmp_path):
    path = tmp_path / "faithful.toml"
    path.write_text(_toml(CAP, pool=True, outer_splits=1))
    definition = load_definition(path)
    assert pool_exclusions(definition) == [CAPPED]
    jobs = plan_jobs(definition)
    pools = plan_pools(definition, jobs)
    assert pools and all(CAPPED not in dict(p.members) for p in pools)
    assert all({"DensityReweight", "SourceOnly"} == set(dict(p.members)) for p in pools)
    dry = run_benchmark(definition, tmp_path / "dry", dry_run=True, progress=False)
    assert any(CAPPED in note and "pool" in note for note in dry.notes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = run_benchmark(definition, tmp_path / "run", progress=False)
    assert summary.n_failed == 0 and summary.n_pools == 1
    assert f"left out of the cross-method pools ([scorers] pool): {CAPPED}" in str(summary)
    results = RunStore(tmp_path / "run").results()
    assert CAPPED in set(results["method"]) and "shiftlab: EnsV" in set(results["method"])
    pooled = results[results["method"] == "shiftlab: EnsV"]
    assert CAPPED not in set(pooled["pool_method"].dropna())
    # Without a pool there is nothing to leave out.
    assert pool_exclusions(_definition(CAP)) == []


# -------------------------------------------------------------- faithful preset
CAPPED_IN_PRESET = {"JDOT", "DASVM", "TCA", "TSL"}


def test_faithful_preset_loads_and_plans(tmp_path):
    preset = load_definition("skada-bench")
    methods = {m.name: m for m in preset.methods}
    assert CAPPED_IN_PRESET <= {n for n, m in methods.items() if m.max_samples_per_domain}
    assert {m.max_samples_per_domain for m in methods.values()} == {None, 500}
    assert methods["DASVM"].grid == {"max_iter": [200], "k": [3]}
    assert methods["JDOT"].grid["alpha"] == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert len(methods["TSL"].grid["n_components"]) * len(methods["TSL"].grid["mu"]) == 21
    specs = {d.name: d for d in preset.datasets}
    assert "mnist_usps_skada" in specs and "mnist_usps" not in specs
    # No scaler before the adapter wherever the data (or generator) is SKADA-Bench's.
    for name in ("sim-covariate", "sim-subspace", "mnist_usps_skada", "mushrooms",
                 "phishing", "twenty_newsgroups"):
        assert specs[name].estimator.standardize is False, name
    assert specs["office_caltech10_surf"].estimator.standardize is True
    assert preset.estimator.standardize is False
    assert specs["mnist_usps_skada"].estimator.params == {"probability": True, "C": 10.0,
                                                         "gamma": 0.01}
    # Features that are not SKADA-Bench's: its first stage, not its tuned estimator.
    for name in ("twenty_newsgroups", "amazon_review_400"):
        assert specs[name].estimator.name == "auto", name
    # A dry run of its simulated part plans every method (fast: no file is read).
    from importlib import resources

    text = (resources.files("shiftlab.bench") / "presets" / "skada-bench.toml").read_text()
    data = tomllib.loads(text)
    data["datasets"] = [d for d in data["datasets"] if d["name"].startswith("sim-")]
    sim = definition_from_dict(data, "preset:skada-bench")
    summary = run_benchmark(sim, tmp_path / "run", dry_run=True, progress=False)
    assert summary.n_jobs == summary.n_todo == 4 * 5 * len(preset.methods)
    assert [row["methods"] for row in summary.plan] == [len(preset.methods)] * 4


@pytest.mark.slow
@pytest.mark.data
def test_faithful_preset_dry_run_plans_every_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_CACHE", str(tmp_path / "features"))
    summary = run_benchmark("skada-bench", tmp_path / "run", dry_run=True, progress=False)
    plan = {row["dataset"]: row for row in summary.plan}
    assert plan["mnist_usps_skada"]["tasks"] == 2
    assert plan["twenty_newsgroups"]["tasks"] == 1
    assert summary.n_jobs == sum(row["jobs"] for row in summary.plan)


# ------------------------------------------------------ SKADA-Bench MNIST / USPS
@pytest.fixture(scope="module")
def _digit_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("digit_features")


@pytest.mark.data
def test_mnist_usps_skada_variant(shared_data_home, _digit_cache, monkeypatch):
    from shiftlab.data.catalog import dataset_info, is_available
    from shiftlab.data.loaders import _read_idx, load_dataset

    if not is_available("mnist_usps_skada", shared_data_home):
        pytest.skip("the digits files (digits_usps_mnist_full) are not in the data home")
    monkeypatch.setenv("SHIFTLAB_CACHE", str(_digit_cache))
    info = dataset_info("mnist_usps_skada")
    # It reads the files of mnist_usps_full in the data home (not the MNIST training
    # set, which mnist_usps_full downloads on demand), and carries their sha256 sums.
    assert info.files == dataset_info("mnist_usps_full").required_files
    assert dataset_info("mnist_usps_pca") is info
    ds = load_dataset("mnist_usps_skada", download=False)
    assert ds.sizes() == {"mnist": 3000, "usps": 3000} == dict(info.sizes)
    assert ds.n_features == info.n_features == 50
    for domain in ds:
        X, y = ds[domain]
        assert X.dtype == np.float64 and X.shape == (3000, 50) and np.isfinite(X).all()
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    assert ds.metadata["files"] == {f.path: f.sha256 for f in info.files if f.required}
    # SKADA-Bench's draw: RandomState(27).choice(n, 3000, replace=False), per domain.
    labels = _read_idx(shared_data_home / "digits_usps_mnist_full/t10k-labels-idx1-ubyte.gz",
                       2049)
    rows = np.random.RandomState(27).choice(labels.size, 3000, replace=False)
    assert np.array_equal(ds["mnist"][1], labels[rows])
    # Whitened PCA fitted on both domains: unit variance over all of their rows.
    both = np.concatenate([ds[d][0] for d in ds])
    assert 0.7 < both.var(axis=0).mean() < 1.3
    # Deterministic: computed again without the cache, the same arrays.
    again = load_dataset("mnist_usps_skada", download=False, cache=False)
    for domain in ds:
        np.testing.assert_array_equal(again[domain][0], ds[domain][0])
        np.testing.assert_array_equal(again[domain][1], ds[domain][1])


def test_the_probabilistic_svc_survives_scikit_learn_removing_its_parameter():
    """SKADA-Bench's SVC(probability=True): deprecated in scikit-learn 1.9, removed in
    1.11. Built as such while it exists, as scikit-learn's replacement afterwards."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.datasets import make_classification
    from sklearn.svm import SVC

    from shiftlab.bench.definition import probabilistic_svc

    X, y = make_classification(400, n_features=6, random_state=0)
    params = {"probability": True, "C": 10.0, "random_state": 0}
    old = probabilistic_svc(params, has_probability=True)
    new = probabilistic_svc(params, has_probability=False)
    assert isinstance(old, SVC) and old.probability
    assert isinstance(new, CalibratedClassifierCV) and new.ensemble is False
    assert new.estimator.C == 10.0 and new.estimator.get_params().get("probability") is not True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        old.fit(X[:300], y[:300])
    new.fit(X[:300], y[:300])
    p_old, p_new = old.predict_proba(X[300:]), new.predict_proba(X[300:])
    np.testing.assert_allclose(p_new.sum(axis=1), 1.0)
    # Platt scaling either way: the same labels, probabilities a few points apart.
    assert (old.predict(X[300:]) == new.predict(X[300:])).mean() >= 0.97
    assert np.abs(p_old - p_new).mean() < 0.05


def test_jobs_with_the_presets_svc_do_not_record_its_deprecation(tmp_path):
    text = _toml().replace('name = "LogisticRegression"',
                           'name = "SVC"\nparams = { probability = true }')
    (tmp_path / "svc.toml").write_text(text)
    run_benchmark(tmp_path / "svc.toml", tmp_path / "run", progress=False)
    rows = RunStore(tmp_path / "run").results()
    assert rows["test_accuracy"].notna().any()
    assert not rows["warnings"].str.contains("probability").any()


# ------------------------------------------------ SKADA-Bench's first stage ("auto")
def test_first_stage_chooses_on_source_rows_only():
    """The base estimator is chosen by source accuracy; target rows are never read."""
    from sklearn.datasets import make_moons

    from shiftlab.bench.base_estimator import (
        choose_base_estimator,
        describe,
        first_stage_candidates,
    )

    X, y = make_moons(600, noise=0.2, random_state=0)
    spec, scores = choose_base_estimator(X, y, random_state=0)
    assert len(scores) == len(first_stage_candidates()) == 11
    # Two moons are not linearly separable: a kernel or trees beat every linear model.
    assert spec.name in ("SVC", "HistGradientBoostingClassifier")
    # The cheapest candidate within one standard error of the best: close to the best.
    assert dict(scores)[describe(spec)] >= max(v for _, v in scores) - 0.05
    assert choose_base_estimator(X, y, random_state=0)[0] == spec  # deterministic
    if spec.name == "SVC":
        assert spec.params["probability"] is True


def test_first_stage_keeps_the_cheapest_candidate_the_folds_cannot_tell_apart():
    """One-standard-error rule: on linear data an SVC may score a hair higher, but the
    logistic regression, within one standard error and far cheaper, is kept."""
    from sklearn.datasets import make_classification

    from shiftlab.bench.base_estimator import choose_base_estimator, describe

    X, y = make_classification(600, n_features=10, n_informative=5, flip_y=0.05,
                               random_state=0)
    spec, scores = choose_base_estimator(X, y, random_state=0)
    assert spec.name == "LogisticRegression"
    # Not the best fold accuracy (an SVC's), yet within one standard error of it.
    assert dict(scores)[describe(spec)] < max(v for _, v in scores)


def test_first_stage_standard_error_is_at_least_the_binomial_one(shared_data_home):
    """Amazon electronics (2,000 source reviews): HistGradientBoosting scores 0.839 and
    LogisticRegression(C=100) 0.835; the three folds differ by 0.002 only, but an
    accuracy on 2,000 rows carries sqrt(.84 x .16 / 2000) = 0.008 of binomial error, so
    the folds cannot tell the two apart and the 45x cheaper LogisticRegression is kept."""
    from shiftlab.bench.base_estimator import choose_base_estimator, describe
    from shiftlab.data.loaders import load_dataset

    X, y = load_dataset("amazon_review_400")["electronics"]
    spec, scores = choose_base_estimator(X, y, standardize=False, random_state=0)
    scores = dict(scores)
    best = max(scores, key=scores.get)
    assert best.startswith("HistGradientBoostingClassifier")
    assert spec.name == "LogisticRegression"
    gap = scores[best] - scores[describe(spec)]
    binomial = np.sqrt(scores[best] * (1 - scores[best]) / len(y))
    assert 0 < gap <= binomial


def test_auto_estimator_runs_per_task_is_recorded_and_ignores_target_labels(tmp_path):
    text = _toml().replace('name = "LogisticRegression"', 'name = "auto"')
    (tmp_path / "auto.toml").write_text(text)
    run_benchmark(tmp_path / "auto.toml", tmp_path / "run", progress=False)
    rows = RunStore(tmp_path / "run").results()
    assert rows["test_accuracy"].notna().any()
    chosen = set(rows["base_estimator"])
    assert len(chosen) == 1 and " without scaler" in chosen.pop()  # one task, one choice
    from shiftlab.report.html import write_report

    page = write_report(tmp_path / "run").read_text()
    assert "<h2>Base estimators</h2>" in page and "without scaler" in page
    assert "mean CPU s / job" in page
    # Cached in the run folder: what the other processes of the run read.
    assert any((tmp_path / "run").rglob("_first_stage_choice"))
    # The choice reads source rows only: other target labels give the same estimator.
    from shiftlab.bench.base_estimator import _first_stage_choice

    definition = _definition()
    job = plan_jobs(definition)[0]
    X, y_masked, sd, y_true = bench_jobs.load_task(job)
    flipped = np.where(sd < 0, 1 - y_true, y_true)  # other, and visible, target labels
    args = ("key", job.task, False, 0)
    assert (_first_stage_choice(*args, loader=lambda: (X, y_masked, sd, y_true))
            == _first_stage_choice(*args, loader=lambda: (X, flipped, sd, flipped)))


def test_auto_estimator_takes_no_params(tmp_path):
    text = _toml().replace('name = "LogisticRegression"',
                           'name = "auto"\nparams = { C = 1.0 }')
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(DefinitionError, match='estimator "auto" takes no params'):
        load_definition(tmp_path / "bad.toml")
