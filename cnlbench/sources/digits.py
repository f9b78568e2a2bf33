"""The embedded default: scikit-learn's bundled handwritten digits (offline, 1,797 images).

``sklearn.datasets.load_digits()`` ships 1,797 real 8x8 grayscale images of the digits 0-9
(UCI ML hand-written digits, test part of the original 43-writer collection) with intensities
0..16. This source scales them to 0..255 (``round(v * 255 / 16)``), encodes each as PNG with the
deterministic encoder in :mod:`cnlbench.sources.png`, and names them ``digits-00000`` ..
``digits-01796`` in source order.

Splits (a fixed rule, no RNG): within each class, in source order, every fifth example
(class-rank ``r`` with ``r % 5 == 4``) goes to ``test`` and the rest to ``train`` — 80/20 per
class. The source ships no validation split; a recipe carves a noisy validation split from
``train`` (see ``docs/recipes.md``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cnlbench.errors import SourceError
from cnlbench.sources.base import Source, SplitData, register_source
from cnlbench.sources.png import encode_png
from cnlbench.sources.views import BytesImages

CITATION = """@misc{alpaydin1998digits,
  author = {Alpaydin, E. and Kaynak, C.},
  title = {Optical Recognition of Handwritten Digits},
  year = {1998},
  howpublished = {UCI Machine Learning Repository},
  doi = {10.24432/C50P49}
}"""

#: Every ``TEST_EVERY``-th example of a class (by rank within the class) is a test example.
TEST_EVERY = 5


@lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) uint8 0..255, labels (1797,) int64), in sklearn's order."""
    from sklearn.datasets import load_digits  # lazy: sklearn is heavy to import

    bunch = load_digits()
    images = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0)).astype(np.uint8)
    return images, np.asarray(bunch.target, dtype=np.int64)


def split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Source positions (ascending, int64) of ``split`` under the fixed 80/20 per-class rule."""
    rank = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        rank[where] = np.arange(len(where))
    is_test = rank % TEST_EVERY == TEST_EVERY - 1
    return np.flatnonzero(is_test if split == "test" else ~is_test).astype(np.int64)


@register_source("digits")
class DigitsSource(Source):
    """scikit-learn's bundled digits as a clean source with ``train`` and ``test`` splits."""

    name = "digits"
    class_names = tuple(str(d) for d in range(10))
    license = "CC-BY-4.0"
    citation = CITATION
    homepage = "https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits"

    def __init__(self, **options) -> None:
        if options:
            raise SourceError(
                f"source kind 'digits' takes no options, got {sorted(options)}; remove them from "
                "the recipe's `source:` entry"
            )

    def split_names(self) -> tuple[str, ...]:
        return ("train", "test")

    def load_split(self, split: str) -> SplitData:
        self.check_split_name(split)
        images, labels = _load()
        idx = split_indices(labels, split)
        ids = np.array([f"digits-{i:05d}" for i in idx])
        blobs = [encode_png(images[i]) for i in idx]
        return SplitData(ids=ids, labels=labels[idx], images=BytesImages(blobs))
