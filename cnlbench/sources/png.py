"""A deterministic PNG encoder: the bytes depend only on the pixels.

Pillow's and zlib's compressed output changes between library versions, which would make
committed manifests irreproducible. This encoder writes the zlib stream by hand with *stored*
(uncompressed) deflate blocks, filter type 0 on every scanline, no ancillary chunks and no
timestamps, so the same array always gives the same bytes. Checksums use ``zlib.crc32`` and
``zlib.adler32``, which are fixed algorithms. The files are larger than compressed PNGs; the
Parquet writer compresses them afterwards.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from cnlbench.errors import SourceError

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (gray, RGB, RGBA)
_MAX_STORED = 65535  # largest payload of one stored deflate block


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _zlib_stored(raw: bytes) -> bytes:
    """A zlib stream (RFC 1950) of stored deflate blocks (RFC 1951, BTYPE=00) holding ``raw``."""
    out = bytearray(b"\x78\x01")  # CMF: deflate, 32K window; FLG: no dict, check bits valid
    n = len(raw)
    pos = 0
    while True:
        block = raw[pos : pos + _MAX_STORED]
        pos += len(block)
        final = 1 if pos >= n else 0
        out += bytes([final]) + struct.pack("<HH", len(block), len(block) ^ 0xFFFF) + block
        if final:
            break
    out += struct.pack(">I", zlib.adler32(raw))
    return bytes(out)


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode ``pixels`` as PNG bytes, deterministically.

    Args:
        pixels: uint8 array of shape (H, W) (grayscale), (H, W, 1), (H, W, 3) (RGB) or
            (H, W, 4) (RGBA).

    Returns:
        The PNG file content (8-bit depth, no interlace, stored deflate blocks).
    """
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise SourceError(f"encode_png needs uint8 pixels, got dtype {arr.dtype}; convert with .astype(np.uint8) after scaling to 0..255")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in _COLOR_TYPE or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise SourceError(f"encode_png needs shape (H, W) or (H, W, C) with C in 1, 3, 4 and H, W >= 1; got {arr.shape}")
    h, w, c = arr.shape
    rows = np.ascontiguousarray(arr).reshape(h, w * c)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter 0 per row
    ihdr = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPE[c], 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", _zlib_stored(raw)) + _chunk(b"IEND", b"")
