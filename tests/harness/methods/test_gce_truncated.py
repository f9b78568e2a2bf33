"""Truncated GCE: loss in the reference's weighted form and the weight-refresh schedule."""

from __future__ import annotations

import numpy as np
import pytest

from cnlbench.harness.methods.gce import truncation_refresh_due
from methods_testlib import FakeHooks, loss_of, make_method, np_softmax, random_case


@pytest.mark.parametrize("epochs,start,every,expected", [
    (120, 40, 10, [40, 50, 60, 70, 80, 90, 100, 110]),
    (30, 10, 10, [10, 20]),
    (9, 1, 2, [1, 3, 5, 7]),
    (30, 8, 0, [8]),
    (30, None, 10, []),
])
def test_refresh_schedule(epochs, start, every, expected):
    assert [e for e in range(epochs) if truncation_refresh_due(e, start, every)] == expected


def test_default_start_is_once_the_noisy_validation_accuracy_stops_improving():
    m = make_method("gce-truncated", epochs=60, plateau_patience=3)
    hooks = FakeHooks(losses=np.zeros(32))
    for epoch, acc in enumerate([0.2, 0.6, 0.9, 0.85, 0.88, 0.9]):
        m.begin_epoch(epoch, hooks)
        hooks.val = {"acc": acc}
        m.end_epoch(epoch, hooks)
    assert m.refreshed_at == [] and m.start_epoch == 6  # 0.9 at epoch 2, not beaten at 3, 4, 5
    m.begin_epoch(6, hooks)
    assert m.refreshed_at == [6]
    assert make_method("gce-truncated", start_epoch=40).start_epoch == 40


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_truncated_loss_and_refresh(seed):
    k, n = 4, 6
    z, y = random_case(seed, b=n, k=k)
    p_y = np.clip(np_softmax(z)[np.arange(n), y], 1e-7, 1)
    q, thr = 0.7, 0.5
    m = make_method("gce-truncated", k=k, n=n, epochs=30, start_epoch=10, every=10)
    lq, lqk = (1 - p_y**q) / q, (1 - thr**q) / q
    assert loss_of(m, z, y) == pytest.approx(np.mean(lq - lqk), rel=1e-5)  # all weights 1

    train_p_y = np.array([0.9, 0.2, 0.6, 0.5, 0.51, 0.1])
    hooks = FakeHooks(losses=-np.log(train_p_y))
    m.begin_epoch(9, hooks)
    assert hooks.calls == []  # before the start epoch: no refresh
    m.begin_epoch(10, hooks)
    w = (train_p_y > thr).astype(float)
    np.testing.assert_array_equal(m.weights.numpy(), w)
    assert loss_of(m, z, y) == pytest.approx(np.mean(w * (lq - lqk)), rel=1e-5, abs=1e-7)
    m.begin_epoch(11, hooks)
    m.begin_epoch(20, hooks)
    assert m.refreshed_at == [10, 20]
    np.testing.assert_array_equal(m.noise_scores(hooks).numpy(), 1 - w)
