"""Deep Abstaining Classifier (Thulasidasan et al. 2019) and the DAC cleaning protocol.

Networks have K + 1 outputs (``extra_outputs = 1``); the last one is "abstain".
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import torch

from cnlbench.harness.losses import cross_entropy
from cnlbench.harness.methods._common import PLATEAU_PATIENCE, CleanStructureWatch
from cnlbench.harness.methods.base import (
    Batch,
    Method,
    MethodSetup,
    StepOutput,
    TrainerHooks,
    register_method,
)

#: The reference clamps the abstention probability to at most 1 - 1e-7.
ABSTAIN_EPS = 1e-7


def dac_alpha(epoch: int, set_epoch: int, alpha_init: float, alpha_final: float, total_epochs: int) -> float:
    """alpha at 0-based ``epoch``: ``alpha_init`` (= EWMA / 64) at ``set_epoch`` (the first
    abstention epoch), then +1 increment per epoch reaching ``alpha_final`` at the last epoch
    (``total_epochs - 1``); increment = (alpha_final - alpha_init) / (total_epochs - 1 - set_epoch)
    (0 when ``set_epoch`` is the last epoch)."""
    span = total_epochs - 1 - set_epoch
    inc = (alpha_final - alpha_init) / span if span > 0 else 0.0
    return alpha_init + (epoch - set_epoch) * inc


def abstention_metrics(logits: torch.Tensor, targets: torch.Tensor, num_classes: int) -> dict[str, float]:
    """``abstain_coverage``: fraction whose argmax over K + 1 is not the abstain output;
    ``abstain_acc``: accuracy on those (NaN when every example abstains)."""
    pred = logits.argmax(dim=1)
    kept = pred != num_classes
    coverage = float(kept.float().mean()) if len(pred) else math.nan
    acc = float((pred[kept] == targets[kept]).float().mean()) if bool(kept.any()) else math.nan
    return {"abstain_coverage": coverage, "abstain_acc": acc}


@register_method
class DeepAbstainingClassifier(Method):
    """DAC loss, as the reference computes it.

    * Warm-up (see ``warmup_epochs``): plain CE over the K + 1 outputs; every step updates the
      EWMA (mu = 0.05, started at the first batch) of mean((1 - p_a) CE_K).
    * Abstention phase: batch mean of (1 - p_a) CE(logits[:K], y) - alpha log(1 - p_a), with p_a
      the softmax over K + 1 of the abstain output, clamped <= 1 - 1e-7. The EWMA keeps
      updating; on the first abstention step alpha = EWMA / 64 (EWMA includes that batch),
      then alpha rises linearly once per epoch to ``alpha_final`` at the last epoch
      (:func:`dac_alpha`).

    Params: ``warmup_epochs`` (None: until the network has learned the clean structure,
    :class:`CleanStructureWatch`; an int: that many epochs), ``plateau_patience`` (5 epochs),
    ``alpha_final`` (1.0), ``alpha_init_factor`` (64), ``ewma_mu`` (0.05). The reference warms
    up for 10-20 epochs at learning rate 0.1 (of 200; the rate first decays at 60): long enough
    for the network to learn the clean structure, so that alpha (from the EWMA of its loss)
    is set on a trained network. A quarter of a short run is a few dozen steps.
    Evaluation: ``abstain_coverage`` and ``abstain_acc`` (:func:`abstention_metrics`); class
    probabilities = softmax over the K class logits; noise score = abstention probability.
    """

    name = "dac"
    family = "sample selection"
    summary = "deep abstaining classifier (Thulasidasan et al. 2019)"
    paper = "https://arxiv.org/abs/1905.10964"
    code = "https://github.com/thulas/dac-label-noise"
    tuning_grid = {"warmup_epochs": [None, 2, 5]}
    extra_outputs = 1
    defaults: ClassVar[dict[str, Any]] = {
        "warmup_epochs": None, "alpha_final": 1.0, "alpha_init_factor": 64.0, "ewma_mu": 0.05,
        "plateau_patience": PLATEAU_PATIENCE,
    }

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        self.warmup = CleanStructureWatch(self.params["plateau_patience"], self.params["warmup_epochs"],
                                          what="DAC warmup_epochs")
        self.ewma: torch.Tensor | None = None
        self.alpha_init: torch.Tensor | None = None
        self.alpha_set_epoch = -1
        self.stage = 0

    def begin_stage(self, stage: int, hooks: TrainerHooks) -> None:
        self.stage = stage

    def end_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        if self.stage == 0:
            self.warmup.observe(epoch, hooks.last_validation.get("acc", math.nan))

    def _update_ewma(self, value: torch.Tensor) -> None:
        mu = float(self.params["ewma_mu"])
        value = value.detach()
        self.ewma = value if self.ewma is None else mu * value + (1.0 - mu) * self.ewma

    def alpha(self, epoch: int) -> torch.Tensor | None:
        """Current alpha (0-d tensor), None before the abstention phase starts."""
        if self.alpha_init is None:
            return None
        return dac_alpha(epoch, self.alpha_set_epoch, self.alpha_init, float(self.params["alpha_final"]), self.setup.epochs)

    def dac_loss(self, logits: torch.Tensor, y: torch.Tensor, epoch: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """Scalar DAC loss of a batch at 0-based ``epoch`` (updates the EWMA/alpha state)."""
        k = self.setup.num_classes
        logits = logits.float()
        h_c = cross_entropy(logits[:, :k], y)
        p_a = torch.softmax(logits, dim=1)[:, k]
        if not self.warmup.learned(epoch):
            self._update_ewma(((1.0 - p_a) * h_c).mean())
            return cross_entropy(logits, y).mean(), {"dac_ewma": self.ewma}
        p_a = p_a.clamp(max=1.0 - ABSTAIN_EPS)
        self._update_ewma(((1.0 - p_a) * h_c).mean())
        if self.alpha_init is None:
            self.alpha_init = self.ewma / float(self.params["alpha_init_factor"])
            self.alpha_set_epoch = epoch
        alpha = self.alpha(epoch)
        loss = ((1.0 - p_a) * h_c - alpha * torch.log(1.0 - p_a)).mean()
        return loss, {"dac_alpha": alpha, "abstain_rate": (logits.argmax(1) == k).float().mean()}

    def loss_from_logits(self, batch: Batch, logits: torch.Tensor) -> StepOutput:
        loss, stats = self.dac_loss(logits, batch.y, batch.epoch)
        return StepOutput(loss=loss, logits=logits.detach(), stats=stats)

    def eval_metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        return abstention_metrics(logits, targets, self.setup.num_classes)

    def noise_scores(self, hooks: TrainerHooks) -> torch.Tensor | None:
        return hooks.predict_train(0)[:, self.setup.num_classes].float()


@register_method
class DACProtocol(DeepAbstainingClassifier):
    """The DAC data-cleaning protocol as one method (the reference has no script for it).

    Stage 0: DAC. After each epoch, the snapshot with the best NOISY-validation accuracy on
    non-abstained examples is kept (``hooks.last_validation["abstain_acc"]`` when the engine
    reports it, else ``"acc"``). Stage 1: restore it, drop the training examples whose argmax
    over K + 1 is "abstain" (``hooks.set_train_mask``), re-initialise the networks and train
    plain CE on the first K logits of the rest (networks keep K + 1 outputs because
    ``extra_outputs`` is per class; the abstain logit is simply unused in stage 1). If DAC
    abstains on every training example, stage 1 keeps all of them and warns.
    Noise scores: the stage-0 abstention probability. Test metrics of the final (stage-1)
    model: none beyond the engine's (the abstain output is untrained then).
    """

    name = "dac-protocol"
    family = "sample selection"
    summary = "DAC, then CE on the examples it does not abstain on"
    paper = "https://arxiv.org/abs/1905.10964"
    code = "https://github.com/thulas/dac-label-noise"
    tuning_grid = {"warmup_epochs": [None, 2, 5]}
    num_stages = 2

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        self.best_acc = -math.inf
        self.best_epoch = -1
        self.best_snapshot: Any = None
        self.abstain_probability: torch.Tensor | None = None
        self.kept_fraction = math.nan

    def end_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        super().end_epoch(epoch, hooks)
        if self.stage != 0:
            return
        val = hooks.last_validation
        acc = float(val.get("abstain_acc", val.get("acc", math.nan)))
        if acc > self.best_acc:  # NaN never wins
            self.best_acc, self.best_epoch = acc, epoch
            self.best_snapshot = hooks.snapshot()

    def begin_stage(self, stage: int, hooks: TrainerHooks) -> None:
        super().begin_stage(stage, hooks)
        if stage != 1:
            return
        if self.best_snapshot is not None:
            hooks.restore(self.best_snapshot)
            self.best_snapshot = None
        probs = hooks.predict_train(0).float()
        k = self.setup.num_classes
        self.abstain_probability = probs[:, k].clone()
        keep = probs.argmax(dim=1) != k
        if not bool(keep.any()):
            warnings.warn(
                f"dac-protocol: DAC abstained on all {len(keep)} training examples; stage 1 "
                "trains on all of them (train DAC longer or raise warmup_epochs)",
                stacklevel=2,
            )
            keep = torch.ones_like(keep)
        self.kept_fraction = float(keep.float().mean())
        hooks.set_train_mask(keep)
        hooks.reset_networks()

    def loss_from_logits(self, batch: Batch, logits: torch.Tensor) -> StepOutput:
        if self.stage == 0:
            return super().loss_from_logits(batch, logits)
        loss = cross_entropy(logits[:, : self.setup.num_classes], batch.y).mean()
        return StepOutput(loss=loss, logits=logits.detach())

    def eval_metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        return abstention_metrics(logits, targets, self.setup.num_classes) if self.stage == 0 else {}

    def noise_scores(self, hooks: TrainerHooks) -> torch.Tensor | None:
        if self.abstain_probability is not None:
            return self.abstain_probability
        return super().noise_scores(hooks)
