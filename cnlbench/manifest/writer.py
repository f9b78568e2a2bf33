"""Deterministic Parquet writing of one manifest split.

Byte-identical output for identical content: one fixed schema (``schema.arrow_schema``), fixed
row-group size, zstd at a fixed level, dictionary encoding on, statistics on, no page index, and
metadata JSON with sorted keys. pyarrow records only its own version (``created_by``), never a
timestamp.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cnlbench.errors import ManifestError
from cnlbench.manifest.schema import arrow_schema, image_column

ROW_GROUP_SIZE = 4096
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 9


def check_relpath(path: str) -> str:
    """Validate a POSIX relative image path (no ``..``, not absolute, no backslashes)."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or ":" in parts[0] or any(p in ("", ".", "..") for p in parts):
        raise ManifestError(
            f"image path {path!r} is not a clean POSIX relative path (no leading '/', '..', '.', "
            "empty parts, backslashes or drive letters); fix the source's relpath()"
        )
    return path


def split_table(
    columns: Mapping[str, Any], class_names: Sequence[str], images: str, metadata: Mapping[str, Any]
) -> pa.Table:
    """An Arrow table with exactly the manifest schema.

    Args:
        columns: ``id`` (N,) str; ``image`` as a list of ``{"bytes": b, "path": p}`` (embed) or
            ``image_path`` (N,) str (reference); ``label``/``clean_label`` (N,) int64;
            ``is_noisy`` (N,) bool; ``noise_source`` (N,) str.
        metadata: the ``cnlbench`` JSON for this split.
    """
    schema = arrow_schema(class_names, images, metadata)
    img = image_column(images)
    arrays = []
    for field in schema:
        value = columns[field.name]
        if field.name == img and images == "reference":
            value = [check_relpath(str(p)) for p in value]
        elif isinstance(value, np.ndarray) and value.dtype.kind == "U":
            value = value.tolist()
        arrays.append(pa.array(value, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_table(table: pa.Table, path: str | Path) -> None:
    """Write ``table`` to ``path`` with the fixed Parquet settings.

    Not fsynced here: every caller writes inside :func:`cnlbench.manifest.atomic.atomic_directory`,
    which syncs the whole folder to disk once before swapping it in."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pq.write_table(
            table,
            f,
            row_group_size=ROW_GROUP_SIZE,
            compression=COMPRESSION,
            compression_level=COMPRESSION_LEVEL,
            use_dictionary=True,
            write_statistics=True,
            write_page_index=False,
            store_schema=True,
        )
