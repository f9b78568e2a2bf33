"""``cnlbench eval DATASET_DIR``: train methods across configs and seeds into a results store."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

NAME = "eval"
HELP = "train noisy-label methods across configs x seeds on a built dataset (resumable)"
DESCRIPTION = """\
Train every METHOD on every CONFIG of a built dataset folder for every seed, one results row per
run, in a results store (--out): Parquet part files, one per finished run, written atomically.

Re-running the same command resumes: runs already in the store are skipped, nothing is
duplicated, and an interrupted sweep loses only the runs in flight. A store refuses a dataset
whose manifest changed since the store was built on it (use a new --out folder).

Fair-comparison rules: model selection uses the NOISY validation split only (each row reports
the final test accuracy and the test accuracy at the epoch of best noisy-validation accuracy);
the clean test split and the train-set noise flags are measured, never used for a decision; the
engine applies no label smoothing, test-time augmentation or weight averaging.

Defaults follow the image size: 8x8 -> digits-cnn (batch 128, 20 epochs), 32x32 -> fastnet
(batch 512, 30 epochs), larger -> resnet18. A NaN loss ends that run with a failed row
(status=failed) instead of stopping the sweep.

Examples:
    cnlbench eval manifests/digits --methods ce,mixup --configs 'sym-*' --seeds 3 --out results/digits
    cnlbench eval manifests/digits --methods gce --configs sym-40 --seeds 5 --param gce.q=0.5 --out r
    cnlbench eval cifar10-build --methods ce --configs sym-40 --backend ray --jobs 4 --device cuda --out r
"""


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def methods_listing() -> str:
    """One line per registered method: name, family, one-line description (board/references.py)."""
    from cnlbench.board.references import FAMILIES, method_info
    from cnlbench.harness.methods import get_method, method_names

    def describe(name: str) -> str:
        text = method_info(name).summary
        if not text:  # a method of your own: the first line of its docstring
            text = ((get_method(name).__doc__ or "").strip().splitlines() or [""])[0]
        return text

    names = sorted(method_names(), key=lambda n: (FAMILIES.index(method_info(n).family), n))
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
    parser.add_argument("--methods", required=True, type=_csv, metavar="M1,M2",
                        help="comma-separated method names (an unknown name lists the valid ones)")
    parser.add_argument("--configs", required=True, type=_csv, metavar="C1,C2",
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
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    sub = parser.add_argument_group("leaderboard submission (written after the sweep; schema in docs/submissions.md)")
    sub.add_argument("--submission", default=None, metavar="FILE",
                     help="write the sweep's rows of ONE method as a submission JSON (validate and add it with "
                          "`cnlbench submit FILE --manifests DATASET_DIR`)")
    sub.add_argument("--authors", default="", metavar="'A. Author, B. Author'", help="comma-separated author names")
    sub.add_argument("--code-url", default="", metavar="URL", help="public code of the method (http or https)")
    sub.add_argument("--paper-url", default=None, metavar="URL", help="paper of the method")
    sub.add_argument("--method-version", default="1", metavar="V", help="version of the method's implementation (default 1)")


def _seeds(text: str) -> int | list[int]:
    from cnlbench.errors import HarnessError

    try:
        parts = [int(p) for p in _csv(text)]
    except ValueError:
        raise HarnessError(f"--seeds {text!r} is not a count or a comma-separated list of integers; e.g. --seeds 3") from None
    if len(parts) == 1 and "," not in text:
        if parts[0] < 1:
            raise HarnessError(f"--seeds {parts[0]} must be >= 1")
        return parts[0]
    return parts


def summary_table(rows: list[dict[str, Any]], metric: str = "test_acc_best_val") -> str:
    """Markdown table: mean ``metric`` (percent) per method x config with n and a 95% t interval."""
    from cnlbench.board.stats import t_interval

    groups: dict[tuple[str, str], list[float]] = {}
    failed: dict[tuple[str, str], int] = {}
    order = {r["config"]: (r["noise_kind"], r["level"] if math.isfinite(r["level"]) else -1.0) for r in rows}
    configs = sorted(order, key=lambda c: (order[c], c))
    for r in rows:
        key = (r["method"], r["config"])
        if r["status"] == "ok" and math.isfinite(r[metric]):
            groups.setdefault(key, []).append(100.0 * r[metric])
        else:
            failed[key] = failed.get(key, 0) + 1
    methods = sorted({m for m, _ in list(groups) + list(failed)})
    lines = ["| method | " + " | ".join(configs) + " |", "|---" * (len(configs) + 1) + "|"]
    for m in methods:
        cells = []
        for c in configs:
            vals = groups.get((m, c), [])
            iv = t_interval(vals) if vals else None
            cell = "-" if iv is None else (f"{iv.estimate:.2f} ± {iv.half_width:.2f} (n={iv.n})" if iv.has_interval
                                           else f"{iv.estimate:.2f} (n={iv.n})")
            if failed.get((m, c)):
                cell += f", {failed[(m, c)]} failed"
            cells.append(cell)
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from cnlbench.harness.sweep import parse_param, run_sweep

    params: dict[str, dict[str, Any]] = {}
    for text in args.param:
        m, k, v = parse_param(text)
        params.setdefault(m, {})[k] = v
    overrides: dict[str, Any] = {}
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    if args.lr is not None:
        overrides["lr"] = args.lr
    if args.compile:
        overrides["compile"] = True
    result = run_sweep(
        args.dataset, args.methods, args.configs, _seeds(args.seeds), args.out,
        backend=args.backend, jobs=args.jobs, address=args.address, model=args.model,
        epochs=args.epochs, device=args.device, method_params=params, train_overrides=overrides,
        image_root=args.image_root, retry_failed=args.retry_failed,
        progress=not args.no_progress and sys.stderr.isatty(), pack=args.pack,
    )
    rows = result.rows()
    print(f"{len(result.run_ids)} runs: {result.skipped} already in {args.out}, {result.written} trained now, "
          f"{len(result.failed)} failed now")
    for r in result.failed:
        print(f"  failed: {r['method']} {r['config']} seed {r['seed']}: {r['error'].splitlines()[0]}", file=sys.stderr)
    print("\ntest accuracy (%) at the epoch of best NOISY-validation accuracy, mean ± 95% t half-width over seeds:")
    print(summary_table(rows))
    if args.submission:
        write_submission(rows, args)
    return 1 if any(r["status"] != "ok" for r in rows) else 0


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
    meta = {"method": methods[0], "method_version": args.method_version,
            "authors": [a.strip() for a in args.authors.split(",") if a.strip()],
            "code_url": args.code_url, "paper_url": args.paper_url}
    sub = make_submission(rows, meta)
    path = Path(args.submission)
    atomic_write_bytes(path, (json.dumps(sub, indent=1, sort_keys=True, allow_nan=False) + "\n").encode())
    print(f"\nwrote submission {path} ({len(sub['runs'])} runs of {methods[0]}); check and add it with:\n"
          f"  cnlbench submit {path} --manifests {args.dataset}")
