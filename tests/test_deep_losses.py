"""Unit tests of the deep DA losses: known values, invariances and gradient behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shiftlab.deep import losses as L  # noqa: E402

pytestmark = pytest.mark.deep


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _onehot_logits(labels, k, scale=20.0):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), k).float() * scale


# ----------------------------------------------------------------------- helpers
def test_entropy_extremes():
    k = 5
    assert float(L.entropy(torch.full((3, k), 1 / k))) == pytest.approx(math.log(k), rel=1e-6)
    assert float(L.entropy(torch.eye(k))) == pytest.approx(0.0, abs=1e-6)


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.randn(4, 3, requires_grad=True)
    out = L.reverse_gradient(x, 0.5)
    assert torch.equal(out, x)
    out.sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, -0.5))


def test_grl_coefficient_ramps_from_zero_to_one():
    values = [L.grl_coefficient(p) for p in np.linspace(0, 1, 11)]
    assert values[0] == 0.0
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    assert values[-1] == pytest.approx(1.0, abs=1e-4)


# ------------------------------------------------------------------------- CORAL
def test_coral_matches_the_formula_and_ignores_means():
    fs, ft = torch.randn(50, 4), 2.0 * torch.randn(60, 4) + 3.0
    cs = np.cov(fs.numpy(), rowvar=False)
    ct = np.cov(ft.numpy(), rowvar=False)
    expected = ((cs - ct) ** 2).sum() / (4 * 4**2)
    assert float(L.coral_loss(fs, ft)) == pytest.approx(expected, rel=1e-4)
    assert float(L.coral_loss(fs, fs + 10.0)) == pytest.approx(0.0, abs=1e-5)


# --------------------------------------------------------------------------- MMD
def test_mmd_is_zero_on_identical_batches_and_grows_with_the_shift():
    f = torch.randn(40, 3)
    assert float(L.mmd_loss(f, f)) == pytest.approx(0.0, abs=1e-6)
    shifts = [float(L.mmd_loss(f, torch.randn(40, 3) + s)) for s in (0.0, 1.0, 3.0)]
    assert shifts[0] < shifts[1] < shifts[2]
    a, b = torch.randn(30, 3), torch.randn(30, 3) + 1
    assert float(L.mmd_loss(a, b)) == pytest.approx(float(L.mmd_loss(b, a)), rel=1e-5)


# ------------------------------------------------------------------- adversarial
def test_domain_adversarial_loss_trains_the_discriminator_and_reverses_features():
    disc = L.DomainDiscriminator(2, (16,))
    fs, ft = torch.randn(64, 2) + 2, torch.randn(64, 2) - 2
    opt = torch.optim.Adam(disc.parameters(), lr=1e-2)
    first = None
    for _ in range(100):
        loss, acc = L.domain_adversarial_loss(disc, fs, ft, coeff=1.0)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first - 0.3 and float(acc) > 0.95
    # The feature gradient through the reversal is minus (coeff x) the plain gradient.
    f = torch.cat([fs, ft]).requires_grad_(True)
    loss, _ = L.domain_adversarial_loss(disc, f[:64], f[64:], coeff=0.5)
    (g_rev,) = torch.autograd.grad(loss, f)
    labels = torch.cat([torch.ones(64), torch.zeros(64)])
    plain = torch.nn.functional.binary_cross_entropy_with_logits(disc(f), labels)
    (g_plain,) = torch.autograd.grad(plain, f)
    assert torch.allclose(g_rev, -0.5 * g_plain, atol=1e-6)
    assert float(g_rev.abs().sum()) > 0


def test_discriminator_output_is_not_constant():
    disc = L.DomainDiscriminator(8)
    out = disc(torch.randn(32, 8))
    assert out.shape == (32,) and float(out.detach().std()) > 1e-4


def test_multilinear_maps():
    f, g = torch.randn(5, 3), torch.softmax(torch.randn(5, 4), 1)
    h = L.multilinear_map(f, g)
    assert h.shape == (5, 12)
    assert torch.allclose(h[2].reshape(4, 3), torch.outer(g[2], f[2]))
    r = L.RandomizedMultilinearMap(3, 4, out_dim=7)
    assert r(f, g).shape == (5, 7)


@pytest.mark.parametrize("entropy_conditioning", [False, True])
def test_conditional_adversarial_loss(entropy_conditioning):
    disc = L.DomainDiscriminator(12)
    fs = torch.randn(6, 3, requires_grad=True)
    ft = torch.randn(6, 3, requires_grad=True)
    loss, acc = L.conditional_adversarial_loss(
        disc,
        fs,
        ft,
        torch.randn(6, 4),
        torch.randn(6, 4),
        entropy_conditioning=entropy_conditioning,
    )
    loss.backward()
    assert 0 <= float(acc) <= 1 and float(loss.detach()) > 0
    assert float(fs.grad.abs().sum()) > 0 and float(ft.grad.abs().sum()) > 0


def test_mdd_loss_log_one_minus_softmax_and_direction():
    logits = torch.randn(6, 4)
    idx = torch.tensor([0, 1, 2, 3, 0, 1])
    naive = torch.log(1 - torch.softmax(logits, 1)[torch.arange(6), idx])
    assert torch.allclose(L._log_one_minus_softmax(logits, idx), naive, atol=1e-5)
    # An auxiliary head that agrees on source and disagrees on target has a low loss.
    main_s, main_t = _onehot_logits([0, 1, 2], 3), _onehot_logits([0, 1, 2], 3)
    agree = L.mdd_loss(main_s, main_t, main_s, main_t)
    disagree = L.mdd_loss(main_s, main_t, main_s, _onehot_logits([1, 2, 0], 3))
    assert float(disagree) < float(agree)


# ------------------------------------------------------------------------------ OT
def test_deepjdot_plan_is_the_optimal_assignment():
    from scipy.optimize import linear_sum_assignment

    fs, ft = torch.randn(8, 2), torch.randn(8, 2)
    ys = torch.randint(0, 3, (8,))
    loss, plan = L.deepjdot_loss(fs, ft, ys, torch.randn(8, 3), reg_dist=1.0, reg_cl=0.0)
    assert torch.allclose(plan.sum(1), torch.full((8,), 1 / 8), atol=1e-8)
    assert torch.allclose(plan.sum(0), torch.full((8,), 1 / 8), atol=1e-8)
    cost = torch.cdist(fs, ft).pow(2).numpy()
    r, c = linear_sum_assignment(cost)
    assert float(loss) == pytest.approx(cost[r, c].mean(), rel=1e-5)
    perm = torch.randperm(8)
    loss0, _ = L.deepjdot_loss(fs, fs[perm], ys, torch.randn(8, 3), reg_dist=1.0, reg_cl=0.0)
    assert float(loss0) == pytest.approx(0.0, abs=1e-6)


def test_deepjdot_label_term_and_regression():
    fs = torch.randn(6, 2)
    ys = torch.tensor([0, 1, 2, 0, 1, 2])
    good = _onehot_logits(ys.tolist(), 3)
    bad = _onehot_logits([1, 2, 0, 1, 2, 0], 3)
    lg, _ = L.deepjdot_loss(fs, fs, ys, good, reg_dist=1.0, reg_cl=1.0)
    lb, _ = L.deepjdot_loss(fs, fs, ys, bad, reg_dist=1.0, reg_cl=1.0)
    assert float(lg) < float(lb)
    yr = torch.randn(6)
    lr_, _ = L.deepjdot_loss(fs, fs, yr, yr.clone(), reg_dist=1.0, reg_cl=1.0, regression=True)
    assert float(lr_) == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- CAN
def test_cdd_is_lower_for_matching_clusters():
    centres = torch.tensor([[5.0, 0.0], [0.0, 5.0], [-5.0, 0.0]])
    ys = torch.arange(3).repeat_interleave(10)
    fs = centres[ys] + 0.3 * torch.randn(30, 2)
    ft = centres[ys] + 0.3 * torch.randn(30, 2)
    right = L.cdd_loss(fs, ys, ft, ys, 3)
    wrong = L.cdd_loss(fs, ys, ft, (ys + 1) % 3, 3)
    assert float(right) < 0 < float(wrong)
    # Unassigned target samples (-1) are ignored; none assigned gives 0.
    none = L.cdd_loss(fs, ys, ft, torch.full_like(ys, -1), 3)
    assert float(none) == 0.0


# ----------------------------------------------------------------------------- SPA
def test_spectral_alignment_invariances():
    f = torch.randn(20, 5)
    q, _ = torch.linalg.qr(torch.randn(5, 5))
    assert float(L.spectral_alignment_loss(f, f)) == pytest.approx(0.0, abs=1e-6)
    # Cosine graphs are invariant to rotations and to the order of the samples.
    rotated = (f @ q)[torch.randperm(20)]
    assert float(L.spectral_alignment_loss(f, rotated)) == pytest.approx(0.0, abs=1e-4)
    clustered = torch.randn(2, 5)[torch.arange(20) % 2] + 0.05 * torch.randn(20, 5)
    loss = L.spectral_alignment_loss(f.requires_grad_(True), clustered)
    loss.backward()
    assert float(loss.detach()) > 0.1 and torch.isfinite(f.grad).all()


# ---------------------------------------------------------------- prediction-based
def test_mcc_loss_values():
    k = 4
    confident = _onehot_logits(np.arange(8) % k, k, scale=50.0)
    assert float(L.mcc_loss(confident, temperature=1.0)) == pytest.approx(0.0, abs=1e-4)
    uniform = torch.zeros(8, k)
    assert float(L.mcc_loss(uniform, temperature=1.0)) == pytest.approx((k - 1) / k, rel=1e-5)


def test_bnm_prefers_confident_and_diverse_batches():
    k = 4
    diverse = torch.eye(k)
    collapsed = torch.zeros(k, k)
    collapsed[:, 0] = 1
    assert float(L.bnm_loss(diverse)) == pytest.approx(-1.0, rel=1e-5)
    assert float(L.bnm_loss(collapsed)) == pytest.approx(-math.sqrt(k) / k, rel=1e-5)
    uniform = torch.full((k, k), 1 / k)
    assert float(L.bnm_loss(uniform)) == pytest.approx(-1.0 / k, rel=1e-5)


def test_information_maximization_penalises_collapse():
    k = 3
    balanced = torch.eye(k).repeat(2, 1)
    collapsed = torch.zeros(6, k)
    collapsed[:, 0] = 1
    assert float(L.information_maximization_loss(balanced)) == pytest.approx(-math.log(k), rel=1e-5)
    assert float(L.information_maximization_loss(collapsed)) == pytest.approx(0.0, abs=1e-6)


def test_class_balance_kl_and_adami():
    prior = torch.tensor([0.5, 0.3, 0.2])
    probs = prior.repeat(4, 1)
    assert float(L.class_balance_kl(probs, prior)) == pytest.approx(0.0, abs=1e-6)
    assert float(L.class_balance_kl(torch.full((4, 3), 1 / 3))) == pytest.approx(0.0, abs=1e-6)
    # Confident predictions in the prior's proportions beat both uncertain and collapsed ones.
    labels = [0] * 5 + [1] * 3 + [2] * 2
    matched = torch.softmax(_onehot_logits(labels, 3), 1)
    collapsed = torch.softmax(_onehot_logits([0] * 10, 3), 1)
    uncertain = prior.repeat(10, 1)
    best = float(L.adami_loss(matched, prior))
    assert best < float(L.adami_loss(collapsed, prior))
    assert best < float(L.adami_loss(uncertain, prior))


def test_tim_loss_formula():
    ls, lt = torch.randn(5, 3), torch.randn(7, 3)
    ys = torch.tensor([0, 1, 2, 0, 1])
    pt = torch.softmax(lt, 1)
    mean = pt.mean(0)
    expected = (
        0.1 * torch.nn.functional.cross_entropy(ls, ys)
        + 1.0 * (mean * mean.log()).sum()
        - 0.1 * (pt * pt.log()).sum(1).mean()
    )
    assert float(L.tim_loss(ls, ys, lt)) == pytest.approx(float(expected), rel=1e-5)
