"""Shallow domain-adaptation methods behind one scikit-learn-style API."""

from shiftlab.methods.base import (
    BaseAdapter,
    BaseDAEstimator,
    DAPipeline,
    make_da_pipeline,
)
from shiftlab.methods.registry import MethodSpec, get_method, list_methods, make_da

__all__ = [
    "BaseAdapter",
    "BaseDAEstimator",
    "DAPipeline",
    "MethodSpec",
    "get_method",
    "list_methods",
    "make_da",
    "make_da_pipeline",
]
