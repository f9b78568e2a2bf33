"""``cnlbench push``: publish an exported dataset folder to the Hugging Face Hub."""

from __future__ import annotations

import argparse

NAME = "push"
HELP = "upload an exported dataset folder to a Hugging Face dataset repo"
DESCRIPTION = """\
Upload FOLDER (written by `cnlbench export-hf`) to the dataset repo REPO_ID (owner/name): every
config's Parquet files, the shared clean test split, then the card (README.md with configs: and
dataset_info:) and the build record. The repo is created if needed. Large folders upload
resumably: with huggingface_hub's upload_large_folder where the installed version has it, else one
commit per config, skipping what the repo already holds; after an interruption, re-run the same
command. Needs network access and a token (`hf auth login`, or --token); --dry-run lists the
files, their total size and the data's licences (a non-commercial licence, e.g. CIFAR-N's
CC BY-NC 4.0, is called out) and stops.

example:
  cnlbench export-hf build/digits --out export/digits
  cnlbench push export/digits my-org/cnlbench-digits --private
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="FOLDER", help="a folder written by `cnlbench export-hf`")
    parser.add_argument("repo_id", metavar="REPO_ID", help="the dataset repo, owner/name")
    parser.add_argument("--token", default=None, help="Hub token (default: the one `hf auth login` stored)")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--dry-run", action="store_true", help="list the upload plan and stop")


def run(args: argparse.Namespace) -> int:
    from cnlbench.manifest.export import format_size, push_to_hub, upload_plan

    plan = upload_plan(args.folder, args.repo_id, private=args.private)
    licences = ", ".join(plan.licenses) or "none recorded"
    print(f"{'would upload' if args.dry_run else 'uploading'} {len(plan.files)} files, {format_size(plan.total_bytes)} "
          f"({len(plan.configs)} configs) to {plan.repo_id}{' (private)' if plan.private else ''}")
    print(f"licence: {licences}" + ("; NON-COMMERCIAL use only: the published dataset carries this restriction"
                                    if plan.non_commercial else ""))
    if args.dry_run:
        for path, rel in plan.files:
            print(f"  {rel}  ({format_size(path.stat().st_size)})")
        return 0
    url = push_to_hub(args.folder, args.repo_id, token=args.token, private=args.private,
                      log=lambda line: print(f"  {line}", flush=True))
    print(f"pushed {len(plan.configs)} configs to {args.repo_id}: {url}")
    return 0
