"""`shiftlab diagnose` and shiftlab.report.diagnosis: separability, prior, features, hint."""

from __future__ import annotations

import hashlib
import inspect
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from shiftlab.cli import main as cli
from shiftlab.data import DomainDataset
from shiftlab.exceptions import DataValidationError, UnknownNameError
from shiftlab.report.diagnosis import choose_task, diagnose

FEATURES = ["sig1", "sig2", "noise1", "age", "income", "noise2"]
N_BOOT = 50  # few resamples: the tests check the logic, not the interval's precision


def _domain(rng, n, prior, shift):
    """Two informative features (sig1, sig2); 'age' and 'income' shifted by ``shift``
    standard deviations whatever the class (covariate shift: P(y | x) unchanged)."""
    y = (rng.random(n) < prior).astype(np.int64)
    X = rng.normal(size=(n, len(FEATURES)))
    X[:, 0] += 2.0 * y
    X[:, 1] += 1.5 * y
    X[:, 3] += shift
    X[:, 4] += shift
    return X, y


def _dataset(*, n=500, p_s=0.1, p_t=0.4, shift=1.5, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return DomainDataset({"src": _domain(rng, n, p_s, 0.0), "tgt": _domain(rng, n, p_t, shift)},
                         name="toy", feature_names=FEATURES, target_names=["no", "yes"], **kw)


def _frame(ds: DomainDataset) -> pd.DataFrame:
    parts = []
    for dom in ds:
        X, y = ds[dom]
        frame = pd.DataFrame(X, columns=FEATURES)
        frame.insert(0, "outcome", np.where(y == 1, "yes", "no"))
        frame.insert(0, "site", dom)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def _estimates(d: dict) -> dict:
    """Everything but what may legitimately differ: the evaluator-only block and the
    provenance (time stamp, data file hash)."""
    return {k: v for k, v in d.items() if k not in ("evaluator_only", "provenance")}


# ------------------------------------------------------------------- the numbers
@pytest.fixture(scope="module")
def shifted():
    return diagnose(_dataset(), "src", "tgt", n_bootstrap=N_BOOT)


def test_shifted_table_auc_prior_and_top_features(shifted):
    d = shifted
    assert d.domain_auc_ci[0] > 0.5 and d.domain_auc > 0.8
    assert d.covariate_level in ("moderate", "strong")
    # the two shifted features rank first
    assert {f.name for f in d.features[:2]} == {"age", "income"}
    assert [f.name for f in d.top_features] == [f.name for f in d.features][:10]
    # prior: 10% positives in the source, about 40% estimated in the target
    assert d.classes == ["no", "yes"]
    assert d.source_prior[1] == pytest.approx(0.1, abs=0.03)
    for name in ("BBSE", "MLLS"):
        assert d.target_prior[name][1] == pytest.approx(0.4, abs=0.1), name
    assert d.prior_change > 0.2
    # the covariate shift remains once the prior change is corrected: both kinds
    assert d.residual_auc_ci[0] > 0.5
    assert {"BBSE", "MLLS"} <= set(d.hint_methods)
    assert "hint, not a promise" in d.hint
    assert not any("degenerate" in w for w in d.warnings)


def test_to_dict_is_json_and_text_has_every_section(shifted):
    data = json.loads(shifted.to_json())
    assert data["separability"]["auc"] == pytest.approx(shifted.domain_auc)
    assert data["label_distribution"]["target_prior_estimates"]["MLLS"] == \
        pytest.approx(shifted.target_prior["MLLS"])
    assert data["provenance"]["seed"] == 0 and data["provenance"]["shiftlab_version"]
    assert data["provenance"]["n_bootstrap"] == N_BOOT
    assert data["top_features"][:2] in (["age", "income"], ["income", "age"])
    assert data["evaluator_only"]["label"].startswith("(evaluator only")
    text = shifted.to_text()
    for section in ("1. Domain separability", "2. Label distribution",
                    "3. Features that shift most", "4. Suggested family"):
        assert section in text
    assert "(evaluator only: labels present in the file)" in text


def test_no_shift_interval_covers_half_and_hint_is_source_only():
    d = diagnose(_dataset(p_t=0.1, shift=0.0, seed=1), "src", "tgt", n_bootstrap=N_BOOT)
    assert d.domain_auc_ci[0] <= 0.5 <= d.domain_auc_ci[1]
    assert d.covariate_level == "none"
    assert d.prior_change < 0.1
    assert d.hint_methods == ["SourceOnly"]
    assert "source only" in d.hint and "No detectable shift" in d.hint


def test_pure_label_shift_points_to_label_shift_methods():
    d = diagnose(_dataset(shift=0.0), "src", "tgt", n_bootstrap=N_BOOT)
    assert d.domain_auc_ci[0] > 0.5  # the prior change moves P(x) too
    # ... but not once the source is reweighted to the estimated prior
    assert d.residual_auc_ci[0] <= 0.5 <= d.residual_auc_ci[1]
    assert d.hint_methods == ["BBSE", "MLLS"]
    assert "label shift" in d.hint


def test_degenerate_prior_estimate_warns():
    rng = np.random.default_rng(2)
    y_s = np.arange(400) % 2
    X_s = rng.normal(size=(400, 3)) + 4.0 * y_s[:, None]
    X_t = rng.normal(size=(300, 3))  # class 0 only: the estimate sits on the boundary
    ds = DomainDataset({"s": (X_s, y_s), "t": (X_t, np.zeros(300, dtype=int))})
    d = diagnose(ds, "s", "t", n_bootstrap=N_BOOT)
    assert min(d.target_prior["MLLS"]) < 1e-3
    warning = " ".join(d.warnings)
    assert "degenerate" in warning and "boundary of the simplex" in warning
    assert "truly be (almost) absent" in warning  # says why it may happen
    assert "degenerate" in d.to_text() and "degenerate" in d.to_html()


@pytest.mark.skipif("allow_missing" not in inspect.signature(DomainDataset).parameters,
                    reason="DomainDataset(allow_missing=True) is not available")
def test_missing_values_and_categorical_columns():
    rng = np.random.default_rng(3)

    def domain(n, miss, probs, prior):
        y = (rng.random(n) < prior).astype(int)
        X = rng.normal(size=(n, 4))
        X[:, 0] += 2 * y
        X[rng.random(n) < miss, 1] = np.nan  # 'lab': only its missingness shifts
        X[:, 2] = rng.choice(3, size=n, p=probs)  # 'ward': categorical codes
        X[rng.random(n) < 0.05, 2] = np.nan
        return X, y

    ds = DomainDataset({"a": domain(400, 0.02, [0.6, 0.3, 0.1], 0.5),
                        "b": domain(400, 0.5, [0.1, 0.3, 0.6], 0.5)},
                       feature_names=["sig", "lab", "ward", "noise"], allow_missing=True,
                       metadata={"categorical_columns": ["ward"]})
    d = diagnose(ds, n_bootstrap=N_BOOT)
    assert d.target == "b" and d.domain_auc_ci[0] > 0.5
    by_name = {f.name: f for f in d.features}
    assert {f.name for f in d.features[:2]} == {"lab", "ward"}
    lab, ward = by_name["lab"], by_name["ward"]
    assert lab.missing_source == pytest.approx(0.02, abs=0.02)
    assert lab.missing_target == pytest.approx(0.5, abs=0.07)
    assert lab.statistic < 0.2 < lab.score  # ranked by its change of missingness
    assert ward.kind == "categorical" and ward.test == "chi2" and ward.statistic > 0.3
    assert np.isnan(ward.smd)
    assert all(np.isfinite(q).all() for q in d.target_prior.values())
    page = d.to_html()
    assert "lab" in page and "<svg" in page


def test_regression_labels_skip_the_prior():
    rng = np.random.default_rng(4)
    ds = DomainDataset({"s": (rng.normal(size=(120, 3)), rng.normal(size=120)),
                        "t": (rng.normal(size=(120, 3)) + 1.0, rng.normal(size=120))})
    d = diagnose(ds, n_bootstrap=N_BOOT)
    assert d.source_prior is None and "Regression" in d.prior_text
    assert d.domain_auc_ci[0] > 0.5
    json.loads(d.to_json())


# ------------------------------------------------------------------- the task
def test_choose_task_defaults_and_errors():
    rng = np.random.default_rng(5)

    def dom(n, masked=0):
        y = np.arange(n) % 2
        y[:masked] = -1
        return rng.normal(size=(n, 2)), y

    ds = DomainDataset({"a": dom(20), "b": dom(20, masked=10), "c": dom(20)})
    sources, target, reason = choose_task(ds)
    assert target == "b" and sources == ["a", "c"]
    assert "most unlabelled rows" in reason and "merged" in reason
    sources, target, reason = choose_task(DomainDataset({"a": dom(20), "c": dom(20)}))
    assert (sources, target) == (["a"], "c") and "last domain" in reason
    assert choose_task(ds, ["a", "b"])[1] == "c"
    assert choose_task(ds, "a", "c")[0] == ["a"]
    with pytest.raises(UnknownNameError, match="Did you mean 'b'") as err:
        choose_task(ds, target="bb")
    assert "--target" in str(err.value)
    with pytest.raises(UnknownNameError, match="Unknown source domain 'x'"):
        choose_task(ds, ["x"])
    with pytest.raises(DataValidationError, match="both a source and the target"):
        choose_task(ds, ["a"], "a")
    with pytest.raises(DataValidationError, match="single domain"):
        choose_task(DomainDataset({"a": dom(20)}))


# ------------------------------------------------------------------- leakage
def test_target_labels_never_change_an_estimate():
    base = _dataset(n=300, seed=6)
    X_t, y_t = base["tgt"]
    X_s, y_s = base["src"]
    variants = {
        "flipped": 1 - y_t,
        "all one class": np.ones_like(y_t),
        "masked": np.full_like(y_t, -1),
    }
    ref = diagnose(base, "src", "tgt", n_bootstrap=N_BOOT).to_dict()
    for label, y_new in variants.items():
        ds = DomainDataset({"src": (X_s, y_s), "tgt": (X_t, y_new)}, name="toy",
                           feature_names=FEATURES, target_names=["no", "yes"])
        other = diagnose(ds, "src", "tgt", n_bootstrap=N_BOOT).to_dict()
        assert _estimates(other) == _estimates(ref), label
        if label == "masked":
            assert other["evaluator_only"] is None
        else:  # only the evaluator-only line sees the labels
            assert other["evaluator_only"]["true_prior"] != ref["evaluator_only"]["true_prior"]


# ------------------------------------------------------------------- the CLI
def test_cli_writes_html_and_json(tmp_path):
    csv = tmp_path / "visits.csv"
    _frame(_dataset(n=300, seed=7)).to_csv(csv, index=False)
    out = tmp_path / "report" / "diag.html"
    result = CliRunner().invoke(cli, ["diagnose", str(csv), "--domain", "site", "--label",
                                      "outcome", "-o", str(out), "--n-bootstrap", str(N_BOOT)])
    assert result.exit_code == 0, result.output
    assert "Domain separability" in result.output and "age" in result.output
    assert "target 'tgt' chosen as the last domain" in result.output
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") >= 3
    assert "<script" not in page and "src=" not in page  # self-contained
    for text in ("ROC AUC", "age", "income", "target prior (MLLS)", "Provenance",
                 "(evaluator only: labels present in the file)"):
        assert text in page, text
    data = json.loads((tmp_path / "report" / "diag.json").read_text())
    assert data["provenance"]["data_sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert data["provenance"]["seed"] == 0 and data["provenance"]["data_file"] == "visits.csv"
    assert data["provenance"]["columns"] == {"domain": "site", "label": "outcome"}
    assert set(data["top_features"][:2]) == {"age", "income"}
    assert data["separability"]["ci"][0] > 0.5
    assert data["label_distribution"]["classes"] == ["no", "yes"]


def test_cli_target_labels_in_the_file_change_no_estimate(tmp_path):
    frame = _frame(_dataset(n=200, seed=8))
    tgt = frame["site"] == "tgt"
    outputs = {}
    for label, values in (("as is", frame["outcome"]),
                          ("swapped", frame["outcome"].map({"yes": "no", "no": "yes"})),
                          ("blank", pd.Series("", index=frame.index))):
        changed = frame.copy()
        changed.loc[tgt, "outcome"] = values[tgt]
        folder = tmp_path / label.replace(" ", "_")
        folder.mkdir()
        csv = folder / "visits.csv"  # one name: the dataset's name is the file's stem
        changed.to_csv(csv, index=False)
        result = CliRunner().invoke(cli, [
            "diagnose", str(csv), "--domain", "site", "--label", "outcome", "--source", "src",
            "--target", "tgt", "-o", str(folder / "d.html"), "--n-bootstrap", str(N_BOOT)])
        assert result.exit_code == 0, result.output
        outputs[label] = json.loads((folder / "d.json").read_text())
    for label in ("swapped", "blank"):
        assert _estimates(outputs[label]) == _estimates(outputs["as is"]), label
    assert outputs["blank"]["evaluator_only"] is None


def test_cli_errors_name_the_problem_and_the_fix(tmp_path):
    csv = tmp_path / "t.csv"
    _frame(_dataset(n=30, seed=9)).to_csv(csv, index=False)
    runner = CliRunner()
    bad_col = runner.invoke(cli, ["diagnose", str(csv), "--domain", "sitee", "--label",
                                  "outcome", "-o", str(tmp_path / "x.html")])
    assert bad_col.exit_code == 1
    assert "no domain column 'sitee'" in bad_col.output and "Did you mean 'site'" in bad_col.output
    bad_dom = runner.invoke(cli, ["diagnose", str(csv), "--domain", "site", "--label",
                                  "outcome", "--target", "tgtt", "-o", str(tmp_path / "x.html")])
    assert bad_dom.exit_code == 1
    assert "Unknown target domain 'tgtt'" in bad_dom.output
    assert "Did you mean 'tgt'" in bad_dom.output and "--target" in bad_dom.output
    assert "Traceback" not in bad_dom.output
    bad_out = runner.invoke(cli, ["diagnose", str(csv), "--domain", "site", "-o",
                                  str(tmp_path / "x.json")])
    assert bad_out.exit_code == 2 and "HTML page" in bad_out.output
    assert not (tmp_path / "x.html").exists()
