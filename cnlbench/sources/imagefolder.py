"""ImageFolder: ``root/<class>/<file>`` (one split ``train``) or ``root/<split>/<class>/<file>``.

Split folders recognised: ``train``, ``validation`` (or ``val``/``valid``) and ``test``; when
``root/train`` exists the tree is split, else the whole tree is the ``train`` split. Classes are
the sorted folder names of the train split; other splits may use a subset of them. Files are
taken in sorted order (by class, then POSIX relative path, recursively), with image suffixes
(``extensions``). Ids are the POSIX path below the split folder (``cat/001.jpg``), unique and
stable. Images are read through :func:`~cnlbench.sources.images.read_image_file` (no path may
escape the root) and, with ``image_size``, resized and re-encoded to PNG deterministically.

Recipe options: ``root``, ``image_size`` (int, optional), ``extensions`` (list),
``name`` (dataset name), ``license``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.base import SPLITS, Source, SplitData, register_source
from cnlbench.sources.images import resize_transform
from cnlbench.sources.views import FileImages

__all__ = ["IMAGE_EXTENSIONS", "ImageFolderSource"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
_SPLIT_DIRS = {"train": ("train",), "validation": ("validation", "val", "valid"), "test": ("test",)}


def _list_files(folder: Path, extensions: Sequence[str]) -> list[str]:
    """POSIX paths (relative to ``folder``) of image files below it, sorted; symlinked folders
    are not followed (a symlinked *file* is listed and checked when read)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        rel = Path(dirpath).relative_to(folder)
        for fn in sorted(filenames):
            if fn.lower().endswith(tuple(extensions)) and not fn.startswith("."):
                out.append((rel / fn).as_posix())
    return sorted(out)


@register_source("imagefolder")
class ImageFolderSource(Source):
    """Any ``root/[split/]class/file`` tree (see the module docstring)."""

    def __init__(
        self,
        root: str | Path,
        *,
        image_size: int | None = None,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        name: str | None = None,
        license: str = "unknown",
    ):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise MissingDataError(
                f"image folder {self.root} does not exist; create it as <root>/<class>/<image> "
                "or <root>/{train,test}/<class>/<image>, or fix the recipe's `root`"
            )
        self.name = name or self.root.name
        self.license = license
        self.image_size = image_size
        self.extensions = tuple(e.lower() for e in extensions)
        self._split_dirs: dict[str, Path] = {}
        if (self.root / "train").is_dir():
            for split, cands in _SPLIT_DIRS.items():
                for c in cands:
                    if (self.root / c).is_dir():
                        self._split_dirs[split] = self.root / c
                        break
        else:
            self._split_dirs["train"] = self.root
        classes = sorted(
            d.name for d in self._split_dirs["train"].iterdir() if d.is_dir() and not d.name.startswith(".")
        )
        if not classes:
            raise SourceError(
                f"{self._split_dirs['train']} has no class folders; lay images out as "
                "<root>/<class>/<image>"
            )
        self.class_names = tuple(classes)

    def split_names(self) -> tuple[str, ...]:
        return tuple(s for s in SPLITS if s in self._split_dirs)

    def load_split(self, split: str) -> SplitData:
        self.check_split_name(split)
        folder = self._split_dirs[split]
        index = {c: i for i, c in enumerate(self.class_names)}
        extra = sorted(
            d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name not in index
        )
        if extra:
            raise SourceError(
                f"{folder} has class folders {extra[:5]} that the train split lacks; every class "
                "needs training images (or remove those folders)"
            )
        rels: list[str] = []
        labels: list[int] = []
        for cls in self.class_names:
            if not (folder / cls).is_dir():
                continue
            for rel in _list_files(folder / cls, self.extensions):
                rels.append(f"{cls}/{rel}")
                labels.append(index[cls])
        if not rels:
            raise SourceError(f"{folder}: no image files with suffixes {list(self.extensions)}")
        prefix = folder.relative_to(self.root).as_posix()
        relpaths = [r if prefix == "." else f"{prefix}/{r}" for r in rels]
        images = FileImages(self.root, relpaths, resize_transform(self.image_size))
        return SplitData(ids=np.array(rels), labels=np.array(labels, dtype=np.int64), images=images)
