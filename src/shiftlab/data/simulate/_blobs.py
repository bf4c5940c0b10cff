"""The 2-D blob models of skada's ``make_shifted_datasets``: :func:`make_shifted_blobs`
(the ``sim-<shift>`` datasets, SKADA-Bench's "Simulated")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shiftlab.data.dataset import DomainDataset
from shiftlab.data.registry import register_dataset
from shiftlab.data.simulate._common import (
    SHIFT_KINDS,
    _allocate,
    _canonical_shift,
    _check_count,
    _check_noise,
    _check_real,
    _make_rng,
    _seed_record,
)
from shiftlab.exceptions import DataValidationError, suggest

# SKADA-Bench "Simulated" settings (datasets/simulated.py in scikit-adaptation/skada-bench):
# per-cluster size 100 (300 for subspace) and a per-shift noise level.
_BENCH_NOISE = {"covariate": 0.6, "target": 0.8, "conditional": 0.8, "subspace": 0.4}
_BENCH_SIZE = {"covariate": 800, "target": 800, "conditional": 800, "subspace": 1200}


def _gaussian_pdf_2d(x: np.ndarray, mean, cov) -> np.ndarray:
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    diff = x - mean
    inv = np.linalg.inv(cov)
    quad = np.einsum("ij,jk,ik->i", diff, inv, diff)
    return np.exp(-0.5 * quad) / (2 * np.pi * math.sqrt(np.linalg.det(cov)))


def _gaussian_pdf_1d(t: np.ndarray, mean: float, var: float) -> np.ndarray:
    return np.exp(-0.5 * (t - mean) ** 2 / var) / math.sqrt(2 * np.pi * var)


# ------------------------------------------------------------------ 2-D blob models
@dataclass(frozen=True)
class _Component:
    """One mixture component of a 2-D blob model.

    ``kind`` is ``"disk"`` (uniform on the unit disk) or ``"normal"`` (standard normal);
    a draw ``u`` is mapped to ``u @ mixing + centre`` so the covariance of a normal
    component is ``mixing.T @ mixing``.
    """

    kind: str
    centre: tuple[float, float]
    mixing: tuple[tuple[float, float], tuple[float, float]]
    weight: float
    binary_label: int
    multiclass_label: int


# The "two-class" layout of skada's make_shifted_datasets: class 0 fills an ellipse
# (a uniform disk under a linear map) and class 1 is four small Gaussian blobs around it.
# Half of the points are class 0 and each blob holds an eighth.
_BLOBS_LAYOUT = (
    _Component("disk", (2.0, 2.0), ((2.0, -0.5), (-0.5, 2.0)), 0.5, 0, 0),
    _Component("normal", (-1.5, 3.0), ((0.15, 0.0), (0.0, 0.3)), 0.125, 1, 1),
    _Component("normal", (-0.5, 1.0), ((0.2, -0.1), (-0.1, 0.2)), 0.125, 1, 2),
    _Component("normal", (1.0, -0.4), ((0.17, -0.05), (-0.05, 0.17)), 0.125, 1, 3),
    _Component("normal", (3.0, -1.0), ((0.3, 0.0), (0.0, 0.15)), 0.125, 1, 4),
)

# The layout of skada's subspace shift: a wide class-0 blob and two tight class-1 blobs.
# Along (1, 1) the class-1 blobs sit symmetrically around the class-0 blob, so negating
# the plane (the target) leaves the class-conditionals of that projection unchanged,
# while along (1, -1) the classes are linearly separable in a way that negation flips.
_SUBSPACE_LAYOUT = (
    _Component("normal", (-1.0, 1.0), ((0.5, 0.0), (0.0, 0.5)), 0.5, 0, 0),
    _Component("normal", (1.5, 0.5), ((0.1, 0.0), (0.0, 0.1)), 0.25, 1, 1),
    _Component("normal", (-0.5, -1.5), ((0.2, 0.0), (0.0, 0.2)), 0.25, 1, 2),
)

#: Direction of the subspace in which source and target class-conditionals coincide
#: (subspace shift of :func:`make_shifted_blobs`).
BLOBS_INVARIANT_DIRECTION = (math.sqrt(0.5), math.sqrt(0.5))


def _draw_components(layout, counts, rng) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``counts[i]`` points from component ``i``; return points and component ids."""
    parts, ids = [], []
    for i, (comp, n) in enumerate(zip(layout, counts, strict=True)):
        if n == 0:
            continue
        if comp.kind == "disk":
            # Uniform on the unit disk: radius sqrt(U) gives uniform area density.
            angle = rng.uniform(0.0, 2 * np.pi, size=n)
            radius = np.sqrt(rng.uniform(0.0, 1.0, size=n))
            u = np.column_stack((radius * np.cos(angle), radius * np.sin(angle)))
        else:
            u = rng.standard_normal((n, 2))
        parts.append(u @ np.asarray(comp.mixing) + np.asarray(comp.centre))
        ids.append(np.full(n, i, dtype=np.int64))
    return np.concatenate(parts), np.concatenate(ids)


def _blob_labels(layout, comp_ids, x_clean, label: str, regression) -> np.ndarray:
    if label == "binary":
        return np.array([c.binary_label for c in layout], dtype=np.int64)[comp_ids]
    if label == "multiclass":
        return np.array([c.multiclass_label for c in layout], dtype=np.int64)[comp_ids]
    return regression(x_clean)


def _sample_blobs(layout, n, rng, label, regression, *, shuffle=True):
    x, ids = _draw_components(layout, _allocate(n, [c.weight for c in layout]), rng)
    if shuffle:
        # Rows sorted by class would bias naive splits and plots.
        perm = rng.permutation(n)
        x, ids = x[perm], ids[perm]
    return x, ids, _blob_labels(layout, ids, x, label, regression)


@register_dataset(kind="simulated", seeded=True,
                  variants={f"sim-{shift}": {"shift": shift} for shift in SHIFT_KINDS})
def make_shifted_blobs(
    shift: str = "covariate",
    *,
    n_samples_source: int | None = None,
    n_samples_target: int | None = None,
    noise="auto",
    label: str = "binary",
    ratio: float = 0.9,
    mean: float = 1.0,
    sigma: float = 0.7,
    gamma: float = 2.0,
    center_cov_shift: Sequence[float] = (-0.4, 3.0),
    regression_mean: Sequence[float] | None = None,
    regression_cov=None,
    regression_scale: float = 27.0,
    standardize: bool = False,
    random_state=None,
) -> DomainDataset:
    """Two-dimensional source/target data with one kind of shift (SKADA-Bench "Simulated").

    The distributions are those of ``skada.datasets.make_shifted_datasets`` [1]_, used by
    SKADA-Bench [2]_; with the defaults a call reproduces one draw of SKADA-Bench's
    "Simulated" dataset (whose Train Src / Train Tgt target accuracies are .88/.92,
    .85/.93, .66/.82 and .19/.98 for the four shifts). This is an independent
    implementation: the same distributions, not the same random stream.

    Base distribution (covariate, target and conditional shift): class 0 is uniform on an
    ellipse (unit disk mapped by ``[[2, -.5], [-.5, 2]]``, centred at ``(2, 2)``) and
    holds half of the points; class 1 is four small Gaussian blobs centred at
    ``(-1.5, 3)``, ``(-.5, 1)``, ``(1, -.4)`` and ``(3, -1)``, an eighth of the points each.
    Isotropic Gaussian noise of std ``noise`` is added to every point *after* the shift.

    Shifts (the source is always drawn from the base distribution):

    ``"covariate"``
        Sample selection bias on ``x``: a pool 100 times larger than the target is drawn
        from the base distribution and the target is drawn from it without replacement
        with probability proportional to ``exp(-gamma * ||x - center_cov_shift||^2)``
        (on the noise-free points). Selection depends on ``x`` only, so ``P(y | x)`` is
        unchanged. Target size: ``n_samples_target``.
    ``"target"``
        Class proportions change: a fraction ``ratio`` of the target is class 0 (the
        ellipse), the rest is spread evenly over the class-1 blobs. ``P(x | y)`` is
        unchanged (for ``label="multiclass"`` the class-1..4 proportions stay equal).
    ``"conditional"``
        Every target point (before noise) is mapped by ``x -> sigma * x + mean``, which
        moves and shrinks each class-conditional; ``P(y)`` is unchanged.
    ``"subspace"``
        Another layout: class 0 is a Gaussian blob at ``(-1, 1)`` (std .5, half of the
        points), class 1 two blobs at ``(1.5, .5)`` and ``(-.5, -1.5)`` (std .1 and .2).
        The target is the source negated, ``x -> -x``. Projected on ``(1, 1) / sqrt(2)``
        (:data:`BLOBS_INVARIANT_DIRECTION`) the class-conditionals of the two domains
        coincide and the classes are separable; along ``(1, -1)`` the source classes
        are linearly separable and the negation swaps their sides, so a source-only
        classifier is worse than chance on the target.

    Parameters
    ----------
    shift : {"covariate", "target", "conditional", "subspace"}
        Kind of shift; skada's names ``"covariate_shift"``, ``"target_shift"``,
        ``"conditional_shift"`` (and the older ``"concept_drift"``) are accepted.
    n_samples_source, n_samples_target : int, optional
        Number of points of each domain. Default: SKADA-Bench's sizes, 800 (1200 for the
        subspace shift). Note that skada's parameters of the same name count points *per
        cluster* (total ``8 n``; ``4 n`` for the subspace layout).
    noise : "auto", None, float or (float, float), default="auto"
        Std of the isotropic Gaussian noise added to the source and the target (a pair
        gives one value per domain). ``"auto"``: SKADA-Bench's value for the shift
        (.6 covariate, .8 target and conditional, .4 subspace). ``None``: no noise.
    label : {"binary", "multiclass", "regression"}, default="binary"
        ``"binary"``: class 0 vs class 1 as above. ``"multiclass"``: every component is
        its own class (5 classes; 3 for the subspace layout, where skada 0.6.0 instead
        splits each class-1 blob into two labels that ``x`` cannot tell apart).
        ``"regression"``: ``y = regression_scale * N(x; regression_mean, regression_cov)``
        evaluated on the noise-free point (for the subspace layout, a 1-D Gaussian
        density of the projection ``(x1 + x2) / 2``, so the function is the same in
        both domains).
    ratio : float, default=0.9
        Target-shift fraction of class 0 in the target, in (0, 1).
    mean, sigma : float, default=1.0, 0.7
        Conditional-shift translation and scale.
    gamma : float, default=2.0
        Covariate-shift selection sharpness (RBF width).
    center_cov_shift : pair of float, default=(-0.4, 3.0)
        Covariate-shift selection centre. SKADA-Bench passes ``(-0.4, 3)``; skada's own
        default is ``(0, 2)``.
    regression_mean, regression_cov : optional
        Mean and covariance of the regression Gaussian (default ``(0, 0)`` and the
        identity; for the subspace layout a scalar mean ``0`` and variance ``1``).
    regression_scale : float, default=27.0
        Multiplier of the regression density.
    standardize : bool, default=False
        Standardise both domains with the mean and std of all points pooled.
    random_state : None, int or numpy.random.Generator
        Seed; the same int gives identical arrays.

    Returns
    -------
    DomainDataset
        Domains ``"source"`` and ``"target"``; ``metadata`` records the generator, the
        resolved parameters and the seed.

    References
    ----------
    .. [1] skada 0.6.0, ``skada.datasets.make_shifted_datasets``; shifts after
       Moreno-Torres et al. (2012), Pattern Recognition 45(1):521-530.
    .. [2] Lalou et al. (2024), SKADA-Bench, arXiv:2407.11676 (``datasets/simulated.py``).

    Examples
    --------
    >>> from shiftlab.data.simulate import make_shifted_blobs
    >>> ds = make_shifted_blobs("target", random_state=0)
    >>> ds.sizes()
    {'source': 800, 'target': 800}
    >>> float((ds["target"][1] == 0).mean())
    0.9
    """
    kind = _canonical_shift(shift)
    if label not in ("binary", "multiclass", "regression"):
        raise DataValidationError(
            f"Unknown label {label!r}.{suggest(str(label), ['binary', 'multiclass', 'regression'])}"
            " Use 'binary', 'multiclass' or 'regression'."
        )
    layout = _SUBSPACE_LAYOUT if kind == "subspace" else _BLOBS_LAYOUT
    n_classes = {"binary": 2, "multiclass": len(layout), "regression": 1}[label]
    n_s = _BENCH_SIZE[kind] if n_samples_source is None else n_samples_source
    n_t = _BENCH_SIZE[kind] if n_samples_target is None else n_samples_target
    n_s = _check_count("n_samples_source", n_s, max(n_classes, 2))
    n_t = _check_count("n_samples_target", n_t, max(n_classes, 2))
    noise_s, noise_t = _check_noise(noise, _BENCH_NOISE[kind])
    ratio = _check_real("ratio", ratio, low=0.0, high=1.0)
    if kind == "target" and not 0.0 < ratio < 1.0:
        raise DataValidationError(
            f"ratio={ratio} leaves one class out of the target; use a value in (0, 1)."
        )
    mean = _check_real("mean", mean)
    sigma = _check_real("sigma", sigma)
    if sigma == 0.0:
        raise DataValidationError("sigma=0 collapses the target onto a point; use sigma != 0.")
    gamma = _check_real("gamma", gamma, low=0.0)
    centre = np.asarray(center_cov_shift, dtype=float).ravel()
    if centre.shape != (2,) or not np.isfinite(centre).all():
        raise DataValidationError(
            f"center_cov_shift must be a pair of finite numbers, got {center_cov_shift!r}."
        )
    regression_scale = _check_real("regression_scale", regression_scale)
    rng = _make_rng(random_state)

    if kind == "subspace":
        r_mean = 0.0 if regression_mean is None else _check_real("regression_mean",
                                                                  regression_mean)
        r_var = 1.0 if regression_cov is None else _check_real("regression_cov",
                                                               regression_cov, low=0.0,
                                                               low_open=True)

        def regression(x):
            return regression_scale * _gaussian_pdf_1d(x.sum(axis=1) / 2, r_mean, r_var)
    else:
        r_mean2 = np.zeros(2) if regression_mean is None else np.asarray(regression_mean,
                                                                          dtype=float)
        r_cov2 = np.eye(2) if regression_cov is None else np.asarray(regression_cov,
                                                                     dtype=float)
        if r_mean2.shape != (2,) or r_cov2.shape != (2, 2):
            raise DataValidationError(
                "regression_mean must have 2 entries and regression_cov shape (2, 2) "
                f"for this shift; got {r_mean2.shape} and {r_cov2.shape}."
            )
        if not np.allclose(r_cov2, r_cov2.T) or np.any(np.linalg.eigvalsh(r_cov2) <= 0):
            raise DataValidationError("regression_cov must be symmetric positive definite.")

        def regression(x):
            return regression_scale * _gaussian_pdf_2d(x, r_mean2, r_cov2)

    X_s, _, y_s = _sample_blobs(layout, n_s, rng, label, regression)
    if kind == "covariate":
        # The selection below is random, so the pool need not be shuffled.
        pool, _, pool_y = _sample_blobs(layout, 100 * n_t, rng, label, regression,
                                        shuffle=False)
        d2 = ((pool - centre) ** 2).sum(axis=1)
        # Subtracting the smallest distance first keeps the weights from underflowing.
        w = np.exp(-gamma * (d2 - d2.min()))
        if np.count_nonzero(w) < n_t:
            raise DataValidationError(
                f"gamma={gamma} is so large that fewer than {n_t} candidate points have a "
                "non-zero selection weight; use a smaller gamma or move center_cov_shift "
                "closer to the data."
            )
        pick = rng.choice(pool.shape[0], size=n_t, replace=False, p=w / w.sum())
        # Draw order favours heavy weights early; shuffle so row order carries no signal.
        pick = rng.permutation(pick)
        X_t, y_t = pool[pick], pool_y[pick]
    elif kind == "target":
        n0 = int(n_t * ratio)
        # Class 0 is the first component; the others share the rest evenly.
        counts = np.concatenate(([n0], _allocate(n_t - n0, [c.weight for c in layout[1:]])))
        X_t, ids = _draw_components(layout, counts, rng)
        perm = rng.permutation(n_t)
        X_t, ids = X_t[perm], ids[perm]
        y_t = _blob_labels(layout, ids, X_t, label, regression)
    elif kind == "conditional":
        X_t, _, y_t = _sample_blobs(layout, n_t, rng, label, regression)
        X_t = sigma * X_t + mean
    else:
        X_t, _, y_t = _sample_blobs(layout, n_t, rng, label, regression)
        X_t = -X_t

    if noise_s > 0:
        X_s = X_s + rng.normal(scale=noise_s, size=X_s.shape)
    if noise_t > 0:
        X_t = X_t + rng.normal(scale=noise_t, size=X_t.shape)
    if standardize:
        pooled = np.vstack((X_s, X_t))
        mu, sd = pooled.mean(axis=0), pooled.std(axis=0)
        sd[sd == 0] = 1.0
        X_s, X_t = (X_s - mu) / sd, (X_t - mu) / sd

    params = {
        "shift": kind,
        "n_samples_source": n_s,
        "n_samples_target": n_t,
        "noise": [noise_s, noise_t],
        "label": label,
        "ratio": ratio,
        "mean": mean,
        "sigma": sigma,
        "gamma": gamma,
        "center_cov_shift": centre.tolist(),
        "regression_scale": regression_scale,
        "standardize": bool(standardize),
    }
    return DomainDataset(
        {"source": (X_s, y_s), "target": (X_t, y_t)},
        name=f"shifted_blobs_{kind}",
        feature_names=["x0", "x1"],
        metadata={
            "generator": "shiftlab.data.simulate.make_shifted_blobs",
            "params": params,
            "seed": _seed_record(random_state),
            "reference": "skada make_shifted_datasets; SKADA-Bench Simulated (arXiv:2407.11676)",
        },
    )
