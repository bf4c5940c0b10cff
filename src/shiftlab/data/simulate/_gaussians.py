"""High-dimensional class-conditional Gaussian mixtures: :func:`make_shifted_gaussians`
(the ``gauss-<shift>`` datasets), :func:`make_multi_source` and
:func:`make_rotated_clusters`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shiftlab.data.dataset import DomainDataset
from shiftlab.data.registry import register_dataset
from shiftlab.data.simulate._common import (
    _TILT,
    SHIFT_KINDS,
    _allocate,
    _canonical_shift,
    _check_count,
    _check_real,
    _make_rng,
    _seed_record,
    _unit,
)
from shiftlab.exceptions import DataValidationError


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


@register_dataset(kind="simulated", seeded=True,
                  variants={f"gauss-{shift}": {"shift": shift} for shift in SHIFT_KINDS})
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
