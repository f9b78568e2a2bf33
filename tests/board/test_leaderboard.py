"""The leaderboard folder end to end through the CLI, including an empty and a partial store."""

from __future__ import annotations

import json

import pytest
from board_fixtures import toy_rows, write_store

from cnlbench.cli import main


def test_cli_leaderboard_writes_every_file(tmp_path, capsys):
    store = write_store(tmp_path / "results", toy_rows())
    out = tmp_path / "lb"
    rc = main(["leaderboard", "--results", str(store), "--out", str(out), "--reps", "100", "--no-plots",
               "--n-test", "toy=10000", "--metric", "test_acc_final"])
    assert rc == 0
    assert "2 table(s) from 69 result row(s); 2 failed run(s) excluded" in capsys.readouterr().out
    md = (out / "README.md").read_text(encoding="utf-8")
    assert "clean test accuracy of the final model (`test_acc_final`)" in md
    assert "spread BETWEEN levels" in md and "NOISY validation" in md
    data = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))
    sym = next(t for t in data["tables"] if t["noise_kind"] == "sym")
    ce = next(r for r in sym["rows"] if r["method"] == "ce")
    # test_acc_final = test_acc_best_val - 0.01 in the fixture: 0.59, 0.61, 0.63 at 40%
    assert ce["cells"]["sym-40"]["estimate"] == pytest.approx(0.61)
    assert ce["cells"]["sym-40"]["values"] == pytest.approx([0.59, 0.61, 0.63])
    gce = next(r for r in sym["rows"] if r["method"] == "gce")
    assert gce["cells"]["sym-80"]["half_width"] is None  # n=1: no interval, stored as null


def test_empty_and_partial_stores_render(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["leaderboard", "--results", str(empty), "--out", str(tmp_path / "a"), "--reps", "10"]) == 0
    assert "_No finished runs yet._" in (tmp_path / "a" / "README.md").read_text(encoding="utf-8")
    assert (tmp_path / "a" / "index.html").stat().st_size > 0
    only_failed = [r for r in toy_rows() if r["status"] == "failed"]
    store = write_store(tmp_path / "failed", only_failed)
    assert main(["leaderboard", "--results", str(store), "--out", str(tmp_path / "b"), "--reps", "10"]) == 0
    md = (tmp_path / "b" / "README.md").read_text(encoding="utf-8")
    assert "2 failed runs" in md and not list((tmp_path / "b").glob("plots/*.png"))


def test_cli_errors_name_the_fix(tmp_path, capsys):
    assert main(["leaderboard", "--results", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["leaderboard", "--out", str(tmp_path / "x"), "--n-test", "toy"]) == 2
    assert "DATASET=SIZE" in capsys.readouterr().err
