"""External noisy-label files: one label per training example, in source order.

Accepted formats (chosen by suffix):

* ``.npy``: a 1-D integer array, loaded with ``allow_pickle=False``;
* ``.txt`` / ``.csv`` with one integer per line (blank lines and ``#`` comments ignored);
* ``.csv`` with two columns ``clean,noisy`` per row (an optional header line ``clean,noisy``):
  the clean column must equal the source's training labels, which guards against order
  mismatches.

:func:`read_external_labels` reads and validates; :func:`external_noise` turns the labels into
a :class:`cnlbench.noise.NoiseResult` (realised rate and matrix) via
``cnlbench.noise.from_external_labels``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnlbench.errors import MissingDataError, SourceError

if TYPE_CHECKING:  # pragma: no cover
    from cnlbench.noise import NoiseResult

__all__ = ["external_noise", "read_external_labels", "validate_external_labels"]


def _parse_int(text: str, path: Path, line_no: int) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise SourceError(
            f"{path} line {line_no}: {text.strip()!r} is not an integer label; write one "
            "0-based class index per line (or clean,noisy pairs)"
        ) from None


def read_external_labels(path: str | Path) -> tuple[np.ndarray | None, np.ndarray]:
    """``(clean or None, noisy)`` (N,) int64 arrays read from ``path`` (formats above)."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(
            f"external label file {path} not found; give a path (relative to the recipe) to a "
            ".npy, .txt or .csv file with one noisy label per training example"
        )
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise SourceError(
                f"{path}: cannot load without pickle ({e}); save a plain integer array with "
                "numpy.save(path, labels.astype('int64'))"
            ) from None
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise SourceError(f"{path}: array is {arr.dtype} {arr.shape}, expected (N,) integers")
        return None, arr.astype(np.int64)
    if suffix not in (".txt", ".csv"):
        raise SourceError(f"{path}: unsupported suffix {suffix!r}; use .npy, .txt or .csv")
    rows: list[list[str]] = []
    line_nos: list[int] = []
    with open(path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in row]
            if not cells or not cells[0] or cells[0].startswith("#"):
                continue
            rows.append(cells)
            line_nos.append(i)
    if rows and [c.lower() for c in rows[0]] in (["clean", "noisy"], ["label"], ["noisy"]):
        rows, line_nos = rows[1:], line_nos[1:]
    if not rows:
        raise SourceError(f"{path} holds no labels; write one label per training example")
    width = {len(r) for r in rows}
    if width == {1}:
        return None, np.array([_parse_int(r[0], path, n) for r, n in zip(rows, line_nos)], dtype=np.int64)
    if width == {2}:
        clean = np.array([_parse_int(r[0], path, n) for r, n in zip(rows, line_nos)], dtype=np.int64)
        noisy = np.array([_parse_int(r[1], path, n) for r, n in zip(rows, line_nos)], dtype=np.int64)
        return clean, noisy
    raise SourceError(
        f"{path}: rows have {sorted(width)} columns; use one label per row or 'clean,noisy' pairs"
    )


def validate_external_labels(
    path: str | Path,
    clean_labels: np.ndarray,
    num_classes: int,
) -> np.ndarray:
    """Read ``path`` and check it against the source's (N,) clean training labels.

    Checks: one row per example (length N), labels in ``0..num_classes-1``, and for
    ``clean,noisy`` files that the clean column equals ``clean_labels``. Returns the noisy
    labels (N,) int64.
    """
    clean_ref = np.asarray(clean_labels, dtype=np.int64)
    clean, noisy = read_external_labels(path)
    n = len(clean_ref)
    if len(noisy) != n:
        raise SourceError(
            f"{path}: {len(noisy)} labels for {n} training examples; the file needs exactly one "
            "row per training example, in source order"
        )
    for what, arr in (("noisy", noisy), ("clean", clean)):
        if arr is not None and (arr.min() < 0 or arr.max() >= num_classes):
            bad = int(np.flatnonzero((arr < 0) | (arr >= num_classes))[0])
            raise SourceError(
                f"{path}: {what} label {arr[bad]} at row {bad} is outside 0..{num_classes - 1}; "
                "labels must be 0-based class indices"
            )
    if clean is not None and not np.array_equal(clean, clean_ref):
        bad = int(np.flatnonzero(clean != clean_ref)[0])
        raise SourceError(
            f"{path}: clean column differs from the source's labels ({int((clean != clean_ref).sum())} "
            f"rows, first at row {bad}: file {clean[bad]} vs source {clean_ref[bad]}); the file "
            "is in a different order or for another dataset"
        )
    return noisy


def external_noise(
    path: str | Path,
    clean_labels: np.ndarray,
    num_classes: int,
    *,
    noise_source: str = "human",
) -> "NoiseResult":
    """Validated external labels as a :class:`~cnlbench.noise.NoiseResult` (realised rate and
    matrix computed by ``cnlbench.noise.from_external_labels``)."""
    from cnlbench.noise import from_external_labels

    noisy = validate_external_labels(path, clean_labels, num_classes)
    return from_external_labels(np.asarray(clean_labels, dtype=np.int64), noisy, source=noise_source)
