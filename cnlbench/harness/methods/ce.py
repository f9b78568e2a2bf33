"""Cross-entropy and the CNWL paper's two regularised CE baselines (WeDecay, Dropout)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from cnlbench.harness.losses import cross_entropy
from cnlbench.harness.methods._common import CNWL_CODE, CNWL_PAPER, SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, register_method


@register_method
class CrossEntropy(SingleNetworkLoss):
    """Plain CE: mean over the batch of -log p_y (p = softmax over the K class logits)."""

    name = "ce"
    family = "baseline"
    summary = "cross-entropy on the noisy labels"

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        return cross_entropy(logits[:, : self.setup.num_classes], y).mean()


@register_method
class CrossEntropyWeightDecay(CrossEntropy):
    """CE with a strong weight decay: the CNWL paper's "WeDecay" baseline (Jiang et al. 2020).

    The engine applies ``engine_overrides["weight_decay"] = 5e-3`` (10x the usual 5e-4 of the
    CIFAR recipes). The exact CNWL value is not in our notes; 5e-3 is our documented choice,
    see docs/methods.md.
    """

    name = "ce-wd"
    family = "baseline"
    summary = "CE with strong weight decay (CNWL's WeDecay baseline)"
    paper = CNWL_PAPER
    code = CNWL_CODE
    engine_overrides: ClassVar[dict[str, Any]] = {"weight_decay": 5e-3}


@register_method
class CrossEntropyDropout(CrossEntropy):
    """CE with dropout 0.5 before the classifier: the CNWL paper's "Dropout" baseline.

    The engine applies ``engine_overrides["dropout"] = 0.5`` to the model.
    """

    name = "ce-dropout"
    family = "baseline"
    summary = "CE with dropout 0.5 before the classifier (CNWL's Dropout baseline)"
    paper = CNWL_PAPER
    code = CNWL_CODE
    engine_overrides: ClassVar[dict[str, Any]] = {"dropout": 0.5}
