"""Shallow domain-adaptation methods behind one scikit-learn-style API.

Every method class is importable from here (``from shiftlab.methods import CORAL``); the
family modules that implement them (``mapping``, ``reweight``, ``subspace``,
``selflabel``, ``label_shift``, ``baselines``) are loaded on first use, so importing this
package stays cheap.
"""

import importlib

from shiftlab.methods.base import (
    BaseAdapter,
    BaseDAEstimator,
    DAPipeline,
    make_da_pipeline,
)
from shiftlab.methods.registry import MethodSpec, get_method, list_methods, make_da

#: Every registered method class, by the family module that defines it (a test checks
#: that this matches the registry).
METHOD_CLASSES = {
    "baselines": ("SourceOnly",),
    "label_shift": ("BBSE", "MLLS"),
    "mapping": ("CORAL", "ClassRegOTMapping", "EntropicOTMapping", "LinearOTMapping",
                "MMDLSMapping", "OTMapping"),
    "reweight": ("DensityReweight", "DiscriminatorReweight", "GaussianReweight", "KLIEP",
                 "KMM", "MMDTarS", "NearestNeighborReweight"),
    "selflabel": ("DASVM", "JCPOT", "JDOTClassifier", "JDOTRegressor", "OTLabelProp"),
    "subspace": ("PCAAdapter", "SubspaceAlignment", "TCA", "TJM", "TSL"),
}
_MODULE_OF = {name: family for family, names in METHOD_CLASSES.items() for name in names}

__all__ = [
    "BaseAdapter",
    "BaseDAEstimator",
    "DAPipeline",
    "MethodSpec",
    "get_method",
    "list_methods",
    "make_da",
    "make_da_pipeline",
    *sorted(_MODULE_OF),
]


def __getattr__(name: str):
    family = _MODULE_OF.get(name)
    if family is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{family}"), name)


def __dir__():
    return sorted({*globals(), *_MODULE_OF})
