"""What making a build durable costs: one fsync per file vs one filesystem sync per build.

    python benchmarks/sync_cost.py /tmp/cifar10-build --rounds 2

Copies the built folder (60,080 files for CIFAR-10) to a sibling, so its pages are freshly
dirty as after a build, then times ``cnlbench.manifest.atomic.fsync_tree`` (the old way: every
file, then every folder) or ``sync_tree`` (the new way: one ``syncfs`` on Linux), alternating.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", type=Path, help="a built dataset folder (e.g. from benchmarks/build_cifar10.py)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)

    from cnlbench.manifest.atomic import fsync_tree, sync_tree

    files = sum(1 for p in args.build.rglob("*") if p.is_file())
    dst = args.build.with_name(args.build.name + ".sync-cost")
    for r in range(args.rounds):
        for name, fn in (("fsync per file", fsync_tree), ("one sync_tree", sync_tree)):
            shutil.rmtree(dst, ignore_errors=True)
            subprocess.run(["sync"], check=False)  # start from a clean page cache state
            t0 = time.perf_counter()
            shutil.copytree(args.build, dst)
            t1 = time.perf_counter()
            how = fn(dst)
            t2 = time.perf_counter()
            print(f"round {r + 1}: {name}{f' ({how})' if how else ''}: {t2 - t1:.2f} s for {files} files "
                  f"(copy {t1 - t0:.1f} s)", flush=True)
            shutil.rmtree(dst, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
