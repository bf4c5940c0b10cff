"""Simulated dataset shifts with known ground truth.

Every generator returns a :class:`~shiftlab.data.DomainDataset` whose domains differ by
one kind of shift from the taxonomy of Moreno-Torres et al. (2012) [1]_:

* **covariate shift**: :math:`P(x)` changes, :math:`P(y \\mid x)` does not;
* **target (label) shift**: :math:`P(y)` changes, :math:`P(x \\mid y)` does not;
* **conditional shift**: :math:`P(x \\mid y)` changes (Zhang et al., 2013 [2]_);
* **subspace shift**: the domains differ everywhere except in a subspace in which the
  classes are separable and their class-conditionals coincide.

:func:`make_shifted_blobs` reproduces the 2-D distributions of ``skada``'s
``make_shifted_datasets``, which SKADA-Bench [3]_ uses for its "Simulated" dataset; its
defaults are SKADA-Bench's settings. :func:`make_shifted_gaussians` (classification),
:func:`make_shifted_regression` (regression) and :func:`make_multi_source` are
high-dimensional generators whose shift strength is a parameter (``strength=0`` gives two
domains drawn from the same distribution).

Every generator is seeded by ``random_state`` (an int, a :class:`numpy.random.Generator`
or ``None``) and records its name, parameters and seed in ``DomainDataset.metadata``.

References
----------
.. [1] Moreno-Torres, J. G., Raeder, T., Alaiz-Rodriguez, R., Chawla, N. V. and
   Herrera, F. (2012). A unifying view on dataset shift in classification.
   Pattern Recognition, 45(1), 521-530.
.. [2] Zhang, K., Schölkopf, B., Muandet, K. and Wang, Z. (2013). Domain adaptation
   under target and conditional shift. ICML.
.. [3] Lalou, Y., Gnassounou, T., Collas, A., et al. (2024). SKADA-Bench: Benchmarking
   unsupervised domain adaptation methods with realistic validation. arXiv:2407.11676.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shiftlab.data.dataset import DomainDataset
from shiftlab.exceptions import DataValidationError, suggest

__all__ = [
    "BLOBS_INVARIANT_DIRECTION",
    "SHIFT_KINDS",
    "make_multi_source",
    "make_rotated_clusters",
    "make_shifted_blobs",
    "make_shifted_gaussians",
    "make_shifted_regression",
]

#: Canonical names of the simulated shifts.
SHIFT_KINDS = ("covariate", "target", "conditional", "subspace")

# skada's spellings (and the older "concept_drift", the name SKADA-Bench's config uses
# for the conditional shift) are accepted so that configs written for skada work here.
_SHIFT_ALIASES = {
    "covariate": "covariate",
    "covariate_shift": "covariate",
    "target": "target",
    "target_shift": "target",
    "label": "target",
    "label_shift": "target",
    "prior_shift": "target",
    "conditional": "conditional",
    "conditional_shift": "conditional",
    "concept_drift": "conditional",
    "subspace": "subspace",
    "subspace_shift": "subspace",
}

# SKADA-Bench "Simulated" settings (datasets/simulated.py in scikit-adaptation/skada-bench):
# per-cluster size 100 (300 for subspace) and a per-shift noise level.
_BENCH_NOISE = {"covariate": 0.6, "target": 0.8, "conditional": 0.8, "subspace": 0.4}
_BENCH_SIZE = {"covariate": 800, "target": 800, "conditional": 800, "subspace": 1200}


# Length of the covariate-shift tilt vector per unit of strength, in cluster stds: at
# strength 1 a linear source-only model is about 0.1 accuracy below a target-trained one.
_TILT = 2.0


# --------------------------------------------------------------------------- helpers
def _canonical_shift(shift) -> str:
    if not isinstance(shift, str):
        raise DataValidationError(
            f"shift must be a string, got {type(shift).__name__}. "
            f"Use one of {', '.join(SHIFT_KINDS)}."
        )
    key = shift.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in _SHIFT_ALIASES:
        raise DataValidationError(
            f"Unknown shift {shift!r}.{suggest(key, _SHIFT_ALIASES)} "
            f"Use one of {', '.join(SHIFT_KINDS)} (skada spellings such as "
            "'covariate_shift' are accepted too)."
        )
    return _SHIFT_ALIASES[key]


def _make_rng(random_state) -> np.random.Generator:
    """Turn ``random_state`` into a :class:`numpy.random.Generator`."""
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        if random_state is not None and int(random_state) < 0:
            raise DataValidationError(
                f"random_state must be a non-negative int, got {random_state}."
            )
        return np.random.default_rng(None if random_state is None else int(random_state))
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        # Derive a Generator from the legacy state so that old-style callers stay seeded.
        return np.random.default_rng(random_state.randint(0, 2**31 - 1, size=4))
    raise DataValidationError(
        f"random_state must be None, an int or a numpy.random.Generator, got "
        f"{type(random_state).__name__}."
    )


def _seed_record(random_state):
    """What to store as the seed in metadata (an int, or a note that none was fixed)."""
    if isinstance(random_state, (numbers.Integral, np.integer)):
        return int(random_state)
    if random_state is None:
        return None
    return f"<{type(random_state).__name__}>"


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise DataValidationError(f"{name} must be an int, got {value!r}.")
    if int(value) < minimum:
        raise DataValidationError(
            f"{name}={value} is too small; it must be at least {minimum} (for sample "
            "sizes: enough to hold every class)."
        )
    return int(value)


def _check_real(name: str, value, *, low=None, high=None, low_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataValidationError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise DataValidationError(f"{name} must be finite, got {value}.")
    if low is not None and (value < low or (low_open and value == low)):
        op = ">" if low_open else ">="
        raise DataValidationError(f"{name} must be {op} {low}, got {value}.")
    if high is not None and value > high:
        raise DataValidationError(f"{name} must be <= {high}, got {value}.")
    return value


def _check_noise(noise, default: float) -> tuple[float, float]:
    """Noise std for (source, target): 'auto', None, a float or a pair."""
    if isinstance(noise, str):
        if noise != "auto":
            raise DataValidationError(
                f"noise must be 'auto', None, a float or a (source, target) pair; got {noise!r}."
            )
        return default, default
    if noise is None:
        return 0.0, 0.0
    if isinstance(noise, numbers.Real) and not isinstance(noise, bool):
        v = _check_real("noise", noise, low=0.0)
        return v, v
    try:
        pair = tuple(noise)
    except TypeError:
        pair = ()
    if len(pair) != 2:
        raise DataValidationError(
            f"noise must be 'auto', None, a float or a (source, target) pair; got {noise!r}."
        )
    return _check_real("noise[0]", pair[0], low=0.0), _check_real("noise[1]", pair[1], low=0.0)


def _allocate(n: int, weights) -> np.ndarray:
    """Split ``n`` into integer counts proportional to ``weights`` (largest remainder).

    Deterministic, so that every component with a fair share gets it; component
    proportions are then exact up to rounding rather than multinomial.
    """
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    raw = n * w
    counts = np.floor(raw).astype(np.int64)
    short = n - int(counts.sum())
    if short:
        # Ties broken by position, which keeps the function deterministic.
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


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


# ------------------------------------------------- high-dimensional Gaussian mixtures
@dataclass
class _MixtureDomain:
    """One domain of a class-conditional Gaussian mixture in the informative subspace.

    Component ``j`` (class ``labels[j]``) has weight ``weights[j]``, mean ``means[j]``
    and isotropic std ``stds[j]``; the features outside the informative subspace are
    i.i.d. standard normal noise, independent of the class, in every domain.
    """

    labels: np.ndarray  # (n_components,)
    weights: np.ndarray  # (n_components,)
    means: np.ndarray  # (n_components, n_informative)
    stds: np.ndarray  # (n_components,)

    def sample(self, n: int, n_features: int, n_classes: int, rng) -> tuple[np.ndarray, ...]:
        # Two-level allocation (classes, then components within a class) so that with
        # n >= n_classes every class with a non-negligible prior is present.
        class_w = np.bincount(self.labels, weights=self.weights, minlength=n_classes)
        class_n = _allocate(n, class_w)
        counts = np.zeros(self.labels.size, dtype=np.int64)
        for k in range(n_classes):
            members = np.flatnonzero(self.labels == k)
            if class_n[k]:
                counts[members] = _allocate(int(class_n[k]), self.weights[members])
        comp = np.repeat(np.arange(self.labels.size), counts)
        comp = comp[rng.permutation(n)]
        d = self.means.shape[1]
        X = rng.standard_normal((n, n_features))
        X[:, :d] = X[:, :d] * self.stds[comp, None] + self.means[comp]
        return X, self.labels[comp].astype(np.int64), comp


def _unit(rng, d: int) -> np.ndarray:
    v = rng.standard_normal(d)
    return v / np.linalg.norm(v)


def _base_mixture(rng, n_classes, n_clusters_per_class, n_informative, class_sep,
                  boost=None) -> _MixtureDomain:
    """Source mixture: ``n_clusters_per_class`` unit-variance clusters per class, centres
    drawn from ``N(0, class_sep^2 I)`` (columns scaled by ``boost`` when given)."""
    n_comp = n_classes * n_clusters_per_class
    means = rng.normal(scale=class_sep, size=(n_comp, n_informative))
    if boost is not None:
        means = means * boost
    labels = np.repeat(np.arange(n_classes), n_clusters_per_class)
    return _MixtureDomain(labels, np.full(n_comp, 1.0 / n_comp), means, np.ones(n_comp))


def _class_means(dom: _MixtureDomain, n_classes: int) -> np.ndarray:
    out = np.zeros((n_classes, dom.means.shape[1]))
    for k in range(n_classes):
        m = dom.labels == k
        out[k] = np.average(dom.means[m], axis=0, weights=dom.weights[m])
    return out


def _shift_mixture(base: _MixtureDomain, kind: str, strength: float, n_classes: int,
                   n_invariant: int, rng) -> tuple[_MixtureDomain, dict]:
    """Apply one shift of the given strength to ``base``; return it and its ground truth.

    Directions are drawn from ``rng`` even when ``strength == 0`` so that the random
    stream, and hence the rest of the data, does not depend on the strength.
    """
    d = base.means.shape[1]
    if kind == "covariate":
        # Exponential tilting p_t(x, y) ∝ exp(b.x) p_s(x, y): a selection bias that depends
        # on x only, so P(y | x) is exactly unchanged. A cluster N(mu, sd^2 I) becomes
        # N(mu + sd^2 b, sd^2 I) and its weight is multiplied by exp(b.mu).
        b = _TILT * strength * _unit(rng, d)
        logw = np.log(base.weights) + base.means @ b
        w = np.exp(logw - logw.max())
        shifted = _MixtureDomain(base.labels, w / w.sum(),
                                 base.means + b * base.stds[:, None] ** 2, base.stds)
        return shifted, {"tilt": b.tolist()}
    if kind == "target":
        # Geometric class priors: the most frequent class is 10**strength times the
        # least frequent one; the order of the classes is random.
        rank = rng.permutation(n_classes) / max(n_classes - 1, 1)
        prior = 10.0 ** (-strength * rank)
        prior /= prior.sum()
        src_prior = np.bincount(base.labels, weights=base.weights, minlength=n_classes)
        w = base.weights * (prior / src_prior)[base.labels]
        shifted = _MixtureDomain(base.labels, w / w.sum(), base.means, base.stds)
        return shifted, {"class_prior": prior.tolist()}
    if kind == "conditional":
        # Class-dependent affine map of each class-conditional around its class mean:
        # x -> m_k + a_k (x - m_k) + t_k with |t_k| = 2 * strength and
        # a_k = 1.5 ** (strength * e_k), e_k uniform in [-1, 1]. Priors are unchanged.
        centres = _class_means(base, n_classes)
        trans = np.stack([_unit(rng, d) for _ in range(n_classes)]) * 2.0 * strength
        scale = 1.5 ** (strength * rng.uniform(-1.0, 1.0, size=n_classes))
        k = base.labels
        means = centres[k] + scale[k, None] * (base.means - centres[k]) + trans[k]
        shifted = _MixtureDomain(base.labels, base.weights, means, base.stds * scale[k])
        return shifted, {"class_translation": trans.tolist(), "class_scale": scale.tolist()}
    # Subspace: the first n_invariant informative coordinates (the invariant subspace V)
    # are left alone; the others (W) have their cluster means multiplied by
    # 1 - 2 * strength, i.e. mirrored at strength 1, so class information that lives in W
    # is reversed while P(x_V, y) is identical in both domains.
    factor = 1.0 - 2.0 * strength
    means = base.means.copy()
    means[:, n_invariant:] *= factor
    shifted = _MixtureDomain(base.labels, base.weights, means, base.stds)
    return shifted, {"invariant_features": list(range(n_invariant)), "mirror_factor": factor}


def _check_gaussian_args(kind, n_features, n_classes, n_informative, n_clusters_per_class,
                         class_sep, strength):
    n_features = _check_count("n_features", n_features, 2 if kind == "subspace" else 1)
    n_classes = _check_count("n_classes", n_classes, 2)
    n_clusters_per_class = _check_count("n_clusters_per_class", n_clusters_per_class, 1)
    if n_informative is None:
        n_informative = min(n_features, max(2, n_classes))
    n_informative = _check_count("n_informative", n_informative, 2 if kind == "subspace" else 1)
    if n_informative > n_features:
        raise DataValidationError(
            f"n_informative={n_informative} exceeds n_features={n_features}; lower "
            "n_informative or raise n_features."
        )
    class_sep = _check_real("class_sep", class_sep, low=0.0, low_open=True)
    strength = _check_real("strength", strength, low=0.0)
    return n_features, n_classes, n_informative, n_clusters_per_class, class_sep, strength


def make_shifted_gaussians(
    shift: str = "covariate",
    *,
    n_features: int = 50,
    n_classes: int = 5,
    n_samples_source: int = 1000,
    n_samples_target: int = 1000,
    strength: float = 1.0,
    n_informative: int | None = None,
    n_clusters_per_class: int = 2,
    class_sep: float = 2.0,
    random_state=None,
) -> DomainDataset:
    """High-dimensional class-conditional Gaussians with a shift of controllable strength.

    Base (source) distribution: each class is a mixture of ``n_clusters_per_class``
    unit-variance Gaussian clusters living in the first ``n_informative`` features, with
    centres drawn from ``N(0, class_sep^2 I)``; all clusters have the same weight, so
    the classes are balanced. The remaining features are i.i.d. ``N(0, 1)`` noise,
    independent of the class and identical in both domains. Several clusters per class
    make the Bayes boundary non-linear, so a misspecified (e.g. linear) model is
    sensitive to covariate shift, as in Shimodaira (2000) [1]_.

    The target is the source with one shift of strength ``s = strength`` applied
    (``s = 0`` gives two samples of the same distribution):

    ``"covariate"``
        Exponential tilting ``p_t(x, y) ∝ exp(b·x) p_s(x, y)`` with ``b = 2 s u`` for a
        random unit vector ``u`` of the informative subspace: a selection bias on ``x``
        only, so ``P(y | x)`` is *exactly* unchanged while ``P(x)`` (and, through it,
        ``P(y)``) changes. For unit-variance clusters it moves every cluster by ``b``
        and multiplies its weight by ``exp(b·mu)``, concentrating the target on the
        clusters that lie in direction ``u``. A source-only model then loses accuracy
        relative to a target-trained one mainly when it is misspecified (e.g. linear,
        while the boundary is not).
    ``"target"``
        Class priors change to a geometric profile in which the most frequent class is
        ``10**s`` times more frequent than the least frequent (class order random);
        ``P(x | y)`` is unchanged [2]_.
    ``"conditional"``
        Each class-conditional is mapped by ``x -> m_k + a_k (x - m_k) + t_k`` (``m_k``
        its mean) with a random translation ``|t_k| = 2 s`` and a scale
        ``a_k = 1.5**(s e_k)``, ``e_k ~ U(-1, 1)``; ``P(y)`` is unchanged [3]_.
    ``"subspace"``
        The informative features split into an invariant part ``V`` (the first
        ``ceil(n_informative / 2)``) and a domain-specific part ``W``. In the target the
        ``W`` coordinates of every cluster mean are multiplied by ``1 - 2 s`` (mirrored at
        ``s = 1``), so class information in ``W`` is reversed while ``P(x_V, y)`` is the
        same in both domains and the classes remain separable in ``V``. Centre
        coordinates in ``W`` are drawn 1.5 times wider than in ``V`` so that a
        source-only model leans on ``W``. ``metadata["ground_truth"]
        ["invariant_features"]`` lists ``V``.

    Parameters
    ----------
    shift : {"covariate", "target", "conditional", "subspace"}
        Kind of shift (skada's ``*_shift`` spellings are accepted).
    n_features : int, default=50
        Total number of features.
    n_classes : int, default=5
        Number of classes (labels ``0 .. n_classes - 1``).
    n_samples_source, n_samples_target : int, default=1000
        Number of points per domain. Per-class counts are the expected ones rounded
        (not multinomial), so every class appears when ``n >= n_classes``.
    strength : float, default=1.0
        Shift strength, ``>= 0``.
    n_informative : int, optional
        Number of informative features (default ``min(n_features, max(2, n_classes))``).
    n_clusters_per_class : int, default=2
        Gaussian clusters per class.
    class_sep : float, default=2.0
        Std of the cluster centres (larger: easier classes).
    random_state : None, int or numpy.random.Generator
        Seed; it also draws the cluster centres and shift directions.

    Returns
    -------
    DomainDataset
        Domains ``"source"`` and ``"target"``. ``metadata`` holds the generator, its
        parameters, the seed and ``ground_truth`` (informative features and the shift's
        parameters: tilt vector, target class priors, class translations and scales, or
        invariant features).

    References
    ----------
    .. [1] Shimodaira, H. (2000). Improving predictive inference under covariate shift by
       weighting the log-likelihood function. J. Statistical Planning and Inference, 90(2).
    .. [2] Lipton, Z., Wang, Y.-X. and Smola, A. (2018). Detecting and correcting for
       label shift with black box predictors. ICML.
    .. [3] Zhang, K., Schölkopf, B., Muandet, K. and Wang, Z. (2013). Domain adaptation
       under target and conditional shift. ICML.

    Examples
    --------
    >>> from shiftlab.data.simulate import make_shifted_gaussians
    >>> ds = make_shifted_gaussians("target", n_features=10, random_state=0)
    >>> ds.sizes(), ds.n_features
    ({'source': 1000, 'target': 1000}, 10)
    """
    kind = _canonical_shift(shift)
    n_features, n_classes, n_informative, n_clusters_per_class, class_sep, strength = (
        _check_gaussian_args(kind, n_features, n_classes, n_informative, n_clusters_per_class,
                             class_sep, strength)
    )
    n_s = _check_count("n_samples_source", n_samples_source, n_classes)
    n_t = _check_count("n_samples_target", n_samples_target, n_classes)
    rng = _make_rng(random_state)
    n_inv = math.ceil(n_informative / 2)
    boost = None
    if kind == "subspace":
        boost = np.where(np.arange(n_informative) < n_inv, 1.0, 1.5)
    base = _base_mixture(rng, n_classes, n_clusters_per_class, n_informative, class_sep, boost)
    target, truth = _shift_mixture(base, kind, strength, n_classes, n_inv, rng)
    X_s, y_s, _ = base.sample(n_s, n_features, n_classes, rng)
    X_t, y_t, _ = target.sample(n_t, n_features, n_classes, rng)
    truth = {"informative_features": list(range(n_informative)), **truth}
    params = {
        "shift": kind,
        "n_features": n_features,
        "n_classes": n_classes,
        "n_samples_source": n_s,
        "n_samples_target": n_t,
        "strength": strength,
        "n_informative": n_informative,
        "n_clusters_per_class": n_clusters_per_class,
        "class_sep": class_sep,
    }
    return DomainDataset(
        {"source": (X_s, y_s), "target": (X_t, y_t)},
        name=f"shifted_gaussians_{kind}",
        metadata={
            "generator": "shiftlab.data.simulate.make_shifted_gaussians",
            "params": params,
            "seed": _seed_record(random_state),
            "ground_truth": truth,
        },
    )


def make_multi_source(
    n_sources: int = 3,
    shift: str = "conditional",
    *,
    n_features: int = 20,
    n_classes: int = 3,
    n_samples_source: int = 500,
    n_samples_target: int = 500,
    strength: float = 1.0,
    n_informative: int | None = None,
    n_clusters_per_class: int = 2,
    class_sep: float = 2.0,
    random_state=None,
) -> DomainDataset:
    """Several source domains, each shifted differently from one target domain.

    Uses the class-conditional Gaussian model of :func:`make_shifted_gaussians`. The
    target is the base distribution; source ``i`` (``i = 0 .. n_sources - 1``) is the base
    distribution with the shift ``shift`` of strength ``strength * (i + 1) / n_sources``
    applied in its own random direction (own tilt vector, own class priors, own class
    translations and scales; for the subspace shift, its own mirror factor
    ``1 - 2 s_i`` on the shared domain-specific features). So ``source0`` is the closest
    to the target and ``source{K-1}`` the farthest, which is the setting of
    multi-source methods that weight sources by their relevance (Mansour et al., 2008;
    Zhao et al., 2018 [1]_).

    Parameters
    ----------
    n_sources : int, default=3
        Number of source domains (``>= 1``).
    shift : {"covariate", "target", "conditional", "subspace"}, default="conditional"
        Kind of shift between each source and the target.
    n_features, n_classes, n_informative, n_clusters_per_class, class_sep
        As in :func:`make_shifted_gaussians` (defaults: 20 features, 3 classes).
    n_samples_source : int, default=500
        Points per source domain.
    n_samples_target : int, default=500
        Points in the target domain.
    strength : float, default=1.0
        Strength of the farthest source's shift.
    random_state : None, int or numpy.random.Generator
        Seed.

    Returns
    -------
    DomainDataset
        Domains ``"source0"`` .. ``"source{n_sources-1}"`` and ``"target"`` (in that
        order). ``metadata["ground_truth"]`` maps each source to its strength and shift
        parameters.

    References
    ----------
    .. [1] Zhao, H., Zhang, S., Wu, G., Moura, J. M. F., Costeira, J. P. and Gordon, G. J.
       (2018). Adversarial multiple source domain adaptation. NeurIPS.

    Examples
    --------
    >>> from shiftlab.data.simulate import make_multi_source
    >>> ds = make_multi_source(2, random_state=0)
    >>> ds.domain_names
    ['source0', 'source1', 'target']
    """
    kind = _canonical_shift(shift)
    n_sources = _check_count("n_sources", n_sources, 1)
    n_features, n_classes, n_informative, n_clusters_per_class, class_sep, strength = (
        _check_gaussian_args(kind, n_features, n_classes, n_informative, n_clusters_per_class,
                             class_sep, strength)
    )
    n_s = _check_count("n_samples_source", n_samples_source, n_classes)
    n_t = _check_count("n_samples_target", n_samples_target, n_classes)
    rng = _make_rng(random_state)
    n_inv = math.ceil(n_informative / 2)
    boost = None
    if kind == "subspace":
        boost = np.where(np.arange(n_informative) < n_inv, 1.0, 1.5)
    base = _base_mixture(rng, n_classes, n_clusters_per_class, n_informative, class_sep, boost)
    domains, truth = {}, {"informative_features": list(range(n_informative))}
    for i in range(n_sources):
        s_i = strength * (i + 1) / n_sources
        mixture, info = _shift_mixture(base, kind, s_i, n_classes, n_inv, rng)
        domains[f"source{i}"] = mixture.sample(n_s, n_features, n_classes, rng)[:2]
        truth[f"source{i}"] = {"strength": s_i, **info}
    domains["target"] = base.sample(n_t, n_features, n_classes, rng)[:2]
    params = {
        "n_sources": n_sources,
        "shift": kind,
        "n_features": n_features,
        "n_classes": n_classes,
        "n_samples_source": n_s,
        "n_samples_target": n_t,
        "strength": strength,
        "n_informative": n_informative,
        "n_clusters_per_class": n_clusters_per_class,
        "class_sep": class_sep,
    }
    return DomainDataset(
        domains,
        name=f"multi_source_{kind}",
        metadata={
            "generator": "shiftlab.data.simulate.make_multi_source",
            "params": params,
            "seed": _seed_record(random_state),
            "ground_truth": truth,
        },
    )


# ------------------------------------------------------------------------ regression
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


def make_rotated_clusters(seed=0, n=300, k=4, d=10, angle=90.0, shift=4.0, sep=4.0):
    """Gaussian clusters whose target copy is rotated and translated (arrays).

    ``k`` unit-variance clusters in ``d`` dimensions, centres at distance ``sep`` from
    the origin; the target is drawn from the same clusters, rotated by ``angle`` degrees
    in a random plane and translated by ``shift`` in a random direction. A source-only
    model misclassifies part of the target while the target stays clustered: the
    controlled shift of the deep-method tests and of ``benchmarks/bench_deep.py``.

    Returns
    -------
    X_source, y_source, X_target, y_target : ndarray
        ``n`` rows per domain.
    """
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d))
    means = sep * means / np.linalg.norm(means, axis=1, keepdims=True)
    ys, yt = rng.integers(0, k, n), rng.integers(0, k, n)
    xs = means[ys] + rng.normal(size=(n, d))
    xt = means[yt] + rng.normal(size=(n, d))
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    th = np.deg2rad(angle)
    rot = np.eye(d)
    rot[:2, :2] = [[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]
    rot = q @ rot @ q.T
    b = rng.normal(size=d)
    xt = xt @ rot.T + shift * b / np.linalg.norm(b)
    return xs, ys, xt, yt
