"""Domain-aware splitters: stratification, disjointness, determinism, leave-one-domain-out."""

from __future__ import annotations

import numpy as np
import pytest

from shiftlab.data import DomainDataset, mask_target_labels
from shiftlab.exceptions import DataValidationError
from shiftlab.selection import (
    LeaveOneDomainOut,
    SourceTargetShuffleSplit,
    StratifiedDomainShuffleSplit,
    check_domain_cv,
    pack_all_domains,
)


def _arrays():
    # Source: 60 of class 0, 30 of class 1; target: 20 / 50; imbalanced on purpose.
    y = np.r_[np.zeros(60), np.ones(30), np.zeros(20), np.ones(50)].astype(int)
    sd = np.r_[np.ones(90), -2 * np.ones(70)].astype(int)
    X = np.arange(len(y), dtype=float)[:, None]
    return X, y, sd


def test_stratified_domain_split_keeps_every_domain_class_proportion():
    X, y, sd = _arrays()
    cv = StratifiedDomainShuffleSplit(n_splits=4, test_size=0.2, random_state=0)
    splits = list(cv.split(X, y, sd))
    assert len(splits) == cv.get_n_splits() == 4
    for train, test in splits:
        assert np.intersect1d(train, test).size == 0
        assert np.union1d(train, test).size == len(y)
        for d in (1, -2):
            for c in (0, 1):
                group = (sd == d) & (y == c)
                share = np.isin(np.flatnonzero(group), test).sum()
                assert abs(share - 0.2 * group.sum()) <= 1
    # Different splits, same seed -> same splits.
    assert not np.array_equal(splits[0][1], splits[1][1])
    again = list(StratifiedDomainShuffleSplit(4, test_size=0.2, random_state=0).split(X, y, sd))
    for (a, b), (c, d) in zip(splits, again, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_masked_targets_form_one_group_so_splits_ignore_target_classes():
    X, y, sd = _arrays()
    y_masked = mask_target_labels(y, sd)
    y_other = y.copy()
    rng = np.random.default_rng(0)
    y_other[sd < 0] = rng.permutation(y_other[sd < 0])
    cv = StratifiedDomainShuffleSplit(3, test_size=0.25, random_state=1)
    a = list(cv.split(X, y_masked, sd))
    b = list(cv.split(X, mask_target_labels(y_other, sd), sd))
    for (_, te1), (_, te2) in zip(a, b, strict=True):
        np.testing.assert_array_equal(te1, te2)
    for _, test in a:
        assert abs(np.isin(np.flatnonzero(sd < 0), test).sum() - 0.25 * 70) <= 1


def test_stratified_split_rejects_singleton_groups():
    X, y, sd = _arrays()
    y = y.copy()
    y[0] = 5  # a class with a single source sample
    with pytest.raises(DataValidationError, match="single sample"):
        list(StratifiedDomainShuffleSplit(2, random_state=0).split(X, y, sd))


def test_source_target_shuffle_split():
    X, y, sd = _arrays()
    cv = SourceTargetShuffleSplit(n_splits=3, test_size=0.2, random_state=0)
    for train, test in cv.split(X, None, sd):
        assert np.intersect1d(train, test).size == 0
        assert np.union1d(train, test).size == len(y)
        assert (sd[test] >= 0).sum() == 18 and (sd[test] < 0).sum() == 14


def test_leave_one_domain_out():
    rng = np.random.default_rng(0)
    ds = DomainDataset(
        {name: (rng.normal(size=(20, 2)), np.arange(20) % 2) for name in ("a", "b", "c")}
    )
    X, y, sd = pack_all_domains(ds)
    assert (y[sd < 0] == -1).all() and set(np.unique(sd)) == {-3, -2, -1, 1, 2, 3}
    cv = LeaveOneDomainOut(test_size=0.25, random_state=0)
    splits = list(cv.split(X, y, sd))
    assert len(splits) == cv.get_n_splits(X, y, sd) == 3
    held_out = []
    for train, test in splits:
        assert np.intersect1d(train, test).size == 0
        rows = np.r_[train, test]
        targets = np.unique(sd[rows][sd[rows] < 0])
        assert targets.size == 1
        d = -targets[0]
        held_out.append(d)
        # The held-out domain appears only as target; the others only as sources.
        assert not np.isin(sd[rows], [d]).any()
        assert set(np.unique(sd[rows][sd[rows] > 0])) == {1, 2, 3} - {d}
        assert (sd[test] < 0).sum() == 5 and (sd[test] > 0).sum() == 10
    assert sorted(held_out) == [1, 2, 3]
    assert LeaveOneDomainOut(max_n_splits=2).get_n_splits(X, y, sd) == 2


def test_leave_one_domain_out_needs_both_copies():
    X, y, sd = _arrays()
    with pytest.raises(DataValidationError, match="pack_all_domains"):
        list(LeaveOneDomainOut().split(X, y, sd))


def test_check_domain_cv():
    assert isinstance(check_domain_cv(3), StratifiedDomainShuffleSplit)
    pairs = check_domain_cv([([0, 1], [2])])
    assert isinstance(pairs, list) and pairs[0][1].tolist() == [2]
    with pytest.raises(DataValidationError):
        check_domain_cv("bad")
