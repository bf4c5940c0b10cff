"""Deep domain adaptation on plain PyTorch (an optional extra).

Install with ``pip install 'shiftlab[deep]'`` (``torch==2.13.0`` first). Importing this
package without torch raises an ImportError that says so; the rest of shiftlab works
without torch.

Every estimator follows the scikit-learn contract and the domain array convention
(``fit(X, y, sample_domain)`` with masked target labels; ``predict``,
``predict_proba``, ``decision_function``, ``transform`` for features). Methods:

========================  ===============================================================
baselines                 :class:`SourceOnly`, :class:`TargetOnly` (oracle, evaluation only)
statistic alignment       :class:`DeepCORAL`, :class:`DAN`
adversarial               :class:`DANN`, :class:`CDAN`, :class:`MDD`
optimal transport         :class:`DeepJDOT`
prediction-based          :class:`MCC`, :class:`BNM`
class-aware / graph       :class:`CAN`, :class:`SPA`
source-free / test-time   :class:`SHOT`, :class:`EntropyKLPrior`, :class:`TENT`
transductive              :class:`TIM` (on a fixed feature extractor)
========================  ===============================================================

The catalogue (references, grids) is :func:`list_deep_methods`; each class registers
itself with :func:`register_deep_method`. A deep method's qualified name is
``deep:NAME`` (one namespace with the shallow methods). The deep benchmark presets are
the TOML files ``deep-cpu`` and ``deep-gpu`` (``shiftlab run deep-cpu``).
"""

from shiftlab.deep._torch import require_torch

require_torch()

# The imports below need torch, hence after the guard.
from shiftlab.deep.backbones import (  # noqa: E402
    MLP,
    DANetwork,
    MNISTConvNet,
    SmallCNN,
    make_backbone,
)
from shiftlab.deep.estimator import TRAINING_PARAMS, BaseDeepDA  # noqa: E402
from shiftlab.deep.methods import (  # noqa: E402
    BNM,
    CAN,
    CDAN,
    DAN,
    DANN,
    MCC,
    MDD,
    SPA,
    DeepCORAL,
    DeepJDOT,
    SourceOnly,
    TargetOnly,
)
from shiftlab.deep.registry import (  # noqa: E402
    DeepMethodSpec,
    get_deep_method,
    list_deep_methods,
    make_deep_da,
    register_deep_method,
)
from shiftlab.deep.source_free import SHOT, TENT, BaseSourceFree, EntropyKLPrior  # noqa: E402
from shiftlab.deep.transductive import TIM  # noqa: E402

__all__ = [
    "BNM",
    "CAN",
    "CDAN",
    "DAN",
    "DANN",
    "MCC",
    "MDD",
    "MLP",
    "SHOT",
    "SPA",
    "TENT",
    "TIM",
    "TRAINING_PARAMS",
    "BaseDeepDA",
    "BaseSourceFree",
    "DANetwork",
    "DeepCORAL",
    "DeepJDOT",
    "DeepMethodSpec",
    "EntropyKLPrior",
    "MNISTConvNet",
    "SmallCNN",
    "SourceOnly",
    "TargetOnly",
    "get_deep_method",
    "list_deep_methods",
    "make_backbone",
    "make_deep_da",
    "register_deep_method",
]
