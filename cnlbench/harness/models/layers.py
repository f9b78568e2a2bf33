"""Layers the models share.

``SeededDropout`` replaces ``nn.Dropout``: torch's dropout draws its masks from the GLOBAL
generator, so two runs with the same seed could differ and one run's draws would shift
another's. Here every dropout layer draws from a ``torch.Generator`` of its own, which the
engine seeds from the run seed (:func:`seed_dropout`), so dropout runs are reproducible and
never touch global RNG state.
"""

from __future__ import annotations

import torch
from torch import nn

from cnlbench.errors import HarnessError

__all__ = ["SeededDropout", "seed_dropout"]


class SeededDropout(nn.Module):
    """Inverted dropout with probability ``p`` whose masks come from :attr:`generator`.

    Shapes: any (B, ...) in, same out. In eval mode, or with ``p == 0``, the identity. A layer
    with ``p > 0`` must be given a generator on the input's device before training
    (:func:`seed_dropout`); using it unseeded is an error rather than a silent global draw.
    """

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise HarnessError(f"dropout probability {p!r} is not in [0, 1); use e.g. 0.5")
        self.p = float(p)
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.generator is None:
            raise HarnessError(f"SeededDropout(p={self.p}) has no generator; call seed_dropout(net, generator) "
                               "with a torch.Generator on the input's device before training")
        keep = torch.empty(x.shape, device=x.device, dtype=torch.float32)
        keep.bernoulli_(1.0 - self.p, generator=self.generator)
        return x * keep.to(x.dtype) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def seed_dropout(net: nn.Module, generator: torch.Generator) -> int:
    """Give every :class:`SeededDropout` in ``net`` the shared ``generator`` (on the device the
    network runs on); returns how many layers it set."""
    n = 0
    for mod in net.modules():
        if isinstance(mod, SeededDropout):
            mod.generator = generator
            n += 1
    return n
