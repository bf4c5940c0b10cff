"""A seeded, controlled shift for the deep DA tests (fast: 10 features, 4 classes).

Four Gaussian clusters; the target domain is the source distribution rotated by 90
degrees in a random plane and translated. A source-only network misclassifies part of
the target (accuracy about 0.88 for the seed used), while the target stays clustered,
which is what alignment, adversarial, OT and self-training methods exploit.
"""

from __future__ import annotations

import numpy as np
import pytest

from shiftlab.data.simulate import make_rotated_clusters


@pytest.fixture(autouse=True, scope="module")
def torch_single_thread():
    """One torch thread per test module: deterministic timings and no oversubscription
    of the 2-core CI machine. Modules opt in by importing this fixture."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_shift_task(seed=0, n=300, k=4, d=10, angle=90.0, shift=4.0, sep=4.0):
    """Return ``X, y_masked, sample_domain, y_true`` (source id 1, target id -2)."""
    xs, ys, xt, yt = make_rotated_clusters(seed, n, k, d, angle, shift, sep)
    X = np.concatenate([xs, xt])
    y_true = np.concatenate([ys, yt])
    sample_domain = np.r_[np.ones(n, dtype=np.int64), np.full(n, -2, dtype=np.int64)]
    y = np.where(sample_domain < 0, -1, y_true)
    return X, y, sample_domain, y_true


def target_accuracy(model, X, sample_domain, y_true) -> float:
    tgt = sample_domain < 0
    return float(np.mean(model.predict(X[tgt]) == y_true[tgt]))
