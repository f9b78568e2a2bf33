"""Loss correction (Patrini et al. 2017): forward and backward, with the true T or with T-hat.

T is row-stochastic, ``T[i, j] = P(noisy = j | clean = i)``, shape (K, K).

* ``forward`` / ``backward``: the manifest's requested T (``needs_noise_matrix = True``).
* ``forward-that`` / ``backward-that``: two stages. Stage 0 trains plain CE on the noisy labels
  and keeps a snapshot at the best NOISY-validation loss. Stage 1 restores it, estimates T-hat
  from its softmax on the training set (:func:`estimate_transition_matrix`), re-initialises
  the networks and trains the corrected loss from scratch.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.losses import backward_corrected, cross_entropy, forward_corrected
from cnlbench.harness.methods._common import PATRINI_CODE, PATRINI_PAPER, SingleNetworkLoss
from cnlbench.harness.methods.base import Batch, MethodSetup, TrainerHooks, register_method

#: Condition number above which T counts as singular for the backward correction.
MAX_CONDITION = 1e10


def estimate_transition_matrix(
    probs: np.ndarray, *, filter_outlier: bool, percentile: float = 97.0
) -> np.ndarray:
    """Patrini's T-hat estimator from softmax outputs on the (noisy) training set.

    ``probs`` (N, K) float, rows = p(noisy label | x) of a network trained with CE on the
    noisy labels. For each class i pick the example with the largest p_i: the plain argmax,
    or (``filter_outlier``) the largest value strictly below the ``percentile``-th percentile
    of column i ("higher" interpolation). Row i of T-hat is that example's full p; rows are
    then normalised to sum to 1. Returns (K, K) float64, ``T[i, j] = P(noisy = j | clean = i)``.

    The reference zeroes the filtered values through a numpy VIEW of the probability matrix,
    so later rows of its T-hat read partly zeroed probabilities; we work on a copy of each
    column and never mutate ``probs``.
    """
    eta = np.asarray(probs, dtype=np.float64)
    if eta.ndim != 2 or eta.shape[0] == 0:
        raise HarnessError(f"T-hat needs (N, K) probabilities with N > 0, got shape {eta.shape}")
    k = eta.shape[1]
    T = np.empty((k, k), dtype=np.float64)
    for i in range(k):
        column = eta[:, i]
        if filter_outlier:
            threshold = np.percentile(column, percentile, method="higher")
            column = np.where(column >= threshold, 0.0, column)  # a copy, not a view
        T[i] = eta[int(np.argmax(column))]
    sums = T.sum(axis=1, keepdims=True)
    if np.any(sums <= 0):
        raise HarnessError("T-hat has an all-zero row; the probabilities passed are not a softmax")
    return T / sums


def checked_inverse(T: np.ndarray, max_condition: float = MAX_CONDITION) -> np.ndarray:
    """Inverse of T (K, K) in float64; raises HarnessError when T is (numerically) singular."""
    T = np.asarray(T, dtype=np.float64)
    cond = float(np.linalg.cond(T))
    if not math.isfinite(cond) or cond > max_condition:
        raise HarnessError(
            f"backward correction needs an invertible T, but its condition number is {cond:.3g} "
            f"(> {max_condition:.0e}): T is singular (e.g. symmetric noise at level (K-1)/K, or a "
            "degenerate T-hat); use the forward correction, which needs no inverse"
        )
    return np.linalg.inv(T)


def _corrected_loss(kind: str, logits: torch.Tensor, y: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    if kind == "forward":
        return forward_corrected(logits, y, matrix)
    return backward_corrected(logits, y, matrix)


class _KnownT(SingleNetworkLoss):
    kind: ClassVar[str] = ""
    needs_noise_matrix = True

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        T = np.asarray(setup.noise_matrix, dtype=np.float64)
        if T.shape != (setup.num_classes, setup.num_classes):
            raise HarnessError(
                f"noise matrix has shape {T.shape}, expected ({setup.num_classes}, {setup.num_classes})"
            )
        m = T if self.kind == "forward" else checked_inverse(T)
        self.matrix = torch.as_tensor(m, dtype=torch.float32, device=setup.device)

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        z = logits[:, : self.setup.num_classes]
        return _corrected_loss(self.kind, z, y, self.matrix).mean()


@register_method
class ForwardCorrection(_KnownT):
    """Batch mean of -log((p T)_y), p clipped to [1e-7, 1 - 1e-7], with the true T."""

    name = "forward"
    family = "loss correction"
    summary = "forward correction with the true transition matrix (Patrini et al. 2017)"
    paper = PATRINI_PAPER
    code = PATRINI_CODE
    kind = "forward"


@register_method
class BackwardCorrection(_KnownT):
    """Batch mean of -sum((y T^-1) * log p), p clipped, with the true T (error if singular)."""

    name = "backward"
    family = "loss correction"
    summary = "backward correction with the true transition matrix (Patrini et al. 2017)"
    paper = PATRINI_PAPER
    code = PATRINI_CODE
    kind = "backward"


class _EstimatedT(SingleNetworkLoss):
    """Two stages: CE (stage 0), then the correction with T-hat (stage 1). Params:
    ``filter_outlier`` (None: True unless K >= 100, as the reference), ``percentile`` (97)."""

    kind: ClassVar[str] = ""
    num_stages = 2
    defaults: ClassVar[dict[str, Any]] = {"filter_outlier": None, "percentile": 97.0}

    def __init__(self, setup: MethodSetup, **params: Any):
        super().__init__(setup, **params)
        self.stage = 0
        self.best_loss = math.inf
        self.best_epoch = -1
        self.best_snapshot: Any = None
        self.t_hat: np.ndarray | None = None
        self.matrix: torch.Tensor | None = None

    def begin_stage(self, stage: int, hooks: TrainerHooks) -> None:
        self.stage = stage
        if stage != 1:
            return
        if self.best_snapshot is not None:
            hooks.restore(self.best_snapshot)
        probs = hooks.predict_train(0)[:, : self.setup.num_classes].float().cpu().numpy()
        flt = self.params["filter_outlier"]
        flt = self.setup.num_classes < 100 if flt is None else bool(flt)
        self.t_hat = estimate_transition_matrix(probs, filter_outlier=flt, percentile=float(self.params["percentile"]))
        m = self.t_hat if self.kind == "forward" else checked_inverse(self.t_hat)
        self.matrix = torch.as_tensor(m, dtype=torch.float32, device=self.setup.device)
        self.best_snapshot = None  # free the memory
        hooks.reset_networks()

    def end_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        if self.stage != 0:
            return
        val_loss = float(hooks.last_validation["loss"])
        if val_loss < self.best_loss:  # NaN never wins
            self.best_loss, self.best_epoch = val_loss, epoch
            self.best_snapshot = hooks.snapshot()

    def loss(self, logits: torch.Tensor, y: torch.Tensor, batch: Batch) -> torch.Tensor:
        z = logits[:, : self.setup.num_classes]
        if self.stage == 0 or self.matrix is None:
            return cross_entropy(z, y).mean()
        return _corrected_loss(self.kind, z, y, self.matrix).mean()


@register_method
class ForwardCorrectionEstimated(_EstimatedT):
    """Forward correction with Patrini's T-hat (two stages)."""

    name = "forward-that"
    family = "loss correction"
    summary = "forward correction with an estimated matrix (Patrini et al. 2017)"
    paper = PATRINI_PAPER
    code = PATRINI_CODE
    tuning_grid = {"percentile": [97.0, 99.0, 100.0]}
    kind = "forward"


@register_method
class BackwardCorrectionEstimated(_EstimatedT):
    """Backward correction with Patrini's T-hat (two stages; error if T-hat is singular)."""

    name = "backward-that"
    family = "loss correction"
    summary = "backward correction with an estimated matrix (Patrini et al. 2017)"
    paper = PATRINI_PAPER
    code = PATRINI_CODE
    tuning_grid = {"percentile": [97.0, 99.0, 100.0]}
    kind = "backward"
