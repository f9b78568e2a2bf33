"""ResNets: ``preact-resnet18`` (32x32, the noisy-label field's standard) and ImageNet-style
``resnet18`` / ``resnet34`` with a stem adapted to 84x84 inputs.

``preact-resnet18``: He et al. 2016 pre-activation blocks [2, 2, 2, 2], widths 64-512, a 3x3
stride-1 stem, global average pooling — as in the Co-teaching/DivideMix/ELR code (~11.2M
parameters for 10 classes).

``resnet18`` / ``resnet34``: basic blocks [2, 2, 2, 2] / [3, 4, 6, 3]. The ImageNet stem
(7x7 stride 2 + max pool: 224 -> 56) is replaced for small images by a 3x3 stride-1 convolution
+ BN + ReLU + 2x2 max pool (84 -> 42), then stages at 42, 21, 11, 6 and global average pooling.
Compatible with torchvision state-dict names except the stem convolution's shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnlbench.harness.models.registry import register_model
from cnlbench.harness.models.layers import SeededDropout


class PreActBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(cin, cout, 1, stride, bias=False)
                         if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        sc = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + sc


class PreActResNet(nn.Module):
    def __init__(self, blocks: list[int], num_outputs: int, in_channels: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        layers, cin = [], 64
        for i, (n, w) in enumerate(zip(blocks, (64, 128, 256, 512))):
            for j in range(n):
                layers.append(PreActBlock(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(512)
        self.dropout = SeededDropout(dropout)
        self.linear = nn.Linear(512, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.conv1(x))
        out = F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1).flatten(1)
        return self.linear(self.dropout(out))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = self.downsample(x) if self.downsample is not None else x
        return F.relu(out + sc)


class ResNet(nn.Module):
    def __init__(self, blocks: list[int], num_outputs: int, in_channels: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(2)
        cin = 64
        for i, (n, w) in enumerate(zip(blocks, (64, 128, 256, 512))):
            stage = []
            for j in range(n):
                stage.append(BasicBlock(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.dropout = SeededDropout(dropout)
        self.fc = nn.Linear(512, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.dropout(F.adaptive_avg_pool2d(x, 1).flatten(1)))


@register_model("preact-resnet18", image_size=32, description="PreAct ResNet-18 for 32x32",
                train_defaults=dict(epochs=120, batch_size=128, lr=0.02, warmup_epochs=1.0, crop_padding=4,
                                    pad_mode="zeros", hflip=True, eval_batch_size=1024),
                channelwise=(PreActResNet, PreActBlock))
def preact_resnet18(num_outputs: int, in_channels: int = 3, image_size: int = 32, dropout: float = 0.0) -> nn.Module:
    return PreActResNet([2, 2, 2, 2], num_outputs, in_channels, dropout)


#: The ImageNet-style ResNets' training defaults.
RESNET_DEFAULTS = dict(epochs=100, batch_size=128, lr=0.05, warmup_epochs=2.0, crop_padding=8,
                       pad_mode="zeros", hflip=True, eval_batch_size=512)


@register_model("resnet18", image_size=84, description="ResNet-18, small-image stem (84x84)",
                train_defaults=RESNET_DEFAULTS, channelwise=(ResNet, BasicBlock))
def resnet18(num_outputs: int, in_channels: int = 3, image_size: int = 84, dropout: float = 0.0) -> nn.Module:
    return ResNet([2, 2, 2, 2], num_outputs, in_channels, dropout)


@register_model("resnet34", image_size=84, description="ResNet-34, small-image stem (84x84)",
                train_defaults=RESNET_DEFAULTS, channelwise=(ResNet, BasicBlock))
def resnet34(num_outputs: int, in_channels: int = 3, image_size: int = 84, dropout: float = 0.0) -> nn.Module:
    return ResNet([3, 4, 6, 3], num_outputs, in_channels, dropout)
