"""Domain-adaptation losses as plain functions of torch tensors, plus small modules.

Every method of :mod:`shiftlab.deep.methods` is "supervised loss on labelled source +
``reg`` x one of these". They are written from the papers (references in each
docstring) and unit-tested on their own in ``tests/test_deep_losses.py``.

Conventions: ``fs``/``ft`` are source/target features ``(batch, dim)``, ``logits_*``
are unnormalised class scores ``(batch, n_classes)``, ``probs`` are softmax outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from shiftlab.deep._torch import require_torch

torch = require_torch()
nn = torch.nn
F = torch.nn.functional

__all__ = [
    "DomainDiscriminator",
    "GradientReversal",
    "RandomizedMultilinearMap",
    "adami_loss",
    "bnm_loss",
    "cdd_loss",
    "class_balance_kl",
    "conditional_adversarial_loss",
    "coral_loss",
    "deepjdot_loss",
    "domain_adversarial_loss",
    "entropy",
    "grl_coefficient",
    "gaussian_kernel",
    "information_maximization_loss",
    "mcc_loss",
    "mdd_loss",
    "mmd_loss",
    "multilinear_map",
    "reverse_gradient",
    "spectral_alignment_loss",
    "tim_loss",
]

_EPS = 1e-8


# --------------------------------------------------------------------------- helpers
def entropy(probs, *, reduction: str = "mean"):
    """Shannon entropy (nats) of each row of ``probs``; mean over rows by default."""
    ent = -(probs * torch.log(probs.clamp_min(_EPS))).sum(dim=1)
    return ent.mean() if reduction == "mean" else ent


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.coeff * grad_output, None


def reverse_gradient(x, coeff: float = 1.0):
    """Identity in the forward pass; multiplies the gradient by ``-coeff`` backwards.

    The gradient reversal layer of Ganin & Lempitsky (2015): the layers after it
    minimise a loss that the layers before it maximise.
    """
    return _ReverseGrad.apply(x, float(coeff))


class GradientReversal(nn.Module):
    """Module form of :func:`reverse_gradient` (``coeff`` may be changed during training)."""

    def __init__(self, coeff: float = 1.0):
        super().__init__()
        self.coeff = float(coeff)

    def forward(self, x):
        return reverse_gradient(x, self.coeff)


def grl_coefficient(progress: float, gamma: float = 10.0) -> float:
    """Ramp ``2 / (1 + exp(-gamma p)) - 1`` from 0 to ~1 over training progress ``p``.

    Ganin et al. (2016, JMLR, eq. 14): the adversarial signal starts at zero, while the
    features are still noise, and grows to full strength.
    """
    return float(2.0 / (1.0 + math.exp(-gamma * float(progress))) - 1.0)


class DomainDiscriminator(nn.Module):
    """MLP that outputs one domain *logit* per sample (source = 1, target = 0).

    The output is a logit, used with ``binary_cross_entropy_with_logits``; it has no
    final sigmoid or normalisation that could saturate it to a constant, the defect
    that stops some adversarial implementations from ever adapting (REFERENCE §5).

    Parameters
    ----------
    in_features : int
        Size of the input (features, or the multilinear map for CDAN).
    hidden_sizes : sequence of int, default=(64,)
        Hidden layers, each ``Linear -> ReLU`` (DANN uses 1024-1024 on ResNet
        features; small features need much less).
    """

    def __init__(self, in_features: int, hidden_sizes: Sequence[int] = (64,)):
        super().__init__()
        layers: list[nn.Module] = []
        prev = int(in_features)
        for h in hidden_sizes:
            layers += [nn.Linear(prev, int(h)), nn.ReLU()]
            prev = int(h)
        layers.append(nn.Linear(prev, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).squeeze(1)


# ------------------------------------------------------------- moment / kernel losses
def coral_loss(fs, ft):
    """Deep CORAL: squared Frobenius distance of the feature covariances / (4 d^2).

    Sun & Saenko, "Deep CORAL: Correlation Alignment for Deep Domain Adaptation",
    ECCV Workshops 2016, eq. (1).
    """
    d = fs.shape[1]

    def cov(f):
        f = f - f.mean(dim=0, keepdim=True)
        return f.T @ f / max(f.shape[0] - 1, 1)

    return ((cov(fs) - cov(ft)) ** 2).sum() / (4.0 * d * d)


def gaussian_kernel(a, b, *, kernel_mul: float = 2.0, n_kernels: int = 5, bandwidth=None):
    """Sum of ``n_kernels`` Gaussian kernels on the rows of ``a`` and ``b``.

    Bandwidths are ``bandwidth * kernel_mul ** k`` for ``k`` centred on 0; the base
    ``bandwidth`` defaults to the mean squared distance over the pooled rows (detached,
    so the kernel scale is not a quantity the network can shrink to zero).
    Returns the ``(len(a) + len(b))`` square kernel matrix of the pooled rows.
    """
    x = torch.cat([a, b], dim=0)
    d2 = torch.cdist(x, x).pow(2)
    if bandwidth is None:
        n = x.shape[0]
        bandwidth = d2.detach().sum() / max(n * n - n, 1)
        bandwidth = bandwidth.clamp_min(_EPS)
    offsets = [kernel_mul ** (k - n_kernels // 2) for k in range(n_kernels)]
    return sum(torch.exp(-d2 / (bandwidth * o)) for o in offsets)


def mmd_loss(fs, ft, *, kernel_mul: float = 2.0, n_kernels: int = 5):
    """Multi-kernel MMD^2 (biased estimate) between source and target features.

    DAN: Long et al., "Learning Transferable Features with Deep Adaptation Networks",
    ICML 2015. The kernel is a fixed equal-weight family of Gaussians (the paper
    optimises the weights; equal weights are the common practical choice).
    """
    ns = fs.shape[0]
    k = gaussian_kernel(fs, ft, kernel_mul=kernel_mul, n_kernels=n_kernels)
    return k[:ns, :ns].mean() + k[ns:, ns:].mean() - 2 * k[:ns, ns:].mean()


# -------------------------------------------------------------------- adversarial
def domain_adversarial_loss(discriminator, fs, ft, coeff: float = 1.0):
    """DANN domain loss on gradient-reversed features; returns ``(loss, accuracy)``.

    Ganin et al., "Domain-Adversarial Training of Neural Networks", JMLR 2016. The
    discriminator minimises the binary cross-entropy (source 1, target 0); through the
    reversal layer the feature extractor maximises it, scaled by ``coeff``.
    """
    f = reverse_gradient(torch.cat([fs, ft], dim=0), coeff)
    logits = discriminator(f)
    labels = torch.cat([torch.ones(fs.shape[0]), torch.zeros(ft.shape[0])]).to(logits)
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    acc = ((logits.detach() > 0).float() == labels).float().mean()
    return loss, acc


def multilinear_map(f, g):
    """Flattened outer product ``f ⊗ g``: ``(batch, dim_f * dim_g)`` (CDAN's conditioning)."""
    return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(start_dim=1)


class RandomizedMultilinearMap(nn.Module):
    """Randomised multilinear map ``(f R_f) ⊙ (g R_g) / sqrt(out_dim)`` (CDAN, eq. 6).

    Used when ``dim_f * n_classes`` is too large for the exact outer product. The
    random matrices are fixed buffers drawn from the current torch generator.
    """

    def __init__(self, feature_dim: int, n_classes: int, out_dim: int = 1024):
        super().__init__()
        self.register_buffer("rf", torch.randn(feature_dim, out_dim))
        self.register_buffer("rg", torch.randn(n_classes, out_dim))
        self.out_dim = int(out_dim)

    def forward(self, f, g):
        return (f @ self.rf) * (g @ self.rg) / math.sqrt(self.out_dim)


def conditional_adversarial_loss(
    discriminator,
    fs,
    ft,
    logits_s,
    logits_t,
    coeff: float = 1.0,
    *,
    entropy_conditioning: bool = False,
    mapper=None,
):
    """CDAN loss: adversarial domain loss on the multilinear map of features and predictions.

    Long et al., "Conditional Adversarial Domain Adaptation", NeurIPS 2018. The class
    probabilities are detached (they condition the discriminator, they are not pushed by
    it). With ``entropy_conditioning`` (CDAN+E) samples are weighted by
    ``1 + exp(-H(g))`` so that confident, transferable samples count more.
    Returns ``(loss, accuracy)``.
    """
    f = torch.cat([fs, ft], dim=0)
    g = torch.softmax(torch.cat([logits_s, logits_t], dim=0), dim=1).detach()
    h = mapper(f, g) if mapper is not None else multilinear_map(f, g)
    logits = discriminator(reverse_gradient(h, coeff))
    labels = torch.cat([torch.ones(fs.shape[0]), torch.zeros(ft.shape[0])]).to(logits)
    if entropy_conditioning:
        w = 1.0 + torch.exp(-entropy(g, reduction="none"))
        ns = fs.shape[0]
        # Normalise within each domain so both domains keep equal total weight.
        w = torch.cat([w[:ns] / w[:ns].sum(), w[ns:] / w[ns:].sum()]) * (w.shape[0] / 2)
        loss = (w * F.binary_cross_entropy_with_logits(logits, labels, reduction="none")).mean()
    else:
        loss = F.binary_cross_entropy_with_logits(logits, labels)
    acc = ((logits.detach() > 0).float() == labels).float().mean()
    return loss, acc


def _log_one_minus_softmax(logits, index):
    """``log(1 - softmax(logits)[i, index[i]])``, computed stably with logsumexp."""
    masked = logits.scatter(1, index.unsqueeze(1), float("-inf"))
    return torch.logsumexp(masked, dim=1) - torch.logsumexp(logits, dim=1)


def mdd_loss(logits_s, logits_t, adv_logits_s, adv_logits_t, *, gamma: float = 3.0):
    """Margin disparity discrepancy term minimised by the adversarial head.

    Zhang et al., "Bridging Theory and Algorithm for Domain Adaptation", ICML 2019.
    ``adv_logits_*`` come from the auxiliary head ``f'`` applied to gradient-reversed
    features. The auxiliary head agrees with the main head's predictions on source
    (cross-entropy weighted by the margin ``gamma``) and disagrees on target
    (``-log(1 - softmax_f'(x_t)[h_f(x_t)])``); through the reversal the features
    minimise this disparity. Pseudo-labels from the main head are detached.
    """
    ys_hat = logits_s.detach().argmax(dim=1)
    yt_hat = logits_t.detach().argmax(dim=1)
    src = F.cross_entropy(adv_logits_s, ys_hat)
    tgt = -_log_one_minus_softmax(adv_logits_t, yt_hat).mean()
    return gamma * src + tgt


# -------------------------------------------------------------- optimal transport
def deepjdot_loss(fs, ft, ys, out_t, *, reg_dist: float, reg_cl: float, regression=False):
    """DeepJDOT alignment loss on one minibatch; returns ``(loss, transport_plan)``.

    Damodaran et al., "DeepJDOT: Deep Joint Distribution Optimal Transport for
    Unsupervised Domain Adaptation", ECCV 2018, eq. (5). The cost between source i
    and target j is ``reg_dist * ||fs_i - ft_j||^2 + reg_cl * L(ys_i, out_t_j)``;
    the exact OT plan for uniform weights is computed on the detached cost (POT's
    network simplex) and the loss is ``sum(plan * cost)``, differentiable in both the
    features and the target predictions.

    ``ys`` are integer classes (``L`` = cross-entropy) or, with ``regression=True``,
    real targets (``L`` = squared error).
    """
    import ot  # POT, a core dependency

    feat_cost = torch.cdist(fs, ft).pow(2)
    if regression:
        label_cost = (ys.reshape(-1, 1) - out_t.reshape(1, -1)).pow(2)
    else:
        log_p = torch.log_softmax(out_t, dim=1)  # (nt, K)
        label_cost = -log_p[:, ys].T  # (ns, nt): -log p_t[j, ys_i]
    cost = reg_dist * feat_cost + reg_cl * label_cost
    c = cost.detach().double().cpu().numpy()
    a = np.full(c.shape[0], 1.0 / c.shape[0])
    b = np.full(c.shape[1], 1.0 / c.shape[1])
    plan = torch.as_tensor(ot.emd(a, b, c), dtype=cost.dtype, device=cost.device)
    return (plan * cost).sum(), plan


# ---------------------------------------------------------- class-aware discrepancy
def cdd_loss(fs, ys, ft, yt, n_classes: int, *, kernel_mul: float = 2.0, n_kernels: int = 5):
    """Contrastive domain discrepancy (CAN), with pseudo-labels ``yt`` (-1 = unused).

    Kang et al., "Contrastive Adaptation Network for Unsupervised Domain Adaptation",
    CVPR 2019, eq. (6): the mean intra-class MMD^2 between source class c and target
    cluster c, minus the mean inter-class MMD^2 between source class c and target
    cluster c' != c, over classes present on both sides of the batch.
    Returns 0 when fewer than one class (intra) / two classes (inter) are present.
    """
    ns = fs.shape[0]
    k = gaussian_kernel(fs, ft, kernel_mul=kernel_mul, n_kernels=n_kernels)
    kss, ktt, kst = k[:ns, :ns], k[ns:, ns:], k[:ns, ns:]
    keep_t = yt >= 0
    s1 = F.one_hot(ys, n_classes).to(fs.dtype)  # (ns, C)
    t1 = F.one_hot(yt.clamp_min(0), n_classes).to(ft.dtype) * keep_t.unsqueeze(1)
    ns_c, nt_c = s1.sum(0), t1.sum(0)
    present = (ns_c > 0) & (nt_c > 0)
    if not bool(present.any()):
        return fs.sum() * 0.0
    s1 = s1 / ns_c.clamp_min(1)
    t1 = t1 / nt_c.clamp_min(1)
    mss = torch.diagonal(s1.T @ kss @ s1)  # within source class c
    mtt = torch.diagonal(t1.T @ ktt @ t1)  # within target cluster c'
    mst = s1.T @ kst @ t1  # between source class c and target cluster c'
    mmd = mss.unsqueeze(1) + mtt.unsqueeze(0) - 2 * mst  # (C, C)
    pmask = present.to(fs.dtype)
    pair = pmask.unsqueeze(1) * pmask.unsqueeze(0)
    eye = torch.eye(n_classes, dtype=fs.dtype, device=fs.device)
    intra = (torch.diagonal(mmd) * pmask).sum() / pmask.sum()
    n_inter = (pair * (1 - eye)).sum()
    inter = (mmd * pair * (1 - eye)).sum() / n_inter if n_inter > 0 else 0.0
    return intra - inter


# --------------------------------------------------------------- graph / spectral
def _normalized_laplacian(f):
    z = F.normalize(f, dim=1)
    adj = torch.relu(z @ z.T)  # non-negative cosine affinities
    adj = adj - torch.diag_embed(torch.diagonal(adj))  # no self-loops
    deg = adj.sum(1).clamp_min(_EPS)
    d = deg.rsqrt()
    return torch.eye(f.shape[0], dtype=f.dtype, device=f.device) - d.unsqueeze(1) * adj * d


def spectral_alignment_loss(fs, ft, n_eigs: int | None = None):
    """Graph spectral alignment: distance between the Laplacian spectra of the domains.

    Xiao et al., "SPA: A Graph Spectral Alignment Perspective for Domain Adaptation",
    NeurIPS 2023. Each batch is a graph with cosine affinities; the loss is the L2
    distance between the sorted eigenvalues of the two normalised Laplacians (the
    ``n_eigs`` smallest, all of them by default), which compares the domains' intra-
    domain structure rather than their raw features.
    """
    k = min(fs.shape[0], ft.shape[0]) if n_eigs is None else int(n_eigs)
    ev_s = torch.linalg.eigvalsh(_normalized_laplacian(fs))[:k]
    ev_t = torch.linalg.eigvalsh(_normalized_laplacian(ft))[:k]
    return torch.linalg.vector_norm(ev_s - ev_t)


# ----------------------------------------------------------- prediction-based losses
def mcc_loss(logits_t, temperature: float = 2.5):
    """Minimum class confusion on target predictions, in ``[0, 1)``.

    Jin et al., "Minimum Class Confusion for Versatile Domain Adaptation", ECCV 2020:
    temperature-scaled probabilities, samples weighted by ``1 + exp(-entropy)``
    (renormalised to sum to the batch size), a class-correlation matrix with
    row-normalised entries; the loss is the mean off-diagonal mass per class.
    """
    p = torch.softmax(logits_t / temperature, dim=1)
    n, k = p.shape
    w = 1.0 + torch.exp(-entropy(p, reduction="none").detach())
    w = n * w / w.sum()
    conf = (p * w.unsqueeze(1)).T @ p  # (K, K)
    conf = conf / conf.sum(dim=1, keepdim=True).clamp_min(_EPS)
    return (conf.sum() - torch.trace(conf)) / k


def bnm_loss(probs):
    """Batch nuclear-norm maximisation, as a loss: ``-||probs||_* / batch``.

    Cui et al., "Towards Discriminability and Diversity: Batch Nuclear-norm
    Maximization under Label Insufficient Situations", CVPR 2020. Maximising the nuclear
    norm of the batch prediction matrix makes predictions both confident and diverse.
    """
    return -torch.linalg.matrix_norm(probs, ord="nuc") / probs.shape[0]


def class_balance_kl(probs, prior=None):
    """``KL(prior || mean prediction)``; uniform ``prior`` by default."""
    mean = probs.mean(dim=0).clamp_min(_EPS)
    if prior is None:
        prior = torch.full_like(mean, 1.0 / mean.shape[0])
    return (prior * (torch.log(prior.clamp_min(_EPS)) - torch.log(mean))).sum()


def information_maximization_loss(probs, *, ent_weight: float = 1.0, div_weight: float = 1.0):
    """SHOT's information maximisation: ``ent_weight * H(Y|X) - div_weight * H(Y)``.

    Liang et al., "Do We Really Need to Access the Source Data? Source Hypothesis
    Transfer for Unsupervised Domain Adaptation", ICML 2020, eq. (2)-(3): confident
    individual predictions (low conditional entropy), diverse on average (high entropy
    of the mean prediction, which prevents collapse onto one class).
    """
    mean = probs.mean(dim=0)
    marginal = -(mean * torch.log(mean.clamp_min(_EPS))).sum()
    return ent_weight * entropy(probs) - div_weight * marginal


def adami_loss(probs, prior, *, kl_weight: float = 1.0):
    """Entropy minimisation with a class-ratio KL prior (AdaMI / source-free segmentation).

    Bateson, Kervadec, Dolz, Lombaert & Ben Ayed, "Source-free domain adaptation for
    image segmentation", Medical Image Analysis 2022 (MICCAI 2020 for the first form).
    ``sum_k v_k * mean_i(-p_ik log p_ik) + kl_weight * KL(prior || mean_i p_i)``, where
    the per-class weights ``v_k ∝ 1 / mean_i p_ik`` (normalised to sum to 1, detached)
    keep rare classes from being absorbed, and the KL term ties the predicted class
    ratios to the ``prior`` (known or estimated class proportions of the target).
    """
    mean = probs.mean(dim=0)
    v = (1.0 / mean.clamp_min(_EPS)).detach()
    v = v / v.sum()
    weighted_ent = (-(probs * torch.log(probs.clamp_min(_EPS))) * v).sum(dim=1).mean()
    return weighted_ent + kl_weight * class_balance_kl(probs, prior)


def tim_loss(
    logits_s,
    ys,
    logits_t,
    *,
    ce_weight: float = 0.1,
    marginal_weight: float = 1.0,
    conditional_weight: float = 0.1,
):
    """Transductive information maximisation: ``λ CE_s - α H(Y_t) + β H(Y_t | X_t)``.

    Boudiaf et al., "Information Maximization for Few-Shot Learning", NeurIPS 2020
    (TIM-GD, loss weights 0.1 / 1 / 0.1): cross-entropy on the labelled (support =
    source) samples, maximal marginal entropy and minimal conditional entropy of the
    unlabelled (query = target) predictions.
    """
    pt = torch.softmax(logits_t, dim=1)
    mean = pt.mean(dim=0)
    marginal = -(mean * torch.log(mean.clamp_min(_EPS))).sum()
    return (
        ce_weight * F.cross_entropy(logits_s, ys)
        - marginal_weight * marginal
        + conditional_weight * entropy(pt)
    )
