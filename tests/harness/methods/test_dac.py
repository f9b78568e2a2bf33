"""DAC: loss formula, alpha schedule (EWMA), evaluation metrics, and the cleaning protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnlbench.harness.methods.dac import abstention_metrics, dac_alpha
from methods_testlib import FakeHooks, loss_of, make_method, np_softmax, random_case


def _parts(z, y, k):
    p = np_softmax(z)
    h_c = -np.log(np_softmax(z[:, :k])[np.arange(len(y)), y])
    p_a = np.minimum(p[:, k], 1 - 1e-7)
    return h_c, p_a


def test_warmup_ends_once_the_noisy_validation_accuracy_stops_improving():
    m = make_method("dac", k=4, epochs=60, plateau_patience=2)
    hooks = FakeHooks()
    for epoch, acc in enumerate([0.3, 0.5, 0.7, 0.69, 0.72, 0.71, 0.70]):
        assert not m.warmup.learned(epoch)
        hooks.val = {"acc": acc, "abstain_acc": 0.0}
        m.end_epoch(epoch, hooks)
    # the best (0.72, epoch 4) was not beaten at epochs 5 and 6: abstention from epoch 7
    assert m.warmup.reached_after == 6 and m.warmup.learned(7)
    assert make_method("dac", k=4, warmup_epochs=3).warmup.learned(3)
    assert not make_method("dac", k=4, warmup_epochs=3).warmup.learned(2)


@pytest.mark.parametrize("total,set_epoch,a0", [(10, 2, 0.01), (100, 20, 0.5), (5, 4, 0.2)])
def test_alpha_schedule_reaches_final_at_last_epoch(total, set_epoch, a0):
    values = [dac_alpha(e, set_epoch, a0, 1.0, total) for e in range(set_epoch, total)]
    assert values[0] == pytest.approx(a0)
    if total - 1 > set_epoch:
        assert values[-1] == pytest.approx(1.0)
        np.testing.assert_allclose(np.diff(values), (1.0 - a0) / (total - 1 - set_epoch))


@pytest.mark.parametrize("seed", [0, 1])
def test_dac_warmup_then_abstention_loss_and_ewma(seed):
    k, epochs, L = 4, 6, 2
    m = make_method("dac", k=k, epochs=epochs, warmup_epochs=L)
    ewma = None
    batches = [(z, y % k) for z, y in (random_case(seed * 10 + i, b=5, k=k + 1) for i in range(5))]
    for i, (z, y) in enumerate(batches[:3]):  # epochs 0, 0, 1: warm-up, plain CE over K + 1
        h_c, p_a = _parts(z, y, k)
        stat = np.mean((1 - np_softmax(z)[:, k]) * h_c)
        ewma = stat if ewma is None else 0.05 * stat + 0.95 * ewma
        ce_all = np.mean(-np.log(np_softmax(z)[np.arange(len(y)), y]))
        assert loss_of(m, z, y, epoch=i // 2) == pytest.approx(ce_all, rel=1e-5)
        assert float(m.ewma) == pytest.approx(ewma, rel=1e-5)
    # first abstention step (epoch L): EWMA updated with this batch, then alpha = EWMA / 64
    z, y = batches[3]
    h_c, p_a = _parts(z, y, k)
    ewma = 0.05 * np.mean((1 - p_a) * h_c) + 0.95 * ewma
    alpha = ewma / 64
    expected = np.mean((1 - p_a) * h_c - alpha * np.log(1 - p_a))
    assert loss_of(m, z, y, epoch=L) == pytest.approx(expected, rel=1e-5)
    # a later epoch: alpha moved linearly towards 1.0 at epoch 5
    z, y = batches[4]
    h_c, p_a = _parts(z, y, k)
    alpha4 = alpha + 2 * (1.0 - alpha) / (epochs - 1 - L)
    expected = np.mean((1 - p_a) * h_c - alpha4 * np.log(1 - p_a))
    assert loss_of(m, z, y, epoch=4) == pytest.approx(expected, rel=1e-5)
    assert float(m.alpha(epochs - 1)) == pytest.approx(1.0)


def test_abstain_probability_clamped():
    m = make_method("dac", k=2, epochs=4, warmup_epochs=0)
    z = np.array([[0.0, 0.0, 80.0]])  # p_a == 1 in float32
    assert math.isfinite(loss_of(m, z, np.array([0])))


def test_abstention_metrics():
    logits = torch.tensor([[5.0, 0, 0, 0], [0, 5.0, 0, 0], [0, 0, 0, 5.0], [0, 0, 5.0, 0], [0, 0, 0, 9.0]])
    targets = torch.tensor([0, 0, 2, 2, 1])
    out = abstention_metrics(logits, targets, 3)
    assert out == {"abstain_coverage": pytest.approx(3 / 5), "abstain_acc": pytest.approx(2 / 3)}
    assert math.isnan(abstention_metrics(logits[[2, 4]], targets[[2, 4]], 3)["abstain_acc"])
    m = make_method("dac", k=3)
    assert m.extra_outputs == 1
    probs = m.class_probabilities(logits)
    np.testing.assert_allclose(probs.numpy(), np_softmax(logits.numpy()[:, :3]), rtol=1e-5)


def test_dac_noise_scores_are_abstention_probabilities():
    P = np_softmax(np.random.default_rng(0).normal(size=(6, 4)))
    m = make_method("dac", k=3, n=6)
    np.testing.assert_allclose(m.noise_scores(FakeHooks(probs=P)).numpy(), P[:, 3], rtol=1e-6)


def test_dac_protocol_stages():
    k = 3
    P = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7], [0.1, 0.6, 0.1, 0.2], [0.2, 0.1, 0.1, 0.6]])
    m = make_method("dac-protocol", k=k, n=4, epochs=4)
    assert m.num_stages == 2
    hooks = FakeHooks(probs=P)
    m.begin_stage(0, hooks)
    for epoch, acc in enumerate([0.3, 0.8, 0.6, 0.7]):
        hooks.state = 20 + epoch
        hooks.val = {"acc": acc, "loss": 1.0}
        m.end_epoch(epoch, hooks)
    m.begin_stage(1, hooks)
    assert ("restore", 21) in hooks.calls  # best noisy-validation accuracy
    mask = [c for c in hooks.calls if c[0] == "set_train_mask"][0][1]
    np.testing.assert_array_equal(mask.numpy(), [True, False, True, False])
    assert hooks.calls[-1] == ("reset_networks",)
    np.testing.assert_allclose(m.noise_scores(hooks).numpy(), P[:, 3], rtol=1e-6)
    z, y = random_case(0, b=5, k=k + 1)
    ce = np.mean(-np.log(np_softmax(z[:, :k])[np.arange(5), y % k]))
    assert loss_of(m, z, y % k, stage=1) == pytest.approx(ce, rel=1e-5)  # CE over the first K logits
    assert m.eval_metrics(torch.tensor(z, dtype=torch.float32), torch.as_tensor(y % k)) == {}


def test_dac_protocol_keeps_all_when_everything_abstains():
    P = np.array([[0.1, 0.1, 0.8], [0.2, 0.1, 0.7]])
    m = make_method("dac-protocol", k=2, n=2, epochs=2)
    hooks = FakeHooks(probs=P)
    m.begin_stage(0, hooks)
    hooks.val = {"acc": 0.5, "loss": 1.0}
    m.end_epoch(0, hooks)
    with pytest.warns(UserWarning, match="abstained on all 2"):
        m.begin_stage(1, hooks)
    mask = [c for c in hooks.calls if c[0] == "set_train_mask"][0][1]
    assert bool(mask.all())
