"""Results store: atomic parts, temporaries ignored and cleaned, fingerprint and version refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cnlbench.errors import HarnessError
from cnlbench.harness.store import SCHEMA, STORE_FILE, ResultsStore, empty_row, read_results


def _row(run_id: str, acc: float = 0.5, status: str = "ok") -> dict:
    row = empty_row()
    row.update(run_id=run_id, dataset="digits", config="sym-40", method="ce", model="digits-cnn", seed=0,
               epochs=1, test_acc_final=acc, status=status)
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
