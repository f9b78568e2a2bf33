"""Build CIFAR-10 with every config of recipes/cifar10.yaml; print build time and peak memory.

    python benchmarks/build_cifar10.py --data ../shared/data --out /tmp/cifar10-build

``--data`` is a folder holding ``cifar10/`` (Hub Parquet copy or python release) and
``cifar10n/CIFAR-10_human.pt``; without it the recipe's own paths are used. ``--configs``
keeps only the listed config kinds (e.g. ``sym cifar10n``). Peak memory is the process's
maximum resident set size (``resource.getrusage``), which includes the interpreter and imports.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_recipe_with_data(data: Path | None, kinds: list[str] | None):
    """The cifar10 recipe with its data paths pointed at ``data`` (and configs filtered)."""
    import yaml

    from cnlbench.manifest.recipe import parse_recipe

    raw = yaml.safe_load((REPO / "recipes" / "cifar10.yaml").read_text())
    if data is not None:
        raw["source"]["root"] = str((data / "cifar10").resolve())
        for entry in raw["configs"]:
            if entry["noise"] == "human":
                entry["file"] = str((data / "cifar10n" / "CIFAR-10_human.pt").resolve())
    if kinds:
        raw["configs"] = [e for e in raw["configs"] if e["kind"] in kinds]
    return parse_recipe(raw, base_dir=REPO / "recipes")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--configs", nargs="*", default=None, help="config kinds to keep")
    args = ap.parse_args(argv)

    import cnlbench.manifest.family_human  # noqa: F401  (registers the human/external families)
    from cnlbench.manifest import build_from_recipe

    recipe = load_recipe_with_data(args.data, args.configs)
    t0 = time.perf_counter()
    report = build_from_recipe(recipe, args.out)
    elapsed = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file()) / 2**20
    print(report.table())
    print(f"configs: {len(report.configs)}")
    print(f"build time: {elapsed:.1f} s")
    print(f"peak RSS: {peak_mib:.0f} MiB")
    print(f"output size: {size:.0f} MiB in {sum(1 for _ in args.out.rglob('*'))} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
