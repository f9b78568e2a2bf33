"""Derivative manipulation (Wang et al. 2019, "IMAE"/DM): set the logit gradient directly."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from cnlbench.harness.losses import cross_entropy
from cnlbench.harness.methods._common import SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, register_method


def dm_coefficients(p_y: torch.Tensor, beta: float, lam: float) -> torch.Tensor:
    """(B,) c_i = (w_i / sum_j w_j) / (2 (1 - p_y,i) + 1e-8), w = exp(beta (1 - p_y) (p_y + 1e-8)^lam).

    The logit gradient of example i is then c_i (p_i - y_i)."""
    w = torch.exp(beta * (1.0 - p_y) * (p_y + 1e-8).pow(lam))
    return (w / w.sum()) / (2.0 * (1.0 - p_y) + 1e-8)


@register_method
class DerivativeManipulation(SingleNetworkLoss):
    """A surrogate loss sum_i c_i.detach() * CE_i whose gradient w.r.t. the logits of example i
    is exactly g_i = w_i / sum_j w_j * (p_i - y_i) / (2 (1 - p_y,i) + 1e-8) (the gradient of CE
    w.r.t. logits is p - y). The reported loss value is that surrogate, not a loss the paper
    defines. Params: ``beta`` (12) and ``lam`` (0.5), inside the paper's grid
    b in {6, 9, 12, 15}, l in {0, 0.25, 0.5, 1}.
    """

    name = "derivative-manipulation"
    family = "robust loss"
    summary = "example weighting through the gradient (Wang et al. 2019)"
    paper = "https://arxiv.org/abs/1905.11233"
    code = "https://github.com/XinshaoAmosWang/DerivativeManipulation"
    tuning_grid = {"beta": [12.0, 6.0, 18.0]}
    defaults: ClassVar[dict[str, Any]] = {"beta": 12.0, "lam": 0.5}

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        z = logits[:, : self.setup.num_classes].float()
        with torch.no_grad():
            p_y = torch.softmax(z, dim=1).gather(1, y[:, None]).squeeze(1)
            c = dm_coefficients(p_y, float(self.params["beta"]), float(self.params["lam"]))
        return (c * cross_entropy(z, y)).sum()
