"""A CNWL release folder (:class:`CnwlRelease`) and its consistency check."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.cnwl.format import (
    SplitList,
    image_subdirs,
    level_file_name,
    read_annotations,
    read_class_names,
    read_split_file,
    stem,
)
from cnlbench.sources.cnwl.pool import AnnotatedPool
from cnlbench.sources.cnwl.stores import FolderImageStore, ParquetImageStore
from cnlbench.sources.views import ImageStore


@dataclass
class ConsistencyReport:
    """Mismatches between the split files and the annotations (a known CNWL complaint).

    ``web_not_annotated[split]``: web image names in ``split`` with no annotation record;
    ``label_mismatch[split]``: ``(name, split label, annotated class)`` for web images whose
    split label differs from the class they were annotated for; ``clean_verdict_in_red[split]``:
    web names in a red split whose annotation says the image is CORRECT for the class;
    ``conflicting_ids``: ids annotated for several classes.
    """

    web_not_annotated: dict[str, list[str]] = field(default_factory=dict)
    label_mismatch: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)
    clean_verdict_in_red: dict[str, list[str]] = field(default_factory=dict)
    conflicting_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            any(self.web_not_annotated.values())
            or any(self.label_mismatch.values())
            or any(self.clean_verdict_in_red.values())
            or self.conflicting_ids
        )

    def summary(self) -> str:
        lines = []
        for name, d in (
            ("web images without annotation", self.web_not_annotated),
            ("label differs from annotation", self.label_mismatch),
            ("annotated clean but in a red split", self.clean_verdict_in_red),
        ):
            for split, items in sorted(d.items()):
                if items:
                    lines.append(f"{split}: {len(items)} {name} (e.g. {items[0]})")
        if self.conflicting_ids:
            lines.append(f"{len(self.conflicting_ids)} ids annotated for several classes "
                         f"(e.g. {self.conflicting_ids[0]})")
        return "\n".join(lines) if lines else "split files and annotations agree"

    def to_json(self) -> dict:
        return {
            "web_not_annotated": self.web_not_annotated,
            "label_mismatch": {k: [list(t) for t in v] for k, v in self.label_mismatch.items()},
            "clean_verdict_in_red": self.clean_verdict_in_red,
            "conflicting_ids": self.conflicting_ids,
        }


class CnwlRelease:
    """A CNWL release folder (see the module docstring); images are not needed to read it."""

    def __init__(self, root: str | Path, annotations: str | Path | None = None, label: str | None = None):
        self.root = Path(root)
        #: The release folder as reports name it (default: ``root``).
        self.label = str(root) if label is None else label
        if not (self.root / "split").is_dir():
            raise MissingDataError(
                f"{self.root} has no split/ folder; point at the extracted CNWL release folder "
                f"(the one holding class_names.txt and split/)"
            )
        self.class_names = read_class_names(self.root / "class_names.txt")
        if annotations is None:
            found = sorted(self.root.glob("*.json"))
            if len(found) != 1:
                raise SourceError(
                    f"{self.root} holds {len(found)} JSON files ({[f.name for f in found]}); "
                    f"expected exactly one annotation file, or pass annotations=PATH"
                )
            annotations = found[0]
        self.annotations_path = Path(annotations)
        self._pool: AnnotatedPool | None = None
        self._splits: dict[str, SplitList] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split_names(self) -> list[str]:
        return sorted(p.name for p in (self.root / "split").iterdir() if p.is_file())

    def split(self, name: str) -> SplitList:
        if name not in self._splits:
            self._splits[name] = read_split_file(self.root / "split" / name, self.num_classes)
        return self._splits[name]

    def level_split(self, color: str, level: float) -> SplitList:
        return self.split(level_file_name(color, level))

    @property
    def pool(self) -> AnnotatedPool:
        if self._pool is None:
            self._pool = read_annotations(self.annotations_path, self.num_classes)
        return self._pool

    def image_stores(self, split_file: str | None = None) -> list[ImageStore]:
        """Image stores inside the release folder for the images of ``split_file`` (``None``:
        pool images): ``images.parquet`` (the packaged pool's archive) if present, then the
        folders ``images/`` and ``all_images/`` (training split files, pool images) or
        ``all_validation/`` (``clean_validation``). Without an archive the folder store is
        returned even when no such folder exists, so that a missing-image report names where
        images were expected."""
        stores: list[ImageStore] = []
        if (self.root / "images.parquet").is_file():
            stores.append(ParquetImageStore(self.root / "images.parquet", f"{self.label}/images.parquet"))
        subdirs = image_subdirs(split_file)[1:]
        if not stores or any((self.root / sub).is_dir() for sub in subdirs):
            stores.append(FolderImageStore(self.root, subdirs, self.label))
        return stores

    def check(self, splits: Sequence[str] | None = None) -> ConsistencyReport:
        """Compare every (or the named) split file's web images with the annotations."""
        pool = self.pool
        idx = pool.index()
        rep = ConsistencyReport(conflicting_ids=list(pool.conflicts))
        for name in splits if splits is not None else self.split_names():
            sl = self.split(name)
            web = sl.is_web
            missing, mismatch, clean_red = [], [], []
            for n, lab in zip(sl.names[web].tolist(), sl.labels[web].tolist()):
                j = idx.get(stem(n))
                if j is None:
                    missing.append(n)
                    continue
                if int(pool.retrieved_class[j]) != lab:
                    mismatch.append((n, lab, int(pool.retrieved_class[j])))
                if name.startswith("red_") and pool.is_clean[j]:
                    clean_red.append(n)
            rep.web_not_annotated[name] = missing
            rep.label_mismatch[name] = mismatch
            rep.clean_verdict_in_red[name] = clean_red
        return rep
