"""Shared checks for the noise tests (imported by test modules in this folder)."""

from __future__ import annotations

import numpy as np

EPS = 1e-9


def within_quota(counts: np.ndarray, quotas: np.ndarray) -> bool:
    """Each count is floor or ceil of its quota (with float tolerance)."""
    q = np.asarray(quotas, dtype=np.float64)
    return bool(np.all(counts >= np.floor(q + EPS) - 0) & np.all(counts <= np.ceil(q - EPS)))


def imbalanced_labels(k: int, *, base: int = 11, step: int = 3, seed: int = 0) -> np.ndarray:
    """Shuffled labels with class i having ``base + step * (i % 7)`` examples (int64)."""
    sizes = base + step * (np.arange(k) % 7)
    y = np.repeat(np.arange(k), sizes)
    return np.random.default_rng(seed).permutation(y)
