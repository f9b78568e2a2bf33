"""``cnlbench leaderboard``: render results (and accepted submissions) as a leaderboard folder."""

from __future__ import annotations

import argparse
import sys

from cnlbench.errors import CnlbenchError

NAME = "leaderboard"
HELP = "render results stores as a leaderboard: Markdown, offline HTML, plots, with 95% CIs"
DESCRIPTION = """\
Render one or more results stores (folders `cnlbench eval` wrote, or .parquet/.csv files)
plus the accepted submissions in OUT/submissions/ into OUT/:

  README.md          provenance (model, epochs, seeds, settings, --commit, --date); per dataset
                     and noise kind a summary (rank, family, mean over levels with its bootstrap
                     interval, paired difference to CE, P(improvement), protocol flag), then one
                     row per method: mean +- 95% t interval over seeds per level, mean over
                     levels (CNWL style), IQM and mean with stratified-bootstrap intervals
  index.html         the same tables, offline, sortable, with a filter box and links to each
                     method's paper and code
  leaderboard.json   every number, machine-readable
  plots/*.png, .svg  metric vs level (one panel per method family, CE in each), synthetic beside
                     web noise, noise-detection AUROC vs level, memorisation curves

Failed runs are excluded from the statistics and counted in a footnote. A method more than 2
points below CE at 0% noise is shown greyed with its reason and not ranked. A part file of a
results store that cannot be read is reported by name and left out; the rest is rendered.

example:
  cnlbench leaderboard --results runs/ --out leaderboard/
"""


def _n_test(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        if not sep or not name or not value.isdigit() or int(value) <= 0:
            raise CnlbenchError(f"--n-test {item!r} must look like DATASET=SIZE, e.g. cifar10=10000")
        out[name] = int(value)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnlbench.board.table import METRICS

    parser.add_argument("--results", nargs="*", default=[], metavar="PATH",
                        help="results-store folder(s) or .parquet/.csv files (default: none, submissions only)")
    parser.add_argument("--out", default="leaderboard", help="output folder (default: leaderboard)")
    parser.add_argument("--metric", default="test_acc_best_val", choices=sorted(METRICS),
                        help="metric to rank on (default: test_acc_best_val, model chosen on noisy validation)")
    parser.add_argument("--submissions", default=None, metavar="DIR",
                        help="accepted submissions folder (default: OUT/submissions)")
    parser.add_argument("--baseline", default="ce", help="method P(improvement) and paired differences compare to")
    parser.add_argument("--seed", type=int, default=0, help="seed of every bootstrap (default: 0)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default: 2000)")
    parser.add_argument("--n-test", action="append", default=[], metavar="DATASET=SIZE",
                        help="test-set size for the binomial half-width footnote (repeatable)")
    parser.add_argument("--curve-methods", nargs="*", default=None, metavar="METHOD",
                        help="methods in the memorisation figure (default: all with curves)")
    parser.add_argument("--curve-level", type=float, default=None, metavar="FRACTION",
                        help="noise level of the memorisation figure, e.g. 0.4 (default: nearest 0.4)")
    parser.add_argument("--no-plots", action="store_true", help="skip the figures (PNG and SVG)")
    parser.add_argument("--commit", default="", metavar="SHA",
                        help="code commit the results were produced with, shown in the provenance block "
                             "(e.g. --commit $(git rev-parse --short HEAD))")
    parser.add_argument("--date", default="", metavar="YYYY-MM-DD",
                        help="date of the results, shown in the provenance block (never read from the clock, "
                             "so the same inputs give the same page)")
    parser.add_argument("--tuned", default=None, metavar="FILE",
                        help="the tuned-settings file the results were run with (`cnlbench tune --write`): "
                             "the header then states the tuning grid that was searched")
    parser.add_argument("--status", default="", metavar="TEXT",
                        help="a status line shown first in the provenance block, e.g. that a sweep is still "
                             "incomplete and how to continue it")


def run(args: argparse.Namespace) -> int:
    from cnlbench.board.leaderboard import write_leaderboard

    res = write_leaderboard(
        args.results, args.out, metric=args.metric, submissions_dir=args.submissions, baseline=args.baseline,
        seed=args.seed, reps=args.reps, n_test=_n_test(args.n_test), curve_methods=args.curve_methods,
        curve_level=args.curve_level, plots=not args.no_plots, commit=args.commit, date=args.date,
        status=args.status, tuned=args.tuned,
    )
    n_failed = sum(t.n_failed for t in res.tables)
    print(f"{len(res.tables)} table(s) from {res.n_rows} result row(s); {n_failed} failed run(s) excluded")
    for s in res.skipped_submissions:
        print(f"skipped invalid submission {s}")
    for u in res.unreadable_results:
        print(f"skipped unreadable results part {u}; re-run the `cnlbench eval` command that wrote it "
              "(it sets the part aside and trains that run again)", file=sys.stderr)
    for f in res.files:
        print(f"wrote {f}")
    for f in res.removed_plots:
        print(f"removed {f} (a figure of an earlier render that this one no longer draws)")
    return 0
