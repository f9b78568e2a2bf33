"""``cnlbench tune DATASET_DIR``: tune every method on equal terms, on the noisy validation split."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

NAME = "tune"
HELP = "tune every method on equal terms (same grid budget, noisy validation only); writes a tuned-settings file"
DESCRIPTION = """\
Tune each METHOD (CE included) with the same budget: 9 settings per method and noise kind (learning-
rate multipliers x up to three values of at most two method parameters; a method without
parameters gets nine learning rates), each trained once (seed 1000, which evaluation sweeps do
not use by default) on ONE mid-level config per noise kind (sym-40, asym-40, web-40, ...).
Selection is the one-standard-error rule on the NOISY validation split: a method keeps its
published defaults at the reference learning rate unless the best setting beats them by more
than one binomial standard error of its accuracy (with several --seeds, a setting scores the
mean). The chosen setting is frozen for every level and seed of that kind; clean test labels are
never read. Runs go to a results store (--out, resumable: re-running the
command skips finished trials); the chosen settings, every trial and the tuning cost (runs,
wall time relative to CE) go to the tuned-settings file (--write, default OUT/tuned.json), which
`cnlbench eval --tuned FILE` consumes.

Output (stderr): as `cnlbench eval` (start line, live bars on a terminal, a plain line per
finished trial elsewhere, --log-every, --tensorboard).

A custom grid (--grid FILE, YAML or JSON): {method: {parameter: [values], lr_mult: [values]}};
at most two parameters and 12 settings per method; unknown parameters are refused.

Examples:
    cnlbench tune manifests/digits --methods ce,gce,mixup --configs 'sym-*,web-*' --out runs/tune
    cnlbench eval manifests/digits --methods ce,gce,mixup --configs 'sym-*,web-*' --seeds 5 \\
        --tuned runs/tune/tuned.json --out runs/digits
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnlbench.cli._progress import add_progress_arguments
    from cnlbench.cli.eval import csv_list

    parser.add_argument("dataset", metavar="DATASET_DIR", help="a dataset folder written by `cnlbench build`")
    parser.add_argument("--methods", required=True, type=csv_list, metavar="M1,M2",
                        help="comma-separated method names (an unknown name lists the valid ones)")
    parser.add_argument("--configs", default=None, type=csv_list, metavar="C1,C2",
                        help="configs (names or globs) to choose the tuning configs among: one per noise kind, "
                             "the level nearest 40%% (default: every config)")
    parser.add_argument("--seeds", default="1000", metavar="S1,S2",
                        help="the seed(s) each trial runs with, comma-separated (default 1000: one run per setting, "
                             "a seed that evaluation sweeps of seeds 0..N-1 do not use)")
    parser.add_argument("--out", required=True, metavar="RESULTS", help="results store of the trials (created or resumed)")
    parser.add_argument("--write", default=None, metavar="FILE", help="tuned-settings file (default OUT/tuned.json)")
    parser.add_argument("--grid", default=None, metavar="FILE", help="custom grids (YAML/JSON), see above")
    parser.add_argument("--model", default=None, help="network (default by image size)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N", help="epochs per stage (default: the reference budget)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--backend", default="local", choices=["local", "ray"], help="where runs execute (default local)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="local: worker processes; ray: runs per GPU")
    parser.add_argument("--address", default=None, help="Ray cluster address")
    parser.add_argument("--image-root", default=None, metavar="DIR", help="image folder of a reference-mode build")
    parser.add_argument("--retry-failed", action="store_true", help="re-run trials whose stored row failed")
    add_progress_arguments(parser)


def settings_table(doc: dict[str, Any]) -> str:
    """Markdown: per method and noise kind, the chosen setting and its noisy-validation accuracy."""
    kinds = sorted(doc["kinds"])
    methods = sorted({m for k in kinds for m in doc["kinds"][k]["methods"]})
    lines = ["| method | " + " | ".join(f"{k} ({doc['kinds'][k]['config']})" for k in kinds) + " | tuning cost (x CE) |",
             "|---" * (len(kinds) + 2) + "|"]
    per = doc["cost"]["per_method"]
    for m in methods:
        cells = []
        for k in kinds:
            e = doc["kinds"][k]["methods"].get(m)
            if e is None:
                cells.append("-")
            elif e["chosen"] is None:
                cells.append("all failed")
            else:
                ps = ", ".join(f"{a}={b}" for a, b in sorted(e["chosen"]["params"].items()))
                acc = e["val_acc_best"]
                cells.append(f"lr x{e['chosen']['lr_mult']:g}{', ' + ps if ps else ''} (val {100 * acc:.1f})"
                             if acc is not None and math.isfinite(acc) else "?")
        rel = per.get(m, {}).get("relative_to_ce", math.nan)
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {rel:.2f} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from cnlbench.cli._progress import progress_reporter
    from cnlbench.cli.eval import csv_list, sweep_arguments
    from cnlbench.errors import HarnessError
    from cnlbench.harness.sweep import run_tuning
    from cnlbench.harness.tuning import load_grid_file

    try:
        seeds = [int(s) for s in csv_list(args.seeds)]
    except ValueError:
        raise HarnessError(f"--seeds {args.seeds!r} is not a comma-separated list of integers; e.g. --seeds 1000") from None
    if not seeds or len(set(seeds)) != len(seeds) or any(not 0 <= s < 2**63 for s in seeds):
        raise HarnessError(f"--seeds {args.seeds!r}: give distinct seeds in [0, 2**63 - 1], e.g. --seeds 1000")
    kw = sweep_arguments(args)  # eval's up-front checks of the shared flags
    grids = load_grid_file(args.grid) if args.grid else None
    write = Path(args.write) if args.write else Path(args.out) / "tuned.json"
    result, doc = run_tuning(
        args.dataset, args.methods, args.out, write, configs=args.configs, seeds=seeds, grids=grids,
        backend=kw["backend"], jobs=kw["jobs"], address=kw["address"], model=kw["model"], epochs=kw["epochs"],
        device=kw["device"], image_root=kw["image_root"], retry_failed=kw["retry_failed"],
        progress=progress_reporter(args, "tune"),
    )
    print(f"{len(result.run_ids)} tuning runs: {result.skipped} already in {args.out}, {result.written} trained now, "
          f"{len(result.failed)} failed now; model {doc['model']}, {doc['train']['epochs']} epochs")
    print(f"\nchosen settings (one-standard-error rule on the NOISY validation split: the defaults unless the best "
          f"setting beats them by more than one standard error), written to {write}:")
    print(settings_table(doc))
    cost = doc["cost"]
    print(f"\ntuning cost: {cost['runs']} runs, {cost['wall_time_s'] / 60:.1f} min of run time "
          f"(per method relative to CE in the last column)")
    if result.failed:
        print(f"{len(result.failed)} trial(s) failed (e.g. a learning rate too large for the method: the row "
              "says why); they are never chosen", file=sys.stderr)
    hopeless = [f"{m} on {k}" for k, e in doc["kinds"].items() for m, v in e["methods"].items() if v["chosen"] is None]
    if hopeless:
        print(f"no setting trained for: {', '.join(hopeless)}", file=sys.stderr)
    return 1 if hopeless else 0

