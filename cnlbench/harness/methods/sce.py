"""Symmetric cross-entropy (Wang et al. 2019): a CE + b RCE."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from cnlbench.harness.losses import cross_entropy, reverse_cross_entropy
from cnlbench.harness.methods._common import SingleNetworkLoss, uses_cifar100_defaults
from cnlbench.harness.methods.base import Batch, MethodSetup, register_method

#: (a, b) of the reference code: CIFAR-10 and CIFAR-100.
SCE_CIFAR10 = (0.1, 1.0)
SCE_CIFAR100 = (6.0, 0.1)


@register_method
class SymmetricCrossEntropy(SingleNetworkLoss):
    """Batch mean of a CE + b RCE, RCE = -A sum_{j != y} p_j (p clamped to [1e-7, 1]).

    Params: ``a``, ``b`` (None: picked by K, K >= 100 -> CIFAR-100's (6.0, 0.1), else
    CIFAR-10's (0.1, 1.0)); ``log_floor`` = A (ln(1e-4) = -9.21 as in the code; the paper
    writes A = -4).
    """

    name = "sce"
    family = "robust loss"
    summary = "symmetric cross-entropy: CE plus reverse CE (Wang et al. 2019)"
    paper = "https://arxiv.org/abs/1908.06112"
    code = "https://github.com/YisenWang/symmetric_cross_entropy_for_noisy_labels"
    tuning_grid = {"a": [None, 0.1, 0.5]}
    defaults: ClassVar[dict[str, Any]] = {"a": None, "b": None, "log_floor": math.log(1e-4)}

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        a, b = SCE_CIFAR100 if uses_cifar100_defaults(setup.num_classes) else SCE_CIFAR10
        self.a = a if self.params["a"] is None else float(self.params["a"])
        self.b = b if self.params["b"] is None else float(self.params["b"])

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        z = logits[:, : self.setup.num_classes]
        rce = reverse_cross_entropy(z, y, float(self.params["log_floor"]))
        return (self.a * cross_entropy(z, y) + self.b * rce).mean()
