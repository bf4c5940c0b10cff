"""Covariance estimates shared by the Gaussian-moment methods (CORAL, LinOT, GaussianReweight).

``reg="auto"`` is Ledoit-Wolf shrinkage of the *correlation* matrix, computed from the
row norms (one ``d x d`` product, no second pass over the data), which matches
:func:`sklearn.covariance.ledoit_wolf` on the standardised data to rounding (see the
tests) at a fraction of its time on the sizes these methods see.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.covariance import empirical_covariance, shrunk_covariance


def check_covariance_reg(reg):
    """Validate the ``reg`` of :func:`_covariance`: None, ``"auto"`` or a float in [0, 1]."""
    if reg is None or (isinstance(reg, str) and reg == "auto"):
        return
    if isinstance(reg, bool) or not isinstance(reg, numbers.Real) or not 0 <= reg <= 1:
        raise ValueError(f"reg must be None, 'auto' or a float in [0, 1], got {reg!r}.")


def _ledoit_wolf_correlation(Z):
    """Ledoit-Wolf (2004) shrinkage of ``S = Z'Z / n`` towards ``mu I`` (``mu = tr S / d``).

    The optimal intensity ``min(beta, delta) / delta`` with ``delta = ||S - mu I||_F^2 / d``
    and ``beta = (sum_k ||z_k||^4 / n - ||S||_F^2) / (n d)``, where ``sum_k ||z_k z_k' -
    S||_F^2 = sum_k ||z_k||^4 - n ||S||_F^2`` needs only the row norms: one ``d x d``
    product in all.
    """
    n, d = Z.shape
    S = Z.T @ Z / n
    mu = np.trace(S) / d
    s2 = float((S * S).sum())
    delta = (s2 - 2.0 * mu * np.trace(S) + d * mu * mu) / d
    beta = (float((np.einsum("ij,ij->i", Z, Z) ** 2).sum()) / n - s2) / (n * d)
    shrink = 0.0 if delta <= 0 else min(max(beta, 0.0), delta) / delta
    S *= 1.0 - shrink
    S.flat[:: d + 1] += shrink * mu
    return S


def _covariance(X, reg, assume_centered=False):
    """Covariance (second moment if ``assume_centered``) with optional shrinkage."""
    if reg is None:
        return empirical_covariance(X, assume_centered=assume_centered)
    if isinstance(reg, str):
        # Ledoit-Wolf on standardised features shrinks the correlation matrix, so that
        # large-variance features do not dominate the shrinkage target.
        Z = X if assume_centered else X - X.mean(axis=0)
        std = np.sqrt((Z**2).mean(axis=0))
        std = np.where(std > 0, std, 1.0)
        cov = _ledoit_wolf_correlation(Z / std)
        return cov * std[:, None] * std[None, :]
    return shrunk_covariance(
        empirical_covariance(X, assume_centered=assume_centered), shrinkage=float(reg)
    )
