"""The tolerant results reader: folders of part files, single files, missing columns and cells."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from cnlbench.board.results import parse_config, read_results
from cnlbench.errors import CnlbenchError

from board_fixtures import toy_rows, write_store


@pytest.mark.parametrize(
    "config, kind, level",
    [("sym-40", "sym", 0.40), ("web-05", "web", 0.05), ("asym-100", "asym", 1.0), ("cifar10n-aggre", "cifar10n-aggre", math.nan)],
)
def test_parse_config(config, kind, level):
    k, lv = parse_config(config)
    assert k == kind
    assert (math.isnan(lv) and math.isnan(level)) or lv == pytest.approx(level)


def test_reads_store_folder(toy_store):
    rows = read_results(toy_store)
    assert len(rows) == len(toy_rows())
    assert {r["status"] for r in rows} == {"ok", "failed"}
    r = next(r for r in rows if r["config"] == "sym-40" and r["method"] == "ce" and r["seed"] == 0)
    assert r["test_acc_best_val"] == pytest.approx(0.60) and r["level"] == pytest.approx(0.4)


def test_missing_columns_and_cells(tmp_path):
    # an older part file: no noise_kind/level/status/curves columns, a null metric cell
    old = pa.table({"dataset": ["d", "d"], "config": ["sym-20", "web-80"], "method": ["ce", "ce"],
                    "seed": [0, None], "test_acc_best_val": [0.7, None]})
    pq.write_table(old, tmp_path / "part-a.parquet")
    write_store(tmp_path, toy_rows()[:3], per_file=10)
    rows = read_results(tmp_path)
    assert len(rows) == 5
    old_rows = [r for r in rows if r["dataset"] == "d"]
    assert old_rows[0]["noise_kind"] == "sym" and old_rows[0]["level"] == pytest.approx(0.2)
    assert old_rows[0]["status"] == "ok" and old_rows[0]["curves"] == "" and math.isnan(old_rows[0]["ece"])
    assert old_rows[1]["seed"] is None and math.isnan(old_rows[1]["test_acc_best_val"])


def test_single_parquet_and_csv(tmp_path):
    rows = toy_rows()[:4]
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, tmp_path / "r.parquet")
    pacsv.write_csv(table, tmp_path / "r.csv")
    a = read_results(tmp_path / "r.parquet")
    b = read_results([tmp_path / "r.csv"])
    assert [r["test_acc_best_val"] for r in a] == [r["test_acc_best_val"] for r in b]
    assert [r["seed"] for r in b] == [r["seed"] for r in rows]


def test_duplicate_run_ids_kept_once(tmp_path):
    rows = toy_rows()[:2]
    write_store(tmp_path / "a", rows)
    write_store(tmp_path / "b", rows)
    assert len(read_results([tmp_path / "a", tmp_path / "b"])) == 2


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_results(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(CnlbenchError, match="suffix"):
        read_results(tmp_path / "x.txt")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(CnlbenchError, match="cannot read results file"):
        read_results(tmp_path / "bad.parquet")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert read_results(empty) == []
