"""MentorNet, thresholding ("predefined curriculum") form (Jiang et al. 2018)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.losses import cross_entropy
from cnlbench.harness.methods._common import PLATEAU_PATIENCE, CleanStructureWatch, PerExampleAverage
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


#: The percentile when the config's noise level is unknown (human noise): the reference's
#: ``--loss_p_percentile`` flag default, used by its self-paced MentorNet runs at every level.
UNKNOWN_LEVEL_PERCENTILE = 0.7


def mentornet_percentile(level: float | None) -> float:
    """The loss percentile kept per batch at expected noise ``level``: 1 - level, the expected
    clean fraction (the authors' per-level settings follow it: MentorNet-DD 0.8 at 20% and 0.6
    at 40% noise, MentorMix CIFAR-10 0.8 / 0.6 / - / 0.2 at 20 / 40 / 60 / 80%), so nothing
    meant for noisy data is dropped at 0% noise; :data:`UNKNOWN_LEVEL_PERCENTILE` when unknown."""
    if level is None:
        return UNKNOWN_LEVEL_PERCENTILE
    return min(1.0, max(0.0, 1.0 - float(level)))


@register_method
class MentorNet(Method):
    """Loss = mean over the WHOLE batch of v_i * CE_i (dropped examples count in the mean).

    Params: ``percentile`` (None: :func:`mentornet_percentile` of the config's noise level),
    ``ema_decay`` (0.5, the reference's value for CIFAR; its function default is 0.9),
    ``burn_in_epochs`` (None: v = 1 until the network has learned the clean structure,
    :class:`CleanStructureWatch`; an int: that many epochs), ``plateau_patience`` (5 epochs).
    The EMA updates during the burn-in too, as in the reference. Noise scores: 1 - v averaged
    over each example's appearances in the last epoch.

    Burn-in: the reference forces v = 1 while its "epoch" (percent of 200,000 steps) is below
    ``burn_in_epoch - 1`` = 9, i.e. about 46 CIFAR epochs at learning rate 0.1 (google-research
    mentormix/code/training_mentormix_command.sh): a network that has learned what it can
    before memorising. 10% of a short run is a few dozen steps of an unfinished network.
    """

    name = "mentornet"
    family = "sample selection"
    summary = "small-loss thresholding curriculum (Jiang et al. 2018)"
    paper = "https://arxiv.org/abs/1712.05055"
    code = "https://github.com/google/mentornet"
    defaults: ClassVar[dict[str, Any]] = {
        "percentile": None, "ema_decay": 0.5, "burn_in_epochs": None, "plateau_patience": PLATEAU_PATIENCE,
    }

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        p = self.params
        self.percentile = mentornet_percentile(setup.noise_level) if p["percentile"] is None else float(p["percentile"])
        self.mentor = ThresholdMentor(self.percentile, float(p["ema_decay"]))
        self.burn_in = CleanStructureWatch(p["plateau_patience"], p["burn_in_epochs"], what="MentorNet burn-in")
        self.kept = PerExampleAverage(setup.num_train, setup.device)

    def begin_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        self.kept.reset()

    def end_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        self.burn_in.observe(epoch, hooks.last_validation.get("acc", math.nan))

    def loss_from_logits(self, batch: Batch, logits: torch.Tensor) -> StepOutput:
        ce = cross_entropy(logits[:, : self.setup.num_classes], batch.y)
        v = self.mentor.weights(ce)
        if not self.burn_in.learned(batch.epoch):
            v = torch.ones_like(v)
        self.kept.add(batch.index, v)
        return StepOutput(
            loss=(v * ce).mean(), logits=logits.detach(), scores=1.0 - v,
            stats={"mentor_threshold": self.mentor.threshold, "kept": v.mean()},
        )

    def noise_scores(self, hooks: TrainerHooks) -> torch.Tensor | None:
        kept = self.kept.mean()
        return None if kept is None else 1.0 - kept
