"""Report: aggregation statistics, exports, and the HTML page in headless Chromium."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shiftlab.bench.store import RunStore
from shiftlab.report import aggregate as agg
from shiftlab.report import table_to_latex, table_to_markdown, write_report


def fake_results(seed=0, n_splits=5, gain=0.1) -> pd.DataFrame:
    """Rows shaped like a run's: 2 datasets x 2 tasks, baselines and two methods.

    "Good" is better than Train Src by ``gain`` on every split, "Bad" worse by ``gain``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for ds in ("dsA", "dsB"):
        for task in ("a->b", "b->a"):
            for split in range(n_splits):
                src = rng.uniform(0.5, 0.8)
                base = dict(dataset=ds, task=task, outer_split=split, candidate=0,
                            inner_score=np.nan, selected=True, job_seconds=1.0)
                rows.append({**base, "method": "Train Src", "scorer": "none",
                             "test_accuracy": src, "job_key": f"{ds}{task}{split}src"})
                rows.append({**base, "method": "Train Tgt", "scorer": "none",
                             "test_accuracy": src + 0.2, "job_key": f"{ds}{task}{split}tgt"})
                for method, delta in (("Good", gain), ("Bad", -gain)):
                    for c in range(3):
                        acc = src + delta + 0.01 * c
                        for scorer in ("IW", "PE", "oracle"):
                            chosen = {"IW": 0, "PE": 1, "oracle": 2}[scorer]
                            rows.append({**base, "method": method, "scorer": scorer,
                                         "candidate": c, "inner_score": acc if scorer != "PE"
                                         else -acc, "selected": c == chosen,
                                         "test_accuracy": acc,
                                         "job_key": f"{ds}{task}{split}{method}"})
    return pd.DataFrame(rows)


def test_main_table_means_ranks_and_wilcoxon():
    res = fake_results()
    table = agg.main_table(res, "realistic")
    assert list(table.index[:2]) == ["Train Src", "Train Tgt"]
    # Best realistic scorer of "Good" is IW (candidate 0 beats nothing; PE picks 1: better)
    assert table.loc["Good", "scorer"] == "PE"
    src = res[res.method == "Train Src"].groupby("dataset")["test_accuracy"].mean()
    assert table[("dsA", "mean")]["Train Src"] == pytest.approx(src["dsA"])
    assert table[("dsA", "wilcoxon")]["Good"] == 1
    assert table[("dsA", "wilcoxon")]["Bad"] == -1
    assert table.loc["Good", "rank"] == 1.0 and table.loc["Bad", "rank"] == 3.0
    oracle = agg.main_table(res, "oracle")
    assert oracle.loc["Good", "scorer"] == "oracle"
    assert oracle[("dsB", "mean")]["Good"] > table[("dsB", "mean")]["Good"]


def test_deep_runs_compare_with_source_only_and_rank_without_the_oracle():
    # A deep run: SourceOnly / TargetOnly methods instead of the Train Src / Tgt rows.
    res = fake_results()
    res = res.replace({"method": {"Train Src": "SourceOnly", "Train Tgt": "TargetOnly"}})
    rows = agg._choose(agg.selected_rows(res), "oracle", "test_accuracy")
    assert agg.source_baseline(rows) == "SourceOnly"
    marks = agg.wilcoxon_vs_source(rows)
    assert marks[("Good", "dsA")] == 1 and marks[("Bad", "dsA")] == -1
    assert ("SourceOnly", "dsA") not in marks
    ranks, _ = agg.average_ranks(rows)
    assert "TargetOnly" not in ranks.index and ranks["Good"] == 1.0


def test_wilcoxon_needs_enough_pairs():
    res = fake_results(n_splits=1)  # 2 pairs per dataset: never significant
    marks = agg.wilcoxon_vs_source(agg._choose(agg.selected_rows(res), "oracle", "test_accuracy"))
    assert set(marks.values()) == {0}


def test_critical_difference_matches_demsar_table():
    # Demsar (2006), Table 5(a): q_0.05 = 2.569 for k = 4 classifiers.
    cd = agg.critical_difference(4, 10)
    assert cd == pytest.approx(2.569 * math.sqrt(4 * 5 / 60), rel=1e-3)


def test_scorer_reliability_signs():
    rel = agg.scorer_reliability(fake_results()).set_index("scorer")
    assert rel.loc["IW", "spearman_pooled"] > 0.5  # inner score = accuracy
    assert rel.loc["PE", "spearman_mean"] == pytest.approx(-1.0)  # reversed order
    assert rel.loc["IW", "regret_vs_oracle"] == pytest.approx(0.02)


def test_exports():
    table = agg.main_table(fake_results(), "realistic")
    md = table_to_markdown(table)
    assert md.splitlines()[0] == "| method | scorer | dsA | dsB | rank |"
    assert "| Good | PE |" in md and "▲" in md and "▼" in md
    tex = table_to_latex(table, "caption_with_underscore")
    assert r"\begin{tabular}" in tex and r"caption\_with\_underscore" in tex


def _store_with(tmp_path: Path, frame: pd.DataFrame) -> Path:
    store = RunStore(tmp_path / "run")
    with store.writing():
        for key, grp in frame.groupby("job_key"):
            store.write_result(re.sub(r"\W", "_", key), grp)
        store.write_meta({"name": "fake", "versions": {"shiftlab": "test"}})
    return store.root


def test_write_report_files(tmp_path):
    root = _store_with(tmp_path, fake_results())
    path = write_report(root)
    page = path.read_text()
    assert "Realistic selection" in page and "Oracle selection" in page
    assert "<svg" in page  # figures inlined
    # Self-contained: no external resource.
    assert not re.search(r"""(src|href)=["']https?://""", page)
    for stem in ("table_realistic", "table_oracle"):
        for ext in (".csv", ".md", ".tex"):
            assert (root / f"{stem}{ext}").stat().st_size > 0
    csv = pd.read_csv(root / "table_realistic.csv", index_col=0)
    assert {"dsA mean", "dsA std", "rank"} <= set(csv.columns)


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("headless Chromium is not installed (make test installs Debian's chromium)")
    return exe


def _render(exe: str, page: Path, tmp_path: Path, screenshot: Path | None = None):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr",
             "--v=0", "--window-size=1300,2000"]
    action = [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    out = subprocess.run([exe, *flags, *action, page.as_uri()], capture_output=True,
                         text=True, timeout=120)
    console = [line for line in out.stderr.splitlines() if ":CONSOLE" in line]
    return out, console


@pytest.mark.browser
def test_report_loads_in_headless_chromium(tmp_path):
    exe = _chromium()
    # The harness must be able to see console errors: check it on a broken page first.
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>undefinedFunction()</script></body></html>")
    _, console = _render(exe, broken, tmp_path)
    assert any("undefinedFunction" in line for line in console)

    root = _store_with(tmp_path, fake_results())
    page = write_report(root)
    out, console = _render(exe, page, tmp_path)
    assert console == []
    assert "Realistic selection" in out.stdout and "<table" in out.stdout
    shot = tmp_path / "report.png"
    _render(exe, page, tmp_path, screenshot=shot)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1300, 2000)


def test_sanity_checks_flag_a_method_equal_to_train_src_and_a_scorer_selecting_nothing():
    rows = []
    for split in range(3):
        base = {"dataset": "d", "task": "a->b", "outer_split": split, "candidate": 0}
        rows.append({**base, "method": "Train Src", "scorer": "none", "selected": True,
                     "test_accuracy": 0.6 + split / 100})
        for scorer in ("IW", "PE"):
            rows.append({**base, "method": "Lazy", "scorer": scorer, "selected": True,
                         "test_accuracy": 0.6 + split / 100})
            rows.append({**base, "method": "Busy", "scorer": scorer,
                         "selected": scorer == "IW", "test_accuracy": 0.7})
    checks = agg.sanity_checks(pd.DataFrame(rows))
    assert any(c.startswith("Lazy equals Train Src on all 3") for c in checks), checks
    assert not any(c.startswith("Busy equals") for c in checks)
    assert any(c.startswith("scorer PE selected nothing on 3 of 6") for c in checks), checks


def test_majority_check_spares_a_class_weighted_estimator_on_imbalanced_targets():
    """Accuracy at the majority rate but balanced accuracy well above chance: the
    estimator tells the classes apart (class weights on 10% positives); not flagged."""
    base = {"dataset": "d", "task": "a->b", "method": "Train Tgt", "scorer": "none",
            "candidate": 0, "selected": True, "oracle": True, "role": "target_only",
            "test_majority_rate": 0.9}
    weighted = [{**base, "outer_split": i, "test_accuracy": 0.88,
                 "test_balanced_accuracy": 0.80} for i in range(2)]
    assert not any("majority" in c for c in agg.sanity_checks(pd.DataFrame(weighted)))
    constant = [{**row, "test_accuracy": 0.9, "test_balanced_accuracy": 0.5}
                for row in weighted]
    assert any("majority class alone 0.900" in c
               for c in agg.sanity_checks(pd.DataFrame(constant)))
