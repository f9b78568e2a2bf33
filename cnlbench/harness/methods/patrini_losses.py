"""The bounded/linear losses of Patrini et al. 2017's tables, as their Keras code computes them.

Their code uses 0/1 one-hot targets y and averages over the K classes:
``unhinged = mean_j(1 - y_j f_j)``, ``sigmoid = mean_j sigmoid(-y_j f_j)``,
``savage = mean_j 1 / (1 + exp(2 y_j p_j))^2`` (p = clipped softmax). With 0/1 targets the
terms of the K - 1 wrong classes are constants (1, 1/2 and 1/4), so only the labelled class
carries gradient: unhinged = 1 - f_y / K. Our reading of the paper's one-vs-all form uses
y_j in {-1, +1}; ``targets="plus-minus"`` selects it, ``"zero-one"`` (default) the code.
Unhinged is linear and unbounded below, so (following the notes) it is applied to
batch-normalised logits: each logit column standardised over the batch (no affine parameters).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from cnlbench.errors import HarnessError
from cnlbench.harness.losses import KERAS_EPS, clipped_probabilities, one_hot
from cnlbench.harness.methods._common import SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, MethodSetup, register_method

TARGET_KINDS = ("zero-one", "plus-minus")


def signed_targets(y: torch.Tensor, num_classes: int, kind: str) -> torch.Tensor:
    """(B, K) float targets: one-hot (``zero-one``) or 2 one-hot - 1 (``plus-minus``)."""
    t = one_hot(y, num_classes)
    return t if kind == "zero-one" else 2.0 * t - 1.0


def batch_normalise(logits: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Standardise each column of (B, K) over the batch (biased variance), as BatchNorm in
    training mode without affine parameters."""
    return F.batch_norm(logits.float(), None, None, training=True, eps=eps)


class _PatriniLoss(SingleNetworkLoss):
    defaults: ClassVar[dict[str, Any]] = {"targets": "zero-one"}

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        if self.params["targets"] not in TARGET_KINDS:
            raise HarnessError(f"targets={self.params['targets']!r}; valid: {list(TARGET_KINDS)}")

    def targets(self, y: torch.Tensor) -> torch.Tensor:
        return signed_targets(y, self.setup.num_classes, self.params["targets"])


@register_method
class Unhinged(_PatriniLoss):
    """Batch mean of mean_j (1 - y_j f_j), f = batch-normalised logits (zero-one: 1 - f_y / K).
    Needs a batch of at least 2 examples."""

    name = "unhinged"

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        f = batch_normalise(logits[:, : self.setup.num_classes])
        return (1.0 - self.targets(y) * f).mean()


@register_method
class SigmoidLoss(_PatriniLoss):
    """Batch mean of mean_j sigmoid(-y_j f_j) on the raw logits f (beta = 1 as the code)."""

    name = "sigmoid"

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        f = logits[:, : self.setup.num_classes].float()
        return torch.sigmoid(-self.targets(y) * f).mean()


@register_method
class SavageLoss(_PatriniLoss):
    """Batch mean of mean_j 1 / (1 + exp(2 y_j p_j))^2, p = softmax clipped to [1e-7, 1-1e-7]."""

    name = "savage"

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        p = clipped_probabilities(logits[:, : self.setup.num_classes], KERAS_EPS)
        return (1.0 / (1.0 + torch.exp(2.0 * self.targets(y) * p)).square()).mean()
