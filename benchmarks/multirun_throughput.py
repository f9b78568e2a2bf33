"""Many runs on one device: images/second per run and in total, packed vs sequential vs processes.

For each model and each R (number of runs), three ways to train R runs (same images, model and
batch size; seeds 0..R-1, plain CE) are timed over the same number of optimiser steps:

* packed: ``cnlbench.harness.multirun`` (one grouped network, one step for all R runs);
* sequential: R engine ``Trainer`` s one after the other (``LocalBackend`` with ``jobs=1``);
* processes: R spawned worker processes, one ``Trainer`` each, started together
  (``LocalBackend`` with ``jobs=R``; torch threads per worker = cores // R).

Each timing is one epoch of ``--steps`` steps after a warm-up epoch; the figure is the median of
``--repeats`` timed epochs. Memory: on CUDA the peak allocated GPU memory of the timed work
(``torch.cuda.max_memory_allocated``) and the mean GPU utilisation sampled while it runs
(``torch.cuda.utilization()`` with pynvml, else ``nvidia-smi``); on CPU the process's RSS
high-water mark after the measurement (monotone over the script: read it as an upper bound).

Images: digits (8x8, real, scikit-learn), CIFAR-10 train images (32x32, real, from
``../shared/data/cifar10`` or ``--cifar``; synthetic when absent), synthetic 84x84 for resnet18.

    OMP_NUM_THREADS=2 python benchmarks/multirun_throughput.py                  # CPU, ~4 minutes
    python benchmarks/multirun_throughput.py --device cuda --precision bf16 [--compile]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]

# model, image size, channels, source, (CPU batch, CPU R list, CPU step multiplier, CPU repeats),
# (CUDA batch, CUDA R list)
CASES = [
    ("digits-cnn", 8, 1, "digits", (128, [1, 2, 4, 8, 16], 8, 3), (128, [1, 2, 4, 8, 16])),
    ("fastnet", 32, 3, "cifar", (64, [1, 2, 4], 1, 1), (512, [1, 2, 4, 8, 16])),
    ("preact-resnet18", 32, 3, "cifar", (16, [1, 2], 1, 1), (128, [1, 2, 4, 8, 16])),
    ("resnet18", 84, 3, "synthetic", (8, [1, 2], 1, 1), (128, [1, 2, 4, 8])),
]


def load_images(source: str, size: int, channels: int, n: int, cifar: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """(images (n, H, W, C) uint8, labels (n,) int64, description)."""
    rng = np.random.default_rng(0)
    if source == "digits":
        from sklearn.datasets import load_digits

        b = load_digits()
        imgs = np.rint(b.images * (255 / 16)).astype(np.uint8)[..., None]
        idx = np.arange(n) % len(imgs)
        return imgs[idx], b.target[idx].astype(np.int64), "digits (real)"
    if source == "cifar":
        files = sorted((cifar / "plain_text").glob("train-*.parquet")) if cifar.is_dir() else []
        if files:
            import io

            import pyarrow.parquet as pq
            from PIL import Image

            t = pq.read_table(files[0]).slice(0, n).to_pylist()
            imgs = np.stack([np.asarray(Image.open(io.BytesIO(r["img"]["bytes"])).convert("RGB")) for r in t])
            return imgs, np.array([r["label"] for r in t], dtype=np.int64), "CIFAR-10 (real)"
    imgs = rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)
    return imgs, rng.integers(0, 10, n).astype(np.int64), f"synthetic {size}x{size}"


def make_task(images: np.ndarray, labels: np.ndarray, device: str):
    from cnlbench.harness.data import HostSplit, TaskData

    ev = HostSplit(images[:64], labels[:64])
    return TaskData.from_host(dataset="bench", config="sym-00", class_names=[str(i) for i in range(10)],
                              train=HostSplit(images, labels), validation=ev, test=ev, device=device)


def make_trainer(task, model: str, batch: int, seed: int, precision: str, compile_: bool):
    from cnlbench.harness.engine import Trainer, default_train_config
    from cnlbench.harness.methods.base import get_method

    cfg = default_train_config(model, "bench", epochs=10, batch_size=batch, precision=precision,
                               compile=compile_, train_curves=False)
    return Trainer(task, get_method("ce"), {}, model, cfg, seed)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class GpuSampler:
    """Mean GPU utilisation (%) while running: ``torch.cuda.utilization()`` or nvidia-smi."""

    def __init__(self, device: str, every_s: float = 0.1):
        self.on = device.startswith("cuda")
        self.every, self.samples, self._stop = every_s, [], threading.Event()

    def _read(self) -> float | None:
        try:
            return float(torch.cuda.utilization())
        except Exception:
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=2).stdout
                return float(out.split()[0])
            except Exception:
                return None

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            v = self._read()
            if v is not None:
                self.samples.append(v)

    def __enter__(self) -> "GpuSampler":
        if self.on:
            torch.cuda.reset_peak_memory_stats()
            self._t = threading.Thread(target=self._loop, daemon=True)
            self._t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.on:
            self._stop.set()
            self._t.join()

    def util(self) -> float:
        return statistics.mean(self.samples) if self.samples else float("nan")


def memory_mib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_packed(task, model, batch, runs, args) -> tuple[float, float, float]:
    from cnlbench.harness.multirun import TrainingGroup

    group = TrainingGroup([make_trainer(task, model, batch, s, args.precision, args.compile) for s in range(runs)], args.impl)
    total = 10 * group.trainers[0].steps_this_epoch()
    arrived = {r: (0, 0, 0, total) for r in range(runs)}
    group.lockstep_epoch(arrived)  # warm-up (and compile)
    times = []
    with GpuSampler(args.device) as gpu:
        for _ in range(args.repeats):
            _sync(args.device)
            t0 = time.perf_counter()
            group.lockstep_epoch(arrived)
            _sync(args.device)
            times.append(time.perf_counter() - t0)
    group.close()  # frees the grouped network and the trainers now, not at the next collection
    return statistics.median(times), memory_mib(args.device), gpu.util()


def time_sequential(task, model, batch, runs, args) -> tuple[float, float, float]:
    trainers = [make_trainer(task, model, batch, s, args.precision, args.compile) for s in range(runs)]
    total = 10 * trainers[0].steps_this_epoch()
    for t in trainers:
        t.train_epoch(0, 0, 0, total)
    times = []
    with GpuSampler(args.device) as gpu:
        for _ in range(args.repeats):
            _sync(args.device)
            t0 = time.perf_counter()
            for t in trainers:
                t.train_epoch(0, 0, 0, total)
            _sync(args.device)
            times.append(time.perf_counter() - t0)
    return statistics.median(times), memory_mib(args.device), gpu.util()


def _worker(images, labels, model, batch, seed, args, threads, barrier, queue) -> None:
    torch.set_num_threads(threads)
    task = make_task(images, labels, args.device)
    t = make_trainer(task, model, batch, seed, args.precision, args.compile)
    total = 10 * t.steps_this_epoch()
    t.train_epoch(0, 0, 0, total)
    out = []
    for _ in range(args.repeats):
        barrier.wait()
        _sync(args.device)
        t0 = time.time()
        t.train_epoch(0, 0, 0, total)
        _sync(args.device)
        out.append((t0, time.time()))
    queue.put((out, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def time_processes(images, labels, model, batch, runs, args) -> tuple[float, float, float]:
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(runs), ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // runs)
    procs = [ctx.Process(target=_worker, args=(images, labels, model, batch, s, args, threads, barrier, queue))
             for s in range(runs)]
    with GpuSampler(args.device) as gpu:
        for p in procs:
            p.start()
        results = [queue.get() for _ in procs]
        for p in procs:
            p.join()
    walls = [max(r[0][i][1] for r in results) - min(r[0][i][0] for r in results) for i in range(args.repeats)]
    return statistics.median(walls), sum(r[1] for r in results), gpu.util()


def compile_counts() -> str:
    """dynamo's compiled graphs, graph breaks and recompiles so far in this process (a variant
    past the recompile limit would run eager: its graphs would be missing here)."""
    from torch._dynamo.utils import counters

    breaks = sum(counters["graph_break"].values())
    return (f"{counters['stats'].get('unique_graphs', 0)} graphs, {breaks} graph breaks, "
            f"{sum(counters['recompiles'].values())} recompiles")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", nargs="*", default=[c[0] for c in CASES])
    ap.add_argument("--runs", nargs="*", type=int, default=None, help="R values (default: per model and device)")
    ap.add_argument("--steps", type=int, default=None, help="timed optimiser steps (default 2 CPU, 20 CUDA)")
    ap.add_argument("--repeats", type=int, default=None, help="timed epochs, median (default 1 CPU, 3 CUDA)")
    ap.add_argument("--max-procs", type=int, default=None, help="largest R timed as processes (default 2 CPU, 8 CUDA)")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--compile", action="store_true", help="torch.compile the (grouped) networks")
    ap.add_argument("--impl", default="auto", choices=["auto", "grouped", "split"])
    ap.add_argument("--cifar", type=Path, default=REPO.parent / "shared" / "data" / "cifar10")
    args = ap.parse_args(argv)
    cuda = args.device.startswith("cuda")
    steps, repeats = args.steps, args.repeats
    max_procs = args.max_procs or (8 if cuda else 2)
    print(f"# {time.strftime('%Y-%m-%d')} {platform.machine()} torch {torch.__version__} device {args.device}"
          f"{' (' + torch.cuda.get_device_name() + ')' if cuda else ''}, {os.cpu_count()} cores, "
          f"{torch.get_num_threads()} torch threads, precision {args.precision}, compile {args.compile}, "
          f"impl {args.impl}, timed steps x repeats: {steps or ('20' if cuda else '2 (digits 16)')} x "
          f"{repeats or ('3' if cuda else '1 (digits 3)')}")
    mem_label = "peak GPU MiB" if cuda else "RSS high-water MiB"
    print(f"| model | images | batch | R | packed img/s (per run) | sequential img/s (per run) | processes img/s "
          f"(per run) | packed / sequential | packed / processes | {mem_label} packed / seq / procs |"
          + (" GPU util % packed / seq / procs |" if cuda else ""))
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|" if cuda else ""))
    for model, size, channels, source, cpu_case, cuda_case in CASES:
        if model not in args.models:
            continue
        if cuda:
            (batch, r_list), mult, reps = cuda_case, 1, 3
        else:
            batch, r_list, mult, reps = cpu_case
        args.steps = steps or (20 if cuda else 2 * mult)
        args.repeats = repeats or reps
        r_list = args.runs or r_list
        n = batch * args.steps
        images, labels, desc = load_images(source, size, channels, n, args.cifar)
        task = make_task(images, labels, args.device)
        for runs in r_list:
            done = runs * n
            tp, mp, up = time_packed(task, model, batch, runs, args)
            ts, ms, us = time_sequential(task, model, batch, runs, args)
            if runs <= max_procs:
                tq, mq, uq = time_processes(images, labels, model, batch, runs, args)
            else:
                tq = mq = uq = float("nan")

            def rate(t: float) -> str:
                return "-" if t != t else f"{done / t:,.0f} ({done / t / runs:,.0f})"

            row = (f"| {model} | {desc} | {batch} | {runs} | {rate(tp)} | {rate(ts)} | {rate(tq)} | "
                   f"{ts / tp:.2f}x | {'-' if tq != tq else f'{tq / tp:.2f}x'} | "
                   f"{mp:,.0f} / {ms:,.0f} / {'-' if mq != mq else f'{mq:,.0f}'} |")
            if cuda:
                row += f" {up:.0f} / {us:.0f} / {'-' if uq != uq else f'{uq:.0f}'} |"
            print(row, flush=True)
            if args.compile:
                print(f"<!-- compiled so far: {compile_counts()} -->", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
