"""Transition matrices and input validation (pure numpy).

Orientation: row-stochastic, ``T[i, j] = P(noisy = j | clean = i)``; every row sums to 1 within
``ROW_SUM_TOL``. cleanlab's column orientation enters only through :func:`from_cleanlab`.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from cnlbench.errors import NoiseSpecError

ROW_SUM_TOL = 1e-6

DEFAULT_LEVELS: tuple[float, ...] = (0.0, 0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60, 0.80)


def validate_level(level: object, *, name: str = "level") -> float:
    """Return ``level`` as a float in [0, 1); raise NoiseSpecError otherwise (nothing is clipped)."""
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (Real, np.integer, np.floating)):
        raise NoiseSpecError(
            f"{name}={level!r} is not a number; pass a fraction in [0, 1), e.g. 0.4 for 40%"
        )
    value = float(level)
    if not math.isfinite(value) or not 0.0 <= value < 1.0:
        hint = " (levels are fractions: 40% is 0.4)" if math.isfinite(value) and 1.0 <= value <= 100.0 else ""
        raise NoiseSpecError(f"{name}={level!r} is outside [0, 1); pass a fraction in [0, 1){hint}")
    return value


def validate_levels(levels: object) -> tuple[float, ...]:
    """Validate a sequence of distinct levels; returns them as floats in the given order."""
    try:
        items = list(levels)  # type: ignore[call-overload]
    except TypeError:
        raise NoiseSpecError(f"levels={levels!r} is not a sequence; pass e.g. DEFAULT_LEVELS") from None
    if not items:
        raise NoiseSpecError("levels=[] is empty; pass at least one level, e.g. DEFAULT_LEVELS")
    values = tuple(validate_level(v, name=f"levels[{i}]") for i, v in enumerate(items))
    if len(set(values)) != len(values):
        dup = sorted({v for v in values if values.count(v) > 1})
        raise NoiseSpecError(f"levels contain duplicates {dup}; pass each level once")
    return values


def validate_num_classes(num_classes: object) -> int:
    if isinstance(num_classes, (bool, np.bool_)) or not isinstance(num_classes, (int, np.integer)):
        raise NoiseSpecError(f"num_classes={num_classes!r} is not an integer; pass the number of classes K >= 1")
    if int(num_classes) < 1:
        raise NoiseSpecError(f"num_classes={num_classes!r} must be >= 1; pass the number of classes K")
    return int(num_classes)


def validate_labels(
    labels: object, num_classes: int | None = None, *, name: str = "clean_labels", require_all_classes: bool = False
) -> np.ndarray:
    """Return ``labels`` as a (N,) int64 array with values in 0..K-1.

    With ``require_all_classes`` every class 0..K-1 must occur (a class with no examples has no
    defined flip rate).
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise NoiseSpecError(f"{name} has shape {arr.shape}; pass a 1-D array of integer class ids")
    if arr.size == 0 and arr.dtype == np.float64:  # an empty list: no values to check
        arr = arr.astype(np.int64)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise NoiseSpecError(
            f"{name} has dtype {arr.dtype}; pass integer class ids (e.g. labels.astype(np.int64))"
        )
    arr = arr.astype(np.int64, copy=False)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0:
            raise NoiseSpecError(f"{name} contains {lo}, below 0; class ids must be in 0..K-1")
        if num_classes is not None and hi >= num_classes:
            raise NoiseSpecError(
                f"{name} contains {hi}, outside 0..{num_classes - 1} for K={num_classes}; "
                "pass labels in 0..K-1 or a matrix/num_classes of the right size"
            )
    if require_all_classes:
        if num_classes is None:
            raise NoiseSpecError("num_classes is needed to check that every class occurs")
        if arr.size == 0:
            raise NoiseSpecError(f"{name} is empty; pass at least one example per class")
        counts = np.bincount(arr, minlength=num_classes)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            raise NoiseSpecError(
                f"class {int(empty[0])} has no examples in {name} (N={arr.size}, K={num_classes}, "
                f"{empty.size} empty classes); every class needs at least one example: pass labels "
                "covering all K classes or a transition matrix over only the classes present"
            )
    return arr


def validate_transition_matrix(T: object, num_classes: int | None = None) -> np.ndarray:
    """Check a row-stochastic transition matrix ``T[i, j] = P(noisy=j | clean=i)``.

    Returns a (K, K) float64 copy. Raises NoiseSpecError on a wrong shape, NaN/inf, negative
    entries, or a row whose sum differs from 1 by more than 1e-6.
    """
    try:
        arr = np.array(T, dtype=np.float64)
    except (TypeError, ValueError):
        raise NoiseSpecError(f"transition matrix {T!r} is not numeric; pass a (K, K) float array") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise NoiseSpecError(f"transition matrix has shape {arr.shape}; pass a square (K, K) matrix")
    k = arr.shape[0]
    if num_classes is not None and k != num_classes:
        raise NoiseSpecError(
            f"transition matrix is {k}x{k} but num_classes={num_classes}; pass a "
            f"{num_classes}x{num_classes} matrix"
        )
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        i, j = bad[0]
        raise NoiseSpecError(f"transition matrix entry T[{i},{j}]={arr[i, j]} is not finite; replace NaN/inf")
    bad = np.argwhere(arr < 0)
    if bad.size:
        i, j = bad[0]
        raise NoiseSpecError(f"transition matrix entry T[{i},{j}]={arr[i, j]} is negative; entries must be >= 0")
    sums = arr.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOL)
    if off.size:
        i = int(off[0])
        hint = (
            " (columns sum to 1: this looks like cleanlab's orientation; use from_cleanlab)"
            if np.allclose(arr.sum(axis=0), 1.0, atol=ROW_SUM_TOL)
            else ""
        )
        raise NoiseSpecError(
            f"row {i} of the transition matrix sums to {sums[i]!r}, not 1 (tolerance {ROW_SUM_TOL}); "
            f"rows are T[i,j] = P(noisy=j | clean=i) and must sum to 1{hint}"
        )
    return arr


def _need_two_classes(num_classes: int, level: float, what: str) -> None:
    if num_classes < 2 and level > 0:
        raise NoiseSpecError(
            f"{what} at level={level} needs K >= 2 classes (got K={num_classes}): with one class there "
            "is no incorrect label to flip to; use level 0 or more classes"
        )


def symmetric_matrix(num_classes: int, level: float, *, include_true_class: bool = False) -> np.ndarray:
    """Symmetric noise, (K, K) float64.

    Default: flip to a uniformly random INCORRECT class, ``T = (1-p) I + p/(K-1) (1 - I)``.
    ``include_true_class=True`` is the DivideMix/ELR compatibility variant that draws over ALL
    classes, ``T = (1-p) I + p/K * ones``; its realised flip rate is ``p (K-1)/K``.
    """
    k = validate_num_classes(num_classes)
    p = validate_level(level)
    if include_true_class:
        return (1.0 - p) * np.eye(k) + (p / k) * np.ones((k, k))
    _need_two_classes(k, p, "symmetric noise")
    if k == 1:
        return np.ones((1, 1))
    T = np.full((k, k), p / (k - 1))
    np.fill_diagonal(T, 1.0 - p)
    return T


def pair_flip_matrix(num_classes: int, level: float) -> np.ndarray:
    """Pair flip (Han et al. 2018): class i -> (i + 1) mod K with probability p. (K, K) float64."""
    k = validate_num_classes(num_classes)
    p = validate_level(level)
    _need_two_classes(k, p, "pair-flip noise")
    T = (1.0 - p) * np.eye(k)
    T[np.arange(k), (np.arange(k) + 1) % k] += p
    return T


def from_base(base: np.ndarray, level: float, *, validated: bool = False) -> np.ndarray:
    """``T(p) = (1 - p) I + p B`` (K, K) for a row-stochastic flip matrix ``B``."""
    B = base if validated else validate_transition_matrix(base)
    p = validate_level(level)
    T = p * B
    T[np.diag_indices_from(T)] += 1.0 - p
    return T


def from_cleanlab(noise_matrix: object) -> np.ndarray:
    """Convert cleanlab's column-oriented ``noise_matrix[i][j] = P(label=i | true=j)`` (columns sum
    to 1) into cnlbench's row orientation ``T[i, j] = P(noisy=j | clean=i)`` by transposing; validated.
    """
    try:
        arr = np.array(noise_matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise NoiseSpecError(f"noise_matrix {noise_matrix!r} is not numeric; pass a (K, K) float array") from None
    if arr.ndim != 2:
        raise NoiseSpecError(f"noise_matrix has shape {arr.shape}; pass a square (K, K) matrix")
    return validate_transition_matrix(arr.T)
