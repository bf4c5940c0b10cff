"""Catalogue of the deep methods and the deep benchmark preset.

Like :mod:`shiftlab.methods.registry` for the shallow methods: each deep method has a
name, its class, its paper reference, the family it belongs to, SKADA-Bench's grid
(``grid``, the GPU-sized one) and a grid scaled to what a CPU can run (``cpu_grid``).
:func:`deep_preset` returns the deep benchmark definition as a plain dict, in the
layout of the TOML benchmark definitions (``benchmark``, ``protocol``, ``datasets``,
``methods``, ``scorers``, ``execution``) plus the per-dataset training settings.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from shiftlab.exceptions import unknown_name

__all__ = [
    "DeepMethodSpec",
    "deep_preset",
    "get_deep_method",
    "list_deep_methods",
    "make_deep_da",
]

Setting = Literal["baseline", "oracle", "unsupervised", "source_free", "test_time", "transductive"]


@dataclass(frozen=True)
class DeepMethodSpec:
    """Description of one deep method.

    Attributes
    ----------
    name : str
        Short name (benchmark files, reports).
    cls_name : str
        Name of the class in :mod:`shiftlab.deep` (see :attr:`cls`).
    family : str
        ``"baseline"``, ``"statistic"``, ``"adversarial"``, ``"optimal_transport"``,
        ``"prediction"`` (self-training / prediction-based), ``"class_aware"``,
        ``"graph"``, ``"source_free"``, ``"transductive"``.
    setting : str
        What the method sees: ``"unsupervised"`` (labelled source + unlabelled target
        jointly), ``"source_free"`` / ``"test_time"`` (a source model, then target X
        only), ``"transductive"`` (fixed features, source labels + target X),
        ``"baseline"`` (source only) or ``"oracle"`` (target labels: evaluation only).
    reference : str
    grid : dict
        SKADA-Bench's grid where it has one (the GPU preset), ``{param: [values]}``.
    cpu_grid : dict
        A subset of ``grid`` sized for a CPU run.
    sgd_training : dict
        Changes to a dataset's training settings for this method when that dataset trains
        with SGD: ``lr_scale`` multiplies the learning rate, other keys replace
        parameters (SKADA-Bench runs DANN, MDD, CAN and SPA with lr x 0.1 and momentum
        0.9 on top of its SGD recipes).
    regression : bool
        Whether the method accepts regression targets.
    """

    name: str
    cls_name: str
    family: str
    setting: Setting
    reference: str
    grid: dict[str, list[Any]] = field(default_factory=dict)
    cpu_grid: dict[str, list[Any]] = field(default_factory=dict)
    sgd_training: dict[str, Any] = field(default_factory=dict)
    regression: bool = False

    @property
    def cls(self) -> type:
        """The estimator class (imports torch)."""
        import shiftlab.deep as deep

        return getattr(deep, self.cls_name)


_REG_WIDE = [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0]
_ADV_TRAINING = {"lr_scale": 0.1, "momentum": 0.9}

_SPECS: tuple[DeepMethodSpec, ...] = (
    DeepMethodSpec(
        name="SourceOnly",
        cls_name="SourceOnly",
        family="baseline",
        setting="baseline",
        reference="Train Src: supervised training on the source domain only.",
        regression=True,
    ),
    DeepMethodSpec(
        name="TargetOnly",
        cls_name="TargetOnly",
        family="baseline",
        setting="oracle",
        reference=(
            "Train Tgt: supervised training on the target labels (upper bound, evaluation only)."
        ),
        regression=True,
    ),
    DeepMethodSpec(
        name="DeepCORAL",
        cls_name="DeepCORAL",
        family="statistic",
        setting="unsupervised",
        reference=(
            "B. Sun, K. Saenko. Deep CORAL: Correlation Alignment for Deep Domain Adaptation. "
            "ECCV Workshops 2016."
        ),
        grid={"reg": _REG_WIDE},
        cpu_grid={"reg": [0.01, 1.0, 100.0]},
        regression=True,
    ),
    DeepMethodSpec(
        name="DAN",
        cls_name="DAN",
        family="statistic",
        setting="unsupervised",
        reference=(
            "M. Long, Y. Cao, J. Wang, M. I. Jordan. Learning Transferable Features with Deep "
            "Adaptation Networks. ICML 2015."
        ),
        grid={"reg": _REG_WIDE},
        cpu_grid={"reg": [0.01, 1.0, 100.0]},
        regression=True,
    ),
    DeepMethodSpec(
        name="DANN",
        cls_name="DANN",
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
    ),
    DeepMethodSpec(
        name="CDAN",
        cls_name="CDAN",
        family="adversarial",
        setting="unsupervised",
        reference=(
            "M. Long, Z. Cao, J. Wang, M. I. Jordan. Conditional Adversarial Domain Adaptation. "
            "NeurIPS 2018."
        ),
        grid={"reg": [1e-3, 1e-2, 0.1, 1.0], "entropy_conditioning": [False, True]},
        cpu_grid={"reg": [0.1, 1.0]},
        sgd_training=_ADV_TRAINING,
    ),
    DeepMethodSpec(
        name="DeepJDOT",
        cls_name="DeepJDOT",
        family="optimal_transport",
        setting="unsupervised",
        reference=(
            "B. B. Damodaran, B. Kellenberger, R. Flamary, D. Tuia, N. Courty. DeepJDOT: Deep "
            "Joint Distribution Optimal Transport for Unsupervised Domain Adaptation. ECCV 2018."
        ),
        grid={"reg_cl": [1e-4, 1e-3, 1e-2], "reg_dist": [1e-4, 1e-3, 1e-2]},
        cpu_grid={"reg_cl": [1e-3, 1e-2], "reg_dist": [1e-3, 1e-2]},
        regression=True,
    ),
    DeepMethodSpec(
        name="MCC",
        cls_name="MCC",
        family="prediction",
        setting="unsupervised",
        reference=(
            "Y. Jin, X. Wang, M. Long, J. Wang. Minimum Class Confusion for Versatile Domain "
            "Adaptation. ECCV 2020."
        ),
        grid={"reg": [0.01, 0.1, 1.0], "temperature": [1.0, 2.0, 3.0]},
        cpu_grid={"reg": [0.1, 1.0], "temperature": [2.0]},
    ),
    DeepMethodSpec(
        name="MDD",
        cls_name="MDD",
        family="adversarial",
        setting="unsupervised",
        reference=(
            "Y. Zhang, T. Liu, M. Long, M. I. Jordan. Bridging Theory and Algorithm for Domain "
            "Adaptation. ICML 2019."
        ),
        grid={"reg": [1e-3, 1e-2, 0.1], "gamma": [1.0, 3.0]},
        cpu_grid={"reg": [1e-2, 0.1], "gamma": [3.0]},
        sgd_training=_ADV_TRAINING,
    ),
    DeepMethodSpec(
        name="CAN",
        cls_name="CAN",
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
    ),
    DeepMethodSpec(
        name="SPA",
        cls_name="SPA",
        family="graph",
        setting="unsupervised",
        reference=(
            "Z. Xiao, H. Wang, Y. Jin, L. Feng, G. Chen, F. Huang, J. Zhao. SPA: A Graph Spectral "
            "Alignment Perspective for Domain Adaptation. NeurIPS 2023."
        ),
        grid={"reg": [1e-3, 1e-2, 0.1, 1.0], "adv": [1.0], "gsa": [1.0], "nap": [0.0]},
        cpu_grid={"reg": [0.1, 1.0]},
        sgd_training=_ADV_TRAINING,
    ),
    DeepMethodSpec(
        name="BNM",
        cls_name="BNM",
        family="prediction",
        setting="unsupervised",
        reference=(
            "S. Cui, S. Wang, J. Zhuo, L. Li, Q. Huang, Q. Tian. Towards Discriminability and "
            "Diversity: Batch Nuclear-norm Maximization under Label Insufficient Situations. CVPR "
            "2020."
        ),
        grid={"reg": [0.1, 0.5, 1.0]},
        cpu_grid={"reg": [0.1, 1.0]},
    ),
    DeepMethodSpec(
        name="SHOT",
        cls_name="SHOT",
        family="source_free",
        setting="source_free",
        reference=(
            "J. Liang, D. Hu, J. Feng. Do We Really Need to Access the Source Data? Source "
            "Hypothesis Transfer for Unsupervised Domain Adaptation. ICML 2020."
        ),
        grid={"reg": [0.0, 0.1, 0.3]},
        cpu_grid={"reg": [0.1, 0.3]},
    ),
    DeepMethodSpec(
        name="EntropyKLPrior",
        cls_name="EntropyKLPrior",
        family="source_free",
        setting="source_free",
        reference=(
            "M. Bateson, H. Kervadec, J. Dolz, H. Lombaert, I. Ben Ayed. Source-free domain "
            "adaptation for image segmentation. Medical Image Analysis 82, 2022 (AdaMI "
            "formulation: entropy + class-ratio KL prior)."
        ),
        grid={"kl_weight": [0.1, 1.0, 10.0]},
        cpu_grid={"kl_weight": [1.0, 10.0]},
    ),
    DeepMethodSpec(
        name="TENT",
        cls_name="TENT",
        family="source_free",
        setting="test_time",
        reference=(
            "D. Wang, E. Shelhamer, S. Liu, B. Olshausen, T. Darrell. Tent: Fully Test-Time "
            "Adaptation by Entropy Minimization. ICLR 2021."
        ),
        grid={"n_epochs": [1, 3, 10]},
        cpu_grid={"n_epochs": [1, 3]},
    ),
    DeepMethodSpec(
        name="TIM",
        cls_name="TIM",
        family="transductive",
        setting="transductive",
        reference=(
            "M. Boudiaf, I. Ziko, J. Rony, J. Dolz, P. Piantanida, I. Ben Ayed. Information "
            "Maximization for Few-Shot Learning. NeurIPS 2020."
        ),
        grid={"conditional_weight": [0.1, 0.5, 1.0], "temperature": [10.0, 15.0, 20.0]},
        cpu_grid={"conditional_weight": [0.1, 1.0]},
    ),
)
_REGISTRY = {s.name: s for s in _SPECS}


def list_deep_methods(family: str | None = None) -> list[DeepMethodSpec]:
    """Every deep method (optionally of one family), in registry order."""
    return [s for s in _SPECS if family is None or s.family == family]


def get_deep_method(name: str) -> DeepMethodSpec:
    """Look a deep method up by name (case-insensitive), with a suggestion when unknown."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    lowered = {k.lower(): k for k in _REGISTRY}
    if name.lower() in lowered:
        return _REGISTRY[lowered[name.lower()]]
    raise unknown_name("deep method", name, _REGISTRY)


def make_deep_da(name: str, **params):
    """Instantiate a deep method by name, e.g. ``make_deep_da("DANN", reg=0.1)``."""
    return get_deep_method(name).cls(**params)


# ----------------------------------------------------------------------------- preset
# Training settings per dataset. GPU: SKADA-Bench's (MNIST/USPS: 2-conv CNN, SGD lr 0.1,
# momentum 0.6, batch 256, 10 epochs). CPU: the same recipe, fewer epochs and samples.
_TRAINING = {
    "gpu": {
        "mnist_usps": {
            "backbone": "cnn",
            "input_shape": [1, 16, 16],
            "feature_dim": 128,
            "optimizer": "sgd",
            "lr": 0.1,
            "momentum": 0.6,
            "batch_size": 128,
            "n_epochs": 10,
        },
        "office_caltech10_googlenet": {
            "backbone": "mlp",
            "hidden_sizes": [512],
            "feature_dim": 256,
            "optimizer": "adam",
            "lr": 1e-3,
            "batch_size": 64,
            "n_epochs": 30,
        },
    },
    "cpu": {
        "mnist_usps": {
            "backbone": "cnn",
            "input_shape": [1, 16, 16],
            "feature_dim": 64,
            "optimizer": "sgd",
            "lr": 0.1,
            "momentum": 0.6,
            "batch_size": 64,
            "n_epochs": 5,
        },
        "office_caltech10_googlenet": {
            "backbone": "mlp",
            "hidden_sizes": [256],
            "feature_dim": 128,
            "optimizer": "adam",
            "lr": 1e-3,
            "batch_size": 64,
            "n_epochs": 10,
        },
    },
}
_OFFICE_TASKS = [
    "amazon->webcam",
    "amazon->dslr",
    "webcam->amazon",
    "webcam->dslr",
    "dslr->amazon",
    "dslr->webcam",
]


def deep_preset(variant: str = "cpu") -> dict:
    """The deep benchmark definition as a plain dict (``variant``: ``"cpu"`` or ``"gpu"``).

    Datasets: MNIST->USPS and USPS->MNIST (the JDA 16x16 digits, small CNN) and the
    six Office-Caltech10 GoogLeNet-feature tasks (MLP on the 1024-d features).
    Protocol: SKADA-Bench's deep protocol (one outer split; the GPU variant keeps five
    inner splits, the CPU variant one). Methods: every registered deep method with its
    SKADA-Bench grid (``"gpu"``) or its CPU grid, and its ``sgd_training`` changes
    (applied on datasets whose ``training`` uses SGD). Each dataset entry carries the
    ``training`` parameters shared by every method on it.

    The benchmark presets ``deep-cpu`` and ``deep-gpu`` (``shiftlab run deep-cpu``) are
    this dict written as TOML (``src/shiftlab/bench/presets``; None values left out);
    ``tests/test_bench_deep.py`` keeps them equal, so change both together.

    The returned dict is a fresh copy; callers may modify it.
    """
    if variant not in ("cpu", "gpu"):
        raise ValueError(f"variant must be 'cpu' or 'gpu', got {variant!r}.")
    gpu = variant == "gpu"
    methods = {}
    for spec in _SPECS:
        entry: dict[str, Any] = {
            "class": f"shiftlab.deep.{spec.cls_name}",
            "setting": spec.setting,
            "grid": copy.deepcopy(spec.grid if gpu else spec.cpu_grid),
        }
        if spec.sgd_training:
            entry["sgd_training"] = dict(spec.sgd_training)
        methods[spec.name] = entry
    training = copy.deepcopy(_TRAINING[variant])
    return {
        "benchmark": {
            "name": f"deep-{variant}",
            "description": (
                "Deep DA: MNIST<->USPS (small CNN) and Office-Caltech10 GoogLeNet features "
                "(MLP), SKADA-Bench deep grids"
                + (" and training settings." if gpu else " scaled to a 2-core CPU.")
            ),
        },
        "protocol": {
            "outer_splits": 1,
            "outer_test_size": 0.2,
            "inner_splits": 5 if gpu else 1,
            "inner_val_size": 0.2,
            "seed": 0,
        },
        "datasets": [
            {
                "name": "mnist_usps",
                "tasks": ["mnist->usps", "usps->mnist"],
                "options": {"normalize": "none"},
                "max_samples_per_domain": None if gpu else 1000,
                "training": training["mnist_usps"],
            },
            {
                "name": "office_caltech10_googlenet",
                "tasks": list(_OFFICE_TASKS),
                "options": {"normalize": "l2"},
                "max_samples_per_domain": None,
                "training": training["office_caltech10_googlenet"],
            },
        ],
        "methods": methods,
        "scorers": {
            "names": ["SrcVal", "IW", "DEV", "PE", "SND", "MixVal", "BNM", "ClassAMI", "oracle"]
        },
        "execution": {
            "executor": "inprocess" if gpu else "local",
            "n_jobs": 1 if gpu else -1,
            "timeout": None if gpu else 600,
            "device": "cuda" if gpu else "cpu",
        },
    }
