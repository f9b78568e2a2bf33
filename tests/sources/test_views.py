"""Image views: mixing parts keeps file paths only when they share one root; availability
is seen through subset views."""

from __future__ import annotations

import numpy as np
import pytest

from cnlbench.errors import ManifestError, MissingDataError
from cnlbench.sources.png import encode_png
from cnlbench.sources.views import (
    BytesImages,
    FileImages,
    ImageStore,
    IndexedImages,
    MixedImages,
    StoreImages,
    combine_images,
    image_available,
)


def _png(v: int) -> bytes:
    return encode_png(np.full((2, 2, 3), v, dtype=np.uint8))


@pytest.fixture
def files(tmp_path):
    for root in ("a", "b"):
        (tmp_path / root).mkdir()
        (tmp_path / root / "x.png").write_bytes(_png(1 if root == "a" else 2))
    return tmp_path


def test_combine_keeps_paths_under_one_root(files):
    a = FileImages(files / "a", ["x.png"])
    mixed = combine_images([a, a], np.array([0, 1]), np.array([0, 0]))
    assert not mixed.in_memory and mixed.root == (files / "a").resolve()
    assert mixed.relpath(1) == "x.png" and mixed.reference_path(0) == "x.png"


@pytest.mark.parametrize("second", ["other_root", "in_memory"])
def test_combine_drops_paths_when_roots_differ_or_bytes_are_held(files, second):
    a = FileImages(files / "a", ["x.png"])
    b = FileImages(files / "b", ["x.png"]) if second == "other_root" else BytesImages([_png(3)])
    mixed = combine_images([a, b], np.array([0, 1]), np.array([0, 0]))
    assert mixed.in_memory and mixed.root is None
    assert mixed.relpath(0) is None and mixed.reference_path(1) is None
    assert mixed.encoded(0) == _png(1) and mixed.encoded(1) == (_png(2) if second == "other_root" else _png(3))


def test_mixed_refuses_two_roots_unless_in_memory(files):
    parts = [FileImages(files / "a", ["x.png"]), FileImages(files / "b", ["x.png"])]
    with pytest.raises(ManifestError, match="different roots"):
        MixedImages(parts, np.array([0, 1]), np.array([0, 0]))
    with pytest.raises(ManifestError, match="one entry per row"):
        MixedImages(parts[:1], np.array([0, 0]), np.array([0]))


class _Dict(ImageStore):
    label = "a dict"

    def __init__(self, blobs):
        self.blobs = blobs

    def has(self, name):
        return name in self.blobs

    def read(self, name):
        return self.blobs[name]


def test_availability_through_subset_views():
    store = _Dict({"p.png": _png(4)})
    rows = StoreImages([store], np.array([0, -1]), ["p.png", "gone.png"])
    sub = IndexedImages(IndexedImages(rows, np.array([1, 0])), np.array([1, 0]))
    assert [image_available(sub, i) for i in range(2)] == [True, False]
    assert image_available(BytesImages([b""]), 0) is None
    with pytest.raises(MissingDataError, match="searched: a dict"):
        sub.encoded(1)
