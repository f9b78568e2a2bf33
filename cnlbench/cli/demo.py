"""``cnlbench demo``: the README's main job, end to end on the embedded default."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NAME = "demo"
HELP = "build the embedded digits benchmark and run the quick sweep (a few minutes on 2 CPU cores)"
DESCRIPTION = """\
The whole pipeline on scikit-learn's bundled handwritten digits, offline:

  1. build   RECIPE (default recipes/digits.yaml) into OUT/digits: every config (symmetric,
             asymmetric and web noise at the ten levels) as a Hugging Face dataset folder,
             and print each config's requested and realised noise rate;
  2. eval    the quick sweep: a few methods x every sym-* and web-* config x 3 seeds, into
             the resumable results store OUT/results (re-run to resume after a kill);
  3. report  the table of mean test accuracy (model chosen on the NOISY validation split)
             with 95% t intervals over seeds, and the leaderboard folder OUT/leaderboard
             (README.md, offline index.html, plots).

example:
  cnlbench demo --out out
  python -c "import datasets; print(datasets.load_dataset('out/digits', 'sym-40'))"
"""

DEFAULT_METHODS = "ce,mixup,proselflc"
#: The quick sweep's budget: a third of the digits reference budget (60 epochs, in which CE
#: memorises the noise), so the demo stays within a few minutes on 2 cores. Its numbers are a
#: QUICK look, labelled as such, not the protocol's (`make leaderboard` runs the reference).
QUICK_EPOCHS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out", help="output folder (default: out)")
    parser.add_argument("--recipe", default="recipes/digits.yaml", help="recipe to build (default: recipes/digits.yaml)")
    parser.add_argument("--methods", default=DEFAULT_METHODS,
                        help=f"comma-separated methods of the quick sweep (default: {DEFAULT_METHODS})")
    parser.add_argument("--configs", default="sym-*,web-*",
                        help="comma-separated config names or globs (default: sym-*,web-*)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per (method, config) (default: 3)")
    parser.add_argument("--epochs", type=int, default=QUICK_EPOCHS,
                        help=f"epochs per run (default {QUICK_EPOCHS}: the QUICK budget, a third of the digits reference "
                             "budget; untuned, so not the protocol's numbers)")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (default: 2, one per core)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--skip-sweep", action="store_true", help="only build and print the noise summary")


def run(args: argparse.Namespace) -> int:
    from cnlbench.board.leaderboard import write_leaderboard
    from cnlbench.board.results import read_results
    from cnlbench.board.table import build_tables
    from cnlbench.board.text import render_text
    from cnlbench.harness.sweep import match_configs, run_sweep
    from cnlbench.manifest import build_from_recipe, open_dataset

    out = Path(args.out)
    t0 = time.perf_counter()
    report = build_from_recipe(args.recipe, out / "digits", progress=sys.stderr.isatty())
    print(f"built {report.name} into {report.out} ({time.perf_counter() - t0:.1f} s)\n")
    print(report.table())
    if args.skip_sweep:
        return 0
    ds = open_dataset(out / "digits")
    patterns = [p for p in args.configs.split(",") if p]
    configs = match_configs(patterns, ds.configs)
    methods = [m for m in args.methods.split(",") if m]
    print(f"\nquick sweep: {len(methods)} methods x {len(configs)} configs x {args.seeds} seeds "
          f"= {len(methods) * len(configs) * args.seeds} runs on {args.device}, {args.jobs} at a time, "
          f"{args.epochs} epochs (a QUICK, untuned budget: the reference board uses `cnlbench tune` and the "
          "model's reference budget, in which CE memorises the noise)")
    t1 = time.perf_counter()
    # progress: live bars on a terminal, a plain line per finished run elsewhere (CI, files)
    res = run_sweep(out / "digits", methods, configs, args.seeds, out / "results", jobs=args.jobs,
                    epochs=args.epochs, device=args.device, progress=True)
    print(f"sweep: {res.written} runs now, {res.skipped} already done, {len(res.failed)} failed "
          f"({time.perf_counter() - t1:.1f} s)\n")
    tables = build_tables(read_results([out / "results"]), "test_acc_best_val")
    for table in tables:
        print(render_text(table) + "\n")
    lb = write_leaderboard([out / "results"], out / "leaderboard")
    print(f"leaderboard: {out / 'leaderboard' / 'README.md'} and index.html ({len(lb.files)} files)")
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 0
