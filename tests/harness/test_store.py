"""Results store: atomic parts, temporaries ignored and cleaned, fingerprint and version refusal,
the writer lock, merged store.json updates, damaged parts set aside, SIGKILL during creation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cnlbench.errors import DamagedPartError, HarnessError, StoreLockedError
from cnlbench.harness.store import (
    DAMAGED,
    LOCK_FILE,
    SCHEMA,
    SCHEMA_VERSION,
    STORE_FILE,
    ResultsStore,
    empty_row,
    read_results,
)


def _row(run_id: str, acc: float = 0.5, status: str = "ok", **extra) -> dict:
    row = empty_row()
    row.update(run_id=run_id, dataset="digits", config="sym-40", method="ce", model="digits-cnn", seed=0,
               epochs=1, test_acc_final=acc, status=status, **extra)
    return row


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_write_read_roundtrip(tmp_path) -> None:
    store = ResultsStore(tmp_path / "r")
    store.write(_row("a" * 64, 0.25))
    store.write(_row("b" * 64, 0.75, status="failed"))
    t = read_results(tmp_path / "r")
    assert t.schema.equals(SCHEMA, check_metadata=False)
    assert sorted(t["test_acc_final"].to_pylist()) == [0.25, 0.75]
    assert store.finished() == {"a" * 64, "b" * 64}
    assert store.finished(include_failed=False) == {"a" * 64}


def test_rewriting_a_run_replaces_its_row(tmp_path) -> None:
    store = ResultsStore(tmp_path)
    store.write(_row("a" * 64, 0.1, status="failed"))
    store.write(_row("a" * 64, 0.9))
    t = store.read()
    assert t.num_rows == 1 and t["test_acc_final"].to_pylist() == [0.9]


def test_temporaries_are_ignored_and_cleaned(tmp_path) -> None:
    store = ResultsStore(tmp_path)
    store.write(_row("a" * 64))
    parts = tmp_path / "parts"
    dead = parts / f".{'c' * 64}.parquet.tmp-{_dead_pid()}-abcd"
    dead.write_bytes(b"PAR1 half a file")  # a crash mid-write
    live = parts / f".{'d' * 64}.parquet.tmp-{os.getpid()}-abcd"
    live.write_bytes(b"in progress")
    assert store.read().num_rows == 1 and len(store) == 1
    assert store.clean_temporaries() == 1
    assert not dead.exists() and live.exists()


def test_fingerprint_mismatch_is_refused(tmp_path) -> None:
    store = ResultsStore(tmp_path)
    store.check_fingerprints("digits", {"sym-40": "f" * 64, "sym-00": "0" * 64})
    ResultsStore(tmp_path).check_fingerprints("digits", {"sym-40": "f" * 64})  # same: fine
    with pytest.raises(HarnessError) as err:
        ResultsStore(tmp_path).check_fingerprints("digits", {"sym-40": "e" * 64})
    msg = str(err.value)
    assert "sym-40" in msg and "e" * 64 in msg and "f" * 64 in msg and "--out" in msg


def test_other_cnlbench_version_same_schema_is_read(tmp_path) -> None:
    ResultsStore(tmp_path).write(_row("a" * 64))
    meta = json.loads((tmp_path / STORE_FILE).read_text())
    meta["cnlbench_version"] = "0.0.1"
    (tmp_path / STORE_FILE).write_text(json.dumps(meta))
    assert ResultsStore(tmp_path).read().num_rows == 1


def test_other_schema_version_is_refused(tmp_path) -> None:
    ResultsStore(tmp_path)
    meta = json.loads((tmp_path / STORE_FILE).read_text())
    meta.update(schema_version=99, cnlbench_version="9.0")
    (tmp_path / STORE_FILE).write_text(json.dumps(meta))
    with pytest.raises(HarnessError, match="schema version 99.*9.0.*new --out"):
        ResultsStore(tmp_path)


def test_foreign_folder_and_bad_rows_are_refused(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(HarnessError, match="not empty"):
        ResultsStore(tmp_path)
    store = ResultsStore(tmp_path / "r")
    bad = _row("a" * 64)
    bad["extra"] = 1
    with pytest.raises(HarnessError, match="unknown columns"):
        store.write(bad)
    with pytest.raises(HarnessError, match="no results store"):
        ResultsStore(tmp_path / "absent", create=False)


# -- the writer lock ------------------------------------------------------------------------

_HOLD = """
import sys, time
from cnlbench.harness.store import ResultsStore
store = ResultsStore(sys.argv[1])
with store.locked():
    print("locked", flush=True)
    time.sleep(600)
"""


def _holder(path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_is_refused_naming_the_holder_and_a_killed_holder_never_blocks(tmp_path) -> None:
    proc = _holder(tmp_path / "r")
    try:
        store = ResultsStore(tmp_path / "r")  # opening an existing store needs no lock
        with pytest.raises(StoreLockedError) as err:
            with store.locked():
                pass
        assert f"process {proc.pid}" in str(err.value) and "--out" in str(err.value)
        with pytest.raises(StoreLockedError):  # also when asked to wait a little
            with store.locked(wait=0.3):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert str(proc.pid) in (tmp_path / "r" / LOCK_FILE).read_text()  # the stale lock file stays ...
    with ResultsStore(tmp_path / "r").locked():  # ... and does not block
        assert (tmp_path / "r" / LOCK_FILE).read_text().split()[0] == str(os.getpid())


def test_lock_is_exclusive_within_one_process_and_reentrant_within_one_store(tmp_path) -> None:
    a, b = ResultsStore(tmp_path), ResultsStore(tmp_path)
    with a.locked():
        with a.locked():  # re-entrant
            with pytest.raises(StoreLockedError, match=str(os.getpid())):
                with b.locked():
                    pass
    with b.locked():  # released when the outer block ended
        pass


def test_store_json_updates_merge_and_never_lose_entries(tmp_path) -> None:
    a, b = ResultsStore(tmp_path), ResultsStore(tmp_path)  # both read store.json before either writes
    a.check_fingerprints("digits", {"sym-00": "0" * 64})
    b.check_fingerprints("cifar10", {"sym-40": "4" * 64})
    b.check_fingerprints("digits", {"sym-20": "2" * 64})
    with pytest.raises(HarnessError, match="sym-00"):  # b sees a's entry although it opened first
        b.check_fingerprints("digits", {"sym-00": "f" * 64})
    meta = json.loads((tmp_path / STORE_FILE).read_text())
    assert meta["datasets"] == {"digits": {"sym-00": "0" * 64, "sym-20": "2" * 64}, "cifar10": {"sym-40": "4" * 64}}


# -- damaged parts -------------------------------------------------------------------------

def _damage(store: ResultsStore) -> dict[str, bytes]:
    """Three damaged parts (truncated, a flipped byte in a data page, a part renamed to
    another run) beside one intact part; returns the damaged files' bytes by name."""
    for rid in ("a", "b", "c", "d"):
        store.write(_row(rid * 64, curves=json.dumps({"val_acc": [0.25] * 40})))
    parts = store.path / "parts"
    trunc = parts / f"{'a' * 64}.parquet"
    trunc.write_bytes(trunc.read_bytes()[:-100])
    flip = parts / f"{'b' * 64}.parquet"
    data = bytearray(flip.read_bytes())
    i = data.index(b'{"val_acc"') + 20
    data[i] ^= 0x01
    flip.write_bytes(bytes(data))
    os.replace(parts / f"{'c' * 64}.parquet", parts / f"{'e' * 64}.parquet")
    return {p.name: p.read_bytes() for p in (trunc, flip, parts / f"{'e' * 64}.parquet")}


def test_damaged_parts_are_named_set_aside_never_deleted_and_count_as_not_run(tmp_path) -> None:
    store = ResultsStore(tmp_path)
    damaged = _damage(store)
    assert store.finished() == {"d" * 64}
    with pytest.raises(DamagedPartError) as err:
        store.read()
    for name in damaged:
        assert name in str(err.value)
    assert "Re-run" in str(err.value)
    assert store.read(skip_damaged=True)["run_id"].to_pylist() == ["d" * 64]
    moved = store.set_aside_damaged()
    assert sorted(p.name for p, _ in moved) == sorted(damaged)
    assert {p.name: p.read_bytes() for p, _ in moved} == damaged  # kept byte for byte
    assert all(p.parent == tmp_path / DAMAGED for p, _ in moved)
    assert [p.name for p in store.part_files()] == [f"{'d' * 64}.parquet"]
    assert store.read()["run_id"].to_pylist() == ["d" * 64]
    # the same name damaged again later: both copies kept
    store.write(_row("a" * 64))
    (tmp_path / "parts" / f"{'a' * 64}.parquet").write_bytes(b"not parquet")
    assert [p.name for p, _ in store.set_aside_damaged()] == [f"{'a' * 64}.1.parquet"]


def test_every_flipped_byte_of_a_part_is_caught_or_harmless(tmp_path) -> None:
    """Page checksums, the schema check and the run_id check together: a flipped bit anywhere
    in a part either makes it damaged or leaves its row exactly as written."""
    store = ResultsStore(tmp_path)
    store.write(_row("a" * 64, curves=json.dumps({"val_acc": [i / 40 for i in range(40)]})))
    part = store.part_files()[0]
    data, want = part.read_bytes(), store.read().to_pylist()
    caught = 0
    for i in range(4, len(data) - 4, 37):
        flipped = bytearray(data)
        flipped[i] ^= 0x10
        part.write_bytes(bytes(flipped))
        try:
            got = ResultsStore(tmp_path).read().to_pylist()  # a new reader: no part checked before
        except DamagedPartError:
            caught += 1
            continue
        assert json.dumps(got, default=str) == json.dumps(want, default=str), f"byte {i}"
    assert caught > len(data) // 37 // 4


# -- creating a store: interrupted creation is resumed, never refused -----------------------

def test_leftovers_of_an_interrupted_creation_are_accepted(tmp_path) -> None:
    folder = tmp_path / "r"
    (folder / "parts").mkdir(parents=True)
    (folder / LOCK_FILE).write_text(f"{_dead_pid()} host 2024-01-01T00:00:00\n")
    tmp = folder / f".{STORE_FILE}.tmp-{_dead_pid()}-abcd"
    tmp.write_text('{"schema_ver')
    store = ResultsStore(folder)
    assert store.meta["datasets"] == {} and not tmp.exists() and (folder / STORE_FILE).is_file()


_CREATE_FOREVER = """
import itertools, sys
from cnlbench.harness.store import ResultsStore
print("started", flush=True)
for i in itertools.count():
    ResultsStore(f"{sys.argv[1]}/s{i:06d}")
"""


@pytest.mark.parametrize("delay", [0.05, 0.1, 0.2, 0.3, 0.5])
def test_sigkill_while_creating_stores_never_makes_a_store_refuse(tmp_path, delay) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _CREATE_FOREVER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    folders = sorted(tmp_path.iterdir())
    assert folders, "the child created nothing before it was killed"
    for folder in folders:
        store = ResultsStore(folder)  # resumes creation where the kill left it
        assert (folder / STORE_FILE).is_file() and store.meta["schema_version"] == SCHEMA_VERSION
        store.write(_row("a" * 64))
        assert ResultsStore(folder, create=False).read().num_rows == 1


@pytest.mark.parametrize("content", ["[1, 2]", '{"schema_version": 1, "datasets": []}', "\xff\xfe"])
def test_a_store_json_of_the_wrong_shape_is_a_named_error(tmp_path, content) -> None:
    ResultsStore(tmp_path)
    (tmp_path / STORE_FILE).write_bytes(content.encode("latin-1"))
    with pytest.raises(HarnessError, match=STORE_FILE):
        ResultsStore(tmp_path)


def test_a_file_as_the_results_folder_is_refused(tmp_path) -> None:
    (tmp_path / "f").write_text("mine")
    with pytest.raises(HarnessError, match="'.*f' is a file, not a folder"):
        ResultsStore(tmp_path / "f")
    assert (tmp_path / "f").read_text() == "mine"


# -- through `cnlbench eval` (digits, one epoch) --------------------------------------------

def _eval_argv(digits_dir, out, seeds: str = "1", *extra: str) -> list[str]:
    return ["eval", str(digits_dir), "--methods", "ce", "--configs", "sym-40", "--seeds", seeds, "--epochs", "1",
            "--device", "cpu", "--no-progress", "--out", str(out), *extra]


@pytest.mark.slow
def test_eval_sets_aside_a_damaged_part_retrains_it_and_hints_at_failed_rows(digits_dir, tmp_path, capsys) -> None:
    from cnlbench.cli import main

    out = tmp_path / "r"
    assert main(_eval_argv(digits_dir, out)) == 0
    part = ResultsStore(out).part_files()[0]
    good = ResultsStore(out).read().to_pylist()[0]
    damaged = part.read_bytes()[:-64]
    part.write_bytes(damaged)
    capsys.readouterr()
    # the leaderboard renders the rest and names the unreadable part
    assert main(["leaderboard", "--results", str(out), "--out", str(tmp_path / "lb"), "--no-plots", "--reps", "20"]) == 0
    assert f"skipped unreadable results part {part}" in capsys.readouterr().err
    # eval: set aside (kept byte for byte), trained again to the same numbers
    assert main(_eval_argv(digits_dir, out)) == 0
    cap = capsys.readouterr()
    assert "1 runs: 0 already" in cap.out and f"{DAMAGED}/{part.name}" in cap.err and "trained again" in cap.err
    assert (out / DAMAGED / part.name).read_bytes() == damaged
    again = ResultsStore(out).read().to_pylist()[0]
    assert again["test_acc_best_val"] == good["test_acc_best_val"] and again["run_id"] == good["run_id"]
    # a failed row is kept, counted, and --retry-failed named; with it, the run is trained again
    ResultsStore(out).write({**again, "status": "failed", "error": "CUDA out of memory"})
    assert main(_eval_argv(digits_dir, out)) == 1
    cap = capsys.readouterr()
    assert "1 runs: 1 already" in cap.out
    assert "1 run(s) of this sweep have a FAILED row" in cap.err and "--retry-failed" in cap.err
    assert main(_eval_argv(digits_dir, out, "1", "--retry-failed")) == 0
    assert "1 runs: 0 already" in capsys.readouterr().out
    assert ResultsStore(out).read()["status"].to_pylist() == ["ok"]


_EVAL = "import sys; from cnlbench.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.slow
def test_sigkill_during_eval_loses_only_the_run_in_flight(digits_dir, tmp_path) -> None:
    out = tmp_path / "r"
    argv = _eval_argv(digits_dir, out, "3")
    proc = subprocess.Popen([sys.executable, "-c", _EVAL, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        while not list((out / "parts").glob("*.parquet")) and proc.poll() is None:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    kept = ResultsStore(out).read()
    assert 1 <= kept.num_rows <= 3
    # the lock of the killed process does not block; finished runs are skipped, none duplicated
    resumed = subprocess.run([sys.executable, "-c", _EVAL, *argv], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr
    assert f"3 runs: {kept.num_rows} already" in resumed.stdout
    rows = ResultsStore(out).read()
    assert rows.num_rows == 3 and sorted(rows["seed"].to_pylist()) == [0, 1, 2]
    assert not [p for p in (out / "parts").iterdir() if p.name.startswith(".")]  # temporaries cleaned
    assert not (out / DAMAGED).exists()


def test_import_rows_seeds_a_store_from_a_consolidated_file(tmp_path):
    """A sweep resumes from a committed consolidated results file (``make leaderboard``)."""
    from cnlbench.harness.store import ResultsStore, empty_row, row_table

    rows = []
    for i in range(3):
        r = empty_row()
        r.update(run_id=f"r{i}", method="ce", config="sym-40", status="ok")
        rows.append(r)
    store = ResultsStore(tmp_path / "s")
    store.write(rows[0])
    assert store.import_rows(row_table(rows)) == 2
    assert sorted(p.stem for p in store.part_files()) == ["r0", "r1", "r2"]
    assert store.import_rows(row_table(rows)) == 0  # idempotent
    with pytest.raises(HarnessError, match="lacks column"):
        store.import_rows(row_table(rows).drop(["tuning"]))
