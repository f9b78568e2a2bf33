"""The one small interface every clean dataset source implements.

A source knows a dataset's class names and, per split, the example ids, the clean labels and
how to get each example's image. It never applies noise and never writes manifests.

Splits are named ``train``, ``validation`` (only when the dataset ships one) and ``test``.
Arrays:

* ``ids``: shape (N,), numpy unicode (``dtype.kind == "U"``), unique within the split, stable
  across runs and machines (derived from file names or source order, never from RNG).
* ``labels``: shape (N,), int64, each in ``0 .. K-1`` where ``K = len(class_names)``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from cnlbench.errors import SourceError
from cnlbench.registry import Registry

#: The split names, in order (a source ships ``validation`` only when the dataset has one); the
#: one home of this fact: the manifest and the harness import it.
SPLITS = ("train", "validation", "test")


class ImageAccess(abc.ABC):
    """Random access to the encoded images of one split, by position.

    Exactly one of two storage kinds applies:

    * in-memory or archive-backed sources (digits, CIFAR Parquet/pickle) return encoded bytes
      from :meth:`encoded` and ``None`` from :meth:`relpath`;
    * file-backed sources (ImageFolder, Mini-ImageNet, Stanford Cars, CNWL web images) return a
      POSIX path relative to :attr:`root` from :meth:`relpath`; :meth:`encoded` reads the file
      (through :func:`cnlbench.sources.images.read_image_file`, which refuses paths that escape
      the root, non-images and decompression bombs).

    Every implementation lives in :mod:`cnlbench.sources.views`.
    """

    #: Folder file-backed images are resolved against; ``None`` for in-memory sources.
    root: Path | None = None

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def encoded(self, index: int) -> bytes:
        """Encoded image file content (PNG/JPEG/...) of example ``index``."""

    def relpath(self, index: int) -> str | None:
        """POSIX path of example ``index`` relative to :attr:`root`, or ``None`` if in memory."""
        return None

    def reference_path(self, index: int) -> str | None:
        """What a reference-mode manifest records for example ``index``: its :meth:`relpath`
        when the file's own bytes are the image, ``None`` when :meth:`encoded` transforms them
        (the build then stores the transformed bytes itself)."""
        return self.relpath(index)

    def iter_encoded(self, indices: Sequence[int] | None = None) -> Iterator[bytes]:
        """Encoded bytes for ``indices`` (all, in order, when ``None``)."""
        for i in range(len(self)) if indices is None else indices:
            yield self.encoded(int(i))


@dataclass(frozen=True)
class SplitData:
    """One split of a clean dataset: ids (N,) str, labels (N,) int64, and image access."""

    ids: np.ndarray
    labels: np.ndarray
    images: ImageAccess
    #: Optional extra per-example columns (e.g. Stanford Cars bounding boxes), each shape (N,).
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids, labels = np.asarray(self.ids), np.asarray(self.labels)
        if ids.ndim != 1 or labels.ndim != 1 or len(ids) != len(labels):
            raise SourceError(
                f"ids and labels must be 1-D of equal length, got shapes {ids.shape} and "
                f"{labels.shape}; fix the source so both have one entry per example"
            )
        if len(self.images) != len(ids):
            raise SourceError(
                f"{len(self.images)} images for {len(ids)} ids; every example needs exactly one image"
            )
        if labels.dtype.kind not in "iu":
            raise SourceError(f"labels must be integers, got dtype {labels.dtype}")
        object.__setattr__(self, "ids", ids.astype(str))
        object.__setattr__(self, "labels", labels.astype(np.int64))

    def __len__(self) -> int:
        return len(self.ids)


class Source(abc.ABC):
    """A clean image-classification dataset.

    Subclasses set :attr:`name`, :attr:`class_names`, :attr:`license`, :attr:`citation` and
    implement :meth:`split_names` and :meth:`load_split`.
    """

    name: str = ""
    class_names: tuple[str, ...] = ()
    license: str = "unknown"
    citation: str = ""
    homepage: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @abc.abstractmethod
    def split_names(self) -> tuple[str, ...]:
        """The splits this source ships, e.g. ``("train", "test")``."""

    @abc.abstractmethod
    def load_split(self, split: str) -> SplitData:
        """Ids, clean labels and images of ``split``; raises SourceError for unknown splits."""

    def check_split_name(self, split: str) -> None:
        if split not in self.split_names():
            raise SourceError(
                f"source {self.name!r} has no split {split!r}; valid splits: {list(self.split_names())}"
            )


# --------------------------------------------------------------------------------------------
# Registry: recipes name a source by ``source: {kind: NAME, ...options}``. A source kind is one
# module of this package (or a subpackage, like ``cnwl/``) decorated ``@register_source(kind)``;
# the modules in ``skip`` are the package's helpers, which register nothing. A module whose
# optional dependency is missing never breaks the others (it is named in the unknown-kind error).

SourceFactory = Callable[..., Source]
SOURCES: Registry[SourceFactory] = Registry(
    "source kind", "cnlbench.sources", error=SourceError,
    skip=("base", "cifar_n", "digits_web", "images", "png", "safe_pickle", "views"))


def register_source(kind: str) -> Callable[[SourceFactory], SourceFactory]:
    """Class/function decorator registering a source factory under ``kind``."""

    def deco(factory: SourceFactory) -> SourceFactory:
        return SOURCES.add(kind, factory)

    return deco


def source_kinds() -> list[str]:
    """Names of all registered source kinds (built-in and added), sorted."""
    return SOURCES.names()


def make_source(kind: str, **options) -> Source:
    """Instantiate the source registered as ``kind`` with recipe ``options``."""
    return SOURCES.get(kind)(**options)
