"""Batched, on-device augmentation: random crop by padding + translation, horizontal flip,
per-channel normalisation.

Images stay uint8 (N, C, H, W) on the training device. The padded copy of the training images
is made ONCE per (images, padding, mode) (:func:`pad_images`); each batch then gathers one
crop per example with offsets drawn from a ``torch.Generator``, so the whole batch is augmented
by a few tensor ops with no Python loop over examples. Same generator state => same batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cnlbench.errors import HarnessError

PAD_MODES = ("zeros", "reflect")


@torch.no_grad()
def pad_images(images: torch.Tensor, padding: int, mode: str = "zeros") -> torch.Tensor:
    """(N, C, H, W) uint8 -> (N, C, H + 2p, W + 2p) uint8, zero or reflect padded."""
    if mode not in PAD_MODES:
        raise HarnessError(f"unknown pad mode {mode!r}; use one of {PAD_MODES}")
    if padding < 0:
        raise HarnessError(f"crop padding {padding!r} is negative; use 0 (no crop) or more")
    if padding == 0:
        return images
    if mode == "zeros":
        return F.pad(images, (padding,) * 4)
    h, w = images.shape[-2:]
    if padding >= min(h, w):
        raise HarnessError(f"reflect padding {padding} needs images larger than {padding}; got {h}x{w}")
    out = torch.empty((*images.shape[:2], h + 2 * padding, w + 2 * padding), dtype=images.dtype,
                      device=images.device)
    for start in range(0, len(images), 4096):  # chunked: float copy of a chunk only
        chunk = images[start:start + 4096].float()
        out[start:start + 4096] = F.pad(chunk, (padding,) * 4, mode="reflect").to(images.dtype)
    return out


@torch.no_grad()
def random_crop(padded: torch.Tensor, size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """One random (H, W) window per example of ``padded`` (B, C, H + 2p, W + 2p).

    Offsets are uniform in ``0 .. 2p`` per axis and per example, drawn from ``generator``
    (on ``padded.device``). Returns (B, C, H, W), same dtype."""
    b, _, hp, wp = padded.shape
    h, w = size
    if hp == h and wp == w:
        return padded
    dev = padded.device
    oy = torch.randint(0, hp - h + 1, (b,), generator=generator, device=dev)
    ox = torch.randint(0, wp - w + 1, (b,), generator=generator, device=dev)
    rows = oy[:, None] + torch.arange(h, device=dev)  # (B, H)
    cols = ox[:, None] + torch.arange(w, device=dev)  # (B, W)
    bi = torch.arange(b, device=dev)[:, None, None]
    # advanced indices around a slice: result (B, H, W, C)
    out = padded[bi, :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)


@torch.no_grad()
def random_hflip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Flip each example of (B, C, H, W) left-right with probability ``p``."""
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def channel_stats(images: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (C,) float32, in 0..255 units, of uint8 images (N, C, H, W)."""
    c = images.shape[1]
    s = torch.zeros(c, dtype=torch.float64, device=images.device)
    s2 = torch.zeros(c, dtype=torch.float64, device=images.device)
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].double()
        s += x.sum(dim=(0, 2, 3))
        s2 += (x * x).sum(dim=(0, 2, 3))
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = s / max(n, 1)
    std = (s2 / max(n, 1) - mean * mean).clamp_min(0).sqrt().clamp_min(1e-3)
    return mean.float(), std.float()


@dataclass
class Normalizer:
    """uint8 (B, C, H, W) -> float32 normalised with the TRAIN images' per-channel statistics."""

    mean: torch.Tensor  # (C,) float32, 0..255 units
    std: torch.Tensor  # (C,) float32
    channels_last: bool = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = (x.float() - self.mean[:, None, None]) / self.std[:, None, None]
        if self.channels_last:
            out = out.contiguous(memory_format=torch.channels_last)
        return out


@dataclass
class Augmenter:
    """The training-time transform: crop (``padding`` pixels, ``pad_mode``), optional flip,
    normalisation. Call with indices into the padded training images."""

    padded: torch.Tensor  # (N, C, H + 2p, W + 2p) uint8, from :func:`pad_images`
    size: tuple[int, int]
    normalize: Normalizer
    hflip: bool

    def __call__(self, index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augmented, normalised float batch (B, C, H, W) for training positions ``index``."""
        x = random_crop(self.padded[index], self.size, generator)
        if self.hflip:
            x = random_hflip(x, generator)
        return self.normalize(x)
