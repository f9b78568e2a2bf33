"""CIFAR-10 and CIFAR-100 from either on-disk layout users have.

* Hugging Face Hub Parquet layout (``uoft-cs/cifar10``, ``uoft-cs/cifar100``): ``train-*.parquet``
  and ``test-*.parquet`` anywhere below ``root`` (e.g. ``plain_text/`` or ``cifar100/``),
  image column ``img`` (struct<bytes, path>, PNG), labels ``label`` (CIFAR-10) or
  ``fine_label`` + ``coarse_label`` (CIFAR-100). Class names come from the Parquet
  ``huggingface`` features metadata, else the README card, else the canonical names.
* The python release (``cifar-10-batches-py/`` with ``data_batch_1..5``, ``test_batch``,
  ``batches.meta``; ``cifar-100-python/`` with ``train``, ``test``, ``meta``), read with the
  restricted unpickler (:mod:`cnlbench.sources.safe_pickle`). Images are encoded to PNG on
  access.

Both layouts keep the original example order, so train row ``i`` is CIFAR training index ``i``
(the order CIFAR-10N/100N label arrays use). Ids: ``cifar10-train-00000``, ``cifar100-test-09999``.

Recipe options: ``root`` (folder), ``layout`` (``auto`` | ``parquet`` | ``python``), and for
CIFAR-100 ``label`` (``fine`` | ``coarse``). CIFAR-100 splits carry the coarse (superclass)
label as the extra column ``coarse_label``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.base import Source, SplitData, register_source
from cnlbench.sources.safe_pickle import load_restricted
from cnlbench.sources.views import ArrayImages, ArrowBinaryImages

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR100_COARSE_CLASSES",
    "CIFAR100_FINE_CLASSES",
    "CifarSource",
]

#: Canonical class names, in label order (CIFAR-100 fine names are alphabetical, coarse names are
#: the 20 official superclasses; the noise presets' superclass table indexes these).
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR100_FINE_CLASSES: tuple[str, ...] = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)
CIFAR100_COARSE_CLASSES: tuple[str, ...] = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
    "medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
    "vehicles_1", "vehicles_2",
)

_SPEC: dict[str, dict[str, Any]] = {
    "cifar10": {
        "n": {"train": 50_000, "test": 10_000},
        "python_dir": "cifar-10-batches-py",
        "python_files": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "hub": "uoft-cs/cifar10",
    },
    "cifar100": {
        "n": {"train": 50_000, "test": 10_000},
        "python_dir": "cifar-100-python",
        "python_files": {"train": ["train"], "test": ["test"]},
        "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "hub": "uoft-cs/cifar100",
    },
}

_CITATION = (
    "@techreport{krizhevsky2009learning, title={Learning Multiple Layers of Features from Tiny "
    "Images}, author={Krizhevsky, Alex}, institution={University of Toronto}, year={2009}}"
)


def _hf_classlabel_names(schema_metadata: dict[bytes, bytes] | None, column: str) -> list[str] | None:
    """ClassLabel names of ``column`` from a Parquet schema's ``huggingface`` metadata."""
    if not schema_metadata or b"huggingface" not in schema_metadata:
        return None
    try:
        feats = json.loads(schema_metadata[b"huggingface"])["info"]["features"]
        names = feats[column]["names"]
    except (KeyError, TypeError, ValueError):
        return None
    return [str(n) for n in names] if isinstance(names, list) else None


def _card_classlabel_names(card: Path, column: str) -> list[str] | None:
    """ClassLabel names of ``column`` from a README card's ``dataset_info`` YAML."""
    if not card.is_file():
        return None
    m = re.match(r"^---\n(.*?)\n---", card.read_text(encoding="utf-8", errors="replace"), re.S)
    if not m:
        return None
    import yaml

    try:
        info = yaml.safe_load(m.group(1)).get("dataset_info")
    except (yaml.YAMLError, AttributeError):
        return None
    for entry in info if isinstance(info, list) else [info]:
        for feat in (entry or {}).get("features", []) or []:
            if feat.get("name") == column:
                names = ((feat.get("dtype") or {}).get("class_label") or {}).get("names")
                if isinstance(names, dict):
                    return [str(names[k]) for k in sorted(names, key=int)]
    return None


class CifarSource(Source):
    """CIFAR-10 / CIFAR-100 (see the module docstring for layouts and options).

    ``variant``: ``"cifar10"`` or ``"cifar100"``; the registered kinds ``cifar10`` and
    ``cifar100`` pick it (``make_source("cifar100", root=...)``). ``check_sizes=False`` skips
    the 50,000 / 10,000 example-count check (for subsets and test fixtures).
    """

    license = "unknown (no formal licence; see https://www.cs.toronto.edu/~kriz/cifar.html)"
    citation = _CITATION
    homepage = "https://www.cs.toronto.edu/~kriz/cifar.html"

    def __init__(
        self,
        root: str | Path,
        *,
        variant: str = "cifar10",
        layout: str = "auto",
        label: str = "fine",
        check_sizes: bool = True,
    ):
        if variant not in _SPEC:
            raise SourceError(f"unknown CIFAR variant {variant!r}; use 'cifar10' or 'cifar100'")
        if label not in ("fine", "coarse"):
            raise SourceError(f"CIFAR-100 label {label!r} is not 'fine' or 'coarse'")
        if variant == "cifar10" and label != "fine":
            raise SourceError("option label='coarse' applies to cifar100 only; drop it for cifar10")
        self.variant, self.label_kind, self.check_sizes = variant, label, check_sizes
        self.name = variant if label == "fine" else f"{variant}-coarse"
        self.root = Path(root).expanduser()
        self._spec = _SPEC[variant]
        self.layout = self._detect_layout(layout)
        self.class_names = tuple(self._read_class_names())
        self._cache: dict[str, SplitData] = {}

    # ---------------------------------------------------------------------------- layout
    def _missing(self, detail: str) -> MissingDataError:
        s = self._spec
        return MissingDataError(
            f"{self.variant} data not found under {self.root} ({detail}). Download the python "
            f"release {s['url']} and extract it there (giving {self.root / s['python_dir']}/), "
            f"or download the Hub Parquet copy (`hf download {s['hub']} --repo-type dataset "
            f"--local-dir {self.root}`), then pass that folder as the source root"
        )

    def _python_dir(self) -> Path | None:
        for cand in (self.root / self._spec["python_dir"], self.root):
            if all((cand / f).is_file() for f in self._spec["python_files"]["train"]):
                return cand
        return None

    def _parquet_files(self, split: str) -> list[Path]:
        files = sorted(self.root.rglob(f"{split}-*.parquet"))
        if not files:
            files = sorted(self.root.rglob(f"{split}.parquet"))
        return files

    def _detect_layout(self, layout: str) -> str:
        if layout not in ("auto", "parquet", "python"):
            raise SourceError(f"CIFAR layout {layout!r} is not 'auto', 'parquet' or 'python'")
        if not self.root.is_dir():
            raise self._missing("the folder does not exist")
        has_parquet = bool(self._parquet_files("train"))
        has_python = self._python_dir() is not None
        if layout == "parquet" and not has_parquet:
            raise self._missing("no train-*.parquet files")
        if layout == "python" and not has_python:
            raise self._missing(f"no {self._spec['python_dir']}/ batch files")
        if layout == "auto":
            if not (has_parquet or has_python):
                raise self._missing("neither train-*.parquet files nor the python release")
            layout = "parquet" if has_parquet else "python"
        return layout

    def _label_column(self) -> str:
        if self.variant == "cifar10":
            return "label"
        return f"{self.label_kind}_label"

    def _canonical(self) -> tuple[str, ...]:
        if self.variant == "cifar10":
            return CIFAR10_CLASSES
        return CIFAR100_FINE_CLASSES if self.label_kind == "fine" else CIFAR100_COARSE_CLASSES

    def _read_class_names(self) -> list[str]:
        canonical = self._canonical()
        names: list[str] | None = None
        if self.layout == "parquet":
            import pyarrow.parquet as pq

            first = self._parquet_files("train")[0]
            names = _hf_classlabel_names(pq.read_schema(first).metadata, self._label_column())
            if names is None:
                for card in (first.parent / "README.md", self.root / "README.md"):
                    names = names or _card_classlabel_names(card, self._label_column())
        else:
            meta_name = "batches.meta" if self.variant == "cifar10" else "meta"
            meta_path = self._python_dir() / meta_name  # type: ignore[operator]
            if meta_path.is_file():
                meta = load_restricted(meta_path, encoding="bytes")
                key = b"label_names" if self.variant == "cifar10" else f"{self.label_kind}_label_names".encode()
                if isinstance(meta, dict) and key in meta:
                    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[key]]
        if names is None:
            names = list(canonical)
        if len(names) != len(canonical):
            raise SourceError(
                f"{self.root}: {len(names)} class names found for {self.name}, expected "
                f"{len(canonical)}; the metadata does not belong to {self.name}"
            )
        return names

    # ---------------------------------------------------------------------------- loading
    def split_names(self) -> tuple[str, ...]:
        return ("train", "test")

    def load_split(self, split: str) -> SplitData:
        self.check_split_name(split)
        if split not in self._cache:
            if self.layout == "parquet":
                labels, images, extras = self._load_parquet(split)
            else:
                labels, images, extras = self._load_python(split)
            self._check(split, labels, extras)
            ids = np.array([f"{self.variant}-{split}-{i:05d}" for i in range(len(labels))])
            self._cache[split] = SplitData(ids=ids, labels=labels, images=images, extras=extras)
        return self._cache[split]

    def _check(self, split: str, labels: np.ndarray, extras: dict[str, np.ndarray]) -> None:
        expected = self._spec["n"][split]
        if self.check_sizes and len(labels) != expected:
            raise SourceError(
                f"{self.name} {split}: {len(labels)} examples under {self.root}, expected "
                f"{expected}; the copy is incomplete or not {self.variant}: re-download it"
            )
        k = self.num_classes
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise SourceError(
                f"{self.name} {split}: labels span {labels.min()}..{labels.max()}, outside "
                f"0..{k - 1}; the files are corrupt or belong to another dataset"
            )

    def _load_parquet(self, split: str) -> tuple[np.ndarray, Any, dict[str, np.ndarray]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        files = self._parquet_files(split)
        if not files:
            raise self._missing(f"no {split}-*.parquet files")
        label_col = self._label_column()
        tables = []
        for f in files:
            schema = pq.read_schema(f)
            img_col = "img" if "img" in schema.names else "image" if "image" in schema.names else None
            if img_col is None or label_col not in schema.names:
                raise SourceError(
                    f"{f}: columns {schema.names} lack an image column ('img') or {label_col!r}; "
                    f"is this the {self.variant} Hub layout?"
                )
            cols = [img_col, label_col] + (["coarse_label"] if self.variant == "cifar100" and "coarse_label" in schema.names and label_col != "coarse_label" else [])
            t = pq.read_table(f, columns=cols)
            tables.append(t.rename_columns(["img", "label"] + cols[2:]))
        table = pa.concat_tables(tables)
        img = table.column("img")
        if not pa.types.is_struct(img.type):
            raise SourceError(f"{files[0]}: image column has type {img.type}, expected struct<bytes, path>")
        img_bytes = pa.chunked_array([c.field("bytes") for c in img.chunks], type=img.type.field("bytes").type)
        labels = table.column("label").to_numpy().astype(np.int64)
        extras = {}
        if "coarse_label" in table.column_names:
            extras["coarse_label"] = table.column("coarse_label").to_numpy().astype(np.int64)
        return labels, ArrowBinaryImages(img_bytes, name=f"{self.name} {split}"), extras

    def _load_python(self, split: str) -> tuple[np.ndarray, Any, dict[str, np.ndarray]]:
        pdir = self._python_dir()
        assert pdir is not None
        label_key = b"labels" if self.variant == "cifar10" else f"{self.label_kind}_labels".encode()
        pixels, labels, coarse = [], [], []
        for fname in self._spec["python_files"][split]:
            path = pdir / fname
            if not path.is_file():
                raise self._missing(f"{path} is missing")
            batch = load_restricted(path, encoding="bytes")
            if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
                keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
                raise SourceError(
                    f"{path}: expected a dict with b'data' and {label_key!r}, got {keys}; "
                    f"is this the {self.variant} python release?"
                )
            data = np.asarray(batch[b"data"])
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
                raise SourceError(f"{path}: b'data' is {data.dtype} {data.shape}, expected uint8 (N, 3072)")
            pixels.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(batch[label_key], dtype=np.int64))
            if self.variant == "cifar100" and b"coarse_labels" in batch:
                coarse.append(np.asarray(batch[b"coarse_labels"], dtype=np.int64))
        arr = np.ascontiguousarray(np.concatenate(pixels))
        lab = np.concatenate(labels)
        if len(lab) != len(arr):
            raise SourceError(f"{pdir}: {len(arr)} images but {len(lab)} labels in {split}")
        extras = {"coarse_label": np.concatenate(coarse)} if coarse and self.label_kind == "fine" else {}
        return lab, ArrayImages(arr), extras


@register_source("cifar10")
def _cifar10(**opts: Any) -> CifarSource:
    return CifarSource(**{"variant": "cifar10", **opts})


@register_source("cifar100")
def _cifar100(**opts: Any) -> CifarSource:
    return CifarSource(**{"variant": "cifar100", **opts})
