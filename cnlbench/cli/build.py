"""``cnlbench build RECIPE --out DIR``: build a noisy-label dataset folder from a recipe."""

from __future__ import annotations

import argparse

NAME = "build"
HELP = "build a noisy-label dataset folder (Parquet + card) from a recipe YAML"
DESCRIPTION = """\
Build a dataset folder from a recipe: load the clean source, apply every noise family at every
level, and write one config per (family, level) as Parquet manifests with a dataset card.

The folder loads with plain Hugging Face datasets, offline:

    from datasets import load_dataset
    ds = load_dataset("DIR", "sym-40")      # splits: train, validation (noisy), test (clean)

and with cnlbench: cnlbench.manifest.open_dataset("DIR").

Recipe format (YAML): name, seed, license, source: {kind: ...}, splits: {validation: {from: train,
fraction: F}}, images: embed|reference, levels: [...], nested: true|false, mode: exact|per-sample,
configs: [{kind: sym, noise: symmetric}, ...]. See docs/recipes.md; the embedded default is
recipes/digits.yaml (scikit-learn's bundled digits, no download).

The output is written atomically (a temporary sibling folder swapped in at the end): an
interrupted build leaves the previous complete folder untouched. The same recipe and seed give
byte-identical files. At the end a table lists each config's split sizes, requested level and
realised noise rates.

Progress (stderr) names every phase: loading the source, drawing the noise, writing (or reading)
images, writing configs, syncing to disk (one filesystem sync for the whole folder, so a finished
build survives a power loss), swapping the folder in; a bar per phase on a terminal, a line per
phase (and every 15 s within a long one) elsewhere.

Example:
    cnlbench build recipes/digits.yaml --out manifests/digits
    cnlbench build recipes/digits.yaml --out /tmp/digits-seed1 --seed 1
    cnlbench build recipes/cifar10.yaml --out out/cifar10 --set source.root=/data/cifar10 \
        --set configs.2.file=/data/cifar10n/CIFAR-10_human.pt
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", metavar="RECIPE", help="recipe YAML file (see docs/recipes.md)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output dataset folder (replaced atomically if it is a previous build)")
    parser.add_argument("--seed", type=int, default=None, metavar="N", help="noise seed (non-negative); overrides the recipe's `seed`")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a recipe value (repeatable): dotted key, YAML value, e.g. "
                             "--set source.root=/data/cifar10 --set configs.2.file=/data/CIFAR-10_human.pt; "
                             "relative paths resolve against the current directory")
    parser.add_argument("--no-progress", action="store_true",
                        help="print no progress on stderr (default: a bar per phase on a terminal, plain lines elsewhere)")
    parser.add_argument("--no-validate", action="store_true", help="skip re-reading and validating the written folder")


def run(args: argparse.Namespace) -> int:
    from cnlbench.manifest import build_from_recipe, validate_dataset
    from cnlbench.manifest.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    report = build_from_recipe(recipe, args.out, seed=args.seed, progress=not args.no_progress)
    if not args.no_validate:
        validate_dataset(report.out)
    print(f"built {report.name} (seed {report.seed}) in {report.out}")
    print(report.table())
    from cnlbench.manifest.build import MISSING_IMAGES_FILE

    missing = report.out / MISSING_IMAGES_FILE
    if missing.is_file():
        n = sum(1 for line in missing.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#"))
        print(f"{n} images named by the recipe are missing on disk: listed in {missing}")
    print(f'load with: datasets.load_dataset("{report.out}", "{report.default_config}")')
    return 0
