"""The embedded digits source and the deterministic PNG encoder."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from cnlbench.errors import SourceError
from cnlbench.sources import make_source
from cnlbench.sources.digits import TEST_EVERY, split_indices
from cnlbench.sources.png import encode_png


@pytest.mark.parametrize("shape", [(8, 8), (1, 1), (3, 5, 1), (7, 2, 3), (4, 6, 4), (300, 300, 3)])
def test_png_decodes_with_pillow_to_the_same_pixels(shape):
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    blob = encode_png(pixels)
    assert blob.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(blob)) as im:
        im.load()
        decoded = np.asarray(im)
    np.testing.assert_array_equal(decoded.reshape(pixels.shape), pixels)


def test_png_bytes_are_fixed():
    # A change in these bytes would change every committed manifest: the encoder must not drift.
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    assert hashlib.sha256(encode_png(pixels)).hexdigest() == "91b00e3d5449c03e408f783f450347e62f3904de134075b27c34e4cd0069685d"
    assert len(encode_png(pixels)) == 8 + 25 + (12 + 2 + 5 + 72 + 4) + 12


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8), np.zeros((0, 3), np.uint8), np.zeros(5, np.uint8)])
def test_png_rejects_bad_input(bad):
    with pytest.raises(SourceError, match="encode_png"):
        encode_png(bad)


@pytest.fixture(scope="module")
def digits():
    src = make_source("digits")
    return src, src.load_split("train"), src.load_split("test")


def test_digits_sizes_ids_and_classes(digits):
    src, train, test = digits
    assert src.class_names == tuple(str(d) for d in range(10))
    assert len(train) + len(test) == 1797
    all_ids = np.concatenate([train.ids, test.ids])
    assert len(set(all_ids.tolist())) == 1797
    assert sorted(all_ids.tolist()) == [f"digits-{i:05d}" for i in range(1797)]
    for split in (train, test):
        assert split.labels.dtype == np.int64 and set(split.labels.tolist()) == set(range(10))


def test_digits_split_is_stratified_80_20_by_rule(digits):
    _, train, test = digits
    for c in range(10):
        n_train, n_test = int((train.labels == c).sum()), int((test.labels == c).sum())
        assert n_test == (n_train + n_test) // TEST_EVERY
    # the rule, not RNG: the same indices every call
    labels = np.concatenate([train.labels, test.labels])
    np.testing.assert_array_equal(split_indices(np.sort(labels), "test"), split_indices(np.sort(labels), "test"))


def test_digits_images_are_real_scaled_pngs(digits):
    from sklearn.datasets import load_digits

    _, train, _ = digits
    raw = load_digits()
    for row in (0, 17, len(train) - 1):
        index = int(train.ids[row].split("-")[1])
        with Image.open(io.BytesIO(train.images.encoded(row))) as im:
            assert im.mode == "L" and im.size == (8, 8)
            px = np.asarray(im)
        np.testing.assert_array_equal(px, np.rint(raw.images[index] * 255 / 16).astype(np.uint8))
        assert train.labels[row] == raw.target[index]


def test_digits_rejects_options():
    with pytest.raises(SourceError, match="takes no options"):
        make_source("digits", root="x")
