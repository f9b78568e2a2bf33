"""Regenerate the packaged digits web pool (``cnlbench/data/digits-web``) byte for byte.

Usage (from the repository root)::

    python tools/make_digits_web.py                   # rewrites cnlbench/data/digits-web
    python tools/make_digits_web.py --out /tmp/pool   # anywhere else

The pool is data the library only reads (:mod:`cnlbench.sources.digits_web`); this script is how
it was made. The digits source (:mod:`cnlbench.sources.digits`) has no real web images, so it
*simulates* a CNWL-style retrieval for each digit class and writes the result in the CNWL release
format (:mod:`cnlbench.sources.cnwl.format`):

* "incorrect" retrievals: look-alike glyphs a text search for the digit could return (letters and
  symbols such as ``O``/``Q``/``D`` for 0; for 1 also the digit ``7``, whose true class is then
  known); "correct" retrievals: the right digit in other styles;
* every glyph rendered with Pillow's bundled default font (``ImageFont.load_default(size)``) at
  32x32 with random size, stroke thickness, shift and rotation, box-downsampled to 8x8, plus
  pixel noise, quantised to the digits' 17 intensity levels (0..16 scaled to 0..255): the same
  format as the digits source images, PNG via the deterministic encoder;
* 3-5 simulated raters per image from a panel of 24 raters with per-rater error rates in
  [0.03, 0.20]; the verdict is the majority (ties count as not clean);
* a 20% share marked as image-to-image retrievals (``image/retrieval = "image"``), so the
  ``text_only`` construction can be exercised.

The bytes depend on the pinned numpy, Pillow and pyarrow versions (``constraints.txt``);
``tests/tools/test_make_digits_web.py`` checks that a regeneration matches the committed pool.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from cnlbench.manifest.atomic import replace_directory, sync_tree
from cnlbench.sources.cnwl import CNWL_LEVELS, level_file_name, write_annotations, write_split_file
from cnlbench.sources.digits_web import pool_path
from cnlbench.sources.png import encode_png

SEED = 20200713  # fixed: the pool is data, not a per-build draw
#: Per digit class: glyphs a text search for the digit might wrongly return.
LOOKALIKES: dict[int, tuple[str, ...]] = {
    0: ("O", "o", "Q", "D"),
    1: ("l", "I", "|", "7", "i"),
    2: ("Z", "z"),
    3: ("B", "E"),
    4: ("A", "H", "y"),
    5: ("S", "s"),
    6: ("b", "G"),
    7: ("T", "/"),
    8: ("B", "&", "S"),
    9: ("g", "q", "P"),
}
INCORRECT_PER_CLASS = 190
CORRECT_PER_CLASS = 40
IMAGE_RETRIEVAL_SHARE = 0.2
RATER_PANEL = 24
_CANVAS = 32


def _render(glyph: str, rng: np.random.Generator) -> np.ndarray:
    """One distorted 8x8 uint8 rendering of ``glyph`` (ink bright on black, 17 grey levels)."""
    from PIL import Image, ImageDraw, ImageFont

    size = int(rng.integers(22, 32))
    stroke = int(rng.integers(0, 3))
    font = ImageFont.load_default(size=size)
    im = Image.new("L", (_CANVAS, _CANVAS), 0)
    draw = ImageDraw.Draw(im)
    left, top, right, bottom = draw.textbbox((0, 0), glyph, font=font, stroke_width=stroke)
    dx, dy = (int(v) for v in rng.integers(-3, 4, size=2))
    x = (_CANVAS - (right - left)) / 2 - left + dx
    y = (_CANVAS - (bottom - top)) / 2 - top + dy
    draw.text((x, y), glyph, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
    angle = float(rng.uniform(-20.0, 20.0))
    im = im.rotate(angle, resample=Image.Resampling.BILINEAR)
    small = np.asarray(im.resize((8, 8), resample=Image.Resampling.BOX), dtype=np.float64)
    peak = small.max()
    if peak > 0:
        small *= 255.0 / peak
    small += rng.normal(0.0, 10.0, size=small.shape)
    levels = np.clip(np.rint(small * 16.0 / 255.0), 0, 16)
    return np.rint(levels * 255.0 / 16.0).astype(np.uint8)


def _pool_records(rng: np.random.Generator) -> list[dict]:
    """All pool records (with pixels under ``"_pixels"``), classes in order."""
    error_rates = rng.uniform(0.03, 0.20, size=RATER_PANEL)
    used_ids: set[str] = set()
    records = []
    for c in range(10):
        glyphs = [(g, int(g) if g.isdigit() else -1, False) for g in LOOKALIKES[c]]
        plan = [glyphs[i % len(glyphs)] for i in range(INCORRECT_PER_CLASS)]
        plan += [(str(c), c, True)] * CORRECT_PER_CLASS
        for glyph, true_class, correct in plan:
            while True:
                rid = f"{int(rng.integers(0, 2**63, dtype=np.int64)):016x}"
                if rid not in used_ids:
                    used_ids.add(rid)
                    break
            pixels = _render(glyph, rng)
            n_raters = int(rng.integers(3, 6))
            raters = rng.choice(RATER_PANEL, size=n_raters, replace=False)
            wrong = rng.random(n_raters) < error_rates[raters]
            votes = [int(correct != w) for w in wrong.tolist()]
            retrieval = "image" if rng.random() < IMAGE_RETRIEVAL_SHARE else "text"
            records.append(
                {
                    "image/id": rid,
                    "image/uri": f"images/{rid}.png",
                    "image/class/label": c,
                    "image/class/label/is_clean": int(sum(votes) * 2 > len(votes)),
                    "image/class/true_label": true_class,
                    "image/retrieval": retrieval,
                    "image/votes": votes,
                    "_pixels": pixels,
                }
            )
    return records


def _write_images(path: Path, records: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sorted((r["image/uri"], encode_png(r["_pixels"])) for r in records)
    table = pa.table(
        {"path": pa.array([p for p, _ in rows], pa.string()), "bytes": pa.array([b for _, b in rows], pa.binary())}
    )
    pq.write_table(table, path, compression="zstd", use_dictionary=False, write_statistics=False)


def generate(out: str | Path) -> Path:
    """Write the whole pool folder to ``out`` (atomically: built beside it, synced, then swapped in
    by :func:`cnlbench.manifest.atomic.replace_directory`)."""
    from cnlbench.noise import make_family, noise_levels
    from cnlbench.noise.web import WebPool, web_noise_levels
    from cnlbench.sources.digits import DigitsSource

    out = Path(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "split").mkdir(parents=True)
    seeds = np.random.SeedSequence(SEED).spawn(3)
    records = _pool_records(np.random.default_rng(seeds[0]))
    (tmp / "class_names.txt").write_bytes("".join(f"{d}\n" for d in range(10)).encode())
    _write_images(tmp / "images.parquet", records)
    groups = [[{k: v for k, v in r.items() if k != "_pixels"} for r in records if r["image/class/label"] == c] for c in range(10)]
    write_annotations(tmp / "annotations.json", groups)

    src = DigitsSource()
    train, test = src.load_split("train"), src.load_split("test")
    names = np.array([f"{i}.png" for i in train.ids.tolist()])
    pool = WebPool(
        ids=[r["image/id"] for r in records],
        retrieved_class=[r["image/class/label"] for r in records],
        is_clean=[bool(r["image/class/label/is_clean"]) for r in records],
        true_class=[r["image/class/true_label"] for r in records],
        retrieval=[r["image/retrieval"] for r in records],
    )
    red = web_noise_levels(train.labels, pool, CNWL_LEVELS, np.random.default_rng(seeds[1]), num_classes=10)
    for level, res in red.items():
        rows = [f"{pool.ids[j]}.png" if j >= 0 else n for n, j in zip(names.tolist(), res.pool_index.tolist())]
        write_split_file(tmp / "split" / level_file_name("red", level), rows, res.labels.tolist())
    blue = noise_levels(train.labels, make_family("symmetric", 10), list(CNWL_LEVELS), np.random.default_rng(seeds[2]), nested=True)
    for level, res in blue.items():
        write_split_file(tmp / "split" / level_file_name("blue", level), names.tolist(), res.noisy_labels.tolist())
    write_split_file(tmp / "split" / "clean_validation", [f"{i}.png" for i in test.ids.tolist()], test.labels.tolist())
    sync_tree(tmp)
    replace_directory(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/make_digits_web.py",
        description="Regenerate the digits web pool (CNWL release format) byte for byte.",
    )
    parser.add_argument("--out", default=str(pool_path()), help="output folder (default: the packaged pool)")
    args = parser.parse_args(argv)
    out = generate(args.out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
