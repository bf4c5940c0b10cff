"""Domain-aware cross-validation splitters.

Every splitter follows scikit-learn's splitter protocol with an extra ``sample_domain``
argument: ``split(X, y=None, sample_domain=None)`` yields ``(train, test)`` index arrays and
``get_n_splits(...)`` tells how many. ``sample_domain`` follows
:mod:`shiftlab.data.convention` (source ``>= 0``, target ``< 0``) and is inferred from the
masked labels when omitted.

* :class:`StratifiedDomainShuffleSplit` keeps the proportion of every (domain, class)
  group in both parts. Target rows whose labels are masked form one group per target
  domain, so the *inner* splits of the realistic protocol, which only ever see masked
  target labels, cannot depend on the target classes; the *outer* split is drawn by the
  evaluator, who may stratify on the true target classes.
* :class:`SourceTargetShuffleSplit` shuffles source and target rows separately, so both
  parts hold the same fraction of each.
* :class:`LeaveOneDomainOut` makes each domain in turn the target of a multi-domain
  dataset, for arrays that hold every domain both as a source and as a target copy
  (see :func:`pack_all_domains`).

References
----------
.. [1] Lalou, Y., Gnassounou, T., Collas, A., et al. (2024). SKADA-Bench: Benchmarking
   unsupervised domain adaptation methods with realistic validation. arXiv:2407.11676.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from shiftlab.data.convention import (
    infer_sample_domain,
    is_masked,
    label_kind,
    mask_target_labels,
)
from shiftlab.exceptions import DataValidationError

__all__ = [
    "LeaveOneDomainOut",
    "SourceTargetShuffleSplit",
    "StratifiedDomainShuffleSplit",
    "check_domain_cv",
    "pack_all_domains",
]


def _check_fraction(test_size) -> float | int:
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise DataValidationError(
            f"test_size must be a float in (0, 1) or an int, got {test_size!r}."
        )
    if isinstance(test_size, numbers.Integral):
        if test_size < 1:
            raise DataValidationError(f"test_size={test_size} must be >= 1 when an int.")
        return int(test_size)
    if not 0.0 < float(test_size) < 1.0:
        raise DataValidationError(f"test_size={test_size} must lie in (0, 1) when a float.")
    return float(test_size)


def _shuffle_split_each(groups, test_size, rng):
    """One shuffle split applied to each group of indices: (sorted train, sorted test)."""
    train, test = [], []
    for idx in groups:
        perm = rng.permutation(idx)
        k = _n_test(idx.size, test_size)
        test.append(perm[:k])
        train.append(perm[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _n_test(n: int, test_size) -> int:
    """Number of test rows among ``n`` (a fraction is rounded up, as scikit-learn does)."""
    if isinstance(test_size, int):
        if test_size >= n:
            raise DataValidationError(
                f"test_size={test_size} leaves no training row among {n} samples."
            )
        return test_size
    return min(n - 1, max(1, math.ceil(test_size * n)))


def _domains(X, y, sample_domain) -> np.ndarray:
    n = len(X) if not hasattr(X, "shape") else X.shape[0]
    if sample_domain is None:
        if y is None:
            raise DataValidationError(
                "A domain-aware splitter needs sample_domain (or masked labels y to infer it)."
            )
        sample_domain = infer_sample_domain(y)
    sample_domain = np.asarray(sample_domain)
    if sample_domain.shape != (n,):
        raise DataValidationError(
            f"X has {n} rows but sample_domain has shape {sample_domain.shape}."
        )
    return sample_domain.astype(np.int64)


def _largest_remainder(counts: np.ndarray, total: int, fraction: float, rng) -> np.ndarray:
    """Split ``total`` into per-group integers close to ``fraction * counts``.

    Floors first, then hands the missing units to the groups with the largest remainders;
    ties are broken at random so that no group is favoured across splits.
    """
    exact = fraction * counts
    base = np.floor(exact).astype(np.int64)
    missing = total - int(base.sum())
    if missing > 0:
        remainder = exact - base
        # Random tie-break: sort by remainder, then by a random key.
        order = np.lexsort((rng.random(counts.size), -remainder))
        room = counts - base
        for g in order:
            if missing == 0:
                break
            if room[g] > 0:
                base[g] += 1
                missing -= 1
    return base


class _BaseShuffle:
    """Shared parameters and repr of the shuffle splitters."""

    def __init__(self, n_splits: int = 5, *, test_size=0.2, random_state=None):
        self.n_splits = n_splits
        self.test_size = test_size
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, sample_domain=None) -> int:
        """Number of splits (``n_splits``)."""
        return int(self.n_splits)

    def _check(self):
        if isinstance(self.n_splits, bool) or not isinstance(self.n_splits, numbers.Integral):
            raise DataValidationError(f"n_splits must be an int >= 1, got {self.n_splits!r}.")
        if self.n_splits < 1:
            raise DataValidationError(f"n_splits must be >= 1, got {self.n_splits}.")
        return _check_fraction(self.test_size)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_splits={self.n_splits}, test_size={self.test_size}, "
            f"random_state={self.random_state!r})"
        )


class StratifiedDomainShuffleSplit(_BaseShuffle):
    """Shuffle split stratified on (domain, class) groups.

    Each split puts about ``test_size`` of every group in the test part. Groups are the
    pairs (``sample_domain``, label) for classification and ``sample_domain`` alone for
    regression. Masked labels (target rows seen by a method) make one group per domain,
    so the split then depends on the target *domains* only, never on target classes;
    given unmasked labels (as the evaluator draws the outer split) target classes are
    stratified too.

    Parameters
    ----------
    n_splits : int, default=5
        Number of re-shuffled splits.
    test_size : float or int, default=0.2
        Fraction (rounded up) or number of rows in the test part.
    random_state : int, numpy Generator or None, default=None
        Seed of the shuffling.

    Examples
    --------
    >>> import numpy as np
    >>> from shiftlab.selection import StratifiedDomainShuffleSplit
    >>> y = np.array([0, 1] * 10 + [-1] * 10)
    >>> sd = np.array([1] * 20 + [-2] * 10)
    >>> cv = StratifiedDomainShuffleSplit(n_splits=2, test_size=0.2, random_state=0)
    >>> [len(test) for _, test in cv.split(np.zeros((30, 1)), y, sd)]
    [6, 6]
    """

    def split(self, X, y=None, sample_domain=None):
        """Yield ``(train, test)`` index arrays (see the class docstring)."""
        test_size = self._check()
        sample_domain = _domains(X, y, sample_domain)
        n = sample_domain.shape[0]
        if y is None:
            keys = sample_domain.astype(str)
        else:
            y = np.asarray(y)
            kind = label_kind(y)
            if kind == "regression":
                keys = sample_domain.astype(str)
            else:
                masked = is_masked(y, kind)
                labels = np.where(masked, "masked", y.astype(str))
                keys = np.char.add(np.char.add(sample_domain.astype(str), "|"), labels)
        groups, inverse = np.unique(keys, return_inverse=True)
        counts = np.bincount(inverse, minlength=groups.size)
        if counts.min() < 2:
            small = groups[counts < 2].tolist()
            raise DataValidationError(
                f"Group(s) (domain|class) {small} have a single sample; a stratified split "
                "needs at least 2 per group. Merge rare classes or use "
                "SourceTargetShuffleSplit."
            )
        n_test = _n_test(n, test_size)
        if n_test < groups.size or n - n_test < groups.size:
            raise DataValidationError(
                f"{n_test} test / {n - n_test} train rows cannot hold all {groups.size} "
                "(domain, class) groups; increase test_size or use fewer splits of larger data."
            )
        members = [np.flatnonzero(inverse == g) for g in range(groups.size)]
        rng = np.random.default_rng(self.random_state)
        for _ in range(self.n_splits):
            per_group = _largest_remainder(counts, n_test, n_test / n, rng)
            # Keep at least one training row per group.
            per_group = np.minimum(per_group, counts - 1)
            train, test = [], []
            for g, idx in enumerate(members):
                perm = rng.permutation(idx)
                test.append(perm[: per_group[g]])
                train.append(perm[per_group[g] :])
            yield np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


class SourceTargetShuffleSplit(_BaseShuffle):
    """Shuffle split drawn separately among source rows and among target rows.

    Both parts hold about ``test_size`` of the source rows and ``test_size`` of the target
    rows. Labels are ignored.

    Parameters
    ----------
    n_splits : int, default=5
    test_size : float or int, default=0.2
        Fraction (rounded up) or number of rows of *each* of source and target.
    random_state : int, numpy Generator or None, default=None
    """

    def split(self, X, y=None, sample_domain=None):
        """Yield ``(train, test)`` index arrays."""
        test_size = self._check()
        sample_domain = _domains(X, y, sample_domain)
        src = np.flatnonzero(sample_domain >= 0)
        tgt = np.flatnonzero(sample_domain < 0)
        if src.size < 2 or tgt.size < 2:
            raise DataValidationError(
                f"SourceTargetShuffleSplit needs at least 2 source and 2 target rows, got "
                f"{src.size} and {tgt.size}."
            )
        rng = np.random.default_rng(self.random_state)
        for _ in range(self.n_splits):
            yield _shuffle_split_each((src, tgt), test_size, rng)


class LeaveOneDomainOut:
    """Each domain in turn is the (unlabelled) target; the others are the sources.

    The arrays must hold every domain twice, as a source copy (id ``k > 0``) and as a
    target copy (id ``-k``), which is what :func:`pack_all_domains` builds (skada's
    convention for the same splitter). The split for held-out domain ``k`` uses the source
    copies of the other domains and the target copy of ``k``; both are shuffled into a
    train and a test part (``test_size`` of each), as in :class:`SourceTargetShuffleSplit`.
    Rows of the unused copies are in neither part.

    Parameters
    ----------
    max_n_splits : int or None, default=None
        Keep at most this many held-out domains (drawn at random); ``None`` keeps all.
    test_size : float or int, default=0.2
    random_state : int, numpy Generator or None, default=None
    """

    def __init__(self, max_n_splits: int | None = None, *, test_size=0.2, random_state=None):
        self.max_n_splits = max_n_splits
        self.test_size = test_size
        self.random_state = random_state

    def _held_out(self, sample_domain, rng) -> np.ndarray:
        ids = np.unique(np.abs(sample_domain))
        both = np.array(
            [d for d in ids if (sample_domain == d).any() and (sample_domain == -d).any()]
        )
        if both.size == 0:
            raise DataValidationError(
                "LeaveOneDomainOut needs every held-out domain both as a source copy (id k) "
                "and a target copy (id -k); build the arrays with "
                "shiftlab.selection.pack_all_domains(dataset)."
            )
        if self.max_n_splits is not None and both.size > self.max_n_splits:
            both = np.sort(rng.choice(both, size=int(self.max_n_splits), replace=False))
        return both

    def get_n_splits(self, X=None, y=None, sample_domain=None) -> int:
        """Number of held-out domains (needs ``sample_domain``)."""
        if sample_domain is None:
            raise DataValidationError("LeaveOneDomainOut.get_n_splits needs sample_domain.")
        sample_domain = np.asarray(sample_domain)
        ids = np.unique(np.abs(sample_domain))
        n = sum(bool((sample_domain == d).any() and (sample_domain == -d).any()) for d in ids)
        return n if self.max_n_splits is None else min(n, int(self.max_n_splits))

    def split(self, X, y=None, sample_domain=None):
        """Yield ``(train, test)`` index arrays, one split per held-out domain."""
        test_size = _check_fraction(self.test_size)
        sample_domain = _domains(X, y, sample_domain)
        rng = np.random.default_rng(self.random_state)
        for d in self._held_out(sample_domain, rng):
            src = np.flatnonzero((sample_domain > 0) & (sample_domain != d))
            tgt = np.flatnonzero(sample_domain == -d)
            if src.size < 2 or tgt.size < 2:
                raise DataValidationError(
                    f"Held-out domain {d}: need at least 2 source and 2 target rows."
                )
            yield _shuffle_split_each((src, tgt), test_size, rng)

    def __repr__(self) -> str:
        return (
            f"LeaveOneDomainOut(max_n_splits={self.max_n_splits}, test_size={self.test_size}, "
            f"random_state={self.random_state!r})"
        )


def pack_all_domains(dataset, *, mask_target: bool = True):
    """Stack every domain of a dataset twice: as a source copy and as a target copy.

    Domain *k* (0-based) appears with id ``k + 1`` (labelled) and with id ``-(k + 1)``
    (labels masked unless ``mask_target=False``). This is the input
    :class:`LeaveOneDomainOut` expects.

    Parameters
    ----------
    dataset : DomainDataset
    mask_target : bool, default=True
        Mask the labels of the target copies. Evaluators pass ``False`` and let the search
        mask them before any method sees them.

    Returns
    -------
    X, y, sample_domain : ndarray
    """
    Xs, ys, sds = [], [], []
    for sign in (1, -1):
        for name in dataset.domain_names:
            X, y = dataset[name]
            Xs.append(np.array(X))
            ys.append(np.array(y))
            sds.append(np.full(X.shape[0], sign * dataset.domain_id(name), dtype=np.int64))
    X, y, sd = np.concatenate(Xs), np.concatenate(ys), np.concatenate(sds)
    if mask_target:
        y = mask_target_labels(y, sd)
    return X, y, sd


def check_domain_cv(cv, *, default_splits: int = 5, test_size=0.2, random_state=None):
    """Turn ``cv`` into a splitter: an int means a :class:`StratifiedDomainShuffleSplit`.

    Objects with a ``split`` method are returned unchanged; an iterable of
    ``(train, test)`` pairs is returned as a list.
    """
    if cv is None:
        cv = default_splits
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        return StratifiedDomainShuffleSplit(
            int(cv), test_size=test_size, random_state=random_state
        )
    if hasattr(cv, "split") and not isinstance(cv, str):
        return cv
    try:
        if isinstance(cv, str):
            raise TypeError(cv)
        pairs = [(np.asarray(tr, dtype=np.int64), np.asarray(te, dtype=np.int64)) for tr, te in cv]
    except (TypeError, ValueError) as exc:
        raise DataValidationError(
            "cv must be an int, a splitter with split(X, y, sample_domain), or an iterable "
            "of (train, test) index pairs."
        ) from exc
    return pairs
