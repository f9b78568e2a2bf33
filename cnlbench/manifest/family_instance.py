"""Instance-dependent noise families: whether and where a label flips depends on the image.

Two published generators (pure numpy in :mod:`cnlbench.noise.instance`), made exact at every
level (exactly ``round(N * p)`` flipped examples per split; a flipped example never keeps its
clean label; level 0 flips nothing):

``noise: part-dependent`` (Xia et al. 2020, NeurIPS, "Part-dependent label noise")
    Per-example flip rates from a truncated normal around ``p`` (``std``, default 0.1), and a
    random projection of the example's pixels picks its wrong class. Features are the decoded
    images, flattened and standardised. Levels are drawn independently (``nested`` is recorded
    as false: the generator has no nested form).

``noise: confusion`` (Chen et al. 2021, AAAI, "Beyond Class-Conditional Assumption")
    Flip the examples a model trained on CLEAN labels finds most confusable to their most
    confusable wrong class. The model's class probabilities come from a file you produce
    (``probs: FILE.npz`` with arrays ``ids`` (N,) str and ``probs`` (N, K) float, loaded with
    ``allow_pickle=False``), matched to the examples by id; every train and validation id must
    be present. Deterministic and nested (the top-k most confusable grow with k).

Recipe example::

    configs:
      - kind: idn
        noise: part-dependent
        std: 0.1
      - kind: conf
        noise: confusion
        probs: clean_model_probs.npz
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from cnlbench.errors import RecipeError
from cnlbench.manifest.families import (
    NOISY_SPLITS,
    ConfigPlan,
    FamilyContext,
    label_noise_split,
    register_family,
)
from cnlbench.sources.base import SplitData

__all__ = ["build_part_dependent", "build_confusion", "decode_features", "load_probs"]


def decode_features(split: SplitData) -> np.ndarray:
    """(N, H * W * C) float32 pixels of a split's images (decoded once, all the same size)."""
    from PIL import Image

    rows = []
    shape = None
    for i, blob in enumerate(split.images.iter_encoded()):
        with Image.open(io.BytesIO(blob)) as im:
            arr = np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB"), dtype=np.float32)
        if shape is None:
            shape = arr.shape
        elif arr.shape != shape:
            raise RecipeError(
                f"image {split.ids[i]!r} has shape {arr.shape}, others {shape}; part-dependent noise needs "
                "images of one size (set the source's image_size)"
            )
        rows.append(arr.reshape(-1))
    return np.stack(rows) if rows else np.zeros((0, 0), np.float32)


def _plan(ctx: FamilyContext, level: float, results: dict[str, Any], nested: bool,
          spec: dict[str, Any]) -> ConfigPlan:
    splits = {split: label_noise_split(ctx.splits[split], results[split]) for split in NOISY_SPLITS}
    return ConfigPlan(ctx.config_name(level), ctx.kind, level, splits, nested, spec, None)


@register_family("part-dependent")
def build_part_dependent(ctx: FamilyContext) -> list[ConfigPlan]:
    """Xia et al. part-dependent noise at every level, each split and level drawn from its own
    generator (``ctx.split_rng``), so adding a level never changes another's labels."""
    from cnlbench.noise import part_dependent_noise

    ctx.check_params(["std"])
    std = float(ctx.param("std", 0.1, types=(int, float)))
    features = {s: decode_features(ctx.splits[s]) for s in NOISY_SPLITS}
    spec = {
        "description": "part-dependent (Xia et al. 2020): per-example flip rates from a truncated normal "
                       "around p, the wrong class from a random projection of the pixels; exactly "
                       "round(N p) flips per split",
        "family": "part-dependent", "std": std, "num_classes": ctx.num_classes,
    }
    # one child generator per (split, level), spawned from the split's seed sequence
    rngs = {s: ctx.split_rng(s).spawn(len(ctx.levels)) for s in NOISY_SPLITS}
    plans = []
    for li, level in enumerate(ctx.levels):
        results = {}
        for split in NOISY_SPLITS:
            rng = rngs[split][li]
            results[split] = part_dependent_noise(features[split], ctx.splits[split].labels, level, rng,
                                                  num_classes=ctx.num_classes, std=std)
        plans.append(_plan(ctx, level, results, False, spec))
    return plans


def load_probs(path: Any, ids: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    """(N, K) probabilities for ``ids`` from an ``.npz`` holding ``ids`` and ``probs``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "ids" not in z or "probs" not in z:
                raise RecipeError(f"recipe key `{where}`: {path} must hold arrays `ids` and `probs` "
                                  f"(np.savez(path, ids=..., probs=...)); it has {sorted(z.files)}")
            file_ids, probs = z["ids"].astype(str), np.asarray(z["probs"], dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise RecipeError(f"recipe key `{where}`: cannot read {path} ({exc}); write it with "
                          "np.savez(path, ids=ids, probs=probs) (no object arrays)") from None
    if probs.ndim != 2 or probs.shape != (len(file_ids), num_classes):
        raise RecipeError(f"recipe key `{where}`: probs have shape {probs.shape}; expected "
                          f"({len(file_ids)}, {num_classes}), one row per id and one column per class")
    index = {v: i for i, v in enumerate(file_ids.tolist())}
    missing = [i for i in ids.tolist() if i not in index]
    if missing:
        raise RecipeError(f"recipe key `{where}`: {len(missing)} example ids have no probabilities in {path} "
                          f"(first: {missing[:3]}); give a row for every train and validation id")
    return probs[[index[i] for i in ids.tolist()]]


@register_family("confusion")
def build_confusion(ctx: FamilyContext) -> list[ConfigPlan]:
    """Chen et al. confusion-based noise from a clean model's probabilities (see module doc)."""
    from cnlbench.errors import NoiseSpecError
    from cnlbench.noise import confusion_noise

    ctx.check_params(["probs"])
    path = ctx.path(ctx.param("probs", types=str))
    where = f"configs[kind={ctx.kind}].probs"
    probs = {s: load_probs(path, ctx.splits[s].ids, ctx.num_classes, where) for s in NOISY_SPLITS}
    spec = {
        "description": "confusion-based (Chen et al. 2021): the round(N p) examples a clean-trained model "
                       "finds most confusable take their most confusable wrong class",
        "family": "confusion", "probs_file": path.name, "num_classes": ctx.num_classes,
    }
    plans = []
    for level in ctx.levels:
        try:
            results = {s: confusion_noise(probs[s], ctx.splits[s].labels, level) for s in NOISY_SPLITS}
        except NoiseSpecError as exc:
            raise RecipeError(f"recipe entry `configs[kind={ctx.kind}]` (noise: confusion): {exc}") from None
        plans.append(_plan(ctx, level, results, True, spec))
    return plans
