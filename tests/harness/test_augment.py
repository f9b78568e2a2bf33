"""Batched augmentation: shapes, determinism, crop semantics, flips, normalisation."""

from __future__ import annotations

import pytest
import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.augment import Augmenter, Normalizer, channel_stats, pad_images, random_crop, random_hflip


def _images(n: int = 6, c: int = 3, h: int = 8, w: int = 8) -> torch.Tensor:
    return torch.arange(n * c * h * w, dtype=torch.int64).remainder(251).to(torch.uint8).reshape(n, c, h, w)


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
@pytest.mark.parametrize("pad", [0, 1, 3])
def test_pad_shapes_and_content(mode: str, pad: int) -> None:
    x = _images()
    p = pad_images(x, pad, mode)
    assert p.shape == (6, 3, 8 + 2 * pad, 8 + 2 * pad) and p.dtype == torch.uint8
    assert torch.equal(p[:, :, pad:pad + 8, pad:pad + 8], x)
    if pad and mode == "zeros":
        assert int(p[:, :, 0, :].max()) == 0
    if pad and mode == "reflect":  # reflect without repeating the edge: row -1 equals row 1
        assert torch.equal(p[:, :, pad - 1, pad:pad + 8], x[:, :, 1, :])


@pytest.mark.parametrize("pad", [1, 2, 4])
def test_crop_is_a_window_of_the_padded_image(pad: int) -> None:
    x = _images(n=16, c=2, h=8, w=8)
    p = pad_images(x, pad, "zeros")
    out = random_crop(p, (8, 8), torch.Generator().manual_seed(3))
    assert out.shape == x.shape
    for b in range(16):  # each output is exactly one of the (2p+1)^2 windows of its own image
        windows = [p[b, :, i:i + 8, j:j + 8] for i in range(2 * pad + 1) for j in range(2 * pad + 1)]
        assert any(torch.equal(out[b], w) for w in windows)


def test_crop_offsets_vary_per_example_and_are_seeded() -> None:
    x = _images(n=64, c=1).repeat(1, 1, 1, 1)
    x[:] = x[0]  # identical images: differences can only come from per-example offsets
    p = pad_images(x, 2, "zeros")
    a = random_crop(p, (8, 8), torch.Generator().manual_seed(0))
    b = random_crop(p, (8, 8), torch.Generator().manual_seed(0))
    c = random_crop(p, (8, 8), torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len({a[i].numpy().tobytes() for i in range(64)}) > 5


def test_hflip_flips_about_half_exactly() -> None:
    x = _images(n=200, c=1)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = [bool(torch.equal(out[i], x[i].flip(2))) and not torch.equal(x[i], x[i].flip(2)) for i in range(200)]
    kept = [bool(torch.equal(out[i], x[i])) for i in range(200)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 60 < sum(flipped) < 140


def test_channel_stats_and_normaliser() -> None:
    x = _images(n=10, c=3)
    mean, std = channel_stats(x)
    ref = x.double()
    assert torch.allclose(mean.double(), ref.mean(dim=(0, 2, 3)), atol=1e-4)
    assert torch.allclose(std.double(), ref.std(dim=(0, 2, 3), unbiased=False), atol=1e-3)
    z = Normalizer(mean, std)(x)
    assert z.dtype == torch.float32
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)


@pytest.mark.parametrize("hflip", [False, True])
def test_augmenter_batch_is_deterministic(hflip: bool) -> None:
    x = _images(n=32, c=3, h=12, w=12)
    mean, std = channel_stats(x)
    aug = Augmenter(pad_images(x, 2, "reflect"), (12, 12), Normalizer(mean, std), hflip)
    idx = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    a = aug(idx, torch.Generator().manual_seed(7))
    b = aug(idx, torch.Generator().manual_seed(7))
    assert a.shape == (8, 3, 12, 12) and a.dtype == torch.float32
    assert torch.equal(a, b)


def test_bad_padding_is_refused() -> None:
    with pytest.raises(HarnessError, match="pad mode"):
        pad_images(_images(), 1, "circular")
    with pytest.raises(HarnessError, match="reflect padding"):
        pad_images(_images(h=2, w=2), 2, "reflect")
