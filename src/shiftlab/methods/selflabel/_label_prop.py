"""Optimal transport label propagation: :class:`OTLabelProp` and its multi-source,
target-shift form :class:`JCPOT` (Redko et al., 2019)."""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC, SVR
from sklearn.utils import check_random_state

from shiftlab.data.convention import label_kind, split_source_target
from shiftlab.methods._checks import NON_NEGATIVE, POSITIVE, at_least, use_approx
from shiftlab.methods._checks import check_choice as _check_choice
from shiftlab.methods._checks import check_int as _check_int
from shiftlab.methods._checks import check_real as _check_real
from shiftlab.methods._ot import cost_matrix, logsumexp_inplace
from shiftlab.methods.base import BaseDAEstimator
from shiftlab.methods.registry import register_method
from shiftlab.methods.selflabel._common import (
    _COST_NORMS,
    _COST_STATS,
    _METRICS,
    _OT_CONSTRAINTS,
    _SAFE_COST_RATIO,
    _cost_scale,
    _fit_classifier,
    _make_blocks,
    _one_hot,
    _ot_plan,
    _record_domains,
    _require_classification,
    _stratified_blocks,
    _TargetModelMixin,
)

_REF_OTLP = (
    "J. Solomon, R. Rustamov, L. Guibas, A. Butscher. Wasserstein propagation for "
    "semi-supervised learning. ICML 2014; I. Redko, N. Courty, R. Flamary, D. Tuia. "
    "Optimal transport for multi-source domain adaptation under target shift. AISTATS 2019."
)
_REF_JCPOT = (
    "I. Redko, N. Courty, R. Flamary, D. Tuia. Optimal transport for multi-source domain "
    "adaptation under target shift. AISTATS 2019."
)


# ===================================================================== OTLabelProp
@register_method(
    name="OTLabelProp",
    family="other",
    reference=_REF_OTLP,
    grid={"metric": ["sqeuclidean", "cosine", "cityblock"], "reg": [None, 0.1, 1]},
    designed_for=("conditional",),
    complexity=(
        "exact: O(n_s n_t d + T_ot(n_s, n_t) + T_fit(n_t)) time, O(n_s n_t) memory; "
        "minibatch: O((n_s + n_t) B) memory, linear time"
    ),
    needs_estimator=False,
    multiclass=True,
    regression=True,
    skada_name="OTLabelProp",
    skada_params={"reg": 0, "n_iter_max": 1_000_000},
)
class OTLabelProp(_TargetModelMixin, BaseDAEstimator):
    """Optimal transport label propagation, then a model trained on the target.

    One OT plan ``T`` between source and target samples carries the source labels to
    the target: target ``j`` gets the class with the largest transported mass
    ``sum_{i: y_i = c} T_ij`` (or, for regression, the barycentric label
    ``n_t sum_i T_ij y_i``). The base estimator is then fitted on the target samples
    and these pseudo-labels only (Solomon et al., 2014; Redko et al., 2019).

    Parameters
    ----------
    base_estimator : estimator or None, default=None
        Model trained on the pseudo-labelled target. ``None``: ``SVC()`` (RBF) for
        classes, ``SVR()`` for regression targets (skada's default is SVC).
    metric : {"sqeuclidean", "euclidean", "cosine", "cityblock"}, default="sqeuclidean"
        Ground metric. SKADA-Bench grid: sqeuclidean, cosine, cityblock.
    reg : float or None, default=None
        Entropic regularisation; ``None`` solves exact OT (network simplex).
        SKADA-Bench grid: {None, 0.1, 1}. Entropic plans come from POT's Sinkhorn when
        ``exp(-M / reg)`` is safe, from a log-domain Sinkhorn otherwise.
    n_iter_max : int, default=200
        Iteration cap of the Sinkhorn solver (skada's default). The exact solver's cap
        grows with the problem size so that it reaches optimality.
    cost_norm : {None, "mean", "median", "max"}, default=None
        Division of the cost matrix. ``None`` keeps raw costs as skada does, so ``reg``
        is on the data's scale; ``"median"`` makes ``reg`` scale-free.
    approx : {"auto", True, False}, default="auto"
        Minibatch OT, see the module docstring.
    max_exact_samples : int, default=1000
        Largest domain size solved with one OT plan under ``approx="auto"``.
    batch_size : int, default=500
        Block size of minibatch OT.
    random_state : int, RandomState or None, default=None
        Seeds the minibatch partition.

    Attributes
    ----------
    estimator_ : estimator
        Base estimator fitted on the pseudo-labelled target samples.
    classes_ : ndarray
        Source classes (classification only).
    pseudo_labels_ : ndarray of shape (n_target,)
        Labels given to the training target samples (in their order in ``X``).
    label_distribution_ : ndarray of shape (n_target, n_classes)
        Transported class masses of each training target sample, rows summing to one
        (classification only).
    approx_, n_blocks_ : bool, int
        Whether minibatch OT was used, and the number of OT problems solved.
    source_domains_, target_domains_, pooled_sources_
        Domain ids seen at fit; several source domains are pooled.

    Notes
    -----
    Complexity: ``O(n_s n_t d)`` for the cost and one OT solve (exact: ``O(n_s n_t)``
    memory, about cubic time; minibatch: ``O((n_s + n_t) B)`` memory, linear time),
    plus one fit of the base estimator on ``n_t`` samples.

    skada 0.6's ``OTLabelProp`` passes ``n_iter_max=200`` to the exact solver as well,
    which stops the network simplex long before optimality from a few hundred points
    on; shiftlab's exact plans are optimal.

    References
    ----------
    .. [1] Solomon, Rustamov, Guibas, Butscher. Wasserstein propagation for
       semi-supervised learning. ICML 2014.
    .. [2] Redko, Courty, Flamary, Tuia. Optimal transport for multi-source domain
       adaptation under target shift. AISTATS 2019.
    """

    _parameter_constraints: dict = {
        **_OT_CONSTRAINTS,
        "reg": [NON_NEGATIVE, None],  # 0 or None: exact OT
        "n_iter_max": [at_least(1)],
    }

    def __init__(
        self,
        base_estimator=None,
        *,
        metric="sqeuclidean",
        reg=None,
        n_iter_max=200,
        cost_norm=None,
        approx="auto",
        max_exact_samples=1000,
        batch_size=500,
        random_state=None,
    ):
        self.base_estimator = base_estimator
        self.metric = metric
        self.reg = reg
        self.n_iter_max = n_iter_max
        self.cost_norm = cost_norm
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.batch_size = batch_size
        self.random_state = random_state

    def _base(self, kind="classification"):
        if self.base_estimator is not None:
            return self.base_estimator
        return SVR() if kind == "regression" else SVC()

    def _fit(self, X, y, sample_domain):
        _check_choice("metric", self.metric, _METRICS)
        reg = _check_real("reg", self.reg, low=0.0, allow_none=True)
        if reg == 0.0:
            reg = None
        _check_int("n_iter_max", self.n_iter_max, 1)
        _check_choice("cost_norm", self.cost_norm, _COST_NORMS)
        _record_domains(self, sample_domain)
        Xs, ys, Xt, _ = split_source_target(X, y, sample_domain)
        kind = label_kind(ys)
        n_s, n_t = Xs.shape[0], Xt.shape[0]
        rng = check_random_state(self.random_state)
        if kind == "classification":
            self.classes_, codes = np.unique(ys, return_inverse=True)
            values = _one_hot(codes, self.classes_.size)
        else:
            codes = None
            values = ys.astype(float)[:, None]
        self.approx_ = use_approx(self.approx, self.max_exact_samples, n_s, n_t)
        blocks = _make_blocks(n_s, n_t, self.batch_size, rng, codes, exact=not self.approx_)
        self.n_blocks_ = len(blocks)
        scale = (
            _cost_scale(Xs, Xt, self.metric, self.cost_norm, rng) if self.approx_ else None
        )
        mass = np.zeros((n_t, values.shape[1]))
        count = np.zeros(n_t)
        for S, T in blocks:
            M = cost_matrix(Xs[S], Xt[T], self.metric)
            if scale is not None:
                M /= scale
            elif self.cost_norm is not None:
                M /= _COST_STATS[self.cost_norm](M)
            # M is rebuilt for every block: the exact solver may overwrite it.
            G = _ot_plan(M, reg, self.n_iter_max, metric=self.metric, overwrite_cost=True)
            # Normalise by the mass each target receives (1/|T| for exact plans).
            mass[T] += (G.T @ values[S]) / np.maximum(G.sum(axis=0), 1e-300)[:, None]
            count[T] += 1.0
        mass /= count[:, None]
        base = self._base(kind)
        if kind == "classification":
            self.label_distribution_ = mass
            self.pseudo_labels_ = self.classes_[np.argmax(mass, axis=1)]
            self.estimator_ = _fit_classifier(base, Xt, self.pseudo_labels_)
        else:
            self.pseudo_labels_ = mass[:, 0]
            self.estimator_ = clone(base).fit(Xt, self.pseudo_labels_)


# =========================================================================== JCPOT
def _jcpot_block(costs, codes, n_classes, reg, max_iter, tol):
    """Joint class proportion and OT on one set of cost matrices (one per source).

    Returns the estimated target proportions ``h`` and, per target sample, the class
    mass transported to it (averaged over the sources with uniform weights).

    Bregman projections (Redko et al. 2019, Alg. 1): alternately fit each coupling to
    the uniform target marginal, set ``h`` to the geometric mean over sources of their
    class masses, and rescale the rows of each coupling so that class ``c`` carries
    ``h_c`` split evenly among its source samples.
    """
    n_t = costs[0].shape[1]
    counts = [np.bincount(c, minlength=n_classes).astype(float) for c in codes]
    present = np.array([cnt > 0 for cnt in counts])  # (n_sources, n_classes)
    safe = all(M.max() / reg < _SAFE_COST_RATIO for M in costs)
    log_b = -math.log(n_t)
    h = present.mean(axis=0)
    h /= h.sum()
    if safe:
        kernels = [np.exp(-M / reg) for M in costs]
        u = [np.ones(M.shape[0]) for M in costs]
    else:
        Mr = [M / reg for M in costs]
        f = [np.zeros(M.shape[0]) for M in costs]  # log row scalings
        g = [np.zeros(n_t) for _ in costs]  # log column scalings
    n_iter = 0
    for it in range(1, max_iter + 1):
        n_iter = it
        log_q = np.zeros((len(costs), n_classes))
        if safe:
            v = [(1.0 / n_t) / (K.T @ uk) for K, uk in zip(kernels, u, strict=True)]
            for k, ck in enumerate(codes):
                rows = u[k] * (kernels[k] @ v[k])
                log_q[k] = np.log(np.maximum(np.bincount(ck, rows, n_classes), 1e-300))
        else:
            row_lse = []
            for k, (Mk, ck) in enumerate(zip(Mr, codes, strict=True)):
                g[k] = log_b - logsumexp_inplace(f[k][:, None] - Mk, axis=0)
                row_lse.append(logsumexp_inplace(g[k][None, :] - Mk, axis=1))
                rows = np.exp(f[k] + row_lse[-1])
                log_q[k] = np.log(np.maximum(np.bincount(ck, rows, n_classes), 1e-300))
        # Geometric mean over the sources that have the class (a class missing from a
        # source domain says nothing about its target proportion).
        log_h = np.where(present, log_q, 0.0).sum(axis=0) / np.maximum(present.sum(0), 1)
        h_new = np.exp(log_h - log_h.max())
        h_new /= h_new.sum()
        for k, ck in enumerate(codes):
            row_target = h_new[ck] / counts[k][ck]
            if safe:
                u[k] = row_target / (kernels[k] @ v[k])
            else:
                f[k] = np.log(row_target) - row_lse[k]
        done = np.abs(h_new - h).sum() < tol
        h = h_new
        if done:
            break
    mass = np.zeros((n_t, n_classes))
    for k, ck in enumerate(codes):
        if safe:
            G = (u[k][:, None] * kernels[k]) * v[k][None, :]
        else:
            G = np.exp(f[k][:, None] - Mr[k] + g[k][None, :])
        Y = _one_hot(ck, n_classes)
        mass += (G.T @ Y) / len(codes)
    mass /= np.maximum(mass.sum(axis=1, keepdims=True), 1e-300)
    return h, mass, n_iter


@register_method(
    name="JCPOT",
    family="other",
    reference=_REF_JCPOT,
    grid={"reg": [0.02, 0.05, 0.1, 0.2]},
    designed_for=("target",),
    complexity=(
        "exact: O(sum_k n_k n_t (d + max_iter)) time, O(sum_k n_k n_t) memory; "
        "minibatch: O(K (n_s + n_t) B) memory"
    ),
    needs_estimator=False,
    multiclass=True,
    regression=False,
    skada_name="JCPOTLabelProp",
    # skada cannot normalise costs, so no setting matches shiftlab's default; these are
    # skada's own defaults (its max_iter is not forwarded by POT: 100 rounds are run).
    skada_params={"reg": 1.0, "max_iter": 100},
)
class JCPOT(_TargetModelMixin, BaseDAEstimator):
    """Joint class proportion and optimal transport (Redko et al., 2019).

    Multi-source target shift: the class-conditionals are shared, the class
    proportions differ between domains. JCPOT estimates the target proportions ``h``
    jointly with one entropic coupling per source domain: each coupling moves class
    ``c`` of its source (with total mass ``h_c``) onto the uniform target, and ``h`` is
    the Wasserstein barycenter of the sources' class distributions. Target samples are
    then labelled with the class that sends them the most mass (averaged over sources)
    and the base estimator is trained on them.

    Parameters
    ----------
    base_estimator : classifier or None, default=None
        Model trained on the pseudo-labelled target. ``None``: ``LogisticRegression()``
        (skada's default).
    reg : float, default=0.05
        Entropic regularisation of the couplings (on the cost divided by ``cost_norm``).
        Smaller values give sharper couplings and better proportion estimates but need
        more rounds.
    metric : {"sqeuclidean", "euclidean", "cosine", "cityblock"}, default="sqeuclidean"
        Ground metric.
    cost_norm : {"median", "mean", "max", None}, default="median"
        Division of each cost matrix (by the statistic of the first block's costs, so
        that all sources share one scale). ``None`` keeps raw costs (skada's choice);
        very small ``reg`` relative to the costs then runs in the log domain.
    max_iter : int, default=200
        Maximum number of Bregman projection rounds.
    tol : float, default=1e-6
        Stop when the L1 change of ``h`` falls below ``tol``.
    approx : {"auto", True, False}, default="auto"
        Minibatch OT: each target block is solved with one block of every source
        (proportions are averaged over blocks).
    max_exact_samples : int, default=2000
        Largest domain size solved in one piece under ``approx="auto"``.
    batch_size : int, default=1000
        Block size of minibatch OT.
    random_state : int, RandomState or None, default=None
        Seeds the minibatch partition.

    Attributes
    ----------
    proportions_ : ndarray of shape (n_classes,)
        Estimated target class proportions (in the order of ``classes_``).
    source_proportions_ : ndarray of shape (n_source_domains, n_classes)
        Class proportions of each source domain.
    estimator_, classes_, pseudo_labels_, label_distribution_
        As in :class:`OTLabelProp`.
    n_iter_ : int
        Bregman rounds run (the largest over blocks).
    approx_, n_blocks_, source_domains_, target_domains_
        As in :class:`OTLabelProp`. ``pooled_sources_`` is always False here: every
        source domain gets its own coupling.

    Notes
    -----
    Complexity: ``O(n_k n_t)`` memory per source domain ``k`` and ``O(sum_k n_k n_t)``
    time per round (two kernel products per source). Costs are normalised by default
    so that ``exp(-M / reg)`` cannot underflow; raw costs (``cost_norm=None``) switch to
    a log-domain solver when needed. skada 0.6 (through POT's ``JCPOTTransport``) uses
    raw costs with a plain kernel, which yields NaN plans on high-dimensional data, and
    labels targets with row-normalised couplings, which divides each class score by its
    estimated proportion; shiftlab labels with the couplings themselves, as in the paper.
    One source domain is allowed (then ``h`` is estimated from it alone).

    SKADA-Bench does not run JCPOT; the registered grid over ``reg`` is shiftlab's.

    References
    ----------
    .. [1] Redko, Courty, Flamary, Tuia. Optimal transport for multi-source domain
       adaptation under target shift. AISTATS 2019.
    """

    _parameter_constraints: dict = {
        **_OT_CONSTRAINTS,
        "reg": [POSITIVE],  # entropic couplings
        "max_iter": [at_least(1)],
        "tol": [NON_NEGATIVE],
    }

    def __init__(
        self,
        base_estimator=None,
        *,
        reg=0.05,
        metric="sqeuclidean",
        cost_norm="median",
        max_iter=200,
        tol=1e-6,
        approx="auto",
        max_exact_samples=2000,
        batch_size=1000,
        random_state=None,
    ):
        self.base_estimator = base_estimator
        self.reg = reg
        self.metric = metric
        self.cost_norm = cost_norm
        self.max_iter = max_iter
        self.tol = tol
        self.approx = approx
        self.max_exact_samples = max_exact_samples
        self.batch_size = batch_size
        self.random_state = random_state

    def _base(self):
        return LogisticRegression() if self.base_estimator is None else self.base_estimator

    def _fit(self, X, y, sample_domain):
        reg = _check_real("reg", self.reg, low=0.0)
        if reg <= 0:
            raise ValueError("reg must be > 0 (JCPOT's couplings are entropic).")
        _check_choice("metric", self.metric, _METRICS)
        _check_choice("cost_norm", self.cost_norm, _COST_NORMS)
        _check_int("max_iter", self.max_iter, 1)
        _check_real("tol", self.tol, low=0.0)
        _record_domains(self, sample_domain)
        self.pooled_sources_ = False
        src = sample_domain >= 0
        _require_classification(y[src], "JCPOT")
        self.classes_ = np.unique(y[src])
        n_classes = self.classes_.size
        Xt = X[~src]
        n_t = Xt.shape[0]
        sources = []
        for d in self.source_domains_:
            rows = sample_domain == d
            sources.append((X[rows], np.searchsorted(self.classes_, y[rows])))
        self.source_proportions_ = np.array(
            [np.bincount(c, minlength=n_classes) / c.size for _, c in sources]
        )
        rng = check_random_state(self.random_state)
        largest = max(max(Xk.shape[0] for Xk, _ in sources), n_t)
        self.approx_ = use_approx(self.approx, self.max_exact_samples, largest, n_t)
        bs = self.batch_size
        if self.approx_:
            k_t = max(1, math.ceil(n_t / bs))
            t_blocks = _stratified_blocks(n_t, k_t, rng)
            s_blocks = [
                _stratified_blocks(c.size, max(1, math.ceil(c.size / bs)), rng, c)
                for _, c in sources
            ]
            n_blocks = max([k_t] + [len(b) for b in s_blocks])
        else:
            t_blocks = [np.arange(n_t)]
            s_blocks = [[np.arange(c.size)] for _, c in sources]
            n_blocks = 1
        scale = None
        mass = np.zeros((n_t, n_classes))
        count = np.zeros(n_t)
        hs, n_iter = [], 0
        for b in range(n_blocks):
            T = t_blocks[b % len(t_blocks)]
            costs, codes = [], []
            for (Xk, ck), blocks_k in zip(sources, s_blocks, strict=True):
                S = blocks_k[b % len(blocks_k)]
                costs.append(cost_matrix(Xk[S], Xt[T], self.metric))
                codes.append(ck[S])
            if self.cost_norm is not None:
                if scale is None:
                    scale = float(_COST_STATS[self.cost_norm](np.concatenate(
                        [M.ravel() for M in costs]))) or 1.0
                costs = [M / scale for M in costs]
            h, m_b, it = _jcpot_block(costs, codes, n_classes, reg, self.max_iter, self.tol)
            hs.append(h)
            n_iter = max(n_iter, it)
            mass[T] += m_b
            count[T] += 1.0
        mass /= count[:, None]
        self.proportions_ = np.mean(hs, axis=0)
        self.n_iter_ = n_iter
        self.n_blocks_ = n_blocks
        self.label_distribution_ = mass
        self.pseudo_labels_ = self.classes_[np.argmax(mass, axis=1)]
        self.estimator_ = _fit_classifier(self._base(), Xt, self.pseudo_labels_)
