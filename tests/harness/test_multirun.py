"""Packed runs: a run's numbers must not change when it shares the device.

On CPU ``run_group``'s default (the ``split`` grouped network) calls each run's own network on
its own inputs, so a packed run computes bit for bit what ``run_one`` computes: rows are
compared EXACTLY (minus wall times). The fused ``grouped`` form (the CUDA path) sums
convolution and matmul products in another order; with it, accuracies must agree within one
example of the split (measured: 0 or 1 test example after 2 digits epochs) and parameters after
one epoch within 1e-4 relative (measured ~1e-6: fp32 rounding of ~1e-7 per step, grown by 8 SGD
steps). With a fixed group size and slot, the fused form is also exactly independent of WHICH
partners share the device (same kernels, same shapes; no operation mixes runs).
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

import pytest
import torch

from cnlbench.harness import engine, identity, multirun
from cnlbench.harness.data import load_task
from cnlbench.harness.engine import RunSpec, Trainer, default_train_config, run_one
from cnlbench.harness.methods.base import Batch, StepOutput, get_method
from cnlbench.harness.methods.ce import CrossEntropy
from cnlbench.harness.models.grouped import ungroup
from cnlbench.harness.multirun import PackedBackend, TrainingGroup, packable_method, plan_groups, run_group
from cnlbench.harness.store import COLUMNS

EPOCHS = 2
TRIO = [("sym-00", "ce", 0), ("sym-40", "gce", 1), ("sym-40", "mixup", 2)]


def _spec(digits_dir, config: str, method: str, seed: int, epochs: int = EPOCHS, **train: Any) -> RunSpec:
    return RunSpec(dataset_dir=str(digits_dir), config=config, method=method, seed=seed, model="digits-cnn",
                   train=default_train_config("digits-cnn", "digits", epochs=epochs, **train), device="cpu")


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    """The row without what legitimately differs between packed and single: wall times and
    the packing note. NaN is replaced by a marker so that equal rows compare equal."""
    row = dict(row)
    row.pop("wall_time_s")
    curves = json.loads(row.pop("curves")) if row["curves"] else {}
    for key in ("epoch_time_s", "packed_runs", "group_wall_time_s"):
        curves.pop(key, None)
    row["curves"] = curves
    return json.loads(json.dumps(row, default=str).replace("NaN", '"nan"'))


@pytest.fixture(scope="module")
def trio_single(digits_dir) -> list[dict[str, Any]]:
    return [run_one(_spec(digits_dir, *t)) for t in TRIO]


@pytest.fixture(scope="module")
def trio_packed(digits_dir) -> list[dict[str, Any]]:
    return run_group([_spec(digits_dir, *t) for t in TRIO])


def test_packed_rows_equal_single_rows_exactly(trio_single, trio_packed) -> None:
    assert len(trio_packed) == 3
    for packed, single in zip(trio_packed, trio_single):
        assert packed["status"] == "ok", packed["error"]
        assert set(packed) == set(COLUMNS)
        assert json.loads(packed["curves"])["packed_runs"] == 3
        assert _comparable(packed) == _comparable(single)
        assert packed["run_id"] == single["run_id"]


def test_packed_wall_time_is_the_groups_share(trio_packed) -> None:
    group = json.loads(trio_packed[0]["curves"])["group_wall_time_s"]
    for row in trio_packed:
        assert row["wall_time_s"] == pytest.approx(group / 3)


@pytest.mark.parametrize("impl", ["split", "grouped"])
def test_partners_do_not_change_a_run(digits_dir, impl) -> None:
    """The same run with other partners, group sizes and slots gives the same row. The fused
    form is compared at one group size and slot (its kernel choice may depend on R)."""
    a = _spec(digits_dir, "sym-40", "ce", 7)
    base = run_group([a, _spec(digits_dir, "sym-00", "ce", 0), _spec(digits_dir, "sym-40", "mixup", 2)], impl=impl)[0]
    others = [run_group([a, _spec(digits_dir, "sym-20", "gce", 5), _spec(digits_dir, "sym-80", "sce", 9)],
                        impl=impl)[0]]
    if impl == "split":
        others.append(run_group([_spec(digits_dir, "sym-20", "gce", 5), a], impl=impl)[1])
    for row in others:
        assert row["status"] == "ok", row["error"]
        assert _comparable(row) == _comparable(base)


def test_fused_form_matches_single_runs_to_float_rounding(digits_dir, trio_single) -> None:
    """The fused form is the same computation summed in another order: after a few epochs the
    fp32 rounding differences move test accuracy by at most a few examples (1% of 355 here),
    the size of run-to-run differences of nondeterministic GPU kernels. Bit-identity with single
    runs is the split form's guarantee (test above)."""
    n_test = len(load_task(digits_dir, "sym-00", "cpu").test)
    packed = run_group([_spec(digits_dir, *t) for t in TRIO], impl="grouped")
    for p, s in zip(packed, trio_single):
        assert p["status"] == "ok", p["error"]
        assert abs(p["test_acc_final"] - s["test_acc_final"]) <= 0.01 + 1e-6, p["method"]
        assert n_test == 355
        assert len(json.loads(p["curves"])["val_acc"]) == EPOCHS


@pytest.mark.parametrize("impl,exact", [("split", True), ("grouped", False)])
def test_parameters_after_one_lockstep_epoch(make_digits_task, impl, exact) -> None:
    task = make_digits_task(noise=0.3, seed=0)
    cfg = default_train_config("digits-cnn", "digits", epochs=1)
    runs = [("ce", 0), ("gce", 1), ("mixup", 2)]
    singles = [Trainer(task, get_method(m), {}, "digits-cnn", cfg, s) for m, s in runs]
    packed = [Trainer(task, get_method(m), {}, "digits-cnn", cfg, s) for m, s in runs]
    group = TrainingGroup(packed, impl)
    total = singles[0].steps_this_epoch()
    for t in singles:
        t.train_epoch(0, 0, 0, total)
    results = group.lockstep_epoch({r: (0, 0, 0, total) for r in range(len(runs))})
    for r, t in enumerate(singles):
        state, ref = ungroup(group.net, r), t.nets[0].state_dict()
        for k in ref:
            if exact:
                assert torch.equal(state[k], ref[k]), k
            else:
                # fused grouped convolutions sum in another order: fp32 rounding (~1e-7) grows
                # through an epoch of SGD with momentum to ~1e-4 (mixup's mixed targets most)
                torch.testing.assert_close(state[k].float(), ref[k].float(), rtol=1e-3, atol=1e-4, msg=k)
        step, info = results[r]
        assert step == total and info["steps"] == total


def test_incompatible_and_unpackable_runs_fall_back_to_run_one(digits_dir) -> None:
    specs = [
        _spec(digits_dir, "sym-40", "ce", 3),
        _spec(digits_dir, "sym-40", "coteaching", 3),  # two networks: never packed
        _spec(digits_dir, "sym-40", "ce", 4, epochs=1),  # another schedule: its own group (of one)
        _spec(digits_dir, "sym-20", "gce", 3),
    ]
    assert not packable_method(get_method("coteaching"))
    groups, alone = plan_groups(specs)
    assert [[run.index for run in g] for g in groups] == [[0, 3]] and alone == [1, 2]
    rows = run_group(specs)
    assert [r["method"] for r in rows] == ["ce", "coteaching", "ce", "gce"]
    assert [json.loads(r["curves"])["packed_runs"] for r in rows] == [2, 1, 1, 2]
    for i in (1, 2):
        assert _comparable(rows[i]) == _comparable(run_one(specs[i]))


def test_max_runs_splits_groups(digits_dir) -> None:
    specs = [_spec(digits_dir, "sym-40", "ce", s) for s in range(5)]
    groups, alone = plan_groups(specs, max_runs=2)
    assert [len(g) for g in groups] == [2, 2] and alone == [4]
    with pytest.raises(Exception, match="max_runs=0"):
        plan_groups(specs, max_runs=0)


def test_engine_overrides_separate_groups(digits_dir) -> None:
    """ce-wd trains with another weight decay: it cannot share an optimiser step with ce."""
    specs = [_spec(digits_dir, "sym-40", m, 0) for m in ("ce", "ce-wd", "ce", "ce-wd")]
    groups, alone = plan_groups(specs)
    assert sorted(sorted(r.index for r in g) for g in groups) == [[0, 2], [1, 3]] and alone == []


class _NaNLater(CrossEntropy):
    """CE whose loss becomes NaN from the second epoch (a diverging run)."""

    name = "test-nan-later"

    def loss_from_logits(self, batch: Batch, logits: torch.Tensor) -> StepOutput:
        out = super().loss_from_logits(batch, logits)
        if batch.epoch >= 1:
            out.loss = out.loss * math.nan
        return out


class _Resets(CrossEntropy):
    """CE that re-initialises its network after the first epoch (not packable at run time)."""

    name = "test-resets"

    def end_epoch(self, epoch: int, hooks) -> None:
        if epoch == 0:
            hooks.reset_networks()


class _Snapshots(CrossEntropy):
    """CE that keeps the best-validation snapshot and restores it at the end (per-run hooks)."""

    name = "test-snapshots"
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, setup, **params) -> None:
        super().__init__(setup, **params)
        self.best, self.snap = -1.0, None

    def end_epoch(self, epoch: int, hooks) -> None:
        acc = hooks.last_validation["acc"]
        if acc > self.best:
            self.best, self.snap = acc, hooks.snapshot()
        if epoch == self.setup.epochs - 1:
            hooks.restore(self.snap)


@pytest.fixture
def extra_methods(monkeypatch):
    extra = {cls.name: cls for cls in (_NaNLater, _Resets, _Snapshots)}

    def lookup(name: str):
        return extra[name] if name in extra else get_method(name)

    monkeypatch.setattr(multirun, "get_method", lookup)
    monkeypatch.setattr(engine, "get_method", lookup)
    monkeypatch.setattr(identity, "get_method", lookup)  # run ids resolve their parameters
    return extra


def test_a_diverging_run_fails_alone(digits_dir, trio_single, extra_methods) -> None:
    specs = [_spec(digits_dir, *TRIO[0]), _spec(digits_dir, "sym-40", "test-nan-later", 5),
             _spec(digits_dir, *TRIO[2])]
    rows = run_group(specs)
    assert rows[1]["status"] == "failed" and "non-finite training loss in stage 0 epoch 1" in rows[1]["error"]
    assert json.loads(rows[1]["curves"])["packed_runs"] == 3
    for i in (0, 2):
        assert rows[i]["status"] == "ok"
        assert _comparable(rows[i]) == _comparable(trio_single[i])


def test_a_run_that_resets_its_network_is_rerun_alone(digits_dir, extra_methods) -> None:
    specs = [_spec(digits_dir, "sym-40", "test-resets", 1), _spec(digits_dir, "sym-40", "ce", 2)]
    rows = run_group(specs)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert json.loads(rows[0]["curves"])["packed_runs"] == 1
    assert _comparable(rows[0]) == _comparable(run_one(specs[0]))
    assert _comparable(rows[1]) == _comparable(run_one(specs[1]))


def test_snapshot_and_restore_act_on_the_run_alone(digits_dir, extra_methods) -> None:
    specs = [_spec(digits_dir, "sym-40", "test-snapshots", 1, epochs=3), _spec(digits_dir, "sym-00", "ce", 2, epochs=3)]
    rows = run_group(specs)
    for row, spec in zip(rows, specs):
        assert row["status"] == "ok", row["error"]
        assert _comparable(row) == _comparable(run_one(spec))


def test_in_memory_tasks_and_failed_loads(make_digits_task, digits_dir) -> None:
    task = make_digits_task(noise=0.3, seed=0)
    specs = [RunSpec(dataset_dir="", config="sym-30", method=m, seed=s, model="digits-cnn",
                     train=default_train_config("digits-cnn", "digits", epochs=1), device="cpu")
             for m, s in (("ce", 0), ("sce", 1))]
    missing = _spec(digits_dir, "sym-99", "ce", 0)
    rows = run_group([*specs, missing], tasks={"sym-30": task})
    for row, spec in zip(rows, specs):
        assert _comparable(row) == _comparable(run_one(spec, task=task))
    assert rows[2]["status"] == "failed" and "sym-99" in rows[2]["error"]


def test_packed_backend_yields_every_row(digits_dir) -> None:
    specs = [_spec(digits_dir, "sym-40", "ce", s, epochs=1) for s in range(3)]
    rows = list(PackedBackend(max_runs=2).map(specs))
    assert sorted(r["seed"] for r in rows) == [0, 1, 2]
    assert sorted(json.loads(r["curves"])["packed_runs"] for r in rows) == [1, 2, 2]


def test_packing_does_not_touch_global_rng(digits_dir) -> None:
    state = torch.random.get_rng_state()
    run_group([_spec(digits_dir, "sym-40", "ce", s, epochs=1) for s in range(2)])
    assert torch.equal(state, torch.random.get_rng_state())
