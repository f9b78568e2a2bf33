"""The ``structured`` noise family: feature-linked label noise (Thulasidasan et al. 2019, DAC).

Recipe entries (``configs:`` items)::

    - kind: blur              # configs blur-20, ...: one per level
      noise: structured
      generator: blur         # blur | smudge | random-classes
      levels: [0.2]           # fraction of images that get the feature AND a random wrong label
      sigma: 1.0              # blur: Gaussian sigma in pixels (default 2.5)
    - kind: smudge
      noise: structured
      generator: smudge
      levels: [0.1]
      radius: 0.25            # smudge: blob radius relative to min(H, W) (default 0.2)
      strength: 0.9           # smudge: darkening at the centre, in (0, 1] (default 0.9)
    - kind: randcls           # ONE config, randcls-<pp>, pp = 100 * len(classes) / K
      noise: structured
      generator: random-classes
      classes: ["3"]          # class NAMES whose every example gets a random wrong label

Exactly ``round(N * level)`` examples of each noisy split (train and validation, each with
its own generator ``ctx.split_rng(split)``) are chosen uniformly at random, get the feature
and a label drawn uniformly from the OTHER K-1 classes (:mod:`cnlbench.noise.structured`);
``is_noisy`` marks them and ``noise_source`` is ``structured``. ``random-classes`` ignores
``levels`` (its level is the share of classes). Levels are not nested (each is drawn alone).

The clean test split is shared by every config and carries no feature. A study of abstention
on the feature (the DAC paper) applies the SAME feature to a known subset of the test images
at evaluation time: :func:`apply_test_feature` does it from the config's recorded spec, with
an explicit generator (:func:`structured_test_rng` gives the conventional one).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from cnlbench.errors import NoiseSpecError, RecipeError
from cnlbench.manifest.families import NOISY_SPLITS, ConfigPlan, FamilyContext, SplitPlan, register_family
from cnlbench.manifest.fingerprint import stable_hash
from cnlbench.manifest.recipe import config_name
from cnlbench.sources.base import ImageAccess
from cnlbench.sources.views import ArrayImages

__all__ = ["GENERATORS", "apply_test_feature", "build_structured", "decode_images", "structured_test_rng"]

GENERATORS = ("blur", "smudge", "random-classes")
GENERATOR_PARAMS = {"blur": ("sigma",), "smudge": ("radius", "strength"), "random-classes": ("classes",)}


def decode_images(access: ImageAccess) -> np.ndarray:
    """Every image of ``access`` as one (N, H, W, C) uint8 array (C = 1 for grayscale PNGs)."""
    from PIL import Image

    arrays = []
    for i, blob in enumerate(access.iter_encoded()):
        with Image.open(io.BytesIO(blob)) as im:
            mode = "L" if im.mode in ("1", "L", "LA", "I", "I;16") else "RGB"
            arr = np.asarray(im.convert(mode), dtype=np.uint8)
        arrays.append(arr[:, :, None] if arr.ndim == 2 else arr)
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise RecipeError(
            f"structured noise needs images of one size and channel count, found {sorted(shapes)[:3]}; "
            "resize the source images first (e.g. the source's image_size option)"
        )
    if not arrays:
        raise RecipeError("structured noise got an empty split; check the source and the validation carve")
    return np.stack(arrays)


def _float_param(ctx: FamilyContext, key: str, default: float) -> float:
    value = ctx.param(key, default, types=(int, float))
    return float(value)


def _spec(ctx: FamilyContext, generator: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"family": "structured", "generator": generator}
    if generator == "blur":
        spec["sigma"] = _float_param(ctx, "sigma", 2.5)
    elif generator == "smudge":
        spec["radius"] = _float_param(ctx, "radius", 0.2)
        spec["strength"] = _float_param(ctx, "strength", 0.9)
    else:
        names = ctx.param("classes", types=list)
        if not names:
            raise RecipeError(f"recipe key `configs[kind={ctx.kind}].classes`: empty; list class names, e.g. [\"3\"]")
        ids = []
        for name in names:
            if str(name) not in ctx.class_names:
                raise RecipeError(
                    f"recipe key `configs[kind={ctx.kind}].classes`: {name!r} is not a class name; "
                    f"valid names: {list(ctx.class_names)}"
                )
            ids.append(ctx.class_names.index(str(name)))
        spec["classes"] = sorted(set(ids))
        spec["class_names"] = [ctx.class_names[i] for i in spec["classes"]]
    return spec


def _corrupt(spec: dict[str, Any], images: np.ndarray | None, labels: np.ndarray, level: float, k: int,
             rng: np.random.Generator):
    from cnlbench.noise import structured as S

    gen = spec["generator"]
    if gen == "blur":
        return S.blur_and_randomize(images, labels, level, rng, sigma=spec["sigma"], num_classes=k)
    if gen == "smudge":
        return S.smudge_and_randomize(images, labels, level, rng, radius=spec["radius"],
                                      strength=spec["strength"], num_classes=k)
    return S.randomize_classes(labels, spec["classes"], rng, num_classes=k)


@register_family("structured")
def build_structured(ctx: FamilyContext) -> list[ConfigPlan]:
    """Plan one config per level (blur, smudge) or one config (random-classes); see module docs."""
    generator = ctx.param("generator", types=str)
    if generator not in GENERATORS:
        raise RecipeError(f"recipe key `configs[kind={ctx.kind}].generator`: {generator!r}; use one of {list(GENERATORS)}")
    ctx.check_params(("generator", *GENERATOR_PARAMS[generator]))
    spec = _spec(ctx, generator)
    k = ctx.num_classes
    if generator == "random-classes":
        levels: tuple[float, ...] = (len(spec["classes"]) / k,)
    else:
        levels = tuple(ctx.levels)
    needs_pixels = generator != "random-classes"
    rngs = {split: ctx.split_rng(split) for split in NOISY_SPLITS}
    pixels = {s: decode_images(ctx.splits[s].images) for s in NOISY_SPLITS} if needs_pixels else {}
    plans = []
    for level in levels:
        splits = {}
        for split in NOISY_SPLITS:
            clean = ctx.splits[split]
            try:
                res = _corrupt(spec, pixels.get(split), clean.labels, level, k, rngs[split])
            except NoiseSpecError as exc:
                raise RecipeError(f"recipe entry `configs[kind={ctx.kind}]` (noise: structured): {exc}") from None
            splits[split] = SplitPlan(
                ids=clean.ids,
                label=res.labels,
                clean_label=clean.labels,
                is_noisy=res.affected,
                noise_source=np.where(res.affected, "structured", "none"),
                images=clean.images if res.images is None else ArrayImages(res.images),
                noise=res.noise.to_metadata(),
            )
        plan_spec = {**spec, "level": float(level)}
        plans.append(ConfigPlan(config_name(ctx.kind, level), ctx.kind, float(level), splits, False, plan_spec))
    return plans


def structured_test_rng(seed: int, config: str) -> np.random.Generator:
    """The conventional generator for a config's test feature:
    ``SeedSequence(entropy=seed, spawn_key=(stable_hash("test-feature"), stable_hash(config)))``."""
    key = (stable_hash("test-feature"), stable_hash(config))
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=key))


def apply_test_feature(spec: dict[str, Any], images: np.ndarray, labels: np.ndarray,
                       rng: np.random.Generator, fraction: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Give a known subset of clean TEST images the feature of a structured config; labels stay clean.

    ``spec``: the config's recorded ``noise_spec`` (``generator`` and its parameters, ``level``).
    ``images``: (N, H, W, C) uint8; ``labels``: (N,) int64 clean labels. ``fraction``: share of
    test images that get the blur or smudge (default: the config's level). For
    ``random-classes`` no pixel changes: the affected images are those of the randomised classes.

    Returns (images (N, H, W, C) uint8, a new array; affected (N,) bool).
    """
    from cnlbench.noise import structured as S

    gen = spec.get("generator")
    labels = np.asarray(labels, dtype=np.int64)
    if gen == "random-classes":
        return np.array(images, copy=True), np.isin(labels, np.asarray(spec["classes"], dtype=np.int64))
    p = float(spec["level"] if fraction is None else fraction)
    if gen == "blur":
        return S.blur_images(images, p, rng, sigma=float(spec["sigma"]))
    if gen == "smudge":
        return S.smudge_images(images, p, rng, radius=float(spec["radius"]), strength=float(spec["strength"]))
    raise RecipeError(f"noise spec {spec!r} is not a structured config's spec; pass the `noise_spec` of a structured config")
