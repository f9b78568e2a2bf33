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

from cnlbench.errors import ManifestError, SourceError
from cnlbench.manifest.schema import arrow_schema, image_column
from cnlbench.sources.images import check_relpath as safe_relpath

ROW_GROUP_SIZE = 4096
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 9


def check_relpath(path: str) -> str:
    """``path`` if it is an image path a manifest may store: safe under the image root by the
    package's one rule (:func:`cnlbench.sources.images.check_relpath`: not empty, relative, no
    ``..``, backslash, NUL or drive letter) and in normal form (no ``.`` or empty parts, as
    sources give it); else :class:`~cnlbench.errors.ManifestError` naming it."""
    try:
        clean = safe_relpath(path)
    except SourceError as exc:
        raise ManifestError(str(exc)) from None
    if clean != path or clean == ".":
        raise ManifestError(f"image path {path!r} is not in normal form (no '.' or empty parts; a file, not the "
                            "root); fix the source's relpath() or the manifest")
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
