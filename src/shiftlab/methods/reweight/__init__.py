"""Reweighting methods: importance weights for the source samples.

Under covariate shift (``P(y | x)`` shared, ``P(x)`` changing) the target risk equals the
source risk weighted by the density ratio ``w(x) = p_t(x) / p_s(x)`` (Shimodaira, 2000).
Every adapter here estimates such weights for the source rows; a
:class:`~shiftlab.methods.base.DAPipeline` passes them to the final estimator as
``sample_weight``. :class:`MMDTarS` is the exception: it assumes target (label) shift and
weights whole classes (see also :mod:`shiftlab.methods.label_shift`).

Conventions shared by all the adapters of this module
------------------------------------------------------
* **Weights** of the source rows are rescaled to mean one (per source domain), so that
  reweighting does not change the final estimator's effective regularisation strength;
  target rows get weight 0 (the final estimator never sees them). The weights of the
  training rows are kept in ``sample_weight_``.
* **Multi-source data**: by default all source domains are pooled into one source
  (``multi_source="pooled"``); ``multi_source="per_domain"`` estimates one weighting per
  source domain against the (pooled) target, and each domain's fitted attributes are
  then in ``domain_states_[domain_id]``. ``source_pooling_`` records the mode used.
* **Scalability**: exact kernel methods cost ``O(n^2)`` memory or time. Adapters with
  an ``approx`` parameter switch to a low-rank (Nyström) or subsampled form when a
  domain has more than ``max_exact_samples`` rows (``approx="auto"``); ``approx=True`` /
  ``False`` forces either form. Blocked computations keep the memory of every exact
  pairwise reduction at ``O(block * n)`` (see :mod:`shiftlab.methods._kernels`).
* Target labels are masked before any adapter sees them (``prepare_fit``), so weights
  can never depend on them.
"""


# Implementation: _base (the adapter skeleton and weight checks), _density (DensityReweight,
# GaussianReweight, DiscriminatorReweight, NearestNeighborReweight) and _kernel (KLIEP, KMM,
# MMDTarS). Importing this package registers the seven methods; run folders pickled them
# as shiftlab.methods.reweight.<Class>, which stays importable.
# label_shift.py imports _normalize_weights from this module.
from shiftlab.methods.reweight._base import _normalize_weights as _normalize_weights
from shiftlab.methods.reweight._density import (
    DensityReweight,
    DiscriminatorReweight,
    GaussianReweight,
    NearestNeighborReweight,
)
from shiftlab.methods.reweight._kernel import KLIEP, KMM, MMDTarS

__all__ = [
    "KLIEP",
    "KMM",
    "DensityReweight",
    "DiscriminatorReweight",
    "GaussianReweight",
    "MMDTarS",
    "NearestNeighborReweight",
]
