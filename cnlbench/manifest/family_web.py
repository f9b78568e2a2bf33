"""The ``web`` noise family: controlled web ("red") noise from an annotated pool, or the
official CNWL splits imported line for line.

Recipe entry (``configs:`` item)::

    - kind: web
      noise: web
      pool: digits-web            # the packaged digits pool, or a path (recipe-relative) to a
                                  # CNWL release folder, a CNWL annotation .json, or a generic
                                  # pool table (.csv/.tsv/.parquet; columns in cnlbench.sources.cnwl)
      images: [web_images/]       # optional: folder(s) holding pool (and clean) image files by name
      text_only: false            # only text-to-image retrievals (the paper's alternative)
      on_shortage: error          # or cap: replace what the pool allows, record `capped`
      missing: error              # pool images absent on disk: error | report | drop
      image_size: 84              # optional: resize pool (and imported) images, PNG re-encoded
      from_splits: false          # true: import the release's split files instead (below)

Generated mode (``from_splits: false``): per level, per class, replace exactly the
largest-remainder-rounded share of the clean ``train`` (and, separately, ``validation``)
examples by distinct pool images judged incorrect for the class (:mod:`cnlbench.noise.web`),
keeping labels; nested across levels by default. Validation takes web images the train split
does not use at any level. Missing pool images (``report``/``drop``) are left out of the pool
and listed in the split metadata; ``error`` refuses to build.

Import mode (``from_splits: true``, ``pool`` must be a release folder): for each level and
colour in ``colors`` (default ``[red, blue]``) the train split is the split file, line for line
(same images, labels, order); red configs are named ``<kind>-<pp>``, blue ones
``<blue_kind>-<pp>`` (default ``blue``). Blue rows take ``clean_label`` from ``blue_noise_nl_0.0``.
Clean image names resolve against the recipe's source (by id or file name), then the release's
own images, then ``images`` folders. ``missing``: ``error`` refuses, ``report`` keeps every line
and lists the missing names in the split metadata (``missing_images``) and a warning (a
reference build then records paths that do not exist yet), ``drop`` removes those lines and the
metadata records the realised rate after dropping. The release ships no noisy validation: the
imported configs use the recipe's clean validation carve (``noise_source = none``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from cnlbench.errors import MissingDataError, RecipeError
from cnlbench.manifest.families import ConfigPlan, FamilyContext, SplitPlan, register_family
from cnlbench.manifest.images import MixedImages
from cnlbench.manifest.recipe import config_name
from cnlbench.noise.web import WebNoiseResult, web_noise_levels
from cnlbench.sources.base import ImageAccess
from cnlbench.sources.cnwl import (
    CNWL_LEVELS,
    COLORS,
    MISSING_POLICIES,
    AnnotatedPool,
    CnwlRelease,
    FolderImageStore,
    ImageStore,
    SourceImageStore,
    StoreImages,
    import_split,
    level_file_name,
    read_annotations,
    read_pool_table,
    resolve_names,
)

PARAMS = ("pool", "images", "image_size", "text_only", "on_shortage", "missing", "from_splits", "colors", "blue_kind")
PACKAGED_POOLS = ("digits-web",)
#: How many missing names a warning shows (the metadata lists all).
_SHOW = 10


class _Combined(ImageAccess):
    """Like :class:`MixedImages` but tolerating parts with different roots: then every row is
    in-memory for the build (``relpath`` is ``None``) and a reference build copies the bytes."""

    def __init__(self, parts: Sequence[ImageAccess], which: np.ndarray, index: np.ndarray):
        self.parts, self.which, self.index = list(parts), np.asarray(which, np.int64), np.asarray(index, np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def encoded(self, index: int) -> bytes:
        return self.parts[int(self.which[index])].encoded(int(self.index[index]))


def combine_images(parts: Sequence[ImageAccess], which: np.ndarray, index: np.ndarray) -> ImageAccess:
    """Row ``i`` = image ``index[i]`` of ``parts[which[i]]``."""
    roots = {Path(p.root).resolve() for p in parts if p.root is not None}
    in_memory = any(p.root is None for p in parts)
    if len(roots) > 1 or (roots and in_memory):
        return _Combined(parts, which, index)
    return MixedImages(parts, which, index)


def _str_list(ctx: FamilyContext, key: str) -> list[str]:
    value = ctx.param(key, [], (str, list))
    items = [value] if isinstance(value, str) else value
    if not all(isinstance(v, str) for v in items):
        raise RecipeError(f"recipe key `configs[kind={ctx.kind}].{key}`: expected a path or a list of paths, got {value!r}")
    return items


def _choice(ctx: FamilyContext, key: str, default: str, allowed: Sequence[str]) -> str:
    value = ctx.param(key, default, str)
    if value not in allowed:
        raise RecipeError(f"recipe key `configs[kind={ctx.kind}].{key}`: {value!r} is not one of {list(allowed)}")
    return value


def _image_size(ctx: FamilyContext) -> int | None:
    size = ctx.param("image_size", None, (int, type(None)))
    if size is not None and size < 1:
        raise RecipeError(f"recipe key `configs[kind={ctx.kind}].image_size`: {size} is not a positive pixel count; write e.g. 84")
    return size


def load_pool(ctx: FamilyContext) -> tuple[AnnotatedPool, list[ImageStore], CnwlRelease | None, str]:
    """(pool, image stores, the release if the pool is one, a recipe-portable pool label)."""
    spec = ctx.param("pool", types=str)
    extra = [FolderImageStore(ctx.path(f), ("", "images")) for f in _str_list(ctx, "images")]
    if spec in PACKAGED_POOLS:
        from cnlbench.sources.digits_web import release as packaged

        rel = packaged()
        return rel.pool, rel.image_stores() + extra, rel, spec
    path = ctx.path(spec)
    if path.is_dir():
        rel = CnwlRelease(path)
        if len(rel.class_names) != ctx.num_classes:
            raise RecipeError(
                f"recipe key `configs[kind={ctx.kind}].pool`: release {spec!r} has {len(rel.class_names)} "
                f"classes but the source has {ctx.num_classes}; pair the release with its own dataset"
            )
        return rel.pool, rel.image_stores() + extra, rel, spec
    if not path.is_file():
        raise MissingDataError(
            f"recipe key `configs[kind={ctx.kind}].pool`: {str(path)!r} does not exist; pass a CNWL "
            f"release folder, an annotation .json, a pool .csv/.parquet, or one of {list(PACKAGED_POOLS)}"
        )
    if path.suffix.lower() == ".json":
        pool = read_annotations(path, ctx.num_classes)
    else:
        pool = read_pool_table(path, ctx.num_classes)
    return pool, [FolderImageStore(path.parent)] + extra, None, spec


def pool_file_names(pool: AnnotatedPool) -> list[str]:
    """Where each pool image is looked up: its ``path``, else a relative ``uri``, else ``<id>.jpg``."""
    out = []
    for rid, path, uri in zip(pool.ids.tolist(), pool.path.tolist(), pool.uri.tolist()):
        if path:
            out.append(path)
        elif uri and "://" not in uri and not uri.startswith("/"):
            out.append(uri)
        else:
            out.append(f"{rid}.jpg")
    return out


def _missing_message(n: int, total: int, names: Sequence[str], what: str) -> str:
    return f"{n} of {total} {what} are missing on disk (first: {list(names[:_SHOW])})"


def _split_plan(clean, res: WebNoiseResult, pool_ids: np.ndarray, pool_images: ImageAccess, extra: dict) -> SplitPlan:
    rep = res.replaced
    ids = clean.ids.copy().astype(object)
    ids[rep] = pool_ids[res.pool_index[rep]]
    which = rep.astype(np.int64)
    index = np.where(rep, res.pool_index, np.arange(len(rep)))
    return SplitPlan(
        ids=ids.astype(str),
        label=res.labels,
        clean_label=res.row_clean_label,
        is_noisy=rep,
        noise_source=np.where(rep, "web", "none"),
        images=combine_images([clean.images, pool_images], which, index),
        noise={**res.summary(), **extra},
    )


def generated_plans(ctx: FamilyContext) -> list[ConfigPlan]:
    """Web noise built from the pool at every level (see the module docstring)."""
    pool, stores, _rel, label = load_pool(ctx)
    text_only = ctx.param("text_only", False, bool)
    on_shortage = _choice(ctx, "on_shortage", "error", ("error", "cap"))
    missing = _choice(ctx, "missing", "error", MISSING_POLICIES)
    names = pool_file_names(pool)
    usable = ~pool.is_clean
    where = resolve_names([n if u else "" for n, u in zip(names, usable.tolist())], stores) if len(pool) else np.zeros(0, np.int64)
    absent = usable & (where < 0)
    absent_names = [n for n, a in zip(names, absent.tolist()) if a]
    if absent_names:
        msg = _missing_message(len(absent_names), int(usable.sum()), absent_names, "usable pool images")
        if missing == "error":
            raise MissingDataError(f"{msg}; download them, or set missing: drop to build from the images present")
        warnings.warn(f"web pool {label!r}: {msg}; left out of the pool (listed in the split metadata)", stacklevel=2)
    keep = ~absent
    kept = np.flatnonzero(keep)
    sub = AnnotatedPool(
        ids=pool.ids[kept], retrieved_class=pool.retrieved_class[kept], is_clean=pool.is_clean[kept],
        true_class=pool.true_class[kept], retrieval=pool.retrieval[kept], uri=pool.uri[kept], path=pool.path[kept],
        votes_correct=pool.votes_correct[kept], votes_total=pool.votes_total[kept], conflicts=pool.conflicts,
    )
    web_pool = sub.to_web_pool()
    pool_images = StoreImages(stores, np.maximum(where[kept], 0), [names[i] for i in kept.tolist()], _image_size(ctx))
    kw = dict(num_classes=ctx.num_classes, nested=ctx.nested, text_only=text_only, on_shortage=on_shortage)
    train = ctx.splits["train"]
    res_train = web_noise_levels(train.labels, web_pool, ctx.levels, ctx.split_rng("train"), **kw)
    used = np.unique(np.concatenate([r.pool_index[r.replaced] for r in res_train.values()] or [np.zeros(0, np.int64)]))
    val = ctx.splits["validation"]
    res_val = web_noise_levels(val.labels, web_pool, ctx.levels, ctx.split_rng("validation"), exclude=used, **kw)
    extra = {"pool": label, "missing_pool_images": absent_names, "missing_count": len(absent_names)}
    spec = {
        "family": "web",
        "pool": label,
        "pool_size": len(pool),
        "pool_incorrect": int(usable.sum()),
        "text_only": text_only,
        "on_shortage": on_shortage,
        "missing": missing,
        "missing_count": len(absent_names),
        "construction": "per class, replace the largest-remainder-rounded share of clean examples by distinct pool images judged incorrect for the class; labels kept",
    }
    plans = []
    for level in ctx.levels:
        splits = {
            "train": _split_plan(train, res_train[level], web_pool.ids, pool_images, extra),
            "validation": _split_plan(val, res_val[level], web_pool.ids, pool_images, extra),
        }
        plans.append(ConfigPlan(ctx.config_name(level), ctx.kind, level, splits, ctx.nested, spec))
    return plans


def import_plans(ctx: FamilyContext) -> list[ConfigPlan]:
    """The release's split files as configs, line for line (see the module docstring)."""
    pool_spec = ctx.param("pool", types=str)
    _pool, stores, rel, label = load_pool(ctx)
    if rel is None:
        raise RecipeError(
            f"recipe key `configs[kind={ctx.kind}].pool`: from_splits needs a CNWL release folder "
            f"(class_names.txt, split/, annotations), got {pool_spec!r}"
        )
    missing = _choice(ctx, "missing", "report", MISSING_POLICIES)
    colors = _str_list(ctx, "colors") or list(COLORS)
    for c in colors:
        if c not in COLORS:
            raise RecipeError(f"recipe key `configs[kind={ctx.kind}].colors`: {c!r} is not one of {list(COLORS)}")
    blue_kind = ctx.param("blue_kind", "blue", str)
    bad = [lv for lv in ctx.levels if not any(abs(lv - c) < 1e-9 for c in CNWL_LEVELS)]
    if bad:
        raise RecipeError(f"recipe key `configs[kind={ctx.kind}].levels`: {bad} are not CNWL levels {list(CNWL_LEVELS)}")
    clean_stores: list[ImageStore] = [SourceImageStore([ctx.splits["train"], ctx.splits["validation"]])]
    all_stores = clean_stores + stores
    clean_ref = rel.level_split("blue", 0.0) if "blue" in colors else None
    val = ctx.splits["validation"]
    val_plan = SplitPlan(val.ids, val.labels, val.labels, np.zeros(len(val), bool), np.full(len(val), "none"), val.images,
                         noise={"kind": "none", "note": "CNWL ships no noisy validation; clean carve from the source's train split"})
    check = rel.check([level_file_name(c, lv) for c in colors for lv in ctx.levels])
    plans = []
    for color in colors:
        for level in ctx.levels:
            file = level_file_name(color, level)
            imp = import_split(rel, file, all_stores, clean_reference=clean_ref, missing=missing, image_size=_image_size(ctx))
            if imp.missing:
                msg = _missing_message(len(imp.missing), imp.rows_in_file, imp.missing, f"images of {file}")
                warnings.warn(f"CNWL import {label!r}: {msg}; missing: {missing} (all names in the split metadata)", stacklevel=2)
            noise = {
                **imp.summary(),
                "kind": "web" if color == "red" else "synthetic",
                "missing_images": list(imp.missing),
                "annotation_mismatches": {
                    "web_not_annotated": len(check.web_not_annotated.get(file, [])),
                    "label_mismatch": len(check.label_mismatch.get(file, [])),
                    "clean_verdict_in_red": len(check.clean_verdict_in_red.get(file, [])),
                },
            }
            train = SplitPlan(imp.ids, imp.labels, imp.clean_labels, imp.is_noisy, imp.noise_source, imp.images, noise=noise)
            kind = ctx.kind if color == "red" else blue_kind
            spec = {
                "family": "web",
                "from_splits": True,
                "pool": label,
                "split_file": file,
                "color": color,
                "missing": missing,
                "missing_count": len(imp.missing),
                "rows_in_file": imp.rows_in_file,
                "consistency": check.summary() if not check.ok else "split files and annotations agree",
            }
            plans.append(ConfigPlan(config_name(kind, level), kind, level, {"train": train, "validation": val_plan}, False, spec))
    return plans


@register_family("web")
def web_family(ctx: FamilyContext) -> list[ConfigPlan]:
    """Entry point registered as ``noise: web``."""
    ctx.check_params(PARAMS)
    if ctx.param("from_splits", False, bool):
        return import_plans(ctx)
    for key in ("colors", "blue_kind"):
        if key in ctx.params:
            raise RecipeError(f"recipe key `configs[kind={ctx.kind}].{key}`: only used with from_splits: true; remove it")
    return generated_plans(ctx)


__all__ = ["combine_images", "generated_plans", "import_plans", "load_pool", "pool_file_names", "web_family"]
