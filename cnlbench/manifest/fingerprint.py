"""Content fingerprints (sha256) and the stable string hash used to derive per-config seeds.

Fingerprints hash a canonical serialisation of array *content*, never file bytes, so a manifest
rewritten with another Parquet writer keeps its fingerprint and a changed label changes it.

Canonical form: for each named column, in the order given, ``b"<name>\\0<kind>\\0"`` followed by
the column's values: integers as int64 little-endian, booleans as one byte 0/1, strings as UTF-8
and bytes each preceded by their length as uint64 little-endian; ``None`` (a missing byte
string) is encoded as length ``2**64 - 1``.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

_NONE_LEN = struct.pack("<Q", 2**64 - 1)


def stable_hash(text: str) -> int:
    """A 64-bit non-negative integer from ``text`` that never changes across runs or machines.

    Used as a ``SeedSequence`` spawn key: ``stable_hash("sym")`` always gives the same stream,
    unlike Python's salted ``hash``.
    """
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def _update_strings(h, values: Iterable[str | bytes | None]) -> None:
    for v in values:
        if v is None:
            h.update(_NONE_LEN)
            continue
        b = v.encode("utf-8") if isinstance(v, str) else bytes(v)
        h.update(struct.pack("<Q", len(b)))
        h.update(b)


def hash_columns(columns: Mapping[str, Sequence | np.ndarray]) -> str:
    """sha256 hex digest of ``columns`` (name -> (N,) values) in their canonical form.

    Integer arrays hash as int64, boolean arrays as uint8, anything else element-wise as
    length-prefixed UTF-8 strings / byte strings.
    """
    h = hashlib.sha256()
    for name, values in columns.items():
        arr = values if isinstance(values, np.ndarray) else None
        if arr is not None and arr.dtype.kind == "b":
            h.update(f"{name}\0bool\0".encode())
            h.update(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())
        elif arr is not None and arr.dtype.kind in "iu":
            h.update(f"{name}\0int64\0".encode())
            h.update(np.ascontiguousarray(arr, dtype="<i8").tobytes())
        else:
            h.update(f"{name}\0bytes\0".encode())
            _update_strings(h, (str(v) if isinstance(v, np.str_) else v for v in values))
    return h.hexdigest()


def source_fingerprint(splits: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """sha256 over the clean source's ids and labels, split by split in sorted split order.

    Args:
        splits: split name -> (ids (N,) str, labels (N,) int64).
    """
    h = hashlib.sha256()
    for split in sorted(splits):
        ids, labels = splits[split]
        h.update(f"split\0{split}\0".encode())
        h.update(hash_columns({"id": list(map(str, ids)), "label": np.asarray(labels, np.int64)}).encode())
    return h.hexdigest()


def combine(parts: Mapping[str, str]) -> str:
    """sha256 over ``name:digest`` lines in sorted name order (e.g. a config's splits)."""
    text = "".join(f"{k}:{parts[k]}\n" for k in sorted(parts))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_fingerprint(
    ids, image, label: np.ndarray, clean_label: np.ndarray, is_noisy: np.ndarray, noise_source,
    image_sha256: Sequence[str] | None = None,
) -> str:
    """sha256 of one manifest split's content columns, in contract order.

    ``image`` is the image bytes per row (embedded builds) or the ``image_path`` strings
    (reference builds); the ``path`` field of an embedded image is not hashed. Reference builds
    also pass ``image_sha256`` (each file's SHA-256), hashed last, so the fingerprint covers
    the pixels a reference build points to.
    """
    columns = {
        "id": [str(v) for v in ids],
        "image": list(image),
        "label": np.asarray(label, np.int64),
        "clean_label": np.asarray(clean_label, np.int64),
        "is_noisy": np.asarray(is_noisy, bool),
        "noise_source": [str(v) for v in noise_source],
    }
    if image_sha256 is not None:
        columns["image_sha256"] = [str(v) for v in image_sha256]
    return hash_columns(columns)


def noise_fingerprint(kind: str, level: float | None, requested_matrix: Any) -> str:
    """sha256 of what training reads from a config's build record besides the rows: the noise
    kind, the requested level and the requested (K, K) matrix (``None`` when absent), in a
    canonical JSON form (floats as ``repr``, so any edit changes it)."""
    import json

    matrix = None if requested_matrix is None else [[float(v) for v in row] for row in requested_matrix]
    text = json.dumps({"kind": kind, "level": None if level is None else float(level), "requested_matrix": matrix},
                      sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
