"""Figures: written, non-empty PNGs, deterministic bytes, referenced from the README."""

from __future__ import annotations

import json
import warnings

import pytest
from board_fixtures import toy_rows

from cnlbench.board.leaderboard import write_leaderboard
from cnlbench.board.plots import DPI, parse_curves, plot_memorisation
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


def _zoo_rows(methods, levels=(0.0, 0.4, 0.8)):
    rows = []
    for m, method in enumerate(methods):
        for lvl in levels:
            for seed in range(3):
                rows.append(normalise_row({"dataset": "toy", "config": f"sym-{round(lvl * 100):02d}",
                                           "method": method, "seed": seed, "status": "ok",
                                           "test_acc_best_val": 0.9 - 0.3 * lvl - 0.01 * m + 0.01 * seed}))
    return rows


def test_many_methods_get_small_multiples_that_do_not_squash_the_axes(tmp_path):
    """27 methods of a user's own (no family known): split into panels of at most 9 + CE."""
    from PIL import Image

    from cnlbench.board.plots import PANEL_METHODS, figure_metric_vs_level, plot_metric_vs_level
    from cnlbench.board.table import build_tables

    table = build_tables(_zoo_rows(["ce"] + [f"method-{m:02d}" for m in range(27)]), reps=10)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "constrained_layout not applied" would fail the test
        fig = figure_metric_vs_level(table, "acc")
        assert plot_metric_vs_level(table, tmp_path / "many.png", "acc")
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert len(panels) == 3
    for ax in panels:
        labels = [ln.get_label() for ln in ax.get_lines()]
        assert labels[0] == "ce" and len(labels) <= PANEL_METHODS + 1
    w, h = Image.open(tmp_path / "many.png").size
    assert w >= 3 * 4.6 * DPI - 2 and DPI >= 150


def test_every_png_has_an_svg_beside_it_at_150_dpi(board):
    from PIL import Image

    out, res = board
    for png in (out / "plots").glob("*.png"):
        svg = png.with_suffix(".svg")
        assert svg.exists() and svg.read_bytes().lstrip().startswith(b"<?xml") and b"<svg" in svg.read_bytes()
        assert svg in res.files and png in res.files
        dpi = Image.open(png).info.get("dpi")
        assert dpi is not None and round(dpi[0]) >= 150


def _colours_by_label(fig):
    """``{label: {colour}}`` over every line of every panel, and whether any panel repeats a colour."""
    from matplotlib.colors import to_hex

    seen, clash = {}, False
    for ax in fig.axes:
        lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        panel = {}
        for ln in lines:
            label = ln.get_label().split(":")[0]  # memorisation: "ce: clean subset"
            key = (to_hex(ln.get_color()), ln.get_marker())
            seen.setdefault(label, set()).add(to_hex(ln.get_color()))
            clash |= any(other != label and k == key for other, k in panel.items())
            panel[label] = key
    return seen, clash


def test_each_method_keeps_its_colour_across_figures():
    """Figures drawn from different method subsets (and of different kinds) agree on every
    method's colour; CE is always black; no two methods of one panel look alike."""
    from cnlbench.board.plots import (
        BASELINE_STYLE,
        figure_memorisation,
        figure_metric_vs_level,
        figure_synthetic_vs_web,
        method_styles,
    )
    from cnlbench.board.plots import _COLOUR_ORDER
    from cnlbench.board.table import build_tables

    zoo = ["ce", *_COLOUR_ORDER]  # the whole zoo, in colour order
    a = build_tables(_zoo_rows(zoo), reps=10)[0]                              # the whole zoo
    b = build_tables(_zoo_rows(["ce", "sce", "mixup", "gce"]), reps=10)[0]    # a small sweep
    web_rows = [normalise_row({**r, "config": r["config"].replace("sym", "web"), "noise_kind": ""})
                for r in _zoo_rows(zoo[::2])]
    web = build_tables(web_rows, reps=10)[0]
    mem = [normalise_row({**r, "curves": json.dumps({"train_acc_clean": [0.5, 0.9],
                                                     "train_acc_noisy_given": [0.1, 0.2]})})
           for r in _zoo_rows(["ce", "sce", "coteaching"])]
    figures = [
        figure_metric_vs_level(a, "acc"),                                         # styles from the zoo
        figure_metric_vs_level(b, "acc"),                                         # styles from 4 methods
        figure_metric_vs_level(b, "acc", method_styles(zoo)),                     # the board's shared map
        figure_synthetic_vs_web(a, web, "acc"),
        figure_memorisation(mem, "toy", "sym", 0.4, None),
    ]
    colour: dict[str, set] = {}
    for fig in figures:
        seen, clash = _colours_by_label(fig)
        assert not clash
        for label, cs in seen.items():
            colour.setdefault(label, set()).update(cs)
    assert set(colour) == set(zoo)
    assert all(len(cs) == 1 for cs in colour.values()), {k: v for k, v in colour.items() if len(v) > 1}
    assert colour["ce"] == {BASELINE_STYLE.colour}
    assert colour["sce"] != colour["ce"]  # the issue: ce and sce were both green


def test_single_level_store_draws_points_with_error_bars():
    from matplotlib.collections import LineCollection

    from cnlbench.board.plots import figure_metric_vs_level
    from cnlbench.board.table import build_tables

    table = build_tables(_zoo_rows(["ce", "gce", "mixup"], levels=(0.4,)), reps=10)[0]
    fig = figure_metric_vs_level(table, "acc")
    for ax in (ax for ax in fig.axes if ax.get_lines()):
        markers = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        # one point per method (no line through a single level) and vertical error bars
        assert all(len(ln.get_xdata()) == 1 and ln.get_linestyle() == "None" for ln in markers)
        assert any(isinstance(c, LineCollection) for c in ax.collections)
        assert [t.get_text() for t in ax.get_xticklabels()][0] == "ce"


def test_another_baseline_gives_ce_a_style_of_its_own(tmp_path):
    """`cnlbench leaderboard --baseline gce`: the baseline is black and CE, now an ordinary
    method, gets a free (colour, marker) pair instead of a ValueError."""
    from board_fixtures import write_store

    from cnlbench.board.plots import BASELINE_STYLE, method_styles

    styles = method_styles(["ce", "mixup", "gce", "my-method"], baseline="mixup")
    assert styles["mixup"] == BASELINE_STYLE
    assert styles["ce"] != BASELINE_STYLE
    assert len({(s.colour, s.marker) for s in styles.values()}) == 4
    assert styles["gce"] == method_styles(["gce"])["gce"]  # a family member keeps its style
    store = write_store(tmp_path / "results", toy_rows())
    write_leaderboard([store], tmp_path / "lb", reps=20, baseline="gce")
    assert any((tmp_path / "lb" / "plots").glob("*.png"))
