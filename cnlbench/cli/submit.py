"""``cnlbench submit``: validate a submission JSON and add it to the leaderboard."""

from __future__ import annotations

import argparse

NAME = "submit"
HELP = "validate a leaderboard submission (JSON) and add it under LEADERBOARD/submissions/"
DESCRIPTION = """\
Validate a submission file (schema in docs/submissions.md) and, if it passes, write it to
LEADERBOARD/submissions/<method>-<version>.json. Checks: JSON well-formed and under 10 MB;
schema and types; metrics finite and in [0, 1]; every config of each reported noise kind
covered with at least 3 seeds; manifest fingerprints equal to the published manifests
(--manifests: the dataset folders `cnlbench build` wrote); not a duplicate of an accepted
submission (same content, or same method and version). Submissions are data: never executed.

example:
  cnlbench submit my-method.json --leaderboard leaderboard/ --manifests out/cifar10-sym
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the submission JSON file")
    parser.add_argument("--leaderboard", default="leaderboard", metavar="DIR",
                        help="leaderboard folder (default: leaderboard)")
    parser.add_argument("--manifests", nargs="+", default=[], metavar="DIR",
                        help="built dataset folder(s) whose fingerprints the runs must match")
    parser.add_argument("--recompute-fingerprints", action="store_true",
                        help="recompute the manifests' fingerprints from their content instead of trusting the build record")
    parser.add_argument("--min-seeds", type=int, default=3, help="seeds needed per config (default: 3)")


def run(args: argparse.Namespace) -> int:
    import shlex

    from cnlbench.board.submission import accept_submission, published_fingerprints
    from cnlbench.errors import SubmissionError

    published = {}
    for folder in args.manifests:
        pub = published_fingerprints(folder, recompute=args.recompute_fingerprints)
        if pub.name in published and published[pub.name].fingerprints != pub.fingerprints:
            raise SubmissionError(f"--manifests gives two different builds of dataset {pub.name!r}; pass one")
        published[pub.name] = pub
    acc = accept_submission(args.file, args.leaderboard, published, min_seeds=args.min_seeds)
    print(f"accepted {acc.n_runs} run(s) as {acc.path} (sha256 {acc.content_hash[:12]})")
    print("to publish it, commit the file and re-render the board:")
    print(f"  git add {shlex.quote(str(acc.path))}")
    print(f"  cnlbench leaderboard --out {shlex.quote(str(args.leaderboard))} [--results RESULTS ...]")
    return 0
