"""MentorNet, thresholding ("predefined curriculum") form (Jiang et al. 2018)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.losses import cross_entropy
from cnlbench.harness.methods._common import PerExampleAverage
from cnlbench.harness.methods.base import (
    Batch,
    Method,
    MethodSetup,
    StepOutput,
    TrainerHooks,
    register_method,
)


class ThresholdMentor:
    """v_i = 1[loss_i <= lambda_t], lambda_t = EMA of the ``percentile`` of the batch losses.

    The EMA starts at 0 and is updated BEFORE use: ``lambda_t = decay * lambda_{t-1} +
    (1 - decay) * percentile_t``. Percentiles use ``interpolation`` ("nearest" matches
    TensorFlow's default ``tfp.stats.percentile``). State lives on the losses' device.
    """

    def __init__(self, percentile: float, decay: float, interpolation: str = "nearest"):
        if not 0.0 <= percentile <= 1.0:
            raise HarnessError(f"MentorNet percentile={percentile!r} must be a fraction in [0, 1], e.g. 0.7")
        if not 0.0 <= decay < 1.0:
            raise HarnessError(f"MentorNet EMA decay={decay!r} must lie in [0, 1), e.g. 0.5")
        self.percentile, self.decay, self.interpolation = percentile, decay, interpolation
        self.threshold: torch.Tensor | None = None

    def weights(self, losses: torch.Tensor) -> torch.Tensor:
        """(B,) float 0/1 weights for per-example ``losses`` (B,); updates the EMA once."""
        losses = losses.detach().float()
        q = torch.quantile(losses, self.percentile, interpolation=self.interpolation)
        prev = torch.zeros_like(q) if self.threshold is None else self.threshold
        self.threshold = self.decay * prev + (1.0 - self.decay) * q
        return (losses <= self.threshold).float()


@register_method
class MentorNet(Method):
    """Loss = mean over the WHOLE batch of v_i * CE_i (dropped examples count in the mean).

    Params: ``percentile`` (0.7), ``ema_decay`` (0.5, the reference's value for CIFAR;
    its function default is 0.9), ``burn_in`` (fraction of the stage's steps during which
    v = 1; the EMA still updates; default 0.0). Noise scores: 1 - v averaged over each
    example's appearances in the last epoch.
    """

    name = "mentornet"
    #: burn_in 0.1: the reference runs every CIFAR setting with ``--burn_in_epoch=10``, its
    #: "epoch" being a percent of training (google-research mentormix/code/
    #: training_mentormix_command.sh). Without it the lowest-loss 70% of each batch is kept from
    #: the first step, so hard classes are never learned (70% accuracy on CLEAN digits).
    defaults: ClassVar[dict[str, Any]] = {"percentile": 0.7, "ema_decay": 0.5, "burn_in": 0.1}

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        self.mentor = ThresholdMentor(float(self.params["percentile"]), float(self.params["ema_decay"]))
        self.kept = PerExampleAverage(setup.num_train, setup.device)

    def begin_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        self.kept.reset()

    def loss_from_logits(self, batch: Batch, logits: torch.Tensor) -> StepOutput:
        ce = cross_entropy(logits[:, : self.setup.num_classes], batch.y)
        v = self.mentor.weights(ce)
        if batch.progress < float(self.params["burn_in"]):
            v = torch.ones_like(v)
        self.kept.add(batch.index, v)
        return StepOutput(
            loss=(v * ce).mean(), logits=logits.detach(), scores=1.0 - v,
            stats={"mentor_threshold": self.mentor.threshold, "kept": v.mean()},
        )

    def noise_scores(self, hooks: TrainerHooks) -> torch.Tensor | None:
        kept = self.kept.mean()
        return None if kept is None else 1.0 - kept
