"""Tables and their Markdown: cells, bold best, n=1, missing cells, failed runs, summaries."""

from __future__ import annotations

import math

import pytest

from cnlbench.board.markdown import render_table
from cnlbench.board.results import normalise_row
from cnlbench.board.table import build_tables
from cnlbench.errors import CnlbenchError

from board_fixtures import make_row, toy_rows


def _md_rows(md: str) -> dict[str, list[str]]:
    """Method label -> the table cells of its Markdown row."""
    out = {}
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("| Method"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            out[cells[0]] = cells[1:]
    return out


@pytest.fixture(scope="module")
def tables():
    return {t.noise_kind: t for t in build_tables([normalise_row(r) for r in toy_rows()], reps=300)}


def test_cells_by_hand(tables):
    sym = tables["sym"]
    assert [c.config for c in sym.columns] == ["sym-00", "sym-20", "sym-40", "sym-80"]
    rows = _md_rows(render_table(sym))
    # ce at 40%: 0.60, 0.62, 0.64 -> 62.0 +- 4.302653 * 2.0 / sqrt(3) = 4.97 -> "62.0 ± 5.0"
    assert rows["ce"][2] == "62.0 ± 5.0"
    # gce at 40%: 0.91 - 0.7*0.4 + 0.3*0.4*0.7 = 0.714 (+-0.02 over seeds): best in the column
    assert rows["gce"][2] == "**71.4 ± 5.0**"
    # gce at 80% has one seed: 0.91 - 0.56 + 0.168 - 0.02 = 0.498 -> "49.8 (n=1)", never +-0
    assert rows["gce"][3] == "**49.8 (n=1)**"
    assert rows["coteaching"][3] == "—"  # missing cell
    # coteaching covers 3 of 4 levels: its mean over levels is marked and never bold
    assert rows["coteaching"][4].endswith("(3/4 levels)") and not rows["coteaching"][4].startswith("**")
    assert rows["ce"][7] == "—" and rows["ce"][8] == "—"  # no P(improvement)/delta against itself


def test_failed_runs_excluded_and_counted(tables):
    sym = tables["sym"]
    cot = next(r for r in sym.rows if r.method == "coteaching")
    # the failed run at sym-40 (seed 3) carried 0.10: excluded, the cell is still 0.59/0.61/0.63
    assert cot.cells["sym-40"].n == 3 and cot.cells["sym-40"].mean == pytest.approx(0.61)
    assert "sym-80" not in cot.cells
    assert sym.failed == {"coteaching": 2}
    assert sym.failures == {"coteaching": {"sym-40": "NaN loss at epoch 2", "sym-80": "NaN loss at epoch 2"}}
    md = render_table(sym)
    # where and why: configs that failed alike are named together with their error
    assert ("2 failed runs (status `failed`) excluded from the statistics "
            "(coteaching: 2, at sym-40 and sym-80: NaN loss at epoch 2).") in md
    assert "failed" not in render_table(tables["web"])


def test_summaries(tables):
    web = tables["web"]
    ce = next(r for r in web.rows if r.method == "ce")
    gce = next(r for r in web.rows if r.method == "gce")
    # ce level means 0.90, 0.85, 0.80, 0.70 -> mean 0.8125
    assert ce.summary["levels"].estimate == pytest.approx(0.8125)
    assert ce.summary["levels"].n == 4
    assert ce.summary["boot_mean"].estimate == pytest.approx(0.8125)
    # gce beats ce at every (level, seed) by 0.01 (base 0.91 vs 0.90) + 0.3 * level * 0.25
    # = 0.01, 0.025, 0.04, 0.07 at 0/20/40/80% -> mean 0.145 / 4 = 0.03625
    assert gce.summary["delta"].estimate == pytest.approx(0.03625)
    assert gce.summary["delta"].n == 12
    assert "poi" not in ce.summary and 0.5 < gce.summary["poi"].estimate <= 1.0
    assert web.baseline == "ce"


def test_bold_ties_and_lower_is_better():
    rows = [normalise_row(make_row("d", "sym", 0.2, m, s, 0.8 + 0.01 * s)) for m in ("a", "b") for s in range(3)]
    rows += [normalise_row(make_row("d", "sym", 0.2, "c", s, 0.5)) for s in range(3)]
    (t,) = build_tables(rows, reps=50)
    md = _md_rows(render_table(t))
    assert md["a"][0].startswith("**") and md["b"][0].startswith("**") and not md["c"][0].startswith("**")
    assert "No CE baseline" in render_table(t)
    # ECE: lower is better, so c (ece 0.05 + 0.02 for every run) ties with a and b and all are bold;
    # here make c worse to see the direction
    for r in rows:
        r["ece"] = 0.30 if r["method"] == "c" else 0.05
    (t,) = build_tables(rows, metric="ece", reps=50)
    md = _md_rows(render_table(t))
    assert md["a"][0] == "**5.0 ± 0.0**" and md["c"][0] == "30.0 ± 0.0"


def test_seeded_bootstrap_is_reproducible_per_method():
    rows = [normalise_row(r) for r in toy_rows()]
    a = build_tables(rows, reps=200, seed=1)
    b = build_tables(rows, reps=200, seed=1)
    c = build_tables(rows, reps=200, seed=2)
    key = lambda ts: [(r.label, r.summary["iqm"].low, r.summary["iqm"].high) for t in ts for r in t.rows]
    assert key(a) == key(b) and key(a) != key(c)
    # adding a method does not change another method's bootstrap draws
    extra = rows + [normalise_row(make_row("toy", "web", 0.2, "new", s, 0.8)) for s in range(3)]
    d = build_tables(extra, reps=200, seed=1)
    ce = lambda ts: next(r for t in ts if t.noise_kind == "web" for r in t.rows if r.method == "ce").summary["iqm"]
    assert ce(a) == ce(d)


def test_partial_store_never_crashes():
    rows = [normalise_row({"dataset": "d", "config": "sym-20", "method": "ce", "status": "failed"}),
            normalise_row({"dataset": "d", "config": "cifar10n-worst", "method": "ce", "seed": 0, "test_acc_best_val": 0.6}),
            normalise_row({"dataset": "", "config": "sym-20", "method": "ce"})]
    tables = build_tables(rows, reps=20)
    kinds = {t.noise_kind: t for t in tables}
    assert kinds["sym"].rows == [] and kinds["sym"].failed == {"ce": 1}
    assert "| Method |" in render_table(kinds["sym"])
    md = render_table(kinds["cifar10n-worst"])
    assert "cifar10n-worst" in md and "60.0 (n=1)" in md


def test_unknown_metric():
    with pytest.raises(CnlbenchError, match="choose one of"):
        build_tables([], metric="accuracy")


def test_binomial_footnote():
    rows = [normalise_row(r) for r in toy_rows()]
    (sym, _) = build_tables(rows, reps=20, n_test={"toy": 10_000})
    # lowest cell mean 0.34 (ce at 80%): 1.96 * sqrt(0.34 * 0.66 / 10000) = 0.92848 points
    assert "±0.93 points at 34.0%" in render_table(sym)
    cell = next(r for r in sym.rows if r.method == "ce").cells["sym-40"]
    assert cell.binomial == pytest.approx(1.96 * math.sqrt(0.62 * 0.38 / 10_000))


def test_a_method_missing_a_level_because_its_runs_failed_says_where_and_why(tables):
    from cnlbench.board.grid import failed_levels, summary_grid

    sym = tables["sym"]
    grid = summary_grid(sym)
    reasons = {m.method: row[grid.keys.index("protocol")].text for m, row in zip(grid.meta, grid.rows)}
    # coteaching's runs at sym-80 failed (its sym-40 cell survives on other seeds)
    assert reasons["coteaching"] == "unranked: covers 3/4 levels, failed at sym-80 (NaN loss at epoch 2)"
    assert reasons["ce"] == reasons["gce"] == "ok"

    # a long error is cut at its first clause in the summary and quoted whole (up to a limit) in the note
    err = ("HarnessError: backward correction needs an invertible T, but its condition number is 6.82e+16 "
           "(> 1e+10): T is singular; use the forward correction, which needs no inverse")
    rows = [normalise_row(r) for r in toy_rows()]
    for seed in (0, 1):
        bad = make_row("toy", "sym", 0.8, "gce", seed, 0.0, status="failed")
        bad["error"] = err
        rows.append(normalise_row(bad))
    rows = [r for r in rows if not (r["method"] == "gce" and r["config"] == "sym-80" and r["status"] == "ok")]
    t = next(t for t in build_tables(rows, reps=50) if t.noise_kind == "sym")
    gce = next(r for r in t.rows if r.method == "gce")
    assert failed_levels(t, gce) == "failed at sym-80 (HarnessError: backward correction needs an invertible T)"
    assert f"gce: 2, at sym-80: {err}" in render_table(t)
