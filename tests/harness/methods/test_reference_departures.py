"""The three places where cnlbench once departed from the reference code, each checked (loss AND
gradient) against closed forms of the reference formulas written out by hand in numpy:

* unhinged and sigmoid train and predict through an output BatchNorm, as Patrini's Keras models
  do for their bounded losses (batch statistics in training, moving statistics at inference);
* ProSelfLC computes only epsilon without gradient, as the official ProSelfLC-AT code: the
  corrected target's epsilon * p term keeps its gradient (``proselflc-detached`` is the variant).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.engine import Trainer, default_train_config
from cnlbench.harness.methods import get_method
from methods_testlib import identity_net, make_batch, make_method, np_softmax, random_case

EPS_BN = 1e-3  # Keras BatchNormalization's epsilon


def _targets(y: np.ndarray, k: int, kind: str) -> np.ndarray:
    t = np.eye(k)[y]
    return t if kind == "zero-one" else 2.0 * t - 1.0


def _bn_forward(z: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(f, standardised z, s = sqrt(biased var + eps)) of a BatchNorm in training mode."""
    mu = z.mean(0)
    s = np.sqrt(z.var(0) + EPS_BN)
    zh = (z - mu) / s
    return gamma * zh + beta, zh, s


def _bn_backward(dl_df: np.ndarray, zh: np.ndarray, s: np.ndarray, gamma: np.ndarray):
    """(dL/dz, dL/dgamma, dL/dbeta) of a training-mode BatchNorm, given dL/df (B, K):
    dL/dz = (1/s) (g - mean_i g - zh mean_i(g zh)), g = gamma dL/df."""
    g = dl_df * gamma
    dz = (g - g.mean(0) - zh * (g * zh).mean(0)) / s
    return dz, (dl_df * zh).sum(0), dl_df.sum(0)


def _run_step(name: str, z: np.ndarray, y: np.ndarray, k: int, gamma=None, beta=None, **params):
    m = make_method(name, k=k, **params)
    if gamma is not None:
        with torch.no_grad():
            m.output_bn.weight.copy_(torch.as_tensor(gamma))
            m.output_bn.bias.copy_(torch.as_tensor(beta))
    x = torch.tensor(z, dtype=torch.float32, requires_grad=True)
    loss = m.training_step(make_batch(x, y), [identity_net]).loss
    loss.backward()
    return m, float(loss.detach()), x.grad.double().numpy()


# -- unhinged / sigmoid through the output BatchNorm ---------------------------------------------
def _unhinged(f, t):
    b, k = f.shape
    return np.mean(1.0 - t * f), -t / (b * k)


def _sigmoid(f, t):
    b, k = f.shape
    s = 1.0 / (1.0 + np.exp(t * f))  # sigmoid(-t f)
    return np.mean(s), -t * s * (1.0 - s) / (b * k)


@pytest.mark.parametrize("name,formula", [("unhinged", _unhinged), ("sigmoid", _sigmoid)])
@pytest.mark.parametrize("kind", ["zero-one", "plus-minus"])
@pytest.mark.parametrize("seed,k", [(0, 4), (1, 10), (2, 3)])
def test_bounded_losses_train_through_the_output_batchnorm(name, formula, kind, seed, k):
    z, y = random_case(seed, b=8, k=k)
    rng = np.random.default_rng(seed + 100)
    gamma, beta = rng.uniform(0.5, 2.0, k), rng.normal(0.0, 0.5, k)  # a trained scale and offset
    m, loss, grad = _run_step(name, z, y, k, gamma.astype(np.float32), beta.astype(np.float32), targets=kind)
    f, zh, s = _bn_forward(z, gamma, beta)
    expected, dl_df = formula(f, _targets(y, k, kind))
    dz, dgamma, dbeta = _bn_backward(dl_df, zh, s, gamma)
    assert loss == pytest.approx(expected, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(grad, dz, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(m.output_bn.weight.grad.double().numpy(), dgamma, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(m.output_bn.bias.grad.double().numpy(), dbeta, rtol=1e-3, atol=1e-6)
    # the scale and offset are the method's trainable parameters (the engine optimises them)
    assert {id(p) for p in m.extra_parameters()} == {id(m.output_bn.weight), id(m.output_bn.bias)}


@pytest.mark.parametrize("name", ["unhinged", "sigmoid"])
def test_bounded_losses_predict_with_the_moving_statistics(name):
    k, momentum = 4, 0.1
    z1, y1 = random_case(3, b=8, k=k)
    z2, y2 = random_case(4, b=8, k=k)
    m = make_method(name, k=k)
    for z, y in ((z1, y1), (z2, y2)):
        m.training_step(make_batch(torch.tensor(z, dtype=torch.float32), y), [identity_net])
    # running = (1 - momentum) running + momentum batch; unbiased batch variance; from (0, 1)
    mean, var = np.zeros(k), np.ones(k)
    for z in (z1, z2):
        mean = (1 - momentum) * mean + momentum * z.mean(0)
        var = (1 - momentum) * var + momentum * z.var(0, ddof=1)
    z3, _ = random_case(5, b=5, k=k)
    probs = m.class_probabilities(torch.tensor(z3, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(probs, np_softmax((z3 - mean) / np.sqrt(var + EPS_BN)), rtol=1e-4, atol=1e-6)
    # evaluation neither updates the statistics nor depends on the other examples of its batch
    probs_one = m.class_probabilities(torch.tensor(z3[:1], dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(probs_one, probs[:1], rtol=1e-6)
    # the default noise score goes through the same layer
    losses = m.label_losses(torch.tensor(z3, dtype=torch.float32), torch.tensor([0, 1, 2, 3, 0]))
    np.testing.assert_allclose(losses.double().numpy(), -np.log(probs[np.arange(5), [0, 1, 2, 3, 0]]), rtol=1e-5)


def test_bounded_losses_without_affine_are_plain_standardisation():
    z, y = random_case(7, b=8, k=4)
    m, loss, _ = _run_step("unhinged", z, y, 4, bn_affine=False)
    f = (z - z.mean(0)) / np.sqrt(z.var(0) + EPS_BN)
    assert loss == pytest.approx(np.mean(1 - np.eye(4)[y] * f), rel=1e-5)
    assert m.extra_parameters() == []


def test_savage_has_no_output_layer_as_in_the_reference():
    # the reference lists savage under yes_softmax: softmax output, no BatchNorm
    m = make_method("savage", k=4)
    z, _ = random_case(8, b=5, k=4)
    logits = torch.tensor(z, dtype=torch.float32)
    assert m.extra_parameters() == []
    torch.testing.assert_close(m.class_probabilities(logits), torch.softmax(logits, dim=1))


@pytest.mark.parametrize("params,match", [({"bn_momentum": 0.0}, "momentum"), ({"bn_eps": 0.0}, "eps")])
def test_output_batchnorm_rejects_bad_settings(params, match):
    with pytest.raises(HarnessError, match=match):
        make_method("unhinged", **params)


def test_output_batchnorm_rejects_a_batch_of_one():
    m = make_method("sigmoid", k=4)
    with pytest.raises(HarnessError, match="at least 2"):
        m.training_step(make_batch(torch.zeros(1, 4), np.array([0])), [identity_net])


@pytest.mark.slow
def test_engine_evaluates_unhinged_through_the_output_batchnorm(digits_dir):
    """Through the engine: the scale/offset are optimised, the moving statistics follow the
    network's logits, and accuracy is measured on the BatchNorm's output."""
    from cnlbench.harness.data import load_task

    task = load_task(digits_dir, "sym-00", "cpu")
    cfg = default_train_config("digits-cnn", "digits", epochs=2, train_curves=False)
    trainer = Trainer(task, get_method("unhinged"), {}, "digits-cnn", cfg, 0)
    trainer.fit()
    bn = trainer.method.output_bn
    assert not torch.equal(bn.weight.detach(), torch.ones_like(bn.weight))
    assert not torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
    logits = trainer.logits(task.test.images)
    expected = torch.softmax(bn.eval(logits), dim=1).argmax(1)
    _, probs, acc, _ = trainer.split_eval("test")
    assert torch.equal(probs.argmax(1), expected)
    assert acc == pytest.approx(float((expected == task.test.label).float().mean()))


# -- ProSelfLC ---------------------------------------------------------------------------------
def _proselflc_reference(z: np.ndarray, y: np.ndarray, t: int, total: int, detach_target: bool):
    """Loss and dL/dz of the official ProSelfLC-AT formula, by hand.

    L = (1/N) sum_i sum_j T_ij * -log(p_ij + 1e-6), T = (1 - e_i) y_ij + e_i p_ij, e_i constant.
    dL/dp_ij = (1/N) [e_i * -log(p_ij + 1e-6) - T_ij / (p_ij + 1e-6)] (first term absent when
    the target is detached); dL/dz_ik = p_ik (dL/dp_ik - sum_j dL/dp_ij p_ij).
    """
    n, k = z.shape
    p = np_softmax(z)
    g = 1.0 / (1.0 + math.exp(-6.0 * (t / total - 0.3)))
    h = -((p + 1e-12) * np.log(p + 1e-12)).sum(1)
    e = (g * (1.0 - h / math.log(k)))[:, None]
    target = (1.0 - e) * np.eye(k)[y] + e * p
    nll = -np.log(p + 1e-6)
    loss = (target * nll).sum() / n
    dl_dp = (-target / (p + 1e-6) + (0.0 if detach_target else e * nll)) / n
    dz = p * (dl_dp - (dl_dp * p).sum(1, keepdims=True))
    return loss, dz


@pytest.mark.parametrize("name,detached", [("proselflc", False), ("proselflc-detached", True)])
@pytest.mark.parametrize("seed,k,step", [(0, 4, 0), (1, 10, 40), (2, 3, 49), (4, 4, 25)])
def test_proselflc_loss_and_gradient(name, detached, seed, k, step):
    z, y = random_case(seed, k=k)
    x = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = make_method(name, k=k).training_step(make_batch(x, y, step=step, total_steps=50), [identity_net])
    out.loss.backward()
    # the reference counts iterations from 1: t = step + 1
    loss, dz = _proselflc_reference(z, y, step + 1, 50, detached)
    assert float(out.loss.detach()) == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), dz, rtol=1e-4, atol=1e-7)  # float32 inside


def test_proselflc_variants_agree_in_value_and_differ_in_gradient():
    z, y = random_case(4, k=4)
    grads, losses = [], []
    for name in ("proselflc", "proselflc-detached"):
        x = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        out = make_method(name, k=4).training_step(make_batch(x, y, step=45, total_steps=50), [identity_net])
        out.loss.backward()
        losses.append(float(out.loss.detach()))
        grads.append(x.grad.numpy())
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    assert np.abs(grads[0] - grads[1]).max() > 1e-3
