"""Safe image reading: no path escapes the root, bad files are named, bombs are refused."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from fixtures_sources import jpeg_bytes
from PIL import Image

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.images import decode_rgb, read_image_file, resize_encode, verify_image
from cnlbench.sources.views import ArrowBinaryImages, FileImages


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "a" / "ok.png").write_bytes(jpeg_bytes(np.random.default_rng(0), fmt="PNG"))
    (tmp_path / "secret.png").write_bytes(b"outside")
    return root


def test_reads_a_file_under_the_root(tree):
    assert read_image_file(tree, "a/ok.png").startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "relpath, match",
    [
        ("../secret.png", r"'\.\.'"),
        ("a/../../secret.png", r"'\.\.'"),
        ("/etc/passwd", "absolute"),
        ("C:/x.png", "absolute"),
        ("a\\ok.png", "backslash"),
        ("", "empty"),
    ],
)
def test_refuses_escaping_paths(tree, relpath, match):
    with pytest.raises(SourceError, match=match):
        read_image_file(tree, relpath)


def test_refuses_symlink_pointing_outside(tree):
    os.symlink(tree.parent / "secret.png", tree / "a" / "link.png")
    with pytest.raises(SourceError, match="outside the image root"):
        read_image_file(tree, "a/link.png")
    os.symlink(tree.parent, tree / "up")
    with pytest.raises(SourceError, match="outside the image root"):
        read_image_file(tree, "up/secret.png")


def test_symlink_inside_root_is_allowed(tree):
    os.symlink(tree / "a" / "ok.png", tree / "inside.png")
    assert read_image_file(tree, "inside.png") == (tree / "a" / "ok.png").read_bytes()


def test_missing_file_is_named(tree):
    with pytest.raises(MissingDataError, match="a/nope.png"):
        read_image_file(tree, "a/nope.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_reported_by_name(fmt):
    data = jpeg_bytes(np.random.default_rng(1), 64, 64, fmt=fmt)
    assert verify_image(data, "good") == (64, 64)
    with pytest.raises(SourceError, match="'cls/broken.img'.*truncated or corrupt"):
        verify_image(data[: len(data) // 2], "cls/broken.img")


@pytest.mark.parametrize("blob", [b"", b"hello, not an image", b"GIF89a" + b"\x00" * 3])
def test_non_image_is_reported_by_name(blob):
    with pytest.raises(SourceError, match="notes.txt"):
        verify_image(blob, "notes.txt")


def _big_png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (w, h)).save(buf, format="PNG")  # all-zero: compresses to a few KB
    return buf.getvalue()


def test_decompression_bomb_is_refused_naming_file_and_limit(monkeypatch):
    bomb = _big_png(10_000, 10_000)  # 100 MP > the 64 MP default
    assert len(bomb) < 200_000
    with pytest.raises(SourceError, match=r"bomb\.png.*64000000.*CNLBENCH_MAX_IMAGE_PIXELS"):
        verify_image(bomb, "bomb.png")
    small = _big_png(100, 100)
    with pytest.raises(SourceError, match="over the limit of 5000"):
        verify_image(small, "s.png", max_pixels=5000)
    monkeypatch.setenv("CNLBENCH_MAX_IMAGE_PIXELS", "20000")
    assert verify_image(small, "s.png") == (100, 100)


def test_pillow_bomb_error_is_translated():
    bomb = _big_png(14_000, 14_000)  # 196 MP: Pillow itself raises DecompressionBombError
    with pytest.raises(SourceError, match="huge.png"):
        verify_image(bomb, "huge.png", max_pixels=10**9)


@pytest.mark.parametrize("size, expect", [(8, (8, 8)), ((10, 6), (6, 10)), (None, (12, 16))])
def test_resize_encode_is_deterministic(size, expect):
    data = jpeg_bytes(np.random.default_rng(2), 12, 16)
    a, b = resize_encode(data, size), resize_encode(data, size)
    assert a == b and a.startswith(b"\x89PNG")
    assert decode_rgb(a, "x").shape == (*expect, 3)


def test_resize_encode_crop_box_and_empty_box():
    px = np.zeros((20, 30, 3), np.uint8)
    px[5:10, 10:20] = 255
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, format="PNG")
    out = decode_rgb(resize_encode(buf.getvalue(), None, crop_box=(10, 5, 20, 10)), "x")
    assert out.shape == (5, 10, 3) and (out == 255).all()
    with pytest.raises(SourceError, match="empty after clipping"):
        resize_encode(buf.getvalue(), 4, crop_box=(40, 40, 50, 50), name="c.png")


def test_arrow_binary_images_slices_chunks_and_offsets():
    import pyarrow as pa

    blobs = [bytes([i]) * (i + 1) for i in range(7)]
    arr = pa.chunked_array([pa.array(blobs[:3], pa.binary()), pa.array(blobs[3:], pa.binary())])
    imgs = ArrowBinaryImages(arr)
    assert [imgs.encoded(i) for i in range(7)] == blobs
    sliced = ArrowBinaryImages(pa.array(blobs, pa.large_binary()).slice(2, 3))
    assert [sliced.encoded(i) for i in range(3)] == blobs[2:5]
    with pytest.raises(SourceError, match="no bytes"):
        ArrowBinaryImages(pa.array([b"x", None], pa.binary()))


def test_file_images_verifies_or_transforms(tree):
    (tree / "a" / "bad.png").write_bytes(b"junk")
    imgs = FileImages(tree, ["a/ok.png", "a/bad.png", "a/gone.png"])
    assert imgs.relpath(0) == "a/ok.png" and imgs.missing() == [2]
    assert imgs.encoded(0) == (tree / "a" / "ok.png").read_bytes()
    with pytest.raises(SourceError, match="a/bad.png"):
        imgs.encoded(1)
    with pytest.raises(SourceError, match=r"'\.\.'"):
        FileImages(tree, ["../secret.png"])
