"""Externally given noisy labels (CIFAR-10N/100N human label sets, label files): check that an
array is hard labels (:func:`hard_labels`) and describe it against the clean labels
(:func:`from_external_labels`). Pure numpy; the files are read by the families that use them
(:mod:`cnlbench.manifest.family_external`, :mod:`cnlbench.sources.cifar_n`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnlbench.errors import NoiseSpecError, SourceError
from cnlbench.noise.matrices import validate_labels, validate_num_classes
from cnlbench.noise.result import NoiseResult, make_result

#: What every reader of external labels asks for when a file holds something else.
EXPECTED_LABELS = (
    "cnlbench needs one hard noisy label per training example: an (N,) array of integer class "
    "indices 0..K-1 (e.g. numpy.save(path, labels.astype('int64')))"
)


def hard_labels(value: Any, where: str) -> np.ndarray:
    """``value`` as (N,) int64 hard labels, or a :class:`SourceError` naming ``where`` that says
    what is wrong: soft labels ((N, K) floats), another shape, non-integer values."""
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise SourceError(f"{where}: not a flat list of labels ({exc}); {EXPECTED_LABELS}") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 2 and arr.dtype.kind in "fiub" and arr.shape[1] > 1:
        raise SourceError(
            f"{where}: soft labels are not supported: the file holds an {arr.shape} {arr.dtype} array (a label "
            f"distribution or several annotations per example). {EXPECTED_LABELS}; reduce each row to one label "
            "first (a majority vote, or a draw with your own seeded generator)"
        )
    if arr.ndim != 1:
        raise SourceError(f"{where}: labels have shape {arr.shape} ({arr.dtype}); {EXPECTED_LABELS}")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and len(arr):
        bad = np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))
        if not len(bad):
            return arr.astype(np.int64)
        raise SourceError(f"{where}: label {arr[bad[0]]!r} at row {int(bad[0])} is not a whole number; {EXPECTED_LABELS}")
    if arr.dtype.kind == "b":
        raise SourceError(f"{where}: labels are booleans; {EXPECTED_LABELS}")
    bad_row = 0
    if arr.dtype.kind == "O":
        bad_row = next((i for i, v in enumerate(arr.tolist()) if isinstance(v, bool) or not isinstance(v, int)), 0)
    elif not len(arr):
        raise SourceError(f"{where} holds no labels; {EXPECTED_LABELS}")
    raise SourceError(f"{where}: label {arr.tolist()[bad_row]!r:.40} at row {bad_row} is not an integer; {EXPECTED_LABELS}")


def from_external_labels(
    clean_labels: object,
    noisy_labels: object,
    *,
    source: str = "human",
    num_classes: int | None = None,
    name: str | None = None,
) -> NoiseResult:
    """Describe an externally given noisy label array against the clean labels.

    Args:
        clean_labels, noisy_labels: (N,) integer class ids in 0..K-1, same length, same order.
        source: where the labels come from (``"human"`` for CIFAR-10N style sets).
        num_classes: K (default: ``max(clean, noisy) + 1``).
        name: optional label-set name to record (e.g. ``"cifar10n-worst"``).
    Returns:
        NoiseResult with ``mode="external"``, ``requested_matrix=None``, ``level`` equal to the
        realised rate, and the realised (K, K) counts and row-normalised matrix (a class with no
        examples has an all-zero row).
    """
    if not isinstance(source, str) or not source:
        raise NoiseSpecError(f"source={source!r} must be a non-empty string such as 'human'")
    k = None if num_classes is None else validate_num_classes(num_classes)
    clean = validate_labels(clean_labels, k, name="clean_labels")
    noisy = validate_labels(noisy_labels, k, name="noisy_labels")
    if clean.shape != noisy.shape:
        raise NoiseSpecError(
            f"noisy_labels has {noisy.shape[0]} entries but clean_labels has {clean.shape[0]}; "
            "pass one noisy label per clean example, in the same order"
        )
    if clean.shape[0] == 0:
        raise NoiseSpecError("clean_labels is empty; pass at least one example")
    if k is None:
        k = int(max(clean.max(), noisy.max())) + 1
    is_noisy = noisy != clean
    rate = float(is_noisy.mean())
    spec = {"kind": "external", "source": source, "num_classes": k}
    if name is not None:
        spec["name"] = str(name)
    return make_result(clean, noisy, num_classes=k, level=rate, requested_matrix=None, nested=False,
                       mode="external", spec=spec, is_noisy=is_noisy)
