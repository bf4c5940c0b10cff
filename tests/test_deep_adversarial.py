"""The adversarial methods provably adapt: their domain classifier learns (its loss moves,
its output is not constant), its reversed gradient reaches the feature extractor, and
switching the adversarial term off changes the extractor and loses the adaptation.

REFERENCE §5: a default domain classifier with constant output makes DANN/CDAN silently
equivalent to source-only training; these tests would catch that."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import shiftlab.deep as deep  # noqa: E402
from _deep_task import make_shift_task, target_accuracy, torch_single_thread  # noqa: E402,F401
from shiftlab.deep import losses as L  # noqa: E402

pytestmark = pytest.mark.deep

FAST = {"n_epochs": 15, "batch_size": 64, "random_state": 0, "device": "cpu"}
DOMAIN_ADVERSARIAL = ["DANN", "CDAN", "SPA"]




@pytest.fixture(scope="module")
def task():
    return make_shift_task(seed=0)


@pytest.fixture(scope="module")
def fitted(task):
    X, y, sd, _ = task
    return {
        name: deep.make_deep_da(name, **FAST).fit(X, y, sd) for name in [*DOMAIN_ADVERSARIAL, "MDD"]
    }


def _map(model, f, logits):
    """What the discriminator of ``model`` sees: the features, or CDAN's multilinear map."""
    if not isinstance(model, deep.CDAN):
        return f
    g = torch.softmax(logits, dim=1).detach()
    mapper = model.modules_.get("mapper")
    return mapper(f, g) if mapper is not None else L.multilinear_map(f, g)


def _discriminator_input(model, X):
    with torch.no_grad():
        f, logits = model.network_(torch.as_tensor(X, dtype=torch.float32))
    return _map(model, f, logits)


@pytest.mark.parametrize("name", DOMAIN_ADVERSARIAL)
def test_domain_classifier_learns_and_its_loss_moves(name, fitted, task):
    X, *_ = task
    model = fitted[name]
    losses = np.array([h["domain_loss"] for h in model.history_])
    accs = np.array([h["domain_acc"] for h in model.history_])
    assert losses.max() - losses.min() > 0.05, losses
    # The classifier separates the domains better than chance at some point, i.e. it is
    # a real adversary (a constant output would sit at accuracy 0.5, loss log 2).
    assert accs.max() > 0.6, accs
    with torch.no_grad():
        out = model.modules_["discriminator"](_discriminator_input(model, X))
    assert float(out.std()) > 1e-2


@pytest.mark.parametrize("name", DOMAIN_ADVERSARIAL)
def test_reversed_domain_gradient_reaches_the_feature_extractor(name, fitted, task):
    X, _, sd, _ = task
    model = fitted[name]
    # Work on copies in training mode (batch statistics), as during fit.
    net = copy.deepcopy(model.network_).train()
    disc = copy.deepcopy(model.modules_["discriminator"])
    x = torch.as_tensor(np.concatenate([X[sd >= 0][:64], X[sd < 0][:64]]), dtype=torch.float32)
    labels = torch.cat([torch.ones(64), torch.zeros(64)])

    def extractor_grads(coeff=None):
        net.zero_grad()
        f, logits = net(x)
        if coeff is None:  # plain discriminator training, no reversal
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                disc(_map(model, f, logits)), labels
            )
        elif isinstance(model, deep.CDAN):
            loss, _ = L.conditional_adversarial_loss(
                disc,
                f[:64],
                f[64:],
                logits[:64],
                logits[64:],
                coeff,
                mapper=model.modules_.get("mapper"),
            )
        else:
            loss, _ = L.domain_adversarial_loss(disc, f[:64], f[64:], coeff)
        loss.backward()
        return [p.grad.clone() for p in net.extractor.parameters()]

    reversed_, halved, plain = extractor_grads(1.0), extractor_grads(0.5), extractor_grads()
    assert sum(float(g.abs().sum()) for g in reversed_) > 0
    for r, h, p in zip(reversed_, halved, plain, strict=True):
        # The extractor gets the discriminator's gradient with the opposite sign (it is
        # pushed to confuse the domain classifier), scaled by the reversal coefficient.
        assert torch.allclose(r, -p, atol=1e-5)
        assert torch.allclose(0.5 * r, h, atol=1e-6)


def test_mdd_adversarial_head_gradient_reaches_the_extractor(fitted, task):
    X, _, sd, _ = task
    model = fitted["MDD"]
    disparity = [h["disparity"] for h in model.history_]
    assert max(disparity) - min(disparity) > 0.05
    net = copy.deepcopy(model.network_).train()
    head = copy.deepcopy(model.modules_["adversarial_head"])
    x = torch.as_tensor(np.concatenate([X[sd >= 0][:32], X[sd < 0][:32]]), dtype=torch.float32)
    f, logits = net(x)
    adv = head(L.reverse_gradient(f, 1.0))
    L.mdd_loss(logits[:32], logits[32:], adv[:32], adv[32:]).backward()
    assert sum(float(p.grad.abs().sum()) for p in net.extractor.parameters()) > 0


@pytest.mark.parametrize("name", ["DANN", "CDAN"])
def test_switching_the_adversary_off_loses_the_adaptation(name, fitted, task):
    X, y, sd, y_true = task
    adapted = fitted[name]
    off = deep.make_deep_da(name, **FAST, reg=0.0).fit(X, y, sd)
    w_on = torch.cat([p.flatten() for p in adapted.network_.extractor.parameters()])
    w_off = torch.cat([p.flatten() for p in off.network_.extractor.parameters()])
    assert not torch.allclose(w_on, w_off)
    assert target_accuracy(adapted, X, sd, y_true) > target_accuracy(off, X, sd, y_true) + 0.03
