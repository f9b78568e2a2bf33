"""The run engine: determinism, model selection on NOISY validation, failed rows, hooks."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from cnlbench.errors import HarnessError
from cnlbench.harness import engine
from cnlbench.harness.models.layers import SeededDropout
from cnlbench.harness.engine import RunSpec, TrainConfig, Trainer, default_train_config, run_one
from cnlbench.harness.methods.base import Batch, Method, StepOutput, get_method
from cnlbench.harness.store import COLUMNS


@pytest.fixture(scope="module")
def task(make_digits_task):
    return make_digits_task(noise=0.3, seed=0)


def _spec(method: str = "ce", epochs: int = 2, seed: int = 0, **train: Any) -> RunSpec:
    return RunSpec(dataset_dir="", config="sym-30", method=method, seed=seed, model="digits-cnn",
                   train=default_train_config("digits-cnn", "digits", epochs=epochs, **train), device="cpu")


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row.pop("wall_time_s")
    curves = json.loads(row.pop("curves"))
    curves.pop("epoch_time_s")
    row["curves"] = curves
    return row


def test_row_has_exactly_the_store_columns(task) -> None:
    row = run_one(_spec(epochs=1), task=task)
    assert set(row) == set(COLUMNS)
    assert row["status"] == "ok", row["error"]
    assert row["ece_bins"] == 15 and 0 <= row["ece"] <= 1 and 0 <= row["overconfidence"] <= row["ece"] + 1e-12
    assert 0 <= row["auroc_noise"] <= 1
    assert math.isnan(row["abstain_coverage"])
    curves = json.loads(row["curves"])
    for key in ("train_acc_clean", "train_acc_noisy_given", "train_acc_noisy_true", "val_acc", "test_acc", "train_loss"):
        assert len(curves[key]) == 1, key


def test_same_run_twice_gives_identical_rows_on_digits_build(digits_dir) -> None:
    spec = RunSpec(dataset_dir=str(digits_dir), config="sym-40", method="ce", seed=3, model="digits-cnn",
                   train=default_train_config("digits-cnn", "digits", epochs=2), device="cpu")
    a, b = run_one(spec), run_one(spec)
    assert a["status"] == "ok", a["error"]
    assert _comparable(a) == _comparable(b)
    assert len(a["manifest_fingerprint"]) == 64
    assert a["run_id"] == RunSpec(**{**spec.__dict__, "fingerprint": a["manifest_fingerprint"]}).run_id
    assert a["dataset"] == "digits" and a["noise_kind"] == "sym" and a["level"] == pytest.approx(0.4)
    c = run_one(RunSpec(**{**spec.__dict__, "seed": 4}))
    assert c["test_acc_final"] != a["test_acc_final"] or c["curves"] != a["curves"]


def test_training_does_not_touch_global_rng(task) -> None:
    state = torch.random.get_rng_state()
    run_one(_spec(epochs=1), task=task)
    assert torch.equal(state, torch.random.get_rng_state())


def test_learns_on_clean_digits(make_digits_task) -> None:
    row = run_one(_spec(epochs=8), task=make_digits_task(noise=0.0))
    assert row["status"] == "ok" and row["test_acc_final"] > 0.85


def test_selection_uses_noisy_validation_earliest_best(task, monkeypatch) -> None:
    # scripted evaluations: validation peaks (tied) at epochs 1 and 3; test is highest at epoch 2
    val = [0.3, 0.6, 0.5, 0.6]
    test = [0.31, 0.52, 0.95, 0.70]
    calls = {"validation": 0, "test": 0}
    real = Trainer.split_eval

    def scripted(self, split):
        logits, probs, acc, nll = real(self, split)
        i = calls[split]
        calls[split] += 1
        seq = val if split == "validation" else test
        return logits, probs, seq[min(i, len(seq) - 1)], nll

    monkeypatch.setattr(Trainer, "split_eval", scripted)
    row = run_one(_spec(epochs=4), task=task)
    assert row["status"] == "ok", row["error"]
    assert row["best_epoch"] == 1
    assert row["val_acc_best"] == 0.6 and row["test_acc_best_val"] == 0.52  # not the test peak 0.95
    assert row["test_acc_final"] == 0.70


class _NaNMethod(Method):
    name = "nan-after-one-epoch"

    def loss_from_logits(self, batch: Batch, logits: torch.Tensor) -> StepOutput:
        loss = F.cross_entropy(logits, batch.y)
        return StepOutput(loss * (math.nan if batch.epoch >= 1 else 1.0), logits)


def test_nan_loss_gives_a_failed_row(task, monkeypatch) -> None:
    monkeypatch.setattr(engine, "get_method", lambda name: _NaNMethod)
    row = run_one(_spec(method="nan-after-one-epoch", epochs=3), task=task)
    assert row["status"] == "failed"
    assert "non-finite training loss" in row["error"] and "epoch 1" in row["error"]
    assert math.isnan(row["test_acc_final"]) and row["run_id"] and row["wall_time_s"] > 0


def test_exception_gives_a_failed_row(task) -> None:
    row = run_one(_spec(method="forward"), task=task)  # needs T; the in-memory task has none
    assert row["status"] == "failed" and "transition matrix" in row["error"]


class _HookProbe(Method):
    """CE that exercises every hook: mask to even positions, snapshot/restore, reset."""

    name = "hook-probe"
    log: dict[str, Any] = {}

    def begin_stage(self, stage, hooks) -> None:
        if stage == 0:
            mask = torch.zeros(self.setup.num_train, dtype=torch.bool)
            mask[::2] = True
            hooks.set_train_mask(mask)

    def loss_from_logits(self, batch: Batch, logits: torch.Tensor) -> StepOutput:
        _HookProbe.log.setdefault("odd_seen", False)
        if bool((batch.index % 2 == 1).any()):
            _HookProbe.log["odd_seen"] = True
        return StepOutput(F.cross_entropy(logits, batch.y), logits)

    def end_epoch(self, epoch, hooks) -> None:
        probs = hooks.predict_train(0)
        losses = hooks.train_losses(0)
        assert probs.shape == (self.setup.num_train, self.setup.num_classes)
        assert torch.allclose(probs.sum(1), torch.ones(len(probs)), atol=1e-5)
        assert losses.shape == (self.setup.num_train,)
        assert set(hooks.last_validation) >= {"acc", "loss"}
        snap = hooks.snapshot()
        hooks.reset_networks()
        assert not torch.allclose(hooks.train_losses(0), losses)
        hooks.restore(snap)
        assert torch.allclose(hooks.train_losses(0), losses)
        _HookProbe.log["ok"] = True


def test_hooks(task, monkeypatch) -> None:
    monkeypatch.setattr(engine, "get_method", lambda name: _HookProbe)
    _HookProbe.log = {}
    row = run_one(_spec(method="hook-probe", epochs=1), task=task)
    assert row["status"] == "ok", row["error"]
    assert _HookProbe.log == {"odd_seen": False, "ok": True}


def test_engine_overrides_reach_the_optimiser_and_model(task) -> None:
    cfg = default_train_config("digits-cnn", "digits", epochs=1)
    t = Trainer(task, get_method("ce-dropout"), {}, "digits-cnn", cfg, seed=0)
    assert t.cfg.dropout == 0.5
    assert any(isinstance(m, SeededDropout) and m.p == 0.5 for m in t.nets[0].modules())
    t = Trainer(task, get_method("ce-wd"), {}, "digits-cnn", cfg, seed=0)
    assert t.executor.opt.param_groups[0]["weight_decay"] == 5e-3


def test_two_networks_and_extra_outputs(task) -> None:
    cfg = default_train_config("digits-cnn", "digits", epochs=1)
    t = Trainer(task, get_method("coteaching"), {}, "digits-cnn", cfg, seed=0)
    assert len(t.nets) == 2
    w0, w1 = (next(n.parameters()) for n in t.nets)
    assert not torch.equal(w0, w1)
    t = Trainer(task, get_method("dac"), {}, "digits-cnn", cfg, seed=0)
    assert t.predict_train(0).shape == (len(task.train), 11)
    row = run_one(_spec(method="dac", epochs=1), task=task)
    assert row["status"] == "ok" and 0 <= row["abstain_coverage"] <= 1


def test_label_smoothing_is_not_an_engine_option() -> None:
    with pytest.raises(HarnessError, match="label-smoothing"):
        TrainConfig(label_smoothing=0.1)
    with pytest.raises(HarnessError, match="valid options"):
        TrainConfig().replace(learning_rate=0.1)


def test_run_id_depends_on_every_identity_field() -> None:
    base = _spec()
    ids = {base.run_id}
    for change in ({"seed": 1}, {"method": "mixup"}, {"config": "sym-40"}, {"fingerprint": "x"},
                   {"method_params": {"alpha": 0.2}}, {"train": base.train.replace(epochs=3)}):
        ids.add(RunSpec(**{**base.__dict__, **change}).run_id)
    assert len(ids) == 7
