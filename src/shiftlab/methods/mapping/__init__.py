"""Mapping methods: move the source samples onto the target distribution.

Mapping adapters are designed for *conditional* shift (``P(x | y)`` changes): they learn
a map ``T`` with ``T(source) ~ target`` and train the final estimator on the mapped
source rows. Registered under SKADA-Bench's names:

============  =========================  ===============================================
name          class                      map
============  =========================  ===============================================
CORAL         :class:`CORAL`             whitening / re-colouring (Sun et al. 2016)
MapOT         :class:`OTMapping`         barycentric map of exact OT (Courty et al. 2017)
EntOT         :class:`EntropicOTMapping` barycentric map of entropic OT
ClassRegOT    :class:`ClassRegOTMapping` entropic OT with a class regulariser
LinOT         :class:`LinearOTMapping`   Gaussian (linear) OT map (Knott & Smith 1984)
MMD-LS        :class:`MMDLSMapping`      class-wise location-scale map minimising the MMD
                                         (Zhang et al. 2013)
============  =========================  ===============================================

Conventions shared by every adapter of this module
--------------------------------------------------
* **Only source rows move.** Target rows are returned unchanged, at fit and at
  transform time, so a fitted pipeline predicts on raw target rows (``transform`` with
  ``sample_domain=None`` treats every row as target: the identity).
* **In-sample vs out-of-sample.** ``fit_adapt`` / ``fit_transform`` return the in-sample
  map of the training rows (e.g. the barycentric OT map). ``transform`` maps new source
  rows (``sample_domain >= 0``) with a documented extension: the linear methods (CORAL,
  LinOT) apply their map; the OT methods and MMD-LS use the nearest-neighbour extension
  of Ferradans et al. (2014) / Perrot et al. (2016) ``x -> x + (T(x_i) - x_i)``, ``x_i``
  the nearest training source row. On the training rows themselves ``transform`` gives
  back the in-sample map (exactly, barring duplicated training rows).
* **Multi-source data.** By default every source domain is pooled into one source
  (``multi_source="pooled"``); ``multi_source="per_domain"`` fits one map per source
  domain towards the (pooled) target domains, and new rows are then mapped with the map
  of their own ``sample_domain``. The mode used is recorded in ``source_pooling_`` and
  each fit's attributes in ``domain_states_`` (keyed ``"pooled"`` or by domain id); in
  pooled mode they are also set on the adapter itself.
* **Scalability.** Exact discrete OT stores ``n_s x n_t`` matrices (``O(n^2)`` memory)
  and the network simplex takes roughly ``O(n^3)`` time. With ``approx="auto"`` the OT
  adapters switch to *minibatch OT* (Fatras et al. 2020) when a domain has more than
  ``max_exact_samples`` rows (default 3,000 for MapOT and ClassRegOT, whose exact
  solvers are the slowest, 5,000 for EntOT): both domains are randomly split into the
  same number of batches of about ``batch_size`` rows, OT is solved between paired
  batches with the same solver and one shared cost scale, and the barycentric maps are
  averaged over ``n_rounds`` random partitions. Memory is then ``O(batch_size^2)`` and
  time linear in ``n`` (20,000 + 20,000 rows fit in well under 2 GB). MMD-LS, whose
  parameters are per class, is fitted on a random subset of ``max_exact_samples``
  (5,000) rows per domain instead and applied to every row; its kernel sums are
  computed block by block anyway. ``approx=True`` / ``False`` force a form.
  CORAL and LinOT are ``O(n d^2 + d^3)`` and need no approximation.
* Target labels are masked before any adapter sees them (``prepare_fit``); the maps
  never depend on them.

References
----------
.. [1] Sun, B., Feng, J. and Saenko, K. (2016). Return of frustratingly easy domain
   adaptation. AAAI.
.. [2] Courty, N., Flamary, R., Tuia, D. and Rakotomamonjy, A. (2017). Optimal transport
   for domain adaptation. IEEE TPAMI 39(9), 1853-1865.
.. [3] Flamary, R., Lounici, K. and Ferrari, A. (2019). Concentration bounds for linear
   Monge mapping estimation and optimal transport domain adaptation. arXiv:1905.10155.
.. [4] Knott, M. and Smith, C. S. (1984). On the optimal mapping of distributions.
   J. Optimization Theory and Applications 43(1), 39-49.
.. [5] Zhang, K., Schölkopf, B., Muandet, K. and Wang, Z. (2013). Domain adaptation under
   target and conditional shift. ICML.
.. [6] Ferradans, S., Papadakis, N., Peyré, G. and Aujol, J.-F. (2014). Regularized
   discrete optimal transport. SIAM J. Imaging Sciences 7(3).
.. [7] Perrot, M., Courty, N., Flamary, R. and Habrard, A. (2016). Mapping estimation for
   discrete optimal transport. NeurIPS.
.. [8] Fatras, K., Zine, Y., Flamary, R., Gribonval, R. and Courty, N. (2020). Learning
   with minibatch Wasserstein: asymptotic and gradient properties. AISTATS.
"""


# Implementation: _common (dense linear algebra, _BaseMapping), _linear (CORAL, LinOT),
# _discrete (MapOT, EntOT, ClassRegOT) and _mmd (MMD-LS). Importing this package registers
# the six methods; run folders pickled them as shiftlab.methods.mapping.<Class>, which
# stays importable.
from shiftlab.methods.mapping._common import _BaseMapping as _BaseMapping
from shiftlab.methods.mapping._common import _dense_jobs as _dense_jobs
from shiftlab.methods.mapping._common import _side_by_side_workers as _side_by_side_workers
from shiftlab.methods.mapping._common import _sym_pow as _sym_pow
from shiftlab.methods.mapping._discrete import (
    ClassRegOTMapping,
    EntropicOTMapping,
    OTMapping,
)
from shiftlab.methods.mapping._linear import CORAL, LinearOTMapping
from shiftlab.methods.mapping._mmd import MMDLSMapping
from shiftlab.methods.mapping._mmd import _mmd_terms as _mmd_terms

__all__ = [
    "CORAL",
    "ClassRegOTMapping",
    "EntropicOTMapping",
    "LinearOTMapping",
    "MMDLSMapping",
    "OTMapping",
]
