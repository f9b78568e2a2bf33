"""Co-teaching (Han et al. 2018): two networks teach each other with small-loss examples."""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.losses import cross_entropy
from cnlbench.harness.methods._common import PerExampleAverage
from cnlbench.harness.methods.base import (
    Batch,
    Method,
    MethodSetup,
    Network,
    StepOutput,
    TrainerHooks,
    register_method,
)


def forget_rate(epoch: int, tau: float, ramp_epochs: int, exponent: float = 1.0) -> float:
    """The reference schedule: ``linspace(0, tau**exponent, ramp_epochs)[epoch]`` for the first
    ``ramp_epochs`` epochs (0-based), then ``tau``."""
    if epoch >= ramp_epochs:
        return tau
    if ramp_epochs <= 1:
        return 0.0
    return tau**exponent * epoch / (ramp_epochs - 1)


def small_loss_indices(losses: torch.Tensor, keep: int) -> torch.Tensor:
    """Indices of the ``keep`` smallest values of ``losses`` (B,) (stable sort)."""
    return torch.argsort(losses.detach(), stable=True)[:keep]


@register_method
class CoTeaching(Method):
    """Each network trains on the ``(1 - forget_rate) B`` smallest-loss examples of the batch
    chosen by its PEER: loss = mean CE_0 over peer-1's selection + mean CE_1 over peer-0's
    selection (plain means: the reference divides the mean again by the number kept, a bug we
    do not copy).

    Params: ``forget_rate`` = tau (None: the config's noise level if known, else 0.2),
    ``ramp_epochs`` (10, capped at the run's epochs), ``exponent`` (1).
    Noise score: fraction of an example's appearances in which network 0's teacher
    (network 1) dropped it, over the whole run.
    """

    name = "coteaching"
    family = "sample selection"
    summary = "two networks teach each other on small-loss examples (Han et al. 2018)"
    paper = "https://arxiv.org/abs/1804.06872"
    code = "https://github.com/bhanML/Co-teaching"
    tuning_grid = {"ramp_epochs": [10, 5, 20]}
    num_networks = 2
    defaults: ClassVar[dict[str, Any]] = {"forget_rate": None, "ramp_epochs": 10, "exponent": 1.0}

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        tau = self.params["forget_rate"]
        if tau is None:
            tau = setup.noise_level if setup.noise_level is not None else 0.2
        self.tau = float(tau)
        if not 0.0 <= self.tau < 1.0:
            raise HarnessError(f"co-teaching forget_rate={self.tau!r} must lie in [0, 1)")
        self.ramp_epochs = min(int(self.params["ramp_epochs"]), setup.epochs)
        self.dropped = PerExampleAverage(setup.num_train, setup.device)

    def rate(self, epoch: int) -> float:
        return forget_rate(epoch, self.tau, self.ramp_epochs, float(self.params["exponent"]))

    def training_step(self, batch: Batch, nets: Sequence[Network]) -> StepOutput:
        k = self.setup.num_classes
        logits0, logits1 = nets[0](batch.x), nets[1](batch.x)
        ce0 = cross_entropy(logits0[:, :k], batch.y)
        ce1 = cross_entropy(logits1[:, :k], batch.y)
        rate = self.rate(batch.epoch)
        keep = max(1, int((1.0 - rate) * len(batch.y)))
        by0, by1 = small_loss_indices(ce0, keep), small_loss_indices(ce1, keep)
        loss = ce0[by1].mean() + ce1[by0].mean()
        kept_for_0 = torch.zeros_like(ce0)
        kept_for_0[by1] = 1.0
        self.dropped.add(batch.index, 1.0 - kept_for_0)
        return StepOutput(
            loss=loss, logits=logits0.detach(), scores=1.0 - kept_for_0,
            stats={"forget_rate": rate},
        )

    def noise_scores(self, hooks: TrainerHooks) -> torch.Tensor | None:
        """None (the engine's final-loss score) when nothing was ever dropped (tau = 0)."""
        frac = self.dropped.mean()
        if frac is None or not bool((frac > 0).any()):
            return None
        return frac
