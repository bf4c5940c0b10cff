"""Constants the scorers share.

A module without imports on purpose: a scorer that reads one of them depends on this
file alone (:mod:`shiftlab.bench.code_deps` follows a constant to its whole module),
so its version does not move with the records and fitting code that ``_helpers``
imports.
"""

_EPS = 1e-15
NAN = float("nan")
