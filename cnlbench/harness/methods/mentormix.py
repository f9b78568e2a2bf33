"""MentorMix (Jiang et al. 2020): MentorNet weights + mixup with partners drawn by weight."""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.losses import cross_entropy, mixup_cross_entropy
from cnlbench.harness.methods._common import PerExampleAverage, nearest_key, uses_cifar100_defaults
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

#: Per-level settings of the official code: level -> (alpha, gamma_p, second_reweight).
MENTORMIX_CIFAR10 = {0.2: (2.0, 0.8, False), 0.4: (8.0, 0.6, False), 0.6: (8.0, 0.6, True), 0.8: (4.0, 0.2, True)}
MENTORMIX_CIFAR100 = {0.2: (2.0, 0.7, False), 0.4: (8.0, 0.5, False), 0.6: (4.0, 0.3, True), 0.8: (8.0, 0.1, True)}


def mentormix_settings(num_classes: int, level: float | None) -> tuple[float, float, bool]:
    """(alpha, gamma_p, second_reweight) of the row nearest ``level`` (20% when unknown), from
    the CIFAR-100 table when K >= 100, else CIFAR-10's."""
    table = MENTORMIX_CIFAR100 if uses_cifar100_defaults(num_classes) else MENTORMIX_CIFAR10
    return table[nearest_key(level, list(table), fallback=0.2)]


def mentormix_lambdas(v: torch.Tensor, rng: np.random.Generator, alpha: float) -> torch.Tensor:
    """(B,) mixing weights: lam ~ Beta(alpha, alpha) per example, lam = max(lam, 1 - lam),
    and 1 - lam where v_i < 0.5 (a suspected-noisy example takes mostly its partner)."""
    lam = rng.beta(alpha, alpha, size=v.shape[0])
    lam = torch.as_tensor(np.maximum(lam, 1.0 - lam), dtype=torch.float32, device=v.device)
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

    Params (None: the official per-level table of ../shared/notes/cnwl.md, by K and the
    config's nearest level): ``alpha``, ``gamma_p``, ``second_reweight``; ``ema_decay``
    (0.5), ``burn_in`` (fraction of the stage with v = 1; 0.1, the reference's ``--burn_in_epoch=10``
    in percent of training). Randomness: numpy
    ``default_rng(seed)`` for lambdas, a torch generator seeded with ``seed`` for partners.
    """

    name = "mentormix"
    defaults: ClassVar[dict[str, Any]] = {
        "alpha": None, "gamma_p": None, "second_reweight": None, "ema_decay": 0.5, "burn_in": 0.1,
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
        self.rng = np.random.default_rng(setup.seed)
        self.generator = torch.Generator(device=setup.device).manual_seed(setup.seed)
        self.kept = PerExampleAverage(setup.num_train, setup.device)

    def begin_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        self.kept.reset()

    def training_step(self, batch: Batch, nets: Sequence[Network]) -> StepOutput:
        k = self.setup.num_classes
        with torch.no_grad():
            logits = nets[0](batch.x)
            ce = cross_entropy(logits[:, :k], batch.y)
        v = self.mentor.weights(ce)
        burn_in = batch.progress < float(self.params["burn_in"])
        if burn_in:
            v = torch.ones_like(v)
        self.kept.add(batch.index, v)
        partner = draw_partners(v, self.generator)
        lam = mentormix_lambdas(v, self.rng, self.alpha)
        shape = (-1,) + (1,) * (batch.x.dim() - 1)
        x_mix = lam.view(shape) * batch.x + (1.0 - lam.view(shape)) * batch.x[partner]
        mixed = mixup_cross_entropy(nets[0](x_mix)[:, :k], batch.y, batch.y[partner], lam)
        if self.second_reweight and not burn_in:
            loss = (self.mentor_mixed.weights(mixed) * mixed).mean()
        else:
            loss = mixed.mean()
        return StepOutput(loss=loss, logits=logits.detach(), scores=1.0 - v, stats={"kept": v.mean()})

    def noise_scores(self, hooks: TrainerHooks) -> torch.Tensor | None:
        kept = self.kept.mean()
        return None if kept is None else 1.0 - kept
