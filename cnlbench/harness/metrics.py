"""Per-run metrics, pure numpy: accuracy, calibration (ECE, OE), noise-detection AUROC, model
selection by NOISY validation accuracy.

Inputs are host arrays: ``probs`` (N, K) float class probabilities (rows sum to 1), ``labels``
(N,) int64 in ``0 .. K-1``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from cnlbench.errors import HarnessError

DEFAULT_ECE_BINS = 15


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose argmax equals the label (NaN for zero rows)."""
    if len(labels) == 0:
        return math.nan
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def calibration_bins(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_ECE_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal-width bins over the max softmax confidence.

    Bin ``b`` holds confidences in ``[b / n_bins, (b + 1) / n_bins)``; the LAST bin is closed,
    so a confidence of exactly 1.0 falls in bin ``n_bins - 1`` (one published reproduction drops
    it). Returns (counts (n_bins,) int64, accuracy (n_bins,), mean confidence (n_bins,)), NaN
    for empty bins."""
    if n_bins < 1:
        raise HarnessError(f"n_bins (ece_bins) {n_bins!r} must be >= 1; 15 is the common choice")
    conf = np.max(probs, axis=1).astype(np.float64)
    correct = (np.argmax(probs, axis=1) == labels).astype(np.float64)
    idx = np.clip(np.floor(conf * n_bins).astype(np.int64), 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / counts
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / counts
    return counts.astype(np.int64), acc, mean_conf


def _nonempty_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weight |B|/n, accuracy, mean confidence) of the non-empty bins."""
    counts, acc, conf = calibration_bins(probs, labels, n_bins)
    keep = counts > 0
    return counts[keep] / max(1, counts.sum()), acc[keep], conf[keep]


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_ECE_BINS
) -> float:
    """ECE = sum_b (|B_b| / n) |acc(B_b) - conf(B_b)| (Guo et al. 2017); NaN for no rows."""
    w, acc, conf = _nonempty_bins(probs, labels, n_bins)
    return float(np.sum(w * np.abs(acc - conf))) if len(w) else math.nan


def overconfidence_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_ECE_BINS
) -> float:
    """OE = sum_b (|B_b| / n) conf(B_b) max(conf(B_b) - acc(B_b), 0) (Thulasidasan et al.
    2019); NaN for no rows."""
    w, acc, conf = _nonempty_bins(probs, labels, n_bins)
    return float(np.sum(w * conf * np.maximum(conf - acc, 0.0))) if len(w) else math.nan


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (N,) for the boolean ``positive`` (N,).

    Rank-based (Mann-Whitney U) with tied scores given their average rank, so a tie between a
    positive and a negative counts one half. NaN when either class is absent or a score is NaN."""
    s = np.asarray(scores, dtype=np.float64)
    pos = np.asarray(positive, dtype=bool)
    n_pos = int(pos.sum())
    n_neg = len(pos) - n_pos
    if n_pos == 0 or n_neg == 0 or not np.all(np.isfinite(s)):
        return math.nan
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    # average ranks (1-based) over runs of equal scores
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + ends + 1) / 2.0
    ranks = np.empty(len(s), dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def select_best_epoch(val_acc: Sequence[float]) -> int:
    """Index of the highest NOISY-validation accuracy; ties go to the EARLIEST epoch; NaN
    entries never win (all NaN -> the last epoch)."""
    v = np.asarray(val_acc, dtype=np.float64)
    if len(v) == 0:
        raise HarnessError("no validation accuracies to select from (an empty list); train at least one epoch")
    if np.all(np.isnan(v)):
        return len(v) - 1
    return int(np.nanargmax(v))  # nanargmax returns the first maximum


__all__ = [
    "DEFAULT_ECE_BINS",
    "accuracy",
    "auroc",
    "calibration_bins",
    "expected_calibration_error",
    "overconfidence_error",
    "select_best_epoch",
]
