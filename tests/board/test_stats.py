"""Statistics checked against cases computed by hand (arithmetic written out) and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnlbench.board import stats
from cnlbench.errors import CnlbenchError


@pytest.mark.parametrize(
    "x, mean, half_width",
    [
        # n=3: mean 0.62, s = 0.02, t(0.975, 2) = 4.302653 -> 4.302653 * 0.02 / sqrt(3) = 0.0496827
        ([0.60, 0.62, 0.64], 0.62, 4.302653 * 0.02 / math.sqrt(3)),
        # n=5: mean 3, s = sqrt(10/4) = 1.581139, t(0.975, 4) = 2.776445 -> 2.776445 * 1.581139 / sqrt(5) = 1.963243
        ([1.0, 2.0, 3.0, 4.0, 5.0], 3.0, 1.963243),
        # n=2: mean 0.5, s = sqrt(0.02) = 0.141421, t(0.975, 1) = 12.706205 -> 12.706205 * 0.141421 / sqrt(2) = 1.270620
        ([0.4, 0.6], 0.5, 1.270620),
    ],
)
def test_t_interval_by_hand(x, mean, half_width):
    iv = stats.t_interval(x)
    assert iv.estimate == pytest.approx(mean)
    assert iv.half_width == pytest.approx(half_width, rel=1e-5)
    assert iv.low == pytest.approx(mean - half_width, rel=1e-5)
    assert iv.n == len(x)


def test_t_interval_one_seed_has_no_interval():
    iv = stats.t_interval([0.73])
    assert iv.estimate == 0.73 and iv.n == 1
    assert math.isnan(iv.half_width) and math.isnan(iv.low) and math.isnan(iv.high)
    assert not iv.has_interval


def test_t_interval_empty_and_nan_input():
    assert math.isnan(stats.t_interval([]).estimate)
    with pytest.raises(CnlbenchError, match="non-finite"):
        stats.t_interval([0.5, float("nan")])


@pytest.mark.parametrize(
    "acc, n_test, expected",
    [
        # 1.96 * sqrt(0.94 * 0.06 / 10000) = 1.96 * 0.00237487 = 0.00465475 (0.47 points)
        (0.94, 10_000, 0.00465475),
        # 1.96 * sqrt(0.25 / 10000) = 1.96 * 0.005 = 0.0098 (0.98 points)
        (0.50, 10_000, 0.0098),
        # 1.96 * sqrt(0.9 * 0.1 / 100) = 1.96 * 0.03 = 0.0588
        (0.90, 100, 0.0588),
        (1.0, 5_000, 0.0),
    ],
)
def test_binomial_half_width_by_hand(acc, n_test, expected):
    assert stats.binomial_half_width(acc, n_test) == pytest.approx(expected, rel=1e-5, abs=1e-12)


@pytest.mark.parametrize("acc, n_test, match", [(94.0, 10_000, "fraction"), (0.5, 0, "n_test")])
def test_binomial_half_width_refuses(acc, n_test, match):
    with pytest.raises(CnlbenchError, match=match):
        stats.binomial_half_width(acc, n_test)


def test_mean_over_levels_by_hand():
    # per-level means 0.91, 0.70, 0.52 -> mean 2.13 / 3 = 0.71; deviations 0.20, -0.01, -0.19;
    # s^2 = (0.04 + 0.0001 + 0.0361) / 2 = 0.0381, s = 0.195192; half-width 4.302653 * s / sqrt(3) = 0.484889
    scores = [np.array([0.90, 0.92]), np.array([0.70]), np.array([0.50, 0.52, 0.54]), np.array([])]
    iv = stats.mean_over_levels(scores)
    assert iv.estimate == pytest.approx(0.71)
    assert iv.half_width == pytest.approx(0.484889, rel=1e-5)
    assert iv.n == 3  # the empty level is left out
    assert "between levels" in iv.kind


@pytest.mark.parametrize(
    "strata, mean, iqm",
    [
        # mean of level means (2.5 + 6.5) / 2 = 4.5; pooled sorted 1,2,3,4,5,6,7,8: drop 2 each side -> mean(3,4,5,6) = 4.5
        ([[1, 2, 3, 4], [5, 6, 7, 8]], 4.5, 4.5),
        # level means 4, 28.75 -> 16.375; pooled sorted 1,2,3,4,5,6,10,100 -> mean(3,4,5,6) = 4.5 (outliers trimmed)
        ([[10, 1, 2, 3], [100, 4, 5, 6]], 16.375, 4.5),
        # unequal seeds: level means 2 and 10 -> 6; pooled 1,3,10: trim 25% of 3 = 0 each side -> 14/3
        ([[1, 3], [10]], 6.0, 14 / 3),
    ],
)
def test_aggregates_by_hand(strata, mean, iqm):
    s = [np.asarray(x, dtype=float)[None, :] for x in strata]
    assert stats.aggregate_mean(s)[0] == pytest.approx(mean)
    assert stats.aggregate_iqm(s)[0] == pytest.approx(iqm)


def test_bootstrap_is_stratified():
    # Every resample draws 3 seeds from level 0 (all 0.0) and 3 from level 1 (all 1.0): the mean is
    # always (0 + 1) / 2 = 0.5. A bootstrap pooling the levels would vary.
    iv = stats.stratified_bootstrap([np.zeros(3), np.ones(3)], stats.aggregate_mean, np.random.default_rng(0))
    assert (iv.estimate, iv.low, iv.high) == (0.5, 0.5, 0.5)


def test_bootstrap_two_values_by_hand():
    # Resampling [0, 1] twice gives means 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 2.5th
    # percentile is 0 and the 97.5th is 1 (2,000 resamples leave ~500 at each end).
    iv = stats.stratified_bootstrap([np.array([0.0, 1.0])], stats.aggregate_mean, np.random.default_rng(3))
    assert (iv.estimate, iv.low, iv.high) == (0.5, 0.0, 1.0)


@pytest.mark.parametrize("aggregate", [stats.aggregate_mean, stats.aggregate_iqm])
def test_bootstrap_determinism_and_containment(aggregate):
    gen = np.random.default_rng(7)
    scores = [gen.normal(0.8 - 0.1 * i, 0.02, size=n) for i, n in enumerate((3, 5, 4, 3))]
    a = stats.stratified_bootstrap(scores, aggregate, np.random.default_rng(42), reps=500)
    b = stats.stratified_bootstrap(scores, aggregate, np.random.default_rng(42), reps=500)
    c = stats.stratified_bootstrap(scores, aggregate, np.random.default_rng(43), reps=500)
    assert (a.low, a.high) == (b.low, b.high)
    assert (a.low, a.high) != (c.low, c.high)
    assert a.contains(a.estimate) and c.contains(c.estimate)
    assert a.n == 15


def test_bootstrap_single_seeds_give_no_interval():
    iv = stats.stratified_bootstrap([np.array([0.5]), np.array([0.7])], stats.aggregate_mean, np.random.default_rng(0))
    assert iv.estimate == pytest.approx(0.6) and not iv.has_interval


def test_bootstrap_does_not_touch_global_rng():
    np.random.seed(123)  # the test (not the code) sets global state to show it is left alone
    before = np.random.get_state()[1].copy()
    stats.stratified_bootstrap([np.arange(4.0)], stats.aggregate_iqm, np.random.default_rng(0), reps=50)
    assert np.array_equal(before, np.random.get_state()[1])


@pytest.mark.parametrize(
    "x, y, expected",
    [
        # level 1: pairs (3,1) win, (3,4) lose, (5,1) win, (5,4) win -> 3/4; level 2: (2,2) tie -> 1/2; mean 0.625
        ([[3, 5], [2]], [[1, 4], [2]], 0.625),
        # (1,2) lose, (1,2) lose, (2,2) tie, (2,2) tie -> (0 + 0 + 0.5 + 0.5) / 4 = 0.25
        ([[1, 2]], [[2, 2]], 0.25),
        # a level where y has no run is skipped: only level 1 counts, 1 > 0 -> 1.0
        ([[1], [5]], [[0], []], 1.0),
    ],
)
def test_probability_of_improvement_by_hand(x, y, expected):
    xs = [np.asarray(v, dtype=float) for v in x]
    ys = [np.asarray(v, dtype=float) for v in y]
    assert stats.probability_of_improvement(xs, ys) == pytest.approx(expected)


def test_probability_of_improvement_interval():
    x = [np.array([10.0, 11.0, 12.0]), np.array([5.0, 6.0, 7.0])]
    y = [np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])]
    iv = stats.probability_of_improvement_interval(x, y, np.random.default_rng(0))
    assert (iv.estimate, iv.low, iv.high) == (1.0, 1.0, 1.0)  # every resample: x beats y on every pair
    gen = np.random.default_rng(1)
    x = [gen.normal(0.6, 0.03, 5) for _ in range(4)]
    y = [gen.normal(0.58, 0.03, 5) for _ in range(4)]
    a = stats.probability_of_improvement_interval(x, y, np.random.default_rng(9), reps=400)
    b = stats.probability_of_improvement_interval(x, y, np.random.default_rng(9), reps=400)
    assert a == b and a.contains(a.estimate) and 0.0 <= a.low <= a.high <= 1.0
    assert a.estimate == pytest.approx(stats.probability_of_improvement(x, y))


def test_probability_of_improvement_level_count_mismatch():
    with pytest.raises(CnlbenchError, match="levels"):
        stats.probability_of_improvement([np.ones(2)], [np.ones(2), np.ones(2)])


def test_paired_difference_by_hand():
    x = {(0.2, 0): 0.80, (0.2, 1): 0.82, (0.4, 0): 0.70, (0.8, 0): 0.1}
    y = {(0.2, 0): 0.75, (0.2, 1): 0.80, (0.4, 0): 0.66, (0.4, 1): 0.50}
    # shared keys: (0.2,0) 0.05, (0.2,1) 0.02, (0.4,0) 0.04 -> mean 0.11/3 = 0.036667
    # deviations 0.013333, -0.016667, 0.003333; s^2 = (1.7778e-4 + 2.7778e-4 + 1.111e-5) / 2 = 2.3333e-4
    # s = 0.0152753; half-width 4.302653 * 0.0152753 / sqrt(3) = 0.0379454
    iv = stats.paired_difference(x, y)
    assert iv.n == 3
    assert iv.estimate == pytest.approx(0.11 / 3)
    assert iv.half_width == pytest.approx(0.0379454, rel=1e-4)
