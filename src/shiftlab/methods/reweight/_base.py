"""What the reweighting adapters share: the adapter skeleton (pooling of source
domains, weight bookkeeping) and the weight checks."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from shiftlab.exceptions import DataValidationError
from shiftlab.methods._checks import check_choice as _check_choice
from shiftlab.methods.base import BaseAdapter, prepare_predict


# =============================================================================
# shared machinery
# =============================================================================
def _normalize_weights(w, who: str) -> np.ndarray:
    """Non-negative weights with mean one; uniform (with a warning) when degenerate."""
    w = np.asarray(w, dtype=np.float64)
    w = np.where(np.isfinite(w), np.maximum(w, 0.0), 0.0)
    total = w.sum()
    if not total > 0:
        warnings.warn(
            f"{who}: every estimated weight is zero or not finite; falling back to uniform "
            "weights (source-only training). Check the kernel width / bandwidth.",
            RuntimeWarning,
            stacklevel=3,
        )
        return np.ones_like(w)
    return w * (w.size / total)


def _weights_from_log(log_w) -> np.ndarray:
    """exp of log-weights shifted by their max: no overflow, normalised later."""
    log_w = np.asarray(log_w, dtype=np.float64)
    return np.exp(log_w - np.max(log_w))


def _check_positive(name, value, *, integer=False, allow_none=False):
    if value is None and allow_none:
        return
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        what = "a positive int" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}, got {value!r}.")


class _BaseReweightAdapter(BaseAdapter):
    """Reweighting adapter skeleton: pooling of source domains and weight bookkeeping.

    Subclasses implement ``_estimate(X, y, is_source, rng) -> (weights, state)``: ``X``
    holds the source rows of one group (all source domains, or one) and all target rows,
    ``is_source`` flags the former, ``weights`` are those of ``X[is_source]`` and
    ``state`` is a dict of fitted attributes (names ending in ``_``). Methods with an
    out-of-sample weight function also implement ``_log_ratio(state, X)``.
    """

    produces_weights = True
    _has_ratio = False

    def _estimate(self, X, y, is_source, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, X, y, sample_domain):
        mode = getattr(self, "multi_source", "pooled")
        _check_choice("multi_source", mode, ("pooled", "per_domain"))
        src = sample_domain >= 0
        rng = check_random_state(getattr(self, "random_state", None))
        weights = np.zeros(X.shape[0])
        states = {}
        if mode == "pooled":
            # The training arrays are used as they are: no copy of the pooled rows.
            w, states["pooled"] = self._estimate(X, y, src, rng)
            weights[src] = _normalize_weights(w, type(self).__name__)
        else:
            for dom in np.unique(sample_domain[src]):
                keep = (sample_domain == dom) | ~src
                w, states[int(dom)] = self._estimate(X[keep], y[keep], src[keep], rng)
                weights[sample_domain == dom] = _normalize_weights(w, type(self).__name__)
        self._set_domain_states(states, mode)
        self.sample_weight_ = weights
        return self

    def _weights(self, X, sample_domain):
        if X.shape[0] != self.sample_weight_.shape[0]:  # pragma: no cover - defensive
            raise RuntimeError("_weights must be called on the rows given to fit.")
        return self.sample_weight_.copy()

    def _state_for(self, source_domain):
        if self.source_pooling_ == "pooled":
            return self.domain_states_["pooled"]
        if source_domain is None or int(source_domain) not in self.domain_states_:
            raise ValueError(
                "This adapter was fitted with multi_source='per_domain'; pass "
                f"source_domain, one of {sorted(self.domain_states_)}."
            )
        return self.domain_states_[int(source_domain)]

    def density_ratio(self, X, source_domain=None):
        """Estimated ``p_target(x) / p_source(x)`` at new rows (not renormalised).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        source_domain : int, optional
            Which source domain's ratio to use (only with ``multi_source="per_domain"``).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        if not self._has_ratio:
            raise AttributeError(
                f"{type(self).__name__} estimates weights of the training rows only and has "
                "no out-of-sample density ratio."
            )
        check_is_fitted(self, "domain_states_")
        X, _ = prepare_predict(X)
        if X.shape[1] != self.n_features_in_:
            raise DataValidationError(
                f"X has {X.shape[1]} features but {type(self).__name__} was fitted with "
                f"{self.n_features_in_}."
            )
        return np.exp(self._log_ratio(self._state_for(source_domain), X))
