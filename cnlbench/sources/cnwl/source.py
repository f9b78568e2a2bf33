"""The clean part of a CNWL release as a :class:`~cnlbench.sources.base.Source` (kind ``cnwl``)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from cnlbench.sources.base import Source, SplitData, register_source
from cnlbench.sources.cnwl.format import CLEAN_VALIDATION, image_subdirs
from cnlbench.sources.cnwl.release import CnwlRelease
from cnlbench.sources.cnwl.split_import import import_split
from cnlbench.sources.cnwl.stores import FolderImageStore
from cnlbench.sources.views import ImageStore


@register_source("cnwl")
class CnwlSource(Source):
    """The clean part of a CNWL release as a :class:`Source`.

    Options: ``root`` (release folder), ``image_dir`` (folder, or list of folders, holding the
    image files by name; each searched flat, under ``images/``, then under ``all_images/`` for
    training images or ``all_validation/`` for ``clean_validation``), ``annotations_file`` (JSON
    path, default: the one JSON in ``root``), ``train_split`` (default ``blue_noise_nl_0.0``, the
    clean training set), ``image_size`` (resize, e.g. 84; default: files as they are). The
    release folder's own ``all_images/`` and ``all_validation/`` (the layout third-party readers
    use) are always searched after ``image_dir``, so that layout needs no ``image_dir``. Splits:
    ``train`` (the clean training set) and ``test`` (``clean_validation``, the clean evaluation
    set the paper reports on). Missing images raise when read, naming the folders searched.
    """

    name = "cnwl"
    license = "CC-BY-4.0 (annotations); images: see their original licences"
    citation = """@inproceedings{jiang2020beyond,
  title = {Beyond Synthetic Noise: Deep Learning on Controlled Noisy Labels},
  author = {Jiang, Lu and Huang, Di and Liu, Mason and Yang, Weilong},
  booktitle = {ICML},
  year = {2020}
}"""
    homepage = "https://google.github.io/controlled-noisy-web-labels/"

    def __init__(self, root: str | Path, image_dir: str | Path | Sequence[str | Path] | None = None,
                 annotations_file: str | Path | None = None, train_split: str = "blue_noise_nl_0.0",
                 image_size: int | None = None):
        self.release = CnwlRelease(root, annotations_file)
        self.class_names = self.release.class_names
        self.folders = [] if image_dir is None else [image_dir] if isinstance(image_dir, (str, Path)) else list(image_dir)
        self.train_split = train_split
        self.image_size = image_size

    def stores(self, split_file: str) -> list[ImageStore]:
        """Where the images of ``split_file`` are looked for, in order."""
        subdirs = image_subdirs(split_file)
        return [FolderImageStore(f, subdirs) for f in self.folders] + self.release.image_stores(split_file)

    def split_names(self) -> tuple[str, ...]:
        return ("train", "test")

    def load_split(self, split: str) -> SplitData:
        self.check_split_name(split)
        file = self.train_split if split == "train" else CLEAN_VALIDATION
        imp = import_split(self.release, file, self.stores(file), missing="report", image_size=self.image_size)
        return SplitData(ids=imp.ids, labels=imp.labels, images=imp.images)
