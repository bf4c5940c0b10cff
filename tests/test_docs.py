"""The generated API pages list every registered method and scorer, and are up to date."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_pages_are_up_to_date():
    for name, text in _generator().pages().items():
        assert (DOCS / name).read_text(encoding="utf-8") == text, (
            f"docs/{name} is stale: run `python docs/generate.py`"
        )


def test_every_method_has_reference_grid_and_complexity():
    from shiftlab.methods.registry import list_methods

    page = (DOCS / "methods.md").read_text(encoding="utf-8")
    for spec in list_methods():
        assert f"## {spec.name}\n" in page
        assert spec.reference and spec.reference in page
        assert spec.complexity, f"{spec.name} states no complexity"
        for param in spec.grid:
            assert f"| `{param}` |" in page
