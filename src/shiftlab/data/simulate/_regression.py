"""Regression under a simulated shift: :func:`make_shifted_regression`."""

from __future__ import annotations

import math

import numpy as np

from shiftlab.data.dataset import DomainDataset
from shiftlab.data.simulate._common import (
    _TILT,
    _canonical_shift,
    _check_count,
    _check_real,
    _make_rng,
    _seed_record,
    _unit,
)
from shiftlab.exceptions import DataValidationError


def make_shifted_regression(
    shift: str = "covariate",
    *,
    n_features: int = 20,
    n_informative: int = 4,
    n_samples_source: int = 1000,
    n_samples_target: int = 1000,
    strength: float = 1.0,
    noise: float = 0.1,
    random_state=None,
) -> DomainDataset:
    """High-dimensional regression data with a shift of controllable strength.

    Base (source) distribution: ``x ~ N(0, I)`` in ``n_features`` dimensions and
    ``y = f(x) + noise * eps`` with ``f(x) = w·x_I + (v·x_I)^2 / 2`` on the informative
    features ``x_I`` (``w``, ``v`` random unit vectors, recorded in
    ``metadata["ground_truth"]``). The quadratic term makes a linear model misspecified,
    so it is hurt by covariate shift [1]_. The target is the source with one shift of
    strength ``s`` (``s = 0``: no shift):

    ``"covariate"``
        ``x_I ~ N(2 s u, I)`` for a random unit ``u`` (the exponential tilt of the source
        by ``exp(2 s u·x)``); ``P(y | x)`` is unchanged.
    ``"target"``
        ``p_t(x, y) ∝ exp(s y / sd(y)) p_s(x, y)``, an exponential tilt of the response:
        selection on ``y`` only, so ``P(x | y)`` is unchanged while ``P(y)`` moves
        towards large responses (by more than ``s`` standard deviations, as the
        quadratic term gives ``y`` a heavy right tail). Implemented by weighted sampling without
        replacement from a source pool 50 times the target size, which is exact up to
        the finite pool.
    ``"conditional"``
        The features are distorted after ``y`` is drawn: ``x_I -> 0.7**s x_I + 2 s u``
        (the skada/SKADA-Bench conditional shift, ``sigma = .7``, ``mean = 1``, made
        strength-dependent). ``P(y)`` is unchanged, ``P(x | y)`` and ``P(y | x)`` change.
    ``"subspace"``
        ``f`` depends only on the invariant features ``V`` (the first
        ``ceil(n_informative / 2)``); the other informative features ``W`` carry a
        spurious copy of the response, ``x_W = c z_y + 0.6 eps`` with ``z_y`` the
        standardised response and ``c = .8`` in the source, ``c = .8 (1 - 2 s)`` in the
        target (reversed at ``s = 1``). ``P(x_V, y)`` is the same in both domains.

    Parameters
    ----------
    shift : {"covariate", "target", "conditional", "subspace"}
        Kind of shift (skada's ``*_shift`` spellings are accepted).
    n_features : int, default=20
        Total number of features.
    n_informative : int, default=4
        Features on which ``f`` (and the shift) act; 2 at least for the subspace shift.
    n_samples_source, n_samples_target : int, default=1000
        Number of points per domain.
    strength : float, default=1.0
        Shift strength, ``>= 0``.
    noise : float, default=0.1
        Std of the additive response noise.
    random_state : None, int or numpy.random.Generator
        Seed.

    Returns
    -------
    DomainDataset
        Regression domains ``"source"`` and ``"target"`` (float ``y``), with metadata.

    References
    ----------
    .. [1] Shimodaira, H. (2000). Improving predictive inference under covariate shift by
       weighting the log-likelihood function. J. Statistical Planning and Inference, 90(2).
    .. [2] Zhang, K., Schölkopf, B., Muandet, K. and Wang, Z. (2013). Domain adaptation
       under target and conditional shift. ICML.

    Examples
    --------
    >>> from shiftlab.data.simulate import make_shifted_regression
    >>> ds = make_shifted_regression("covariate", random_state=0)
    >>> ds.label_kind
    'regression'
    """
    kind = _canonical_shift(shift)
    n_features = _check_count("n_features", n_features, 2 if kind == "subspace" else 1)
    n_informative = _check_count("n_informative", n_informative,
                                 2 if kind == "subspace" else 1)
    if n_informative > n_features:
        raise DataValidationError(
            f"n_informative={n_informative} exceeds n_features={n_features}; lower "
            "n_informative or raise n_features."
        )
    n_s = _check_count("n_samples_source", n_samples_source, 2)
    n_t = _check_count("n_samples_target", n_samples_target, 2)
    strength = _check_real("strength", strength, low=0.0)
    noise = _check_real("noise", noise, low=0.0)
    rng = _make_rng(random_state)

    # The response depends on the first n_f informative features (all of them, except
    # under the subspace shift where W only mirrors the response).
    n_f = math.ceil(n_informative / 2) if kind == "subspace" else n_informative
    w, v = _unit(rng, n_f), _unit(rng, n_f)
    u = _unit(rng, n_informative)
    # Moments of f under the source law: E[(v.x)^2] = 1, Var = 1 + 2 / 4 (chi2_1 / 2).
    y_mean, y_sd = 0.5, math.sqrt(1.5 + noise**2)

    def response(x):
        z = x[:, :n_f]
        return z @ w + 0.5 * (z @ v) ** 2 + noise * rng.standard_normal(x.shape[0])

    def draw(n, offset=None):
        x = rng.standard_normal((n, n_features))
        if offset is not None:
            x[:, :n_informative] += offset
        return x, response(x)

    truth: dict = {"informative_features": list(range(n_informative)),
                   "w": w.tolist(), "v": v.tolist()}
    X_s, y_s = draw(n_s)
    if kind == "covariate":
        b = _TILT * strength * u
        X_t, y_t = draw(n_t, b)
        truth["tilt"] = b.tolist()
    elif kind == "target":
        pool_x, pool_y = draw(50 * n_t)
        logw = strength * (pool_y - pool_y.max()) / y_sd
        p = np.exp(logw)
        pick = rng.permutation(rng.choice(pool_y.size, size=n_t, replace=False,
                                          p=p / p.sum()))
        X_t, y_t = pool_x[pick], pool_y[pick]
        truth["response_tilt"] = strength / y_sd
    elif kind == "conditional":
        X_t, y_t = draw(n_t)
        a, t = 0.7**strength, _TILT * strength * u
        X_t[:, :n_informative] = a * X_t[:, :n_informative] + t
        truth.update(feature_scale=a, feature_translation=t.tolist())
    else:
        X_t, y_t = draw(n_t)
        c_s, c_t = 0.8, 0.8 * (1.0 - 2.0 * strength)
        for X, y, c in ((X_s, y_s, c_s), (X_t, y_t, c_t)):
            z_y = (y - y_mean) / y_sd
            X[:, n_f:n_informative] = (c * z_y[:, None]
                                       + 0.6 * rng.standard_normal((y.size, n_informative - n_f)))
        truth.update(invariant_features=list(range(n_f)), spurious_source=c_s,
                     spurious_target=c_t)
    params = {
        "shift": kind,
        "n_features": n_features,
        "n_informative": n_informative,
        "n_samples_source": n_s,
        "n_samples_target": n_t,
        "strength": strength,
        "noise": noise,
    }
    return DomainDataset(
        {"source": (X_s, y_s.astype(np.float64)), "target": (X_t, y_t.astype(np.float64))},
        name=f"shifted_regression_{kind}",
        metadata={
            "generator": "shiftlab.data.simulate.make_shifted_regression",
            "params": params,
            "seed": _seed_record(random_state),
            "ground_truth": truth,
        },
    )
