"""Import skada for differential tests without letting it change global state.

``import skada`` switches scikit-learn's metadata routing on process-wide
(``sklearn.set_config(enable_metadata_routing=True)``). :func:`import_skada` restores the
previous configuration right after the import, and :func:`skada_context` turns routing on
only while skada's estimators run.
"""

from __future__ import annotations

import contextlib

import pytest
import sklearn


def import_skada():
    """Import skada (skipping the test if it is missing) and undo its global side effect."""
    before = sklearn.get_config()["enable_metadata_routing"]
    skada = pytest.importorskip("skada")
    sklearn.set_config(enable_metadata_routing=before)
    return skada


@contextlib.contextmanager
def skada_context():
    """Metadata routing on, as skada's pipelines need, restored on exit."""
    with sklearn.config_context(enable_metadata_routing=True):
        yield
