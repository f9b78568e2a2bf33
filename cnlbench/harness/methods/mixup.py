"""Mixup (Zhang et al. 2018)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.losses import mixup_cross_entropy
from cnlbench.harness.methods.base import Batch, Method, MethodSetup, StepOutput, register_method


def draws_to_device(values: np.ndarray, device: torch.device) -> torch.Tensor:
    """Host random draws (a fresh numpy array) as a tensor on ``device`` without stalling it:
    on CUDA through pinned memory with a non-blocking copy (``torch.as_tensor(array,
    device=...)`` is a pageable copy that waits for the device every step); on the CPU the
    array itself. The numpy stream is untouched: the draws are the same either way."""
    host = torch.from_numpy(np.ascontiguousarray(values))
    if device.type == "cpu":
        return host
    if device.type == "cuda":
        host = host.pin_memory()
    return host.to(device, non_blocking=True)


def mix_batch(
    x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator, alpha: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """One lambda ~ Beta(alpha, alpha) for the batch (1.0 when alpha <= 0) and one permutation.

    Returns (mixed x (B, ...), y_a = y (B,), y_b = y[perm] (B,), lam); mixed = lam x + (1-lam) x[perm].
    """
    lam = float(rng.beta(alpha, alpha)) if alpha > 0 else 1.0
    perm = draws_to_device(rng.permutation(x.shape[0]), x.device)
    return lam * x + (1.0 - lam) * x[perm], y, y[perm], lam


@register_method
class Mixup(Method):
    """Batch mean of lam CE(f(x_mix), y_a) + (1 - lam) CE(f(x_mix), y_b).

    Draws come from ``numpy.random.default_rng(setup.seed)`` (deterministic per run). Params:
    ``alpha`` (1.0; 0.2-0.4 is common for small networks). Returns no logits (the network only
    sees mixed inputs).
    """

    name = "mixup"
    family = "regularisation"
    summary = "mixup of inputs and labels (Zhang et al. 2018)"
    paper = "https://arxiv.org/abs/1710.09412"
    code = "https://github.com/facebookresearch/mixup-cifar10"
    tuning_grid = {"alpha": [1.0, 0.4, 4.0]}
    defaults: ClassVar[dict[str, Any]] = {"alpha": 1.0}

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        if float(self.params["alpha"]) < 0:
            raise HarnessError(f"mixup alpha={self.params['alpha']!r} must be >= 0 (0 disables mixing)")
        self.rng = np.random.default_rng(setup.seed)
        self._pending: tuple[torch.Tensor, torch.Tensor, float] | None = None

    def prepare_inputs(self, batch: Batch) -> torch.Tensor:
        """Mixes the batch; keeps (y_a, y_b, lam) for :meth:`loss_from_logits`."""
        x, y_a, y_b, lam = mix_batch(batch.x, batch.y, self.rng, float(self.params["alpha"]))
        self._pending = (y_a, y_b, lam)
        return x

    def loss_from_logits(self, batch: Batch, logits: torch.Tensor) -> StepOutput:
        if self._pending is None:
            raise HarnessError("mixup: loss_from_logits called without prepare_inputs for this batch")
        (y_a, y_b, lam), self._pending = self._pending, None
        loss = mixup_cross_entropy(logits[:, : self.setup.num_classes], y_a, y_b, lam).mean()
        return StepOutput(loss=loss, logits=None, stats={"lambda": lam})
