"""Figures: written, non-empty PNGs, deterministic bytes, referenced from the README."""

from __future__ import annotations

import json
import warnings

import pytest
from board_fixtures import toy_rows

from cnlbench.board.leaderboard import write_leaderboard
from cnlbench.board.plots import parse_curves, plot_memorisation
from cnlbench.board.results import normalise_row

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    from board_fixtures import write_store

    tmp = tmp_path_factory.mktemp("plots")
    store = write_store(tmp / "results", toy_rows())
    res = write_leaderboard([store], tmp / "lb", reps=100)
    return tmp / "lb", res


def test_every_figure_written_and_referenced(board):
    out, res = board
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert pngs == [
        "toy-sym-auroc.png", "toy-sym-memorisation-40.png", "toy-sym-test_acc_best_val.png",
        "toy-synthetic-vs-web-test_acc_best_val.png", "toy-web-auroc.png", "toy-web-memorisation-40.png",
        "toy-web-test_acc_best_val.png",
    ]
    md = (out / "README.md").read_text(encoding="utf-8")
    for name in pngs:
        data = (out / "plots" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5_000
        assert f"](plots/{name})" in md


def test_figures_are_deterministic(board, tmp_path):
    out, _ = board
    from board_fixtures import write_store

    store = write_store(tmp_path / "results", toy_rows())
    write_leaderboard([store], tmp_path / "lb", reps=100)
    for p in (out / "plots").glob("*.png"):
        assert (tmp_path / "lb" / "plots" / p.name).read_bytes() == p.read_bytes(), p.name


@pytest.mark.parametrize(
    "text, expected",
    [
        (json.dumps({"train_acc_clean": [0.1, 0.5], "train_acc_noisy_given": [0.0, 0.2]}), ([0.1, 0.5], [0.0, 0.2])),
        (json.dumps([{"train_acc_clean": 0.3, "train_acc_noisy_given": 0.1},
                     {"train_acc_clean": 0.6, "train_acc_noisy_given": 0.4}]),
         ([0.3, 0.6], [0.1, 0.4])),
        (json.dumps({"val_acc": [0.5]}), None),
        ("{not json", None),
        ("", None),
    ],
)
def test_parse_curves(text, expected):
    assert parse_curves(text) == expected


def test_memorisation_without_curves_writes_nothing(tmp_path):
    rows = [normalise_row({**r, "curves": ""}) for r in toy_rows()]
    assert plot_memorisation(rows, "toy", "sym", 0.4, None, tmp_path / "m.png") is False
    assert not (tmp_path / "m.png").exists()


def test_parse_curves_reads_what_the_harness_writes(repo_root):
    """The memorisation figure's input is a real harness row's ``curves``, not a guessed key."""
    from cnlbench.harness.engine import RunSpec, run_one

    row = run_one(RunSpec(str(repo_root / "manifests" / "digits"), "sym-40", "ce", seed=0, device="cpu",
                          train=None))
    assert row["status"] == "ok", row["error"]
    parsed = parse_curves(row["curves"])
    assert parsed is not None
    clean, noisy = parsed
    assert len(clean) == len(noisy) == row["epochs"]
    assert all(0.0 <= v <= 1.0 for v in clean + noisy)


def test_memorisation_default_keeps_ce_and_the_widest_clean_noisy_gaps():
    from cnlbench.board.plots import MEMORISATION_DEFAULT_METHODS, _memorisation_default

    runs = {f"m{i}": [([0.9, 0.9], [0.1, 0.1 * i])] for i in range(10)}  # gap shrinks with i
    runs["ce"] = [([0.9, 0.95], [0.5, 0.9])]  # memorises: smallest gap, kept as the reference
    chosen = _memorisation_default(runs)
    assert chosen[0] == "ce" and len(chosen) == MEMORISATION_DEFAULT_METHODS
    assert chosen[1:] == ["m0", "m1", "m2", "m3", "m4"]


def test_many_methods_get_a_legend_below_that_does_not_squash_the_axes(tmp_path):
    """27 methods (the full zoo): the figure grows instead of collapsing the axes."""
    import io

    from PIL import Image

    rows = []
    for m in range(27):
        for lvl in (0.0, 0.4, 0.8):
            for seed in range(3):
                rows.append(normalise_row({"dataset": "toy", "config": f"sym-{round(lvl * 100):02d}",
                                           "method": f"method-{m:02d}", "seed": seed,
                                           "test_acc_best_val": 0.9 - 0.3 * lvl - 0.01 * m + 0.01 * seed}))
    from cnlbench.board.table import build_tables

    table = build_tables(rows, reps=10)[0]
    from cnlbench.board.plots import plot_metric_vs_level

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "constrained_layout not applied" would fail the test
        assert plot_metric_vs_level(table, tmp_path / "many.png", "acc")
    w, h = Image.open(io.BytesIO((tmp_path / "many.png").read_bytes())).size
    assert h > 4.2 * 110  # taller than the default figure: room for the legend rows
