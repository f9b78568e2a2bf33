"""Single-network losses against numpy arithmetic written from ../shared/notes/methods.md."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.methods.label_smoothing import smoothed_targets
from methods_testlib import loss_of, make_method, np_softmax, random_case

CASES = [(0, 4), (1, 3), (2, 10), (3, 7)]  # (seed, K)


def _py(z, y):
    return np_softmax(z)[np.arange(len(y)), y]


@pytest.mark.parametrize("seed,k", CASES)
@pytest.mark.parametrize("name", ["ce", "ce-wd", "ce-dropout"])
def test_ce(name, seed, k):
    z, y = random_case(seed, k=k)
    assert loss_of(make_method(name, k=k), z, y) == pytest.approx(np.mean(-np.log(_py(z, y))), rel=1e-5)


def test_regularised_ce_baselines_ask_the_engine():
    assert make_method("ce-wd").engine_overrides == {"weight_decay": 5e-3}
    assert make_method("ce-dropout").engine_overrides == {"dropout": 0.5}
    assert make_method("ce").engine_overrides == {}


@pytest.mark.parametrize("seed,k", CASES)
@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_label_smoothing(seed, k, eps):
    z, y = random_case(seed, k=k)
    t = np.full((len(y), k), eps / k)
    t[np.arange(len(y)), y] += 1 - eps
    expected = np.mean(-(t * np.log(np_softmax(z))).sum(1))
    assert loss_of(make_method("label-smoothing", k=k, epsilon=eps), z, y) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("k", [3, 10, 100])
def test_label_smoothing_targets_sum_to_one(k):
    t = smoothed_targets(torch.arange(k) % k, k, 0.1).double().numpy()
    np.testing.assert_allclose(t.sum(1), 1.0, atol=1e-6)
    assert t[0, 0] == pytest.approx(0.9 + 0.1 / k)
    assert t[0, 1] == pytest.approx(0.1 / k)


@pytest.mark.parametrize("seed,k", CASES)
@pytest.mark.parametrize("beta", [0.125, 0.5])
def test_confidence_penalty(seed, k, beta):
    z, y = random_case(seed, k=k)
    p = np_softmax(z)
    h = -(p * np.log(p)).sum(1)
    expected = np.mean(-np.log(_py(z, y)) - beta * h)
    assert loss_of(make_method("confidence-penalty", k=k, beta=beta), z, y) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("seed,k", CASES)
def test_bootstrap_soft(seed, k):
    z, y = random_case(seed, k=k)
    p = np.clip(np_softmax(z), 1e-7, 1 - 1e-7)
    t = 0.95 * np.eye(k)[y] + 0.05 * p
    expected = np.mean(-(t * np.log(p)).sum(1))
    assert loss_of(make_method("bootstrap-soft", k=k), z, y) == pytest.approx(expected, rel=1e-5)


def test_bootstrap_soft_does_not_detach_p_in_target():
    """The reference keeps p in the target's graph: the gradient includes the entropy term."""
    z, y = random_case(5, k=4)
    logits = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    from methods_testlib import identity_net, make_batch

    make_method("bootstrap-soft", k=4).training_step(make_batch(logits, y), [identity_net]).loss.backward()
    ref = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    p = torch.softmax(ref, 1)
    t = 0.95 * torch.nn.functional.one_hot(torch.as_tensor(y), 4) + 0.05 * p  # not detached
    (-(t * torch.log(p)).sum(1).mean()).backward()
    np.testing.assert_allclose(logits.grad.numpy(), ref.grad.numpy(), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("seed,k", CASES)
def test_bootstrap_hard(seed, k):
    z, y = random_case(seed, k=k)
    p = np.clip(np_softmax(z), 1e-7, 1 - 1e-7)
    t = 0.8 * np.eye(k)[y] + 0.2 * np.eye(k)[p.argmax(1)]
    expected = np.mean(-(t * np.log(p)).sum(1))
    assert loss_of(make_method("bootstrap-hard", k=k), z, y) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("seed,k", CASES)
@pytest.mark.parametrize("q", [0.7, 1.0, 0.3])
def test_gce(seed, k, q):
    z, y = random_case(seed, k=k)
    expected = np.mean((1 - np.clip(_py(z, y), 1e-7, 1) ** q) / q)
    assert loss_of(make_method("gce", k=k, q=q), z, y) == pytest.approx(expected, rel=1e-5)


def test_gce_clamps_tiny_probabilities():
    z = np.array([[0.0, 200.0, 0.0]])  # p_0 underflows to 0 in float32
    assert loss_of(make_method("gce", k=3), z, np.array([0])) == pytest.approx((1 - 1e-7**0.7) / 0.7, rel=1e-6)


@pytest.mark.parametrize("seed,k", CASES)
def test_mae(seed, k):
    z, y = random_case(seed, k=k)
    p = np_softmax(z)
    expected = np.mean(np.abs(p - np.eye(k)[y]).sum(1) / 2)
    assert loss_of(make_method("mae", k=k), z, y) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("seed,k,a,b", [(0, 4, 0.1, 1.0), (1, 10, 0.1, 1.0), (2, 100, 6.0, 0.1), (3, 120, 6.0, 0.1)])
def test_sce_defaults_follow_k(seed, k, a, b):
    z, y = random_case(seed, b=8, k=k)
    p = np.clip(np_softmax(z), 1e-7, 1.0)
    onehot = np.clip(np.eye(k)[y], 1e-4, 1.0)
    rce = -(p * np.log(onehot)).sum(1)
    expected = np.mean(a * -np.log(_py(z, y)) + b * rce)
    m = make_method("sce", k=k)
    assert (m.a, m.b) == (a, b)
    assert loss_of(m, z, y) == pytest.approx(expected, rel=1e-5)


def test_sce_exposes_log_floor():
    z, y = random_case(7, k=4)
    p = np_softmax(z)
    rce = 4.0 * (1 - _py(z, y))  # A = -4 as in the paper
    expected = np.mean(0.5 * -np.log(_py(z, y)) + 2.0 * rce)
    assert loss_of(make_method("sce", k=4, a=0.5, b=2.0, log_floor=-4.0), z, y) == pytest.approx(expected, rel=1e-5)
    assert p.shape == (6, 4)


@pytest.mark.parametrize("seed,k", CASES)
@pytest.mark.parametrize("targets", ["zero-one", "plus-minus"])
def test_unhinged_on_batch_normalised_logits(seed, k, targets):
    # the output BatchNorm's scale/offset start at 1/0; gradients: test_reference_departures.py
    z, y = random_case(seed, k=k)
    f = (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-3)
    t = np.eye(k)[y] if targets == "zero-one" else 2 * np.eye(k)[y] - 1
    expected = np.mean(1 - t * f)
    assert loss_of(make_method("unhinged", k=k, targets=targets), z, y) == pytest.approx(expected, rel=1e-4, abs=1e-6)
    if targets == "zero-one":
        assert expected == pytest.approx(1 - np.mean(f[np.arange(len(y)), y]) / k)


@pytest.mark.parametrize("seed,k", CASES)
@pytest.mark.parametrize("targets", ["zero-one", "plus-minus"])
def test_sigmoid_loss(seed, k, targets):
    z, y = random_case(seed, k=k)
    f = (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-3)  # the output BatchNorm at its initial scale/offset
    t = np.eye(k)[y] if targets == "zero-one" else 2 * np.eye(k)[y] - 1
    expected = np.mean(1 / (1 + np.exp(t * f)))  # sigmoid(-t f)
    assert loss_of(make_method("sigmoid", k=k, targets=targets), z, y) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("seed,k", CASES)
@pytest.mark.parametrize("targets", ["zero-one", "plus-minus"])
def test_savage_loss(seed, k, targets):
    z, y = random_case(seed, k=k)
    p = np.clip(np_softmax(z), 1e-7, 1 - 1e-7)
    t = np.eye(k)[y] if targets == "zero-one" else 2 * np.eye(k)[y] - 1
    expected = np.mean(1 / (1 + np.exp(2 * t * p)) ** 2)
    assert loss_of(make_method("savage", k=k, targets=targets), z, y) == pytest.approx(expected, rel=1e-5)


def test_patrini_losses_reject_unknown_target_kind():
    with pytest.raises(HarnessError, match="targets"):
        make_method("savage", targets="pm")


def test_unknown_parameter_names_the_valid_ones():
    with pytest.raises(HarnessError, match="valid parameters"):
        make_method("gce", qq=0.7)
    assert math.isfinite(loss_of(make_method("gce"), *random_case(0)))
