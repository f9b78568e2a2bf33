"""Generalized cross-entropy (Zhang & Sabuncu 2018): the Lq loss and its truncated variant."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.losses import generalized_cross_entropy
from cnlbench.harness.methods._common import PLATEAU_PATIENCE, CleanStructureWatch, SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, MethodSetup, TrainerHooks, register_method


def _check_q(q: float) -> float:
    if not 0.0 < q <= 1.0:
        raise HarnessError(f"GCE parameter q={q!r} must lie in (0, 1]; the paper uses q=0.7")
    return q


@register_method
class GeneralizedCrossEntropy(SingleNetworkLoss):
    """Batch mean of (1 - p_y^q) / q with p clamped to [1e-7, 1]. Params: ``q`` (0.7)."""

    name = "gce"
    family = "robust loss"
    summary = "generalized cross-entropy, the Lq loss (Zhang & Sabuncu 2018)"
    paper = "https://arxiv.org/abs/1805.07836"
    code = "https://github.com/AlanChou/Truncated-Loss"
    code_official = False
    tuning_grid = {"q": [0.7, 0.4, 0.9]}
    defaults: ClassVar[dict[str, Any]] = {"q": 0.7}

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        q = _check_q(float(self.params["q"]))
        return generalized_cross_entropy(logits[:, : self.setup.num_classes], y, q).mean()


def truncation_refresh_due(epoch: int, start: int | None, every: int) -> bool:
    """True when the truncated-GCE weights are recomputed at the start of 0-based ``epoch``:
    ``start, start + every, ...`` (only ``start`` when ``every`` <= 0; never while ``start`` is
    None, i.e. not reached yet)."""
    if start is None or epoch < start:
        return False
    return epoch == start if every <= 0 else (epoch - start) % every == 0


@register_method
class TruncatedGCE(SingleNetworkLoss):
    """Truncated Lq loss, in the reference code's weighted form.

    Per example: ``w_i * ((1 - p_y^q)/q - (1 - k^q)/q)``, batch mean. The weights ``w`` (N,)
    start at 1; at the start of the first epoch after the network has learned the clean
    structure (:class:`CleanStructureWatch`), then every ``every`` epochs, they are recomputed
    for the whole training set as ``w_i = 1[p_y(x_i) > k]`` using ``hooks.train_losses()``
    (p_y = exp(-CE)). Subtracting the constant (1 - k^q)/q changes the loss value, not its
    gradient; a pruned example (w = 0) contributes the constant truncation value (1-k^q)/q of
    the paper's L_trunc, i.e. nothing to the gradient.

    Params: ``q`` (0.7), ``k`` (0.5), ``every`` (10 epochs, as the paper), ``start_epoch``
    (None: once the noisy-validation accuracy stops improving; an int: that 0-based epoch),
    ``plateau_patience`` (5 epochs). The paper prunes from epoch 40 of 120, where its learning
    rate first decays: the network has learned what it can at the first rate, and p_y > k
    separates clean from noisy examples. A third of a short run prunes a half-trained network
    (at epoch 6 of 20 on digits it dropped half of the clean examples).
    """

    name = "gce-truncated"
    family = "robust loss"
    summary = "truncated Lq loss (Zhang & Sabuncu 2018)"
    paper = "https://arxiv.org/abs/1805.07836"
    code = "https://github.com/AlanChou/Truncated-Loss"
    code_official = False
    tuning_grid = {"q": [0.7, 0.4, 0.9]}
    defaults: ClassVar[dict[str, Any]] = {
        "q": 0.7, "k": 0.5, "every": 10, "start_epoch": None, "plateau_patience": PLATEAU_PATIENCE,
    }

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        _check_q(float(self.params["q"]))
        k = float(self.params["k"])
        if not 0.0 < k < 1.0:
            raise HarnessError(f"truncated GCE threshold k={k!r} must lie in (0, 1); the paper uses 0.5")
        self.watch = CleanStructureWatch(self.params["plateau_patience"], self.params["start_epoch"],
                                         what="truncated GCE start_epoch")
        self.weights = torch.ones(setup.num_train, dtype=torch.float32, device=setup.device)
        self.refreshed_at: list[int] = []

    @property
    def start_epoch(self) -> int | None:
        """The first 0-based epoch that refreshes the weights (None while not known yet)."""
        return None if self.watch.reached_after is None else self.watch.reached_after + 1

    def end_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        self.watch.observe(epoch, hooks.last_validation.get("acc", math.nan))

    def begin_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        if truncation_refresh_due(epoch, self.start_epoch, int(self.params["every"])):
            p_y = torch.exp(-hooks.train_losses(0).float())
            self.weights = (p_y > float(self.params["k"])).float().to(self.weights.device)
            self.refreshed_at.append(epoch)

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        q, k = float(self.params["q"]), float(self.params["k"])
        lq = generalized_cross_entropy(logits[:, : self.setup.num_classes], y, q)
        lqk = (1.0 - k**q) / q
        return (self.weights[batch.index] * (lq - lqk)).mean()

    def noise_scores(self, hooks: TrainerHooks) -> torch.Tensor | None:
        """1 - w: pruned examples are the suspected noisy ones (None before any refresh)."""
        return 1.0 - self.weights if self.refreshed_at else None
