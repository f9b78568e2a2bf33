"""Noise presets and families (pure numpy).

A *family* maps a level ``p`` to a row-stochastic transition matrix ``T(p)``
(``T[i,j] = P(noisy=j | clean=i)``). Every built-in family has the form
``T(p) = (1 - p) I + p R`` with a fixed flip matrix ``R``, so the off-diagonal (destination)
distribution is the same at every level, which nested levels require.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnlbench.errors import NoiseSpecError
from cnlbench.noise.matrices import (
    from_base,
    validate_level,
    validate_num_classes,
    validate_transition_matrix,
)

# Patrini et al. 2017: truck->automobile, bird->airplane, deer->horse, cat<->dog.
CIFAR10_PAIRS: tuple[tuple[int, int], ...] = ((9, 1), (2, 0), (4, 7), (3, 5), (5, 3))

# Official coarse label of each fine label (the CIFAR-100 python release's `coarse_labels`); the
# class names are the CIFAR source's (cnlbench.sources.cifar), in the same order.
CIFAR100_FINE_TO_COARSE: tuple[int, ...] = (
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
    6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
    5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
)


def cifar10_flip_matrix() -> np.ndarray:
    """(10, 10) flip matrix R of the CIFAR-10 pairs: ``T(p) = (1 - p) I + p R``."""
    R = np.eye(10)
    for src, dst in CIFAR10_PAIRS:
        R[src, src] = 0.0
        R[src, dst] = 1.0
    return R


def cifar10_asymmetric_matrix(level: float) -> np.ndarray:
    """CIFAR-10 asymmetric noise (Patrini et al.), (10, 10) float64, ``T[i,j] = P(noisy=j | clean=i)``.

    truck->automobile (9->1), bird->airplane (2->0), deer->horse (4->7), cat<->dog (3<->5), each
    with probability ``level``; the other classes keep their label. Flips are defined on the
    CLEAN labels (no sequential re-flipping of already flipped labels).
    """
    return from_base(cifar10_flip_matrix(), validate_level(level), validated=True)


def cifar100_next_in_superclass(*, legacy_blocks: bool = False) -> np.ndarray:
    """(100,) int64: the fine class each fine class flips to (next one in its superclass, cyclic).

    Official superclasses by default; ``legacy_blocks=True`` uses the contiguous blocks of 5
    indices that most repositories use (NOT the real superclasses, kept for comparability).
    """
    if legacy_blocks:
        i = np.arange(100)
        return (i // 5) * 5 + (i % 5 + 1) % 5
    coarse = np.asarray(CIFAR100_FINE_TO_COARSE)
    nxt = np.empty(100, dtype=np.int64)
    for c in range(20):
        members = np.flatnonzero(coarse == c)  # ascending fine ids
        nxt[members] = np.roll(members, -1)
    return nxt


def cifar100_superclass_matrix(level: float, *, legacy_blocks: bool = False) -> np.ndarray:
    """CIFAR-100 asymmetric noise, (100, 100) float64: with probability ``level`` a fine class flips
    to the next fine class of its official superclass (cyclic, in fine-label order).
    ``legacy_blocks=True``: the contiguous block-of-5 variant (``cifar100-legacy-blocks``).
    """
    p = validate_level(level)
    T = (1.0 - p) * np.eye(100)
    T[np.arange(100), cifar100_next_in_superclass(legacy_blocks=legacy_blocks)] += p
    return T


class NoiseFamily:
    """A named family ``level -> T(level) = (1 - level) I + level * R`` with a fixed flip matrix R.

    ``flip_matrix`` is R (K, K), row-stochastic, ``R[i, j] = P(noisy=j | clean=i, flipped by the
    model)``; calling the family returns the (K, K) transition matrix at a level. ``spec`` is a
    JSON-able description recorded in every manifest.
    """

    def __init__(self, name: str, flip_matrix: np.ndarray, spec: dict[str, Any]):
        self.flip_matrix = validate_transition_matrix(flip_matrix)
        self.name = name
        self.num_classes = int(self.flip_matrix.shape[0])
        self.spec = {"family": name, "num_classes": self.num_classes, **spec}

    def __call__(self, level: float) -> np.ndarray:
        return from_base(self.flip_matrix, validate_level(level), validated=True)

    def __repr__(self) -> str:
        return f"NoiseFamily({self.name!r}, num_classes={self.num_classes})"


def _fixed_classes(name: str, num_classes: int, expected: int) -> None:
    if num_classes != expected:
        raise NoiseSpecError(f"family {name!r} is defined for {expected} classes, got num_classes={num_classes}; pass {expected}")


def _off_diagonal_uniform(k: int) -> np.ndarray:
    R = np.full((k, k), 1.0 / (k - 1))
    np.fill_diagonal(R, 0.0)
    return R


FAMILY_NAMES = ("symmetric", "symmetric-all", "pair-flip", "cifar10", "cifar100", "cifar100-legacy-blocks", "matrix")


def make_family(name: str, num_classes: int, **params: Any) -> NoiseFamily:
    """Build a named noise family.

    Names: ``symmetric`` (flip to a uniformly random incorrect class), ``symmetric-all``
    (DivideMix/ELR compatibility: uniform over ALL classes, realised rate ``p (K-1)/K``),
    ``pair-flip`` (i -> i+1 mod K), ``cifar10`` (Patrini pairs, K=10), ``cifar100`` (next class
    in the official superclass, K=100), ``cifar100-legacy-blocks`` (contiguous blocks of 5),
    ``matrix`` (``base=B``: a row-stochastic flip matrix, ``T(p) = (1-p) I + p B``).
    """
    k = validate_num_classes(num_classes)
    allowed = {"matrix": {"base"}}.get(name, set())
    extra = set(params) - allowed
    if extra:
        raise NoiseSpecError(f"family {name!r} takes no parameter(s) {sorted(extra)}; allowed: {sorted(allowed) or 'none'}")
    if name == "symmetric":
        if k < 2:
            raise NoiseSpecError(f"family 'symmetric' needs num_classes >= 2, got {k}: there is no incorrect class to flip to")
        return NoiseFamily(name, _off_diagonal_uniform(k), {
            "kind": "symmetric", "description": "flip to a uniformly random INCORRECT class; T = (1-p) I + p/(K-1) off-diagonal"})
    if name == "symmetric-all":
        return NoiseFamily(name, np.full((k, k), 1.0 / k), {
            "kind": "symmetric-all",
            "description": "DivideMix/ELR compatibility: new label uniform over ALL classes, T = (1-p) I + p/K ones; "
                           "the realised flip rate is p(K-1)/K, not p"})
    if name == "pair-flip":
        if k < 2:
            raise NoiseSpecError(f"family 'pair-flip' needs num_classes >= 2, got {k}")
        return NoiseFamily(name, np.roll(np.eye(k), 1, axis=1), {
            "kind": "pair-flip", "description": "Han et al. 2018: class i -> (i+1) mod K with probability p"})
    if name == "cifar10":
        _fixed_classes(name, k, 10)
        return NoiseFamily(name, cifar10_flip_matrix(), {
            "kind": "asymmetric", "description": "CIFAR-10 pairs (Patrini et al.): truck->automobile, bird->airplane, "
                                                 "deer->horse, cat<->dog with probability p; other classes unchanged",
            "pairs": [list(pair) for pair in CIFAR10_PAIRS]})
    if name in ("cifar100", "cifar100-legacy-blocks"):
        _fixed_classes(name, k, 100)
        legacy = name == "cifar100-legacy-blocks"
        desc = ("LEGACY: next index within contiguous blocks of 5 (not the real superclasses)" if legacy
                else "next fine class within the same official CIFAR-100 superclass (cyclic)")
        return NoiseFamily(name, np.eye(100)[cifar100_next_in_superclass(legacy_blocks=legacy)], {
            "kind": "asymmetric", "description": desc,
            "flip_to": cifar100_next_in_superclass(legacy_blocks=legacy).tolist()})
    if name == "matrix":
        if "base" not in params:
            raise NoiseSpecError("family 'matrix' needs base=<(K, K) row-stochastic flip matrix>")
        B = validate_transition_matrix(params["base"], k)
        return NoiseFamily(name, B, {
            "kind": "matrix", "description": "T(p) = (1-p) I + p B for the given row-stochastic B", "base": B.tolist()})
    raise NoiseSpecError(f"unknown noise family {name!r}; choose one of {', '.join(FAMILY_NAMES)}")
