"""Instance-dependent noise with exact counts (pure numpy + scipy.special).

* :func:`part_dependent_noise`: Xia et al. 2020 ("Part-dependent label noise"): each example
  gets a flip rate from a normal around the level (std 0.1) truncated to [0, 1], and a random
  projection ``W[y]`` (features x K, one per clean class) of its flattened, normalised features
  picks the wrong class by a softmax over the OTHER classes. Made exact: exactly
  ``round(N * level)`` examples flip, chosen by weighted sampling without replacement with the
  sampled rates as weights (Efraimidis-Spirakis keys), so nominal 0 gives 0 flips exactly.
* :func:`confusion_noise`: Chen et al. 2021: given class probabilities from a model trained on
  clean labels, flip exactly the ``round(N * level)`` examples whose highest wrong-class
  probability is largest, each to that most confusable class.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from cnlbench.errors import NoiseSpecError
from cnlbench.noise.apportion import round_half_up
from cnlbench.noise.matrices import validate_labels, validate_level, validate_num_classes
from cnlbench.noise.result import NoiseResult, make_result
from cnlbench.noise.sampling import check_rng

_CHUNK = 4096


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normals from ``rng.random`` by the inverse CDF (a stable stream on any machine)."""
    u = rng.random(shape)
    return ndtri(np.where(u > 0, u, np.nextafter(0.0, 1.0)))


def truncated_normal_rates(level: float, n: int, rng: np.random.Generator, *, std: float = 0.1) -> np.ndarray:
    """(n,) float64 per-example flip rates: Normal(level, std) truncated to [0, 1] (inverse CDF)."""
    a, b = ndtr((0.0 - level) / std), ndtr((1.0 - level) / std)
    u = rng.random(n)
    x = level + std * ndtri(a + u * (b - a))
    return np.clip(x, 0.0, 1.0)  # guards float round-off at the truncation points only


def _weighted_choice_exact(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of exactly k items drawn without replacement with probability ~ weights
    (Efraimidis-Spirakis: the k largest ``log(u) / w``); zero weights are taken last."""
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    u = rng.random(weights.shape[0])
    with np.errstate(divide="ignore"):
        keys = np.where(weights > 0, np.log(np.where(u > 0, u, 1e-300)) / np.where(weights > 0, weights, 1.0), -np.inf)
    idx = np.argpartition(-keys, k - 1)[:k] if k < weights.shape[0] else np.arange(weights.shape[0])
    return np.sort(idx).astype(np.int64)


def _flatten_features(features: object, n: int) -> np.ndarray:
    x = np.asarray(features)
    if x.ndim < 2 or x.shape[0] != n:
        raise NoiseSpecError(
            f"features have shape {x.shape}; pass an (N, ...) array with one row per label (N={n})"
        )
    if not (np.issubdtype(x.dtype, np.number) and x.dtype != bool):
        raise NoiseSpecError(f"features have dtype {x.dtype}; pass numeric features (e.g. uint8 images)")
    return x.reshape(n, -1)


def _feature_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std over all rows, computed in chunks (float64)."""
    d = x.shape[1]
    s1, s2 = np.zeros(d), np.zeros(d)
    for start in range(0, x.shape[0], _CHUNK):
        c = x[start : start + _CHUNK].astype(np.float64)
        s1 += c.sum(axis=0)
        s2 += (c * c).sum(axis=0)
    mean = s1 / x.shape[0]
    std = np.sqrt(np.maximum(s2 / x.shape[0] - mean * mean, 0.0))
    if not np.all(np.isfinite(mean)):
        raise NoiseSpecError("features contain NaN or inf; pass finite features")
    return mean, np.where(std > 0, std, 1.0)


def part_dependent_noise(
    features: object,
    clean_labels: object,
    level: float,
    rng: np.random.Generator | int,
    *,
    num_classes: int | None = None,
    std: float = 0.1,
) -> NoiseResult:
    """Xia et al. 2020 part-dependent noise with exactly ``round(N * level)`` flipped examples.

    Args:
        features: (N, ...) numeric (e.g. (N, H, W, C) uint8 images); flattened to (N, d), each
            dimension standardised over the dataset, each row scaled to unit L2 norm.
        clean_labels: (N,) int class ids in 0..K-1.
        level: target fraction of flipped examples, in [0, 1).
        rng: all draws (rates, projections W ~ N(0, 1) of shape (K, d, K), selection, classes).
        num_classes: K (default ``max(label) + 1``); K >= 2 when level > 0.
        std: standard deviation of the per-example rate distribution (0.1 in the paper).
    Returns:
        NoiseResult, mode "exact", ``requested_matrix=None``; flipped examples never keep their
        clean label.
    """
    rng = check_rng(rng)
    p = validate_level(level)
    if not (isinstance(std, (int, float)) and np.isfinite(std) and std > 0):
        raise NoiseSpecError(f"std={std!r} must be a positive number (the paper uses 0.1)")
    y = validate_labels(clean_labels, None if num_classes is None else validate_num_classes(num_classes))
    n = y.shape[0]
    if n == 0:
        raise NoiseSpecError("clean_labels is empty; pass at least one example")
    k = int(y.max()) + 1 if num_classes is None else int(num_classes)
    x = _flatten_features(features, n)
    if p > 0 and k < 2:
        raise NoiseSpecError(f"level={p} needs K >= 2 classes (got K={k}); there is no wrong class to flip to")
    count = int(round_half_up(n * p))
    rates = truncated_normal_rates(p, n, rng, std=std)
    chosen = _weighted_choice_exact(rates, count, rng)
    noisy = y.copy()
    if count:
        mean, sd = _feature_stats(x)
        d = x.shape[1]
        u = rng.random(count)
        for c in range(k):  # one projection per clean class, as in the paper
            W = standard_normal(rng, (d, k))
            sel = np.flatnonzero(y[chosen] == c)
            for start in range(0, sel.shape[0], _CHUNK):
                part = sel[start : start + _CHUNK]
                f = (x[chosen[part]].astype(np.float64) - mean) / sd
                f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
                logits = f @ W
                logits[:, c] = -np.inf
                logits -= logits.max(axis=1, keepdims=True)
                prob = np.exp(logits)
                cum = np.cumsum(prob, axis=1)
                cum /= cum[:, -1:]
                # first class whose cumulative probability exceeds u; class c has probability 0
                noisy[chosen[part]] = (u[part, None] >= cum).sum(axis=1)
    spec = {"kind": "instance", "generator": "xia2020-part-dependent", "num_classes": k, "level": p,
            "rate_std": std, "selection": "exactly round(N*level) examples, weighted by the sampled rates",
            "features": "flattened, standardised per dimension, unit L2 norm per example"}
    return make_result(y, noisy, num_classes=k, level=p, requested_matrix=None, nested=False, mode="exact", spec=spec)


def confusion_noise(probs: object, clean_labels: object, level: float) -> NoiseResult:
    """Chen et al. 2021: flip the ``round(N * level)`` most confusable examples.

    Args:
        probs: (N, K) nonnegative class probabilities (e.g. averaged softmax of a model trained on
            clean labels); K >= 2.
        clean_labels: (N,) int class ids in 0..K-1.
        level: fraction in [0, 1).
    Returns:
        NoiseResult (mode "exact", ``requested_matrix=None``): the examples with the highest
        max wrong-class probability (ties: lower index first) get that wrong class.
        Deterministic: no randomness is involved.
    """
    p = validate_level(level)
    P = np.asarray(probs, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] < 2:
        raise NoiseSpecError(f"probs have shape {P.shape}; pass an (N, K) array with K >= 2 classes")
    if not np.all(np.isfinite(P)) or np.any(P < 0):
        raise NoiseSpecError("probs contain NaN, inf or negative values; pass nonnegative class probabilities")
    n, k = P.shape
    y = validate_labels(clean_labels, k)
    if y.shape[0] != n:
        raise NoiseSpecError(f"probs have {n} rows but clean_labels has {y.shape[0]}; pass one row per example")
    wrong = P.copy()
    wrong[np.arange(n), y] = -np.inf
    target = np.argmax(wrong, axis=1)
    score = wrong[np.arange(n), target]
    count = int(round_half_up(n * p))
    chosen = np.argsort(-score, kind="stable")[:count]
    noisy = y.copy()
    noisy[chosen] = target[chosen]
    spec = {"kind": "instance", "generator": "chen2021-confusion", "num_classes": k, "level": p,
            "selection": "exactly round(N*level) examples with the highest max wrong-class probability"}
    return make_result(y, noisy, num_classes=k, level=p, requested_matrix=None, nested=False, mode="exact", spec=spec)
