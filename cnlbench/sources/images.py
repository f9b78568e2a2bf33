"""Safe image reading, verification and deterministic re-encoding.

* :func:`read_image_file` reads ``root/relpath`` and refuses paths that escape ``root``
  (``..`` components, absolute paths, symlinks resolving outside ``root``).
* :func:`verify_image` decodes fully and names the file when it is truncated, not an image,
  or larger than an explicit pixel limit (decompression bombs).
* :func:`resize_encode` produces PNG bytes deterministically through
  :func:`cnlbench.sources.png.encode_png` (the bytes depend only on the pixels, not on the
  Pillow/zlib version); resampling is Pillow's bilinear filter.
* :func:`resize_transform` is the crop-and-resize transform of
  :class:`~cnlbench.sources.views.FileImages`; every image access class lives in
  :mod:`cnlbench.sources.views`.
"""

from __future__ import annotations

import io
import os
import posixpath
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.png import encode_png

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "check_relpath",
    "decode_array",
    "decode_rgb",
    "image_sha256",
    "max_pixels",
    "read_image_file",
    "resize_encode",
    "resize_transform",
    "verify_image",
]

#: Default limit on width * height of any image cnlbench decodes (~ 8,000 x 8,000). Raise it
#: with the ``max_pixels`` argument or the ``CNLBENCH_MAX_IMAGE_PIXELS`` environment variable.
DEFAULT_MAX_PIXELS = 64_000_000
_ENV_MAX_PIXELS = "CNLBENCH_MAX_IMAGE_PIXELS"


def max_pixels(override: int | None = None) -> int:
    """The pixel limit in force: ``override``, else ``$CNLBENCH_MAX_IMAGE_PIXELS``, else default."""
    if override is not None:
        return int(override)
    env = os.environ.get(_ENV_MAX_PIXELS)
    if env:
        try:
            return int(env)
        except ValueError:
            raise SourceError(
                f"{_ENV_MAX_PIXELS}={env!r} is not an integer; set it to a pixel count such as "
                f"{DEFAULT_MAX_PIXELS}"
            ) from None
    return DEFAULT_MAX_PIXELS


# --------------------------------------------------------------------------------------------
# Paths


def check_relpath(relpath: str) -> str:
    """Validate a POSIX path meant to stay under an image root; returns it normalised.

    Refuses absolute paths (``/x``, ``C:\\x``), backslashes, empty paths and any ``..``
    component, naming the path.
    """
    if not isinstance(relpath, str) or not relpath:
        raise SourceError(f"image path {relpath!r} is empty; every example needs a file name")
    if "\\" in relpath or "\x00" in relpath:
        raise SourceError(
            f"image path {relpath!r} contains a backslash or NUL; use POSIX paths relative to the "
            "image root"
        )
    if relpath.startswith("/") or (len(relpath) > 1 and relpath[1] == ":"):
        raise SourceError(
            f"image path {relpath!r} is absolute; image paths must be relative to the image root"
        )
    if ".." in relpath.split("/"):
        raise SourceError(
            f"image path {relpath!r} contains '..' and could escape the image root; list files "
            "relative to the root without '..'"
        )
    return posixpath.normpath(relpath)


def read_image_file(root: str | Path, relpath: str) -> bytes:
    """Bytes of the file ``root/relpath``, refusing anything that resolves outside ``root``.

    Raises :class:`SourceError` for escaping paths (``..``, absolute, a symlink pointing out of
    ``root``) and :class:`MissingDataError` (naming the file) when it does not exist.
    """
    rel = check_relpath(relpath)
    root_real = Path(os.path.realpath(root))
    target = root_real / rel
    real = Path(os.path.realpath(target))
    if real != root_real and root_real not in real.parents:
        raise SourceError(
            f"image path {relpath!r} resolves to {real}, outside the image root {root_real} "
            "(a symlink pointing out?); copy the file under the root instead"
        )
    try:
        with open(real, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise MissingDataError(
            f"image file {relpath!r} is missing under {root_real}; download it or drop it "
            "from the list"
        ) from None
    except IsADirectoryError:
        raise SourceError(f"image path {relpath!r} under {root_real} is a folder, not a file") from None


# --------------------------------------------------------------------------------------------
# Decoding


def _open_checked(data: bytes, name: str, limit: int | None) -> Any:
    """Open ``data`` with Pillow, check its pixel count, fully decode; return the image."""
    from PIL import Image, UnidentifiedImageError

    lim = max_pixels(limit)
    fix = (
        f"if the image is genuine, raise the limit with max_pixels=... or "
        f"{_ENV_MAX_PIXELS}=<pixels> (now {lim})"
    )
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own global limit; the explicit check below decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w * h > lim:
                raise SourceError(
                    f"image {name!r} is {w}x{h} = {w * h} pixels, over the limit of {lim} "
                    f"(decompression bomb guard); {fix}"
                )
            im.load()
    except SourceError:
        raise
    except Image.DecompressionBombError as e:
        raise SourceError(
            f"image {name!r} refused as a decompression bomb by Pillow's own limit "
            f"PIL.Image.MAX_IMAGE_PIXELS x 2 ({e}); if it is genuine, raise PIL.Image.MAX_IMAGE_PIXELS "
            f"as well as cnlbench's limit ({fix})"
        ) from None
    except UnidentifiedImageError:
        raise SourceError(
            f"file {name!r} is not an image Pillow can read ({len(data)} bytes); replace it "
            "with a valid PNG/JPEG or remove it from the dataset"
        ) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise SourceError(
            f"image {name!r} is truncated or corrupt ({e}); re-download or remove the file"
        ) from None
    return im


def verify_image(data: bytes, name: str, *, max_pixels: int | None = None) -> tuple[int, int]:
    """Decode ``data`` fully; return ``(width, height)``.

    Raises :class:`SourceError` naming ``name`` when the bytes are not an image, are truncated
    or corrupt, or exceed the pixel limit (see :func:`max_pixels`).
    """
    im = _open_checked(data, name, max_pixels)
    return im.size


def decode_rgb(data: bytes, name: str, *, max_pixels: int | None = None) -> np.ndarray:
    """Decode to an (H, W, 3) uint8 RGB array (verified as in :func:`verify_image`)."""
    im = _open_checked(data, name, max_pixels)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def decode_array(data: bytes, name: str, *, max_pixels: int | None = None) -> np.ndarray:
    """Decode to an (H, W, C) uint8 array, C = 1 (grayscale kept) or 3 (everything else as RGB).

    Verified as in :func:`verify_image`: the one pixel limit (:func:`max_pixels`) and full
    decoding apply, so the reading API, ``eval`` and export refuse what a build refuses.
    """
    im = _open_checked(data, name, max_pixels)
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    arr = np.asarray(im, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def image_sha256(data: bytes) -> str:
    """Hex SHA-256 of an image file's bytes (what reference-mode manifests record per row)."""
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _size_tuple(size: int | tuple[int, int]) -> tuple[int, int]:
    w, h = (size, size) if isinstance(size, (int, np.integer)) else size
    if int(w) < 1 or int(h) < 1:
        raise SourceError(f"image size {size!r} must be positive, e.g. 84 or (84, 84)")
    return int(w), int(h)


def resize_encode(
    data: bytes,
    size: int | tuple[int, int] | None,
    *,
    name: str = "<image>",
    crop_box: tuple[int, int, int, int] | None = None,
    max_pixels: int | None = None,
) -> bytes:
    """Decode, optionally crop, resize to ``size`` and re-encode as RGB PNG; deterministic.

    ``size``: an int (square ``size x size``, aspect ratio not kept, as CNWL's 84x84 build) or
    ``(width, height)``; ``None`` keeps the (cropped) size. ``crop_box``: ``(x1, y1, x2, y2)``
    in pixels, inclusive-exclusive as in Pillow, clipped to the image. Resampling: Pillow
    bilinear with antialiasing (``Image.Resampling.BILINEAR``), reproducible.
    """
    from PIL import Image

    im = _open_checked(data, name, max_pixels).convert("RGB")
    if crop_box is not None:
        x1, y1, x2, y2 = (int(v) for v in crop_box)
        w, h = im.size
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if x2 <= x1 or y2 <= y1:
            raise SourceError(
                f"crop box {tuple(crop_box)} of image {name!r} ({w}x{h}) is empty after clipping; "
                "fix the bounding box annotation"
            )
        im = im.crop((x1, y1, x2, y2))
    if size is not None:
        target = _size_tuple(size)
        if im.size != target:
            im = im.resize(target, resample=Image.Resampling.BILINEAR)
    return encode_png(np.asarray(im, dtype=np.uint8))


def resize_transform(
    size: int | tuple[int, int] | None,
    boxes: np.ndarray | None = None,
) -> Callable[[bytes, int, str], bytes] | None:
    """A :class:`~cnlbench.sources.views.FileImages` transform: crop example ``i`` to ``boxes[i]`` = ``(x1, y1, x2, y2)``
    (pixels, (N, 4) array) when given, resize to ``size`` when given, re-encode as PNG.
    ``None`` when neither is asked for (files are then passed through unchanged)."""
    if size is None and boxes is None:
        return None

    def transform(data: bytes, index: int, name: str) -> bytes:
        box = None if boxes is None else tuple(int(v) for v in boxes[index])
        return resize_encode(data, size, name=name, crop_box=box)  # type: ignore[arg-type]

    return transform
