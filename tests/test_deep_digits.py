"""Real data: on MNIST<->USPS (JDA 16x16 digits) an adaptation method beats source-only
with the small CNN, on both directions (small subsets and few epochs, so CPU-fast)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import shiftlab.deep as deep  # noqa: E402
from _deep_task import torch_single_thread  # noqa: E402,F401

pytestmark = [pytest.mark.deep, pytest.mark.data]

N_PER_DOMAIN = 400
TRAINING = {
    "backbone": "cnn",
    "optimizer": "adam",
    "lr": 1e-3,
    "batch_size": 64,
    "n_epochs": 5,
    "random_state": 0,
    "device": "cpu",
}




@pytest.fixture(scope="module")
def digits(shared_data_home):
    loaders = pytest.importorskip("shiftlab.data.loaders")
    return loaders.load_dataset("mnist_usps", data_home=shared_data_home, download=False)


@pytest.mark.parametrize("source, target", [("mnist", "usps"), ("usps", "mnist")])
def test_deepjdot_beats_source_only_on_digits(digits, source, target):
    (Xs, ys), (Xt, yt) = digits[source], digits[target]
    rng = np.random.default_rng(0)
    i = rng.permutation(len(ys))[:N_PER_DOMAIN]
    j = rng.permutation(len(yt))[:N_PER_DOMAIN]
    X = np.concatenate([Xs[i], Xt[j]])
    y = np.r_[ys[i], np.full(N_PER_DOMAIN, -1)]
    sd = np.r_[np.full(N_PER_DOMAIN, 1), np.full(N_PER_DOMAIN, -2)]
    accs = {}
    for name in ("SourceOnly", "DeepJDOT"):
        model = deep.make_deep_da(name, **TRAINING).fit(X, y, sd)
        assert isinstance(model.network_.extractor, deep.SmallCNN)
        accs[name] = float(np.mean(model.predict(Xt[j]) == yt[j]))
    assert accs["DeepJDOT"] > accs["SourceOnly"] + 0.1, accs
