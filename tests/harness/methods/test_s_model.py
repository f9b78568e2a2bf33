"""S-model (noise adaptation layer) loss and its method-owned parameter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnlbench.errors import HarnessError
from methods_testlib import loss_of, make_method, np_softmax, random_case


def test_initial_channel_matrix():
    m = make_method("s-model", k=4)
    W = m.W.detach().double().numpy()
    assert W[0, 0] == pytest.approx(math.log(0.54), rel=1e-6)
    assert W[0, 1] == pytest.approx(math.log(0.46 / 3), rel=1e-6)
    np.testing.assert_allclose(m.noise_transition(), np.where(np.eye(4) > 0, 0.54, 0.46 / 3), atol=1e-6)
    assert m.extra_parameters() == [m.W] and m.W.requires_grad


@pytest.mark.parametrize("seed,beta", [(0, 0.0), (1, 0.3), (2, 1.0)])
def test_s_model_loss(seed, beta):
    k = 4
    z, y = random_case(seed, k=k)
    rng = np.random.default_rng(seed + 10)
    M = rng.uniform(0.1, 1.0, size=(k, k))
    m = make_method("s-model", k=k, beta=beta, init_matrix=M.tolist())
    Wsm = np_softmax(np.log(M / M.sum(1, keepdims=True) + 1e-8))  # softmax_rows(W)
    p = np_softmax(z)
    noisy = p @ Wsm
    rows = np.arange(len(y))
    expected = np.mean((1 - beta) * -np.log(noisy[rows, y]) + beta * -np.log(p[rows, y]))
    assert loss_of(m, z, y) == pytest.approx(expected, rel=1e-5)


def test_gradient_reaches_W():
    m = make_method("s-model", k=3)
    z, y = random_case(0, k=3)
    from methods_testlib import identity_net, make_batch

    m.training_step(make_batch(torch.tensor(z, dtype=torch.float32), y), [identity_net]).loss.backward()
    assert m.W.grad is not None and float(m.W.grad.abs().sum()) > 0


def test_bad_init_matrix():
    with pytest.raises(HarnessError, match="init_matrix"):
        make_method("s-model", k=3, init_matrix=[[1.0, 0.0], [0.0, 1.0]])
