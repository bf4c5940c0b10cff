"""Subspace methods: every row, source and target, is projected into a learned subspace.

Five adapters, registered under their SKADA-Bench table names:

===========  ==========================  ==================================================
name         class                       idea
===========  ==========================  ==================================================
``JPCA``     :class:`PCAAdapter`         principal axes of the source (or of all rows)
``SA``       :class:`SubspaceAlignment`  align the source PCA basis onto the target's [1]_
``TCA``      :class:`TCA`                kernel components of large variance and small
                                         source/target MMD [2]_
``TJM``      :class:`TJM`                TCA + l2,1 instance reweighting of the source [3]_
``TSL``      :class:`TSL`                Fisher LDA regularised by a divergence between the
                                         projected domains [5]_
===========  ==========================  ==================================================

Scalability. TCA and TJM are kernel methods: the exact forms hold the ``n x n`` kernel
of the ``n = n_s + n_t`` training rows. Above ``max_exact_samples`` rows (or when
``approx=True``) they use a rank-``m`` feature map instead (Nyström [4]_ with
``n_landmarks`` landmarks, or random Fourier features), with which the generalized
eigenproblem shrinks to ``m x m``: ``O(n m^2)`` time and ``O(n m)`` memory, so 20,000 +
20,000 rows fit in a few hundred MB. The exact eigenproblems never form an inverse: the
right-hand side ``I + T T^T`` (identity plus the low-rank MMD matrix) is whitened in
closed form and only the ``k`` wanted eigenpairs are computed (block LOBPCG, or LAPACK's
subset drivers for small matrices). TSL's cost is dominated by its divergence term,
which is estimated on all rows (exact) or on a random subset of ``n_landmarks`` rows,
half source and half target (approximate).

Multi-source / multi-target data: every method pools all source domains into one source
and all target domains into one target (the fitted attribute ``multi_source_`` records
``"pooled"``); the projection learnt is shared by every domain.

References
----------
.. [1] Fernando, B., Habrard, A., Sebban, M. and Tuytelaars, T. (2013). Unsupervised
   visual domain adaptation using subspace alignment. ICCV, 2960-2967.
.. [2] Pan, S. J., Tsang, I. W., Kwok, J. T. and Yang, Q. (2011). Domain adaptation via
   transfer component analysis. IEEE Trans. Neural Networks 22(2), 199-210.
.. [3] Long, M., Wang, J., Ding, G., Sun, J. and Yu, P. S. (2014). Transfer joint
   matching for unsupervised domain adaptation. CVPR, 1410-1417.
.. [4] Williams, C. K. I. and Seeger, M. (2001). Using the Nyström method to speed up
   kernel machines. NeurIPS.
.. [5] Si, S., Tao, D. and Geng, B. (2010). Bregman divergence-based regularization for
   transfer subspace learning. IEEE Trans. Knowledge and Data Engineering 22(7),
   929-942.
.. [6] Long, M., Wang, J., Ding, G., Sun, J. and Yu, P. S. (2013). Transfer feature
   learning with joint distribution adaptation. ICCV, 2200-2207.
"""

# Implementation: _common (grid, rank rules, eigensolvers), _pca (JPCA, SA), _kernel (TCA,
# TJM) and _tsl (TSL). Importing this package registers the five methods; run folders
# pickled them as shiftlab.methods.subspace.<Class>, which stays importable.
from shiftlab.methods.subspace._common import N_COMPONENTS_GRID as N_COMPONENTS_GRID
from shiftlab.methods.subspace._kernel import TCA, TJM
from shiftlab.methods.subspace._pca import PCAAdapter, SubspaceAlignment
from shiftlab.methods.subspace._tsl import TSL

__all__ = ["PCAAdapter", "SubspaceAlignment", "TCA", "TJM", "TSL"]
