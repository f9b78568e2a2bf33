"""The embedded default's annotated web pool, shipped under ``cnlbench/data/digits-web/``.

The digits source (:mod:`cnlbench.sources.digits`) has no real web images, so the pool
*simulates* a CNWL-style retrieval for each digit class: look-alike glyphs a text search for the
digit could return (letters and symbols such as ``O``/``Q``/``D`` for 0; for 1 also the digit
``7``, whose true class is then known) and the right digit in other styles, rendered from a font
as 8x8 images in the digits' format, each judged by 3-5 simulated raters (majority verdict, ties
not clean), 20% of them marked as image-to-image retrievals. It was generated offline and
deterministically by ``tools/make_digits_web.py`` (which documents the construction and
regenerates it byte for byte); the library only reads it.

Layout (the CNWL release format, see :mod:`cnlbench.sources.cnwl.format`)::

    digits-web/class_names.txt
    digits-web/annotations.json      records with image/uri = images/<id>.png and the extension
                                     keys image/class/true_label, image/retrieval, image/votes
    digits-web/images.parquet        the 8x8 PNGs: columns path (= image/uri), bytes. One file
                                     instead of ~2,000 tiny ones in git.
    digits-web/split/red_noise_nl_*  web noise on the digits train split (nested, exact counts)
    digits-web/split/blue_noise_nl_* symmetric noise to a random incorrect class (nested, exact)
    digits-web/split/clean_validation  the digits test split

Clean rows in the split files name digits images as ``<digits id>.png`` (e.g.
``digits-00000.png``); they resolve against the digits source, like ImageNet names in the real
release resolve against the user's Mini-ImageNet images.
"""

from __future__ import annotations

from pathlib import Path

from cnlbench.sources.cnwl import CnwlRelease

__all__ = ["pool_path", "release"]


def pool_path() -> Path:
    """The packaged pool folder ``cnlbench/data/digits-web``."""
    return Path(__file__).resolve().parent.parent / "data" / "digits-web"


def release() -> CnwlRelease:
    """The packaged pool as a :class:`~cnlbench.sources.cnwl.CnwlRelease`."""
    return CnwlRelease(pool_path())
