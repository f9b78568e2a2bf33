"""ProSelfLC (g(t), l(p), loss), derivative manipulation (logit gradient) and co-teaching."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnlbench.harness.methods.coteaching import forget_rate
from cnlbench.harness.methods.proselflc import global_trust
from methods_testlib import identity_net, loss_of, make_batch, make_method, np_softmax, random_case


# -- ProSelfLC ---------------------------------------------------------------------------------
@pytest.mark.parametrize("step,total", [(0, 100), (30, 100), (99, 100), (500, 1000)])
def test_proselflc_global_trust(step, total):
    expected = 1 / (1 + math.exp(-6 * (step / total - 0.3)))
    assert global_trust(step, total, 6.0, 0.3) == pytest.approx(expected)
    assert global_trust(30, 100, 6.0, 0.3) == pytest.approx(0.5)


# loss and gradient of proselflc / proselflc-detached: test_reference_departures.py


# -- derivative manipulation ---------------------------------------------------------------------
@pytest.mark.parametrize("seed,k,beta,lam", [(0, 4, 12.0, 0.5), (1, 10, 6.0, 0.0), (2, 3, 15.0, 1.0), (3, 5, 9.0, 0.25)])
def test_derivative_manipulation_gradient(seed, k, beta, lam):
    z, y = random_case(seed, k=k)
    x = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    m = make_method("derivative-manipulation", k=k, beta=beta, lam=lam)
    m.training_step(make_batch(x, y), [identity_net]).loss.backward()
    p = np_softmax(z)
    p_y = p[np.arange(len(y)), y]
    w = np.exp(beta * (1 - p_y) * (p_y + 1e-8) ** lam)
    g = (w / w.sum())[:, None] * (p - np.eye(k)[y]) / (2 * (1 - p_y) + 1e-8)[:, None]
    np.testing.assert_allclose(x.grad.numpy(), g, rtol=1e-5, atol=1e-10)


# -- co-teaching --------------------------------------------------------------------------------
@pytest.mark.parametrize("tau,ramp", [(0.2, 10), (0.5, 3), (0.4, 1)])
def test_coteaching_forget_rate_ramp(tau, ramp):
    rates = [forget_rate(e, tau, ramp) for e in range(ramp + 3)]
    expected = list(np.linspace(0, tau, ramp)) + [tau] * 3
    np.testing.assert_allclose(rates, expected)


def test_coteaching_tau_defaults():
    assert make_method("coteaching", noise_level=0.4).tau == 0.4
    assert make_method("coteaching").tau == 0.2
    assert make_method("coteaching", noise_level=0.4, forget_rate=0.1).tau == 0.1
    assert make_method("coteaching", epochs=4).ramp_epochs == 4


@pytest.mark.parametrize("epoch", [0, 5, 12])
def test_coteaching_peer_selection_loss(epoch):
    b, k = 10, 4
    z0, y = random_case(1, b=b, k=k)
    z1, _ = random_case(2, b=b, k=k)
    m = make_method("coteaching", k=k, n=b, epochs=20, noise_level=0.4)
    nets = [lambda x: x[0], lambda x: x[1]]
    x = torch.tensor(np.stack([z0, z1]), dtype=torch.float32)
    out = m.training_step(make_batch(x, y, epoch=epoch), nets)
    ce0, ce1 = (-np.log(np_softmax(z)[np.arange(b), y]) for z in (z0, z1))
    rate = 0.4 * min(epoch, 9) / 9
    keep = int((1 - rate) * b)
    sel0, sel1 = np.argsort(ce0, kind="stable")[:keep], np.argsort(ce1, kind="stable")[:keep]
    expected = ce0[sel1].mean() + ce1[sel0].mean()  # each network on its PEER's selection, plain means
    assert float(out.loss) == pytest.approx(expected, rel=1e-5)
    dropped = np.ones(b)
    dropped[sel1] = 0
    np.testing.assert_array_equal(out.scores.numpy(), dropped)
    scores = m.noise_scores(None)
    if keep == b:
        assert scores is None  # nothing dropped yet: the engine uses the final loss
    else:
        np.testing.assert_array_equal(scores.numpy(), dropped)
