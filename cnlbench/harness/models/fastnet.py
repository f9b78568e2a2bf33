"""``fastnet``: a fast small-image network in the spirit of airbench94 (Jordan 2024), ~2M params.

Architecture (for 32x32 inputs): a 2x2 patch-whitening convolution (C*4*2 channels, no padding,
32 -> 31) + GELU, then three conv groups of widths 64, 256, 256, each
``conv3x3 -> maxpool2 -> BN -> GELU -> conv3x3 -> BN -> GELU`` (31 -> 15 -> 7 -> 3), a 3x3 max
pool, dropout, and a bias-free linear head scaled by 1/9 (airbench's output temperature).

Kept from airbench: the architecture and its FROZEN whitening first layer, initialised from
training-image statistics (the eigenvectors of the covariance of 2x2 patches, scaled by
``1 / sqrt(eigenvalue + 5e-4)``, in +/- pairs) when the engine passes ``init_images``; its bias
trains. Without images the layer keeps its random initialisation (still frozen). Deterministic
(no RNG): the patches are those of the first images given.

NOT kept (they are noise-robustness tricks that would blur the comparison): label
smoothing, test-time augmentation, lookahead weight averaging, loss-based example dropping.
"""

from __future__ import annotations

import torch
from torch import nn

from cnlbench.harness.models.registry import register_model
from cnlbench.harness.models.layers import SeededDropout

WHITEN_EPS = 5e-4
#: At most this many images feed the whitening statistics.
WHITEN_IMAGES = 5000


def _group(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.MaxPool2d(2),
        nn.BatchNorm2d(cout),
        nn.GELU(),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.GELU(),
    )


class FastNet(nn.Module):
    def __init__(self, num_outputs: int, in_channels: int = 3, dropout: float = 0.0,
                 widths: tuple[int, int, int] = (64, 256, 256)):
        super().__init__()
        wc = in_channels * 4 * 2
        self.whiten = nn.Conv2d(in_channels, wc, 2, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)
        self.act = nn.GELU()
        self.layers = nn.Sequential(_group(wc, widths[0]), _group(widths[0], widths[1]),
                                    _group(widths[1], widths[2]))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.dropout = SeededDropout(dropout)
        self.head = nn.Linear(widths[2], num_outputs, bias=False)
        self.scale = 1.0 / 9.0

    @torch.no_grad()
    def data_init(self, images: torch.Tensor) -> None:
        """Set the frozen whitening filters from normalised images (M, C, H, W) float."""
        x = images[:WHITEN_IMAGES].float()
        c = x.shape[1]
        patches = x.unfold(2, 2, 1).unfold(3, 2, 1)  # (M, C, H-1, W-1, 2, 2)
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * 4).double()
        cov = patches.T @ patches / patches.shape[0]
        eigval, eigvec = torch.linalg.eigh(cov)
        eigval, eigvec = eigval.flip(0), eigvec.T.flip(0)  # largest first, rows = vectors
        scaled = (eigvec / torch.sqrt(eigval.clamp_min(0) + WHITEN_EPS)[:, None]).reshape(c * 4, c, 2, 2)
        self.whiten.weight.copy_(torch.cat([scaled, -scaled]).to(self.whiten.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.whiten(x))
        x = self.layers(x)
        x = self.pool(x).flatten(1)
        return self.head(self.dropout(x)) * self.scale


@register_model("fastnet", image_size=32, uses_init_images=True,
                description="airbench94-style net (~2M params) without robustness tricks",
                train_defaults=dict(epochs=30, batch_size=512, lr=0.2, warmup_epochs=2.0, crop_padding=2,
                                    pad_mode="reflect", hflip=True, eval_batch_size=2048),
                channelwise=(FastNet,))
def fastnet(num_outputs: int, in_channels: int = 3, image_size: int = 32, dropout: float = 0.0) -> nn.Module:
    return FastNet(num_outputs, in_channels, dropout)
