"""Readers for annotated web pools: the CNWL release as distributed, and generic pool tables.

CNWL release (Jiang et al., ICML 2020; ``dataset_no_images.zip``), one folder per dataset::

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

Images are not part of the release; they live in folders the user supplies
(:class:`FolderImageStore`), in the release folder as third-party readers expect them
(``ROOT/all_images/`` for every image of the training split files, clean and web;
``ROOT/all_validation/`` for ``clean_validation``; see :func:`image_subdirs`) or, for the
shipped digits pool, in one Parquet archive (:class:`ParquetImageStore`, columns ``path``
string and ``bytes`` binary). Every missing-image report names the folders searched.

Generic pool table (CSV with a header, or Parquet), one row per retrieved image:

=================  ========  ==================================================================
column             required  meaning
=================  ========  ==================================================================
``id``             yes       unique image id (string)
``retrieved_class`` yes      class id (0-based) the image was retrieved for
``is_clean``       *         raters' majority verdict (true/false/1/0); or give both vote columns
``votes_correct``  *         number of raters saying the image shows ``retrieved_class``
``votes_incorrect`` *        number saying it does not; verdict = correct > incorrect (ties: not
                             clean)
``true_class``     no        class the image really shows, -1 unknown (default -1)
``retrieval``      no        ``text`` or ``image`` (default unknown)
``path``           no        image file path relative to the table's folder
``uri``            no        original URL
=================  ========  ==================================================================
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

import numpy as np

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.noise.web import WebPool
from cnlbench.sources.base import ImageAccess, Source, SplitData, register_source
from cnlbench.sources.images import check_relpath, read_image_file, resize_encode

__all__ = [
    "CNWL_LEVELS",
    "TRAIN_IMAGE_DIR",
    "VALIDATION_IMAGE_DIR",
    "AnnotatedPool",
    "CnwlRelease",
    "ConsistencyReport",
    "FolderImageStore",
    "ImportedSplit",
    "ParquetImageStore",
    "SourceImageStore",
    "SplitList",
    "image_available",
    "image_subdirs",
    "import_split",
    "is_web_name",
    "level_file_name",
    "read_annotations",
    "read_class_names",
    "read_pool_table",
    "read_split_file",
    "searched_folders",
    "write_annotations",
    "write_split_file",
]

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


# --------------------------------------------------------------------------------------------
# Annotated pools


@dataclass(frozen=True)
class AnnotatedPool:
    """Per retrieved image (M,): ``ids`` str, ``retrieved_class`` int64, ``is_clean`` bool,
    ``true_class`` int64 (-1 unknown), ``retrieval`` str (``text``/``image``/``""``), ``uri``
    str (``""`` unknown), ``path`` str (relative image path, ``""`` unknown),
    ``votes_correct`` / ``votes_total`` int64 (-1 unknown)."""

    ids: np.ndarray
    retrieved_class: np.ndarray
    is_clean: np.ndarray
    true_class: np.ndarray
    retrieval: np.ndarray
    uri: np.ndarray
    path: np.ndarray
    votes_correct: np.ndarray
    votes_total: np.ndarray
    #: ids that occur more than once with DIFFERENT classes; only the first record is kept.
    conflicts: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def to_web_pool(self) -> WebPool:
        """The noise layer's view (validates uniqueness and value ranges)."""
        return WebPool(
            ids=self.ids,
            retrieved_class=self.retrieved_class,
            is_clean=self.is_clean,
            true_class=self.true_class,
            retrieval=self.retrieval,
        )

    def index(self) -> dict[str, int]:
        """id -> position."""
        return {s: i for i, s in enumerate(self.ids.tolist())}


def _build_pool(rows: list[dict], where: str) -> AnnotatedPool:
    """Deduplicate ``rows`` (exact repeats dropped, conflicting classes reported) and pack."""
    seen: dict[str, int] = {}
    kept: list[dict] = []
    conflicts: list[str] = []
    for r in rows:
        j = seen.get(r["id"])
        if j is None:
            seen[r["id"]] = len(kept)
            kept.append(r)
        elif kept[j]["retrieved_class"] != r["retrieved_class"] and r["id"] not in conflicts:
            conflicts.append(r["id"])
    m = len(kept)

    def col(key, dtype, default):
        return np.array([r.get(key, default) for r in kept], dtype=dtype) if m else np.zeros(0, dtype)

    return AnnotatedPool(
        ids=col("id", str, ""),
        retrieved_class=col("retrieved_class", np.int64, 0),
        is_clean=col("is_clean", bool, False),
        true_class=col("true_class", np.int64, -1),
        retrieval=col("retrieval", "<U5", ""),
        uri=col("uri", object, "").astype(str),
        path=col("path", object, "").astype(str),
        votes_correct=col("votes_correct", np.int64, -1),
        votes_total=col("votes_total", np.int64, -1),
        conflicts=tuple(conflicts),
    )


def _as_bool(v, where: str) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)) and int(v) in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("0", "1", "true", "false"):
        return v.strip().lower() in ("1", "true")
    raise SourceError(f"{where}: verdict {v!r} is not a boolean; use true/false or 1/0")


def _as_int(v, where: str, what: str) -> int:
    try:
        if isinstance(v, float) and not v.is_integer():
            raise ValueError
        return int(v)
    except (TypeError, ValueError):
        raise SourceError(f"{where}: {what} {v!r} is not an integer") from None


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
            lab = _as_int(label, where, "image/class/label")
            if lab < 0 or (num_classes is not None and lab >= num_classes):
                raise SourceError(f"{where}: class {lab} is outside 0..{(num_classes or 1) - 1}")
            row = {
                "id": str(rid),
                "retrieved_class": lab,
                "is_clean": _as_bool(clean, where),
                "uri": str(rec.get("image/uri", "")),
                "true_class": _as_int(rec.get("image/class/true_label", -1), where, "true_label"),
                "retrieval": str(rec.get("image/retrieval", "")),
            }
            votes = rec.get("image/votes")
            if votes is not None:
                row["votes_correct"] = int(sum(int(_as_bool(v, where)) for v in votes))
                row["votes_total"] = len(votes)
            rows.append(row)
    return _build_pool(rows, str(p))


def write_annotations(path: str | Path, groups: Iterable[Iterable[dict]]) -> None:
    """Write records (already keyed ``image/...``) as the CNWL annotation JSON, deterministically."""
    doc = {"data": [list(g) for g in groups]}
    Path(path).write_bytes((json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode())


def read_pool_table(path: str | Path, num_classes: int | None = None) -> AnnotatedPool:
    """Read a generic pool from CSV (header row) or Parquet; columns in the module docstring."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise MissingDataError(f"web pool table {p} is missing; pass the CSV or Parquet file's path")
    if p.suffix.lower() == ".parquet":
        table = pq.read_table(p)
    elif p.suffix.lower() in (".csv", ".tsv"):
        opts = pacsv.ParseOptions(delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
        conv = pacsv.ConvertOptions(column_types={"id": pa.string(), "retrieval": pa.string(),
                                                  "path": pa.string(), "uri": pa.string()})
        table = pacsv.read_csv(p, parse_options=opts, convert_options=conv)
    else:
        raise SourceError(f"web pool table {p} must end in .csv, .tsv or .parquet")
    cols = set(table.column_names)
    for req in ("id", "retrieved_class"):
        if req not in cols:
            raise SourceError(f"{p}: required column {req!r} is missing (columns: {sorted(cols)})")
    has_votes = {"votes_correct", "votes_incorrect"} <= cols
    if "is_clean" not in cols and not has_votes:
        raise SourceError(
            f"{p}: needs an 'is_clean' column or both 'votes_correct' and 'votes_incorrect'"
        )
    data = {c: table.column(c).to_pylist() for c in table.column_names}
    rows = []
    for i in range(table.num_rows):
        where = f"{p} row {i + 1}"
        rid = data["id"][i]
        if rid is None or str(rid) == "":
            raise SourceError(f"{where}: empty id; every pool image needs an id")
        lab = _as_int(data["retrieved_class"][i], where, "retrieved_class")
        if lab < 0 or (num_classes is not None and lab >= num_classes):
            raise SourceError(f"{where}: retrieved_class {lab} is outside 0..{(num_classes or 1) - 1}")
        row = {"id": str(rid), "retrieved_class": lab}
        if has_votes:
            vc = _as_int(data["votes_correct"][i], where, "votes_correct")
            vi = _as_int(data["votes_incorrect"][i], where, "votes_incorrect")
            row["votes_correct"], row["votes_total"] = vc, vc + vi
            verdict = vc > vi
            if "is_clean" in cols and data["is_clean"][i] is not None:
                given = _as_bool(data["is_clean"][i], where)
                if given != verdict:
                    raise SourceError(
                        f"{where}: is_clean={given} contradicts the votes ({vc} correct, {vi} "
                        f"incorrect); fix one of them"
                    )
            row["is_clean"] = verdict
        else:
            row["is_clean"] = _as_bool(data["is_clean"][i], where)
        if "true_class" in cols and data["true_class"][i] is not None:
            row["true_class"] = _as_int(data["true_class"][i], where, "true_class")
        for opt in ("retrieval", "path", "uri"):
            if opt in cols and data[opt][i] is not None:
                row[opt] = str(data[opt][i])
        if row.get("path"):
            check_relpath(row["path"])
        rows.append(row)
    return _build_pool(rows, str(p))


# --------------------------------------------------------------------------------------------
# Image stores: name -> encoded bytes


class ImageStore:
    """Looks images up by file name. ``has(name)`` is cheap; ``read(name)`` returns bytes."""

    #: Folder relpaths are relative to, for reference-mode manifests; ``None`` if in memory.
    root: Path | None = None
    #: How this store is named in missing-image reports (a path as the user wrote it).
    label: str = "image store"

    def searched(self) -> list[str]:
        """Where this store looks for images, for missing-image reports."""
        return [self.label]

    def has(self, name: str) -> bool:
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def relpath(self, name: str) -> str | None:
        return None


class FolderImageStore(ImageStore):
    """Files ``root/<subdir>/<name>`` for the first ``subdir`` in ``subdirs`` where it exists.

    ``label``: the folder as reports name it (default: ``root``), e.g. the path as the recipe
    writes it, so that build metadata never carries machine-specific absolute paths.
    """

    def __init__(self, root: str | Path, subdirs: Sequence[str] = ("",), label: str | None = None):
        self.root = Path(root)
        self._subdirs = [s.strip("/") for s in subdirs]
        self._cache: dict[str, str | None] = {}
        self.label = str(root) if label is None else label

    def searched(self) -> list[str]:
        """The existing folders among ``root/<subdir>``; when none exists, the expected ones, said
        to be absent."""
        expected = [f"{self.label}/{sub}" if sub else self.label for sub in self._subdirs]
        found = [e for e, sub in zip(expected, self._subdirs) if (self.root / sub).is_dir()]
        return found or [f"{', '.join(expected)} (no such folder)"]

    def relpath(self, name: str) -> str | None:
        if name not in self._cache:
            found = None
            for sub in self._subdirs:
                rel = f"{sub}/{name}" if sub else name
                if (self.root / check_relpath(rel)).is_file():
                    found = rel
                    break
            self._cache[name] = found
        return self._cache[name]

    def has(self, name: str) -> bool:
        return self.relpath(name) is not None

    def read(self, name: str) -> bytes:
        rel = self.relpath(name)
        if rel is None:
            raise MissingDataError(f"image {name!r} is not in {', '.join(self.searched())}; download it or drop it")
        return read_image_file(self.root, rel)


class ParquetImageStore(ImageStore):
    """An image archive: one Parquet file with columns ``path`` (string) and ``bytes`` (binary),
    looked up by the file name (last path component) of ``path``."""

    def __init__(self, path: str | Path, label: str | None = None):
        import pyarrow.parquet as pq

        p = Path(path)
        if not p.is_file():
            raise MissingDataError(f"image archive {p} is missing")
        self.label = f"image archive {p if label is None else label}"
        table = pq.read_table(p, columns=["path", "bytes"])
        names = [PurePosixPath(s).name for s in table.column("path").to_pylist()]
        self._blobs = dict(zip(names, table.column("bytes").to_pylist()))

    def has(self, name: str) -> bool:
        return PurePosixPath(name).name in self._blobs

    def read(self, name: str) -> bytes:
        try:
            return self._blobs[PurePosixPath(name).name]
        except KeyError:
            raise MissingDataError(f"image {name!r} is not in the image archive") from None


class SourceImageStore(ImageStore):
    """Images of clean-source splits, found by file name: the id, or the id's stem, or the
    file name of the source's relpath."""

    label = "the recipe source's clean images"

    def __init__(self, splits: Sequence[SplitData]):
        self._where: dict[str, tuple[SplitData, int]] = {}
        roots = set()
        for sp in splits:
            roots.add(sp.images.root)
            for i, sid in enumerate(sp.ids.tolist()):
                self._where.setdefault(sid, (sp, i))
                rel = sp.images.relpath(i)
                if rel is not None:
                    self._where.setdefault(PurePosixPath(rel).name, (sp, i))
        self.root = next(iter(roots)) if len(roots) == 1 else None

    def _find(self, name: str):
        return self._where.get(name) or self._where.get(stem(name))

    def has(self, name: str) -> bool:
        """Known to the source and, for file-backed images, present on disk."""
        hit = self._find(name)
        if hit is None:
            return False
        sp, i = hit
        known = image_available(sp.images, i)
        if known is not None:
            return known
        rel = sp.images.relpath(i)
        return rel is None or sp.images.root is None or (Path(sp.images.root) / rel).is_file()

    def read(self, name: str) -> bytes:
        hit = self._find(name)
        if hit is None:
            raise MissingDataError(f"image {name!r} is not in the clean source")
        sp, i = hit
        return sp.images.encoded(i)

    def relpath(self, name: str) -> str | None:
        hit = self._find(name)
        return None if hit is None or self.root is None else hit[0].images.relpath(hit[1])


class StoreImages(ImageAccess):
    """An :class:`ImageAccess` over rows each resolved to ``(store, name)``; ``store_index`` -1
    marks a row no store holds (reading it raises MissingDataError naming the folders searched).
    ``relpath`` is given when every present row lives in file-backed stores sharing one root and
    no resizing is asked.

    ``image_size``: resize every image to this size (int: square, or (width, height)) and
    re-encode it as PNG deterministically (:func:`~cnlbench.sources.images.resize_encode`),
    e.g. 84 for CNWL's usual 84x84 build.
    """

    def __init__(self, stores: Sequence[ImageStore], store_index: np.ndarray, names: Sequence[str],
                 image_size: int | tuple[int, int] | None = None):
        self._stores = list(stores)
        self._si = np.asarray(store_index, dtype=np.int64)
        self._names = list(names)
        self._size = image_size
        used = {self._stores[i].root for i in np.unique(self._si).tolist() if i >= 0}
        self.root = next(iter(used)) if len(used) == 1 and None not in used and image_size is None else None

    def __len__(self) -> int:
        return len(self._names)

    def available(self, index: int) -> bool:
        """Whether some store holds row ``index``'s image."""
        return bool(self._si[index] >= 0)

    def encoded(self, index: int) -> bytes:
        if self._si[index] < 0:
            raise MissingDataError(
                f"image {self._names[index]!r} is missing on disk (searched: {', '.join(searched_folders(self._stores))}); "
                f"download it, or drop it (missing: drop)"
            )
        blob = self._stores[int(self._si[index])].read(self._names[index])
        if self._size is None:
            return blob
        return resize_encode(blob, self._size, name=self._names[index])

    def relpath(self, index: int) -> str | None:
        if self.root is None or self._si[index] < 0:
            return None
        return self._stores[int(self._si[index])].relpath(self._names[index])


def image_available(access: ImageAccess, index: int) -> bool | None:
    """Whether row ``index`` of ``access`` has an image on disk, where that is known: a
    :class:`StoreImages`, or a subset view over one (``base``/``index``); else ``None``."""
    while not isinstance(access, StoreImages):
        base, idx = getattr(access, "base", None), getattr(access, "index", None)
        if not isinstance(base, ImageAccess) or idx is None:
            return None
        access, index = base, int(idx[index])
    return access.available(index)


def searched_folders(stores: Sequence[ImageStore]) -> list[str]:
    """Every place ``stores`` look for images, in search order, without repeats."""
    return list(dict.fromkeys(f for s in stores for f in s.searched()))


def resolve_names(names: Sequence[str], stores: Sequence[ImageStore]) -> np.ndarray:
    """(N,) int64: index of the first store holding each name, -1 where none does."""
    out = np.full(len(names), -1, dtype=np.int64)
    for i, n in enumerate(names):
        for j, s in enumerate(stores):
            if s.has(n):
                out[i] = j
                break
    return out


# --------------------------------------------------------------------------------------------
# The release


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


# --------------------------------------------------------------------------------------------
# Import of one split file as manifest rows


MISSING_POLICIES = ("error", "report", "drop")


@dataclass(frozen=True)
class ImportedSplit:
    """One split file turned into manifest rows, in file order (after dropping, if asked).

    ``ids``/``names`` (N,) str; ``labels``, ``clean_labels`` (N,) int64 (-1 unknown);
    ``is_noisy`` (N,) bool; ``noise_source`` (N,) str; ``images`` (ImageAccess, one per row;
    rows in ``missing`` raise MissingDataError when read). ``missing``: file names with no image
    found (all of them, in file order, whatever the policy). ``dropped``: whether they were
    removed. ``rows_in_file``: lines in the split file. ``searched``: where images were looked
    for (store labels, in search order).
    """

    split_file: str
    names: np.ndarray
    ids: np.ndarray
    labels: np.ndarray
    clean_labels: np.ndarray
    is_noisy: np.ndarray
    noise_source: np.ndarray
    images: ImageAccess
    missing: tuple[str, ...]
    dropped: bool
    rows_in_file: int
    searched: tuple[str, ...] = ()

    @property
    def realised_rate(self) -> float:
        return float(self.is_noisy.mean()) if len(self.ids) else 0.0

    def summary(self) -> dict:
        return {
            "split_file": self.split_file,
            "rows_in_file": self.rows_in_file,
            "rows": int(len(self.ids)),
            "missing_images": len(self.missing),
            "dropped_missing": self.dropped,
            "image_folders_searched": list(self.searched),
            "realised_rate": self.realised_rate,
            "web_rows": int((self.noise_source == "web").sum()),
        }


def import_split(
    release: CnwlRelease,
    split_file: str,
    stores: Sequence[ImageStore],
    *,
    clean_reference: SplitList | None = None,
    missing: str = "report",
    image_size: int | tuple[int, int] | None = None,
) -> ImportedSplit:
    """Rows of ``split_file`` with labels exactly as listed.

    Red (``red_*``) rows: web images are noisy (``noise_source="web"``, ``clean_label`` = the
    annotation's true class where known, else -1); other rows are clean. Blue (``blue_*``)
    rows: ``clean_label`` from ``clean_reference`` (the blue 0% split) by file name where known,
    else -1; a row is noisy when its label differs from a known clean label
    (``noise_source="synthetic"``). ``clean_validation`` rows are clean.

    ``missing``: ``"error"`` raises MissingDataError naming the count and the first names;
    ``"report"`` keeps every line (``missing`` lists them); ``"drop"`` removes those rows.
    ``image_size``: resize every image (see :class:`StoreImages`).
    """
    if missing not in MISSING_POLICIES:
        raise SourceError(f"missing={missing!r} is not known; use one of {list(MISSING_POLICIES)}")
    sl = release.split(split_file)
    names = sl.names.tolist()
    ids = sl.ids
    labels = sl.labels.copy()
    n = len(names)
    clean = labels.copy()
    noisy = np.zeros(n, dtype=bool)
    source = np.full(n, "none", dtype="<U9")
    if split_file.startswith("red_"):
        web = sl.is_web
        if web.any():
            pool = release.pool
            pidx = pool.index()
            pos = np.array([pidx.get(s, -1) for s in ids[web].tolist()], dtype=np.int64)
            tc = np.where(pos >= 0, pool.true_class[np.maximum(pos, 0)], -1) if len(pool) else np.full(len(pos), -1)
            clean[web] = tc
            noisy[web] = True
            source[web] = "web"
    elif split_file.startswith("blue_"):
        if clean_reference is not None:
            ref = dict(zip(clean_reference.names.tolist(), clean_reference.labels.tolist()))
            clean = np.array([ref.get(nm, -1) for nm in names], dtype=np.int64)
        else:
            clean = np.full(n, -1, dtype=np.int64)
        noisy = (clean >= 0) & (clean != labels)
        source[noisy] = "synthetic"
    first_row: dict[str, int] = {}
    for row, ident in enumerate(ids.tolist()):
        if ident in first_row:
            raise SourceError(
                f"{sl.where(row)}: image id {ident!r} ({names[row]}) repeats {sl.where(first_row[ident])}; "
                f"manifest ids must be unique per config, remove the repeated line"
            )
        first_row[ident] = row
    where = resolve_names(names, stores)
    absent = tuple(nm for nm, w in zip(names, where.tolist()) if w < 0)
    searched = tuple(searched_folders(stores))
    if absent and missing == "error":
        raise MissingDataError(
            f"{len(absent)} of {n} images listed in {split_file} are missing on disk (first: "
            f"{list(absent[:10])}; searched: {', '.join(searched)}); download them, or set missing: report "
            f"(keep the lines and list them) or missing: drop (rebuild the split from the images present)"
        )
    keep = np.ones(n, dtype=bool)
    if absent and missing == "drop":
        keep = where >= 0
    kept_names = [nm for nm, k in zip(names, keep.tolist()) if k]
    return ImportedSplit(
        split_file=split_file,
        names=np.array(kept_names, dtype=str),
        ids=ids[keep],
        labels=labels[keep],
        clean_labels=clean[keep],
        is_noisy=noisy[keep],
        noise_source=source[keep],
        images=StoreImages(stores, where[keep], kept_names, image_size),
        missing=absent,
        dropped=bool(absent) and missing == "drop",
        rows_in_file=n,
        searched=searched,
    )


# --------------------------------------------------------------------------------------------
# A clean Source over the release


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
