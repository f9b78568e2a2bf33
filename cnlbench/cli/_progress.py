"""The progress options every training verb shares (``eval``, ``tune``, ``reproduce``).

    add_progress_arguments(parser)           # --no-progress, --log-every N, --tensorboard DIR
    reporter = progress_reporter(args, "eval")   # a SweepProgress for run_sweep(progress=...)
"""

from __future__ import annotations

import argparse
from typing import Any

OUTPUT_HELP = """\
Output (stderr): a start line (dataset, runs to do and skipped, device, backend, model, budget =
epochs x steps per epoch); on a terminal, live bars of runs and epochs (the run in flight, its
loss and noisy-validation accuracy, ETA); elsewhere (SLURM, nohup, a pipe) one plain line per
finished run, and per N epochs with --log-every N; an end summary. --tensorboard DIR also writes
TensorBoard event files per run (needs `pip install 'cnlbench[tensorboard]'`).
"""


def add_progress_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-progress``, ``--log-every`` and ``--tensorboard`` to a verb's parser."""
    parser.add_argument("--no-progress", action="store_true",
                        help="no live bars, even on a terminal: plain lines per finished run instead")
    parser.add_argument("--log-every", type=int, default=0, metavar="N",
                        help="also log every N-th epoch of each run as a plain line (default 0: runs only)")
    parser.add_argument("--tensorboard", default=None, metavar="DIR",
                        help="write TensorBoard event files (per-epoch scalars and memorisation curves, one "
                             "folder per run) under DIR; view with `tensorboard --logdir DIR`")


def progress_reporter(args: argparse.Namespace, verb: str) -> Any:
    """The :class:`~cnlbench.harness.progress.SweepProgress` the parsed options ask for."""
    from cnlbench.harness.progress import SweepProgress

    live = False if getattr(args, "no_progress", False) else None
    return SweepProgress(live=live, log_every=getattr(args, "log_every", 0) or 0,
                         tensorboard=getattr(args, "tensorboard", None), verb=verb)
