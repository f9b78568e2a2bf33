"""``cnlbench eval DATASET_DIR``: train methods across configs and seeds into a results store."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from cnlbench.cli._progress import OUTPUT_HELP, add_progress_arguments, progress_reporter

NAME = "eval"
HELP = "train noisy-label methods across configs x seeds on a built dataset (resumable)"
DESCRIPTION = """\
Train every METHOD on every CONFIG of a built dataset folder for every seed, one results row per
run, in a results store (--out): Parquet part files, one per finished run, written atomically.

Re-running the same command resumes: runs already in the store are skipped, nothing is
duplicated, and an interrupted sweep loses only the runs in flight. A store refuses a dataset
whose manifest changed since the store was built on it (use a new --out folder). One eval writes
into a store at a time (a second is refused, naming the first). A damaged part file is reported,
moved to RESULTS/damaged/ and its run trained again. Runs whose stored row FAILED are not
re-run unless --retry-failed is given (eval says how many there are). Every argument, the
device included, is checked before the first run trains.

Fair-comparison rules: model selection uses the NOISY validation split only (each row reports
the final test accuracy and the test accuracy at the epoch of best noisy-validation accuracy);
the clean test split and the train-set noise flags are measured, never used for a decision; the
engine applies no label smoothing, test-time augmentation or weight averaging.

Defaults follow the image size: 8x8 -> digits-cnn (batch 128, 20 epochs), 32x32 -> fastnet
(batch 512, 30 epochs), larger -> resnet18. A NaN loss ends that run with a failed row
(status=failed) instead of stopping the sweep.

""" + OUTPUT_HELP + """
Examples:
    cnlbench eval manifests/digits --methods ce,mixup --configs 'sym-*' --seeds 3 --out results/digits
    cnlbench eval manifests/digits --methods gce --configs sym-40 --seeds 5 --param gce.q=0.5 --out r
    cnlbench eval cifar10-build --methods ce --configs sym-40 --backend ray --jobs 4 --device cuda --out r
"""


def csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def methods_listing() -> str:
    """One line per registered method: name, family, one-line description (board/references.py)."""
    from cnlbench.board.references import METHOD_FAMILIES, method_info
    from cnlbench.harness.methods import get_method, method_names

    def describe(name: str) -> str:
        text = method_info(name).summary
        if not text:  # a method of your own: the first line of its docstring
            text = ((get_method(name).__doc__ or "").strip().splitlines() or [""])[0]
        return text

    names = sorted(method_names(), key=lambda n: (METHOD_FAMILIES.index(method_info(n).family), n))
    width = max(len(n) for n in names)
    fam = max(len(method_info(n).family) for n in names)
    return "\n".join(f"{n:<{width}}  {method_info(n).family:<{fam}}  {describe(n)}" for n in names)


class _ListMethods(argparse.Action):
    """``--list-methods``: print the methods and exit, like ``--help`` (no other flag needed)."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ARG002
        print(methods_listing())
        parser.exit(0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list-methods", action=_ListMethods, nargs=0,
                        help="list every method (name, family, one-line description) and exit")
    parser.add_argument("dataset", metavar="DATASET_DIR", help="a dataset folder written by `cnlbench build`")
    parser.add_argument("--methods", required=True, type=csv_list, metavar="M1,M2",
                        help="comma-separated method names (an unknown name lists the valid ones)")
    parser.add_argument("--configs", required=True, type=csv_list, metavar="C1,C2",
                        help="comma-separated config names or globs, e.g. sym-00,sym-40 or 'sym-*'")
    parser.add_argument("--seeds", default="3", metavar="N|S1,S2",
                        help="number of seeds (0..N-1) or a comma-separated list of seeds (default 3)")
    parser.add_argument("--out", required=True, metavar="RESULTS", help="results store folder (created or resumed)")
    parser.add_argument("--model", default=None, help="network (default by image size); an unknown name lists the valid ones")
    parser.add_argument("--epochs", type=int, default=None, metavar="N", help="epochs per stage (default per model)")
    parser.add_argument("--batch-size", type=int, default=None, metavar="B", help="examples per step (default per model)")
    parser.add_argument("--lr", type=float, default=None, help="peak SGD learning rate (default per model)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks (CUDA; compiled once per model)")
    parser.add_argument("--backend", default="local", choices=["local", "ray"], help="where runs execute (default local)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="local: worker processes; ray: runs sharing one GPU (num_gpus = 1/N per run)")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray instance)")
    parser.add_argument("--pack", type=int, default=1, metavar="R",
                        help="train up to R compatible runs together on one device (same model, epochs, data; "
                             "single-network methods), each run's numbers unchanged by its partners; "
                             "local backend with --jobs 1 (default 1: no packing)")
    parser.add_argument("--param", action="append", default=[], metavar="METHOD.KEY=VALUE",
                        help="method hyperparameter, repeatable; VALUE is JSON when it parses (e.g. gce.q=0.7)")
    parser.add_argument("--image-root", default=None, metavar="DIR", help="image folder of a reference-mode build")
    parser.add_argument("--retry-failed", action="store_true", help="re-run runs whose stored row failed")
    parser.add_argument("--export", default=None, metavar="FILE.parquet",
                        help="after the sweep, write exactly this sweep's rows (no other rows of the store) to one "
                             "Parquet file, atomically: the file to commit or pass to `cnlbench leaderboard --results`")
    parser.add_argument("--tuned", default=None, metavar="FILE",
                        help="tuned-settings file of `cnlbench tune`: each method runs with its frozen setting for "
                             "the config's noise kind (recorded in every row)")
    add_progress_arguments(parser)
    sub = parser.add_argument_group("leaderboard submission (written after the sweep; schema in docs/submissions.md)")
    sub.add_argument("--submission", default=None, metavar="FILE",
                     help="write the sweep's rows of ONE method as a submission JSON (validate and add it with "
                          "`cnlbench submit FILE --manifests DATASET_DIR`)")
    sub.add_argument("--authors", default="", metavar="'A. Author, B. Author'", help="comma-separated author names")
    sub.add_argument("--code-url", default="", metavar="URL", help="public code of the method (http or https)")
    sub.add_argument("--paper-url", default=None, metavar="URL", help="paper of the method")
    sub.add_argument("--method-version", default="1", metavar="V", help="version of the method's implementation (default 1)")


def _seeds(text: str) -> int | list[int]:
    """``--seeds``: a count (``3``) or a list (``0,5,17``); the sweep checks ranges and repeats."""
    from cnlbench.errors import HarnessError

    try:
        parts = [int(p) for p in csv_list(text)]
    except ValueError:
        raise HarnessError(f"--seeds {text[:60]!r} is not a count or a comma-separated list of integers; "
                           "e.g. --seeds 3") from None
    if len(parts) == 1 and "," not in text:
        if parts[0] < 1:
            raise HarnessError(f"--seeds {parts[0]} must be >= 1")
        return parts[0]
    return parts


def sweep_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Check eval's flags before anything trains or is written, and return them as keyword
    arguments of :func:`~cnlbench.harness.sweep.run_sweep` (less ``dataset`` and ``out``).
    Shared with verbs that reuse eval's arguments (a flag such a verb lacks is skipped)."""
    from cnlbench.errors import HarnessError
    from cnlbench.harness.sweep import parse_param

    def flag(name: str, default: Any = None) -> Any:
        return getattr(args, name, default)

    if flag("methods") is not None and not args.methods:
        raise HarnessError("--methods names no method; pass one or more, e.g. --methods ce,gce")
    if flag("configs") is not None and not args.configs:
        raise HarnessError("--configs names no config; pass names or globs, e.g. --configs sym-00,'sym-4*'")
    for name in ("epochs", "batch_size", "jobs", "pack"):
        value = flag(name)
        if value is not None and value < 1:
            raise HarnessError(f"--{name.replace('_', '-')} {value} must be >= 1")
    lr = flag("lr")
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise HarnessError(f"--lr {lr} must be a finite number > 0, e.g. --lr 0.05")
    params: dict[str, dict[str, Any]] = {}
    for text in flag("param", []):
        m, k, v = parse_param(text)
        params.setdefault(m, {})[k] = v
    overrides: dict[str, Any] = {}
    if flag("batch_size") is not None:
        overrides["batch_size"] = args.batch_size
    if lr is not None:
        overrides["lr"] = lr
    if flag("compile"):
        overrides["compile"] = True
    if flag("submission"):
        _check_submission_arguments(args)
    kwargs: dict[str, Any] = dict(
        backend=flag("backend", "local"), jobs=flag("jobs", 1), address=flag("address"), model=flag("model"),
        epochs=flag("epochs"), device=flag("device", "auto"), method_params=params, train_overrides=overrides,
        image_root=flag("image_root"), retry_failed=flag("retry_failed", False), pack=flag("pack", 1))
    if flag("methods") is not None:
        kwargs["methods"] = args.methods
    if flag("configs") is not None:
        kwargs["configs"] = args.configs
    if flag("seeds") is not None:
        kwargs["seeds"] = _seeds(args.seeds)
    return kwargs


def _check_submission_arguments(args: argparse.Namespace) -> None:
    """``--submission`` is written after the sweep: refuse what would fail then, up front."""
    from pathlib import Path

    from cnlbench.board.submission import check_submission_meta
    from cnlbench.errors import SubmissionError

    if len(args.methods) != 1:
        raise SubmissionError(f"--submission covers one method; --methods gives {args.methods}: run `cnlbench eval` "
                              "with a single --methods entry per submission")
    path = Path(args.submission)
    if path.is_dir() or (path.parent.exists() and not path.parent.is_dir()):
        raise SubmissionError(f"--submission {str(path)!r} cannot be written (a folder, or its parent is a file); "
                              "pass a file path such as my-method.json")
    check_submission_meta(_submission_meta(args, args.methods[0]))


def _submission_meta(args: argparse.Namespace, method: str) -> dict[str, Any]:
    return {"method": method, "method_version": args.method_version,
            "authors": [a.strip() for a in args.authors.split(",") if a.strip()],
            "code_url": args.code_url, "paper_url": args.paper_url}


def summary_text(rows: list[dict[str, Any]], metric: str = "test_acc_best_val") -> str:
    """The sweep's summary as the board prints it in a terminal (:func:`cnlbench.board.text.render_text`):
    per (dataset, noise kind) one table, per method x config the mean (percent) +- the 95% t
    half-width over seeds; failed runs are counted in the table's notes."""
    from cnlbench.board.results import normalise_row
    from cnlbench.board.table import build_tables
    from cnlbench.board.text import render_text

    return "\n\n".join(render_text(t) for t in build_tables([normalise_row(r) for r in rows], metric))


def run(args: argparse.Namespace) -> int:
    from cnlbench.harness.sweep import run_sweep

    result = run_sweep(
        args.dataset, out=args.out, **sweep_arguments(args),
        progress=progress_reporter(args, "eval"), tuned=args.tuned,
    )
    rows = result.rows()
    if args.export:
        from cnlbench.harness.store import write_rows

        print(f"{len(rows)} rows of this sweep written to {write_rows(rows, args.export)}")
    print(f"{len(result.run_ids)} runs: {result.skipped} already in {args.out}, {result.written} trained now, "
          f"{len(result.failed)} failed now")
    for r in result.failed:
        print(f"  failed: {r['method']} {r['config']} seed {r['seed']}: {r['error'].splitlines()[0]}", file=sys.stderr)
    report_store_notes(result, args.out)
    print()
    print(summary_text(rows))
    if args.submission:
        write_submission(rows, args)
    return 1 if any(r["status"] != "ok" for r in rows) else 0


def report_store_notes(result: Any, out: str) -> None:
    """Tell the user (stderr) about damaged parts set aside and failed rows kept as they were."""
    for path, why in result.damaged:
        print(f"  damaged part set aside as {path} ({why}); its run is trained again", file=sys.stderr)
    if result.failed_kept:
        print(f"{result.failed_kept} run(s) of this sweep have a FAILED row in {out} and were not trained again; "
              "fix the cause and re-run with --retry-failed to re-run them", file=sys.stderr)
    elif result.failed:
        print(f"{len(result.failed)} run(s) failed; after fixing the cause, re-run the same command with "
              "--retry-failed to train them again", file=sys.stderr)


def write_submission(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Write the sweep's rows as a validated submission file (atomically)."""
    import json
    from pathlib import Path

    from cnlbench.board.submission import make_submission
    from cnlbench.errors import SubmissionError
    from cnlbench.manifest.atomic import atomic_write_bytes

    methods = sorted({r["method"] for r in rows})
    if len(methods) != 1:
        raise SubmissionError(f"--submission covers one method; this sweep ran {methods}: run `cnlbench eval` "
                              "with a single --methods entry (the results store keeps the other runs)")
    sub = make_submission(rows, _submission_meta(args, methods[0]))
    path = Path(args.submission)
    atomic_write_bytes(path, (json.dumps(sub, indent=1, sort_keys=True, allow_nan=False) + "\n").encode())
    print(f"\nwrote submission {path} ({len(sub['runs'])} runs of {methods[0]}); check and add it with:\n"
          f"  cnlbench submit {path} --manifests {args.dataset}")
