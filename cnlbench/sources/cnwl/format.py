"""The CNWL release format (Jiang et al., ICML 2020; ``dataset_no_images.zip``), one folder per
dataset::

    ROOT/class_names.txt            one class per line; class id = line number - 1
    ROOT/split/red_noise_nl_0.0     ... for levels 0.0 0.05 0.1 0.15 0.2 0.3 0.4 0.5 0.6 0.8
    ROOT/split/blue_noise_nl_0.0    ... same levels
    ROOT/split/clean_validation
    ROOT/<anything>.json            the annotations (exactly one JSON file in ROOT)

Split files have no header; each line is ``<image file name> <class id>``. Clean (ImageNet or
Stanford Cars) images are named like ``n0144076400000001.jpg``; web images ``<16 hex>.jpg``.
The annotation JSON is ``{"data": [[record, ...], ...]}`` (a list of groups of records) with
records ``{"image/id", "image/uri", "image/class/label", "image/class/label/is_clean"}``. Readers
also accept three optional extension keys, written by the generated digits pool
(:mod:`cnlbench.sources.digits_web`): ``"image/class/true_label"`` (int, -1 unknown),
``"image/retrieval"`` (``"text"`` or ``"image"``) and ``"image/votes"`` (list of 0/1 rater votes,
1 = correct). An id is the file name without its extension.

Images are not part of the release; where they are looked for is :mod:`.stores` and
:func:`image_subdirs` (``ROOT/all_images/`` for every image of the training split files, clean
and web; ``ROOT/all_validation/`` for ``clean_validation``, as third-party readers expect them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

import numpy as np

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.cnwl.pool import AnnotatedPool, as_bool, as_int, build_pool
from cnlbench.sources.images import check_relpath


#: The ten levels of the release, as fractions.
CNWL_LEVELS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)
COLORS = ("red", "blue")
CLEAN_VALIDATION = "clean_validation"
#: Image folders under the release root, as third-party CNWL readers expect them: every image of
#: the training split files (clean and web) in ``all_images/``, those of ``clean_validation`` in
#: ``all_validation/``.
TRAIN_IMAGE_DIR = "all_images"
VALIDATION_IMAGE_DIR = "all_validation"
_WEB_NAME = re.compile(r"^[0-9a-f]{16}\.[A-Za-z0-9]+$")


def level_file_name(color: str, level: float) -> str:
    """``red_noise_nl_0.4`` style split file name for ``color`` and ``level`` (a fraction)."""
    if color not in COLORS:
        raise SourceError(f"CNWL noise colour {color!r} is not known; use 'red' (web) or 'blue'")
    return f"{color}_noise_nl_{float(level)!r}"


def image_subdirs(split_file: str | None) -> tuple[str, ...]:
    """Sub-folders searched, in order, under each image folder for the images of ``split_file``:
    the folder itself, ``images/``, then ``all_validation/`` for ``clean_validation`` or
    ``all_images/`` for every other split file (and for pool images, ``split_file=None``)."""
    return ("", "images", VALIDATION_IMAGE_DIR if split_file == CLEAN_VALIDATION else TRAIN_IMAGE_DIR)


def is_web_name(name: str) -> bool:
    """True for CNWL web image file names (``<16 hex digits>.<ext>``)."""
    return bool(_WEB_NAME.match(name))


def stem(name: str) -> str:
    """The id of an image file name: the name without its last extension."""
    return PurePosixPath(name).stem


# --------------------------------------------------------------------------------------------
# Class names and split files


def read_class_names(path: str | Path) -> tuple[str, ...]:
    """Class names from ``class_names.txt`` (class id = line number - 1; blank lines refused)."""
    p = Path(path)
    if not p.is_file():
        raise MissingDataError(f"class names file {p} is missing; it ships in the CNWL release zip")
    lines = p.read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for i, line in enumerate(lines):
        if not line.strip():
            raise SourceError(f"{p}:{i + 1} is blank; every line must name one class")
    return tuple(line.strip() for line in lines)


@dataclass(frozen=True)
class SplitList:
    """One split file: ``names`` (N,) str image file names and ``labels`` (N,) int64, in file order;
    ``line_numbers`` (N,) int64, the 1-based line of each entry in ``path`` (for error messages)."""

    names: np.ndarray
    labels: np.ndarray
    line_numbers: np.ndarray | None = None
    path: str = ""

    def where(self, row: int) -> str:
        """``file:line`` of entry ``row`` (the row number when the file is not known)."""
        if self.line_numbers is None:
            return f"{self.path or 'split'} row {row + 1}"
        return f"{self.path}:{int(self.line_numbers[row])}"

    @property
    def ids(self) -> np.ndarray:
        return np.array([stem(n) for n in self.names.tolist()], dtype=str)

    @property
    def is_web(self) -> np.ndarray:
        return np.array([is_web_name(n) for n in self.names.tolist()], dtype=bool)

    def __len__(self) -> int:
        return int(self.names.shape[0])


def read_split_file(path: str | Path, num_classes: int | None = None) -> SplitList:
    """Parse a CNWL split file; errors name ``file:line`` and the bad text."""
    p = Path(path)
    if not p.is_file():
        raise MissingDataError(f"CNWL split file {p} is missing; it ships in the release's split/ folder")
    names: list[str] = []
    labels: list[int] = []
    lines: list[int] = []
    with open(p, "rb") as f:
        for i, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise SourceError(f"{p}:{i}: line is not UTF-8 text ({raw[:60]!r}); re-extract the release zip") from None
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise SourceError(
                    f"{p}:{i}: expected '<image file name> <class id>', got {line.rstrip()!r}"
                )
            try:
                lab = int(parts[1])
            except ValueError:
                raise SourceError(f"{p}:{i}: class id {parts[1]!r} is not an integer") from None
            if lab < 0 or (num_classes is not None and lab >= num_classes):
                raise SourceError(
                    f"{p}:{i}: class id {lab} is outside 0..{(num_classes or 1) - 1}; check that "
                    f"class_names.txt belongs to this release"
                )
            try:
                check_relpath(parts[0])
            except SourceError as e:
                raise SourceError(f"{p}:{i}: {e}") from None
            names.append(parts[0])
            labels.append(lab)
            lines.append(i)
    return SplitList(np.array(names, dtype=str), np.array(labels, dtype=np.int64), np.array(lines, dtype=np.int64), str(p))


def write_split_file(path: str | Path, names: Sequence[str], labels: Sequence[int]) -> None:
    """Write a split file in the release format (``name label`` per line, ``\\n`` endings)."""
    text = "".join(f"{n} {int(lab)}\n" for n, lab in zip(names, labels))
    Path(path).write_bytes(text.encode("utf-8"))


def read_annotations(path: str | Path, num_classes: int | None = None) -> AnnotatedPool:
    """Read the CNWL annotation JSON (``{"data": [[record, ...], ...]}``)."""
    p = Path(path)
    if not p.is_file():
        raise MissingDataError(f"CNWL annotation file {p} is missing; it ships in the release zip")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SourceError(f"{p} is not valid JSON ({e}); re-extract the release zip") from None
    groups = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(groups, list):
        raise SourceError(f"{p}: expected a JSON object with a 'data' list of record groups")
    rows = []
    for gi, group in enumerate(groups):
        recs = group if isinstance(group, list) else [group]
        for ri, rec in enumerate(recs):
            where = f"{p} data[{gi}][{ri}]"
            if not isinstance(rec, dict):
                raise SourceError(f"{where}: a record must be a JSON object, got {type(rec).__name__}")
            try:
                rid, label, clean = rec["image/id"], rec["image/class/label"], rec["image/class/label/is_clean"]
            except KeyError as e:
                raise SourceError(f"{where}: record lacks key {e.args[0]!r}") from None
            lab = as_int(label, where, "image/class/label")
            if lab < 0 or (num_classes is not None and lab >= num_classes):
                raise SourceError(f"{where}: class {lab} is outside 0..{(num_classes or 1) - 1}")
            row = {
                "id": str(rid),
                "retrieved_class": lab,
                "is_clean": as_bool(clean, where),
                "uri": str(rec.get("image/uri", "")),
                "true_class": as_int(rec.get("image/class/true_label", -1), where, "true_label"),
                "retrieval": str(rec.get("image/retrieval", "")),
            }
            votes = rec.get("image/votes")
            if votes is not None:
                row["votes_correct"] = int(sum(int(as_bool(v, where)) for v in votes))
                row["votes_total"] = len(votes)
            rows.append(row)
    return build_pool(rows, str(p))


def write_annotations(path: str | Path, groups: Iterable[Iterable[dict]]) -> None:
    """Write records (already keyed ``image/...``) as the CNWL annotation JSON, deterministically."""
    doc = {"data": [list(g) for g in groups]}
    Path(path).write_bytes((json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode())
