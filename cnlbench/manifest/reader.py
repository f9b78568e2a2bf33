"""Reading built dataset folders (what the harness uses).

    ds = open_dataset(path, image_root=None)
    sp = ds.split("sym-40", "train")
    sp.label, sp.clean_label, sp.is_noisy, sp.images_uint8()

Embedded builds decode the ``image`` bytes; reference builds resolve ``image_path`` against the
dataset folder (images written by the build) or an explicit ``image_root`` (file-backed
sources), refusing any path that escapes it.
"""

from __future__ import annotations

import fnmatch
import json
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow.parquet as pq

from cnlbench.errors import ManifestError, SourceError
from cnlbench.manifest.atomic import BUILD_RECORD
from cnlbench.manifest.fingerprint import combine, split_fingerprint
from cnlbench.manifest.schema import IMAGE_MODES, IMAGE_SHA256, METADATA_KEY, SPLITS, image_column
from cnlbench.manifest.writer import check_relpath
from cnlbench.sources.images import decode_array, image_sha256


def decode_image(blob: bytes, name: str) -> np.ndarray:
    """(H, W, C) uint8 under the one pixel limit every image reader shares; a bomb, a
    truncated file or a non-image raises a :class:`ManifestError` naming ``name``."""
    try:
        return decode_array(blob, name)
    except SourceError as exc:
        raise ManifestError(str(exc)) from None


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
        self.image_sha256: list[str] | None = None
        if images == "reference":
            if IMAGE_SHA256 not in table.column_names:
                raise ManifestError(
                    f"{config}/{split}: {str(path)!r} has no {IMAGE_SHA256!r} column (built by an older cnlbench, "
                    "whose reference builds never checked their images); rebuild the dataset with `cnlbench build`"
                )
            self.image_sha256 = [str(v) for v in table.column(IMAGE_SHA256).to_pylist()]
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
        return split_fingerprint(self.ids, self._image_values(), self.label, self.clean_label, self.is_noisy,
                                 self.noise_source, self.image_sha256)

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
        assert self.image_sha256 is not None
        return [self.read_file(rel, want) for rel, want in zip(values, self.image_sha256)]

    def read_file(self, rel: str, sha256: str) -> bytes:
        """Bytes of the referenced image ``rel`` (under the image root, never outside it),
        refused unless their SHA-256 is ``sha256`` (what the build recorded)."""
        if self.image_root is None:
            raise ManifestError(f"{self.config}/{self.split}: images are referenced under an external root; "
                                "pass open_dataset(path, image_root=FOLDER) with the source's image folder")
        p = resolve_under(self.image_root, rel)
        if not p.is_file():
            raise ManifestError(f"image {rel!r} is missing under {str(self.image_root)!r}; restore it or pass the right image_root")
        blob = p.read_bytes()
        got = image_sha256(blob)
        if got != sha256:
            raise ManifestError(
                f"{self.config}/{self.split}: image file {str(p)!r} has SHA-256 {got[:16]}..., the manifest records "
                f"{sha256[:16]}...; the file changed after the build (restore it, pass the right image_root, or "
                "rebuild the dataset)"
            )
        return blob

    def image_path_values(self) -> list[str]:
        """Reference builds: the ``image_path`` of every row."""
        return [str(v) for v in self.table.column("image_path").to_pylist()]

    def image_names(self) -> list[str]:
        """Per row, how errors name its image: the file path (reference) or ``config/split:id``."""
        if self.images_mode == "reference":
            return [str(v) for v in self._image_values()]
        return [f"{self.config}/{self.split}: id {i}" for i in self.ids]

    def images_uint8(self) -> np.ndarray:
        """All images decoded once into an (N, H, W, C) uint8 array (C = 1 gray or 3 RGB),
        each under the pixel limit of :func:`cnlbench.sources.images.max_pixels`."""
        if self._images_cache is None:
            arrays = [decode_image(b, n) for b, n in zip(self.encoded_images(), self.image_names())]
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


#: Keys of ``cnlbench-build.json`` every reader relies on, and their JSON types.
_RECORD_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str, "class_names": list, "configs": dict, "images": str, "default_config": str, "clean": dict,
}


def read_build_record(path: str | Path) -> dict[str, Any]:
    """The parsed ``cnlbench-build.json`` at ``path``, its shape checked: a JSON object with
    the keys of :data:`_RECORD_KEYS`, each config an object with ``splits`` for every split.
    Anything else raises :class:`ManifestError` naming the file and the key."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{str(path)!r} is not UTF-8 text ({exc}); rebuild the dataset") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{str(path)!r} is not valid JSON ({exc}); rebuild the dataset") from None
    if not isinstance(record, dict):
        raise ManifestError(f"{str(path)!r} holds a JSON {type(record).__name__}, not the build record object; rebuild the dataset")
    for key, typ in _RECORD_KEYS.items():
        if not isinstance(record.get(key), typ):
            got = "missing" if key not in record else f"a {type(record[key]).__name__}"
            raise ManifestError(f"{str(path)!r}: key {key!r} is {got}, expected a JSON {getattr(typ, '__name__', typ)}; "
                                "the build record was edited or truncated; rebuild the dataset")
    if record["images"] not in IMAGE_MODES:
        raise ManifestError(f"{str(path)!r}: images {record['images']!r} is not one of {list(IMAGE_MODES)}; rebuild the dataset")
    for name, cfg in record["configs"].items():
        splits = cfg.get("splits") if isinstance(cfg, dict) else None
        if not isinstance(splits, dict) or any(not isinstance(splits.get(s), dict) or not isinstance(splits[s].get("file"), str)
                                               for s in SPLITS):
            raise ManifestError(f"{str(path)!r}: config {name!r} does not list a file for each of {list(SPLITS)}; "
                                "rebuild the dataset")
    return record


class BuiltDataset:
    """A built dataset folder: configs, class names, splits, fingerprints."""

    def __init__(self, path: str | Path, image_root: str | Path | None = None):
        self.path = Path(path)
        rec_path = self.path / BUILD_RECORD
        if not rec_path.is_file():
            from cnlbench.manifest.atomic import interrupted_copy

            old = interrupted_copy(self.path)
            if old is not None:
                raise ManifestError(f"{str(self.path)!r} is missing: a build was killed while swapping it in; the complete "
                                    f"previous copy is {str(old)!r} (the next `cnlbench build` renames it back, or rename it yourself)")
            raise ManifestError(f"{str(self.path)!r} has no {BUILD_RECORD}; pass a folder written by `cnlbench build`")
        self.record: dict[str, Any] = read_build_record(rec_path)
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
        self._verified: dict[str, str] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def default_config(self) -> str:
        return self.record["default_config"]

    def check_split(self, config: str, split: str) -> None:
        """Raise :class:`ManifestError` naming the valid ones unless ``config`` and ``split`` exist."""
        if config not in self.record["configs"]:
            raise ManifestError(f"no config {config!r} in {str(self.path)!r}; valid configs: {self.configs}")
        if split not in SPLITS:
            raise ManifestError(f"no split {split!r}; valid splits: {list(SPLITS)}")

    def split(self, config: str, split: str) -> ManifestSplit:
        """The :class:`ManifestSplit` of ``config`` (``train``, ``validation`` or ``test``)."""
        self.check_split(config, split)
        key = (config, split)
        if key not in self._splits:
            rel = self.record["configs"][config]["splits"][split]["file"]
            self._splits[key] = ManifestSplit(resolve_under(self.path, rel), self.images, self.image_root, config, split)
        return self._splits[key]

    def content_fingerprint(self, config: str) -> str:
        """sha256 over the config's train/validation/test content fingerprints (recomputed,
        not compared with anything)."""
        return combine({s: self.split(config, s).fingerprint for s in SPLITS})

    def fingerprint(self, config: str) -> str:
        """The config's fingerprint, recomputed and checked: every split's content, the config
        fingerprint and the noise record (kind, level, matrix) must match what the build
        recorded, and the level/matrix must describe the rows
        (:func:`cnlbench.manifest.validate.check_config`); else :class:`ManifestError` naming
        the config and file. What ``eval`` trains under."""
        if config not in self._verified:
            from cnlbench.manifest.validate import check_config

            self._verified[config] = check_config(self, config)
        return self._verified[config]

    def recorded_fingerprint(self, config: str) -> str:
        """The fingerprint recorded by the build in ``cnlbench-build.json``."""
        self.check_split(config, "train")
        return self.record["configs"][config]["fingerprint"]

    def transition_matrix(self, config: str) -> np.ndarray | None:
        """Requested (K, K) row-stochastic ``T[i, j] = P(noisy=j | clean=i)``, or None."""
        self.check_split(config, "train")
        t = self.record["configs"][config].get("requested_matrix")
        return None if t is None else np.asarray(t, dtype=np.float64)


def open_dataset(path: str | Path, image_root: str | Path | None = None) -> BuiltDataset:
    """Open a dataset folder written by ``cnlbench build`` (see :class:`BuiltDataset`)."""
    return BuiltDataset(path, image_root=image_root)


def match_configs(patterns: Sequence[str], available: Sequence[str], *,
                  error: type[Exception] = ManifestError) -> list[str]:
    """Config names matching ``patterns`` (exact names or globs like ``sym-*``), in the
    dataset's order; no pattern, or a pattern matching nothing, raises ``error`` listing the
    valid names. The one glob matcher of ``eval``, ``tune``, ``demo`` and ``export-hf``."""
    if not patterns:
        raise error(f"no configs given; pass --configs names or globs, e.g. --configs 'sym-*' "
                    f"(valid configs: {list(available)})")
    chosen: list[str] = []
    for pat in patterns:
        hits = [c for c in available if fnmatch.fnmatchcase(c, pat)]
        if not hits:
            raise error(f"config {pat!r} matches no config of this dataset; valid configs: {list(available)}")
        chosen += [c for c in hits if c not in chosen]
    return [c for c in available if c in chosen]
