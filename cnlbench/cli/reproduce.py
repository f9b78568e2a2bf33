"""``cnlbench reproduce``: re-run a paper's table through cnlbench and compare with the paper."""

from __future__ import annotations

import argparse

from cnlbench.errors import CnlbenchError

NAME = "reproduce"
HELP = "reproduce a paper (build data, run the sweep, test the paper's claims on our runs)"
DESCRIPTION = """\
Build the dataset(s) a paper needs (cached in OUT/data), run its methods through the harness's
sweep (resumable: OUT/results is a results store; finished runs are skipped), test the paper's
claims on our runs (PASS / FAIL / NOT TESTABLE, each with its 95% interval) and print our
numbers beside the published ones (each with its source and trust level). The report is also
written to OUT/REPORT.md, with the scale it came from:

  smoke    digits, 1 epoch: a plumbing check
  reduced  the digits default on CPU, 3 seeds at the reference budget: directions and orderings
  full     CIFAR-10 on a GPU (refuses without the data or a GPU; --allow-cpu to insist);
           the only scale that prints "ours - published"

examples:
  cnlbench reproduce --list
  cnlbench reproduce patrini2017 --scale reduced --out repro/patrini2017
  cnlbench reproduce jiang2020 --scale full --data data/cifar10 --dry-run
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="reproduction name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the reproductions with citation and scales")
    parser.add_argument("--scale", default="reduced", choices=("smoke", "reduced", "full"),
                        help="smoke | reduced (default) | full")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder: data/, results/, REPORT.md (default: repro/NAME/SCALE)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: the scale's)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the scale's)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1, ...")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="full scale: the CIFAR-10 folder (default: the recipe's, <repo>/data/cifar10)")
    parser.add_argument("--allow-cpu", action="store_true", help="full scale: train on the CPU when no GPU is present")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan and its cost (configs, runs, image-passes) without building or training")
    parser.add_argument("--tuned", default=None, metavar="FILE",
                        help="tuned-settings file of `cnlbench tune` made on this reproduction's dataset")
    parser.add_argument("--tune", action="store_true",
                        help="tune the methods on equal terms first (OUT/tuning, OUT/tuned.json) and use the result")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (default 1)")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: report on the runs already in OUT/results (e.g. while a long run goes on)")
    parser.add_argument("--reuse", action="append", default=[], metavar="FILE.parquet",
                        help="import this plan's runs from an exported results file first (`eval --export`, e.g. "
                             "leaderboard/results/digits.parquet with --tuned leaderboard/tuned.json); repeatable")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from cnlbench.reproduce import get_reproduction, list_text, plan_text, reproduce

    if args.list:
        print(list_text(), end="")
        return 0
    if not args.name:
        raise CnlbenchError("name a reproduction (e.g. `cnlbench reproduce patrini2017`) or pass --list to see them")
    if args.tune and args.tuned:
        raise CnlbenchError("--tune and --tuned exclude each other: --tune writes OUT/tuned.json, --tuned reads a file")
    if args.dry_run:
        print(plan_text(get_reproduction(args.name), args.scale, seeds=args.seeds, epochs=args.epochs,
                        data=args.data, tune=args.tune), end="")
        return 0
    res = reproduce(args.name, args.scale, args.out, seeds=args.seeds, epochs=args.epochs, device=args.device,
                    allow_cpu=args.allow_cpu, data=args.data, progress=not args.quiet, tuned=args.tuned,
                    tune=args.tune, jobs=args.jobs, report_only=args.report_only, reuse=args.reuse)
    print(res.report)
    print(f"wrote {res.report_path}")
    failed = sum(r["status"] != "ok" for r in res.outcome.rows)
    if failed:
        print(f"{failed} run(s) failed; see the `error` column of {res.report_path.parent / 'results'}")
    return 0
