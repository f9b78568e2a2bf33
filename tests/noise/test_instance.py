import random

import numpy as np
import pytest

from cnlbench.errors import NoiseSpecError
from cnlbench.noise import DEFAULT_LEVELS, confusion_noise, part_dependent_noise
from cnlbench.noise.instance import truncated_normal_rates
from cnlbench.noise.result import realised_counts


def data(n=400, k=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    x = rng.integers(0, 256, size=(n, 4, 4, 3), dtype=np.uint8)
    return x, y


@pytest.mark.parametrize("level", DEFAULT_LEVELS)
def test_part_dependent_exact_count(level):
    x, y = data()
    r = part_dependent_noise(x, y, level, np.random.default_rng(1), num_classes=5)
    assert r.is_noisy.sum() == int(np.floor(y.size * level + 0.5))
    assert np.all(r.noisy_labels[r.is_noisy] != y[r.is_noisy])
    np.testing.assert_array_equal(r.realised_counts, realised_counts(y, r.noisy_labels, 5))
    assert r.requested_matrix is None and r.mode == "exact" and "xia" in r.spec["generator"]
    if level == 0:
        np.testing.assert_array_equal(r.noisy_labels, y)


def test_part_dependent_depends_on_features_and_is_deterministic():
    x, y = data()
    a = part_dependent_noise(x, y, 0.4, np.random.default_rng(7))
    b = part_dependent_noise(x, y, 0.4, np.random.default_rng(7))
    np.testing.assert_array_equal(a.noisy_labels, b.noisy_labels)
    c = part_dependent_noise(x, y, 0.4, np.random.default_rng(8))
    assert not np.array_equal(a.noisy_labels, c.noisy_labels)
    x2 = 255 - x
    d = part_dependent_noise(x2, y, 0.4, np.random.default_rng(7))
    np.testing.assert_array_equal(d.is_noisy, a.is_noisy)  # selection uses only the rates
    assert not np.array_equal(d.noisy_labels, a.noisy_labels)  # destinations use the features


def test_truncated_normal_rates_in_range():
    r = truncated_normal_rates(0.0, 5000, np.random.default_rng(0))
    assert r.min() >= 0 and r.max() <= 1 and 0.05 < r.mean() < 0.12  # the published "8% at 0%" source
    r = truncated_normal_rates(0.5, 5000, np.random.default_rng(0))
    assert abs(r.mean() - 0.5) < 0.01 and abs(r.std() - 0.1) < 0.01


def test_confusion_noise_flips_most_confusable():
    y = np.array([0, 0, 1, 1, 2, 2])
    P = np.array([
        [0.9, 0.05, 0.05],
        [0.3, 0.6, 0.1],   # wrong max 0.6 -> class 1
        [0.1, 0.8, 0.1],
        [0.45, 0.1, 0.45],  # wrong max 0.45 -> class 0 (first on ties)
        [0.2, 0.2, 0.6],
        [0.05, 0.9, 0.05],  # wrong max 0.9 -> class 1
    ])
    r = confusion_noise(P, y, 0.5)
    assert r.is_noisy.sum() == 3
    assert r.noisy_labels.tolist() == [0, 1, 1, 0, 2, 1]
    assert confusion_noise(P, y, 0.0).is_noisy.sum() == 0


@pytest.mark.parametrize("level", [0.0, 0.1, 0.33, 0.8])
def test_confusion_noise_exact_and_nested(level):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=301)
    P = rng.dirichlet(np.ones(4), size=301)
    r = confusion_noise(P, y, level)
    assert r.is_noisy.sum() == int(np.floor(301 * level + 0.5))
    assert np.all(r.noisy_labels[r.is_noisy] != y[r.is_noisy])
    hi = confusion_noise(P, y, 0.9)
    assert np.all(hi.is_noisy[r.is_noisy])


def test_global_rng_untouched():
    x, y = data()
    st, pst = np.random.get_state(), random.getstate()
    part_dependent_noise(x, y, 0.3, np.random.default_rng(0))
    confusion_noise(np.full((y.size, 5), 0.2), y, 0.3)
    assert np.array_equal(np.random.get_state()[1], st[1]) and random.getstate() == pst


@pytest.mark.parametrize(
    "call,needle",
    [
        (lambda: part_dependent_noise(np.zeros((3, 2)), [0, 1], 0.2, np.random.default_rng(0)), "(3, 2)"),
        (lambda: part_dependent_noise(np.zeros((2, 2)), [0, 0], 0.5, np.random.default_rng(0)), "K=1"),
        (lambda: part_dependent_noise(np.zeros((2, 2)), [0, 1], 1.5, np.random.default_rng(0)), "1.5"),
        (lambda: part_dependent_noise(np.zeros((2, 2)), [0, 1], 0.5, np.random.default_rng(0), std=-1), "-1"),
        (lambda: part_dependent_noise(np.zeros((2, 2)), [0, 1], 0.5, None), "None"),
        (lambda: confusion_noise(np.ones((2, 1)), [0, 0], 0.5), "(2, 1)"),
        (lambda: confusion_noise(np.full((2, 2), np.nan), [0, 1], 0.5), "NaN"),
        (lambda: confusion_noise(np.ones((3, 2)), [0, 1], 0.5), "3 rows"),
        (lambda: confusion_noise(np.ones((2, 2)), [0, 2], 0.5), "2"),
    ],
)
def test_errors(call, needle):
    with pytest.raises(NoiseSpecError) as err:
        call()
    assert needle in str(err.value)
