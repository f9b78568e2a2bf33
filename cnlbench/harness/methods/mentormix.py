"""MentorMix (Jiang et al. 2020): MentorNet weights + mixup with partners drawn by weight."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Sequence

import numpy as np
import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.losses import cross_entropy, mixup_cross_entropy
from cnlbench.harness.methods._common import (
    CNWL_CODE,
    CNWL_PAPER,
    PLATEAU_PATIENCE,
    CleanStructureWatch,
    PerExampleAverage,
    nearest_key,
    uses_cifar100_defaults,
)
from cnlbench.harness.methods.base import (
    Batch,
    Method,
    MethodSetup,
    Network,
    StepOutput,
    TrainerHooks,
    register_method,
)
from cnlbench.harness.methods.mentornet import ThresholdMentor
from cnlbench.harness.methods.mixup import draws_to_device

#: Per-level settings of the official code: level -> (alpha, gamma_p, second_reweight).
MENTORMIX_CIFAR10 = {0.2: (2.0, 0.8, False), 0.4: (8.0, 0.6, False), 0.6: (8.0, 0.6, True), 0.8: (4.0, 0.2, True)}
MENTORMIX_CIFAR100 = {0.2: (2.0, 0.7, False), 0.4: (8.0, 0.5, False), 0.6: (4.0, 0.3, True), 0.8: (8.0, 0.1, True)}


#: (alpha, gamma_p, second_reweight) when the noise level is unknown (human noise): the flag
#: defaults of the reference script (``cifar_train_mentormix.py``: ``mixup_alpha`` 8,
#: ``loss_p_percentile`` 0.7, ``second_reweight`` True), its setting when not told a level.
MENTORMIX_UNKNOWN_LEVEL = (8.0, 0.7, True)


def mentormix_settings(num_classes: int, level: float | None) -> tuple[float, float, bool]:
    """(alpha, gamma_p, second_reweight) at noise ``level``, from the official table (CIFAR-100's
    when K >= 100, else CIFAR-10's): the row nearest ``level`` (ties: the lower level). Below the
    lowest row (20%) no setting was published: that row's alpha and second reweight, and gamma_p
    raised by the missing noise (``gamma_p + (0.2 - level)``, at most 1; the published gamma_p
    falls one for one with the level from 20% to 40%), so 0% noise drops nothing meant for
    noisy data. Unknown level: :data:`MENTORMIX_UNKNOWN_LEVEL`."""
    if level is None:
        return MENTORMIX_UNKNOWN_LEVEL
    table = MENTORMIX_CIFAR100 if uses_cifar100_defaults(num_classes) else MENTORMIX_CIFAR10
    lowest = min(table)
    if level < lowest:
        alpha, gamma_p, second = table[lowest]
        return alpha, min(1.0, gamma_p + (lowest - float(level))), second
    return table[nearest_key(level, list(table), fallback=lowest)]


def mentormix_lambdas(v: torch.Tensor, rng: np.random.Generator, alpha: float) -> torch.Tensor:
    """(B,) mixing weights: lam ~ Beta(alpha, alpha) per example, lam = max(lam, 1 - lam),
    and 1 - lam where v_i < 0.5 (a suspected-noisy example takes mostly its partner)."""
    lam = rng.beta(alpha, alpha, size=v.shape[0])
    lam = draws_to_device(np.maximum(lam, 1.0 - lam).astype(np.float32), v.device)
    return torch.where(v < 0.5, 1.0 - lam, lam)


def draw_partners(v: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B,) int64 partner indices drawn i.i.d. with probabilities softmax(v) over the batch."""
    probs = torch.softmax(v.float(), dim=0)
    return torch.multinomial(probs, v.shape[0], replacement=True, generator=generator)


@register_method
class MentorMix(Method):
    """One step: (1) CE_i of the clean batch (no grad) -> MentorNet weights v (EMA threshold
    of the gamma_p percentile); (2) partners ~ softmax(v), per-example lam as in
    :func:`mentormix_lambdas`; (3) mixed loss lam_i CE(f(x_mix)_i, y_i) + (1 - lam_i)
    CE(f(x_mix)_i, y_partner); (4) with second reweighting, a second MentorNet (own EMA,
    same percentile) weights the mixed losses, loss = mean(v2 * mixed) over the batch; else
    the plain mean.

    Params (None: :func:`mentormix_settings` of the config's noise level): ``alpha``,
    ``gamma_p``, ``second_reweight``; ``ema_decay`` (0.5); ``burn_in_epochs`` (None: v = 1 and
    no second reweighting until the network has learned the clean structure,
    :class:`CleanStructureWatch`; an int: that many epochs); ``plateau_patience`` (5 epochs).
    The reference's ``--burn_in_epoch=10`` counts percent of 200,000 steps and forces v = 1
    below 9: about 46 CIFAR epochs at learning rate 0.1, a network that has learned what it can
    before memorising. Randomness: numpy ``default_rng(seed)`` for lambdas, a torch generator
    seeded with ``seed`` for partners.
    """

    name = "mentormix"
    family = "sample selection"
    summary = "MentorNet weights plus mixup (Jiang et al. 2020, CNWL)"
    paper = CNWL_PAPER
    code = CNWL_CODE
    tuning_grid = {"alpha": [None, 2.0, 8.0]}
    defaults: ClassVar[dict[str, Any]] = {
        "alpha": None, "gamma_p": None, "second_reweight": None, "ema_decay": 0.5,
        "burn_in_epochs": None, "plateau_patience": PLATEAU_PATIENCE,
    }

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        alpha, gamma_p, second = mentormix_settings(setup.num_classes, setup.noise_level)
        p = self.params
        self.alpha = alpha if p["alpha"] is None else float(p["alpha"])
        self.gamma_p = gamma_p if p["gamma_p"] is None else float(p["gamma_p"])
        self.second_reweight = second if p["second_reweight"] is None else bool(p["second_reweight"])
        if self.alpha <= 0:
            raise HarnessError(f"MentorMix alpha={self.alpha!r} must be > 0 (the Beta parameter)")
        decay = float(p["ema_decay"])
        self.mentor = ThresholdMentor(self.gamma_p, decay)
        self.mentor_mixed = ThresholdMentor(self.gamma_p, decay)
        self.burn_in = CleanStructureWatch(p["plateau_patience"], p["burn_in_epochs"], what="MentorMix burn-in")
        self.rng = np.random.default_rng(setup.seed)
        self.generator = torch.Generator(device=setup.device).manual_seed(setup.seed)
        self.kept = PerExampleAverage(setup.num_train, setup.device)

    def end_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        self.burn_in.observe(epoch, hooks.last_validation.get("acc", math.nan))

    def begin_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        self.kept.reset()

    def training_step(self, batch: Batch, nets: Sequence[Network]) -> StepOutput:
        k = self.setup.num_classes
        with torch.no_grad():
            logits = nets[0](batch.x)
            ce = cross_entropy(logits[:, :k], batch.y)
        v = self.mentor.weights(ce)
        burn_in = not self.burn_in.learned(batch.epoch)
        if burn_in:
            v = torch.ones_like(v)
        self.kept.add(batch.index, v)
        partner = draw_partners(v, self.generator)
        lam = mentormix_lambdas(v, self.rng, self.alpha)
        shape = (-1,) + (1,) * (batch.x.dim() - 1)
        x_mix = lam.view(shape) * batch.x + (1.0 - lam.view(shape)) * batch.x[partner]
        mixed = mixup_cross_entropy(nets[0](x_mix)[:, :k], batch.y, batch.y[partner], lam)
        if self.second_reweight:
            v2 = self.mentor_mixed.weights(mixed)  # its EMA updates in the burn-in too, as the reference's
            loss = mixed.mean() if burn_in else (v2 * mixed).mean()
        else:
            loss = mixed.mean()
        return StepOutput(loss=loss, logits=logits.detach(), scores=1.0 - v, stats={"kept": v.mean()})

    def noise_scores(self, hooks: TrainerHooks) -> torch.Tensor | None:
        kept = self.kept.mean()
        return None if kept is None else 1.0 - kept
