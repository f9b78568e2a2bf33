"""Mean absolute error on the softmax (Ghosh et al. 2017)."""

from __future__ import annotations

import torch

from cnlbench.harness.methods._common import SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, register_method


@register_method
class MeanAbsoluteError(SingleNetworkLoss):
    """Batch mean of 1 - p_y, which equals sum_j |p_j - y_j| / 2. (Some code reports the
    un-halved sum 2 (1 - p_y); the factor only rescales the learning rate.)"""

    name = "mae"
    family = "robust loss"
    summary = "mean absolute error, a bounded loss (Ghosh et al. 2017)"
    paper = "https://arxiv.org/abs/1712.09482"

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        p = torch.softmax(logits[:, : self.setup.num_classes].float(), dim=1)
        return (1.0 - p.gather(1, y[:, None]).squeeze(1)).mean()
