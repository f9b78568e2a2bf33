"""Confidence penalty (Pereyra et al. 2017): CE - b H(p)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from cnlbench.harness.losses import entropy
from cnlbench.harness.methods._common import SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, register_method


@register_method
class ConfidencePenalty(SingleNetworkLoss):
    """Batch mean of -log p_y - beta * H(p), H in nats. Params: ``beta`` (0.125, the lowest
    value of the ProSelfLC sweep {0.125 .. 0.5}; ProSelfLC writes the same loss as
    (1 - e) CE - e H(p), i.e. beta = e / (1 - e) up to scale)."""

    name = "confidence-penalty"
    family = "regularisation"
    summary = "CE minus an entropy bonus (Pereyra et al. 2017)"
    paper = "https://arxiv.org/abs/1701.06548"
    tuning_grid = {"beta": [0.125, 0.05, 0.5]}
    defaults: ClassVar[dict[str, Any]] = {"beta": 0.125}

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        log_p = torch.log_softmax(logits[:, : self.setup.num_classes].float(), dim=1)
        ce = -log_p.gather(1, y[:, None]).squeeze(1)
        return (ce - float(self.params["beta"]) * entropy(log_p)).mean()
