"""Linear subspaces: the source (or joint) PCA of JPCA, and subspace alignment (SA)."""

from __future__ import annotations

import numpy as np
from sklearn.utils._param_validation import StrOptions

from shiftlab.data.convention import source_mask
from shiftlab.methods._checks import at_least
from shiftlab.methods._checks import check_choice as _check_choice
from shiftlab.methods._checks import check_int as _check_int
from shiftlab.methods.base import BaseAdapter
from shiftlab.methods.registry import register_method
from shiftlab.methods.subspace._common import (
    N_COMPONENTS_GRID,
    _clip_n_components,
    _pca,
)


@register_method(
    name="JPCA",
    family="subspace",
    reference="Pearson, K. (1901). On lines and planes of closest fit to systems of points "
    "in space. Philosophical Magazine 2(11); as the JPCA baseline of SKADA-Bench "
    "(Lalou et al., 2024, arXiv:2407.11676).",
    grid={"n_components": N_COMPONENTS_GRID},
    designed_for=(),
    complexity="O(n d min(n, d) + min(n, d)^3) time, O(min(n, d)^2 + n d) memory.",
    regression=True,
    skada_name=None,
    skada_params={},
)
class PCAAdapter(BaseAdapter):
    """Project every row on principal axes fitted on the source (or on all rows).

    The "JPCA" baseline of SKADA-Bench: a PCA fitted on the labelled source and applied
    to every domain, which removes directions of little source variance but does not
    adapt by itself. ``fit_on="joint"`` fits the PCA on source and target rows pooled
    (joint PCA).

    Parameters
    ----------
    n_components : int or None, default=10
        Dimension of the subspace; SKADA-Bench's grid is {1, 2, 5, 10, 20, 50, 100}.
        ``None`` keeps every axis. Rank rule: the value used, ``n_components_``, is
        ``min(n_components, n_features, n_fit_rows - 1)`` (at least 1), the rank of the
        centred data, so grid values larger than the data never raise.
    fit_on : {"source", "joint"}, default="source"
        Rows the axes are fitted on: the (pooled) source domains, as SKADA-Bench, or
        every training row.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Mean of the rows the PCA was fitted on (subtracted from every row).
    components_ : ndarray of shape (n_components_, n_features)
        Principal axes, in decreasing order of variance.
    n_components_ : int
        Dimension actually used (see the rank rule).
    multi_source_ : str
        ``"pooled"``: every source domain enters one PCA.

    Notes
    -----
    Time ``O(n d min(n, d) + min(n, d)^3)``; only the ``k`` leading eigenpairs are
    computed.

    Examples
    --------
    >>> import numpy as np
    >>> from shiftlab.methods.subspace import PCAAdapter
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 5)); y = np.r_[rng.integers(0, 2, 20), -np.ones(20, int)]
    >>> PCAAdapter(n_components=2).fit_transform(X, y).shape
    (40, 2)
    """

    _parameter_constraints: dict = {
        "n_components": [at_least(1), None],
        "fit_on": [StrOptions({"source", "joint"})],
    }

    def __init__(self, n_components=10, fit_on="source"):
        self.n_components = n_components
        self.fit_on = fit_on

    def _fit(self, X, y, sample_domain):
        self._fit_transform(X, y, sample_domain)

    def _fit_transform(self, X, y, sample_domain):
        n_comp = _check_int("n_components", self.n_components, allow_none=True)
        fit_on = _check_choice("fit_on", self.fit_on, ("source", "joint"))
        src = source_mask(sample_domain)
        X_fit = X[src] if fit_on == "source" else X
        limit = max(1, min(X.shape[1], X_fit.shape[0] - 1))
        k = limit if n_comp is None else _clip_n_components("JPCA", n_comp, limit, X.shape[1])
        # X[src] is a fresh copy, which the PCA may centre in place.
        self.mean_, self.components_ = _pca(X_fit, k, overwrite=fit_on == "source")
        self.n_components_ = k
        self.multi_source_ = "pooled"
        return self._transform(X, sample_domain)

    def _transform(self, X, sample_domain):
        # x W - mean W: no centred copy of X.
        return X @ self.components_.T - self.mean_ @ self.components_.T


# ---------------------------------------------------------------------------------- SA
@register_method(
    name="SA",
    family="subspace",
    reference="Fernando, B., Habrard, A., Sebban, M. and Tuytelaars, T. (2013). "
    "Unsupervised visual domain adaptation using subspace alignment. ICCV.",
    grid={"n_components": N_COMPONENTS_GRID},
    designed_for=("conditional",),
    complexity="O(n d min(n, d) + min(n, d)^3) time (two PCAs), O(d^2 + n d) memory.",
    regression=True,
    skada_name="SubspaceAlignmentAdapter",
    skada_params={"n_components": 10},
)
class SubspaceAlignment(BaseAdapter):
    """Subspace alignment (SA, Fernando et al., 2013).

    Each domain is centred on its own mean and described by its ``k`` leading principal
    axes ``P_s`` and ``P_t`` (``k x d``). SA learns the alignment ``M = P_s P_t^T`` that
    minimises ``||P_s^T M - P_t^T||_F`` and maps

    * source rows to ``(x - mean_s) P_s^T M``,
    * target rows to ``(x - mean_t) P_t^T``,

    so that both live in the target's subspace, expressed in the target's coordinates.

    Parameters
    ----------
    n_components : int or None, default=10
        Dimension ``k`` of the subspaces (SKADA-Bench's grid {1, 2, 5, 10, 20, 50, 100}).
        ``None`` keeps every axis. Rank rule: ``n_components_ = min(n_components,
        n_features, n_source - 1, n_target - 1)`` (at least 1), the smaller rank of the
        two centred domains.

    Attributes
    ----------
    mean_source_, mean_target_ : ndarray of shape (n_features,)
        Domain means (each domain is centred on its own).
    components_source_, components_target_ : ndarray of shape (n_components_, n_features)
        Principal axes of each domain.
    alignment_ : ndarray of shape (n_components_, n_components_)
        ``M = P_s P_t^T``.
    n_components_ : int
        Dimension actually used.
    multi_source_ : str
        ``"pooled"``: the source domains share one subspace, the target domains another.

    Notes
    -----
    Time ``O(n d min(n, d) + min(n, d)^3)``. At transform time a row is mapped as a source
    row when its ``sample_domain`` is ``>= 0`` and as a target row otherwise (the default
    when ``sample_domain`` is omitted).
    """

    _parameter_constraints: dict = {"n_components": [at_least(1), None]}

    def __init__(self, n_components=10):
        self.n_components = n_components

    def _fit(self, X, y, sample_domain):
        self._fit_transform(X, y, sample_domain)

    def _fit_transform(self, X, y, sample_domain):
        n_comp = _check_int("n_components", self.n_components, allow_none=True)
        src = source_mask(sample_domain)
        tgt = ~src
        Xs, Xt = X[src], X[tgt]
        limit = max(1, min(X.shape[1], Xs.shape[0] - 1, Xt.shape[0] - 1))
        k = limit if n_comp is None else _clip_n_components("SA", n_comp, limit, X.shape[1])
        # Boolean indexing made fresh copies: the PCAs may centre them in place.
        self.mean_source_, self.components_source_ = _pca(Xs, k, overwrite=True)
        self.mean_target_, self.components_target_ = _pca(Xt, k, overwrite=True)
        self.alignment_ = self.components_source_ @ self.components_target_.T
        self.n_components_ = k
        self.multi_source_ = "pooled"
        return self._transform(X, sample_domain)

    def _transform(self, X, sample_domain):
        src = source_mask(sample_domain)
        tgt = ~src
        out = np.empty((X.shape[0], self.n_components_))
        # Folding M into the source axes makes the source map one matrix product.
        source_map = self.components_source_.T @ self.alignment_
        target_map = self.components_target_.T
        out[src] = X[src] @ source_map - self.mean_source_ @ source_map
        out[tgt] = X[tgt] @ target_map - self.mean_target_ @ target_map
        return out
