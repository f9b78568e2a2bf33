"""The one definition of a manifest's columns.

Everything else derives from :func:`features`: the Arrow schema Parquet files are written with
(``Features.arrow_schema``, which carries the ``huggingface`` metadata key), and the card's
``dataset_info`` (serialised by ``datasets``' own ``DatasetInfo._to_yaml_dict``). Writing with
exactly this schema matters: if a stored Arrow type differs slightly (int16 labels, struct
fields in another order) ``datasets`` silently drops the ``Image``/``ClassLabel`` feature.

Column order: ``id``, ``image`` (embed) or ``image_path`` (reference), ``label``,
``clean_label``, ``is_noisy``, ``noise_source``; reference builds add ``image_sha256`` (the
SHA-256 of each referenced image file, checked whenever the file is read).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import pyarrow as pa

from cnlbench.errors import ManifestError
from cnlbench.sources.base import SPLITS  # noqa: F401  (the split names; re-exported for the manifest)

if TYPE_CHECKING:  # HF ``datasets`` is imported where a feature is made: reading a built
    # folder (the harness) needs only pyarrow, and ``datasets`` is a slow, optional import there
    from datasets import DatasetInfo, Features

#: Key of the cnlbench JSON in the Parquet key-value metadata.
METADATA_KEY = b"cnlbench"
#: How a build stores images: the bytes in the Parquet files, or a path under an image root.
IMAGE_MODES = ("embed", "reference")


def image_column(images: str) -> str:
    """``image`` for embedded builds, ``image_path`` for reference builds."""
    if images == "embed":
        return "image"
    if images == "reference":
        return "image_path"
    raise ManifestError(f"unknown image mode {images!r}; use 'embed' or 'reference'")


#: Reference builds only: hex SHA-256 of each row's image file (verified when read).
IMAGE_SHA256 = "image_sha256"


def features(class_names: Sequence[str], images: str) -> Features:
    """The HF ``Features`` of a manifest split (same for every split and config)."""
    from datasets import ClassLabel, Features, Image, Value

    img = Image() if images == "embed" else Value("string")
    cols = {
        "id": Value("string"),
        image_column(images): img,
        "label": ClassLabel(names=list(class_names)),
        "clean_label": Value("int64"),
        "is_noisy": Value("bool"),
        "noise_source": Value("string"),
    }
    if images == "reference":
        cols[IMAGE_SHA256] = Value("string")
    return Features(cols)


def column_names(images: str) -> tuple[str, ...]:
    extra = (IMAGE_SHA256,) if images == "reference" else ()
    return ("id", image_column(images), "label", "clean_label", "is_noisy", "noise_source", *extra)


def arrow_schema(class_names: Sequence[str], images: str, cnlbench_metadata: Mapping[str, Any] | None = None) -> pa.Schema:
    """``features(...).arrow_schema`` plus the ``cnlbench`` JSON key (sorted keys, no NaN)."""
    schema = features(class_names, images).arrow_schema
    if cnlbench_metadata is None:
        return schema
    meta = dict(schema.metadata)
    meta[METADATA_KEY] = json.dumps(cnlbench_metadata, sort_keys=True, allow_nan=False, separators=(",", ":")).encode()
    return schema.with_metadata(meta)


def dataset_info(class_names: Sequence[str], images: str, split_sizes: Mapping[str, int]) -> DatasetInfo:
    """A ``DatasetInfo`` with the features and each split's ``num_examples``."""
    from datasets import DatasetInfo, Split, SplitDict, SplitInfo

    splits = SplitDict()
    for name in SPLITS:
        if name in split_sizes:
            splits.add(SplitInfo(name=str(Split(name)), num_bytes=0, num_examples=int(split_sizes[name])))
    return DatasetInfo(features=features(class_names, images), splits=splits)
