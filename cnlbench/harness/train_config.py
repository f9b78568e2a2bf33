"""Training configuration: :class:`TrainConfig` (every hyperparameter, with units), the model's
defaults (declared by each model file, :mod:`cnlbench.harness.models.registry`), the default
model for an image size, and the learning-rate schedules."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from cnlbench.errors import HarnessError
from cnlbench.harness import metrics as M
from cnlbench.harness.augment import PAD_MODES
from cnlbench.harness.data import TEST_CORRUPTIONS
from cnlbench.harness.models import model_info

SCHEDULES = ("cosine", "triangle", "constant")
PRECISIONS = ("auto", "fp32", "bf16")
#: Datasets whose classes change under a horizontal flip.
NO_FLIP_DATASETS = ("digits", "mnist", "svhn")


@dataclass(frozen=True)
class TrainConfig:
    """Every training hyperparameter, with units. Defaults per model: :func:`default_train_config`."""

    epochs: int = 20  # passes over the (masked) training set, per stage
    batch_size: int = 128  # examples per optimiser step; the last partial batch is dropped
    lr: float = 0.05  # peak learning rate of SGD (per optimiser step on a mean-reduced loss)
    momentum: float = 0.9  # SGD momentum (dimensionless)
    nesterov: bool = True
    weight_decay: float = 5e-4  # L2 coefficient added to every trainable parameter's gradient
    warmup_epochs: float = 1.0  # linear warm-up from 0 to ``lr``, in epochs
    schedule: str = "cosine"  # after warm-up: "cosine" (to 0), "triangle" (linear to 0), "constant"
    label_smoothing: float = 0.0  # ALWAYS 0: smoothing is a method (``label-smoothing``), not the engine's
    dropout: float = 0.0  # dropout probability before the classifier (the CNWL "Dropout" baseline)
    crop_padding: int = 1  # pixels of padding for random-translation crops (0: no crop)
    pad_mode: str = "zeros"  # "zeros" or "reflect"
    hflip: bool = False  # random horizontal flips (off for digits: a flip changes a digit)
    eval_batch_size: int = 1024  # examples per evaluation forward pass
    train_curves: bool = True  # per-epoch pass over the un-augmented train set for the curves
    compile: bool = False  # torch.compile the networks (CUDA; a compiled net is reused across runs)
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "fp32", "bf16"
    pretrained: str | None = None  # local weights file loaded after initialisation (never fetched)
    ece_bins: int = M.DEFAULT_ECE_BINS  # equal-width confidence bins for ECE and OE
    # evaluation option: corrupt the clean test split at load time (data.TEST_CORRUPTIONS; ""
    # none, "structured" the DAC study's feature on a known subset), metrics per subset
    test_corruption: str = ""

    def __post_init__(self) -> None:
        if self.label_smoothing != 0.0:
            raise HarnessError(
                f"label_smoothing={self.label_smoothing!r}: the engine never smooths labels (it is a "
                "noise-robustness method in its own right); run the `label-smoothing` method instead"
            )
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise HarnessError(f"epochs ({self.epochs}), batch_size ({self.batch_size}) and eval_batch_size "
                               f"({self.eval_batch_size}) must be >= 1")
        if self.schedule not in SCHEDULES:
            raise HarnessError(f"unknown schedule {self.schedule!r}; use one of {SCHEDULES}")
        if self.pad_mode not in PAD_MODES:
            raise HarnessError(f"unknown pad_mode {self.pad_mode!r}; use one of {PAD_MODES}")
        if self.precision not in PRECISIONS:
            raise HarnessError(f"unknown precision {self.precision!r}; use auto, fp32 or bf16")
        if self.test_corruption not in TEST_CORRUPTIONS:
            raise HarnessError(f"unknown test_corruption {self.test_corruption!r}; use one of {list(TEST_CORRUPTIONS)}")

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        if not d["test_corruption"]:  # the default leaves run ids of clean-test runs unchanged
            del d["test_corruption"]
        return json.dumps(d, sort_keys=True)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes``; unknown field names are an error listing the valid ones."""
        valid = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - valid
        if unknown:
            raise HarnessError(f"unknown training option(s) {sorted(unknown)}; valid options: {sorted(valid)}")
        return dataclasses.replace(self, **changes)


def default_model(image_size: int) -> str:
    """digits-size images (<= 16 px) -> ``digits-cnn``; <= 48 px -> ``fastnet``; else ``resnet18``."""
    if image_size <= 16:
        return "digits-cnn"
    if image_size <= 48:
        return "fastnet"
    return "resnet18"


def default_train_config(model: str, dataset: str = "", **overrides: Any) -> TrainConfig:
    """The model's defaults (``train_defaults`` of its registration), flips off for digit-like
    datasets, then ``overrides``."""
    cfg = TrainConfig(**model_info(model).train_defaults)  # unknown names list the valid ones
    if any(dataset.lower().startswith(d) for d in NO_FLIP_DATASETS):
        cfg = cfg.replace(hflip=False)
    return cfg.replace(**overrides)


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier of the peak learning rate at optimiser step ``step`` of ``total``: linear
    warm-up over ``warmup`` steps, then ``schedule`` (cosine or triangle to 0, or constant)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    rest = max(1, total - warmup)
    t = min(1.0, (step - warmup) / rest)
    if schedule == "triangle":
        return max(0.0, 1.0 - t)
    return 0.5 * (1.0 + math.cos(math.pi * t))


class LrSchedule:
    """The learning rate of one run's optimiser steps within a stage (restarted by :meth:`restart`)."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.step = 0  # optimiser steps taken in this stage

    def restart(self) -> None:
        self.step = 0

    def lr(self, total_steps: int, steps_per_epoch: int) -> float:
        """The learning rate of the next step (``warmup_epochs`` counted in ``steps_per_epoch``)."""
        warm = int(round(self.cfg.warmup_epochs * steps_per_epoch))
        return self.cfg.lr * lr_factor(self.step, total_steps, warm, self.cfg.schedule)

    def advance(self) -> None:
        self.step += 1


__all__ = [
    "NO_FLIP_DATASETS",
    "PRECISIONS",
    "SCHEDULES",
    "LrSchedule",
    "TrainConfig",
    "default_model",
    "default_train_config",
    "lr_factor",
]
