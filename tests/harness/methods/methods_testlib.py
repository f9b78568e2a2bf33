"""Helpers for the method tests: method factory, fake trainer hooks, numpy reference helpers."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cnlbench.harness.methods import Batch, MethodSetup, get_method


def make_method(name: str, k: int = 4, n: int = 32, epochs: int = 10, steps: int = 5, **kw: Any):
    """Instantiate method ``name`` on the CPU; ``kw`` splits into setup fields and params."""
    setup_fields = {f: kw.pop(f) for f in ("noise_matrix", "noise_level", "seed") if f in kw}
    setup = MethodSetup(num_classes=k, num_train=n, epochs=epochs, steps_per_epoch=steps,
                        device=torch.device("cpu"), **setup_fields)
    return get_method(name)(setup, **kw)


def make_batch(logits_or_x: torch.Tensor, y: np.ndarray, *, epoch: int = 0, step: int = 0,
               total_steps: int = 50, stage: int = 0, index: np.ndarray | None = None) -> Batch:
    y_t = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    idx = torch.arange(len(y_t)) if index is None else torch.as_tensor(index, dtype=torch.int64)
    return Batch(x=logits_or_x, y=y_t, index=idx, epoch=epoch, step=step, total_steps=total_steps,
                 stage=stage)


def identity_net(x: torch.Tensor) -> torch.Tensor:
    """A 'network' whose inputs are already the logits, so a method's loss is a function of
    the tensors written in the test."""
    return x


def np_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def loss_of(method, logits: np.ndarray, y: np.ndarray, **batch_kw: Any) -> float:
    """The method's scalar loss on ``logits`` (B, K + E) used directly as the network output."""
    x = torch.tensor(np.asarray(logits), dtype=torch.float32)
    out = method.training_step(make_batch(x, y, **batch_kw), [identity_net])
    return float(out.loss.detach())


def random_case(seed: int, b: int = 6, k: int = 4, scale: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, scale, size=(b, k)), rng.integers(0, k, size=b)


class FakeHooks:
    """A scripted ``TrainerHooks``: fixed train probabilities / losses, records calls."""

    def __init__(self, probs: np.ndarray | None = None, losses: np.ndarray | None = None):
        self.probs = None if probs is None else torch.tensor(probs, dtype=torch.float32)
        self.losses = None if losses is None else torch.tensor(losses, dtype=torch.float32)
        self.calls: list[Any] = []
        self.val: dict[str, float] = {}
        self.state = 0  # stands for the network weights

    def predict_train(self, network: int = 0) -> torch.Tensor:
        self.calls.append(("predict_train", self.state))
        return self.probs

    def train_losses(self, network: int = 0) -> torch.Tensor:
        self.calls.append(("train_losses", self.state))
        return self.losses

    def set_train_mask(self, mask):
        self.calls.append(("set_train_mask", None if mask is None else mask.clone()))

    def reset_networks(self) -> None:
        self.calls.append(("reset_networks",))
        self.state = -1

    def snapshot(self):
        self.calls.append(("snapshot", self.state))
        return self.state

    def restore(self, snap) -> None:
        self.calls.append(("restore", snap))
        self.state = snap

    @property
    def last_validation(self) -> dict[str, float]:
        return dict(self.val)

