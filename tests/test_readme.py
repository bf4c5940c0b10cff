"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_ten_line_example_runs_and_adapts(capsys):
    first = _python_blocks()[0]
    assert len(first.strip().splitlines()) <= 10
    namespace: dict = {}
    exec(compile(first, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    accuracy = float(out.split(":")[-1])
    assert 0.0 <= accuracy <= 1.0
    # The example's promise: CORAL on conditional shift beats source-only.
    from sklearn.linear_model import LogisticRegression

    X, y, sd, y_true = namespace["X"], namespace["y"], namespace["sample_domain"], \
        namespace["y_true"]
    src = LogisticRegression().fit(X[sd >= 0], y[sd >= 0])
    target = sd < 0
    assert accuracy > src.score(X[target], y_true[target])
    assert np.all(y[target] == -1)


def test_selection_example_runs():
    second = _python_blocks()[1]
    setup = _python_blocks()[0]
    namespace: dict = {}
    exec(compile(setup, "README.md", "exec"), namespace)
    exec(compile(second.replace("cv=5", "cv=2, inner_cv=2"), "README.md", "exec"), namespace)
    search = namespace["search"]
    assert {"IW", "PE", "SND", "MixVal", "oracle", "DEV"} <= set(search.results_["scorer"])


def test_cross_method_example_runs():
    third = _python_blocks()[2]
    setup = _python_blocks()[0]
    namespace: dict = {}
    exec(compile(setup, "README.md", "exec"), namespace)
    exec(compile("from sklearn.linear_model import LogisticRegression\n" + third, "README.md",
                 "exec"), namespace)
    search = namespace["search"].set_params(cv=2, inner_cv=2)
    search.fit(namespace["X"], namespace["y_true"], namespace["sample_domain"])
    chosen = search.results_[search.results_["selected"]]
    assert {"IW", "EnsV", "zconsensus", "safe", "IWA"} <= set(chosen["scorer"])
    assert {"SourceOnly", "CORAL", "SA"} == set(search.results_["pool_method"]) - {""}
