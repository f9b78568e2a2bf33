"""Helpers shared by several methods (not a method module: the registry skips ``_`` names)."""

from __future__ import annotations

import abc
import math
from typing import Sequence

import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.methods.base import Batch, Method, StepOutput

# Papers and code several method files cite (the board links them, see ``Method.paper``).
CNWL_PAPER = "https://arxiv.org/abs/1911.09781"
CNWL_CODE = "https://github.com/google-research/google-research/tree/master/mentormix"
PATRINI_PAPER = "https://arxiv.org/abs/1609.03683"
PATRINI_CODE = "https://github.com/giorgiop/loss-correction"


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


#: Epochs without a new best NOISY-validation accuracy after which a network counts as having
#: learned the clean structure of its data (:class:`CleanStructureWatch`).
PLATEAU_PATIENCE = 5


class CleanStructureWatch:
    """When has the network learned the clean structure? A schedule point in training progress
    that means the same in a run of 180 steps as in one of 200,000.

    Rule: after the first epoch at whose end the NOISY-validation accuracy
    (``hooks.last_validation["acc"]``) has not exceeded its best so far for ``patience``
    consecutive epochs (a NaN accuracy counts as no improvement). Learning curves under label
    noise rise while the clean structure is learned, then flatten or fall as the noise is fitted;
    the burn-ins, warm-ups and prune points of the reference code (e.g. MentorMix's 9% of
    200,000 steps, truncated GCE's first learning-rate decay) sit at that turn of their runs.
    ``fixed_epochs`` (an int) replaces the rule: learned from that 0-based epoch on.

    Call :meth:`observe` from ``Method.end_epoch``; :meth:`learned` says whether the epoch about
    to train comes after the point. :attr:`reached_after` is the epoch whose validation ended it
    (None while not reached; -1 for ``fixed_epochs=0``).
    """

    def __init__(self, patience: int = PLATEAU_PATIENCE, fixed_epochs: int | None = None, what: str = "schedule"):
        if fixed_epochs is not None and (isinstance(fixed_epochs, bool) or int(fixed_epochs) != fixed_epochs
                                         or fixed_epochs < 0):
            raise HarnessError(f"{what}: a fixed number of epochs must be an integer >= 0, got {fixed_epochs!r}; "
                               "or None for 'once the noisy-validation accuracy stops improving'")
        if isinstance(patience, bool) or int(patience) != patience or patience < 1:
            raise HarnessError(f"{what}: plateau_patience={patience!r} must be an integer >= 1 (epochs), "
                               f"e.g. {PLATEAU_PATIENCE}")
        self.patience = int(patience)
        self.fixed_epochs = None if fixed_epochs is None else int(fixed_epochs)
        self.best = -math.inf
        self.since_best = 0
        self.reached_after: int | None = None
        if self.fixed_epochs is not None:
            self.reached_after = self.fixed_epochs - 1

    def observe(self, epoch: int, val_acc: float) -> None:
        """Record the NOISY-validation accuracy measured after 0-based ``epoch``."""
        if self.reached_after is not None:
            return
        if val_acc > self.best:  # NaN never improves
            self.best, self.since_best = float(val_acc), 0
        else:
            self.since_best += 1
        if self.since_best >= self.patience:
            self.reached_after = int(epoch)

    def learned(self, epoch: int) -> bool:
        """True when 0-based ``epoch`` starts after the point."""
        return self.reached_after is not None and epoch > self.reached_after
