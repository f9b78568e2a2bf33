"""Feedback while runs train: a start line, live progress, plain log lines, an end summary.

:class:`SweepProgress` is the one reporter behind ``cnlbench eval`` (and any verb that trains
a list of :class:`~cnlbench.harness.engine.RunSpec` s: ``tune``, ``reproduce``). It writes to
stderr (stdout stays for results) and never raises into training:

* a start line: dataset, runs to do and already done, device, backend, model, budget
  (epochs x optimiser steps per epoch);
* on a terminal (``live``): a bar of runs and a bar of epochs over the whole sweep, whose
  postfix names the run in flight with its last loss and noisy-validation accuracy, and whose
  ETA counts epochs, so it moves every epoch;
* elsewhere (SLURM, nohup, pipes): one plain line per finished run (status, test accuracy at
  the selected epoch, time, elapsed, ETA), and one per ``log_every`` epochs;
* an end summary (:meth:`SweepProgress.close`);
* optionally TensorBoard event files (:class:`TensorBoardLog`), one folder per run.

API (all thread-safe)::

    rep = SweepProgress(live=None, log_every=0, tensorboard=None)  # live None: stderr is a TTY
    rep.start(dataset, todo_specs, skipped=0, backend="local, 1 process", train_rows={cfg: n})
    run_one(spec, on_epoch=rep.on_epoch)       # per epoch, in the training process
    rep.on_run(row)                            # per finished run (any backend)
    rep.close()                                # prints and returns the summary line

Epoch events come from the local backend (in this process, or sent back by its worker
processes with ``--jobs N``) and from packed runs (``--pack R``); Ray reports per finished run,
and the epoch bar then advances by a whole run.
"""

from __future__ import annotations

import math
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, TextIO

from cnlbench.errors import HarnessError
from cnlbench.harness.engine import RunSpec

__all__ = ["SweepProgress", "TensorBoardLog", "describe_backend", "describe_device", "epoch_events",
           "format_duration", "planned_epochs", "start_reporter"]

TENSORBOARD_HINT = "pip install 'cnlbench[tensorboard]'  (or: pip install tensorboard)"


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` (``-`` when unknown)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def planned_epochs(spec: RunSpec) -> int:
    """Epochs the run will train: the method's ``engine_overrides`` epochs (else the spec's)
    times its number of stages; 0 when the spec is unresolved or the method unknown."""
    from cnlbench.harness.methods.base import get_method

    try:
        cls = get_method(spec.method)
    except HarnessError:
        return 0
    epochs = cls.engine_overrides.get("epochs", None if spec.train is None else spec.train.epochs)
    return 0 if epochs is None else int(epochs) * int(cls.num_stages)


def describe_device(device: str) -> str:
    """``cpu`` or ``cuda:0 (GPU name)``; a device this machine lacks is named as unavailable."""
    import torch

    from cnlbench.harness.data import resolve_device

    try:
        d = resolve_device(device)
    except HarnessError:
        return f"{device} (not available here)"
    if d.type == "cuda":
        return f"{d} ({torch.cuda.get_device_name(d)})"
    return str(d)


def epoch_events(backend: Any) -> bool:
    """True when ``backend`` reports every epoch to a callback: the local backend (in this
    process with one job; its worker processes send each epoch back with several) and packed
    runs; Ray reports per finished run."""
    from cnlbench.harness.backends import LocalBackend
    from cnlbench.harness.multirun import PackedBackend

    return isinstance(backend, (LocalBackend, PackedBackend))


def describe_backend(backend: Any) -> str:
    """``local, 1 process``, ``local, 4 processes``, ``local, packed (up to 8 runs per device)``, ``ray``."""
    from cnlbench.harness.backends import LocalBackend, RayBackend

    if isinstance(backend, LocalBackend):
        return f"local, {backend.jobs} process{'es' if backend.jobs > 1 else ''}"
    if isinstance(backend, RayBackend):
        return f"ray ({backend.address or 'local instance'}, {backend.gpus_per_run:g} GPU per run)"
    max_runs = getattr(backend, "max_runs", None)
    if max_runs is not None:
        return f"local, packed (up to {max_runs} runs per device)"
    return type(backend).__name__


def _train_rows(specs: Sequence[RunSpec]) -> dict[str, int]:
    """Training rows per config, from the build record (for steps per epoch); {} if unreadable."""
    from cnlbench.harness.data import open_built

    try:
        record = open_built(specs[0].dataset_dir, specs[0].image_root).record
        return {c: int(v["splits"]["train"]["rows"]) for c, v in record["configs"].items()}
    except Exception:  # the start line is informative only
        return {}


def start_reporter(progress: "bool | SweepProgress", dataset: str, todo: Sequence[RunSpec], backend: Any, *,
                   skipped: int = 0, verb: str = "eval") -> "SweepProgress | None":
    """The reporter a sweep talks to: ``progress`` itself, a default :class:`SweepProgress`
    (True) or None (False); started (its start line printed) before training."""
    if progress is False or progress is None:
        return None
    reporter = progress if isinstance(progress, SweepProgress) else SweepProgress(verb=verb)
    reporter.start(dataset, todo, skipped=skipped, backend=describe_backend(backend),
                   train_rows=_train_rows(todo) if todo else {})
    return reporter


def _pct(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if not math.isfinite(v) else f"{100 * v:.2f}%"


def _run_label(method: str, config: str, seed: Any) -> str:
    return f"{method} {config} seed {seed}"


def _distinct(values: Sequence[Any]) -> str:
    seen: list[str] = []
    for v in values:
        if str(v) not in seen:
            seen.append(str(v))
    return ", ".join(seen) if seen else "-"


class TensorBoardLog:
    """TensorBoard event files: one folder per run under ``logdir`` (``CONFIG/METHOD-seedS-ID``),
    written from the row's per-epoch ``curves`` when the run finishes: losses, noisy-validation
    and clean-test accuracy, learning rate, method statistics, the memorisation curves (train
    accuracy on clean examples, on noisy examples against the given and the true label) and the
    row's final metrics. Needs the ``tensorboard`` package (imported here, with an install hint)."""

    def __init__(self, logdir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise HarnessError(f"--tensorboard needs the tensorboard package: {TENSORBOARD_HINT}") from None
        self.logdir = Path(logdir)
        self._writer_cls = SummaryWriter

    @staticmethod
    def run_name(row: Mapping[str, Any]) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{row.get('method', '')}-seed{row.get('seed', '')}")
        return f"{row.get('config', '')}/{safe}-{str(row.get('run_id', ''))[:8]}"

    def write_row(self, row: Mapping[str, Any]) -> Path:
        """Write one finished run's scalars; returns its event folder."""
        import json

        from cnlbench.harness.store import CURVE_TRAIN_CLEAN, CURVE_TRAIN_NOISY_GIVEN, CURVE_TRAIN_NOISY_TRUE

        tags = {
            "train_loss": "loss/train", "val_loss": "loss/validation_noisy", "val_acc": "accuracy/validation_noisy",
            "test_acc": "accuracy/test_clean", "lr": "lr",
            CURVE_TRAIN_CLEAN: "memorisation/train_clean_examples_fit",
            CURVE_TRAIN_NOISY_GIVEN: "memorisation/train_noisy_examples_fit_given_label",
            CURVE_TRAIN_NOISY_TRUE: "memorisation/train_noisy_examples_fit_true_label",
        }
        folder = self.logdir / self.run_name(row)
        try:
            curves = json.loads(row.get("curves") or "{}")
        except json.JSONDecodeError:
            curves = {}
        epochs = curves.get("epoch") or []
        stages = curves.get("stage") or [0] * len(epochs)
        per_stage = (max(epochs) + 1) if epochs else 0
        writer = self._writer_cls(log_dir=str(folder))
        try:
            step = 0
            for i in range(len(epochs)):
                step = int(stages[i]) * per_stage + int(epochs[i])
                for key, values in curves.items():
                    if not isinstance(values, list) or i >= len(values):
                        continue
                    tag = tags.get(key) or (f"method/{key[5:]}" if key.startswith("stat_") else None)
                    v = values[i]
                    if tag is not None and isinstance(v, (int, float)) and math.isfinite(float(v)):
                        writer.add_scalar(tag, float(v), step)
            for col in ("test_acc_best_val", "test_acc_final", "val_acc_best", "ece", "auroc_noise"):
                v = row.get(col)
                if isinstance(v, (int, float)) and math.isfinite(float(v)):
                    writer.add_scalar(f"final/{col}", float(v), step)
            writer.add_text("run", f"{row.get('method')} on {row.get('dataset')}/{row.get('config')}, seed "
                                   f"{row.get('seed')}, model {row.get('model')}, status {row.get('status')}", 0)
        finally:
            writer.close()
        return folder


class SweepProgress:
    """The reporter described in the module docstring.

    Args:
        live: bars on a terminal (None: when ``stream`` is a TTY); else plain lines.
        log_every: also log every N-th epoch of each run (plain lines; 0: runs only).
        stream: where to write (default ``sys.stderr``).
        tensorboard: folder for TensorBoard event files (None: none).
        verb: the prefix of every line (``eval``, ``tune``, ``reproduce``).
    """

    def __init__(self, *, live: bool | None = None, log_every: int = 0, stream: TextIO | None = None,
                 tensorboard: str | Path | None = None, verb: str = "eval"):
        if log_every < 0:
            raise HarnessError(f"--log-every {log_every} must be >= 0 (0: one line per finished run)")
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)()) if live is None else bool(live)
        self.log_every = int(log_every)
        self.verb = verb
        self.tensorboard = None if tensorboard is None else TensorBoardLog(tensorboard)
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self._planned: dict[str, int] = {}
        self._epochs_seen: dict[str, int] = {}
        self.total_runs = self.done_runs = self.failed_runs = self.skipped = 0
        self.total_epochs = self.done_epochs = 0
        self._run_bar: Any = None
        self._epoch_bar: Any = None
        self._closed = False

    # -- output ----------------------------------------------------------------------------
    def _emit(self, line: str) -> None:
        text = f"[{self.verb}] {line}"
        if self._epoch_bar is not None:
            from tqdm.auto import tqdm

            tqdm.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def _eta(self) -> float:
        elapsed = time.perf_counter() - self._t0
        if self.done_epochs <= 0 or self.total_epochs <= 0:
            return math.nan
        return elapsed / self.done_epochs * max(0, self.total_epochs - self.done_epochs)

    # -- API -------------------------------------------------------------------------------
    def start(self, dataset: str, todo: Sequence[RunSpec], *, skipped: int = 0, backend: str = "local",
              train_rows: Mapping[str, int] | None = None) -> str:
        """Print (and return) the start line; open the live bars."""
        self._t0 = time.perf_counter()
        self.skipped = int(skipped)
        self.total_runs = len(todo)
        for s in todo:
            self._planned[self._key(s)] = planned_epochs(s)
        self.total_epochs = sum(self._planned.values())
        devices = _distinct([s.device for s in todo]) if todo else "-"
        if todo and "ray" not in backend:
            devices = _distinct([describe_device(s.device) for s in todo])
        budget = []
        for s in todo:
            if s.train is None:
                continue
            rows = (train_rows or {}).get(s.config)
            steps = f" x {max(1, rows // s.train.batch_size)} steps" if rows else ""
            per = f"{planned_epochs(s) or s.train.epochs} epochs{steps} (batch {s.train.batch_size})"
            if per not in budget:
                budget.append(per)
        line = (f"{dataset}: {len(todo)} runs to do, {self.skipped} already done (skipped) | device {devices} | "
                f"backend {backend} | model {_distinct([s.model for s in todo])} | "
                f"budget {', '.join(budget) or '-'} per run")
        self._emit(line)
        if self.live and todo:
            from tqdm.auto import tqdm

            self._run_bar = tqdm(total=len(todo), unit="run", desc="runs", position=0, file=self.stream,
                                 dynamic_ncols=True)
            self._epoch_bar = tqdm(total=self.total_epochs, unit="epoch", desc="epochs", position=1,
                                   file=self.stream, dynamic_ncols=True)
        return line

    @staticmethod
    def _key(spec: Any) -> str:
        """A run's identity: its ``run_id`` (rows and resolved specs), else config/method/seed."""
        if isinstance(spec, Mapping):
            return str(spec.get("run_id") or f"{spec.get('config')}|{spec.get('method')}|{spec.get('seed')}")
        try:
            return spec.run_id
        except HarnessError:  # unresolved spec (no model/train config yet)
            return f"{spec.config}|{spec.method}|{spec.seed}"

    def map(self, backend: Any, specs: Sequence[RunSpec]) -> Iterator[dict[str, Any]]:
        """``backend.map(specs)`` with this reporter's epoch callback where the backend trains
        in this process (:func:`epoch_events`)."""
        if epoch_events(backend):
            import functools

            from cnlbench.harness.engine import run_one

            return backend.map(specs, functools.partial(run_one, on_epoch=self.on_epoch))
        return backend.map(specs)

    def on_epoch(self, spec: RunSpec, point: Mapping[str, Any]) -> None:
        """Engine callback (``run_one(spec, on_epoch=...)``): one epoch of ``spec`` finished."""
        try:
            with self._lock:
                self._on_epoch(spec, point)
        except Exception:  # reporting never breaks training
            pass

    def _on_epoch(self, spec: RunSpec, point: Mapping[str, Any]) -> None:
        key = self._key(spec)
        self._epochs_seen[key] = self._epochs_seen.get(key, 0) + 1
        self.done_epochs += 1
        epochs, stages = int(point.get("epochs", 0)), int(point.get("stages", 1))
        epoch, stage = int(point.get("epoch", 0)), int(point.get("stage", 0))
        where = f"epoch {epoch + 1}/{epochs}" + (f" of stage {stage + 1}/{stages}" if stages > 1 else "")
        loss, val = point.get("train_loss", math.nan), point.get("val_acc", math.nan)
        if self._epoch_bar is not None:
            self._epoch_bar.update(1)
            self._epoch_bar.set_postfix_str(
                f"{spec.method} {spec.config} s{spec.seed} {where}, loss {float(loss):.4f}, noisy-val {_pct(val)}")
        if self.log_every and ((epoch + 1) % self.log_every == 0 or epoch + 1 == epochs):
            self._emit(f"  {_run_label(spec.method, spec.config, spec.seed)} {where}: loss {float(loss):.4f}, "
                       f"noisy-val acc {_pct(val)}, {float(point.get('epoch_time_s', math.nan)):.1f} s/epoch; "
                       f"ETA {format_duration(self._eta())}")

    def on_run(self, row: Mapping[str, Any]) -> None:
        """One run finished (its results row, ``ok`` or ``failed``)."""
        with self._lock:
            key = self._key(row)
            # epochs this run did not report (another process, or a failure): count them now
            missing = max(0, self._planned.get(key, 0) - self._epochs_seen.get(key, 0))
            self.done_epochs += missing
            self.done_runs += 1
            ok = row.get("status") == "ok"
            self.failed_runs += 0 if ok else 1
            if self._epoch_bar is not None:
                self._epoch_bar.update(missing)
                self._run_bar.update(1)
                self._run_bar.set_postfix(failed=self.failed_runs)
            elapsed = time.perf_counter() - self._t0
            label = _run_label(row.get("method"), row.get("config"), row.get("seed"))
            if ok:
                best = row.get("best_epoch")
                at = f"epoch {int(best) + 1}" if isinstance(best, int) and best >= 0 else "the selected epoch"
                what = (f"ok, test acc {_pct(row.get('test_acc_best_val'))} at {at} (best noisy-val acc "
                        f"{_pct(row.get('val_acc_best'))})")
            else:
                what = f"FAILED: {str(row.get('error') or '').splitlines()[0] if row.get('error') else 'no message'}"
            wall = row.get("wall_time_s", math.nan)
            self._emit(f"run {self.done_runs}/{self.total_runs} {label}: {what}, {float(wall):.1f} s | "
                       f"elapsed {format_duration(elapsed)}, ETA {format_duration(self._eta())}")
            if self.tensorboard is not None:
                try:
                    self.tensorboard.write_row(row)
                except Exception as exc:  # a full disk must not lose the results row
                    self._emit(f"  TensorBoard write failed for {label}: {type(exc).__name__}: {exc}")

    def close(self) -> str:
        """Close the bars; print (and return) the end summary."""
        with self._lock:
            if self._closed:
                return ""
            self._closed = True
            for bar in (self._epoch_bar, self._run_bar):
                if bar is not None:
                    bar.close()
            self._epoch_bar = self._run_bar = None
            elapsed = time.perf_counter() - self._t0
            per = f", {elapsed / self.done_runs:.1f} s per run" if self.done_runs else ""
            line = (f"done in {format_duration(elapsed)}: {self.done_runs} of {self.total_runs} runs trained "
                    f"({self.failed_runs} failed), {self.skipped} skipped (already done){per}")
            if self.tensorboard is not None:
                line += f"; TensorBoard: tensorboard --logdir {self.tensorboard.logdir}"
            self._emit(line)
            return line

    def __enter__(self) -> "SweepProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

