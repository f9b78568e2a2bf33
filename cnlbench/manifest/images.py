"""Image access views used when a build reorders, subsets or mixes rows."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from cnlbench.errors import ManifestError
from cnlbench.sources.base import ImageAccess


class IndexedImages(ImageAccess):
    """Row ``i`` is image ``index[i]`` of ``base`` (a subset or reordering)."""

    def __init__(self, base: ImageAccess, index: np.ndarray):
        self.base = base
        self.index = np.asarray(index, dtype=np.int64)
        self.root = base.root

    def __len__(self) -> int:
        return len(self.index)

    def encoded(self, index: int) -> bytes:
        return self.base.encoded(int(self.index[index]))

    def relpath(self, index: int) -> str | None:
        return self.base.relpath(int(self.index[index]))

    def reference_path(self, index: int) -> str | None:
        return self.base.reference_path(int(self.index[index]))


class MixedImages(ImageAccess):
    """Row ``i`` is image ``index[i]`` of ``parts[which[i]]`` (e.g. clean images and web images).

    File-backed parts must share one ``root`` so that every row's ``relpath`` resolves against
    the same image root.
    """

    def __init__(self, parts: Sequence[ImageAccess], which: np.ndarray, index: np.ndarray):
        self.parts = list(parts)
        self.which = np.asarray(which, dtype=np.int64)
        self.index = np.asarray(index, dtype=np.int64)
        if self.which.shape != self.index.shape:
            raise ManifestError(f"MixedImages: which {self.which.shape} and index {self.index.shape} differ; give one entry per row")
        roots = {Path(p.root).resolve() for p in self.parts if p.root is not None}
        if len(roots) > 1:
            raise ManifestError(f"MixedImages: file-backed parts have different roots {sorted(map(str, roots))}; put the images under one root")
        self.root = next(iter(roots)) if roots else None

    def __len__(self) -> int:
        return len(self.index)

    def encoded(self, index: int) -> bytes:
        return self.parts[int(self.which[index])].encoded(int(self.index[index]))

    def relpath(self, index: int) -> str | None:
        return self.parts[int(self.which[index])].relpath(int(self.index[index]))

    def reference_path(self, index: int) -> str | None:
        return self.parts[int(self.which[index])].reference_path(int(self.index[index]))
