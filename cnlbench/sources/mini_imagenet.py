"""Mini-ImageNet (Ravi & Larochelle split lists) as CNWL's 100-class "train" universe.

On disk: ``root/{train,val,test}.csv`` (header ``filename,label``; ``label`` is a WordNet id;
together 100 classes x 600 images) and the images under ``root/images/<filename>``
(``<wnid><8-digit index>.jpg``, the names CNWL split files use).

The source exposes ONE split, ``train``: the union of the chosen list files (option
``split_files``, default all three, in that order), as CNWL does (its blue-noise splits draw
60,000 training images from all 100 classes). Class names are the sorted wnids (class id =
position), ids are the file stems (``n0153282900000005``). Images are resized to
``image_size`` (84 by default, as CNWL; ``None`` keeps the files) and re-encoded as PNG
deterministically (Pillow bilinear).

Missing images: ``on_missing="error"`` (default) reports how many and which files are absent;
``"drop"`` rebuilds the split from the files that are present (the dropped names are kept in
:attr:`MiniImageNetSource.dropped`).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.base import Source, SplitData, register_source
from cnlbench.sources.images import check_relpath, resize_transform
from cnlbench.sources.views import FileImages

__all__ = ["MiniImageNetSource", "read_file_list"]

_WNID = re.compile(r"^n\d{8}$")
_CITATION = (
    "@inproceedings{ravi2017optimization, title={Optimization as a Model for Few-Shot Learning}, "
    "author={Ravi, Sachin and Larochelle, Hugo}, booktitle={ICLR}, year={2017}}"
)


def read_file_list(path: Path) -> list[tuple[str, str]]:
    """``[(filename, wnid), ...]`` rows of a Mini-ImageNet CSV list, validated."""
    if not path.is_file():
        raise MissingDataError(
            f"Mini-ImageNet list {path} not found; get train.csv/val.csv/test.csv (Ravi & "
            "Larochelle split, https://github.com/twitter/meta-learning-lstm/tree/master/data/miniImagenet) "
            f"and put them in {path.parent}"
        )
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["filename", "label"]:
            raise SourceError(f"{path}: header {header!r} is not 'filename,label'; is this a Mini-ImageNet list?")
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 2:
                raise SourceError(f"{path} line {line_no}: expected 'filename,label', got {row!r}")
            fname, wnid = row[0].strip(), row[1].strip()
            if "/" in fname or not _WNID.match(wnid):
                raise SourceError(
                    f"{path} line {line_no}: {fname!r},{wnid!r} is not '<file name>,<wnid>' "
                    "(file names carry no folders; labels look like n01532829)"
                )
            rows.append((fname, wnid))
    return rows


@register_source("mini-imagenet")
class MiniImageNetSource(Source):
    """See the module docstring. Options: ``root``, ``split_files``, ``images_dir``,
    ``image_size``, ``on_missing``."""

    name = "mini-imagenet"
    license = "ImageNet terms of access (images); split lists MIT (Ravi & Larochelle)"
    citation = _CITATION
    homepage = "https://github.com/twitter/meta-learning-lstm"

    def __init__(
        self,
        root: str | Path,
        *,
        split_files: Sequence[str] = ("train", "val", "test"),
        images_dir: str = "images",
        image_size: int | None = 84,
        on_missing: str = "error",
    ):
        if on_missing not in ("error", "drop"):
            raise SourceError(f"on_missing={on_missing!r}; use 'error' or 'drop'")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise MissingDataError(
                f"Mini-ImageNet folder {self.root} does not exist; put train.csv, val.csv, "
                "test.csv and images/ there, or fix the recipe's `root`"
            )
        self.images_dir = check_relpath(images_dir)
        self.image_size = image_size
        self.on_missing = on_missing
        self.rows: list[tuple[str, str]] = []
        for name in split_files:
            self.rows.extend(read_file_list(self.root / f"{name}.csv"))
        if not self.rows:
            raise SourceError(f"no rows in Mini-ImageNet lists {list(split_files)} under {self.root}")
        fnames = [r[0] for r in self.rows]
        if len(set(fnames)) != len(fnames):
            dup = next(f for i, f in enumerate(fnames) if f in set(fnames[:i]))
            raise SourceError(f"file {dup!r} is listed twice in {list(split_files)}; the lists overlap")
        self.class_names = tuple(sorted({r[1] for r in self.rows}))
        self.dropped: list[str] = []

    def split_names(self) -> tuple[str, ...]:
        return ("train",)

    def class_counts(self) -> dict[str, int]:
        """Number of listed files per wnid."""
        out: dict[str, int] = {c: 0 for c in self.class_names}
        for _, wnid in self.rows:
            out[wnid] += 1
        return out

    def load_split(self, split: str) -> SplitData:
        self.check_split_name(split)
        index = {c: i for i, c in enumerate(self.class_names)}
        rows = self.rows
        rel = [f"{self.images_dir}/{f}" for f, _ in rows]
        missing = [i for i, p in enumerate(rel) if not (self.root / p).is_file()]
        if missing and self.on_missing == "error":
            names = [rows[i][0] for i in missing[:5]]
            raise MissingDataError(
                f"{len(missing)} of {len(rows)} Mini-ImageNet images are missing under "
                f"{self.root / self.images_dir} (e.g. {names}); add them, or pass "
                "on_missing='drop' to build from the images that are present"
            )
        if missing:
            gone = set(missing)
            self.dropped = [rows[i][0] for i in missing]
            keep = [i for i in range(len(rows)) if i not in gone]
            rows, rel = [rows[i] for i in keep], [rel[i] for i in keep]
        ids = np.array([Path(f).stem for f, _ in rows])
        labels = np.array([index[w] for _, w in rows], dtype=np.int64)
        images = FileImages(self.root, rel, resize_transform(self.image_size))
        return SplitData(ids=ids, labels=labels, images=images)
