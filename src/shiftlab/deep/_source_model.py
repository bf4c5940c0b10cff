"""The source stage of the source-free methods and of TIM: a source model trained on
the source rows alone (:func:`train_source_model`), or one given already fitted
(:func:`is_fitted_model`)."""

from __future__ import annotations

import numpy as np

from shiftlab.deep.estimator import BaseDeepDA
from shiftlab.deep.methods import SourceOnly
from shiftlab.deep.training import Pool
from shiftlab.exceptions import DataValidationError

__all__ = ["is_fitted_model", "train_source_model"]


def train_source_model(model, inputs, y, sample_domain) -> BaseDeepDA:
    """Train a source model on the source rows only and return it.

    The source stage of the source-free methods and of TIM: target rows are not even
    handed to it. ``model`` is a dict of :class:`SourceOnly` parameters, or an unfitted
    deep estimator that can train on labelled rows alone (e.g. a ``SourceOnly`` with
    its own settings), which is cloned first.
    """
    from sklearn.base import clone

    source = SourceOnly(**model) if isinstance(model, dict) else clone(model)
    if not isinstance(source, BaseDeepDA) or source._uses_unlabelled:
        raise DataValidationError(
            f"A source model to train must be a deep estimator that trains on source rows "
            f"alone (e.g. SourceOnly), got {type(source).__name__}; or pass a fitted model."
        )
    src = sample_domain >= 0
    if not src.any():
        raise DataValidationError(
            "The source model is not fitted and there is no source row to train it on: "
            "pass a fitted source model, or source rows with their labels."
        )
    y_t, n_out = source._encode_labels(y[src])
    labelled = Pool(np.flatnonzero(src), sample_domain[src], y_t)
    return source._train(inputs, labelled, None, n_out)


def is_fitted_model(model) -> bool:
    """Whether ``model`` is a fitted deep estimator (has a trained network)."""
    return model is not None and hasattr(model, "network_")
