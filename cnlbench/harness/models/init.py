"""Seeded parameter initialisation (never global RNG).

Models are built on the ``meta`` device, materialised with ``to_empty`` and then initialised
here from an explicit ``torch.Generator``. The schemes are PyTorch's defaults (so results match
conventionally built networks in distribution): convolution and linear weights Kaiming-uniform
with ``a = sqrt(5)`` (bound ``1 / sqrt(fan_in)``), biases uniform in ``±1 / sqrt(fan_in)``,
normalisation layers weight 1, bias 0, running statistics reset.
"""

from __future__ import annotations

import math

import torch
from torch import nn

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)


@torch.no_grad()
def init_parameters(net: nn.Module, generator: torch.Generator) -> None:
    """Initialise every parameter and buffer of ``net`` in place from ``generator`` (CPU).

    Modules define ``reset_extra(generator)`` for anything beyond the standard layers."""
    for mod in net.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            fan_in = mod.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
            mod.weight.uniform_(-bound, bound, generator=generator)
            if mod.bias is not None:
                mod.bias.uniform_(-bound, bound, generator=generator)
        elif isinstance(mod, _NORMS):
            if getattr(mod, "weight", None) is not None:
                mod.weight.fill_(1.0)
            if getattr(mod, "bias", None) is not None:
                mod.bias.zero_()
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.running_mean.zero_()
                mod.running_var.fill_(1.0)
                mod.num_batches_tracked.zero_()
        reset_extra = getattr(mod, "reset_extra", None)
        if reset_extra is not None:
            reset_extra(generator)
