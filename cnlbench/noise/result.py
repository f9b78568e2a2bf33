"""`NoiseResult`: one noisy label assignment plus everything needed to describe it exactly.

Matrix orientation everywhere: row-stochastic, ``T[i, j] = P(noisy = j | clean = i)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

ORIENTATION = "T[i,j] = P(noisy=j | clean=i)"


def realised_counts(clean: np.ndarray, noisy: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 confusion counts, ``counts[i, j] = #(clean == i and noisy == j)``."""
    flat = clean.astype(np.int64) * num_classes + noisy.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def row_normalise(counts: np.ndarray) -> np.ndarray:
    """(K, K) float64: each row divided by its sum; a row with no examples stays all zeros."""
    sums = np.asarray(counts).sum(axis=1, keepdims=True)
    if np.all(sums > 0):
        return counts / sums
    return np.divide(counts, sums, out=np.zeros(np.shape(counts)), where=sums > 0)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class NoiseResult:
    """A noisy label assignment and its exact description.

    Attributes:
        noisy_labels: (N,) int64, the label to train on.
        is_noisy: (N,) bool, ``noisy_labels != clean`` (or the example was corrupted).
        level: the requested level, a fraction in [0, 1) (external labels: the realised rate).
        realised_rate: ``is_noisy.mean()``.
        requested_matrix: (K, K) float64 row-stochastic ``T[i,j] = P(noisy=j | clean=i)``, or
            None when the noise is not class-conditional (instance-dependent, external labels).
        realised_counts: (K, K) int64, ``counts[i, j] = #(clean == i and noisy == j)``.
        realised_matrix: (K, K) float64, ``realised_counts`` row-normalised.
        nested: whether this assignment belongs to a nested family of levels.
        mode: ``"exact"`` (exact counts), ``"per-sample"`` (independent draws per example) or
            ``"external"`` (given labels).
        spec: JSON-able description of the noise model.
    """

    noisy_labels: np.ndarray
    is_noisy: np.ndarray
    level: float
    realised_rate: float
    requested_matrix: np.ndarray | None
    realised_counts: np.ndarray
    realised_matrix: np.ndarray
    nested: bool
    mode: str
    spec: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("noisy_labels", "is_noisy", "realised_counts", "realised_matrix", "requested_matrix"):
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                _readonly(value)

    @property
    def num_classes(self) -> int:
        return int(self.realised_counts.shape[0])

    @property
    def num_noisy(self) -> int:
        return int(self.is_noisy.sum())

    def to_metadata(self) -> dict[str, Any]:
        """JSON-able dict for the manifest's ``cnlbench`` metadata (matrices as nested lists)."""
        return {
            "level": float(self.level),
            "realised_rate": float(self.realised_rate),
            "num_examples": int(self.is_noisy.shape[0]),
            "num_noisy": int(self.is_noisy.sum()),
            "orientation": ORIENTATION,
            "requested_matrix": None if self.requested_matrix is None else self.requested_matrix.tolist(),
            "realised_matrix": self.realised_matrix.tolist(),
            "realised_counts": self.realised_counts.tolist(),
            "nested": bool(self.nested),
            "mode": self.mode,
            "spec": _jsonable(self.spec),
        }


def _jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays inside a spec to plain Python (lists, int, float)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def make_result(
    clean: np.ndarray,
    noisy: np.ndarray,
    *,
    num_classes: int,
    level: float,
    requested_matrix: np.ndarray | None,
    nested: bool,
    mode: str,
    spec: dict[str, Any],
    is_noisy: np.ndarray | None = None,
    counts: np.ndarray | None = None,
) -> NoiseResult:
    """Assemble a NoiseResult; counts are computed from the labels unless given (exact paths)."""
    noisy = np.ascontiguousarray(noisy, dtype=np.int64)
    if is_noisy is None:
        is_noisy = noisy != clean
    if counts is None:
        counts = realised_counts(clean, noisy, num_classes)
    n = is_noisy.shape[0]
    return NoiseResult(
        noisy_labels=noisy,
        is_noisy=np.ascontiguousarray(is_noisy, dtype=bool),
        level=float(level),
        realised_rate=float(is_noisy.sum() / n) if n else 0.0,
        requested_matrix=None if requested_matrix is None else np.array(requested_matrix, dtype=np.float64),
        realised_counts=np.asarray(counts, dtype=np.int64),
        realised_matrix=row_normalise(counts),
        nested=bool(nested),
        mode=mode,
        spec=_jsonable(spec),
    )
