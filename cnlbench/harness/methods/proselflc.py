"""ProSelfLC (Wang et al. 2021): progressive self label correction."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from cnlbench.harness.losses import one_hot
from cnlbench.harness.methods._common import SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, register_method


def global_trust(step: int, total_steps: int, b: float, transit: float) -> float:
    """g(t) = 1 / (1 + exp(-B (t / Gamma - transit))), t and Gamma counted in iterations."""
    return 1.0 / (1.0 + math.exp(-b * (step / max(1, total_steps) - transit)))


def example_trust(p: torch.Tensor) -> torch.Tensor:
    """l(p) = 1 - H(p) / log K per example (B,), H = -sum (p + 1e-12) log(p + 1e-12)."""
    h = -((p + 1e-12) * torch.log(p + 1e-12)).sum(dim=1)
    return 1.0 - h / math.log(p.shape[1])


@register_method
class ProSelfLC(SingleNetworkLoss):
    """Target (1 - e) y + e p with e = g(t) l(p) per example; the whole target is computed
    without gradient (as the reference's ``torch.no_grad`` block); loss = sum over the batch of
    sum_j target_j * -log(p_j + 1e-6), divided by the batch size N.

    Params: ``B`` (6), ``transit`` (0.3). t = the step within the stage, Gamma = the stage's
    total steps.
    """

    name = "proselflc"
    defaults: ClassVar[dict[str, Any]] = {"B": 6.0, "transit": 0.3}

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        k = self.setup.num_classes
        p = torch.softmax(logits[:, :k].float(), dim=1)
        with torch.no_grad():
            g = global_trust(batch.step, batch.total_steps, float(self.params["B"]), float(self.params["transit"]))
            eps = (g * example_trust(p))[:, None]
            target = (1.0 - eps) * one_hot(y, k) + eps * p
        return (target * -torch.log(p + 1e-6)).sum() / p.shape[0]
