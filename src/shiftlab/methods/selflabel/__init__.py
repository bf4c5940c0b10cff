"""Self-labelling domain-adaptation methods (the "other" family).

These methods predict by themselves: they use the unlabelled target data while fitting
to build target (pseudo-)labels and train their base estimator on the target domain.

* :class:`JDOTClassifier` / :class:`JDOTRegressor` -- joint distribution optimal
  transport (Courty et al., 2017): alternate an OT plan between source ``(x, y)`` pairs
  and target ``(x, f(x))`` pairs, and a fit of ``f`` on the transported labels.
* :class:`OTLabelProp` -- optimal transport label propagation (Solomon et al., 2014;
  Redko et al., 2019): target labels from one OT plan, then a fit on the target.
* :class:`JCPOT` -- joint class proportion and optimal transport (Redko et al., 2019):
  multi-source target shift; estimates the target class proportions as a Wasserstein
  barycenter over the source domains, then propagates the labels.
* :class:`DASVM` -- domain adaptation SVM (Bruzzone & Marconcini, 2010): progressive
  pseudo-labelling of target samples inside the margin, binary and multiclass.

Scalability
-----------
Exact OT costs ``O(n_s n_t)`` memory and about cubic time (POT's network simplex takes
0.3 s of CPU at 1,000 x 1,000 points, 0.04 s at 500 x 500 and tens of seconds at
5,000 x 5,000). The OT methods therefore
switch to **minibatch OT** (Fatras et al., 2020) when a domain has more than
``max_exact_samples`` points (``approx="auto"``): both domains are split at random (the
source stratified by class) into blocks of at most ``batch_size`` points, one exact OT
problem is solved per (source block, target block) pair and the per-block plans are
stacked. The stacked plan is block-diagonal, so memory is ``O(batch_size * n)`` and time
linear in ``n``; at 20,000 + 20,000 points and ``batch_size=500`` the 40 cost blocks take
80 MB. ``approx=True`` / ``False`` force one path; ``approx_`` records the choice. On
shiftlab's simulated shifts, blocks of 500 cost less than one accuracy point against the
exact plan at 1,000 + 1,000 points.

Multi-source data
-----------------
:class:`JCPOT` keeps each source domain (each ``sample_domain >= 0`` id) apart, which
is the point of the method. The other methods pool all source domains into one source
and all target domains into one target; ``source_domains_`` lists the pooled ids and
``pooled_sources_`` is True when more than one was pooled.
"""


# Implementation: _common (checks, OT plans, minibatch blocks, target model), _jdot (JDOT),
# _label_prop (OTLabelProp, JCPOT) and _dasvm (DASVM). Importing this package registers
# the five methods; run folders pickled them as shiftlab.methods.selflabel.<Class>, which
# stays importable.
from shiftlab.methods.selflabel._dasvm import DASVM
from shiftlab.methods.selflabel._jdot import JDOTClassifier, JDOTRegressor
from shiftlab.methods.selflabel._label_prop import JCPOT, OTLabelProp

__all__ = ["DASVM", "JCPOT", "JDOTClassifier", "JDOTRegressor", "OTLabelProp"]
