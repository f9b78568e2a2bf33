"""``cnlbench push``: publish an exported dataset folder to the Hugging Face Hub."""

from __future__ import annotations

import argparse

NAME = "push"
HELP = "upload an exported dataset folder to a Hugging Face dataset repo"
DESCRIPTION = """\
Upload FOLDER (written by `cnlbench export-hf`) to the dataset repo REPO_ID (owner/name) in one
commit: the card (README.md with configs: and dataset_info:), the build record and every
config's Parquet files. The repo is created if needed. Needs network access and a token
(`hf auth login`, or --token); --dry-run only lists what would be uploaded.

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
    from cnlbench.manifest.export import push_to_hub, upload_plan

    plan = upload_plan(args.folder, args.repo_id, private=args.private)
    if args.dry_run:
        print(f"would upload {len(plan.files)} files ({len(plan.configs)} configs) to {plan.repo_id}"
              f"{' (private)' if plan.private else ''}:")
        for _, rel in plan.files:
            print(f"  {rel}")
        return 0
    url = push_to_hub(args.folder, args.repo_id, token=args.token, private=args.private)
    print(f"pushed {len(plan.configs)} configs to {args.repo_id}: {url}")
    return 0
