"""Reading built dataset folders (what the harness uses).

    ds = open_dataset(path, image_root=None)
    sp = ds.split("sym-40", "train")
    sp.label, sp.clean_label, sp.is_noisy, sp.images_uint8()

Embedded builds decode the ``image`` bytes; reference builds resolve ``image_path`` against the
dataset folder (images written by the build) or an explicit ``image_root`` (file-backed
sources), refusing any path that escapes it.
"""

from __future__ import annotations

import io
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from cnlbench.errors import ManifestError
from cnlbench.manifest.atomic import BUILD_RECORD
from cnlbench.manifest.fingerprint import combine, split_fingerprint
from cnlbench.manifest.schema import METADATA_KEY, SPLITS, image_column
from cnlbench.manifest.writer import check_relpath


def _decode(blob: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as im:
        if im.mode not in ("L", "RGB"):
            im = im.convert("RGB")
        arr = np.asarray(im, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def resolve_under(root: Path, rel: str) -> Path:
    """``root / rel`` after checking ``rel`` is a clean relative path that stays under ``root``."""
    check_relpath(rel)
    root = root.resolve()
    path = (root / rel).resolve()
    if root != path and root not in path.parents:
        raise ManifestError(f"image path {rel!r} escapes the image root {str(root)!r} (through a link); fix the manifest or the image root")
    return path


class ManifestSplit:
    """One split of one config: columns as (N,) arrays, the ``cnlbench`` metadata, images.

    Attributes:
        ids: (N,) str. label, clean_label: (N,) int64. is_noisy: (N,) bool.
        noise_source: (N,) str. metadata: the parsed ``cnlbench`` JSON.
    """

    def __init__(self, path: Path, images: str, image_root: Path | None, config: str, split: str):
        self.path, self.config, self.split = path, config, split
        if not path.is_file():
            raise ManifestError(f"{config}/{split}: file {str(path)!r} is missing; rebuild the dataset with `cnlbench build`")
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise ManifestError(f"{config}/{split}: {str(path)!r} is not a readable Parquet file ({exc}); rebuild the dataset") from None
        self.images_mode = images
        self.image_root = image_root
        meta = table.schema.metadata or {}
        if METADATA_KEY not in meta:
            raise ManifestError(f"{config}/{split}: {str(path)!r} has no cnlbench metadata; it was not written by cnlbench build")
        self.metadata: dict[str, Any] = json.loads(meta[METADATA_KEY])
        self.table = table
        col = image_column(images)
        if col not in table.column_names:
            raise ManifestError(f"{config}/{split}: column {col!r} is missing; rebuild the dataset")
        self.ids = np.asarray(table.column("id").to_pylist(), dtype=str)
        self.label = table.column("label").to_numpy().astype(np.int64)
        self.clean_label = table.column("clean_label").to_numpy().astype(np.int64)
        self.is_noisy = table.column("is_noisy").to_numpy(zero_copy_only=False).astype(bool)
        self.noise_source = np.asarray(table.column("noise_source").to_pylist(), dtype=str)
        self._images_cache: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def _image_values(self) -> list:
        if self.images_mode == "embed":
            return [v["bytes"] for v in self.table.column("image").to_pylist()]
        return self.table.column("image_path").to_pylist()

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of this split's content (see :func:`cnlbench.manifest.fingerprint.split_fingerprint`)."""
        return split_fingerprint(self.ids, self._image_values(), self.label, self.clean_label, self.is_noisy, self.noise_source)

    def encoded_images(self) -> list[bytes]:
        """Encoded image bytes per row (reference builds read the files under the image root)."""
        values = self._image_values()
        if self.images_mode == "embed":
            return values
        if self.image_root is None:
            raise ManifestError(
                f"{self.config}/{self.split}: images are referenced under an external root; "
                "pass open_dataset(path, image_root=FOLDER) with the source's image folder"
            )
        out = []
        for rel in values:
            p = resolve_under(self.image_root, rel)
            if not p.is_file():
                raise ManifestError(f"image {rel!r} is missing under {str(self.image_root)!r}; restore it or pass the right image_root")
            out.append(p.read_bytes())
        return out

    def images_uint8(self) -> np.ndarray:
        """All images decoded once into an (N, H, W, C) uint8 array (C = 1 gray or 3 RGB)."""
        if self._images_cache is None:
            arrays = [_decode(b) for b in self.encoded_images()]
            shapes = {a.shape for a in arrays}
            if len(shapes) > 1:
                chans = {s[2] for s in shapes}
                if len(chans) > 1:  # mixed gray and colour: promote gray to RGB
                    arrays = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in arrays]
                    shapes = {a.shape for a in arrays}
            if len(shapes) > 1:
                raise ManifestError(
                    f"{self.config}/{self.split}: images have different sizes {sorted(shapes)[:3]}...; "
                    "resize them when building (a source option) to stack them into one array"
                )
            self._images_cache = np.stack(arrays) if arrays else np.zeros((0, 0, 0, 1), np.uint8)
        return self._images_cache


class BuiltDataset:
    """A built dataset folder: configs, class names, splits, fingerprints."""

    def __init__(self, path: str | Path, image_root: str | Path | None = None):
        self.path = Path(path)
        rec_path = self.path / BUILD_RECORD
        if not rec_path.is_file():
            raise ManifestError(f"{str(self.path)!r} has no {BUILD_RECORD}; pass a folder written by `cnlbench build`")
        try:
            self.record: dict[str, Any] = json.loads(rec_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{str(rec_path)!r} is not valid JSON ({exc}); rebuild the dataset") from None
        self.name: str = self.record["name"]
        self.class_names: list[str] = list(self.record["class_names"])
        self.configs: list[str] = list(self.record["configs"])
        self.images: str = self.record["images"]
        if image_root is not None:
            self.image_root: Path | None = Path(image_root)
        elif self.record.get("image_root") == "dataset":
            self.image_root = self.path
        else:
            self.image_root = None
        self._splits: dict[tuple[str, str], ManifestSplit] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def default_config(self) -> str:
        return self.record["default_config"]

    def _check(self, config: str, split: str) -> None:
        if config not in self.record["configs"]:
            raise ManifestError(f"no config {config!r} in {str(self.path)!r}; valid configs: {self.configs}")
        if split not in SPLITS:
            raise ManifestError(f"no split {split!r}; valid splits: {list(SPLITS)}")

    def split(self, config: str, split: str) -> ManifestSplit:
        """The :class:`ManifestSplit` of ``config`` (``train``, ``validation`` or ``test``)."""
        self._check(config, split)
        key = (config, split)
        if key not in self._splits:
            rel = self.record["configs"][config]["splits"][split]["file"]
            self._splits[key] = ManifestSplit(resolve_under(self.path, rel), self.images, self.image_root, config, split)
        return self._splits[key]

    def fingerprint(self, config: str) -> str:
        """sha256 over the config's train/validation/test content fingerprints (recomputed)."""
        return combine({s: self.split(config, s).fingerprint for s in SPLITS})

    def recorded_fingerprint(self, config: str) -> str:
        """The fingerprint recorded by the build in ``cnlbench-build.json``."""
        self._check(config, "train")
        return self.record["configs"][config]["fingerprint"]

    def transition_matrix(self, config: str) -> np.ndarray | None:
        """Requested (K, K) row-stochastic ``T[i, j] = P(noisy=j | clean=i)``, or None."""
        self._check(config, "train")
        t = self.record["configs"][config].get("requested_matrix")
        return None if t is None else np.asarray(t, dtype=np.float64)

    def level(self, config: str) -> float | None:
        self._check(config, "train")
        return self.record["configs"][config]["level"]


def open_dataset(path: str | Path, image_root: str | Path | None = None) -> BuiltDataset:
    """Open a dataset folder written by ``cnlbench build`` (see :class:`BuiltDataset`)."""
    return BuiltDataset(path, image_root=image_root)
