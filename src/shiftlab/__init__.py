"""shiftlab: domain adaptation methods, realistic (label-free) model selection and a
cached, resumable benchmark behind one scikit-learn-style API.

Layers, with dependencies pointing one way::

    data -> methods -> selection -> bench -> report
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("shiftlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
