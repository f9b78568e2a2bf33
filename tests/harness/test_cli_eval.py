"""``cnlbench eval``: help, name errors, end to end on the digits build."""

from __future__ import annotations

import pytest

from cnlbench.cli import main
from cnlbench.harness.store import read_results


def test_help_explains_the_options(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--methods", "--configs", "--seeds", "--out", "--model", "--epochs", "--device",
                 "--backend", "--jobs", "--address", "--param", "NOISY validation", "resume"):
        assert flag in out, flag


@pytest.mark.parametrize(
    "extra,message",
    [(["--methods", "nope", "--configs", "sym-00"], "valid methods"),
     (["--methods", "ce", "--configs", "noise-*"], "valid configs"),
     (["--methods", "ce", "--configs", "sym-00", "--model", "vgg"], "valid models"),
     (["--methods", "ce", "--configs", "sym-00", "--param", "ce.q=1"], "valid parameters")],
)
def test_unknown_names_list_the_valid_ones(digits_dir, tmp_path, capsys, extra, message) -> None:
    rc = main(["eval", str(digits_dir), "--out", str(tmp_path / "r"), "--seeds", "1", *extra])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_end_to_end(digits_dir, tmp_path, capsys) -> None:
    out = tmp_path / "results"
    argv = ["eval", str(digits_dir), "--methods", "ce,mixup", "--configs", "sym-00,sym-4*", "--seeds", "1",
            "--epochs", "1", "--device", "cpu", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "4 runs: 0 already" in text and "digits / sym: clean test accuracy" in text  # the board's text table
    assert "\nce " in text and "\nmixup " in text and "40%" in text and "(n=1)" in text
    t = read_results(out)
    assert t.num_rows == 4 and set(t["status"].to_pylist()) == {"ok"}
    assert main(argv) == 0
    assert "4 runs: 4 already" in capsys.readouterr().out
    assert read_results(out).num_rows == 4


def test_export_writes_exactly_this_sweeps_rows(digits_dir, tmp_path, capsys) -> None:
    import pyarrow.parquet as pq

    out, export = tmp_path / "results", tmp_path / "board" / "rows.parquet"
    base = ["eval", str(digits_dir), "--seeds", "1", "--epochs", "1", "--device", "cpu", "--out", str(out), "--no-progress"]
    assert main(base + ["--methods", "ce", "--configs", "sym-00"]) == 0
    assert main(base + ["--methods", "mixup", "--configs", "sym-00", "--export", str(export)]) == 0
    assert "1 rows of this sweep written to" in capsys.readouterr().out
    assert read_results(out).num_rows == 2  # the store holds both sweeps ...
    assert pq.read_table(export)["method"].to_pylist() == ["mixup"]  # ... the export only this one
