"""Helpers shared by several methods (not a method module: the registry skips ``_`` names)."""

from __future__ import annotations

import abc
from typing import Sequence

import torch

from cnlbench.harness.methods.base import Batch, Method, StepOutput


class SingleNetworkLoss(Method):
    """A method that is one loss on one network's logits of the un-mixed batch.

    Subclasses implement :meth:`loss`; the two-phase step (one forward of ``nets[0]`` on
    ``batch.x``, then :meth:`loss_from_logits`) reports the logits for the train-accuracy
    curves, so the engine may stack these methods across runs.
    """

    @abc.abstractmethod
    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Scalar loss of the batch; ``logits`` (B, K + E), ``y`` (B,) int64 noisy labels."""

    def loss_from_logits(self, batch: Batch, logits: torch.Tensor) -> StepOutput:
        return StepOutput(loss=self.loss(logits, batch.y, batch), logits=logits.detach())


class PerExampleAverage:
    """Running per-example mean over a window (e.g. one epoch) of a value seen in batches.

    Stores sums and counts (N,) float32 on ``device``; :meth:`add` is vectorised, so repeated
    indices within one batch are all counted.
    """

    def __init__(self, num_examples: int, device: torch.device):
        self.total = torch.zeros(num_examples, dtype=torch.float32, device=device)
        self.count = torch.zeros(num_examples, dtype=torch.float32, device=device)

    def reset(self) -> None:
        self.total.zero_()
        self.count.zero_()

    def add(self, index: torch.Tensor, values: torch.Tensor) -> None:
        """Accumulate ``values`` (B,) at positions ``index`` (B,) int64."""
        self.total.index_add_(0, index, values.detach().float())
        self.count.index_add_(0, index, torch.ones_like(values, dtype=torch.float32))

    def mean(self) -> torch.Tensor | None:
        """(N,) per-example means; examples never seen get the mean over seen ones. None when
        nothing was seen."""
        seen = self.count > 0
        if not bool(seen.any()):
            return None
        out = self.total / self.count.clamp_min(1.0)
        return torch.where(seen, out, out[seen].mean())


def uses_cifar100_defaults(num_classes: int) -> bool:
    """True when a method's CIFAR-100 hyperparameters apply (K >= 100), else CIFAR-10's."""
    return num_classes >= 100


def nearest_key(value: float | None, keys: Sequence[float], fallback: float) -> float:
    """The key closest to ``value`` (ties go to the smaller key); ``fallback`` when None."""
    if value is None:
        return fallback
    return min(sorted(keys), key=lambda k: abs(k - value))
