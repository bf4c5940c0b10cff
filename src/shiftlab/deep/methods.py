"""Deep unsupervised DA methods trained jointly on labelled source and unlabelled target.

Each method is ``source cross-entropy + reg x adaptation loss`` with the loss of
:mod:`shiftlab.deep.losses`; see :mod:`shiftlab.deep.estimator` for the training
parameters they share. Baselines: :class:`SourceOnly` and the :class:`TargetOnly`
oracle (the only class that reads target labels, through an explicitly named
argument, for evaluation).
"""

from __future__ import annotations

import numpy as np

from shiftlab.data.convention import is_masked
from shiftlab.deep._torch import require_torch
from shiftlab.deep.estimator import BaseDeepDA
from shiftlab.deep.losses import (
    DomainDiscriminator,
    RandomizedMultilinearMap,
    bnm_loss,
    cdd_loss,
    conditional_adversarial_loss,
    coral_loss,
    deepjdot_loss,
    domain_adversarial_loss,
    grl_coefficient,
    mcc_loss,
    mdd_loss,
    mmd_loss,
    reverse_gradient,
    spectral_alignment_loss,
)
from shiftlab.deep.registry import register_deep_method
from shiftlab.deep.training import Pool
from shiftlab.exceptions import DataValidationError

torch = require_torch()
nn = torch.nn
F = torch.nn.functional

__all__ = [
    "BNM",
    "CAN",
    "CDAN",
    "DAN",
    "DANN",
    "MCC",
    "MDD",
    "SPA",
    "DeepCORAL",
    "DeepJDOT",
    "SourceOnly",
    "TargetOnly",
]


# Grids shared by several methods' registrations.
_REG_WIDE = [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0]
_ADV_TRAINING = {"lr_scale": 0.1, "momentum": 0.9}


def _check_positive(name: str, value, *, allow_zero: bool = True) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}.")


# ------------------------------------------------------------------------ baselines
class _SupervisedBaseline(BaseDeepDA):
    """What the two supervised baselines share: no unlabelled rows, regression too."""

    _uses_unlabelled = False
    _supports_regression = True

    def __init__(self, **training):
        super().__init__(**training)


@register_deep_method(
    name="SourceOnly",
    family="baseline",
    setting="baseline",
    reference="Train Src: supervised training on the source domain only.",
    regression=True,
)
class SourceOnly(_SupervisedBaseline):
    """Train on labelled source rows only (the "Train Src" baseline).

    Target rows given to ``fit`` are not trained on (they are only used by
    ``early_stopping="target_entropy"`` for monitoring), so the result does not depend
    on them. Classification and regression.

    Parameters
    ----------
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`).
    """


@register_deep_method(
    name="TargetOnly",
    family="baseline",
    setting="oracle",
    reference=(
        "Train Tgt: supervised training on the target labels (upper bound, evaluation only)."
    ),
    regression=True,
)
class TargetOnly(_SupervisedBaseline):
    """Oracle baseline trained on the *target* labels ("Train Tgt"), for evaluation only.

    This is the single deep estimator that reads target labels. They are never taken
    from ``y`` (whose target entries are masked as for every method) but from the
    explicitly named ``oracle_target_labels`` argument, so an oracle cannot be built by
    accident. It gives the upper bound reported next to the DA methods; never use it
    for model selection.

    Parameters
    ----------
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`).
    """

    def fit(self, X, y=None, sample_domain=None, *, oracle_target_labels=None):
        """Train on target rows with their true labels.

        Parameters
        ----------
        X, y, sample_domain
            As for every method (``y``'s target entries are masked and ignored).
        oracle_target_labels : array-like
            True target labels: either aligned with ``X`` (only the target positions are
            read) or one per target row, in order.
        """
        if oracle_target_labels is None:
            raise DataValidationError(
                "TargetOnly is the oracle baseline and needs the true target labels as "
                "fit(..., oracle_target_labels=y_true). It is for evaluation only."
            )
        y, sample_domain, inputs = self._check_fit_inputs(X, y, sample_domain)
        tgt = np.flatnonzero(sample_domain < 0)
        oracle = np.asarray(oracle_target_labels)
        if oracle.shape[0] == sample_domain.shape[0]:
            oracle = oracle[tgt]
        elif oracle.shape[0] != tgt.shape[0]:
            raise DataValidationError(
                f"oracle_target_labels has {oracle.shape[0]} entries; give one per sample "
                f"({sample_domain.shape[0]}) or one per target row ({tgt.shape[0]})."
            )
        if is_masked(oracle).any():
            raise DataValidationError(
                "oracle_target_labels holds masked values (-1 / NaN): the oracle needs the "
                "true target labels (e.g. DomainDataset.pack(..., return_target_labels=True))."
            )
        y_t, n_out = self._encode_labels(oracle)
        labelled = Pool(tgt, sample_domain[tgt], y_t)
        return self._train(inputs, labelled, None, n_out)


# ----------------------------------------------------------- statistic alignment
@register_deep_method(
    name="DeepCORAL",
    family="statistic",
    setting="unsupervised",
    reference=(
        "B. Sun, K. Saenko. Deep CORAL: Correlation Alignment for Deep Domain Adaptation. "
        "ECCV Workshops 2016."
    ),
    grid={"reg": _REG_WIDE},
    cpu_grid={"reg": [0.01, 1.0, 100.0]},
    regression=True,
)
class DeepCORAL(BaseDeepDA):
    """Deep CORAL: align the second-order statistics of source and target features.

    Sun & Saenko, "Deep CORAL: Correlation Alignment for Deep Domain Adaptation",
    ECCV 2016 Workshops. Loss: ``CE + reg * ||C_s - C_t||_F^2 / (4 d^2)`` on the
    extractor's features (:func:`~shiftlab.deep.losses.coral_loss`).

    Parameters
    ----------
    reg : float, default=10.0
        Weight of the CORAL loss (SKADA-Bench grid: 1e-5 ... 1e3). The loss is divided
        by ``4 d^2`` and so is small for 64-d features; the paper sets the weight so
        that both losses are of similar size at the end of training, which 10 gives
        for the built-in backbones (1 barely adapts on the test shifts).
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`).
    """

    _supports_regression = True

    def __init__(self, reg=10.0, **training):
        super().__init__(**training)
        self.reg = reg

    def _check_method_params(self):
        _check_positive("reg", self.reg)

    def _adaptation_loss(self, step):
        loss = coral_loss(step.fs, step.ft)
        return self.reg * loss, {"coral": float(loss.detach())}


@register_deep_method(
    name="DAN",
    family="statistic",
    setting="unsupervised",
    reference=(
        "M. Long, Y. Cao, J. Wang, M. I. Jordan. Learning Transferable Features with Deep "
        "Adaptation Networks. ICML 2015."
    ),
    grid={"reg": _REG_WIDE},
    cpu_grid={"reg": [0.01, 1.0, 100.0]},
    regression=True,
)
class DAN(BaseDeepDA):
    """Deep Adaptation Network: multi-kernel MMD between source and target features.

    Long, Cao, Wang & Jordan, "Learning Transferable Features with Deep Adaptation
    Networks", ICML 2015. Loss: ``CE + reg * MK-MMD^2(fs, ft)`` with a family of
    ``n_kernels`` Gaussian kernels whose bandwidths are the mean squared pairwise
    distance times ``kernel_mul ** k`` (:func:`~shiftlab.deep.losses.mmd_loss`).

    Parameters
    ----------
    reg : float, default=1.0
        Weight of the MMD loss (SKADA-Bench grid: 1e-5 ... 1e3).
    kernel_mul : float, default=2.0
        Ratio between consecutive bandwidths.
    n_kernels : int, default=5
        Number of Gaussian kernels.
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`).
    """

    _supports_regression = True

    def __init__(self, reg=1.0, kernel_mul=2.0, n_kernels=5, **training):
        super().__init__(**training)
        self.reg = reg
        self.kernel_mul = kernel_mul
        self.n_kernels = n_kernels

    def _check_method_params(self):
        _check_positive("reg", self.reg)
        _check_positive("kernel_mul", self.kernel_mul, allow_zero=False)
        if int(self.n_kernels) < 1:
            raise ValueError(f"n_kernels must be >= 1, got {self.n_kernels}.")

    def _adaptation_loss(self, step):
        loss = mmd_loss(step.fs, step.ft, kernel_mul=self.kernel_mul, n_kernels=int(self.n_kernels))
        return self.reg * loss, {"mmd": float(loss.detach())}


# -------------------------------------------------------------------- adversarial
@register_deep_method(
    name="DANN",
    family="adversarial",
    setting="unsupervised",
    reference=(
        "Y. Ganin, E. Ustinova, H. Ajakan, P. Germain, H. Larochelle, F. Laviolette, M. "
        "Marchand, V. Lempitsky. Domain-Adversarial Training of Neural Networks. JMLR 17(59), "
        "2016."
    ),
    grid={"reg": [1e-3, 1e-2, 0.1, 1.0]},
    cpu_grid={"reg": [0.1, 1.0]},
    sgd_training=_ADV_TRAINING,
    regression=True,
)
class DANN(BaseDeepDA):
    """Domain-Adversarial Neural Network.

    Ganin et al., "Domain-Adversarial Training of Neural Networks", JMLR 2016. A
    domain discriminator (an MLP that outputs a logit, source = 1) learns to tell the
    domains apart from the features; a gradient reversal layer makes the feature
    extractor maximise the discriminator's loss, so the features become domain
    invariant. The reversal coefficient ramps from 0 to 1 over training
    (``2 / (1 + exp(-10 p)) - 1``). ``history_`` records ``domain_loss`` and
    ``domain_acc`` per epoch: a domain loss stuck at ``log 2`` with accuracy 0.5 from
    the start would mean a discriminator that does not learn.

    Parameters
    ----------
    reg : float, default=1.0
        Weight of the adversarial loss (SKADA-Bench grid: 1e-3, 1e-2, 0.1, 1; with SGD
        they use lr x 0.1 and momentum 0.9).
    disc_hidden : tuple of int, default=(256, 256)
        Hidden layers of the domain discriminator.
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`).
    """

    _supports_regression = True

    def __init__(self, reg=1.0, disc_hidden=(256, 256), **training):
        super().__init__(**training)
        self.reg = reg
        self.disc_hidden = disc_hidden

    def _check_method_params(self):
        _check_positive("reg", self.reg)

    def _build_modules(self, feature_dim, n_outputs):
        return {"discriminator": DomainDiscriminator(feature_dim, tuple(self.disc_hidden))}

    def _adaptation_loss(self, step):
        coeff = grl_coefficient(step.progress)
        loss, acc = domain_adversarial_loss(self.modules_["discriminator"], step.fs, step.ft, coeff)
        return self.reg * loss, {"domain_loss": float(loss.detach()), "domain_acc": float(acc)}


@register_deep_method(
    name="CDAN",
    family="adversarial",
    setting="unsupervised",
    reference=(
        "M. Long, Z. Cao, J. Wang, M. I. Jordan. Conditional Adversarial Domain Adaptation. "
        "NeurIPS 2018."
    ),
    grid={"reg": [1e-3, 1e-2, 0.1, 1.0], "entropy_conditioning": [False, True]},
    cpu_grid={"reg": [0.1, 1.0]},
    sgd_training=_ADV_TRAINING,
)
class CDAN(BaseDeepDA):
    """Conditional Domain Adversarial Network (CDAN, optionally CDAN+E).

    Long, Cao, Wang & Jordan, "Conditional Adversarial Domain Adaptation", NeurIPS
    2018. Like DANN, but the discriminator sees the multilinear map ``f ⊗ softmax(g)``
    of features and class predictions, which aligns the class-conditional
    distributions. When ``feature_dim * n_classes > max_map_dim`` a randomised
    multilinear map of size ``max_map_dim`` is used instead (paper, eq. 6).

    Parameters
    ----------
    reg : float, default=1.0
        Weight of the adversarial loss.
    entropy_conditioning : bool, default=False
        CDAN+E: weight samples by ``1 + exp(-entropy)`` of their prediction.
    disc_hidden : tuple of int, default=(256, 256)
        Hidden layers of the domain discriminator.
    max_map_dim : int, default=4096
        Largest exact multilinear map before switching to the randomised one.
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`).
    """

    def __init__(
        self,
        reg=1.0,
        entropy_conditioning=False,
        disc_hidden=(256, 256),
        max_map_dim=4096,
        **training,
    ):
        super().__init__(**training)
        self.reg = reg
        self.entropy_conditioning = entropy_conditioning
        self.disc_hidden = disc_hidden
        self.max_map_dim = max_map_dim

    def _check_method_params(self):
        _check_positive("reg", self.reg)

    def _build_modules(self, feature_dim, n_outputs):
        modules = {}
        in_dim = feature_dim * n_outputs
        if in_dim > int(self.max_map_dim):
            modules["mapper"] = RandomizedMultilinearMap(
                feature_dim, n_outputs, int(self.max_map_dim)
            )
            in_dim = int(self.max_map_dim)
        modules["discriminator"] = DomainDiscriminator(in_dim, tuple(self.disc_hidden))
        return modules

    def _adaptation_loss(self, step):
        coeff = grl_coefficient(step.progress)
        loss, acc = conditional_adversarial_loss(
            self.modules_["discriminator"],
            step.fs,
            step.ft,
            step.logits_s,
            step.logits_t,
            coeff,
            entropy_conditioning=bool(self.entropy_conditioning),
            mapper=self.modules_.get("mapper"),
        )
        return self.reg * loss, {"domain_loss": float(loss.detach()), "domain_acc": float(acc)}


@register_deep_method(
    name="MDD",
    family="adversarial",
    setting="unsupervised",
    reference=(
        "Y. Zhang, T. Liu, M. Long, M. I. Jordan. Bridging Theory and Algorithm for Domain "
        "Adaptation. ICML 2019."
    ),
    grid={"reg": [1e-3, 1e-2, 0.1], "gamma": [1.0, 3.0]},
    cpu_grid={"reg": [1e-2, 0.1], "gamma": [3.0]},
    sgd_training=_ADV_TRAINING,
)
class MDD(BaseDeepDA):
    """Margin Disparity Discrepancy.

    Zhang, Liu, Long & Jordan, "Bridging Theory and Algorithm for Domain
    Adaptation", ICML 2019. An auxiliary (adversarial) head ``f'`` on
    gradient-reversed features maximises the margin disparity with the main head —
    agree on source, disagree on target — and the features minimise it
    (:func:`~shiftlab.deep.losses.mdd_loss`); ``gamma`` is the margin factor.

    Parameters
    ----------
    reg : float, default=0.1
        Weight of the disparity loss (SKADA-Bench grid: 1e-3, 1e-2, 0.1; with SGD
        they use lr x 0.1 and momentum 0.9).
    gamma : float, default=3.0
        Margin (SKADA-Bench grid: 1, 3; the paper uses 2 to 4).
    adv_hidden : tuple of int, default=(64,)
        Hidden layers of the auxiliary head.
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`).
    """

    def __init__(self, reg=0.1, gamma=3.0, adv_hidden=(64,), **training):
        super().__init__(**training)
        self.reg = reg
        self.gamma = gamma
        self.adv_hidden = adv_hidden

    def _check_method_params(self):
        _check_positive("reg", self.reg)
        _check_positive("gamma", self.gamma, allow_zero=False)

    def _build_modules(self, feature_dim, n_outputs):
        layers, prev = [], feature_dim
        for h in self.adv_hidden:
            layers += [nn.Linear(prev, int(h)), nn.ReLU()]
            prev = int(h)
        layers.append(nn.Linear(prev, n_outputs))
        return {"adversarial_head": nn.Sequential(*layers)}

    def _adaptation_loss(self, step):
        coeff = grl_coefficient(step.progress)
        head = self.modules_["adversarial_head"]
        f = reverse_gradient(torch.cat([step.fs, step.ft]), coeff)
        adv = head(f)
        ns = step.fs.shape[0]
        loss = mdd_loss(step.logits_s, step.logits_t, adv[:ns], adv[ns:], gamma=float(self.gamma))
        return self.reg * loss, {"disparity": float(loss.detach())}


# ---------------------------------------------------------- optimal transport
@register_deep_method(
    name="DeepJDOT",
    family="optimal_transport",
    setting="unsupervised",
    reference=(
        "B. B. Damodaran, B. Kellenberger, R. Flamary, D. Tuia, N. Courty. DeepJDOT: Deep "
        "Joint Distribution Optimal Transport for Unsupervised Domain Adaptation. ECCV 2018."
    ),
    grid={"reg_cl": [1e-4, 1e-3, 1e-2], "reg_dist": [1e-4, 1e-3, 1e-2]},
    cpu_grid={"reg_cl": [1e-3, 1e-2], "reg_dist": [1e-3, 1e-2]},
    regression=True,
)
class DeepJDOT(BaseDeepDA):
    """Deep Joint Distribution Optimal Transport.

    Damodaran, Kellenberger, Flamary, Tuia & Courty, "DeepJDOT: Deep Joint
    distribution optimal transport for unsupervised domain adaptation", ECCV 2018.
    At each step an exact OT plan couples the source and target samples of the batch
    under the joint cost ``reg_dist * ||f_s - f_t||^2 + reg_cl * L(y_s, h(f_t))``;
    minimising the transported cost aligns the features and transfers the source
    labels to their matched target samples (:func:`~shiftlab.deep.losses.deepjdot_loss`).

    Parameters
    ----------
    reg_dist : float, default=0.01
        Weight of the feature distance (the paper's alpha; SKADA-Bench grid 1e-4 ...
        1e-2 for 2-D CNN features of larger scale).
    reg_cl : float, default=0.01
        Weight of the label-transfer loss (the paper's lambda_t; same grid).
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`).
    """

    _supports_regression = True

    def __init__(self, reg_dist=0.01, reg_cl=0.01, **training):
        super().__init__(**training)
        self.reg_dist = reg_dist
        self.reg_cl = reg_cl

    def _check_method_params(self):
        _check_positive("reg_dist", self.reg_dist)
        _check_positive("reg_cl", self.reg_cl)

    def _adaptation_loss(self, step):
        regression = self.label_kind_ == "regression"
        out_t = step.logits_t.squeeze(1) if regression else step.logits_t
        loss, _ = deepjdot_loss(
            step.fs,
            step.ft,
            step.ys,
            out_t,
            reg_dist=float(self.reg_dist),
            reg_cl=float(self.reg_cl),
            regression=regression,
        )
        return loss, {"ot_cost": float(loss.detach())}


# ------------------------------------------------------------ prediction-based
@register_deep_method(
    name="MCC",
    family="prediction",
    setting="unsupervised",
    reference=(
        "Y. Jin, X. Wang, M. Long, J. Wang. Minimum Class Confusion for Versatile Domain "
        "Adaptation. ECCV 2020."
    ),
    grid={"reg": [0.01, 0.1, 1.0], "temperature": [1.0, 2.0, 3.0]},
    cpu_grid={"reg": [0.1, 1.0], "temperature": [2.0]},
)
class MCC(BaseDeepDA):
    """Minimum Class Confusion.

    Jin, Wang, Long & Wang, "Minimum Class Confusion for Versatile Domain
    Adaptation", ECCV 2020. Penalises the (uncertainty-weighted) correlation between
    the predictions of different classes on target batches
    (:func:`~shiftlab.deep.losses.mcc_loss`).

    Parameters
    ----------
    reg : float, default=1.0
        Weight of the MCC loss (SKADA-Bench grid: 0.01, 0.1, 1).
    temperature : float, default=2.5
        Probability temperature (SKADA-Bench grid: 1, 2, 3; the paper uses 2.5).
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`).
    """

    def __init__(self, reg=1.0, temperature=2.5, **training):
        super().__init__(**training)
        self.reg = reg
        self.temperature = temperature

    def _check_method_params(self):
        _check_positive("reg", self.reg)
        _check_positive("temperature", self.temperature, allow_zero=False)

    def _adaptation_loss(self, step):
        loss = mcc_loss(step.logits_t, float(self.temperature))
        return self.reg * loss, {"mcc": float(loss.detach())}


@register_deep_method(
    name="BNM",
    family="prediction",
    setting="unsupervised",
    reference=(
        "S. Cui, S. Wang, J. Zhuo, L. Li, Q. Huang, Q. Tian. Towards Discriminability and "
        "Diversity: Batch Nuclear-norm Maximization under Label Insufficient Situations. CVPR "
        "2020."
    ),
    grid={"reg": [0.1, 0.5, 1.0]},
    cpu_grid={"reg": [0.1, 1.0]},
)
class BNM(BaseDeepDA):
    """Batch Nuclear-norm Maximisation on target predictions.

    Cui, Wang, Zhuo, Li, Huang & Tian, "Towards Discriminability and Diversity: Batch
    Nuclear-norm Maximization under Label Insufficient Situations", CVPR 2020. Loss:
    ``CE - reg * ||softmax(logits_t)||_* / batch`` (:func:`~shiftlab.deep.losses.bnm_loss`).

    Parameters
    ----------
    reg : float, default=1.0
        Weight of the BNM loss (the paper uses 1 for UDA).
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`).
    """

    def __init__(self, reg=1.0, **training):
        super().__init__(**training)
        self.reg = reg

    def _check_method_params(self):
        _check_positive("reg", self.reg)

    def _adaptation_loss(self, step):
        loss = bnm_loss(torch.softmax(step.logits_t, dim=1))
        return self.reg * loss, {"bnm": float(loss.detach())}


# ----------------------------------------------------------------- class-aware
@register_deep_method(
    name="CAN",
    family="class_aware",
    setting="unsupervised",
    reference=(
        "G. Kang, L. Jiang, Y. Yang, A. G. Hauptmann. Contrastive Adaptation Network for "
        "Unsupervised Domain Adaptation. CVPR 2019."
    ),
    grid={
        "reg": [0.3],
        "distance_threshold": [5e-3, 5e-2, 0.5],
        "class_threshold": [1, 3, 5],
    },
    cpu_grid={"reg": [0.3], "distance_threshold": [5e-2, 0.5], "class_threshold": [3]},
    sgd_training=_ADV_TRAINING,
)
class CAN(BaseDeepDA):
    """Contrastive Adaptation Network.

    Kang, Jiang, Yang & Hauptmann, "Contrastive Adaptation Network for Unsupervised
    Domain Adaptation", CVPR 2019. At the start of every epoch the target features are
    clustered by spherical k-means initialised at the source class centres; target
    samples farther than ``distance_threshold`` (cosine distance ``(1 - cos) / 2``) from
    their centre, and clusters with fewer than ``class_threshold`` samples, are left
    out. The contrastive domain discrepancy then pulls each source class towards its
    target cluster and pushes different classes apart
    (:func:`~shiftlab.deep.losses.cdd_loss`). Batches are domain-balanced rather than
    class-aware (a simplification of the paper's class-aware sampling).

    Parameters
    ----------
    reg : float, default=0.3
        Weight of the CDD loss (SKADA-Bench: 0.3).
    distance_threshold : float, default=0.05
        SKADA-Bench grid: 5e-3, 5e-2, 0.5.
    class_threshold : int, default=3
        SKADA-Bench grid: 1, 3, 5.
    n_kmeans_iter : int, default=10
        Spherical k-means iterations per epoch.
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`).
    """

    def __init__(
        self, reg=0.3, distance_threshold=0.05, class_threshold=3, n_kmeans_iter=10, **training
    ):
        super().__init__(**training)
        self.reg = reg
        self.distance_threshold = distance_threshold
        self.class_threshold = class_threshold
        self.n_kmeans_iter = n_kmeans_iter

    def _check_method_params(self):
        _check_positive("reg", self.reg)
        _check_positive("distance_threshold", self.distance_threshold)

    def _on_epoch_start(self, state):
        fs, _ = state.embed("labelled")
        ft, _ = state.embed("unlabelled")
        ys = state.trainer.train_pools["labelled"].y.to(fs.device)
        k = self.n_outputs_
        zs, zt = F.normalize(fs, dim=1), F.normalize(ft, dim=1)
        onehot = F.one_hot(ys, k).to(zs.dtype)
        centres = F.normalize(onehot.T @ zs, dim=1)  # source class centres
        labels = torch.zeros(zt.shape[0], dtype=torch.long, device=zt.device)
        for _ in range(int(self.n_kmeans_iter)):
            labels = (zt @ centres.T).argmax(dim=1)
            assigned = F.one_hot(labels, k).to(zt.dtype)
            counts = assigned.sum(0, keepdim=True).T
            new = F.normalize(assigned.T @ zt, dim=1)
            # Empty clusters keep their previous centre.
            centres = torch.where(counts > 0, new, centres)
        dist = 0.5 * (1.0 - (zt * centres[labels]).sum(dim=1))
        labels = torch.where(dist <= float(self.distance_threshold), labels, -1)
        counts = torch.bincount(labels[labels >= 0], minlength=k)
        small = counts < int(self.class_threshold)
        labels = torch.where((labels >= 0) & ~small[labels.clamp_min(0)], labels, -1)
        self._pseudo_labels = labels

    def _on_train_end(self, state):
        self.target_pseudo_labels_ = self._pseudo_labels.cpu().numpy()
        del self._pseudo_labels

    def _adaptation_loss(self, step):
        yt = self._pseudo_labels[torch.as_tensor(step.pos_t, device=step.ft.device)]
        loss = cdd_loss(step.fs, step.ys, step.ft, yt, self.n_outputs_)
        kept = float((yt >= 0).float().mean())
        return self.reg * loss, {"cdd": float(loss.detach()), "kept_fraction": kept}


@register_deep_method(
    name="SPA",
    family="graph",
    setting="unsupervised",
    reference=(
        "Z. Xiao, H. Wang, Y. Jin, L. Feng, G. Chen, F. Huang, J. Zhao. SPA: A Graph Spectral "
        "Alignment Perspective for Domain Adaptation. NeurIPS 2023."
    ),
    grid={"reg": [1e-3, 1e-2, 0.1, 1.0], "adv": [1.0], "gsa": [1.0], "nap": [0.0]},
    cpu_grid={"reg": [0.1, 1.0]},
    sgd_training=_ADV_TRAINING,
)
class SPA(BaseDeepDA):
    """Graph SPectral Alignment.

    Xiao, Zhang, Wang et al., "SPA: A Graph Spectral Alignment Perspective for
    Domain Adaptation", NeurIPS 2023. Three terms, weighted by ``reg``:
    ``adv`` x the DANN adversarial loss, ``gsa`` x the distance between the Laplacian
    spectra of the source and target batch graphs
    (:func:`~shiftlab.deep.losses.spectral_alignment_loss`), and ``nap`` x a
    neighbour-aware propagation loss: each target sample gets the similarity-weighted
    mean prediction of its ``n_neighbors`` nearest neighbours in a memory bank of
    target features, and is trained towards that pseudo-label, weighted by its
    confidence.

    Parameters
    ----------
    reg : float, default=1.0
        Overall weight (SKADA-Bench grid: 1e-3, 1e-2, 0.1, 1).
    adv, gsa, nap : float, default=1.0, 1.0, 0.0
        Weights of the three terms (SKADA-Bench: adv = gsa = 1, nap = 0).
    n_neighbors : int, default=5
        Neighbours used by the propagation term.
    disc_hidden : tuple of int, default=(256, 256)
        Hidden layers of the domain discriminator.
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`).
    """

    def __init__(
        self, reg=1.0, adv=1.0, gsa=1.0, nap=0.0, n_neighbors=5, disc_hidden=(256, 256), **training
    ):
        super().__init__(**training)
        self.reg = reg
        self.adv = adv
        self.gsa = gsa
        self.nap = nap
        self.n_neighbors = n_neighbors
        self.disc_hidden = disc_hidden

    def _check_method_params(self):
        for name in ("reg", "adv", "gsa", "nap"):
            _check_positive(name, getattr(self, name))

    def _build_modules(self, feature_dim, n_outputs):
        return {"discriminator": DomainDiscriminator(feature_dim, tuple(self.disc_hidden))}

    def _on_epoch_start(self, state):
        if self.nap > 0 and state.epoch == 0:
            ft, out = state.embed("unlabelled")
            self._bank_feat = F.normalize(ft, dim=1)
            self._bank_prob = torch.softmax(out, dim=1)

    def _on_train_end(self, state):
        for name in ("_bank_feat", "_bank_prob"):
            if hasattr(self, name):
                delattr(self, name)

    def _nap_loss(self, step):
        pos = torch.as_tensor(step.pos_t, device=step.ft.device)
        z = F.normalize(step.ft.detach(), dim=1)
        p = torch.softmax(step.logits_t.detach(), dim=1)
        self._bank_feat[pos] = z  # refresh the bank with the current batch
        self._bank_prob[pos] = p
        sim = z @ self._bank_feat.T
        sim[torch.arange(pos.shape[0]), pos] = -2.0  # exclude the sample itself
        k = min(int(self.n_neighbors), sim.shape[1] - 1)
        w, idx = sim.topk(k, dim=1)
        w = w.clamp_min(0)
        soft = (w.unsqueeze(2) * self._bank_prob[idx]).sum(1)
        soft = soft / soft.sum(1, keepdim=True).clamp_min(1e-8)
        conf, pseudo = soft.max(dim=1)
        ce = F.cross_entropy(step.logits_t, pseudo, reduction="none")
        return (conf * ce).mean()

    def _adaptation_loss(self, step):
        logs = {}
        total = step.fs.sum() * 0.0
        if self.adv > 0:
            adv, acc = domain_adversarial_loss(
                self.modules_["discriminator"], step.fs, step.ft, grl_coefficient(step.progress)
            )
            total = total + self.adv * adv
            logs.update(domain_loss=float(adv.detach()), domain_acc=float(acc))
        if self.gsa > 0:
            gsa = spectral_alignment_loss(step.fs, step.ft)
            total = total + self.gsa * gsa
            logs["spectral"] = float(gsa.detach())
        if self.nap > 0:
            nap = self._nap_loss(step)
            total = total + self.nap * nap
            logs["nap"] = float(nap.detach())
        return self.reg * total, logs
