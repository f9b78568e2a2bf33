"""Every :class:`~cnlbench.sources.base.ImageAccess` implementation, in four families.

* **Held** images: :class:`BytesImages` (a list of encoded byte strings), :class:`ArrayImages`
  (one (N, H, W, C) uint8 array, PNG-encoded on read), :class:`ArrowBinaryImages` (a pyarrow
  binary column, sliced without copying).
* **Files** under a root: :class:`FileImages` (read safely through
  :func:`~cnlbench.sources.images.read_image_file`, optionally re-encoded by a transform).
* **Stores**: :class:`StoreImages`, rows each resolved by file name to one of several
  :class:`ImageStore` (an image folder, an archive, a clean source; the concrete stores live in
  :mod:`cnlbench.sources.cnwl.stores`).
* **Views** over other accesses, used when a build reorders, subsets or mixes rows:
  :class:`IndexedImages` (a subset or reordering) and :class:`MixedImages` (rows drawn from
  several parts, e.g. clean images and web images; :func:`combine_images` picks the file-backed
  or the in-memory kind).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from cnlbench.errors import ManifestError, MissingDataError, SourceError
from cnlbench.sources.base import ImageAccess
from cnlbench.sources.images import check_relpath, read_image_file, resize_encode, verify_image
from cnlbench.sources.png import encode_png

__all__ = [
    "ArrayImages",
    "ArrowBinaryImages",
    "BytesImages",
    "FileImages",
    "ImageStore",
    "IndexedImages",
    "MixedImages",
    "StoreImages",
    "combine_images",
    "image_available",
    "resolve_names",
    "searched_folders",
]


# --------------------------------------------------------------------------------------------
# Held images


class BytesImages(ImageAccess):
    """Images held as a list of encoded byte strings (one per example, in split order)."""

    def __init__(self, blobs: Sequence[bytes]):
        self._blobs = blobs

    def __len__(self) -> int:
        return len(self._blobs)

    def encoded(self, index: int) -> bytes:
        return bytes(self._blobs[index])


class ArrayImages(ImageAccess):
    """Images held as one (N, H, W, C) uint8 array; :meth:`encoded` gives PNG bytes."""

    def __init__(self, pixels: np.ndarray):
        if pixels.dtype != np.uint8 or pixels.ndim not in (3, 4):
            raise SourceError(
                f"ArrayImages needs (N, H, W[, C]) uint8 pixels, got {pixels.dtype} {pixels.shape}"
            )
        self.pixels = pixels

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    def encoded(self, index: int) -> bytes:
        return encode_png(self.pixels[index])


class ArrowBinaryImages(ImageAccess):
    """Encoded images held in a pyarrow binary array (e.g. the ``bytes`` field of an HF Image
    column), sliced without copying the whole column into Python objects."""

    def __init__(self, array: Any, *, name: str = "images"):
        import pyarrow as pa

        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
        if pa.types.is_large_binary(array.type):
            off_dtype = np.int64
        elif pa.types.is_binary(array.type):
            off_dtype = np.int32
        else:
            raise SourceError(f"{name}: expected a binary column of encoded images, got {array.type}")
        if array.null_count:
            first = int(np.flatnonzero(np.asarray(array.is_null()))[0])
            raise SourceError(
                f"{name}: {array.null_count} images have no bytes (first at row {first}); "
                "the dataset stores paths only; embed the image bytes first"
            )
        _, offsets, data = array.buffers()
        self._offsets = np.frombuffer(offsets, dtype=off_dtype)[array.offset : array.offset + len(array) + 1]
        self._data = memoryview(data) if data is not None else memoryview(b"")
        self._len = len(array)

    def __len__(self) -> int:
        return self._len

    def encoded(self, index: int) -> bytes:
        if not -self._len <= index < self._len:
            raise IndexError(index)
        index %= self._len
        return bytes(self._data[self._offsets[index] : self._offsets[index + 1]])


# --------------------------------------------------------------------------------------------
# Files under a root


class FileImages(ImageAccess):
    """File-backed images: ``root / relpaths[i]``, read safely, optionally re-encoded.

    ``transform(bytes, index, relpath) -> bytes`` (e.g. :func:`resize_transform`) is applied
    by :meth:`encoded`; without it the file's own bytes are returned (verified to decode).
    """

    def __init__(
        self,
        root: str | Path,
        relpaths: list[str],
        transform: Callable[[bytes, int, str], bytes] | None = None,
    ):
        self.root = Path(root)
        self._relpaths = [check_relpath(p) for p in relpaths]
        self._transform = transform

    def __len__(self) -> int:
        return len(self._relpaths)

    def relpath(self, index: int) -> str:
        return self._relpaths[index]

    def reference_path(self, index: int) -> str | None:
        """``None`` when a transform (resize, crop) re-encodes the file: a reference build then
        stores the transformed bytes under its own ``images/``, so its manifest points at the
        pixels it trains on, never at the untransformed original."""
        return None if self._transform is not None else self._relpaths[index]

    def encoded(self, index: int) -> bytes:
        rel = self._relpaths[index]
        data = read_image_file(self.root, rel)
        if self._transform is None:
            verify_image(data, rel)
            return data
        return self._transform(data, index, rel)

    def missing(self) -> list[int]:
        """Indices whose file does not exist under :attr:`root` (cheap ``stat`` per file)."""
        return [i for i, p in enumerate(self._relpaths) if not (self.root / p).is_file()]


# --------------------------------------------------------------------------------------------
# Stores: name -> encoded bytes


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
    :class:`StoreImages`, or an :class:`IndexedImages` view over one; else ``None``."""
    while not isinstance(access, StoreImages):
        if not isinstance(access, IndexedImages):
            return None
        access, index = access.base, int(access.index[index])
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
# Views over other accesses


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
    the same image root. ``in_memory=True`` drops the file paths instead (any roots allowed;
    ``relpath`` and ``reference_path`` are ``None``, so a reference build copies the bytes).
    """

    def __init__(self, parts: Sequence[ImageAccess], which: np.ndarray, index: np.ndarray, *, in_memory: bool = False):
        self.parts = list(parts)
        self.which = np.asarray(which, dtype=np.int64)
        self.index = np.asarray(index, dtype=np.int64)
        self.in_memory = bool(in_memory)
        if self.which.shape != self.index.shape:
            raise ManifestError(f"MixedImages: which {self.which.shape} and index {self.index.shape} differ; give one entry per row")
        roots = {Path(p.root).resolve() for p in self.parts if p.root is not None}
        if len(roots) > 1 and not self.in_memory:
            raise ManifestError(f"MixedImages: file-backed parts have different roots {sorted(map(str, roots))}; put the images under one root")
        self.root = next(iter(roots)) if roots and not self.in_memory else None

    def __len__(self) -> int:
        return len(self.index)

    def encoded(self, index: int) -> bytes:
        return self.parts[int(self.which[index])].encoded(int(self.index[index]))

    def relpath(self, index: int) -> str | None:
        if self.in_memory:
            return None
        return self.parts[int(self.which[index])].relpath(int(self.index[index]))

    def reference_path(self, index: int) -> str | None:
        if self.in_memory:
            return None
        return self.parts[int(self.which[index])].reference_path(int(self.index[index]))


def combine_images(parts: Sequence[ImageAccess], which: np.ndarray, index: np.ndarray) -> MixedImages:
    """Row ``i`` = image ``index[i]`` of ``parts[which[i]]``: file-backed (paths kept) when the
    file-backed parts share one root and none is in memory, else in memory (paths dropped)."""
    roots = {Path(p.root).resolve() for p in parts if p.root is not None}
    in_memory = any(p.root is None for p in parts)
    return MixedImages(parts, which, index, in_memory=len(roots) > 1 or bool(roots and in_memory))
