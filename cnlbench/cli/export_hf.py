"""``cnlbench export-hf``: a self-contained copy of a build with image bytes embedded."""

from __future__ import annotations

import argparse

NAME = "export-hf"
HELP = "write a self-contained Hugging Face copy of a built dataset (image bytes embedded)"
DESCRIPTION = """\
Copy the dataset folder DATASET_DIR (written by `cnlbench build`) to --out with every image
embedded in its split's Parquet file, so that

    datasets.load_dataset(OUT, CONFIG)

works from any working directory, offline, without cnlbench. Reference-mode builds are resolved:
images stored in the build folder are read from there; file-backed images (ImageFolder,
Mini-ImageNet, Stanford Cars, CNWL) need --image-root, the folder their paths are relative to.
Embedded builds are copied. --configs exports only the named configs (names or globs; the card
and build record then list only those). The output appears atomically. Publish it with
`cnlbench push`. To load a build in Python without exporting it (reference builds included):

    from cnlbench.manifest import load_hf
    train = load_hf("build/cifar10", "sym-40", "train")   # datasets.Dataset, images decoded

example:
  cnlbench build recipes/cifar10.yaml --out build/cifar10
  cnlbench export-hf build/cifar10 --out export/cifar10 --configs sym-00,sym-40
  cnlbench export-hf build/cnwl --out export/cnwl --configs 'red-*' --image-root data/mini-imagenet
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset_dir", metavar="DATASET_DIR", help="a folder written by `cnlbench build`")
    parser.add_argument("--out", required=True, help="output folder (replaced atomically if it is a previous export)")
    parser.add_argument("--configs", default=None, metavar="C1,C2",
                        help="comma-separated config names or globs to export, e.g. sym-00,sym-40 or 'sym-*' "
                             "(default: all)")
    parser.add_argument("--image-root", default=None, help="folder a reference build's file-backed image paths are relative to")
    parser.add_argument("--no-progress", action="store_true", help="print no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from cnlbench.manifest.export import export_hf

    configs = None if args.configs is None else [c.strip() for c in args.configs.split(",") if c.strip()]
    rep = export_hf(args.dataset_dir, args.out, image_root=args.image_root, configs=configs,
                    progress=not args.no_progress)
    how = "copied (already embedded)" if rep.copied else f"{rep.images_embedded} images embedded"
    print(f"wrote {rep.out}: {len(rep.configs)} configs ({', '.join(rep.configs)}), {len(rep.files)} files, {how}")
    print(f'load with: datasets.load_dataset("{rep.out}", "{rep.configs[0]}")')
    return 0
