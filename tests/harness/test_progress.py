"""Progress reporting of sweeps: start line, per-run and per-epoch lines, live bars, TensorBoard."""

from __future__ import annotations

import io
import json
import re
import sys

import pytest

from cnlbench.cli import main
from cnlbench.errors import HarnessError
from cnlbench.harness.progress import SweepProgress, TensorBoardLog, format_duration, planned_epochs
from cnlbench.harness.store import ResultsStore
from cnlbench.harness.sweep import plan_sweep, run_sweep

RUN_LINE = re.compile(r"^\[eval\] run (\d)/4 (ce|mae) sym-40 seed (\d): ok, test acc [\d.]+% at epoch \d")


def test_non_terminal_eval_prints_a_line_per_finished_run(digits_dir, tmp_path, capsys) -> None:
    """Without a terminal (capsys is not a TTY): a start line, one line per run as it finishes,
    epoch lines with --log-every, an end summary; stdout keeps only the results."""
    argv = ["eval", str(digits_dir), "--methods", "ce,mae", "--configs", "sym-40", "--seeds", "2",
            "--epochs", "2", "--device", "cpu", "--out", str(tmp_path / "r"), "--log-every", "2"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    start = [line for line in err if "runs to do" in line]
    assert len(start) == 1
    for part in ("digits: 4 runs to do, 0 already done", "device cpu", "backend local, 1 process",
                 "model digits-cnn", "budget 2 epochs x 9 steps (batch 128)"):
        assert part in start[0], part
    runs = [m for m in map(RUN_LINE.match, err) if m]
    assert [int(m.group(1)) for m in runs] == [1, 2, 3, 4]
    assert sorted((m.group(2), m.group(3)) for m in runs) == [("ce", "0"), ("ce", "1"), ("mae", "0"), ("mae", "1")]
    epoch_lines = [line for line in err if re.search(r"seed \d epoch 2/2: loss [\d.]+, noisy-val acc [\d.]+%", line)]
    assert len(epoch_lines) == 4  # --log-every 2 with 2 epochs: the last epoch of each run
    assert any(line.startswith("[eval] done in ") and "4 of 4 runs trained (0 failed)" in line for line in err)
    assert "[eval]" not in captured.out and "4 runs: 0 already" in captured.out


class _Recorder(io.StringIO):
    """A non-TTY stream noting how many runs the store held when each line was written."""

    def __init__(self, store_dir):
        super().__init__()
        self.store_dir = store_dir
        self.lines: list[tuple[str, int]] = []

    def write(self, text: str) -> int:
        parts = self.store_dir / "parts"
        held = len(list(parts.glob("*.parquet"))) if parts.is_dir() else 0
        for line in text.splitlines():
            if line:
                self.lines.append((line, held))
        return super().write(text)


def test_run_lines_appear_as_runs_finish_and_resume_is_reported(digits_dir, tmp_path) -> None:
    out = tmp_path / "r"
    stream = _Recorder(out)
    args = (digits_dir, ["ce"], ["sym-00", "sym-40"], 2, out)
    run_sweep(*args, epochs=1, device="cpu", progress=SweepProgress(live=False, stream=stream))
    runs = [(line, held) for line, held in stream.lines if "] run " in line]
    # the k-th line is written right after the k-th row reached the store, not at the end
    assert [held for _, held in runs] == [1, 2, 3, 4]
    stream2 = _Recorder(out)
    res = run_sweep(*args, epochs=1, device="cpu", progress=SweepProgress(live=False, stream=stream2))
    assert res.skipped == 4
    text = stream2.getvalue()
    assert "0 runs to do, 4 already done (skipped)" in text and "0 of 0 runs trained" in text


def test_live_view_shows_epochs_loss_and_validation_accuracy(digits_dir, tmp_path) -> None:
    stream = io.StringIO()
    rep = SweepProgress(live=True, stream=stream)
    run_sweep(digits_dir, ["ce"], ["sym-40"], 2, tmp_path / "r", epochs=2, device="cpu", progress=rep)
    text = stream.getvalue()
    assert "runs" in text and "epochs" in text
    assert re.search(r"ce sym-40 s1 epoch 2/2, loss [\d.]+, noisy-val [\d.]+%", text)
    assert rep.done_epochs == rep.total_epochs == 4 and rep.done_runs == 2


def test_runs_reported_without_epoch_events_count_their_epochs(digits_dir) -> None:
    """Backends training elsewhere (processes, Ray) report whole runs: the epoch count (and the
    ETA it drives) still advances by each run's planned epochs, two-stage methods included."""
    _, _, specs = plan_sweep(digits_dir, ["ce", "forward-that"], ["sym-40"], 1, epochs=3)
    assert [planned_epochs(s) for s in specs] == [3, 6]
    rep = SweepProgress(live=False, stream=io.StringIO())
    rep.start("digits", specs)
    assert rep.total_epochs == 9
    rep.on_run({"run_id": specs[1].run_id, "method": "forward-that", "config": "sym-40", "seed": 0,
                "status": "failed", "error": "HarnessError: boom\ntrace", "wall_time_s": 1.0})
    assert rep.done_epochs == 6 and rep.failed_runs == 1
    assert "run 1/2 forward-that sym-40 seed 0: FAILED: HarnessError: boom," in rep.stream.getvalue()
    assert "1 of 2 runs trained (1 failed)" in rep.close()


def test_tensorboard_event_files_hold_every_epoch(digits_dir, tmp_path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = tmp_path / "tb"
    res = run_sweep(digits_dir, ["ce"], ["sym-40"], [3], tmp_path / "r", epochs=3, device="cpu",
                    progress=SweepProgress(live=False, stream=io.StringIO(), tensorboard=tb))
    (row,) = res.rows()
    folder = tb / TensorBoardLog.run_name(row)
    assert folder.is_dir() and list(folder.glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(folder))
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    for tag in ("loss/train", "accuracy/validation_noisy", "accuracy/test_clean",
                "memorisation/train_clean_examples_fit", "memorisation/train_noisy_examples_fit_given_label",
                "final/test_acc_best_val"):
        assert tag in scalars, tag
    curves = json.loads(row["curves"])
    val = acc.Scalars("accuracy/validation_noisy")
    assert [e.step for e in val] == [0, 1, 2]
    assert [e.value for e in val] == pytest.approx(curves["val_acc"], abs=1e-6)
    noisy = acc.Scalars("memorisation/train_noisy_examples_fit_given_label")
    assert [e.value for e in noisy] == pytest.approx(curves["train_acc_noisy_given"], abs=1e-6)
    assert acc.Scalars("final/test_acc_best_val")[0].value == pytest.approx(row["test_acc_best_val"], abs=1e-6)


def test_tensorboard_missing_names_the_install(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    with pytest.raises(HarnessError, match=r"pip install 'cnlbench\[tensorboard\]'"):
        SweepProgress(tensorboard=tmp_path / "tb")


def test_bad_log_every_and_durations() -> None:
    with pytest.raises(HarnessError, match="--log-every -1"):
        SweepProgress(log_every=-1)
    assert format_duration(3725.4) == "1:02:05" and format_duration(float("nan")) == "-"


def test_results_store_unchanged_by_reporting(digits_dir, tmp_path) -> None:
    """The callback only reads: a sweep with epoch events gives the same rows as one without."""
    quiet = run_sweep(digits_dir, ["ce"], ["sym-40"], [1], tmp_path / "a", epochs=1, device="cpu", progress=False)
    loud = run_sweep(digits_dir, ["ce"], ["sym-40"], [1], tmp_path / "b", epochs=1, device="cpu",
                     progress=SweepProgress(live=False, stream=io.StringIO(), log_every=1))
    a, b = ResultsStore(tmp_path / "a").read().to_pylist()[0], ResultsStore(tmp_path / "b").read().to_pylist()[0]
    for col in ("run_id", "test_acc_best_val", "test_acc_final", "best_epoch"):
        assert a[col] == b[col], col
    assert quiet.run_ids == loud.run_ids


def test_packed_runs_report_every_epoch(digits_dir, tmp_path) -> None:
    """--pack trains runs together in this process: each run's epochs are reported as they end."""
    stream = io.StringIO()
    rep = SweepProgress(live=False, stream=stream, log_every=1)
    res = run_sweep(digits_dir, ["ce"], ["sym-40"], 2, tmp_path / "r", epochs=2, device="cpu", pack=2, progress=rep)
    text = stream.getvalue()
    assert "backend local, packed (up to 2 runs per device)" in text
    for seed in (0, 1):
        for epoch in (1, 2):
            assert f"ce sym-40 seed {seed} epoch {epoch}/2: loss" in text, (seed, epoch)
    assert rep.done_epochs == rep.total_epochs == 4 and res.written == 2
    assert all(json.loads(r["curves"])["packed_runs"] == 2 for r in res.rows())  # they did train packed


def test_worker_processes_report_every_epoch_before_their_run(digits_dir, tmp_path) -> None:
    """--jobs 2: the workers send each epoch back, so the epoch bar and --log-every lines move
    every epoch, not by whole runs; every epoch of a run arrives before its row (no double
    count), and the rows equal those of one process."""
    stream = io.StringIO()
    rep = SweepProgress(live=False, stream=stream, log_every=1)
    seen: list[tuple[int, int, int]] = []
    rep_on_epoch = rep.on_epoch

    def record(spec, point):
        seen.append((spec.seed, int(point["epoch"]), rep.done_runs))
        rep_on_epoch(spec, point)

    rep.on_epoch = record
    res = run_sweep(digits_dir, ["ce"], ["sym-40"], 3, tmp_path / "r", epochs=2, device="cpu", jobs=2, progress=rep)
    text = stream.getvalue()
    assert "backend local, 2 processes" in text
    assert sorted((s, e) for s, e, _ in seen) == [(s, e) for s in range(3) for e in range(2)]
    for seed in range(3):
        assert f"ce sym-40 seed {seed} epoch 1/2: loss" in text and f"ce sym-40 seed {seed} epoch 2/2: loss" in text
        run_line = next(i for i, ln in enumerate(text.splitlines()) if f"ce sym-40 seed {seed}:" in ln)
        last_epoch = next(i for i, ln in enumerate(text.splitlines()) if f"ce sym-40 seed {seed} epoch 2/2" in ln)
        assert last_epoch < run_line
    assert rep.done_epochs == rep.total_epochs == 6 and res.written == 3
    one = run_sweep(digits_dir, ["ce"], ["sym-40"], 3, tmp_path / "one", epochs=2, device="cpu", progress=False)
    a = {r["run_id"]: r for r in res.rows()}
    for r in one.rows():
        assert a[r["run_id"]]["test_acc_best_val"] == r["test_acc_best_val"]
