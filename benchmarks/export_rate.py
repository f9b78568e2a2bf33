"""Export rate of `cnlbench export-hf`: images embedded per second.

Builds a reference-mode dataset (images stored once in the build folder), then times
`export_hf` (read every split, resolve each image_path, embed the bytes, write Parquet, card,
atomic rename). Prints the median of several runs. Default data: the embedded digits (1,797
images, 8x8); `--cifar10 ROOT` uses CIFAR-10 in the Hub Parquet layout instead (60,000 images,
32x32). Configs: symmetric noise at `--levels` (each config re-embeds its train/validation).

    python benchmarks/export_rate.py
    python benchmarks/export_rate.py --cifar10 ../shared/data/cifar10 --levels 0.0 0.4
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from cnlbench.manifest.build import build_from_recipe
from cnlbench.manifest.export import export_hf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cifar10", default=None, help="CIFAR-10 root (Hub Parquet layout); default: digits")
    ap.add_argument("--levels", type=float, nargs="+", default=[0.0, 0.2, 0.4, 0.6])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    source = {"kind": "cifar10", "root": str(Path(args.cifar10).resolve())} if args.cifar10 else {"kind": "digits"}
    recipe = {
        "name": "export-bench",
        "seed": 0,
        "source": source,
        "splits": {"validation": {"from": "train", "fraction": 0.1}},
        "images": "reference",
        "levels": args.levels,
        "configs": [{"kind": "sym", "noise": "symmetric"}],
    }
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build_from_recipe(recipe, Path(tmp) / "build")
        build_s = time.perf_counter() - t0
        times, n = [], 0
        for r in range(args.repeats):
            t0 = time.perf_counter()
            rep = export_hf(Path(tmp) / "build", Path(tmp) / f"export-{r}")
            times.append(time.perf_counter() - t0)
            n = rep.images_embedded
        med = statistics.median(times)
        print(f"data: {source['kind']}, configs: {len(args.levels)}, rows embedded per export: {n}")
        print(f"reference build: {build_s:.2f} s")
        print(f"export-hf: median {med:.2f} s over {args.repeats} runs -> {n / med:,.0f} images/s")


if __name__ == "__main__":
    main()
