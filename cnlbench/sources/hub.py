"""Any Hugging Face image-classification dataset, by Hub id or local folder.

``datasets.load_dataset(name, config, revision=...)`` downloads when online, reads the local HF
cache when offline (``HF_HUB_OFFLINE=1``), and loads a local folder (Parquet + card, or an
image folder) anywhere. When none of these works the source raises
:class:`~cnlbench.errors.MissingDataError` saying how to get the data.

The image column is the feature of type ``Image`` and the label column the ``ClassLabel``
(override with ``image_column`` / ``label_column``). Images are read as encoded bytes
(``Image(decode=False)``), never decoded by ``datasets``. Split names are mapped to cnlbench's
(``val``/``valid`` -> ``validation``). Ids: ``<split>-<row index, 6 digits>`` unless
``id_column`` names a string column.

Recipe options: ``name`` (Hub id or folder), ``config``, ``revision``, ``image_column``,
``label_column``, ``id_column``, ``cache_dir``, ``license``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.base import SPLITS, ImageAccess, Source, SplitData, register_source
from cnlbench.sources.images import verify_image
from cnlbench.sources.views import ArrowBinaryImages

__all__ = ["HubSource"]

_SPLIT_ALIASES = {"train": "train", "validation": "validation", "val": "validation", "valid": "validation", "test": "test"}


class _PathOrBytesImages(ImageAccess):
    """Image column rows where some carry only a local ``path`` (datasets' image folders)."""

    def __init__(self, blobs: list[bytes | None], paths: list[str | None], name: str):
        self._blobs, self._paths, self._name = blobs, paths, name

    def __len__(self) -> int:
        return len(self._blobs)

    def encoded(self, index: int) -> bytes:
        blob = self._blobs[index]
        if blob is not None:
            return blob
        path = self._paths[index]
        if not path or not Path(path).is_file():
            raise MissingDataError(
                f"{self._name} row {index}: image has no bytes and its path {path!r} does not "
                "exist; re-download the dataset"
            )
        data = Path(path).read_bytes()
        verify_image(data, path)
        return data


@register_source("hub")
class HubSource(Source):
    """See the module docstring."""

    def __init__(
        self,
        name: str,
        *,
        config: str | None = None,
        revision: str | None = None,
        image_column: str | None = None,
        label_column: str | None = None,
        id_column: str | None = None,
        cache_dir: str | None = None,
        license: str = "see the dataset card on the Hub",
    ):
        self.hub_name, self.config, self.revision = str(name), config, revision
        self.name = Path(self.hub_name).name if Path(self.hub_name).is_dir() else self.hub_name
        self.license = license
        self.homepage = "" if Path(self.hub_name).is_dir() else f"https://huggingface.co/datasets/{self.hub_name}"
        self._dd = self._load(cache_dir)
        feats = next(iter(self._dd.values())).features
        self.image_column = image_column or self._find(feats, "Image", "image")
        self.label_column = label_column or self._find(feats, "ClassLabel", "label")
        self.id_column = id_column
        label_feat = feats.get(self.label_column)
        if type(label_feat).__name__ != "ClassLabel":
            raise SourceError(
                f"column {self.label_column!r} of {self.hub_name} is {label_feat!r}, not a ClassLabel; "
                "pass label_column= naming the class-label column"
            )
        self.class_names = tuple(label_feat.names)
        self._splits: dict[str, str] = {}
        for hf_split in self._dd:
            ours = _SPLIT_ALIASES.get(str(hf_split))
            if ours is not None and ours not in self._splits:
                self._splits[ours] = str(hf_split)
        if "train" not in self._splits:
            raise SourceError(
                f"{self.hub_name} has splits {list(self._dd)}, none named train; cnlbench needs a "
                "train split (rename it in the dataset card's configs)"
            )

    def _load(self, cache_dir: str | None) -> Any:
        import datasets

        try:
            dd = datasets.load_dataset(self.hub_name, self.config, revision=self.revision, cache_dir=cache_dir)
        except Exception as e:  # noqa: BLE001 - datasets raises many unrelated types here
            offline = __import__("os").environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
            kind = type(e).__name__
            if isinstance(e, (FileNotFoundError, ConnectionError, OSError)) or "Offline" in kind or "NotFound" in kind:
                raise MissingDataError(
                    f"Hub dataset {self.hub_name!r} (config {self.config!r}) is neither a local folder "
                    f"nor in the local Hugging Face cache{' and HF_HUB_OFFLINE is set' if offline else ''} "
                    f"({kind}: {str(e)[:200]}). Download it once while online (unset HF_HUB_OFFLINE, or "
                    f"`hf download {self.hub_name} --repo-type dataset`), or pass a local folder as name"
                ) from e
            raise SourceError(f"loading Hub dataset {self.hub_name!r} failed: {kind}: {e}") from e
        if not isinstance(dd, datasets.DatasetDict):
            dd = datasets.DatasetDict({"train": dd})
        return dd

    def _find(self, feats: Any, type_name: str, what: str) -> str:
        cols = [c for c, f in feats.items() if type(f).__name__ == type_name]
        if len(cols) != 1:
            raise SourceError(
                f"{self.hub_name}: {len(cols)} {type_name} columns ({cols}) among {list(feats)}; "
                f"pass {what}_column= to choose one"
            )
        return cols[0]

    def split_names(self) -> tuple[str, ...]:
        return tuple(s for s in SPLITS if s in self._splits)

    def load_split(self, split: str) -> SplitData:
        import datasets
        import pyarrow as pa

        self.check_split_name(split)
        ds = self._dd[self._splits[split]]
        for col in (self.image_column, self.label_column, self.id_column):
            if col is not None and col not in ds.column_names:
                raise SourceError(f"{self.hub_name} {split}: no column {col!r} (has {ds.column_names})")
        ds = ds.cast_column(self.image_column, datasets.Image(decode=False))
        table = ds.with_format("arrow")[:]  # honours any indices mapping
        labels = table.column(self.label_column).to_numpy().astype(np.int64)
        k = self.num_classes
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise SourceError(
                f"{self.hub_name} {split}: labels span {labels.min()}..{labels.max()}, outside "
                f"0..{k - 1} of the ClassLabel names"
            )
        img = table.column(self.image_column)
        if not pa.types.is_struct(img.type):
            raise SourceError(f"{self.hub_name}: image column has type {img.type}, expected struct<bytes, path>")
        chunks = img.chunks
        blobs = pa.chunked_array([c.field("bytes") for c in chunks], type=img.type.field("bytes").type)
        label = f"{self.hub_name} {split}"
        if blobs.null_count == 0:
            images: ImageAccess = ArrowBinaryImages(blobs, name=label)
        else:
            paths = pa.chunked_array([c.field("path") for c in chunks], type=img.type.field("path").type)
            images = _PathOrBytesImages(blobs.to_pylist(), paths.to_pylist(), label)
        if self.id_column is not None:
            ids = np.array([str(v) for v in table.column(self.id_column).to_pylist()])
            if len(set(ids.tolist())) != len(ids):
                raise SourceError(f"{self.hub_name} {split}: id column {self.id_column!r} has duplicates")
        else:
            ids = np.array([f"{split}-{i:06d}" for i in range(len(labels))])
        return SplitData(ids=ids, labels=labels, images=images)
