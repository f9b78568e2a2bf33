"""Device-resident data: a config's three splits decoded ONCE and held on the training device.

Images are uint8 (N, C, H, W); labels int64. Splits: ``train`` (noisy labels), ``validation``
(NOISY labels: model selection), ``test`` (clean labels). The train split also carries
``clean_label`` and ``is_noisy`` for the curves and the noise-detection AUROC only: the engine
never uses them for a training or selection decision.

Image tensors are cached per process (an LRU keyed by a content key and the device, bounded
in bytes: :data:`IMAGE_CACHE_BYTES`), so
the configs of one dataset (same ids, different labels) and the runs of one config share one
copy; only the label tensors are per config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from cnlbench.errors import DeviceError, HarnessError
from cnlbench.manifest.recipe import parse_config_name
from cnlbench.manifest.schema import SPLITS

#: Bytes of decoded image tensors a process keeps, per device (each entry is one split of one
#: dataset; the newest entry is kept whatever its size). 2 GiB holds CIFAR-10 and CIFAR-100
#: (184 MB each) or one 84x84 Mini-ImageNet (1.3 GB); a worker that serves many runs (Ray)
#: stays bounded however many datasets its runs read.
IMAGE_CACHE_BYTES = 2 * 2**30
_IMAGE_CACHE: "OrderedDict[tuple[str, str], torch.Tensor]" = OrderedDict()


@dataclass(frozen=True)
class HostSplit:
    """One split on the host. ``images`` (N, H, W, C) or (N, H, W) uint8 (or a zero-argument
    callable returning it, so cached images are never decoded twice); labels (N,) int64."""

    images: np.ndarray | Callable[[], np.ndarray]
    label: np.ndarray
    clean_label: np.ndarray | None = None  # (N,) int64, -1 where unknown; defaults to label
    is_noisy: np.ndarray | None = None  # (N,) bool; defaults to all False
    #: Content key of the images (same key => same pixels); computed from the pixels if None.
    image_key: str | None = None


@dataclass
class SplitTensors:
    """One split on the device."""

    images: torch.Tensor  # (N, C, H, W) uint8
    label: torch.Tensor  # (N,) int64, the label to train on / select with / test against
    clean_label: torch.Tensor  # (N,) int64, -1 where unknown
    is_noisy: torch.Tensor  # (N,) bool

    def __len__(self) -> int:
        return int(self.label.shape[0])


@dataclass
class TaskData:
    """A config's splits on ``device`` plus what methods and the results row need."""

    dataset: str
    config: str
    class_names: tuple[str, ...]
    train: SplitTensors
    validation: SplitTensors
    test: SplitTensors
    device: torch.device
    noise_kind: str = ""
    noise_level: float | None = None  # requested level, fraction
    noise_matrix: np.ndarray | None = None  # (K, K) requested T, row-stochastic
    fingerprint: str = ""  # manifest fingerprint of the config
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.images.shape[1:]
        return int(c), int(h), int(w)

    @classmethod
    def from_host(
        cls,
        *,
        dataset: str,
        config: str,
        class_names: tuple[str, ...] | list[str],
        train: HostSplit,
        validation: HostSplit,
        test: HostSplit,
        device: str | torch.device = "cpu",
        **info: Any,
    ) -> "TaskData":
        """Move host splits to ``device`` (images through the shared cache)."""
        dev = torch.device(device)
        splits = [_to_device(s, dev) for s in (train, validation, test)]
        k = len(class_names)
        for name, sp in zip(SPLITS, splits):
            if len(sp) and (int(sp.label.min()) < 0 or int(sp.label.max()) >= k):
                raise HarnessError(
                    f"{dataset}/{config} {name}: labels outside 0..{k - 1}; the manifest and its "
                    "class names disagree — rebuild the dataset"
                )
        shapes = {tuple(sp.images.shape[1:]) for sp in splits if len(sp)}
        if len(shapes) > 1:
            raise HarnessError(f"{dataset}/{config}: splits have different image shapes {sorted(shapes)}; "
                               "resize the source images to one size when building")
        return cls(dataset, config, tuple(class_names), *splits, device=dev, **info)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``. A device this machine does not have
    (``cuda`` without a GPU, ``cuda:7`` with one GPU, ``mps`` off Apple silicon) or that the
    harness does not train on is a :class:`~cnlbench.errors.DeviceError` naming it."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name[:60]!r}; use --device auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise DeviceError(f"device {name!r} requested but no CUDA GPU is available; use --device cpu or auto")
        if dev.index is not None and dev.index >= n:
            raise DeviceError(f"device {name!r} requested but this machine has {n} CUDA GPU(s), "
                              f"cuda:0..cuda:{n - 1}; pass one of those, or --device cuda")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"device {name!r} requested but Apple MPS is not available here; use --device cpu or auto")
    elif dev.type != "cpu":
        raise DeviceError(f"device {name!r}: the harness trains on cpu, cuda[:N] or mps; use --device auto, cpu or cuda")
    return dev


def _pixels_key(images: np.ndarray) -> str:
    h = hashlib.sha256(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()


def _nchw(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise HarnessError(f"images have dtype {images.dtype}; the harness expects uint8 pixels 0..255")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise HarnessError(f"images have shape {images.shape}; expected (N, H, W) or (N, H, W, C)")
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))


def _cached_images(host: HostSplit, device: torch.device) -> torch.Tensor:
    raw = None
    key = host.image_key
    if key is None:
        raw = host.images() if callable(host.images) else host.images
        key = _pixels_key(np.asarray(raw))
    ck = (key, str(device))
    if ck in _IMAGE_CACHE:
        _IMAGE_CACHE.move_to_end(ck)
        return _IMAGE_CACHE[ck]
    if raw is None:
        raw = host.images() if callable(host.images) else host.images
    t = torch.from_numpy(_nchw(raw)).to(device)
    _IMAGE_CACHE[ck] = t
    on_device = [k for k in _IMAGE_CACHE if k[1] == ck[1]]  # oldest first
    held = sum(_IMAGE_CACHE[k].nbytes for k in on_device)
    for k in on_device[:-1]:
        if held <= IMAGE_CACHE_BYTES:
            break
        held -= _IMAGE_CACHE.pop(k).nbytes
    return t


def clear_image_cache() -> None:
    """Drop every cached image tensor (frees device memory)."""
    _IMAGE_CACHE.clear()


def _to_device(host: HostSplit, device: torch.device) -> SplitTensors:
    images = _cached_images(host, device)
    label = np.asarray(host.label, dtype=np.int64)
    if len(label) != images.shape[0]:
        raise HarnessError(f"{len(label)} labels for {images.shape[0]} images; the split is inconsistent")
    clean = label if host.clean_label is None else np.asarray(host.clean_label, dtype=np.int64)
    noisy = np.zeros(len(label), bool) if host.is_noisy is None else np.asarray(host.is_noisy, dtype=bool)
    return SplitTensors(
        images=images,
        label=torch.from_numpy(label.copy()).to(device),
        clean_label=torch.from_numpy(clean.copy()).to(device),
        is_noisy=torch.from_numpy(noisy.copy()).to(device),
    )


# --------------------------------------------------------------------------------------------
# Built datasets (cnlbench.manifest)

def noise_kind_and_level(config: str, metadata: dict[str, Any] | None = None) -> tuple[str, float | None]:
    """(noise kind, requested level) from the split metadata, else from the config name
    (:func:`cnlbench.manifest.recipe.parse_config_name`: ``sym-40`` -> ("sym", 0.40); a named
    label set such as ``cifar10n-aggre`` -> (name, None))."""
    meta = metadata or {}
    kind = meta.get("noise_kind")
    level = meta.get("requested_level")
    name_kind, name_level = parse_config_name(config)
    if kind is None:
        kind = name_kind
    if level is None:
        level = name_level
    return str(kind), (None if level is None else float(level))


def open_built(dataset_dir: str | Path, image_root: str | Path | None = None) -> Any:
    """``cnlbench.manifest.open_dataset`` (imported lazily: the harness layer sits above it)."""
    from cnlbench.manifest import open_dataset

    path = Path(dataset_dir)
    if not path.is_dir():
        raise HarnessError(f"dataset folder {str(path)!r} does not exist; build one with `cnlbench build RECIPE --out DIR`")
    return open_dataset(path, image_root=image_root)


def _split_key(dataset_dir: Path, config: str, split: str, sp: Any) -> str:
    """Content key of a split's images without decoding them: the dataset folder, the ids and
    the clean-source fingerprint. Splits holding web images are keyed per config (their rows
    may carry replaced images under the same ids)."""
    h = hashlib.sha256(os.path.realpath(dataset_dir).encode())
    h.update(split.encode() if split == "test" else b"trainval")
    h.update(str((sp.metadata or {}).get("source_fingerprint", "")).encode())
    for i in sp.ids:
        h.update(str(i).encode() + b"\0")
    if np.any(np.asarray(sp.noise_source) == "web"):
        h.update(b"config:" + config.encode())
    return h.hexdigest()


def load_task(
    dataset_dir: str | Path,
    config: str,
    device: str | torch.device = "auto",
    image_root: str | Path | None = None,
    dataset: Any = None,
) -> TaskData:
    """Read ``config`` of a built dataset folder onto ``device`` (``dataset`` reuses an already
    opened ``BuiltDataset``).

    Refuses (``ManifestError`` naming the config and file) a dataset whose recomputed
    fingerprints, noise record or reference images' SHA-256 differ from what the build
    recorded; images decode under the one pixel limit of ``cnlbench.sources.images``."""
    ds = dataset if dataset is not None else open_built(dataset_dir, image_root)
    if config not in ds.configs:
        raise HarnessError(f"unknown config {config!r} in {str(dataset_dir)!r}; valid configs: {list(ds.configs)}")
    # Before any image is decoded: every split's content, the config fingerprint and the noise
    # record (level, matrix) must match what the build recorded (ManifestError naming the file).
    fingerprint = str(ds.fingerprint(config))
    host = {}
    meta: dict[str, Any] = {}
    for split in SPLITS:
        sp = ds.split(config, split)
        if split == "train":
            meta = dict(sp.metadata or {})
        host[split] = HostSplit(
            images=sp.images_uint8,
            label=np.asarray(sp.label),
            clean_label=np.asarray(sp.clean_label),
            is_noisy=np.asarray(sp.is_noisy),
            image_key=_split_key(Path(dataset_dir), config, split, sp),
        )
    kind, level = noise_kind_and_level(config, meta)
    return TaskData.from_host(
        dataset=str(ds.name),
        config=config,
        class_names=tuple(ds.class_names),
        train=host["train"],
        validation=host["validation"],
        test=host["test"],
        device=resolve_device(device),
        noise_kind=kind,
        noise_level=level,
        noise_matrix=ds.transition_matrix(config),
        fingerprint=fingerprint,
        # what a test-time corruption (:func:`corrupt_test`) needs from the build
        extra={"noise_spec": meta.get("noise_spec"), "build_seed": meta.get("seed")},
    )


# --------------------------------------------------------------------------------------------
# Test-time corruption (an evaluation option: ``TrainConfig.test_corruption``)

#: ``""``: the clean test split as built; ``"structured"``: the config's structured feature
#: (blur, smudge; or, for randomised classes, just the class membership) on a known subset of
#: the clean test images (the DAC study, Thulasidasan et al. 2019).
TEST_CORRUPTIONS = ("", "structured")


def corrupt_test(task: TaskData, kind: str) -> TaskData:
    """``task`` with its clean test split corrupted at evaluation time (a new TaskData; the
    input, which packed runs may share, is not changed). Labels stay clean; the test split's
    ``is_noisy`` marks the corrupted images, on which the engine reports metrics separately.

    ``"structured"``: :func:`cnlbench.manifest.family_structured.apply_test_feature` with the
    config's recorded noise spec, on the subset chosen by the generator
    ``structured_test_rng(build seed, config)``; the same build and config always give the same
    images. A config not built by the ``structured`` family is an error.
    """
    if kind not in TEST_CORRUPTIONS:
        raise HarnessError(f"unknown test corruption {kind!r}; valid: {list(TEST_CORRUPTIONS)}")
    if not kind:
        return task
    from cnlbench.manifest.family_structured import apply_test_feature, structured_test_rng

    spec = dict(task.extra.get("noise_spec") or {})
    if spec.get("family") != "structured":
        raise HarnessError(f"test_corruption={kind!r} needs a config built by the `structured` noise family; "
                           f"{task.dataset}/{task.config} has noise spec {spec or None}. Drop the option or "
                           "choose a structured config (e.g. blur-20)")
    test = task.test
    host = test.images.permute(0, 2, 3, 1).cpu().numpy()  # (N, H, W, C) uint8
    rng = structured_test_rng(int(task.extra.get("build_seed") or 0), task.config)
    images, affected = apply_test_feature(spec, host, test.label.cpu().numpy(), rng)
    device = test.images.device
    new_test = SplitTensors(
        images=torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(device),
        label=test.label, clean_label=test.clean_label,
        is_noisy=torch.from_numpy(np.asarray(affected, dtype=bool)).to(device),
    )
    extra = {**task.extra, "test_corruption": {"kind": kind, "spec": spec, "affected": int(affected.sum())}}
    return dataclasses.replace(task, test=new_test, extra=extra)
