"""A practitioner's own table: reading it, preprocessing inside the protocol, benchmark
definitions with a file, a deployable selected model, and the README's walk-through."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

from _own_data import clinic_table, write_readme_files
from shiftlab.bench.datasets import load_spec
from shiftlab.bench.definition import DefinitionError, load_definition
from shiftlab.bench.jobs import build_estimator
from shiftlab.bench.planner import plan_jobs
from shiftlab.cli import main
from shiftlab.data import DomainDataset
from shiftlab.data.tables import file_sha256, read_table, table_from_frame
from shiftlab.exceptions import DataValidationError
from shiftlab.methods import CORAL
from shiftlab.methods.base import make_da_pipeline
from shiftlab.methods.preprocessing import make_preprocessor
from shiftlab.selection import DomainSearchCV

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def _readme_blocks() -> tuple[str, list[str]]:
    section = _section("Your own data")
    toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    commands = re.search(r"```sh\n(.*?)```", section, re.S).group(1).strip().splitlines()
    return toml, commands


# ------------------------------------------------------------------ reading tables
def test_read_table_encodes_categories_labels_and_missing_values(tmp_path):
    frame = pd.DataFrame({
        "site": ["a", "a", "a", "b", "b", "b"],
        "age": [30.0, np.nan, 50.0, 41.0, 42.0, 43.0],
        "ward": ["icu", "general", None, "icu", "cardio", "general"],
        "y": [-1, 1, 1, -1, None, 1],  # {-1, +1} classes, one unknown label
    })
    frame.to_csv(tmp_path / "t.csv", index=False)
    ds = read_table(tmp_path / "t.csv", domain="site", label="y")
    assert ds.domain_names == ["a", "b"]
    assert list(ds.feature_names) == ["age", "ward"]
    assert ds.target_names == ["-1", "1"]  # -1 is a class, re-encoded: never the mask
    Xa, ya = ds["a"]
    Xb, yb = ds["b"]
    assert ya.tolist() == [0, 1, 1] and yb.tolist() == [0, -1, 1]
    schema = ds.metadata["schema"]
    assert schema["categories"] == {"ward": ["cardio", "general", "icu"]}
    assert np.isnan(Xa[1, 0]) and np.isnan(Xa[2, 1])  # missing age, missing ward
    assert Xa[0, 1] == 2.0 and Xb[1, 1] == 0.0  # icu -> 2, cardio -> 0
    assert ds.metadata["sha256"] == file_sha256(tmp_path / "t.csv")


@pytest.mark.parametrize("fmt", ["parquet", "npz", "dataset"])
def test_every_file_type_gives_the_same_dataset(tmp_path, fmt):
    frame = clinic_table(n_per_site=30)
    frame.to_csv(tmp_path / "t.csv", index=False)
    expected = read_table(tmp_path / "t.csv", domain="site", label="outcome")
    if fmt == "parquet":
        frame.to_parquet(tmp_path / "t.parquet")
        ds = read_table(tmp_path / "t.parquet", domain="site", label="outcome")
    elif fmt == "npz":
        np.savez(tmp_path / "t.npz", **{
            # text columns: an empty string is a missing cell
            c: frame[c].to_numpy(dtype=float) if pd.api.types.is_numeric_dtype(frame[c])
            else frame[c].fillna("").to_numpy(dtype=str) for c in frame.columns})
        ds = read_table(tmp_path / "t.npz", domain="site", label="outcome")
    else:
        expected.save(tmp_path / "t_ds.npz")
        ds = read_table(tmp_path / "t_ds.npz")
        with pytest.raises(DataValidationError, match="its domains and labels are its own"):
            read_table(tmp_path / "t_ds.npz", domain="site")
    assert ds.domain_names == expected.domain_names
    for name in ds.domain_names:
        np.testing.assert_array_equal(ds[name][0], expected[name][0])
        np.testing.assert_array_equal(ds[name][1], expected[name][1])


def test_table_errors_name_the_column_the_rows_and_the_fix(tmp_path):
    frame = pd.DataFrame({"site": ["a", None, "b", "b"], "x": ["1", "2", "n/a", "4"],
                          "y": [0, 1, 0, 1]})
    with pytest.raises(DataValidationError, match=r"no domain column 'sites'.*Did you mean"):
        table_from_frame(frame, domain="sites", label="y")
    with pytest.raises(DataValidationError, match=r"'site' .* empty in rows 2;"):
        table_from_frame(frame, domain="site", label="y")
    many = pd.DataFrame({"site": ["a", "b"] * 10, "x": ["5"] * 20, "y": [0, 1] * 10})
    many.loc[2, "x"] = "n/a"  # a number column with one text cell: not a category
    with pytest.raises(DataValidationError, match=r"'x' .* numeric but has text in rows 3 "
                                                  r"\(e.g. 'n/a'\)"):
        table_from_frame(many, domain="site", label="y")
    with pytest.raises(DataValidationError, match="unknown table type '.txt'"):
        (tmp_path / "t.txt").write_text("a,b\n")
        read_table(tmp_path / "t.txt", domain="a")
    with pytest.raises(DataValidationError, match="not a feature column"):
        table_from_frame(many, domain="site", label="y", categorical=["z"])


def test_domain_dataset_keeps_missing_values_only_when_allowed(tmp_path):
    X = np.array([[1.0, np.nan], [2.0, 3.0]])
    with pytest.raises(DataValidationError, match="allow_missing=True"):
        DomainDataset({"a": (X, [0, 1]), "b": (X, [0, 1])})
    ds = DomainDataset({"a": (X, [0, 1]), "b": (X, [0, 1])}, allow_missing=True)
    back = DomainDataset.load(ds.save(tmp_path / "d.npz"))
    assert back.allow_missing and np.isnan(back["a"][0][0, 1])
    assert DomainDataset.load(ds.to_bytes()).allow_missing
    with pytest.raises(DataValidationError, match="infinite"):
        DomainDataset({"a": (np.array([[np.inf]]), [0])}, allow_missing=True)


# -------------------------------------------------------- preprocessing in pipelines
def _clinic_task():
    ds = table_from_frame(clinic_table(n_per_site=120), domain="site", label="outcome")
    X, y, sd, y_true = ds.pack(["north", "south"], "east", return_target_labels=True)
    return ds, X, y, sd, y_true


def test_pipelines_impute_inside_and_refuse_missing_values_without_an_imputer():
    _, X, y, sd, y_true = _clinic_task()
    assert np.isnan(X).any()
    pipe = make_da_pipeline(SimpleImputer(), CORAL(), LogisticRegression()).fit(X, y, sd)
    assert pipe.predict(X[sd < 0]).shape == (int((sd < 0).sum()),)
    with pytest.raises(DataValidationError, match=r"NaN.*make_da_pipeline\(SimpleImputer\(\)"):
        make_da_pipeline(CORAL(), LogisticRegression()).fit(X, y, sd)
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(DataValidationError, match="still has missing values .* 'standardscaler'"):
        make_da_pipeline(StandardScaler(), CORAL(), LogisticRegression()).fit(X, y, sd)
    search = DomainSearchCV(pipe, {"coral__assume_centered": [False, True]},
                            scorers=["IW", "DEV", "oracle"], cv=2, inner_cv=2, random_state=0)
    search.fit(X, y_true, sd)
    assert np.isfinite(search.results_["inner_score"]).all()


def test_the_preprocessor_learns_from_the_training_rows_only():
    """Fitted on a training part, imputation values come from that part's rows."""
    X = np.array([[1.0, 0.0], [3.0, 1.0], [np.nan, 2.0], [100.0, np.nan]])
    y = np.array([0, 1, -1, -1])
    sd = np.array([1, 1, -2, -2])
    prep = make_preprocessor(2, categorical=[1], impute="median")
    pipe = make_da_pipeline(prep, LogisticRegression()).fit(X[:3], y[:3], sd[:3])
    fitted = pipe.steps_[0][1].named_transformers_["numeric"][0]
    assert fitted.statistics_.tolist() == [2.0]  # median of 1 and 3: row 4 unseen
    # One-hot: the codes 0, 1, 2 of column 1 give three columns, after the numeric one.
    assert pipe.steps_[0][1].transform(X[:1]).tolist() == [[1.0, 1.0, 0.0, 0.0]]


# ---------------------------------------------------------------------- definitions
DEFINITION = """
[benchmark]
name = "own"

[protocol]
outer_splits = 2
inner_splits = 2

[[datasets]]
file = "{file}"
domain = "site"
label = "outcome"
tasks = ["north->east"]
{preprocessing}

[methods."Train Src"]
[methods.CORAL]

[scorers]
names = ["IW", "oracle"]

[execution]
executor = "inprocess"
"""


def _definition(tmp_path, file="clinics.csv", preprocessing=None, name="def.toml"):
    if preprocessing is None:
        preprocessing = 'preprocessing = { impute = "median", encode = "onehot" }'
    path = tmp_path / name
    path.write_text(DEFINITION.format(file=file, preprocessing=preprocessing))
    return path


def test_definition_errors_say_which_step_to_declare(tmp_path):
    clinic_table(n_per_site=40).to_csv(tmp_path / "clinics.csv", index=False)
    with pytest.raises(DefinitionError, match=r"def.toml:\d+: \[datasets #1\] the table has "
                                              r"missing values in \['lab1', 'lab2'\]; .*impute"):
        load_definition(_definition(tmp_path, preprocessing='preprocessing = { encode = '
                                                            '"onehot" }'))
    with pytest.raises(DefinitionError, match=r"categorical columns \['ward'\].*encode"):
        load_definition(_definition(tmp_path, preprocessing='preprocessing = { impute = '
                                                            '"mean" }'))
    with pytest.raises(DefinitionError, match=r"def.toml:14: \[datasets #1\] impute must be "
                                              r"one of 'mean', 'median'"):
        load_definition(_definition(tmp_path, preprocessing='preprocessing = { impute = '
                                                            '"avg" }'))
    with pytest.raises(DefinitionError, match=r"file: no table at .*missing.csv"):
        load_definition(_definition(tmp_path, file="missing.csv"))
    text = _definition(tmp_path).read_text().replace('label = "outcome"', 'label = "outcom"')
    (tmp_path / "typo.toml").write_text(text)
    with pytest.raises(DefinitionError, match=r"no label column 'outcom'. Did you mean "
                                              r"'outcome'"):
        load_definition(tmp_path / "typo.toml")


def test_file_datasets_are_keyed_by_content_and_carry_their_rows(tmp_path):
    """The job key follows the file's bytes, not its path; jobs carry the parsed rows."""
    clinic_table(n_per_site=40).to_csv(tmp_path / "clinics.csv", index=False)
    first = plan_jobs(load_definition(_definition(tmp_path)))
    elsewhere = tmp_path / "moved"
    elsewhere.mkdir()
    shutil.copy(tmp_path / "clinics.csv", elsewhere / "clinics.csv")
    moved = plan_jobs(load_definition(_definition(elsewhere)))
    assert [j.key for j in first] == [j.key for j in moved]
    clinic_table(n_per_site=40, seed=1).to_csv(elsewhere / "clinics.csv", index=False)
    changed = plan_jobs(load_definition(_definition(elsewhere)))
    assert not {j.key for j in first} & {j.key for j in changed}
    spec = first[0].dataset
    assert spec.file_sha256 == file_sha256(tmp_path / "clinics.csv")
    # A worker rebuilds the dataset from the job alone: the file is not needed.
    (tmp_path / "clinics.csv").unlink()
    ds = load_spec(spec)
    assert ds.domain_names == ["north", "south", "east"]
    pipe, _ = build_estimator(first[-1])
    assert type(pipe.steps[0][1]).__name__ == "ColumnTransformer"


def test_a_dask_run_reads_no_file(tmp_path):
    """Workers get the rows with the jobs: the table can be gone once loaded."""
    pytest.importorskip("distributed")
    from shiftlab.bench.runner import run_benchmark

    clinic_table(n_per_site=40).to_csv(tmp_path / "clinics.csv", index=False)
    definition = load_definition(_definition(tmp_path)).with_execution(
        executor="dask", dask_workers=1)
    (tmp_path / "clinics.csv").unlink()
    summary = run_benchmark(definition, tmp_path / "run", progress=False)
    assert summary.n_failed == 0 and summary.n_done > 0


# ------------------------------------------------------------------------ end to end
def test_own_table_end_to_end_as_the_readme_shows(tmp_path, monkeypatch):
    """README "Your own data", run as written: diagnose -> run -> select -> predict."""
    toml, commands = _readme_blocks()
    (tmp_path / "clinics.toml").write_text(toml)
    held = write_readme_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    outputs = []
    for line in commands:
        args = shlex.split(line)
        assert args[0] == "shiftlab"
        result = runner.invoke(main, args[1:], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)

    diagnosis = json.loads((tmp_path / "diagnosis.json").read_text())
    assert "<svg" in (tmp_path / "diagnosis.html").read_text()
    assert diagnosis  # its content is tested in test_diagnose.py

    run_dir = tmp_path / "shiftlab-runs" / "clinics"
    from shiftlab.bench.store import RunStore

    results = RunStore(run_dir).results()
    assert (results["selection_metric"].isin(["", "balanced_accuracy"])).all()
    assert set(results["data_sha256"]) == {file_sha256(tmp_path / "clinics.csv")}
    assert "shiftlab: EnsV" in set(results["method"]), outputs[1]
    assert (run_dir / "report.html").is_file()

    card = (tmp_path / "clinic.card.md").read_text()
    assert "Selector: **EnsV** (selection metric balanced_accuracy)" in card
    assert "| test_balanced_accuracy |" in card
    assert file_sha256(tmp_path / "clinics.csv") in card
    assert "chosen:" in outputs[2] and "test_balanced_accuracy over 3 outer splits" in \
        outputs[2]

    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert len(predictions) == held["n_held"]
    assert set(predictions["prediction"]) <= {"yes", "no"}
    np.testing.assert_allclose(predictions[["proba_no", "proba_yes"]].sum(axis=1), 1.0)
    score = balanced_accuracy_score(held["truth"], predictions["prediction"])
    # What the selection achieved on the run's outer splits, and more than chance.
    assert score > 0.6, score

    # The saved model is loadable in Python and predicts the same.
    from shiftlab.bench.deploy import load_model

    model = load_model(tmp_path / "clinic.skops")
    again = model.predict_frame(pd.read_csv(tmp_path / "new_east_rows.csv"))
    assert again["prediction"].tolist() == predictions["prediction"].tolist()


def test_predict_checks_feature_names(tmp_path, monkeypatch):
    """A missing feature column is an error naming it; extra columns are ignored."""
    toml, _ = _readme_blocks()
    toml = toml.replace("outer_splits = 3", "outer_splits = 2").replace(
        "inner_splits = 3", "inner_splits = 2")
    toml = re.sub(r"\[methods\.(SA|LinOT|DiscriminatorReweight)\]\n(grid = .*\n)?", "", toml)
    (tmp_path / "clinics.toml").write_text(toml)
    write_readme_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["select", "clinics.toml", "-o", "m.skops"])
    assert result.exit_code == 0, result.output
    assert "no outer-split estimate" in result.output  # no run yet: the card says so
    assert "Not estimated" in (tmp_path / "m.card.md").read_text()
    rows = pd.read_csv(tmp_path / "new_east_rows.csv").drop(columns=["lab2"])
    rows["extra"] = 1
    rows.to_csv(tmp_path / "bad.csv", index=False)
    result = runner.invoke(main, ["predict", "m.skops", "bad.csv", "-o", "p.csv"])
    assert result.exit_code == 1
    assert "lacks the feature column(s) ['lab2']" in result.output


def test_a_model_file_naming_foreign_types_is_refused(tmp_path):
    import skops.io as sio

    from shiftlab.bench.deploy import load_model
    from shiftlab.exceptions import ShiftlabError

    sio.dump({"format": "shiftlab-model/1", "estimator": Fraction(1, 3)},
             tmp_path / "bad.skops")
    with pytest.raises(ShiftlabError, match="outside numpy, scipy, scikit-learn and shiftlab"):
        load_model(tmp_path / "bad.skops")
