"""Generalized cross-entropy (Zhang & Sabuncu 2018): the Lq loss and its truncated variant."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.losses import generalized_cross_entropy
from cnlbench.harness.methods._common import SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, MethodSetup, TrainerHooks, register_method


def _check_q(q: float) -> float:
    if not 0.0 < q <= 1.0:
        raise HarnessError(f"GCE parameter q={q!r} must lie in (0, 1]; the paper uses q=0.7")
    return q


@register_method
class GeneralizedCrossEntropy(SingleNetworkLoss):
    """Batch mean of (1 - p_y^q) / q with p clamped to [1e-7, 1]. Params: ``q`` (0.7)."""

    name = "gce"
    defaults: ClassVar[dict[str, Any]] = {"q": 0.7}

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        q = _check_q(float(self.params["q"]))
        return generalized_cross_entropy(logits[:, : self.setup.num_classes], y, q).mean()


def truncation_refresh_epochs(epochs: int, start: int, every: int) -> list[int]:
    """0-based epochs at whose start the truncated-GCE weights are recomputed:
    ``start, start + every, ...`` below ``epochs``."""
    return list(range(start, epochs, every)) if every > 0 else []


@register_method
class TruncatedGCE(SingleNetworkLoss):
    """Truncated Lq loss, in the reference code's weighted form.

    Per example: ``w_i * ((1 - p_y^q)/q - (1 - k^q)/q)``, batch mean. The weights ``w`` (N,)
    start at 1; at the start of epochs ``start_epoch, start_epoch + every, ...`` (0-based) they
    are recomputed for the whole training set as ``w_i = 1[p_y(x_i) > k]`` using
    ``hooks.train_losses()`` (p_y = exp(-CE)). Subtracting the constant (1 - k^q)/q changes
    the loss value, not its gradient; a pruned example (w = 0) contributes the constant
    truncation value (1-k^q)/q of the paper's L_trunc, i.e. nothing to the gradient.

    Params: ``q`` (0.7), ``k`` (0.5), ``every`` (10 epochs), ``start_epoch`` (None: one third
    of the run, the reference's 40 of 120 epochs). The reference tests ``(epoch+1) % 10 == 0``
    (multiples of 10); we count from ``start_epoch`` so the schedule scales to short runs.
    """

    name = "gce-truncated"
    defaults: ClassVar[dict[str, Any]] = {"q": 0.7, "k": 0.5, "every": 10, "start_epoch": None}

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        _check_q(float(self.params["q"]))
        k = float(self.params["k"])
        if not 0.0 < k < 1.0:
            raise HarnessError(f"truncated GCE threshold k={k!r} must lie in (0, 1); the paper uses 0.5")
        start = self.params["start_epoch"]
        self.start_epoch = max(1, setup.epochs // 3) if start is None else int(start)
        self.weights = torch.ones(setup.num_train, dtype=torch.float32, device=setup.device)
        self.refreshed_at: list[int] = []

    def begin_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        if epoch in truncation_refresh_epochs(
            self.setup.epochs, self.start_epoch, int(self.params["every"])
        ):
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
