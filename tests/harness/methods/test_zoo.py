"""Every registered method trains one short epoch (per stage) on the digits default through
the engine and returns a finite accuracy row."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnlbench.harness.engine import RunSpec, Trainer, default_train_config, run_one
from cnlbench.harness.methods import get_method, method_names

CONFIG = "sym-40"  # a synthetic level with a known T (forward/backward need it)

pytestmark = pytest.mark.slow


def _train_cfg():
    return default_train_config("digits-cnn", "digits", epochs=1, train_curves=False)


@pytest.mark.parametrize("name", method_names())
def test_every_method_runs_one_epoch(name, digits_dir):
    spec = RunSpec(dataset_dir=str(digits_dir), config=CONFIG, method=name, seed=0,
                   model="digits-cnn", train=_train_cfg(), device="cpu")
    row = run_one(spec)
    assert row["status"] == "ok", row["error"]
    for col in ("test_acc_final", "test_acc_best_val", "val_acc_best"):
        assert math.isfinite(row[col]) and 0.0 <= row[col] <= 1.0, (col, row[col])
    assert row["method"] == name
    if name == "dac":
        assert 0.0 <= row["abstain_coverage"] <= 1.0
    else:
        assert math.isnan(row["abstain_coverage"])


def test_s_model_channel_is_optimised_by_the_engine(digits_dir):
    """The engine must optimise ``Method.extra_parameters()`` (the S-model's W)."""
    from cnlbench.harness.data import load_task

    task = load_task(digits_dir, CONFIG, "cpu")
    trainer = Trainer(task, get_method("s-model"), {}, "digits-cnn", _train_cfg(), 0)
    before = trainer.method.W.detach().clone()
    trainer.fit()
    assert not torch.equal(before, trainer.method.W.detach())
    assert np.isfinite(trainer.method.noise_transition()).all()
