"""What must hold before a GPU is lent (issue 16), checked on the CPU.

* compiled packed runs compute their OWN networks: the split form's rows equal ``run_one``'s
  (compiled) rows, and the fused form packs (no fallback) within the fused tolerance;
* a packed sweep frees each group (trainers, grouped network) before the next one starts;
* the harness imports and reads a built folder without HF ``datasets`` (absent on the GPU
  machine);
* Ray reuses its worker processes for GPU runs; the image cache is bounded in bytes;
* per-step random draws reach the device without a blocking copy (a dispatch trace on the
  ``meta`` device, which stands in for CUDA: any copy from the host is visible there);
* compiled networks keep compiling past dynamo's default limit of 8 variants;
* ``benchmarks/gpu_check.py --device cpu --tiny`` writes every section's JSON.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from cnlbench.harness import data as harness_data
from cnlbench.harness.backends import RayBackend, ray_task_options
from cnlbench.harness.data import HostSplit, TaskData
from cnlbench.harness.engine import RunSpec, Trainer, compile_network, default_train_config, run_one
from cnlbench.harness.methods.base import Batch, MethodSetup, get_method
from cnlbench.harness.methods.mentormix import mentormix_lambdas
from cnlbench.harness.methods.mixup import mix_batch
from cnlbench.harness.models.grouped import GroupedNetwork, group_models
from cnlbench.harness.multirun import TrainingGroup, iter_group_rows, run_group

REPO = Path(__file__).resolve().parents[2]


def _spec(digits_dir: Path, seed: int, *, epochs: int = 1, compile: bool = False, method: str = "ce") -> RunSpec:
    return RunSpec(dataset_dir=str(digits_dir), config="sym-40", method=method, seed=seed, model="digits-cnn",
                   train=default_train_config("digits-cnn", "digits", epochs=epochs, compile=compile), device="cpu")


def _outcome(row: dict[str, Any]) -> dict[str, Any]:
    """What a run computed: every metric and the per-epoch curves, not its timing or packing."""
    curves = json.loads(row["curves"])
    for key in ("epoch_time_s", "packed_runs", "group_wall_time_s"):
        curves.pop(key, None)
    metrics = {k: v for k, v in row.items() if isinstance(v, float) and not k.endswith("time_s")}
    return json.loads(json.dumps({"metrics": metrics, "curves": curves}).replace("NaN", '"nan"'))


# --------------------------------------------------------------------------------------------
# 1. packing under compile


@pytest.fixture(scope="module")
def compiled_singles(digits_dir) -> list[dict[str, Any]]:
    return [run_one(_spec(digits_dir, s, compile=True)) for s in (0, 1)]


def test_compiled_split_packing_equals_compiled_single_runs(digits_dir, compiled_singles) -> None:
    """Before: every trainer got the same cached compiled network (the last seed's) and the
    grouped copies called it, so the runs were identical and untrained, marked ok."""
    rows = run_group([_spec(digits_dir, s, compile=True) for s in (0, 1)], impl="split")
    assert [json.loads(r["curves"])["packed_runs"] for r in rows] == [2, 2]
    for packed, single in zip(rows, compiled_singles):
        assert packed["status"] == single["status"] == "ok", packed["error"]
        assert _outcome(packed) == _outcome(single)
    assert rows[0]["test_acc_best_val"] != rows[1]["test_acc_best_val"]  # two seeds, two runs


def test_compiled_fused_packing_packs_and_matches_single_runs(digits_dir, compiled_singles) -> None:
    """Before: the fused copy called the compiled SINGLE network on R*C channels, every group
    failed and fell back to single runs (packed_runs 1)."""
    rows = run_group([_spec(digits_dir, s, compile=True) for s in (0, 1)], impl="grouped")
    for packed, single in zip(rows, compiled_singles):
        assert packed["status"] == "ok", packed["error"]
        assert json.loads(packed["curves"])["packed_runs"] == 2
        # the fused form's tolerance (test_multirun): 1% of the 355 test images
        assert abs(packed["test_acc_final"] - single["test_acc_final"]) <= 0.01 + 1e-6


# --------------------------------------------------------------------------------------------
# 2. finished groups are freed


def _live_packing_objects() -> int:
    # without gc.collect(): an object kept only by a reference cycle counts (it would hold its
    # device memory until the collector happens to run)
    kinds = (Trainer, TrainingGroup, GroupedNetwork)
    return sum(1 for o in gc.get_objects() if type(o) in kinds)


def test_no_trainer_outlives_its_group(digits_dir) -> None:
    """Before: 2, 4, ... trainers (with their grouped network, momentum and padded images)
    stayed alive after groups 1, 2, ... until the sweep ended."""
    gc.collect()
    base = _live_packing_objects()
    seen = []
    for _, row in iter_group_rows([_spec(digits_dir, s, method=m) for s in range(3) for m in ("ce", "mixup")],
                                  max_runs=2):
        assert row["status"] == "ok", row["error"]
        seen.append(json.loads(row["curves"])["packed_runs"])
        assert _live_packing_objects() <= base
    assert seen == [2] * 6


# --------------------------------------------------------------------------------------------
# 3. no HF datasets on the GPU machine

_NO_DATASETS = """
import sys

class Refuse:  # as on a machine without HF datasets
    def find_spec(self, name, path=None, target=None):
        if name == "datasets" or name.startswith("datasets."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, Refuse())
import cnlbench.harness.engine, cnlbench.harness.multirun, cnlbench.harness.backends, cnlbench.harness.sweep
from cnlbench.harness.data import load_task

task = load_task(sys.argv[1], "sym-40", "cpu")
print(len(task.train), len(task.test), "datasets" in sys.modules)
"""


def test_harness_imports_and_reads_a_build_without_hf_datasets(digits_dir) -> None:
    out = subprocess.run([sys.executable, "-c", _NO_DATASETS, str(digits_dir)], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    n_train, n_test, imported = out.stdout.split()
    assert int(n_train) > 0 and int(n_test) > 0 and imported == "False"


# --------------------------------------------------------------------------------------------
# 4. Ray workers serve many runs; the image cache is bounded in bytes


def test_ray_gpu_tasks_reuse_their_worker() -> None:
    opts = ray_task_options(0.25)
    assert opts["max_calls"] == 0 and opts["num_gpus"] == 0.25 and opts["num_cpus"] == 1
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # a declared (not real) GPU: Ray schedules by resources, the tasks never touch it
    ray.init(num_cpus=1, num_gpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        rows = list(RayBackend(gpus_per_run=0.5).map(list(range(4)), fn=lambda spec: {"pid": os.getpid()}))
    finally:
        ray.shutdown()
    # Ray's default for GPU tasks (max_calls=1) gave four processes
    assert len({r["pid"] for r in rows}) == 1


def _host(n: int, seed: int) -> HostSplit:
    rng = np.random.default_rng(seed)
    return HostSplit(rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8), rng.integers(0, 3, n))


def test_image_cache_is_bounded_in_bytes(monkeypatch) -> None:
    monkeypatch.setattr(harness_data, "IMAGE_CACHE_BYTES", 3 * 100 * 64)  # three 100-image splits
    monkeypatch.setattr(harness_data, "_IMAGE_CACHE", type(harness_data._IMAGE_CACHE)())
    tasks = [TaskData.from_host(dataset="d", config=f"c{i}", class_names=["a", "b", "c"], train=_host(100, 3 * i),
                                validation=_host(100, 3 * i + 1), test=_host(100, 3 * i + 2), device="cpu")
             for i in range(3)]
    cached = list(harness_data._IMAGE_CACHE.values())
    assert sum(t.nbytes for t in cached) <= harness_data.IMAGE_CACHE_BYTES
    assert [t.data_ptr() for t in cached] == [tasks[-1].train.images.data_ptr(), tasks[-1].validation.images.data_ptr(),
                                              tasks[-1].test.images.data_ptr()]
    big = _host(1000, 99)  # larger than the bound: kept alone (the newest entry always is)
    TaskData.from_host(dataset="d", config="big", class_names=["a", "b", "c"], train=big, validation=big, test=big,
                       device="cpu")
    assert len(harness_data._IMAGE_CACHE) == 1


# --------------------------------------------------------------------------------------------
# 5. random draws reach the device without a blocking copy


class _CopyTrace(TorchDispatchMode):
    """Every operation that moves a tensor from the host to another device."""

    def __init__(self) -> None:
        super().__init__()
        self.copies: list[tuple[str, dict[str, Any]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        src = [a.device.type for a in args if isinstance(a, torch.Tensor)]
        dst = kwargs.get("device")
        if "cpu" in src and dst is not None and torch.device(dst).type != "cpu":
            self.copies.append((str(func), dict(kwargs)))
        return func(*args, **kwargs)


def test_method_draws_are_copied_without_blocking() -> None:
    """``torch.as_tensor(array, device=...)`` was a blocking (pageable) copy every step."""
    dev = torch.device("meta")
    setup = MethodSetup(num_classes=10, num_train=64, epochs=2, steps_per_epoch=4, device=dev, seed=3)
    method = get_method("mixup")(setup)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).to(dev)
    batch = Batch(x=torch.zeros(16, 1, 8, 8, device=dev), y=torch.zeros(16, dtype=torch.long, device=dev),
                  index=torch.arange(16, device=dev), epoch=0, step=1, total_steps=8)
    with _CopyTrace() as trace:
        method.training_step(batch, [net])
        mentormix_lambdas(torch.zeros(16, device=dev), np.random.default_rng(0), 2.0)
    assert len(trace.copies) == 2
    assert all(kw.get("non_blocking") is True for _, kw in trace.copies), trace.copies


def test_method_draws_keep_the_numpy_stream() -> None:
    _, _, y_b, lam = mix_batch(torch.arange(6.0).reshape(6, 1), torch.arange(6), np.random.default_rng(5), 1.0)
    ref = np.random.default_rng(5)
    assert lam == float(ref.beta(1.0, 1.0))
    assert y_b.tolist() == ref.permutation(6).tolist()
    draws = np.random.default_rng(1).beta(2.0, 2.0, size=4)
    lam_t = mentormix_lambdas(torch.tensor([1.0, 0.0, 1.0, 0.0]), np.random.default_rng(1), 2.0)
    expected = np.maximum(draws, 1 - draws).astype(np.float32)
    assert lam_t.tolist() == [expected[0], 1 - expected[1], expected[2], 1 - expected[3]]


# --------------------------------------------------------------------------------------------
# 6. compiled networks keep compiling past dynamo's default limit


class _Tiny(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.fc = nn.Linear(width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).relu()


def test_compiled_variants_past_eight_are_still_compiled() -> None:
    """Each width is one variant of the same code object; the default limit (8) ran the 9th
    and later ones eager, with one log line."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    for width in range(1, 11):
        net = compile_network(_Tiny(width))
        net(torch.ones(3, width))
        net(torch.ones(3, width))  # the same variant again: no new graph
    assert counters["stats"]["unique_graphs"] == 10
    torch._dynamo.reset()


def test_grouped_copies_do_not_call_the_compiled_source() -> None:
    nets = [compile_network(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)))
            for _ in range(2)]
    for impl in ("split", "grouped"):
        grouped = group_models(nets, impl)
        xs = [torch.randn(4, 1, 6, 6) for _ in nets]
        out = grouped.forward_runs(xs)
        for p in grouped.parameters():
            p.data.zero_()
        assert out.shape == (4, 2, 3)
        assert torch.count_nonzero(grouped.forward_runs(xs)) == 0  # computed with the copy's weights
    torch._dynamo.reset()


# --------------------------------------------------------------------------------------------
# the GPU check itself, at tiny sizes on the CPU


def test_gpu_check_runs_on_cpu_at_tiny_sizes(tmp_path) -> None:
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--tiny",
                          "--out", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, timeout=900,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    sections = summary["sections"]
    assert set(sections) >= {"environment", "packing_correctness", "throughput", "in_step_syncs",
                             "memory_across_groups", "memory_84px", "compile", "determinism", "harness_ratio"}
    for name, info in sections.items():
        assert info["status"] in ("ok", "skipped"), (name, info)
        data = json.loads((tmp_path / f"{name}.json").read_text())
        assert data["section"] == name
    correct = json.loads((tmp_path / "packing_correctness.json").read_text())
    assert correct["passed"] is True
    assert json.loads((tmp_path / "determinism.json").read_text())["identical"] is True
