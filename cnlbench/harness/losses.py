"""Pure-tensor loss functions shared by the methods (no state, no randomness).

Conventions: ``logits`` (B, K) float, ``y`` (B,) int64 labels in [0, K), ``p`` = softmax(logits).
Every function returns the PER-EXAMPLE loss (B,) unless its name says otherwise; methods take
the batch mean themselves so that each method's reduction is visible in its own file.
Transition matrices are row-stochastic, ``T[i, j] = P(noisy = j | clean = i)``, shape (K, K).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Keras' ``K.epsilon()``: the clip Patrini's loss-correction code applies to probabilities.
KERAS_EPS = 1e-7


def one_hot(y: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B,) int64 -> (B, K) one-hot in ``dtype``."""
    return F.one_hot(y, num_classes).to(dtype)


def soft_cross_entropy(log_p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-sum_j target_j log p_j per example; ``log_p`` and ``target`` are (B, K)."""
    return -(target * log_p).sum(dim=1)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-log softmax(logits)_y per example, (B,)."""
    return F.cross_entropy(logits.float(), y, reduction="none")


def entropy(log_p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy H(p) = -sum_j p_j log p_j per example (nats), from (B, K) log-probs."""
    return -(log_p.exp() * log_p).sum(dim=1)


def clipped_probabilities(logits: torch.Tensor, eps: float = KERAS_EPS) -> torch.Tensor:
    """softmax(logits) clipped to [eps, 1 - eps], as Patrini's Keras code does, (B, K)."""
    return torch.softmax(logits.float(), dim=1).clamp(eps, 1.0 - eps)


def forward_corrected(logits: torch.Tensor, y: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Forward correction (Patrini 2017): -log((p T)_y), p clipped to [1e-7, 1-1e-7] first.

    ``T`` (K, K) row-stochastic: ``(p T)_j = sum_i p_i T[i, j]`` is the predicted probability of
    the NOISY label j.
    """
    p = clipped_probabilities(logits)
    q = p @ T.to(p.dtype)
    return -torch.log(q.gather(1, y[:, None]).squeeze(1))


def backward_corrected(logits: torch.Tensor, y: torch.Tensor, T_inv: torch.Tensor) -> torch.Tensor:
    """Backward correction (Patrini 2017): -sum_j (y T^-1)_j log p_j, p clipped to [1e-7, 1-1e-7].

    ``T_inv`` (K, K) is the inverse of the row-stochastic T; ``y T^-1`` is row ``y`` of it. The
    per-example value may be negative (T^-1 has negative entries); its expectation under the
    noise is the clean CE.
    """
    log_p = torch.log(clipped_probabilities(logits))
    return -(T_inv.to(log_p.dtype)[y] * log_p).sum(dim=1)


def generalized_cross_entropy(logits: torch.Tensor, y: torch.Tensor, q: float) -> torch.Tensor:
    """GCE / Lq loss (Zhang & Sabuncu 2018): (1 - p_y^q) / q, p clamped to [1e-7, 1]."""
    p_y = torch.softmax(logits.float(), dim=1).clamp(1e-7, 1.0).gather(1, y[:, None]).squeeze(1)
    return (1.0 - p_y.pow(q)) / q


def reverse_cross_entropy(logits: torch.Tensor, y: torch.Tensor, log_floor: float) -> torch.Tensor:
    """RCE of SCE (Wang 2019) as coded: -sum_j p_j log clamp(y_j, 1e-4, 1) with p clamped to
    [1e-7, 1]. ``log_floor`` is A = log of the one-hot floor (the code's ln(1e-4) = -9.21; the
    paper says A = -4); the value is -A * sum_{j != y} p_j."""
    p = torch.softmax(logits.float(), dim=1).clamp(1e-7, 1.0)
    off = 1.0 - one_hot(y, logits.shape[1], p.dtype)
    return -log_floor * (p * off).sum(dim=1)


def mixup_cross_entropy(
    logits: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, lam: torch.Tensor | float
) -> torch.Tensor:
    """lam CE(y_a) + (1 - lam) CE(y_b) per example; ``lam`` scalar or (B,)."""
    return lam * cross_entropy(logits, y_a) + (1.0 - lam) * cross_entropy(logits, y_b)


def ce_log_k(num_classes: int) -> float:
    """log K, the entropy of the uniform distribution over K classes."""
    return math.log(num_classes)
