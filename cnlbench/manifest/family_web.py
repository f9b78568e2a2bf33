"""The ``web`` noise family: controlled web ("red") noise from an annotated pool, or the
official CNWL splits imported line for line.

Recipe entry (``configs:`` item)::

    - kind: web
      noise: web
      pool: digits-web            # the packaged digits pool, or a path (recipe-relative) to a
                                  # CNWL release folder, a CNWL annotation .json, or a generic
                                  # pool table (.csv/.tsv/.parquet; columns in cnlbench.sources.cnwl)
      images: [web_images/]       # optional: folder(s) holding pool (and clean) image files by name
                                  # (each searched flat, under images/, then under all_images/)
      text_only: false            # only text-to-image retrievals (the paper's alternative)
      on_shortage: error          # or cap: replace what the pool allows, record `capped`
      missing: error              # pool images absent on disk: error | report | drop
      image_size: 84              # optional: resize pool (and imported) images, PNG re-encoded
      from_splits: false          # true: import the release's split files instead (below)
      validation_fraction: 0.1    # from_splits only: share of each split file held out as validation

Generated mode (``from_splits: false``): per level, per class, replace exactly the
largest-remainder-rounded share of the clean ``train`` (and, separately, ``validation``)
examples by distinct pool images judged incorrect for the class (:mod:`cnlbench.noise.web`),
keeping labels; nested across levels by default. Validation (the recipe's clean carve) takes
web images the train split does not use at any level. Missing pool images (``report``/``drop``)
are left out of the pool and listed in the split metadata; ``error`` refuses to build.

Import mode (``from_splits: true``, ``pool`` must be a release folder): for each level and
colour in ``colors`` (default ``[red, blue]``) the train split is the split file, line for line
(same images, labels, order); red configs are named ``<kind>-<pp>``, blue ones
``<blue_kind>-<pp>`` (default ``blue``). Blue rows take ``clean_label`` from ``blue_noise_nl_0.0``.
Clean image names resolve against the recipe's source (by id or file name), then the release's
own images (``images.parquet``, ``images/``, ``all_images/``: the layout third-party readers
use), then ``images`` folders. ``missing``: ``error`` refuses, ``report`` keeps every line
and lists the missing names in the split metadata (``missing_images``) and a warning (a
reference build then records paths that do not exist yet), ``drop`` removes those lines (the
train split's metadata lists them all) and the metadata records the realised rate after
dropping. Every report names the image folders searched.

The release ships no noisy validation, so each imported config holds one out of its OWN split
file (:func:`holdout_mask`): per label, the recipe carve's count of lines
(``validation_fraction``, default 0.1), split between noisy and clean lines in the class's
proportion (to within half an example), each chosen by the carve's fixed sha256 rule.
Validation rows carry the file's labels and noise and never appear in train; train and
validation of every config, imported or generated, are checked to share no id.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from cnlbench.errors import MissingDataError, RecipeError
from cnlbench.manifest.build import holdout_count, validation_mask
from cnlbench.manifest.families import ConfigPlan, FamilyContext, SplitPlan, register_family
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
    ImportedSplit,
    SourceImageStore,
    image_subdirs,
    import_split,
    level_file_name,
    read_annotations,
    read_pool_table,
)
from cnlbench.sources.views import ImageStore, IndexedImages, StoreImages, combine_images, resolve_names, searched_folders

PARAMS = ("pool", "images", "image_size", "text_only", "on_shortage", "missing", "from_splits", "colors", "blue_kind",
          "validation_fraction")
#: Default share of each imported split file held out as the config's noisy validation.
VALIDATION_FRACTION = 0.1
PACKAGED_POOLS = ("digits-web",)
#: How many missing names a warning shows (the metadata lists all).
_SHOW = 10


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
    extra = [FolderImageStore(ctx.path(f), image_subdirs(None), f) for f in _str_list(ctx, "images")]
    if spec in PACKAGED_POOLS:
        from cnlbench.sources.digits_web import release as packaged

        rel = packaged()
        rel.label = spec  # reports name the packaged pool, never the install path
        return rel.pool, rel.image_stores() + extra, rel, spec
    path = ctx.path(spec)
    if path.is_dir():
        rel = CnwlRelease(path, label=spec)
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
    return pool, [FolderImageStore(path.parent, label=str(Path(spec).parent))] + extra, None, spec


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


def _missing_message(n: int, total: int, names: Sequence[str], what: str, searched: Sequence[str]) -> str:
    return f"{n} of {total} {what} are missing on disk (first: {list(names[:_SHOW])}; searched: {', '.join(searched)})"


def check_disjoint(plan: ConfigPlan) -> ConfigPlan:
    """``plan`` unchanged, after checking that its train and validation splits share no id."""
    both = np.intersect1d(plan.splits["train"].ids, plan.splits["validation"].ids)
    if len(both):
        raise RecipeError(
            f"config {plan.name}: {len(both)} ids are in both train and validation (first: {both[:_SHOW].tolist()}); "
            f"validation must never overlap training rows: give every image its own id"
        )
    return plan


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
    searched = searched_folders(stores)
    if absent_names:
        msg = _missing_message(len(absent_names), int(usable.sum()), absent_names, "usable pool images", searched)
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
    extra = {"pool": label, "missing_pool_images": absent_names, "missing_count": len(absent_names),
             "image_folders_searched": searched}
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
        "validation": "the recipe's clean validation carve with web noise applied the same way; its web images are never used by train at any level; no id in both train and validation",
    }
    plans = []
    for level in ctx.levels:
        splits = {
            "train": _split_plan(train, res_train[level], web_pool.ids, pool_images, extra),
            "validation": _split_plan(val, res_val[level], web_pool.ids, pool_images, extra),
        }
        plans.append(check_disjoint(ConfigPlan(ctx.config_name(level), ctx.kind, level, splits, ctx.nested, spec)))
    return plans


def _validation_fraction(ctx: FamilyContext) -> float:
    value = ctx.param("validation_fraction", VALIDATION_FRACTION, (int, float))
    if not 0 < value < 1:
        raise RecipeError(f"recipe key `configs[kind={ctx.kind}].validation_fraction`: {value!r} is not a fraction in (0, 1); write e.g. 0.1")
    return float(value)


def holdout_description(fraction: float) -> str:
    """How an imported config's validation is held out (shown on the card, kept in the record)."""
    return (
        f"held out from the config's own split file: per label, k = round({fraction:g} x n) lines (at least one "
        "of two or more, never all; the recipe carve's count), of which round(k x the class's noisy share) noisy "
        "lines, each group the lines whose sha256(id) sort first; same labels and noise as the file, realised "
        "noisy count within half an example per class of the file's rate; no id in both train and validation"
    )


def holdout_mask(ids: np.ndarray, labels: np.ndarray, is_noisy: np.ndarray, fraction: float) -> np.ndarray:
    """(N,) bool: the lines of one split file held out as its config's validation.

    Per label ``c`` with ``n`` lines of which ``m`` noisy: ``k = holdout_count(n, fraction)``
    lines (the recipe carve's count), ``v = round(k m / n)`` (halves up, kept feasible) of them
    noisy, the noisy and the clean ones each those whose ``sha256(id)`` sort first
    (:func:`~cnlbench.manifest.build.validation_mask`). So ``|v - k m / n| <= 1/2``.
    """
    counts: dict[int, int] = {}
    for c in np.unique(labels).tolist():
        in_c = labels == c
        n, m = int(in_c.sum()), int(is_noisy[in_c].sum())
        k = holdout_count(n, fraction)
        v = min(max(int(np.floor(k * m / n + 0.5)), k - (n - m)), m)
        counts[2 * c + 1], counts[2 * c] = v, k - v
    return validation_mask(ids, labels * 2 + is_noisy, counts=counts)


def _imported_split(imp: ImportedSplit, rows: np.ndarray, noise: dict) -> SplitPlan:
    """The split plan of ``imp``'s rows ``rows`` (positions, in file order)."""
    return SplitPlan(imp.ids[rows], imp.labels[rows], imp.clean_labels[rows], imp.is_noisy[rows], imp.noise_source[rows],
                     IndexedImages(imp.images, rows), noise=noise)


def imported_plan(imp: ImportedSplit, fraction: float, noise: dict) -> dict[str, SplitPlan]:
    """``{"train", "validation"}`` split plans of one imported split file: validation held out by
    :func:`holdout_description`'s rule, train the remaining lines, both in file order.

    ``noise`` is the file's metadata; each split's ``missing_images`` lists the missing names among
    its own rows (``missing: drop``: the train split lists every dropped line).
    """
    is_val = holdout_mask(imp.ids, imp.labels, imp.is_noisy, fraction)
    gone = set(imp.missing)
    out = {}
    for split, mask in (("train", ~is_val), ("validation", is_val)):
        rows = np.flatnonzero(mask)
        if imp.dropped:
            missing = list(imp.missing) if split == "train" else []
        else:
            missing = [n for n in imp.names[rows].tolist() if n in gone]
        meta = {**noise, "missing_images": missing, "held_out": split == "validation",
                "holdout_fraction": fraction, "rows_in_split": int(len(rows))}
        out[split] = _imported_split(imp, rows, meta)
    return out


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
    fraction = _validation_fraction(ctx)
    bad = [lv for lv in ctx.levels if not any(abs(lv - c) < 1e-9 for c in CNWL_LEVELS)]
    if bad:
        raise RecipeError(f"recipe key `configs[kind={ctx.kind}].levels`: {bad} are not CNWL levels {list(CNWL_LEVELS)}")
    clean_stores: list[ImageStore] = [SourceImageStore([ctx.splits["train"], ctx.splits["validation"]])]
    all_stores = clean_stores + stores
    clean_ref = rel.level_split("blue", 0.0) if "blue" in colors else None
    check = rel.check([level_file_name(c, lv) for c in colors for lv in ctx.levels])
    plans = []
    for color in colors:
        for level in ctx.levels:
            file = level_file_name(color, level)
            imp = import_split(rel, file, all_stores, clean_reference=clean_ref, missing=missing, image_size=_image_size(ctx))
            if imp.missing:
                msg = _missing_message(len(imp.missing), imp.rows_in_file, imp.missing, f"images of {file}", imp.searched)
                warnings.warn(f"CNWL import {label!r}: {msg}; missing: {missing} (all names in the split metadata)", stacklevel=2)
            noise = {
                **imp.summary(),
                "kind": "web" if color == "red" else "synthetic",
                "annotation_mismatches": {
                    "web_not_annotated": len(check.web_not_annotated.get(file, [])),
                    "label_mismatch": len(check.label_mismatch.get(file, [])),
                    "clean_verdict_in_red": len(check.clean_verdict_in_red.get(file, [])),
                },
            }
            noise["file_realised_rate"] = noise.pop("realised_rate")
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
                "validation": holdout_description(fraction),
                "validation_fraction": fraction,
            }
            plans.append(check_disjoint(ConfigPlan(config_name(kind, level), kind, level, imported_plan(imp, fraction, noise), False, spec)))
    return plans


@register_family("web")
def web_family(ctx: FamilyContext) -> list[ConfigPlan]:
    """Entry point registered as ``noise: web``."""
    ctx.check_params(PARAMS)
    if ctx.param("from_splits", False, bool):
        return import_plans(ctx)
    for key in ("colors", "blue_kind", "validation_fraction"):
        if key in ctx.params:
            raise RecipeError(f"recipe key `configs[kind={ctx.kind}].{key}`: only used with from_splits: true; remove it")
    return generated_plans(ctx)


__all__ = ["check_disjoint", "generated_plans", "holdout_description", "holdout_mask", "import_plans", "imported_plan",
           "load_pool", "pool_file_names", "web_family"]
