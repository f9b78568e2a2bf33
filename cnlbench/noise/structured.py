"""Structured, feature-linked noise (Thulasidasan et al. 2019, the DAC paper). Pure numpy/scipy.

Images are (N, H, W, C) uint8. Every generator corrupts EXACTLY ``round(N * fraction)`` examples
(chosen uniformly at random) and gives each of them a label drawn uniformly from the OTHER
classes, so ``affected`` equals ``is_noisy``:

* :func:`randomize_classes`: all examples of the chosen classes get random labels.
* :func:`blur_and_randomize`: Gaussian blur (``scipy.ndimage.gaussian_filter``, deterministic)
  plus random labels.
* :func:`smudge_and_randomize`: a dark blob at a random position plus random labels.

:func:`blur_images` and :func:`smudge_images` add the same feature to a fraction of (test)
images without touching labels, so abstention on the feature can be measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from cnlbench.errors import NoiseSpecError
from cnlbench.noise.apportion import round_half_up
from cnlbench.noise.matrices import validate_labels, validate_level, validate_num_classes
from cnlbench.noise.result import NoiseResult, make_result
from cnlbench.noise.sampling import check_rng

_CHUNK = 1024


@dataclass(frozen=True)
class StructuredNoise:
    """Output of a structured generator.

    images: (N, H, W, C) uint8 (a new array; None for label-only generators); labels: (N,)
    int64 noisy labels; affected: (N,) bool, the corrupted examples; noise: the NoiseResult
    describing the labels (mode "exact", requested_matrix None, spec names the generator).
    """

    images: np.ndarray | None
    labels: np.ndarray
    affected: np.ndarray
    noise: NoiseResult


def validate_images(images: object) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.dtype != np.uint8:
        raise NoiseSpecError(
            f"images have shape {arr.shape} and dtype {arr.dtype}; pass (N, H, W, C) uint8 images"
        )
    return arr


def choose_exact(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """(N,) bool mask with exactly ``round(n * fraction)`` True entries, uniformly at random."""
    count = int(round_half_up(n * fraction))
    mask = np.zeros(n, dtype=bool)
    if count:
        mask[rng.permutation(n)[:count]] = True
    return mask


def random_other_labels(labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """For each label, a class drawn uniformly from the OTHER K-1 classes (int64)."""
    if num_classes < 2:
        raise NoiseSpecError(f"random labels need K >= 2 classes (got K={num_classes})")
    shift = rng.integers(1, num_classes, size=labels.shape[0])
    return (labels + shift) % num_classes


def _labels_and_k(labels: object, num_classes: int | None) -> tuple[np.ndarray, int]:
    k = None if num_classes is None else validate_num_classes(num_classes)
    y = validate_labels(labels, k, name="labels")
    if y.shape[0] == 0:
        raise NoiseSpecError("labels are empty; pass at least one example")
    return y, int(y.max()) + 1 if k is None else k


def _finish(images, y, k, affected, rng, level, spec) -> StructuredNoise:
    noisy = y.copy()
    idx = np.flatnonzero(affected)
    noisy[idx] = random_other_labels(y[idx], k, rng)
    result = make_result(y, noisy, num_classes=k, level=level, requested_matrix=None, nested=False,
                         mode="exact", spec={"kind": "structured", "num_classes": k, "level": level, **spec},
                         is_noisy=affected.copy())
    return StructuredNoise(images=images, labels=result.noisy_labels, affected=affected, noise=result)


def randomize_classes(
    labels: object, classes: object, rng: np.random.Generator | int, *, num_classes: int | None = None
) -> StructuredNoise:
    """All examples of ``classes`` get labels drawn uniformly from the other K-1 classes."""
    rng = check_rng(rng)
    y, k = _labels_and_k(labels, num_classes)
    cls = np.unique(np.asarray(classes))
    if cls.size == 0 or not np.issubdtype(cls.dtype, np.integer) or cls.min() < 0 or cls.max() >= k:
        raise NoiseSpecError(f"classes={np.asarray(classes).tolist()!r} must be a non-empty list of class ids in 0..{k - 1}")
    if k < 2:
        raise NoiseSpecError(f"randomize_classes needs K >= 2 classes (got K={k})")
    affected = np.isin(y, cls)
    level = float(affected.mean())
    return _finish(None, y, k, affected, rng, level,
                   {"generator": "dac-random-classes", "classes": cls.tolist()})


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    out = np.empty_like(images)
    for start in range(0, images.shape[0], _CHUNK):
        c = images[start : start + _CHUNK].astype(np.float32)
        b = gaussian_filter(c, sigma=(0.0, sigma, sigma, 0.0), mode="reflect")
        out[start : start + _CHUNK] = np.clip(np.rint(b), 0, 255).astype(np.uint8)
    return out


def _smudge(images: np.ndarray, rng: np.random.Generator, radius: float, strength: float) -> np.ndarray:
    n, h, w, _ = images.shape
    cy = rng.random(n) * h
    cx = rng.random(n) * w
    yy = np.arange(h, dtype=np.float32)[None, :, None] + 0.5
    xx = np.arange(w, dtype=np.float32)[None, None, :] + 0.5
    r = radius * min(h, w)
    out = np.empty_like(images)
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        d2 = (yy - cy[sl, None, None]) ** 2 + (xx - cx[sl, None, None]) ** 2
        alpha = strength * np.exp(-d2 / (2.0 * (r / 2.0) ** 2))  # Gaussian blob, ~dark disc of radius r
        out[sl] = np.rint(images[sl].astype(np.float32) * (1.0 - alpha[..., None])).astype(np.uint8)
    return out


def _check_positive(name: str, value: float, upper: float | None = None) -> float:
    if not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0 or (upper is not None and value > upper):
        bound = f" and <= {upper}" if upper is not None else ""
        raise NoiseSpecError(f"{name}={value!r} must be a finite number > 0{bound}")
    return float(value)


def blur_images(
    images: object, fraction: float, rng: np.random.Generator | int, *, sigma: float = 2.5
) -> tuple[np.ndarray, np.ndarray]:
    """Blur exactly ``round(N * fraction)`` random images (labels untouched, e.g. on a test split).

    Returns (new images (N, H, W, C) uint8, affected (N,) bool).
    """
    rng = check_rng(rng)
    x = validate_images(images)
    p = validate_level(fraction, name="fraction")
    sigma = _check_positive("sigma", sigma)
    affected = choose_exact(x.shape[0], p, rng)
    out = x.copy()
    idx = np.flatnonzero(affected)
    if idx.size:
        out[idx] = _blur(x[idx], sigma)
    return out, affected


def smudge_images(
    images: object, fraction: float, rng: np.random.Generator | int, *, radius: float = 0.2, strength: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    """Add a dark smudge (a Gaussian blob of relative ``radius`` and darkening ``strength`` at a
    random position) to exactly ``round(N * fraction)`` random images; labels untouched.

    Returns (new images (N, H, W, C) uint8, affected (N,) bool).
    """
    rng = check_rng(rng)
    x = validate_images(images)
    p = validate_level(fraction, name="fraction")
    radius = _check_positive("radius", radius, 1.0)
    strength = _check_positive("strength", strength, 1.0)
    affected = choose_exact(x.shape[0], p, rng)
    out = x.copy()
    idx = np.flatnonzero(affected)
    if idx.size:
        out[idx] = _smudge(x[idx], rng, radius, strength)
    return out, affected


def _image_inputs(
    images: object, labels: object, fraction: float, num_classes: int | None
) -> tuple[np.ndarray, np.ndarray, int, float]:
    x = validate_images(images)
    y, k = _labels_and_k(labels, num_classes)
    if x.shape[0] != y.shape[0]:
        raise NoiseSpecError(f"{x.shape[0]} images but {y.shape[0]} labels; pass one label per image")
    p = validate_level(fraction, name="fraction")
    if p > 0 and k < 2:
        raise NoiseSpecError(f"random labels need K >= 2 classes (got K={k})")
    return x, y, k, p


def blur_and_randomize(
    images: object, labels: object, fraction: float, rng: np.random.Generator | int, *,
    sigma: float = 2.5, num_classes: int | None = None,
) -> StructuredNoise:
    """Blur exactly ``round(N * fraction)`` images and give them random (wrong) labels."""
    x, y, k, p = _image_inputs(images, labels, fraction, num_classes)
    out, affected = blur_images(x, p, rng, sigma=sigma)
    return _finish(out, y, k, affected, rng, p, {"generator": "dac-blur", "sigma": float(sigma)})


def smudge_and_randomize(
    images: object, labels: object, fraction: float, rng: np.random.Generator | int, *,
    radius: float = 0.2, strength: float = 0.9, num_classes: int | None = None,
) -> StructuredNoise:
    """Smudge exactly ``round(N * fraction)`` images and give them random (wrong) labels."""
    x, y, k, p = _image_inputs(images, labels, fraction, num_classes)
    out, affected = smudge_images(x, p, rng, radius=radius, strength=strength)
    return _finish(out, y, k, affected, rng, p,
                   {"generator": "dac-smudge", "radius": float(radius), "strength": float(strength)})
