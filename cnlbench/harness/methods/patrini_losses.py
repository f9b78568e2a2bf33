"""The bounded/linear losses of Patrini et al. 2017's tables, as their Keras code computes them.

Their code uses 0/1 one-hot targets y and averages over the K classes:
``unhinged = mean_j(1 - y_j f_j)``, ``sigmoid = mean_j sigmoid(-y_j f_j)``,
``savage = mean_j 1 / (1 + exp(2 y_j p_j))^2`` (p = clipped softmax). With 0/1 targets the
terms of the K - 1 wrong classes are constants (1, 1/2 and 1/4), so only the labelled class
carries gradient: unhinged = 1 - f_y / K. Our reading of the paper's one-vs-all form uses
y_j in {-1, +1}; ``targets="plus-minus"`` selects it, ``"zero-one"`` (default) the code.

For the losses it calls bounded (``yes_bound``: unhinged, ramp, sigmoid), the reference model
ends in a ``BatchNormalization`` layer after the last Dense layer (loss-correction
``models.py``/``resnet.py``), so f is that layer's output: batch statistics in training, its
moving statistics at inference. Here that layer is method-owned (:class:`OutputBatchNorm`):
the loss sees the batch-normalised logits and every evaluation (validation selection, test
accuracy, calibration, noise scores) goes through :meth:`Method.class_probabilities` with the
moving statistics. Savage is in the reference's ``yes_softmax`` list: no output layer.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from cnlbench.errors import HarnessError
from cnlbench.harness.losses import KERAS_EPS, clipped_probabilities, one_hot
from cnlbench.harness.methods._common import PATRINI_CODE, PATRINI_PAPER, SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, MethodSetup, register_method

TARGET_KINDS = ("zero-one", "plus-minus")


def signed_targets(y: torch.Tensor, num_classes: int, kind: str) -> torch.Tensor:
    """(B, K) float targets: one-hot (``zero-one``) or 2 one-hot - 1 (``plus-minus``)."""
    t = one_hot(y, num_classes)
    return t if kind == "zero-one" else 2.0 * t - 1.0


class OutputBatchNorm:
    """A BatchNorm over the K class logits, owned by a method (the networks stay unchanged).

    Training (:meth:`train`): each logit column standardised with the batch mean and biased
    variance, then ``weight * . + bias`` when ``affine``; the moving statistics are updated
    (``running = (1 - momentum) running + momentum * batch``, unbiased batch variance, as
    ``torch.nn.BatchNorm1d`` and Keras 2 do). Evaluation (:meth:`eval`): the moving statistics.
    Keras's defaults are ``momentum=0.99`` in its convention (0.01 here), ``epsilon=1e-3``,
    learnable scale and offset.
    """

    def __init__(self, num_classes: int, device: torch.device, momentum: float, eps: float, affine: bool):
        if not 0.0 < momentum <= 1.0:
            raise HarnessError(f"output BatchNorm momentum={momentum!r} must lie in (0, 1] (PyTorch convention, "
                               "weight of the new batch; e.g. 0.1)")
        if not eps > 0.0:
            raise HarnessError(f"output BatchNorm eps={eps!r} must be > 0 (Keras uses 1e-3)")
        self.momentum, self.eps = float(momentum), float(eps)
        self.running_mean = torch.zeros(num_classes, dtype=torch.float32, device=device)
        self.running_var = torch.ones(num_classes, dtype=torch.float32, device=device)
        self.weight: torch.nn.Parameter | None = None
        self.bias: torch.nn.Parameter | None = None
        if affine:
            self.weight = torch.nn.Parameter(torch.ones(num_classes, dtype=torch.float32, device=device))
            self.bias = torch.nn.Parameter(torch.zeros(num_classes, dtype=torch.float32, device=device))

    def parameters(self) -> list[torch.nn.Parameter]:
        """The learnable scale and offset (none without ``affine``)."""
        return [p for p in (self.weight, self.bias) if p is not None]

    def train(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, K) batch-normalised logits with batch statistics; updates the moving ones.
        Needs B >= 2."""
        if logits.shape[0] < 2:
            raise HarnessError(f"the output BatchNorm needs a batch of at least 2 examples, got {logits.shape[0]}; "
                               "raise --batch-size")
        return F.batch_norm(logits.float(), self.running_mean, self.running_var, self.weight, self.bias,
                            training=True, momentum=self.momentum, eps=self.eps)

    @torch.no_grad()
    def eval(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, K) logits normalised with the moving statistics (no update)."""
        return F.batch_norm(logits.float(), self.running_mean, self.running_var, self.weight, self.bias,
                            training=False, eps=self.eps)


class _PatriniLoss(SingleNetworkLoss):
    defaults: ClassVar[dict[str, Any]] = {"targets": "zero-one"}

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        if self.params["targets"] not in TARGET_KINDS:
            raise HarnessError(f"targets={self.params['targets']!r}; valid: {list(TARGET_KINDS)}")

    def targets(self, y: torch.Tensor) -> torch.Tensor:
        return signed_targets(y, self.setup.num_classes, self.params["targets"])


class _BoundedPatriniLoss(_PatriniLoss):
    """A loss of the reference's ``yes_bound`` list: applied to the output of a method-owned
    :class:`OutputBatchNorm` on the K class logits.

    Params beyond ``targets``: ``bn_momentum`` (0.1, PyTorch convention), ``bn_eps`` (1e-3,
    Keras), ``bn_affine`` (True, Keras's learnable scale and offset; they join network 0's
    optimiser through :meth:`extra_parameters`). Keras's momentum (0.99 in its convention,
    0.01 here) averages over about 100 steps: 5% of an epoch of the reference's MNIST runs
    (1,875 steps an epoch, 40 epochs), but many epochs of a run of a few hundred steps, where
    the moving statistics would describe a network several epochs old at every evaluation.
    0.1 (about 10 steps) keeps them as current, relative to training, as the reference's are.
    """

    defaults: ClassVar[dict[str, Any]] = {
        **_PatriniLoss.defaults, "bn_momentum": 0.1, "bn_eps": 1e-3, "bn_affine": True,
    }

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        p = self.params
        self.output_bn = OutputBatchNorm(setup.num_classes, setup.device, float(p["bn_momentum"]),
                                         float(p["bn_eps"]), bool(p["bn_affine"]))

    def extra_parameters(self) -> list[torch.nn.Parameter]:
        return self.output_bn.parameters()

    def bounded_loss(self, f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Scalar loss of the BatchNorm outputs ``f`` (B, K) against targets ``t`` (B, K)."""
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        f = self.output_bn.train(logits[:, : self.setup.num_classes])
        return self.bounded_loss(f, self.targets(y))

    def class_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax of the output BatchNorm's inference output (moving statistics)."""
        return torch.softmax(self.output_bn.eval(logits[:, : self.setup.num_classes]), dim=1)


@register_method
class Unhinged(_BoundedPatriniLoss):
    """Batch mean of mean_j (1 - y_j f_j), f = the output BatchNorm's output
    (zero-one: 1 - f_y / K). Needs a batch of at least 2 examples."""

    name = "unhinged"
    family = "robust loss"
    summary = "unhinged loss, as in Patrini et al.'s table"
    paper = PATRINI_PAPER
    code = PATRINI_CODE

    def bounded_loss(self, f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (1.0 - t * f).mean()


@register_method
class SigmoidLoss(_BoundedPatriniLoss):
    """Batch mean of mean_j sigmoid(-y_j f_j) (beta = 1 as the code), f = the output
    BatchNorm's output."""

    name = "sigmoid"
    family = "robust loss"
    summary = "sigmoid loss, as in Patrini et al.'s table"
    paper = PATRINI_PAPER
    code = PATRINI_CODE

    def bounded_loss(self, f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(-t * f).mean()


@register_method
class SavageLoss(_PatriniLoss):
    """Batch mean of mean_j 1 / (1 + exp(2 y_j p_j))^2, p = softmax clipped to [1e-7, 1-1e-7]."""

    name = "savage"
    family = "robust loss"
    summary = "Savage loss, as in Patrini et al.'s table"
    paper = PATRINI_PAPER
    code = PATRINI_CODE

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        p = clipped_probabilities(logits[:, : self.setup.num_classes], KERAS_EPS)
        return (1.0 / (1.0 + torch.exp(2.0 * self.targets(y) * p)).square()).mean()
