"""Training throughput (images/second): the cnlbench harness vs a conventional PyTorch loop.

Both paths train the SAME model (same construction, same seed, SGD + CE, same batch size) on the
same encoded images, side by side in one process:

* harness: the engine's own epoch loop (``cnlbench.harness.engine.Trainer``): images decoded
  once and held as uint8 on the device, crop/flip/normalise batched on the device;
* conventional: a ``torch.utils.data.Dataset`` that decodes each PNG per item with PIL and
  applies per-sample transforms (numpy pad + random crop, flip, to-tensor, normalise), batched
  by a ``DataLoader`` (``num_workers`` 2 on CPU).

Each figure is the median over timed windows after warm-up. Images: digits (8x8, real, from
scikit-learn), CIFAR-10 train images (32x32, real, from ``../shared/data/cifar10`` or
``--cifar``; synthetic PNGs of that size when absent), 84x84 synthetic PNGs for resnet18.

    OMP_NUM_THREADS=2 python benchmarks/harness_throughput.py [--device cuda] [--write-md BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import io
import platform
import re
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnlbench.harness.data import HostSplit, TaskData
from cnlbench.harness.engine import Trainer, default_train_config
from cnlbench.harness.methods.base import get_method

REPO = Path(__file__).resolve().parents[1]

# model, image size, channels, source, CPU batch size, CUDA batch size
CASES = [
    ("digits-cnn", 8, 1, "digits", 128, 128),  # timed with 4x --steps (a step takes milliseconds)
    ("fastnet", 32, 3, "cifar", 64, 512),
    ("preact-resnet18", 32, 3, "cifar", 32, 128),
    ("resnet18", 84, 3, "synthetic", 16, 128),
]


def encode_png(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img.squeeze(-1) if img.shape[-1] == 1 else img).save(buf, format="PNG")
    return buf.getvalue()


def decode_png(blob: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as im:
        a = np.asarray(im)
    return a[..., None] if a.ndim == 2 else a


def load_pngs(source: str, size: int, channels: int, n: int, cifar: Path) -> tuple[list[bytes], np.ndarray, str]:
    """(PNG bytes, labels, description) for ``n`` images."""
    if source == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        imgs = np.rint(d.images * (255 / 16)).astype(np.uint8)[..., None]
        idx = np.arange(n) % len(imgs)
        return [encode_png(imgs[i]) for i in idx], d.target[idx].astype(np.int64), "digits (real)"
    if source == "cifar":
        files = sorted(cifar.glob("plain_text/train-*.parquet"))
        if files:
            import pyarrow.parquet as pq

            t = pq.read_table(files[0], columns=["img", "label"]).slice(0, n)
            blobs = [v["bytes"] for v in t.column("img").to_pylist()]
            return blobs, np.asarray(t.column("label").to_pylist(), np.int64), "CIFAR-10 (real)"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (n, size // 4, size // 4, channels), dtype=np.uint8)
    imgs = np.repeat(np.repeat(base, 4, axis=1), 4, axis=2)  # blocky: PNG-compressible like photos
    return [encode_png(im) for im in imgs], rng.integers(0, 10, n).astype(np.int64), f"synthetic {size}x{size}"


class PNGDataset(torch.utils.data.Dataset):
    """Conventional per-item pipeline: PIL decode, numpy pad + random crop, flip, normalise."""

    def __init__(self, blobs, labels, pad, flip, mean, std, seed=0):
        self.blobs, self.labels, self.pad, self.flip = blobs, labels, pad, flip
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.blobs)

    def __getitem__(self, i: int):
        rng = np.random.default_rng((self.seed, i, time.perf_counter_ns()))
        img = decode_png(self.blobs[i])
        h, w = img.shape[:2]
        p = self.pad
        if p:
            img = np.pad(img, ((p, p), (p, p), (0, 0)))
            y, x = rng.integers(0, 2 * p + 1, 2)
            img = img[y:y + h, x:x + w]
        if self.flip and rng.random() < 0.5:
            img = img[:, ::-1]
        x = (img.astype(np.float32) - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), int(self.labels[i])


def time_interleaved(paths, windows: int, sync) -> list[float]:
    """Median images/second of each ``(step, steps_per_window, images_per_step, warmup)`` path;
    windows alternate between the paths so a load change on the shared machine hits both."""
    for step, _, _, warmup in paths:
        for _ in range(warmup):
            step()
    sync()
    rates: list[list[float]] = [[] for _ in paths]
    for _ in range(windows):
        for k, (step, steps, images, _) in enumerate(paths):
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            sync()
            rates[k].append(steps * images / (time.perf_counter() - t0))
    return [statistics.median(r) for r in rates]


def bench_case(model, size, channels, source, bs, device, args):
    steps = args.steps * (4 if model == "digits-cnn" else 1)
    n = bs * steps
    blobs, labels, desc = load_pngs(source, size, channels, n, args.cifar)
    images = np.stack([decode_png(b) for b in blobs])
    cfg = default_train_config(model, "digits" if source == "digits" else "bench", batch_size=bs,
                               epochs=1, train_curves=False)
    split = HostSplit(images, labels)
    task = TaskData.from_host(dataset="bench", config="sym-00", class_names=[str(i) for i in range(10)],
                              train=split, validation=HostSplit(images[:bs], labels[:bs]),
                              test=HostSplit(images[:bs], labels[:bs]), device=device)
    trainer = Trainer(task, get_method("ce"), {}, model, cfg, seed=0)
    dev = torch.device(device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)

    # harness: one timed window = one engine epoch over n = steps * bs images
    epoch = [0]

    def harness_epoch():
        trainer.train_epoch(0, epoch[0], 0, 10**9)
        epoch[0] += 1

    # conventional: same model, SGD, CE; DataLoader over per-item PNG decoding
    net = trainer.nets[0]
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=cfg.lr,
                          momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay)
    mean = trainer.normalize.mean.cpu().numpy()
    std = trainer.normalize.std.cpu().numpy()
    ds = PNGDataset(blobs, labels, cfg.crop_padding, cfg.hflip, mean, std)
    workers = args.workers
    loader = torch.utils.data.DataLoader(ds, batch_size=bs, shuffle=True, drop_last=True, num_workers=workers,
                                         persistent_workers=workers > 0, pin_memory=dev.type == "cuda",
                                         generator=torch.Generator().manual_seed(0))
    it = [iter(loader)]
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else torch.autocast("cpu", enabled=False))

    def conv_step():
        try:
            x, y = next(it[0])
        except StopIteration:
            it[0] = iter(loader)
            x, y = next(it[0])
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        if dev.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        net.train()
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    harness, conventional = time_interleaved([(harness_epoch, 1, n, 1), (conv_step, steps, bs, 2)],
                                             args.windows, sync)
    return desc, harness, conventional


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cifar", type=Path, default=REPO.parent / "shared" / "data" / "cifar10")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=2, help="optimiser steps per timed window")
    ap.add_argument("--windows", type=int, default=3, help="timed windows (the median is reported)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the conventional loop")
    ap.add_argument("--models", default=",".join(c[0] for c in CASES))
    ap.add_argument("--write-md", type=Path, default=None, help="replace the '## Harness throughput' section")
    args = ap.parse_args()
    wanted = args.models.split(",")
    cuda = args.device.startswith("cuda")
    rows = []
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, {args.steps} steps x {args.windows} windows")
    print(f"{'model':<16} {'input':<22} {'batch':>5} {'harness img/s':>14} {'conventional img/s':>19} {'ratio':>6}")
    for model, size, ch, source, bs_cpu, bs_cuda in CASES:
        if model not in wanted:
            continue
        bs = bs_cuda if cuda else bs_cpu
        desc, h, c = bench_case(model, size, ch, source, bs, args.device, args)
        rows.append((model, f"{desc}", bs, h, c))
        print(f"{model:<16} {desc:<22} {bs:>5} {h:>14.0f} {c:>19.0f} {h / c:>5.1f}x", flush=True)
    if args.write_md:
        write_md(args, rows)


def write_md(args, rows) -> None:
    dev = args.device if not args.device.startswith("cuda") else torch.cuda.get_device_name(0)
    lines = [
        "## Harness throughput", "",
        f"Measured 2026-11-21 on {'the development machine (2-core CPU, no GPU, shared with other jobs)' if dev == 'cpu' else dev}"
        f" ({platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} torch threads), one process, "
        "both loops side by side on the same model, seed, batch size and encoded images; median images/second "
        f"over {args.windows} timed windows of {args.steps} steps ({4 * args.steps} for digits-cnn) after warm-up, windows alternating between the two loops. The conventional loop's "
        f"DataLoader uses {args.workers} workers.", "",
        f"Command: `python benchmarks/harness_throughput.py --device {args.device} --write-md BENCHMARKS.md`", "",
        "| model | images | batch | harness (img/s) | conventional PNG DataLoader (img/s) | harness / conventional |",
        "|---|---|---|---|---|---|",
    ]
    for model, desc, bs, h, c in rows:
        lines.append(f"| {model} | {desc} | {bs} | {h:,.0f} | {c:,.0f} | {h / c:.1f}x |")
    lines += ["", "On a CPU the large networks are compute-bound, so both loops converge; the gap is the data "
              "path (per-item PNG decode, per-sample transforms, worker IPC) that the harness removes. "
              "Absolute figures mean something only on the GPU machine.", ""]
    path = args.write_md
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    section = "\n".join(lines)
    pat = re.compile(r"^## Harness throughput\n.*?(?=^## |\Z)", re.S | re.M)
    text = pat.sub(section + "\n", text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
