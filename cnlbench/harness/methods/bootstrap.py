"""Bootstrapping (Reed et al. 2014), soft and hard, as the reference computes them."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from cnlbench.harness.losses import KERAS_EPS, one_hot
from cnlbench.harness.methods._common import PATRINI_CODE, SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, register_method


class _Bootstrap(SingleNetworkLoss):
    """-sum_j (beta y_j + (1 - beta) z_j) log p_j, batch mean, p = softmax clipped to
    [1e-7, 1 - 1e-7] (Patrini's Keras code); z is the model's own prediction."""

    def prediction_target(self, p: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        k = self.setup.num_classes
        b = float(self.params["beta"])
        p = torch.softmax(logits[:, :k].float(), dim=1).clamp(KERAS_EPS, 1.0 - KERAS_EPS)
        target = b * one_hot(y, k) + (1.0 - b) * self.prediction_target(p)
        return -(target * torch.log(p)).sum(dim=1).mean()


@register_method
class BootstrapSoft(_Bootstrap):
    """z = p. As in the reference, p is NOT detached inside the target, so the (1 - beta) part
    is an entropy term that sharpens predictions. Params: ``beta`` (0.95)."""

    name = "bootstrap-soft"
    family = "regularisation"
    summary = "soft bootstrapping: targets mixed with the prediction (Reed et al. 2014)"
    paper = "https://arxiv.org/abs/1412.6596"
    code = PATRINI_CODE
    tuning_grid = {"beta": [0.95, 0.8, 0.9]}
    defaults: ClassVar[dict[str, Any]] = {"beta": 0.95}

    def prediction_target(self, p: torch.Tensor) -> torch.Tensor:
        return p


@register_method
class BootstrapHard(_Bootstrap):
    """z = onehot(argmax p). Params: ``beta`` (0.8)."""

    name = "bootstrap-hard"
    family = "regularisation"
    summary = "hard bootstrapping: targets mixed with the argmax (Reed et al. 2014)"
    paper = "https://arxiv.org/abs/1412.6596"
    code = PATRINI_CODE
    tuning_grid = {"beta": [0.8, 0.6, 0.9]}
    defaults: ClassVar[dict[str, Any]] = {"beta": 0.8}

    def prediction_target(self, p: torch.Tensor) -> torch.Tensor:
        return one_hot(p.argmax(dim=1), p.shape[1])
