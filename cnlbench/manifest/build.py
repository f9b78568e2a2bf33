"""Build a dataset folder from a recipe: clean source -> noise families -> Parquet + card.

:func:`build_from_recipe` is the whole pipeline behind ``cnlbench build``. Output layout and
columns follow ``docs/architecture.md`` ("Layer 3"); the folder is written atomically and the
same recipe and seed give byte-identical files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from cnlbench import __version__
from cnlbench.errors import ManifestError, RecipeError
from cnlbench.manifest.atomic import BUILD_RECORD, atomic_directory
from cnlbench.manifest.families import NOISY_SPLITS, ConfigPlan, FamilyContext, SplitPlan, plan_configs
from cnlbench.manifest.fingerprint import combine, noise_fingerprint, source_fingerprint, split_fingerprint
from cnlbench.manifest.phases import Phases
from cnlbench.manifest.recipe import Recipe, load_recipe
from cnlbench.manifest.schema import IMAGE_SHA256, SPLITS, image_column
from cnlbench.manifest.writer import split_table, write_table
from cnlbench.noise import ORIENTATION
from cnlbench.sources.base import ImageAccess, Source, SplitData, make_source
from cnlbench.sources.images import image_sha256, read_image_file, verify_image
from cnlbench.sources.views import IndexedImages

BUILD_FORMAT = 1
CLEAN_CONFIG = "clean"
_CONFIG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_RESERVED = {CLEAN_CONFIG, "images"}


def split_file(config: str, split: str) -> str:
    """POSIX path of a split's Parquet file inside the dataset folder."""
    return f"{config}/{split}-00000-of-00001.parquet"


@dataclass(frozen=True)
class ConfigSummary:
    """What was built for one config: sizes, requested level and realised rates per split."""

    name: str
    kind: str
    level: float | None
    nested: bool
    rows: dict[str, int]
    realised_rate: dict[str, float]
    fingerprint: str
    #: What the level means when it is not the plain overall rate (``card.level_note``).
    note: str = ""


@dataclass(frozen=True)
class BuildReport:
    """The result of :func:`build_from_recipe`."""

    out: Path
    name: str
    seed: int
    source_fingerprint: str
    default_config: str
    configs: tuple[ConfigSummary, ...] = field(default_factory=tuple)

    def table(self) -> str:
        """A plain-text summary table (one row per config)."""
        head = ("config", "train", "validation", "test", "requested", "realised train", "realised val", "nested",
                "what the level means")
        rows = [head]
        for c in self.configs:
            level = "-" if c.level is None else f"{c.level:.2f}"
            rows.append(
                (
                    c.name + (" (default)" if c.name == self.default_config else ""),
                    str(c.rows["train"]), str(c.rows["validation"]), str(c.rows["test"]), level,
                    f"{c.realised_rate['train']:.4f}", f"{c.realised_rate['validation']:.4f}",
                    "yes" if c.nested else "no", c.note or "overall rate",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Clean splits


def holdout_count(n: int, fraction: float) -> int:
    """How many of ``n`` rows the carve holds out: ``round(fraction * n)`` (halves up), at least
    one when ``n >= 2``, never all."""
    k = int(np.floor(fraction * n + 0.5))
    return min(max(k, 1 if n >= 2 else 0), max(n - 1, 0))


def validation_mask(ids: np.ndarray, strata: np.ndarray, fraction: float | None = None, *,
                    counts: Mapping[Any, int] | None = None) -> np.ndarray:
    """(N,) bool: the rows a fixed rule (no RNG) holds out for validation.

    Per stratum (e.g. class) with ``n`` rows, :func:`holdout_count` ``(n, fraction)`` rows go to
    validation (or ``counts[stratum]`` rows, when ``counts`` is given; strata it omits give
    none): those whose ``sha256(id)`` sort first. Same ids -> same rows on any machine.
    """
    keys = np.array([hashlib.sha256(str(i).encode()).hexdigest() for i in ids])
    strata = np.asarray(strata)
    is_val = np.zeros(len(keys), dtype=bool)
    for c in np.unique(strata):
        where = np.flatnonzero(strata == c)
        k = holdout_count(len(where), fraction) if counts is None else int(counts.get(c.item(), 0))
        if k > 0:
            is_val[where[np.argsort(keys[where], kind="stable")[:k]]] = True
    return is_val


def carve_validation(train: SplitData, fraction: float) -> tuple[SplitData, SplitData]:
    """Split ``train`` into (train, validation), stratified, by a fixed rule (no RNG):
    :func:`validation_mask` per class. Row order within each output keeps the source order.
    (The same rule carves a test split from train: ``splits: {test: {from: train, ...}}``.)
    """
    is_val = validation_mask(train.ids, train.labels, fraction)

    def take(mask: np.ndarray) -> SplitData:
        idx = np.flatnonzero(mask)
        extras = {k: np.asarray(v)[idx] for k, v in train.extras.items()}
        return SplitData(train.ids[idx], train.labels[idx], IndexedImages(train.images, idx), extras)

    return take(~is_val), take(is_val)


def clean_splits(source: Source, recipe: Recipe) -> dict[str, SplitData]:
    """The clean ``train``, ``validation`` and ``test`` splits the recipe asks for."""
    names = source.split_names()
    if "train" not in names:
        raise RecipeError(f"recipe `source: {{kind: {recipe.source_kind}}}` has no 'train' split (it has {list(names)}); pick a source with a train split")
    if "test" not in names and not recipe.test_fraction:
        raise RecipeError(
            f"recipe `source: {{kind: {recipe.source_kind}}}` has no 'test' split (it has {list(names)}); carve one with "
            "`splits: {test: {from: train, fraction: 0.2}}` (per class, by a fixed rule), or (ImageFolder) lay the "
            "images out as <root>/train/<class>/<file> and <root>/test/<class>/<file>"
        )
    if "test" in names and recipe.test_fraction:
        raise RecipeError(f"recipe key `splits.test`: source {recipe.source_kind!r} ships its own test split; drop `splits.test`")
    train = source.load_split("train")
    if recipe.test_fraction:
        train, test = carve_validation(train, recipe.test_fraction)
    else:
        test = source.load_split("test")
    if recipe.validation_from is not None:
        train, validation = carve_validation(train, recipe.validation_fraction)
    elif "validation" in names:
        validation = source.load_split("validation")
    else:
        raise RecipeError(
            f"recipe key `splits.validation`: source {recipe.source_kind!r} ships no validation split; "
            "add `splits: {validation: {from: train, fraction: 0.1}}`"
        )
    out = {"train": train, "validation": validation, "test": test}
    for split, data in out.items():
        if len(data) == 0:
            raise RecipeError(f"clean split {split!r} is empty; use a larger source or a different validation fraction")
        k = len(source.class_names)
        if data.labels.min() < 0 or data.labels.max() >= k:
            raise ManifestError(f"source {source.name!r} split {split!r} has labels outside 0..{k - 1}; fix the source")
    return out


# --------------------------------------------------------------------------------------------
# Writing


def _jsonable(value: Any) -> Any:
    """Recipe values as JSON: mapping keys become strings, tuples lists, numpy scalars Python."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise RecipeError(f"recipe value {value!r} ({type(value).__name__}) cannot be recorded as JSON; quote it as a string")


def image_ext(blob: bytes) -> str:
    """File suffix for encoded image bytes by their magic number (``png``, ``jpg``, ``webp``, else ``bin``)."""
    if blob.startswith(b"\x89PNG"):
        return "png"
    if blob.startswith(b"\xff\xd8"):
        return "jpg"
    if blob[:4] in (b"RIFF",) and blob[8:12] == b"WEBP":
        return "webp"
    return "bin"


def realised(label: np.ndarray, clean_label: np.ndarray, is_noisy: np.ndarray, k: int) -> dict[str, Any]:
    """Realised rate and (K, K) counts/matrix over rows with a known clean label."""
    known = clean_label >= 0
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (clean_label[known], label[known]), 1)
    sums = counts.sum(axis=1, keepdims=True)
    matrix = np.divide(counts, sums, out=np.zeros((k, k)), where=sums > 0)
    return {
        "realised_rate": float(is_noisy.mean()) if len(is_noisy) else 0.0,
        "num_noisy": int(is_noisy.sum()),
        "realised_counts": counts.tolist(),
        "realised_matrix": matrix.tolist(),
    }


class _ImageStore:
    """Image column values for a build, caching encoded bytes per image access object.

    Every image is opened and fully decoded once, under the one pixel limit of
    :func:`cnlbench.sources.images.max_pixels` (a bomb, a truncated file or a non-image is
    refused naming the file), whatever the image mode; reference builds record each file's
    SHA-256 beside its path.
    """

    def __init__(self, mode: str, folder: Path):
        self.mode, self.folder = mode, folder
        self._cache: dict[int, tuple[ImageAccess, list[bytes]]] = {}
        self._written: dict[str, str] = {}  # reference mode, in-memory images: relpath -> sha256
        self._files: dict[tuple[str, str], str] = {}  # reference mode, file-backed: (root, rel) -> sha256
        self._verified: set[str] = set()  # sha256 of blobs already decoded
        self.external_root = False
        self.tick: Callable[[int], None] = lambda n: None  # progress: images read and checked

    def _check(self, blob: bytes, name: str) -> str:
        """Decode ``blob`` fully (once per distinct content); return its SHA-256."""
        digest = image_sha256(blob)
        if digest not in self._verified:
            verify_image(blob, name)
            self._verified.add(digest)
        return digest

    def _blobs(self, access: ImageAccess, ids: np.ndarray) -> list[bytes]:
        key = id(access)
        if key not in self._cache:
            blobs = list(access.iter_encoded())
            for ident, blob in zip(ids, blobs):
                self._check(blob, str(ident))
                self.tick(1)
            self._cache[key] = (access, blobs)  # keep access alive
        return self._cache[key][1]

    def _file_sha(self, access: ImageAccess, rel: str) -> str:
        """SHA-256 of the file ``access.root / rel``, read safely and decoded once."""
        if access.root is None:
            raise ManifestError(f"image {rel!r} has a path but its source gives no image root; fix the source's ImageAccess.root")
        key = (str(access.root), rel)
        if key not in self._files:
            self._files[key] = self._check(read_image_file(access.root, rel), rel)
        return self._files[key]

    def column(self, ids: np.ndarray, access: ImageAccess) -> tuple[list, list, list | None]:
        """(column values for Parquet, per-row value hashed by the fingerprint, per-row image
        SHA-256 in reference mode else ``None``)."""
        if self.mode == "embed":
            blobs = self._blobs(access, ids)
            return [{"bytes": b, "path": f"{i}.{image_ext(b)}"} for i, b in zip(ids, blobs)], blobs, None
        paths, shas = [], []
        for row, ident in enumerate(ids):
            rel = access.reference_path(row)
            if rel is not None:
                self.external_root = True
                paths.append(rel)
                shas.append(self._file_sha(access, rel))
                self.tick(1)
                continue
            blob = self._blobs(access, ids)[row]
            source_rel = access.relpath(row)  # a transformed file: keep its (unique) path, new suffix
            stem = str(PurePosixPath(source_rel).with_suffix("")) if source_rel else str(ident)
            rel = f"images/{stem}.{image_ext(blob)}"
            digest = image_sha256(blob)
            if self._written.setdefault(rel, digest) != digest:
                raise ManifestError(f"two different images share id {ident!r}; a source must give each image its own id")
            target = self.folder / rel
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(blob)
            paths.append(rel)
            shas.append(digest)
        if self.external_root and self._written:
            raise ManifestError("reference build mixes file-backed and in-memory images; use `images: embed` for this recipe")
        return paths, paths, shas


def _write_split(
    folder: Path, rel: str, plan: SplitPlan, store: _ImageStore, class_names, recipe: Recipe, meta: dict
) -> dict[str, Any]:
    image_values, hashed, shas = store.column(plan.ids, plan.images)
    k = len(class_names)
    if plan.label.min(initial=0) < 0 or plan.label.max(initial=0) >= k:
        raise ManifestError(f"{meta['config']}/{meta['split']}: labels outside 0..{k - 1}; the noise family produced an invalid label")
    stats = realised(plan.label, plan.clean_label, plan.is_noisy, k)
    fp = split_fingerprint(plan.ids, hashed, plan.label, plan.clean_label, plan.is_noisy, plan.noise_source, shas)
    meta = {**meta, **stats, "fingerprint": fp, "num_rows": len(plan)}
    columns = {
        "id": plan.ids,
        image_column(recipe.images): image_values,
        "label": plan.label,
        "clean_label": plan.clean_label,
        "is_noisy": plan.is_noisy,
        "noise_source": plan.noise_source,
    }
    if shas is not None:
        columns[IMAGE_SHA256] = shas
    write_table(split_table(columns, class_names, recipe.images, meta), folder / rel)
    return {"file": rel, "rows": len(plan), "realised_rate": stats["realised_rate"], "num_noisy": stats["num_noisy"], "fingerprint": fp}


def _plans(recipe: Recipe, clean: dict[str, SplitData], class_names, seed: int) -> list[ConfigPlan]:
    plans: list[ConfigPlan] = []
    seen: set[str] = set()
    noisy = {s: clean[s] for s in NOISY_SPLITS}
    for entry in recipe.configs:
        ctx = FamilyContext(entry=entry, class_names=tuple(class_names), splits=noisy, seed=seed, recipe_dir=recipe.base_dir)
        for plan in plan_configs(ctx):
            if not _CONFIG_RE.match(plan.name) or plan.name in _RESERVED:
                raise RecipeError(f"config name {plan.name!r} (kind {entry.kind!r}) is invalid or reserved; use lowercase letters, digits, '-', '.', '_' and not {sorted(_RESERVED)}")
            if plan.name in seen:
                raise RecipeError(f"config name {plan.name!r} is produced twice; give the config entries distinct kinds")
            seen.add(plan.name)
            plans.append(plan)
    return plans


def _default_config(plans: list[ConfigPlan]) -> str:
    first_kind = plans[0].kind
    for p in plans:
        if p.kind == first_kind and p.level == 0.0:
            return p.name
    return plans[0].name


#: Written into a build folder when a family reports images absent on disk (CNWL dead URLs).
MISSING_IMAGES_FILE = "missing-images.txt"


def _missing_images(plans: Sequence[ConfigPlan]) -> list[tuple[str, str, str]]:
    """(config, split, image name) of every image a family reported missing, sorted."""
    out = set()
    for plan in plans:
        for split, sp in plan.splits.items():
            for key in ("missing_images", "missing_pool_images"):
                for name in sp.noise.get(key) or plan.spec.get(key) or ():
                    out.add((plan.name, split, str(name)))
    return sorted(out)


def _searched_folders(plans: Sequence[ConfigPlan]) -> list[str]:
    """Where families looked for the images they report missing (``image_folders_searched``)."""
    out: dict[str, None] = {}
    for plan in plans:
        for sp in plan.splits.values():
            if sp.noise.get("missing_images") or sp.noise.get("missing_pool_images"):
                out.update(dict.fromkeys(str(f) for f in sp.noise.get("image_folders_searched") or ()))
    return list(out)


def _store_images(store: _ImageStore, splits: Sequence[SplitPlan], phases: Phases) -> None:
    """Read, check and (reference mode) write every image once, as a phase of its own before
    any config is written; writing the configs then reuses the store's caches."""
    distinct: dict[int, SplitPlan] = {}
    for sp in splits:
        distinct.setdefault(id(sp.images), sp)
    name = "writing images" if store.mode == "reference" else "reading images"
    with phases.phase(name, total=sum(len(sp) for sp in distinct.values()), unit="images") as tick:
        store.tick = tick  # one tick per image read and checked
        try:
            for sp in distinct.values():
                store.column(sp.ids, sp.images)
        finally:
            store.tick = lambda n: None


def build_from_recipe(
    recipe: str | Path | Mapping[str, Any] | Recipe, out: str | Path, *, seed: int | None = None,
    progress: bool | Phases = False,
) -> BuildReport:
    """Build the dataset folder ``out`` from ``recipe``.

    Args:
        recipe: a recipe YAML path, a parsed mapping or a :class:`Recipe`.
        out: output folder; replaced atomically (a non-build folder is never replaced).
        seed: overrides the recipe's ``seed``.
        progress: report every phase on stderr (loading the source, drawing the noise, writing
            images, writing configs, syncing to disk): bars on a terminal, plain lines elsewhere
            (:class:`~cnlbench.manifest.phases.Phases`; pass one to choose its stream).

    Returns:
        A :class:`BuildReport` with per-config sizes, requested levels and realised rates.
    """
    from cnlbench.manifest.card import level_note, render_card

    rec = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise RecipeError(f"seed {seed!r} is not a non-negative integer; pass e.g. --seed 0")
    seed = rec.seed if seed is None else int(seed)
    phases = progress if isinstance(progress, Phases) else Phases(f"build {rec.name}", enabled=bool(progress))
    with phases.phase("loading the source"):
        source = make_source(rec.source_kind, **rec.resolved_source_options())
        class_names = list(source.class_names)
        clean = clean_splits(source, rec)
        src_fp = source_fingerprint({s: (d.ids, d.labels) for s, d in clean.items()})
    with phases.phase("drawing the noise"):
        plans = _plans(rec, clean, class_names, seed)
    default = _default_config(plans)
    raw = _jsonable(rec.raw)
    base_meta = {
        "cnlbench_version": __version__,
        "dataset": rec.name,
        "recipe": raw,
        "seed": seed,
        "class_names": class_names,
        "images": rec.images,
        "orientation": ORIENTATION,
        "source_fingerprint": src_fp,
    }
    out = Path(out)
    writing = contextlib.ExitStack()
    record_configs: dict[str, Any] = {}
    summaries = []
    try:
        with atomic_directory(out, phase=phases.phase) as tmp:
            store = _ImageStore(rec.images, tmp)
            test = clean["test"]
            test_plan = SplitPlan(test.ids, test.labels, test.labels, np.zeros(len(test), bool), np.full(len(test), "none"), test.images)
            test_meta = {**base_meta, "config": CLEAN_CONFIG, "split": "test", "noise_kind": "none", "requested_level": 0.0, "nested": False, "noise": {}, "noise_spec": {}, "requested_matrix": None}
            _store_images(store, [test_plan, *(p.splits[sp] for p in plans for sp in NOISY_SPLITS)], phases)
            tick = writing.enter_context(phases.phase("writing configs", total=1 + 2 * len(plans), unit="splits"))
            test_rec = _write_split(tmp, split_file(CLEAN_CONFIG, "test"), test_plan, store, class_names, rec, test_meta)
            tick(1)
            for plan in plans:
                splits_rec = {}
                for split in NOISY_SPLITS:
                    meta = {
                        **base_meta,
                        "config": plan.name,
                        "split": split,
                        "noise_kind": plan.kind,
                        "noise_spec": _jsonable(plan.spec),
                        "noise": _jsonable(plan.splits[split].noise),
                        "requested_level": plan.level,
                        "requested_matrix": None if plan.requested_matrix is None else np.asarray(plan.requested_matrix, np.float64).tolist(),
                        "nested": plan.nested,
                    }
                    splits_rec[split] = _write_split(tmp, split_file(plan.name, split), plan.splits[split], store, class_names, rec, meta)
                    tick(1)
                splits_rec["test"] = test_rec
                fp = combine({s: splits_rec[s]["fingerprint"] for s in SPLITS})
                record_configs[plan.name] = {
                    "kind": plan.kind,
                    "level": plan.level,
                    "nested": plan.nested,
                    "default": plan.name == default,
                    "noise_spec": _jsonable(plan.spec),
                    "requested_matrix": None if plan.requested_matrix is None else np.asarray(plan.requested_matrix, np.float64).tolist(),
                    "splits": splits_rec,
                    "fingerprint": fp,
                    "noise_fingerprint": noise_fingerprint(plan.kind, plan.level, plan.requested_matrix),
                }
                summaries.append(
                    ConfigSummary(
                        plan.name, plan.kind, plan.level, plan.nested,
                        {s: splits_rec[s]["rows"] for s in SPLITS},
                        {s: splits_rec[s]["realised_rate"] for s in NOISY_SPLITS},
                        fp,
                        level_note(record_configs[plan.name], class_names),
                    )
                )
            missing = _missing_images(plans)
            if missing:
                (tmp / MISSING_IMAGES_FILE).write_text(
                    "# images the recipe names that are absent on disk: config<TAB>split<TAB>image\n"
                    + "".join(f"# searched: {f}\n" for f in _searched_folders(plans))
                    + "".join(f"{c}\t{sp}\t{name}\n" for c, sp, name in missing), encoding="utf-8")
            record = {
                "build_format": BUILD_FORMAT,
                "cnlbench_version": __version__,
                "name": rec.name,
                "seed": seed,
                "recipe": raw,
                "images": rec.images,
                "image_root": "external" if store.external_root else "dataset",
                "class_names": class_names,
                "orientation": ORIENTATION,
                "default_config": default,
                "source": {
                    "kind": rec.source_kind,
                    "name": source.name,
                    "license": source.license,
                    "fingerprint": src_fp,
                    "rows": {s: len(d) for s, d in clean.items()},
                },
                "clean": {"test": test_rec},
                "configs": record_configs,
            }
            text = json.dumps(record, sort_keys=True, indent=2, allow_nan=False) + "\n"
            (tmp / BUILD_RECORD).write_text(text, encoding="utf-8")
            (tmp / "README.md").write_text(render_card(record, rec, source), encoding="utf-8")
            writing.close()
    finally:
        writing.close()
    phases.close()
    return BuildReport(out=out, name=rec.name, seed=seed, source_fingerprint=src_fp, default_config=default, configs=tuple(summaries))
