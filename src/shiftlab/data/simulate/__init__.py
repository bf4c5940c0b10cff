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

# Implementation: _common (shift names, checks, seeding), _blobs (make_shifted_blobs),
# _gaussians (make_shifted_gaussians, make_multi_source, make_rotated_clusters) and
# _regression (make_shifted_regression). Importing this package registers the sim-* and
# gauss-* datasets, in that order.
from shiftlab.data.simulate._blobs import BLOBS_INVARIANT_DIRECTION, make_shifted_blobs
from shiftlab.data.simulate._common import SHIFT_KINDS
from shiftlab.data.simulate._gaussians import (
    make_multi_source,
    make_rotated_clusters,
    make_shifted_gaussians,
)
from shiftlab.data.simulate._regression import make_shifted_regression

__all__ = [
    "BLOBS_INVARIANT_DIRECTION",
    "SHIFT_KINDS",
    "make_multi_source",
    "make_rotated_clusters",
    "make_shifted_blobs",
    "make_shifted_gaussians",
    "make_shifted_regression",
]
