"""``cnlbench verify DIR``: the full validation of a built dataset folder."""

from __future__ import annotations

import argparse

NAME = "verify"
HELP = "check a built dataset folder end to end: split sizes, fingerprints, noise record, image checksums"
DESCRIPTION = """\
Check a dataset folder written by `cnlbench build` (or `cnlbench export-hf`), as Hugging Face
datasets verifies split sizes, and more:

  - the card lists exactly the built configs, with each split's number of examples;
  - every split has the manifest schema, labels in range, unique ids, and the row count, realised
    noise rate and content fingerprint the build recorded;
  - every config's fingerprint, and its noise record (kind, level, transition matrix) match what
    was recorded, and the level and matrix describe the rows;
  - every image decodes fully under the pixel limit (CNLBENCH_MAX_IMAGE_PIXELS), and each image
    file of a reference build has the SHA-256 the build recorded.

The first problem is reported with the config and file it concerns (exit status 2); nothing is
written. `cnlbench eval` runs the same fingerprint and noise checks before training.

example:
  cnlbench verify manifests/digits
  cnlbench verify build/cnwl --image-root data/mini-imagenet
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset_dir", metavar="DIR", help="a folder written by `cnlbench build` or `cnlbench export-hf`")
    parser.add_argument("--image-root", default=None, metavar="DIR",
                        help="folder a reference build's file-backed image paths are relative to")
    parser.add_argument("--no-images", action="store_true", help="skip decoding images and checking their SHA-256")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnlbench.errors import ManifestError
    from cnlbench.manifest import validate_dataset
    from cnlbench.manifest.reader import open_dataset
    from cnlbench.manifest.schema import SPLITS
    from cnlbench.manifest.validate import check_images

    folder = Path(args.dataset_dir)
    if not folder.is_dir():
        raise ManifestError(f"dataset folder {str(folder)!r} does not exist; pass a folder written by `cnlbench build`")
    fps = validate_dataset(folder, image_root=args.image_root)
    ds = open_dataset(folder, image_root=args.image_root)
    images = 0 if args.no_images else check_images(ds)
    rows = {c: {s: ds.record["configs"][c]["splits"][s]["rows"] for s in SPLITS} for c in ds.configs}
    width = max(len(c) for c in ds.configs)
    print(f"{ds.name}: {len(ds.configs)} configs verified in {folder}")
    for c in ds.configs:
        r = rows[c]
        print(f"  {c.ljust(width)}  train {r['train']:>7}  validation {r['validation']:>6}  test {r['test']:>6}  {fps[c][:16]}")
    if args.no_images:
        print("images: not checked (--no-images)")
    else:
        kind = "decoded, SHA-256 checked" if ds.images == "reference" else "decoded"
        print(f"images: {images} distinct images {kind}")
    print("OK")
    return 0
