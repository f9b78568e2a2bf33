"""Stanford Cars (Krause et al. 2013) from the devkit ``.mat`` files.

On disk (``root``; the ``.mat`` files may also sit in ``root/devkit/``):

* ``cars_meta.mat``: ``class_names`` (1 x 196 cell of strings);
* ``cars_train_annos.mat``: ``annotations`` struct array (1 x 8,144) with fields
  ``bbox_x1, bbox_y1, bbox_x2, bbox_y2, class`` (1-based), ``fname``;
* ``cars_test_annos.mat``: the same without ``class`` (1 x 8,041);
* test labels from ``cars_test_annos_withlabels.mat`` (same layout as the train file) or
  ``anno_test.csv`` (``fname,x1,y1,x2,y2,class``, 1-based, no header);
* images in ``cars_train/`` and ``cars_test/``.

Labels are 0-based; bounding boxes are the extras ``bbox_x1 .. bbox_y2`` (int64, pixels,
1-based inclusive as in the devkit). Option ``crop=True`` crops each image to its box before
the optional resize to ``image_size``. Ids: ``cars-train-00001`` (from the file name).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.base import Source, SplitData, register_source
from cnlbench.sources.images import resize_transform
from cnlbench.sources.views import FileImages

__all__ = ["StanfordCarsSource", "read_cars_annotations", "read_cars_class_names"]

_BOX = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2")
_URL = "https://ai.stanford.edu/~jkrause/cars/car_dataset.html (devkit: car_devkit.tgz)"
_CITATION = (
    "@inproceedings{krause20133d, title={3D Object Representations for Fine-Grained "
    "Categorization}, author={Krause, Jonathan and Stark, Michael and Deng, Jia and Fei-Fei, Li}, "
    "booktitle={4th International IEEE Workshop on 3D Representation and Recognition (3dRR-13)}, "
    "year={2013}}"
)


def _loadmat(path: Path) -> dict:
    if not path.is_file():
        raise MissingDataError(f"Stanford Cars devkit file {path} not found; download {_URL} and extract it there")
    import scipy.io

    try:
        return scipy.io.loadmat(path, squeeze_me=True)
    except (ValueError, TypeError, OSError) as e:
        raise SourceError(f"{path}: not a readable MATLAB v5 .mat file ({e}); re-download the devkit") from None


def read_cars_class_names(path: Path) -> list[str]:
    """The 196 class names from ``cars_meta.mat`` (class id = position)."""
    m = _loadmat(path)
    if "class_names" not in m:
        raise SourceError(f"{path}: no 'class_names' variable (has {sorted(k for k in m if not k.startswith('__'))})")
    return [str(n) for n in np.atleast_1d(m["class_names"])]


def read_cars_annotations(path: Path) -> dict[str, np.ndarray]:
    """Columns of a devkit ``annotations`` struct: ``fname`` (str) and the bbox/class fields
    (int64, as stored: class 1-based)."""
    m = _loadmat(path)
    ann = m.get("annotations")
    if ann is None or getattr(ann, "dtype", None) is None or ann.dtype.names is None:
        raise SourceError(f"{path}: no 'annotations' struct array; is this a Stanford Cars devkit file?")
    ann = np.atleast_1d(ann)
    missing = [f for f in (*_BOX, "fname") if f not in ann.dtype.names]
    if missing:
        raise SourceError(f"{path}: annotations lack fields {missing} (has {list(ann.dtype.names)})")
    out = {"fname": np.array([str(v) for v in ann["fname"]])}
    for f in (*_BOX, "class"):
        if f in ann.dtype.names:
            out[f] = np.array([int(v) for v in ann[f]], dtype=np.int64)
    return out


def _read_test_csv(path: Path) -> dict[str, np.ndarray]:
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            if len(row) != 6:
                raise SourceError(f"{path} line {line_no}: expected fname,x1,y1,x2,y2,class, got {row!r}")
            try:
                rows.append((row[0].strip(), *(int(v) for v in row[1:])))
            except ValueError:
                raise SourceError(f"{path} line {line_no}: non-integer box or class in {row!r}") from None
    cols = list(zip(*rows)) if rows else [()] * 6
    out = {"fname": np.array(cols[0], dtype=str)}
    for name, col in zip((*_BOX, "class"), cols[1:]):
        out[name] = np.array(col, dtype=np.int64)
    return out


@register_source("stanford-cars")
class StanfordCarsSource(Source):
    """See the module docstring. Options: ``root``, ``crop`` (bool), ``image_size`` (int or
    None), ``check_sizes`` (expect 196 classes, 8,144 / 8,041 examples)."""

    name = "stanford-cars"
    license = "Stanford Cars terms: non-commercial research and educational use"
    citation = _CITATION
    homepage = "https://ai.stanford.edu/~jkrause/cars/car_dataset.html"

    _N = {"train": 8144, "test": 8041}

    def __init__(
        self,
        root: str | Path,
        *,
        crop: bool = False,
        image_size: int | None = None,
        check_sizes: bool = True,
    ):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise MissingDataError(f"Stanford Cars folder {self.root} does not exist; download {_URL} there")
        self.devkit = self.root / "devkit" if (self.root / "devkit" / "cars_meta.mat").is_file() else self.root
        self.crop, self.image_size, self.check_sizes = bool(crop), image_size, check_sizes
        self.class_names = tuple(read_cars_class_names(self.devkit / "cars_meta.mat"))
        if check_sizes and len(self.class_names) != 196:
            raise SourceError(f"{self.devkit}/cars_meta.mat has {len(self.class_names)} classes, expected 196")
        self._cache: dict[str, SplitData] = {}

    def split_names(self) -> tuple[str, ...]:
        return ("train", "test")

    def _annotations(self, split: str) -> dict[str, np.ndarray]:
        if split == "train":
            ann = read_cars_annotations(self.devkit / "cars_train_annos.mat")
            if "class" not in ann:
                raise SourceError(f"{self.devkit}/cars_train_annos.mat has no 'class' field")
            return ann
        with_labels = self.devkit / "cars_test_annos_withlabels.mat"
        csv_path = next((p for p in (self.devkit / "anno_test.csv", self.root / "anno_test.csv") if p.is_file()), None)
        if with_labels.is_file():
            ann = read_cars_annotations(with_labels)
        elif csv_path is not None:
            ann = _read_test_csv(csv_path)
            devkit_test = self.devkit / "cars_test_annos.mat"
            if devkit_test.is_file():
                ref = read_cars_annotations(devkit_test)
                if not np.array_equal(ref["fname"], ann["fname"]) or any(
                    not np.array_equal(ref[b], ann[b]) for b in _BOX
                ):
                    raise SourceError(
                        f"{csv_path} disagrees with {devkit_test} on file names or boxes; the "
                        "labelled CSV belongs to another release: re-export it"
                    )
        else:
            raise MissingDataError(
                f"no Stanford Cars test labels under {self.devkit}: put cars_test_annos_withlabels.mat "
                "(from the devkit page) or anno_test.csv (fname,x1,y1,x2,y2,class) there"
            )
        if "class" not in ann:
            raise SourceError(f"test annotations under {self.devkit} carry no class labels")
        return ann

    def load_split(self, split: str) -> SplitData:
        self.check_split_name(split)
        if split in self._cache:
            return self._cache[split]
        ann = self._annotations(split)
        n = len(ann["fname"])
        if self.check_sizes and n != self._N[split]:
            raise SourceError(f"Stanford Cars {split}: {n} annotations, expected {self._N[split]}; re-download the devkit")
        cls = ann["class"]
        k = self.num_classes
        if n and (cls.min() < 1 or cls.max() > k):
            raise SourceError(
                f"Stanford Cars {split}: classes span {cls.min()}..{cls.max()}, expected 1-based 1..{k}"
            )
        fnames = ann["fname"]
        if len(set(fnames.tolist())) != n:
            raise SourceError(f"Stanford Cars {split}: duplicate file names in the annotations")
        boxes = np.stack([ann[b] for b in _BOX], axis=1)  # (N, 4) 1-based inclusive
        # Pillow crop box: 0-based, right/bottom exclusive == (x1 - 1, y1 - 1, x2, y2).
        crop_boxes = boxes - np.array([1, 1, 0, 0]) if self.crop else None
        folder = f"cars_{split}"
        images = FileImages(self.root, [f"{folder}/{f}" for f in fnames], resize_transform(self.image_size, crop_boxes))
        ids = np.array([f"cars-{split}-{Path(f).stem}" for f in fnames])
        extras = {b: ann[b].astype(np.int64) for b in _BOX}
        self._cache[split] = SplitData(ids=ids, labels=cls - 1, images=images, extras=extras)
        return self._cache[split]
