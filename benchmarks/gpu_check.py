"""One command that checks every CUDA-dependent path of the harness on a lent GPU machine.

    python3 benchmarks/gpu_check.py --out DIR                        # CUDA: < 8 minutes on an H200
    python3 benchmarks/gpu_check.py --device cpu --tiny --out DIR    # the same sections at toy sizes

Run from the repository root (the repository is put on ``sys.path``; nothing is installed). It
needs torch, numpy, pyarrow, Pillow and scikit-learn (the digits images), NOT HF ``datasets``,
and no network. Each section writes ``DIR/<section>.json`` as soon as it ends (long sections
also while they run), and ``DIR/summary.json`` after every section: a section that fails
records its error and the next one runs. A time budget (``--budget-s``) skips what no longer
fits; ``compile`` and ``throughput`` stop adding cells past their share of it. Sections, in the
order they run:

* ``environment``: versions, device, the harness's import time (and that it did not import HF
  ``datasets``), which images (real CIFAR-10 when ``--cifar`` holds its Parquet files, else
  synthetic uint8 images of the same shape: throughput does not need real images, and the
  synthetic ones carry a class-dependent pattern so that accuracies mean something);
* ``packing_correctness``: three runs (ce, gce, mixup) trained alone (``run_one``), packed
  fused and packed split (``run_group``): every packed run must pack (no fallback) and agree
  with its single run in final test accuracy within :data:`ACC_TOLERANCE` (a fraction of the
  test set); bit-identity is reported, not required (cuDNN chooses kernels);
* ``in_step_syncs``: per training step, device scalars read on the host (``.item()``,
  ``bool()``), device-to-host copies and blocking host-to-device copies, from a dispatch trace
  of one epoch (packed ce, gce, mixup; single ce, mentormix); on CUDA also the warnings of
  ``torch.cuda.set_sync_debug_mode``; passes with no blocking host-to-device copy;
* ``memory_across_groups``: device memory and live trainers after each packed group of a sweep
  (a finished group must be freed);
* ``memory_84px``: peak memory of R=16 packed resnet18 runs at 84x84 (Mini-ImageNet's shape),
  split into the R padded image copies and the rest, extrapolated to 50,000 train images;
* ``determinism``: the same spec twice (single and packed): identical rows? On CUDA also in a
  child process with deterministic algorithms on (``--deterministic``);
* ``harness_ratio``: the harness's epoch loop vs a conventional DataLoader loop
  (``benchmarks/harness_throughput.py``);
* ``compile``: compiled fused networks at R = 1, 2, 4, 8, 16, trained and evaluated (10
  variants of one code object: graphs, graph breaks, recompiles; none may run eager), compiled
  packed runs vs compiled single runs, compiled vs eager fused epoch time;
* ``throughput``: images/s per model and R, fused vs split vs sequential, without and with
  ``torch.backends.cudnn.benchmark``, peak memory and GPU utilisation
  (``benchmarks/multirun_throughput.py``'s timers).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
import warnings
from argparse import Namespace
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "benchmarks"):  # the working tree's cnlbench, and the sibling benchmarks
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

#: Largest |packed - single| final test accuracy accepted, as a fraction of the test set: the
#: fused form sums in another order, bf16 autocast rounds, and cuDNN kernels are not
#: deterministic, so a packed run drifts from its single run as two runs of one spec do.
ACC_TOLERANCE = 0.02
#: Train images of Red Mini-ImageNet (84x84), for the memory extrapolation.
MINI_IMAGENET_TRAIN = 50_000

# Sizes per mode. "full": the CUDA check (< 8 minutes on an H200); "tiny": seconds on a CPU.
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "correct_cases": [("digits-cnn", "digits", 8, None, 8), ("fastnet", "cifar", 32, 5120, 4)],
        "throughput": [("digits-cnn", 8, 1, "digits", 128, [1, 4, 16]), ("fastnet", 32, 3, "cifar", 512, [1, 4, 16]),
                       ("preact-resnet18", 32, 3, "cifar", 128, [1, 4, 8]), ("resnet18", 84, 3, "synthetic", 128, [1, 4])],
        "steps": 10, "repeats": 2,
        "sync_model": ("fastnet", 32, 3, 256, 8),  # model, size, channels, batch, steps
        "groups": ("fastnet", 32, 4096, 4, 3),  # model, size, train images, R, groups
        "px84": ("resnet18", 16, 2048, 128),  # model, R, train images, batch
        "determinism": ("fastnet", 32, 4096, 2),  # model, size, train images, epochs
        "ratio": [("digits-cnn", 8, 1, "digits", 128), ("fastnet", 32, 3, "cifar", 512)],
        "ratio_args": {"steps": 4, "windows": 3, "workers": 4},
        "compile_runs": [1, 2, 4, 8, 16], "compile_packed": True, "compile_timing": ("fastnet", 32, 8, 512, 10),
        "n_eval": 1000,
    },
    "tiny": {
        "correct_cases": [("digits-cnn", "digits", 8, None, 2)],
        "throughput": [("digits-cnn", 8, 1, "digits", 32, [1, 2]), ("fastnet", 32, 3, "cifar", 16, [2])],
        "steps": 2, "repeats": 1,
        "sync_model": ("digits-cnn", 8, 1, 32, 2),
        "groups": ("digits-cnn", 8, 128, 2, 2),
        "px84": ("resnet18", 2, 16, 8),
        "determinism": ("digits-cnn", 8, 256, 1),
        "ratio": [("digits-cnn", 8, 1, "digits", 32)],
        "ratio_args": {"steps": 2, "windows": 1, "workers": 0},
        # compiled packed vs single runs: tests/harness/test_gpu_ready.py checks them on the CPU
        "compile_runs": [2], "compile_packed": False, "compile_timing": None,
        "n_eval": 128,
    },
}
SECTIONS = ("environment", "packing_correctness", "in_step_syncs", "memory_across_groups", "memory_84px",
            "determinism", "harness_ratio", "compile", "throughput")
#: Share of the time budget a section may use before it stops adding cells (throughput, compile).
SECTION_SHARE = {"compile": 0.35, "throughput": 0.45}


# --------------------------------------------------------------------------------------------
# Output


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if np.isfinite(f) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    return str(v)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic: a temporary sibling, then ``os.replace`` (a killed run leaves the last version)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(_jsonable(data), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class Check:
    """Runs sections in order under one time budget; every section's JSON lands on its own."""

    def __init__(self, args: Namespace):
        self.args = args
        self.out: Path = args.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = args.device
        self.cuda = args.device.startswith("cuda")
        self.size = SIZES["tiny" if args.tiny else "full"]
        self.t_start = time.perf_counter()
        self.summary: dict[str, Any] = {"command": sys.argv, "device": args.device, "tiny": args.tiny,
                                        "budget_s": args.budget_s, "sections": {}}
        self.images_used: dict[str, str] = {}

    def remaining(self) -> float:
        return self.args.budget_s - (time.perf_counter() - self.t_start)

    def section_deadline(self, name: str) -> float:
        """perf_counter time after which a section stops adding cells."""
        share = SECTION_SHARE.get(name)
        allowance = self.remaining() if share is None else min(self.remaining(), share * self.args.budget_s)
        return time.perf_counter() + allowance

    def run(self, name: str, fn: Callable[["Check", Callable[[dict[str, Any]], None]], dict[str, Any]]) -> None:
        path = self.out / f"{name}.json"
        t0 = time.perf_counter()

        def emit(partial: dict[str, Any]) -> None:  # what the section has so far
            write_json(path, {**partial, "section": name, "status": "running", "wall_s": time.perf_counter() - t0})

        if self.remaining() <= 0:
            data: dict[str, Any] = {"status": "skipped", "reason": "time budget spent"}
        else:
            try:
                data = fn(self, emit)
                data.setdefault("status", "ok")
            except Exception as exc:  # recorded; the next section still runs
                data = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc()[-6000:]}
        try:  # free what the section held; a broken CUDA context is recorded, not raised
            gc.collect()
            if self.cuda:
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
        except Exception as exc:
            data["cleanup_error"] = f"{type(exc).__name__}: {exc}"
        data.update(section=name, wall_s=time.perf_counter() - t0)
        write_json(path, data)
        self.summary["sections"][name] = {"status": data["status"], "wall_s": data["wall_s"],
                                          **({"error": data["error"]} if "error" in data else {})}
        self.summary["total_wall_s"] = time.perf_counter() - self.t_start
        self.summary["images"] = self.images_used
        write_json(self.out / "summary.json", self.summary)
        print(f"[gpu_check] {name}: {data['status']} in {data['wall_s']:.1f} s"
              + (f" ({data['error']})" if "error" in data else ""), flush=True)


# --------------------------------------------------------------------------------------------
# Data


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    b = load_digits()
    return np.rint(b.images * (255 / 16)).astype(np.uint8)[..., None], b.target.astype(np.int64)


def _cifar(n: int, cifar: Path | None) -> tuple[np.ndarray, np.ndarray] | None:
    files = sorted((cifar / "plain_text").glob("train-*.parquet")) if cifar is not None and cifar.is_dir() else []
    if not files:
        return None
    import io

    import pyarrow.parquet as pq
    from PIL import Image

    rows = pq.read_table(files[0], columns=["img", "label"]).slice(0, n).to_pylist()
    imgs = np.stack([np.asarray(Image.open(io.BytesIO(r["img"]["bytes"])).convert("RGB")) for r in rows])
    return imgs, np.array([r["label"] for r in rows], dtype=np.int64)


def learnable_synthetic(n: int, size: int, channels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, size, size, C) uint8 images whose class (of 10) shows: a blocky per-class pattern
    blended with noise, so training reaches well above chance."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 256, (10, max(1, size // 4), max(1, size // 4), channels)).astype(np.float32)
    protos = np.repeat(np.repeat(protos, 4, axis=1), 4, axis=2)[:, :size, :size]
    labels = rng.integers(0, 10, n).astype(np.int64)
    noise = rng.integers(0, 256, (n, size, size, channels)).astype(np.float32)
    return np.clip(0.55 * protos[labels] + 0.45 * noise, 0, 255).astype(np.uint8), labels


def images_for(check: Check, source: str, size: int, channels: int, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(images, labels, description): digits (real), CIFAR-10 (real when present) or synthetic."""
    if source == "digits":
        imgs, labels = _digits()
        idx = np.arange(n) % len(imgs)
        desc = "digits (real, scikit-learn)"
        out = imgs[idx], labels[idx], desc
    else:
        real = _cifar(n, check.args.cifar) if source == "cifar" else None
        if real is not None and len(real[0]) >= n:
            out = real[0], real[1], "CIFAR-10 (real)"
        else:
            imgs, labels = learnable_synthetic(n, size, channels)
            out = imgs, labels, f"synthetic uint8 {size}x{size}x{channels} (class-dependent pattern + noise)"
    check.images_used[f"{source}-{size}px"] = out[2]
    return out


def make_task(images: np.ndarray, labels: np.ndarray, n_eval: int, device: str, config: str = "sym-00"):
    """An in-memory task: the last ``2 * n_eval`` images are validation and test."""
    from cnlbench.harness.data import HostSplit, TaskData

    n = len(images) - 2 * n_eval
    tr, va, te = slice(0, n), slice(n, n + n_eval), slice(n + n_eval, None)
    return TaskData.from_host(dataset="gpu-check", config=config, class_names=[str(i) for i in range(10)],
                              train=HostSplit(images[tr], labels[tr]), validation=HostSplit(images[va], labels[va]),
                              test=HostSplit(images[te], labels[te]), device=device, fingerprint=f"gpu-check-{config}")


def digits_task(device: str, n_eval: int | None = None):
    imgs, labels = _digits()
    order = np.random.default_rng(0).permutation(len(labels))
    k = min(n_eval or len(labels), len(labels) // 4)  # 1,797 images: at most a quarter each
    return make_task(imgs[order], labels[order], k, device)


def _spec(model: str, method: str, seed: int, device: str, config: str = "sym-00", **train: Any):
    from cnlbench.harness.engine import RunSpec, default_train_config

    return RunSpec(dataset_dir="memory", config=config, method=method, seed=seed, model=model,
                   train=default_train_config(model, "gpu-check", **train), device=device)


def _sync(check: Check) -> None:
    if check.cuda:
        torch.cuda.synchronize()


# --------------------------------------------------------------------------------------------
# Sections


def s_environment(check: Check, emit) -> dict[str, Any]:
    t0 = time.perf_counter()
    import cnlbench.harness.engine  # noqa: F401  (timed: the harness import on this machine)
    import cnlbench.harness.multirun  # noqa: F401

    import_s = time.perf_counter() - t0
    harness_imported_datasets = "datasets" in sys.modules
    pkgs = {}
    for name in ("numpy", "pyarrow", "pandas", "scipy", "PIL", "sklearn", "yaml", "datasets", "ray", "triton"):
        try:
            pkgs[name] = getattr(importlib.import_module(name), "__version__", "present")
        except Exception as exc:
            pkgs[name] = f"absent ({type(exc).__name__})"
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except Exception:
        commit = None
    out: dict[str, Any] = {
        "python": sys.version.split()[0], "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "packages": pkgs,
        "harness_import_s": import_s, "harness_imported_datasets": harness_imported_datasets,
        "git_commit": commit, "cifar_dir": None if check.args.cifar is None else str(check.args.cifar),
        "cifar_real_present": _cifar(1, check.args.cifar) is not None,
    }
    if check.cuda:
        p = torch.cuda.get_device_properties(0)
        out.update(device_name=p.name, capability=f"{p.major}.{p.minor}", total_memory_gib=p.total_memory / 2**30,
                   multiprocessors=p.multi_processor_count, cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(), tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                   tf32_cudnn=torch.backends.cudnn.allow_tf32, cudnn_benchmark=torch.backends.cudnn.benchmark)
    return out


def _outcome(row: dict[str, Any]) -> dict[str, Any]:
    curves = json.loads(row["curves"]) if row.get("curves") else {}
    for key in ("epoch_time_s", "packed_runs", "group_wall_time_s"):
        curves.pop(key, None)
    metrics = {k: v for k, v in row.items() if isinstance(v, float) and not k.endswith("time_s")}
    return json.loads(json.dumps({"metrics": metrics, "curves": curves}).replace("NaN", '"nan"'))


def s_packing_correctness(check: Check, emit) -> dict[str, Any]:
    from cnlbench.harness.engine import run_one
    from cnlbench.harness.multirun import run_group

    trio = [("ce", 0), ("gce", 1), ("mixup", 2)]
    cases, passed = [], True
    for model, source, size, n_train, epochs in check.size["correct_cases"]:
        if source == "digits":
            task = digits_task(check.device)
            desc = check.images_used.setdefault("digits-8px", "digits (real, scikit-learn)")
        else:
            n_eval = check.size["n_eval"]
            imgs, labels, desc = images_for(check, source, size, 3, n_train + 2 * n_eval)
            task = make_task(imgs, labels, n_eval, check.device)
        specs = [_spec(model, m, s, check.device, epochs=epochs) for m, s in trio]
        tasks = {"sym-00": task}
        single = [run_one(s, task=task) for s in specs]
        case: dict[str, Any] = {"model": model, "images": desc, "epochs": epochs, "n_train": len(task.train),
                                "n_test": len(task.test), "single_test_acc": [r["test_acc_final"] for r in single],
                                "single_status": [r["status"] for r in single]}
        for impl in ("grouped", "split"):
            rows = run_group(specs, tasks=tasks, impl=impl)
            diffs = [abs(p["test_acc_final"] - s["test_acc_final"]) for p, s in zip(rows, single)]
            packed = [json.loads(p["curves"]).get("packed_runs") for p in rows]
            ok = (all(p["status"] == "ok" for p in rows + single) and packed == [len(specs)] * len(specs)
                  and max(diffs) <= ACC_TOLERANCE + 1e-9)
            case[impl] = {"test_acc": [p["test_acc_final"] for p in rows], "abs_diff_vs_single": diffs,
                          "packed_runs": packed, "status": [p["status"] for p in rows],
                          "errors": [p["error"][:500] for p in rows if p["error"]],
                          "bit_identical_to_single": [_outcome(p) == _outcome(s) for p, s in zip(rows, single)],
                          "passed": ok}
            passed &= ok
        cases.append(case)
        emit({"cases": cases})
    return {"tolerance_abs_test_acc": ACC_TOLERANCE, "cases": cases, "passed": passed}


class _OpTrace(TorchDispatchMode):
    """Counts, per operation, what stalls the host or the device: reading a device scalar
    (``_local_scalar_dense``: ``.item()``, ``bool()``), device-to-host copies, and
    host-to-device copies that are not ``non_blocking``."""

    def __init__(self) -> None:
        super().__init__()
        self.scalar_reads = 0
        self.d2h = 0
        self.blocking_h2d = 0
        self.async_h2d = 0
        self.where: dict[str, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        name = str(func)
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        src = tensors[0].device.type if tensors else None
        if "_local_scalar_dense" in name and src not in (None, "meta"):  # a wait on CUDA only
            self.scalar_reads += 1
            self.where[name] = self.where.get(name, 0) + 1
        dst = None
        if name.startswith("aten._to_copy") and kwargs.get("device") is not None:
            dst = torch.device(kwargs["device"]).type
        elif name.startswith("aten.copy_") and len(tensors) >= 2:
            dst, src = tensors[0].device.type, tensors[1].device.type
        if dst is not None and src is not None and dst != src:
            non_blocking = bool(kwargs.get("non_blocking", False) or (len(args) > 2 and args[2] is True))
            if dst == "cpu":
                self.d2h += 1
            elif src == "cpu" and not non_blocking:
                self.blocking_h2d += 1
            elif src == "cpu":
                self.async_h2d += 1
            key = f"{name} {src}->{dst} non_blocking={non_blocking}"
            self.where[key] = self.where.get(key, 0) + 1
        return func(*args, **kwargs)


def s_in_step_syncs(check: Check, emit) -> dict[str, Any]:
    from cnlbench.harness.engine import Trainer, default_train_config
    from cnlbench.harness.methods.base import get_method
    from cnlbench.harness.multirun import TrainingGroup

    model, size, channels, batch, steps = check.size["sync_model"]
    source = "digits" if model == "digits-cnn" else "cifar"
    imgs, labels, desc = images_for(check, source, size, channels, batch * steps + 2 * 64)
    task = make_task(imgs, labels, 64, check.device)
    cfg = default_train_config(model, "gpu-check", epochs=10, batch_size=batch, train_curves=False)

    def trainer(method: str, seed: int) -> Trainer:
        return Trainer(task, get_method(method), {}, model, cfg, seed)

    cases: list[dict[str, Any]] = []

    def measure(label: str, epoch: Callable[[], Any]) -> None:
        epoch()  # warm-up (allocations, cuDNN plans)
        _sync(check)
        trace = _OpTrace()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if check.cuda:
                torch.cuda.set_sync_debug_mode("warn")
            try:
                with trace:
                    epoch()
            finally:
                if check.cuda:
                    torch.cuda.set_sync_debug_mode(0)
        _sync(check)
        sync_warnings = [str(w.message)[:200] for w in caught if "synchroniz" in str(w.message)]
        cases.append({"case": label, "steps": steps, "scalar_reads_per_step": trace.scalar_reads / steps,
                      "d2h_copies_per_step": trace.d2h / steps, "blocking_h2d_per_step": trace.blocking_h2d / steps,
                      "async_h2d_per_step": trace.async_h2d / steps, "ops": trace.where,
                      "cuda_sync_debug_warnings": len(sync_warnings) if check.cuda else None,
                      "cuda_sync_debug_examples": sorted(set(sync_warnings))[:5]})
        emit({"images": desc, "cases": cases})

    runs = 4 if check.cuda else 2
    for method in ("ce", "gce", "mixup"):
        group = TrainingGroup([trainer(method, s) for s in range(runs)], "auto")
        total = 10 * group.trainers[0].steps_this_epoch()
        arrived = {r: (0, 0, 0, total) for r in range(runs)}
        measure(f"packed {method} R={runs} ({group.net.impl})", lambda g=group, a=arrived: g.lockstep_epoch(a))
        group.close()
    for method in ("ce", "mentormix"):
        t = trainer(method, 0)
        total = 10 * t.steps_this_epoch()
        measure(f"single {method}", lambda t=t, total=total: t.train_epoch(0, 0, 0, total))
    blocking = sum(c["blocking_h2d_per_step"] for c in cases)
    return {"images": desc, "model": model, "batch": batch, "cases": cases, "passed": blocking == 0,
            "note": "passed: no blocking host-to-device copy in any step; scalar reads and device-to-host "
                    "copies are reported (each one waits for the device)"}


def _live(kinds: tuple[type, ...]) -> int:
    return sum(1 for o in gc.get_objects() if type(o) in kinds)


def s_memory_across_groups(check: Check, emit) -> dict[str, Any]:
    from cnlbench.harness.engine import Trainer
    from cnlbench.harness.models.grouped import GroupedNetwork
    from cnlbench.harness.multirun import TrainingGroup, iter_group_rows

    model, size, n_train, runs, groups = check.size["groups"]
    n_eval = check.size["n_eval"]
    source = "digits" if model == "digits-cnn" else "cifar"
    imgs, labels, desc = images_for(check, source, size, 1 if model == "digits-cnn" else 3, n_train + 2 * n_eval)
    task = make_task(imgs, labels, n_eval, check.device)
    specs = [_spec(model, "ce", s, check.device, epochs=1) for s in range(runs * groups)]
    gc.collect()
    if check.cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated() if check.cuda else 0
    after: list[dict[str, Any]] = []
    for k, (_, row) in enumerate(iter_group_rows(specs, max_runs=runs, tasks={"sym-00": task})):
        if k % runs == runs - 1:  # the group's last row: the group is done
            rec = {"group": k // runs + 1, "live_trainers_and_groups": _live((Trainer, TrainingGroup, GroupedNetwork)),
                   "status": row["status"], "packed_runs": json.loads(row["curves"]).get("packed_runs")}
            if check.cuda:
                rec.update(allocated_mib=(torch.cuda.memory_allocated() - base) / 2**20,
                           peak_mib=torch.cuda.max_memory_allocated() / 2**20)
                torch.cuda.reset_peak_memory_stats()
            after.append(rec)
            emit({"images": desc, "after_group": after})
    grows = check.cuda and after[-1]["allocated_mib"] > after[0]["allocated_mib"] * 1.05 + 16
    passed = all(a["live_trainers_and_groups"] == 0 and a["packed_runs"] == runs for a in after) and not grows
    return {"images": desc, "model": model, "runs_per_group": runs, "groups": groups, "n_train": n_train,
            "after_group": after, "passed": bool(passed),
            "note": "allocated_mib: device memory held after the group's rows, beyond the data"}


def s_memory_84px(check: Check, emit) -> dict[str, Any]:
    from cnlbench.harness.multirun import TrainingGroup
    from multirun_throughput import make_trainer

    model, runs, n_train, batch = check.size["px84"]
    imgs, labels, desc = images_for(check, "synthetic", 84, 3, n_train + 2 * 16)
    task = make_task(imgs, labels, 16, check.device)
    out: dict[str, Any] = {"images": desc, "model": model, "runs": runs, "n_train": n_train, "batch": batch}
    for impl in ("grouped", "split"):
        gc.collect()
        if check.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() if check.cuda else 0
        group = TrainingGroup([make_trainer(task, model, batch, s, "auto", False) for s in range(runs)], impl)
        padded = sum(t.augment.padded.nbytes for t in group.trainers)
        total = 10 * group.trainers[0].steps_this_epoch()
        try:
            group.lockstep_epoch({r: (0, 0, 0, total) for r in range(runs)})
            _sync(check)
            rec: dict[str, Any] = {"padded_copies_mib": padded / 2**20}
            if check.cuda:
                peak = torch.cuda.max_memory_allocated() - before
                per_image = padded / (runs * n_train)
                rest = peak - padded
                full = rest + per_image * runs * MINI_IMAGENET_TRAIN + MINI_IMAGENET_TRAIN * 3 * 84 * 84
                rec.update(peak_mib=peak / 2**20, rest_mib=rest / 2**20,
                           extrapolated_50k_gib=full / 2**30,
                           fits_device=full < torch.cuda.get_device_properties(0).total_memory * 0.9)
        except torch.OutOfMemoryError as exc:
            rec = {"padded_copies_mib": padded / 2**20, "out_of_memory": str(exc)[:300]}
        finally:
            group.close()
            del group
        out[impl] = rec
        emit(out)
    out["note"] = (f"extrapolated_50k_gib: the measured peak with the {runs} padded copies and the image tensor "
                   f"scaled to {MINI_IMAGENET_TRAIN:,} train images (Red Mini-ImageNet)")
    return out


def _det_case(check: Check, model: str, size: int, n_train: int, epochs: int) -> dict[str, Any]:
    from cnlbench.harness.engine import run_one
    from cnlbench.harness.multirun import run_group

    n_eval = check.size["n_eval"]
    if model == "digits-cnn":
        task, desc = digits_task(check.device), "digits (real, scikit-learn)"
    else:
        imgs, labels, desc = images_for(check, "cifar", size, 3, n_train + 2 * n_eval)
        task = make_task(imgs, labels, n_eval, check.device)
    spec = _spec(model, "ce", 0, check.device, epochs=epochs)
    a, b = run_one(spec, task=task), run_one(spec, task=task)
    pair = [_spec(model, "ce", s, check.device, epochs=epochs) for s in (0, 1)]
    pa, pb = run_group(pair, tasks={"sym-00": task}), run_group(pair, tasks={"sym-00": task})
    single_same = _outcome(a) == _outcome(b)
    packed_same = all(_outcome(x) == _outcome(y) for x, y in zip(pa, pb))
    return {"images": desc, "model": model, "epochs": epochs, "single_identical": single_same,
            "packed_identical": packed_same, "identical": single_same and packed_same,
            "single_test_acc": [a["test_acc_final"], b["test_acc_final"]],
            "packed_test_acc": [[r["test_acc_final"] for r in pa], [r["test_acc_final"] for r in pb]],
            "single_train_loss_last": [json.loads(r["curves"])["train_loss"][-1] for r in (a, b)],
            "status": [r["status"] for r in (a, b, *pa, *pb)]}


def s_determinism(check: Check, emit) -> dict[str, Any]:
    model, size, n_train, epochs = check.size["determinism"]
    out = {"default_flags": _det_case(check, model, size, n_train, epochs)}
    out["identical"] = out["default_flags"]["identical"]
    emit(out)
    if check.args.deterministic or not check.cuda:
        out["deterministic_flags"] = ("this process" if check.args.deterministic
                                      else "skipped: CPU kernels are deterministic")
        return out
    sub = check.out / "deterministic"
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--device", check.device, "--out", str(sub),
           "--sections", "determinism", "--deterministic", "--budget-s", "240"] + (["--tiny"] if check.args.tiny else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    try:
        out["deterministic_flags"] = json.loads((sub / "determinism.json").read_text())
    except Exception as exc:
        out["deterministic_flags"] = {"error": f"{type(exc).__name__}: {exc}", "returncode": proc.returncode,
                                      "stderr": proc.stderr[-3000:]}
    return out


def s_harness_ratio(check: Check, emit) -> dict[str, Any]:
    from harness_throughput import bench_case

    # harness_throughput globs the folder: a missing one means synthetic images
    ratio_args = Namespace(cifar=check.args.cifar or check.out / "no-cifar", **check.size["ratio_args"])
    rows = []
    for model, size, ch, source, bs in check.size["ratio"]:
        desc, harness, conventional = bench_case(model, size, ch, source, bs, check.device, ratio_args)
        check.images_used[f"{source}-{size}px (png)"] = desc
        rows.append({"model": model, "images": desc, "batch": bs, "harness_img_s": harness,
                     "conventional_img_s": conventional, "ratio": harness / conventional})
        emit({"rows": rows})
    return {"rows": rows, **{k: v for k, v in vars(ratio_args).items() if k != "cifar"}}


def s_throughput(check: Check, emit) -> dict[str, Any]:
    from multirun_throughput import make_task as mt_task
    from multirun_throughput import time_packed, time_sequential

    deadline = check.section_deadline("throughput")
    steps, repeats = check.size["steps"], check.size["repeats"]
    cells: list[dict[str, Any]] = []
    stopped = None
    was = torch.backends.cudnn.benchmark
    try:
        for bench in (False, True) if check.cuda else (False,):
            torch.backends.cudnn.benchmark = bench
            for model, size, ch, source, batch, r_list in check.size["throughput"]:
                imgs, labels, desc = images_for(check, source, size, ch, batch * steps)
                task = mt_task(imgs, labels, check.device)
                for runs in r_list:
                    if time.perf_counter() > deadline:
                        stopped = f"time allowance spent before {model} R={runs} cudnn.benchmark={bench}"
                        break
                    cell: dict[str, Any] = {"model": model, "images": desc, "batch": batch, "runs": runs,
                                            "cudnn_benchmark": bench, "steps": steps, "repeats": repeats}
                    for form in ("grouped", "split", "sequential"):
                        a = Namespace(device=check.device, precision="auto", compile=False, impl=form,
                                      repeats=repeats)
                        try:
                            if form == "sequential":
                                t, mem, util = time_sequential(task, model, batch, runs, a)
                            else:
                                t, mem, util = time_packed(task, model, batch, runs, a)
                            cell[form] = {"img_s": runs * batch * steps / t, "img_s_per_run": batch * steps / t,
                                          "peak_mib": mem, "gpu_util_pct": util}
                        except Exception as exc:
                            cell[form] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
                        gc.collect()
                    for form in ("grouped", "split"):
                        if "img_s" in cell[form] and "img_s" in cell["sequential"]:
                            cell[f"{form}_vs_sequential"] = cell[form]["img_s"] / cell["sequential"]["img_s"]
                    cells.append(cell)
                    emit({"cells": cells})
                if stopped:
                    break
            if stopped:
                break
    finally:
        torch.backends.cudnn.benchmark = was
    return {"cells": cells, "stopped": stopped,
            "note": "img_s: images/s over all runs (per run: divided by R); fused = 'grouped'"}


def _counters() -> dict[str, Any]:
    from torch._dynamo.utils import counters

    return {k: dict(v) for k, v in counters.items() if v}


def s_compile(check: Check, emit) -> dict[str, Any]:
    import torch._dynamo

    from cnlbench.harness.engine import run_one
    from cnlbench.harness.multirun import TrainingGroup, run_group
    from multirun_throughput import make_task as mt_task
    from multirun_throughput import make_trainer

    deadline = check.section_deadline("compile")
    out: dict[str, Any] = {}
    # (a) a compiled fused digits network per R, trained and evaluated: 2 variants per R
    torch._dynamo.reset()
    from torch._dynamo.utils import counters

    counters.clear()
    task = digits_task(check.device, n_eval=check.size["n_eval"])
    variants = []
    for runs in check.size["compile_runs"]:
        if time.perf_counter() > deadline:
            out["variants_stopped"] = f"time allowance spent before R={runs}"
            break
        t0 = time.perf_counter()
        graphs_before = counters["stats"].get("unique_graphs", 0)
        group = TrainingGroup([make_trainer(task, "digits-cnn", 64, s, "auto", True) for s in range(runs)], "grouped")
        total = 10 * group.trainers[0].steps_this_epoch()
        group.lockstep_epoch({r: (0, 0, 0, total) for r in range(runs)})
        group.logits(0, task.test.images)
        _sync(check)
        group.close()
        # a variant run eager (past dynamo's recompile limit) adds no graph
        variants.append({"runs": runs, "wall_s": time.perf_counter() - t0,
                         "new_graphs": counters["stats"].get("unique_graphs", 0) - graphs_before})
        out["variants"] = variants
        emit(out)
    c = _counters()
    out["variants_counters"] = c
    out["graph_breaks"] = sum(c.get("graph_break", {}).values())
    out["unique_graphs"] = c.get("stats", {}).get("unique_graphs", 0)
    out["every_variant_compiled"] = bool(variants) and all(v["new_graphs"] >= 2 for v in variants)
    emit(out)
    # (b) compiled packed runs equal compiled single runs (the packing-under-compile defect)
    if check.size["compile_packed"] and time.perf_counter() < deadline:
        specs = [_spec("digits-cnn", "ce", s, check.device, epochs=2, compile=True) for s in (0, 1)]
        single = [run_one(s, task=task) for s in specs]
        packed = run_group(specs, tasks={"sym-00": task})
        diffs = [abs(p["test_acc_final"] - s["test_acc_final"]) for p, s in zip(packed, single)]
        out["packed_vs_single"] = {
            "single_test_acc": [r["test_acc_final"] for r in single],
            "packed_test_acc": [r["test_acc_final"] for r in packed], "abs_diff": diffs,
            "packed_runs": [json.loads(r["curves"]).get("packed_runs") for r in packed],
            "status": [r["status"] for r in single + packed],
            "passed": max(diffs) <= ACC_TOLERANCE + 1e-9 and all(json.loads(r["curves"]).get("packed_runs") == 2
                                                                 for r in packed)}
        emit(out)
    # (c) compiled vs eager fused step time
    timing = check.size["compile_timing"]
    if timing is not None and time.perf_counter() < deadline:
        model, size, runs, batch, steps = timing
        imgs, labels, desc = images_for(check, "cifar", size, 3, batch * steps)
        ttask = mt_task(imgs, labels, check.device)
        rec: dict[str, Any] = {"model": model, "runs": runs, "batch": batch, "steps": steps, "images": desc}
        for compiled in (False, True):
            group = TrainingGroup([make_trainer(ttask, model, batch, s, "auto", compiled) for s in range(runs)], "grouped")
            total = 10 * group.trainers[0].steps_this_epoch()
            arrived = {r: (0, 0, 0, total) for r in range(runs)}
            t0 = time.perf_counter()
            group.lockstep_epoch(arrived)  # warm-up / compile
            _sync(check)
            warm = time.perf_counter() - t0
            t0 = time.perf_counter()
            group.lockstep_epoch(arrived)
            _sync(check)
            rec["compiled" if compiled else "eager"] = {"first_epoch_s": warm,
                                                        "img_s": runs * batch * steps / (time.perf_counter() - t0)}
            group.close()
        out["fused_step_time"] = rec
    out["final_counters"] = _counters()
    out["passed"] = bool(out.get("every_variant_compiled")) and out.get("packed_vs_single", {}).get("passed", True)
    return out


SECTION_FNS = {
    "environment": s_environment,
    "packing_correctness": s_packing_correctness,
    "in_step_syncs": s_in_step_syncs,
    "memory_across_groups": s_memory_across_groups,
    "memory_84px": s_memory_84px,
    "determinism": s_determinism,
    "harness_ratio": s_harness_ratio,
    "compile": s_compile,
    "throughput": s_throughput,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the JSON files (created)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true", help="toy sizes (the CPU test of this script)")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--budget-s", type=float, default=400.0, help="time budget; later sections and cells are "
                    "skipped once it is spent (default 400 s: with the last cell's overrun the check stays "
                    "under 8 minutes)")
    ap.add_argument("--cifar", type=Path, default=None,
                    help="a folder with CIFAR-10's plain_text/train-*.parquet (default: synthetic images)")
    ap.add_argument("--deterministic", action="store_true", help="torch.use_deterministic_algorithms (warn only), "
                    "cudnn.deterministic, no cudnn.benchmark (the determinism section's child process)")
    args = ap.parse_args(argv)
    wanted = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown sections {unknown}; valid: {list(SECTIONS)}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: CUDA is not available here (torch {torch.__version__}); use --device cpu")
    if args.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    check = Check(args)
    for name in SECTIONS:
        if name in wanted:
            check.run(name, SECTION_FNS[name])
    failed = [k for k, v in check.summary["sections"].items() if v["status"] == "failed"]
    print(f"[gpu_check] done in {time.perf_counter() - check.t_start:.0f} s; JSON in {args.out}"
          + (f"; failed sections: {failed}" if failed else ""), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
