"""Fixtures for the harness tests: real digits images in memory (the digits default build,
``digits_dir``, is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnlbench.harness.data import HostSplit, TaskData


def digits_task(noise: float = 0.2, seed: int = 0, n_train: int | None = None) -> TaskData:
    """scikit-learn's real 8x8 digits as an in-memory task: 60/15/25 train/val/test by position,
    symmetric noise at rate ``noise`` on train and validation (exact count, seeded)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    a, b = int(0.6 * len(order)), int(0.75 * len(order))
    tr, va, te = order[:a], order[a:b], order[b:]
    if n_train is not None:
        tr = tr[:n_train]

    def noisy(idx: np.ndarray) -> HostSplit:
        y = labels[idx].copy()
        flip = rng.permutation(len(idx))[: int(round(noise * len(idx)))]
        y[flip] = (y[flip] + rng.integers(1, 10, len(flip))) % 10
        return HostSplit(images[idx], y, labels[idx], y != labels[idx])

    return TaskData.from_host(
        dataset="digits", config=f"sym-{int(noise * 100):02d}", class_names=[str(d) for d in range(10)],
        train=noisy(tr), validation=noisy(va), test=HostSplit(images[te], labels[te]),
        noise_kind="sym", noise_level=noise, fingerprint="mem-digits",
    )


@pytest.fixture(scope="session")
def make_digits_task():
    """:func:`digits_task` as a fixture (test modules are not a package)."""
    return digits_task
