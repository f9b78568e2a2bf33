"""Mixup, MentorNet (thresholding) and MentorMix: formulas, EMA threshold, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnlbench.harness.methods.mentormix import mentormix_lambdas, mentormix_settings
from cnlbench.harness.methods.mentornet import ThresholdMentor
from methods_testlib import FakeHooks, identity_net, make_batch, make_method, np_softmax, random_case


def _ce(z, y):
    return -np.log(np_softmax(z)[np.arange(len(y)), y])


# -- mixup ----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed,alpha", [(0, 1.0), (3, 0.4)])
def test_mixup_loss_matches_hand_computation(seed, alpha):
    z, y = random_case(seed, b=5, k=4)
    m = make_method("mixup", k=4, seed=seed, alpha=alpha)
    out = m.training_step(make_batch(torch.tensor(z, dtype=torch.float32), y), [identity_net])
    rng = np.random.default_rng(seed)  # the same draws, in the same order
    lam = rng.beta(alpha, alpha)
    perm = rng.permutation(5)
    zm = lam * z + (1 - lam) * z[perm]  # the identity "network": mixing inputs mixes logits
    expected = np.mean(lam * _ce(zm, y) + (1 - lam) * _ce(zm, y[perm]))
    assert float(out.loss) == pytest.approx(expected, rel=1e-5)
    assert out.stats["lambda"] == pytest.approx(lam)
    assert out.logits is None


def _run(name, seed, steps=3, **params):
    m = make_method(name, k=4, seed=seed, **params)
    losses = []
    for s in range(steps):
        z, y = random_case(100 + s, b=8, k=4)
        losses.append(float(m.training_step(make_batch(torch.tensor(z, dtype=torch.float32), y, step=s),
                                            [identity_net]).loss))
    return losses


@pytest.mark.parametrize("name", ["mixup", "mentormix"])
def test_determinism_under_a_fixed_seed(name):
    assert _run(name, 7) == _run(name, 7)
    assert _run(name, 7) != _run(name, 8)


# -- MentorNet --------------------------------------------------------------------------------
def test_mentor_ema_threshold_sequence():
    mentor = ThresholdMentor(0.7, 0.5)
    batches = [np.array([0.1, 0.2, 0.3, 0.4, 5.0]), np.array([1.0, 2.0, 3.0, 4.0, 6.0])]
    lam = 0.0
    for losses in batches:
        v = mentor.weights(torch.tensor(losses)).numpy()
        lam = 0.5 * lam + 0.5 * np.percentile(losses, 70, method="nearest")  # updated before use
        assert float(mentor.threshold) == pytest.approx(lam)
        np.testing.assert_array_equal(v, (losses <= lam).astype(float))
    assert lam == pytest.approx(0.5 * (0.5 * 0.4) + 0.5 * 4.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mentornet_loss_is_whole_batch_mean(seed):
    z, y = random_case(seed, b=7, k=4)
    ce = _ce(z, y)
    thr = 0.5 * np.percentile(ce, 70, method="nearest")
    v = (ce <= thr).astype(float)
    m = make_method("mentornet", k=4, burn_in_epochs=0)
    out = m.training_step(make_batch(torch.tensor(z, dtype=torch.float32), y), [identity_net])
    assert float(out.loss) == pytest.approx(np.sum(v * ce) / len(y), rel=1e-5)
    np.testing.assert_array_equal(out.scores.numpy(), 1 - v)


def test_mentornet_burn_in_and_noise_scores():
    z, y = random_case(0, b=4, k=4)
    m = make_method("mentornet", k=4, n=6, burn_in_epochs=1)
    x = torch.tensor(z, dtype=torch.float32)
    out = m.training_step(make_batch(x, y, epoch=0, index=np.array([0, 1, 2, 3])), [identity_net])
    assert float(out.loss) == pytest.approx(np.mean(_ce(z, y)), rel=1e-5)  # v = 1 in burn-in
    m.begin_epoch(1, None)  # new epoch: the score window restarts
    out = m.training_step(make_batch(x, y, epoch=1, index=np.array([0, 1, 2, 3])), [identity_net])
    scores = m.noise_scores(None).numpy()
    np.testing.assert_array_equal(scores[:4], out.scores.numpy())
    assert scores[4] == pytest.approx(out.scores.numpy().mean())  # unseen -> mean of the seen


# -- MentorMix -------------------------------------------------------------------------------
@pytest.mark.parametrize("k,level,expected", [
    (10, 0.2, (2.0, 0.8, False)), (10, 0.4, (8.0, 0.6, False)), (10, 0.6, (8.0, 0.6, True)),
    (10, 0.8, (4.0, 0.2, True)), (100, 0.2, (2.0, 0.7, False)), (100, 0.4, (8.0, 0.5, False)),
    (100, 0.6, (4.0, 0.3, True)), (100, 0.8, (8.0, 0.1, True)), (10, 0.55, (8.0, 0.6, True)),
    # unknown level: the reference script's flag defaults
    (10, None, (8.0, 0.7, True)),
    # below the lowest published row: its alpha / second reweight, gamma_p raised by the missing noise
    (10, 0.0, (2.0, 1.0, False)), (10, 0.1, (2.0, 0.9, False)), (100, 0.0, (2.0, 0.9, False)),
])
def test_mentormix_per_level_table(k, level, expected):
    for got in (mentormix_settings(k, level), _mentormix_resolved(k, level)):
        assert got[0] == expected[0] and got[2] is expected[2]
        assert got[1] == pytest.approx(expected[1])


def _mentormix_resolved(k, level):
    m = make_method("mentormix", k=k, noise_level=level)
    return m.alpha, m.gamma_p, m.second_reweight


def test_mentormix_explicit_params_override_table():
    m = make_method("mentormix", k=10, noise_level=0.8, alpha=1.5, second_reweight=False)
    assert (m.alpha, m.gamma_p, m.second_reweight) == (1.5, 0.2, False)


def test_mentormix_lambdas():
    v = torch.tensor([1.0, 0.0, 1.0, 0.0])
    lam = mentormix_lambdas(v, np.random.default_rng(3), 2.0).numpy()
    raw = np.random.default_rng(3).beta(2.0, 2.0, size=4)
    big = np.maximum(raw, 1 - raw)
    np.testing.assert_allclose(lam, np.where(v.numpy() < 0.5, 1 - big, big), rtol=1e-6)


@pytest.mark.parametrize("second", [False, True])
def test_mentormix_step_matches_hand_computation(second):
    b, k, seed = 8, 4, 5
    z, y = random_case(seed, b=b, k=k)
    m = make_method("mentormix", k=k, seed=seed, alpha=2.0, gamma_p=0.5, second_reweight=second,
                    burn_in_epochs=0)
    out = m.training_step(make_batch(torch.tensor(z, dtype=torch.float32), y), [identity_net])
    ce = _ce(z, y)
    thr = 0.5 * np.percentile(ce, 50, method="nearest")
    v = (ce <= thr).astype(np.float32)
    partner = torch.multinomial(torch.softmax(torch.tensor(v), 0), b, replacement=True,
                                generator=torch.Generator().manual_seed(seed)).numpy()
    raw = np.random.default_rng(seed).beta(2.0, 2.0, size=b)
    lam = np.where(v < 0.5, 1 - np.maximum(raw, 1 - raw), np.maximum(raw, 1 - raw))
    zm = lam[:, None] * z + (1 - lam[:, None]) * z[partner]
    mixed = lam * _ce(zm, y) + (1 - lam) * _ce(zm, y[partner])
    if second:
        v2 = (mixed <= 0.5 * np.percentile(mixed, 50, method="nearest")).astype(float)
        expected = np.mean(v2 * mixed)
    else:
        expected = np.mean(mixed)
    assert float(out.loss) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("name", ["mentornet", "mentormix"])
def test_mentor_burn_in_lasts_until_the_noisy_validation_accuracy_stops_improving(name):
    """The reference's burn-in (9% of 200,000 steps, ~46 CIFAR epochs) ends on a network that has
    learned the clean structure: here, once the noisy-validation accuracy has not improved for
    ``plateau_patience`` epochs."""
    m = make_method(name, k=4, noise_level=0.4, plateau_patience=2)
    hooks = FakeHooks()
    z, y = random_case(1, b=8, k=4)
    x = torch.tensor(z, dtype=torch.float32)
    for epoch, acc in enumerate([0.2, 0.5, 0.6, 0.55, 0.58]):
        out = m.training_step(make_batch(x, y, epoch=epoch), [identity_net])
        assert float(out.stats["kept"]) == 1.0  # burn-in: every example weighs 1
        hooks.val = {"acc": acc}
        m.end_epoch(epoch, hooks)
    assert m.burn_in.reached_after == 4 and m.burn_in.learned(5)


@pytest.mark.parametrize("level,percentile", [(0.0, 1.0), (0.2, 0.8), (0.4, 0.6), (0.8, 0.2), (None, 0.7)])
def test_mentornet_percentile_follows_the_expected_noise(level, percentile):
    m = make_method("mentornet", k=10, noise_level=level)
    assert m.percentile == pytest.approx(percentile) and m.mentor.percentile == pytest.approx(percentile)
    assert make_method("mentornet", k=10, noise_level=0.4, percentile=0.5).percentile == 0.5


def test_mentornet_keeps_every_example_at_zero_noise_after_the_burn_in():
    m = make_method("mentornet", k=4, noise_level=0.0, burn_in_epochs=0)
    kept = []
    for seed in range(5):
        z, y = random_case(seed, b=16, k=4)
        out = m.training_step(make_batch(torch.tensor(z, dtype=torch.float32), y), [identity_net])
        kept.append(float(out.stats["kept"]))
    # percentile 1: the threshold is the EMA (from 0) of the batch maximum, so only examples above
    # it are dropped (half the batch at the very first step, which the burn-in normally covers)
    assert np.mean(kept[1:]) > 0.9
