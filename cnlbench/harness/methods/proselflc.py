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


def proselflc_loss(logits: torch.Tensor, y: torch.Tensor, g: float, detach_target: bool) -> torch.Tensor:
    """sum over the batch of sum_j target_j * -log(p_j + 1e-6), divided by the batch size N;
    target = (1 - e) y + e p, e = g l(p) (B, 1) computed without gradient. ``detach_target``:
    the whole target without gradient (p inside it too), else only e, as the official code."""
    p = torch.softmax(logits.float(), dim=1)
    with torch.no_grad():
        eps = (g * example_trust(p))[:, None]
    p_target = p.detach() if detach_target else p
    target = (1.0 - eps) * one_hot(y, p.shape[1]) + eps * p_target
    return (target * -torch.log(p + 1e-6)).sum() / p.shape[0]


@register_method
class ProSelfLC(SingleNetworkLoss):
    """Target (1 - e) y + e p with e = g(t) l(p) per example; loss = sum over the batch of
    sum_j target_j * -log(p_j + 1e-6), divided by the batch size N (:func:`proselflc_loss`).

    As the official ProSelfLC-AT code (``losses/proselflc.py``): only e is computed under
    ``torch.no_grad``; the target's e * p term keeps its gradient. t counts iterations from 1
    (the code's ``(epoch - 1) * len(loader) + batch_index + 1``): t = step + 1, Gamma = the
    stage's total steps. g(t) is defined on the fraction t / Gamma of training by the paper
    itself, so it needs no conversion between run lengths.

    Params: ``B`` (6), ``transit`` (0.3).
    """

    name = "proselflc"
    family = "regularisation"
    summary = "progressive self label correction (Wang et al. 2021)"
    paper = "https://arxiv.org/abs/2005.03788"
    code = "https://github.com/XinshaoAmosWang/ProSelfLC-AT"
    tuning_grid = {"B": [6.0, 12.0, 16.0]}
    defaults: ClassVar[dict[str, Any]] = {"B": 6.0, "transit": 0.3}
    #: True: the whole target carries no gradient (``proselflc-detached``).
    detach_target: ClassVar[bool] = False

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        g = global_trust(batch.step + 1, batch.total_steps, float(self.params["B"]), float(self.params["transit"]))
        return proselflc_loss(logits[:, : self.setup.num_classes], y, g, self.detach_target)


@register_method
class ProSelfLCDetached(ProSelfLC):
    """ProSelfLC with the whole corrected target detached (p inside it too): the same loss
    values as ``proselflc``, a different gradient (the target's e * p term gives none). Not
    the reference; kept as a named variant."""

    name = "proselflc-detached"
    family = "regularisation"
    summary = "ProSelfLC with the whole target detached (a variant, not the reference)"
    paper = "https://arxiv.org/abs/2005.03788"
    code = "https://github.com/XinshaoAmosWang/ProSelfLC-AT"
    detach_target = True
