"""Label smoothing: CE against (1 - e) y + e / K."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from cnlbench.harness.losses import one_hot, soft_cross_entropy
from cnlbench.harness.methods._common import SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, register_method


def smoothed_targets(y: torch.Tensor, num_classes: int, epsilon: float) -> torch.Tensor:
    """(B, K) targets (1 - e) onehot(y) + e / K; every row sums to 1 for any K (a peer
    implementation hard-codes e / 10, which breaks that for K != 10)."""
    return (1.0 - epsilon) * one_hot(y, num_classes) + epsilon / num_classes


@register_method
class LabelSmoothing(SingleNetworkLoss):
    """Szegedy et al. 2016. Params: ``epsilon`` (0.1)."""

    name = "label-smoothing"
    family = "regularisation"
    summary = "CE against smoothed targets (Szegedy et al. 2016)"
    paper = "https://arxiv.org/abs/1512.00567"
    tuning_grid = {"epsilon": [0.1, 0.05, 0.3]}
    defaults: ClassVar[dict[str, Any]] = {"epsilon": 0.1}

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        k = self.setup.num_classes
        log_p = torch.log_softmax(logits[:, :k].float(), dim=1)
        return soft_cross_entropy(log_p, smoothed_targets(y, k, float(self.params["epsilon"]))).mean()
