"""``digits-cnn``: a small CNN for 8x8 grayscale digits (~94k parameters).

conv3x3(C->32) BN ReLU, conv3x3(32->64) BN ReLU, maxpool 2 (8 -> 4), conv3x3(64->128) BN ReLU,
global average pool, dropout, linear(128 -> K + E). Works for any input size >= 2.
"""

from __future__ import annotations

from torch import nn

from cnlbench.harness.models import register_model
from cnlbench.harness.models.layers import SeededDropout


def _cbr(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


@register_model("digits-cnn", image_size=8, description="small CNN for 8x8 grayscale digits")
def digits_cnn(num_outputs: int, in_channels: int = 1, image_size: int = 8, dropout: float = 0.0) -> nn.Module:
    return nn.Sequential(
        *_cbr(in_channels, 32),
        *_cbr(32, 64),
        nn.MaxPool2d(2),
        *_cbr(64, 128),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        SeededDropout(dropout),
        nn.Linear(128, num_outputs),
    )
