"""S-model / noise adaptation layer (Goldberger & Ben-Reuven 2017)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.losses import cross_entropy
from cnlbench.harness.methods._common import SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, MethodSetup, register_method


def noise_adaptation_init(num_classes: int, prior_noise: float = 0.46) -> np.ndarray:
    """(K, K) float64 initial W: log(1 - prior_noise) on the diagonal, log(prior_noise/(K-1))
    off it, so softmax_rows(W) starts as symmetric noise at ``prior_noise`` (0.46 as in the
    reference)."""
    if not 0.0 < prior_noise < 1.0 or num_classes < 2:
        raise HarnessError(f"S-model prior_noise={prior_noise!r} must lie in (0, 1) and K >= 2")
    W = np.full((num_classes, num_classes), math.log(prior_noise / (num_classes - 1)))
    np.fill_diagonal(W, math.log(1.0 - prior_noise))
    return W


def channel_log_probabilities(logits: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """log p_noisy (B, K) with p_noisy = p @ softmax_rows(W), computed as a log-sum-exp:
    log p_noisy_j = logsumexp_i(log p_i + log softmax(W)_ij). ``softmax_rows(W)[i, j]`` is
    P(noisy = j | clean = i), so it is row-stochastic like every T in cnlbench."""
    log_p = torch.log_softmax(logits.float(), dim=1)
    log_t = torch.log_softmax(W.float(), dim=1)
    return torch.logsumexp(log_p[:, :, None] + log_t[None, :, :], dim=1)


@register_method
class SModel(SingleNetworkLoss):
    """Loss: batch mean of (1 - beta) CE(p_noisy, y) + beta CE(p, y), p_noisy = p @ softmax_rows(W).

    W (K, K) is a learnable parameter owned by the method (:meth:`extra_parameters`); the
    engine optimises it with network 0. Params: ``beta`` (0.0: the paper's pure s-model; the
    reference script exposes a baseline weight BETA to anchor p), ``prior_noise`` (0.46, the
    reference's diagonal initialisation), ``init_matrix`` (optional (K, K) list, e.g. a
    baseline's confusion; W = log(row-normalised matrix + 1e-8), as the reference's
    pre-trained initialisation). At test time the clean head p (not p_noisy) is evaluated.
    """

    name = "s-model"
    family = "loss correction"
    summary = "noise adaptation layer (Goldberger & Ben-Reuven 2017)"
    paper = "https://openreview.net/forum?id=H12GRgcxg"
    code = "https://github.com/udibr/noise"
    tuning_grid = {"prior_noise": [0.46, 0.3, 0.6]}
    defaults: ClassVar[dict[str, Any]] = {"beta": 0.0, "prior_noise": 0.46, "init_matrix": None}

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        k = setup.num_classes
        init = self.params["init_matrix"]
        if init is None:
            W0 = noise_adaptation_init(k, float(self.params["prior_noise"]))
        else:
            M = np.asarray(init, dtype=np.float64)
            if M.shape != (k, k) or np.any(M < 0) or np.any(M.sum(axis=1) <= 0):
                raise HarnessError(
                    f"S-model init_matrix must be a non-negative ({k}, {k}) matrix with positive "
                    f"row sums, got shape {M.shape}; pass a confusion matrix of a baseline"
                )
            W0 = np.log(M / M.sum(axis=1, keepdims=True) + 1e-8)
        self.W = torch.nn.Parameter(torch.as_tensor(W0, dtype=torch.float32, device=setup.device))

    def extra_parameters(self) -> list[torch.nn.Parameter]:
        return [self.W]

    def noise_transition(self) -> np.ndarray:
        """The learnt row-stochastic channel softmax_rows(W), (K, K) float64."""
        return torch.softmax(self.W.detach().double(), dim=1).cpu().numpy()

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        z = logits[:, : self.setup.num_classes]
        b = float(self.params["beta"])
        log_noisy = channel_log_probabilities(z, self.W)
        channel = -log_noisy.gather(1, y[:, None]).squeeze(1)
        loss = (1.0 - b) * channel
        if b:
            loss = loss + b * cross_entropy(z, y)
        return loss.mean()
