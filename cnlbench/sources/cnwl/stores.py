"""Image stores: where the images a CNWL split file or a pool names by file name are found.

The release ships no images; they live in folders the user supplies (:class:`FolderImageStore`),
in the release folder as third-party readers expect them (``ROOT/all_images/``,
``ROOT/all_validation/``; see :func:`~cnlbench.sources.cnwl.format.image_subdirs`), in the clean
source of a recipe (:class:`SourceImageStore`) or, for the shipped digits pool, in one Parquet
archive (:class:`ParquetImageStore`, columns ``path`` string and ``bytes`` binary). Every
missing-image report names the folders searched. The store interface
(:class:`~cnlbench.sources.views.ImageStore`) and the rows-over-stores view
(:class:`~cnlbench.sources.views.StoreImages`) live with the other image views.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Sequence

from cnlbench.errors import MissingDataError
from cnlbench.sources.base import SplitData
from cnlbench.sources.cnwl.format import stem
from cnlbench.sources.images import check_relpath, read_image_file
from cnlbench.sources.views import ImageStore, image_available


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
