"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnlbench.harness.metrics import (
    accuracy,
    auroc,
    calibration_bins,
    expected_calibration_error,
    overconfidence_error,
    select_best_epoch,
)


def _probs(conf: list[float], pred: list[int], k: int = 2) -> np.ndarray:
    p = np.zeros((len(conf), k))
    for i, (c, j) in enumerate(zip(conf, pred)):
        p[i] = (1 - c) / (k - 1)
        p[i, j] = c
    return p


def test_ece_hand_computed() -> None:
    # bins of width 0.1: conf 0.95, 0.95 (one right, one wrong) -> |0.5 - 0.95| weight 2/4;
    # conf 0.65 right -> |1 - 0.65| weight 1/4; conf 0.55 wrong -> |0 - 0.55| weight 1/4
    p = _probs([0.95, 0.95, 0.65, 0.55], [0, 0, 1, 1])
    y = np.array([0, 1, 1, 0])
    expected = 0.5 * 0.45 + 0.25 * 0.35 + 0.25 * 0.55
    assert expected_calibration_error(p, y, 10) == pytest.approx(expected)
    # OE: only the overconfident bins count, weighted by their confidence
    assert overconfidence_error(p, y, 10) == pytest.approx(0.5 * 0.95 * 0.45 + 0.25 * 0.55 * 0.55)


@pytest.mark.parametrize("n_bins", [1, 10, 15, 100])
def test_confidence_one_falls_in_the_last_bin(n_bins: int) -> None:
    p = np.array([[1.0, 0.0], [1.0, 0.0]])
    y = np.array([0, 1])
    counts, acc, conf = calibration_bins(p, y, n_bins)
    assert counts[-1] == 2 and counts.sum() == 2
    assert acc[-1] == 0.5 and conf[-1] == 1.0
    assert expected_calibration_error(p, y, n_bins) == pytest.approx(0.5)
    assert overconfidence_error(p, y, n_bins) == pytest.approx(0.5)


def test_perfect_calibration_is_zero() -> None:
    p = _probs([0.5, 0.5], [0, 0])
    assert expected_calibration_error(p, np.array([0, 1]), 15) == pytest.approx(0.0)
    assert overconfidence_error(p, np.array([0, 1]), 15) == pytest.approx(0.0)


def test_underconfidence_is_not_overconfidence() -> None:
    p = _probs([0.6, 0.6], [0, 0])
    y = np.array([0, 0])
    assert expected_calibration_error(p, y, 10) == pytest.approx(0.4)
    assert overconfidence_error(p, y, 10) == 0.0


@pytest.mark.parametrize(
    "scores,positive,expected",
    [
        ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 1.0),
        ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0.0),
        ([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5),  # all tied: one half
        # pos {0.5, 0.9}, neg {0.5, 0.1}: pairs (0.5,0.5)=1/2, (0.5,0.1)=1, (0.9,*)=2 -> 3.5/4
        ([0.5, 0.9, 0.5, 0.1], [1, 1, 0, 0], 0.875),
        ([1, 2, 2, 3, 3], [0, 1, 0, 1, 0], (1 + 0.5 + 0 + 1 + 1 + 0.5) / 6),
    ],
)
def test_auroc_hand_computed(scores, positive, expected) -> None:
    assert auroc(np.array(scores, float), np.array(positive, bool)) == pytest.approx(expected)


def test_auroc_matches_sklearn_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    s = rng.integers(0, 5, 300).astype(float)
    y = rng.random(300) < 0.3
    assert auroc(s, y) == pytest.approx(roc_auc_score(y, s))


@pytest.mark.parametrize("positive", [[0, 0, 0], [1, 1, 1]])
def test_auroc_undefined_without_both_classes(positive) -> None:
    assert math.isnan(auroc(np.array([0.1, 0.2, 0.3]), np.array(positive, bool)))


@pytest.mark.parametrize(
    "val,best",
    [([0.1, 0.5, 0.5, 0.4], 1), ([0.9, 0.2, 0.9], 0), ([math.nan, 0.3, math.nan], 1), ([0.2], 0)],
)
def test_select_best_epoch_earliest_tie(val, best) -> None:
    assert select_best_epoch(val) == best


def test_accuracy() -> None:
    assert accuracy(_probs([0.9, 0.7, 0.6], [0, 1, 1]), np.array([0, 0, 1])) == pytest.approx(2 / 3)
