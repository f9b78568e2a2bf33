"""A :class:`~cnlbench.board.table.BoardTable` as a grid of display cells.

The Markdown and HTML renderers both serialise this grid, so both show the same text, the same
bold cells and sort on the same numbers. Percent with one decimal for metric values; two
decimals for P(improvement), which is a probability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from cnlbench.board.stats import Interval, binomial_half_width
from cnlbench.board.table import TEST_ACCURACIES, BoardTable, Cell

__all__ = ["GridCell", "Grid", "Page", "table_grid", "table_notes", "failed_note", "binomial_note",
           "MISSING", "SUMMARY_HEADERS"]

MISSING = "—"

SUMMARY_HEADERS = {
    "levels": "Mean over levels ± 95% CI (spread between levels)",
    "boot_mean": "Mean [95% stratified bootstrap]",
    "iqm": "IQM [95% stratified bootstrap]",
    "poi": "P(improvement over {base}) [95% bootstrap]",
    "delta": "Paired Δ vs {base} ± 95% CI (points)",
}


@dataclass(frozen=True)
class GridCell:
    """Display text, the number it sorts on (NaN = missing, sorts last) and whether it is bold."""

    text: str
    value: float = math.nan
    bold: bool = False


@dataclass(frozen=True)
class Grid:
    keys: list[str]            # column keys: "method", "c-<config>", summary keys
    headers: list[str]
    rows: list[list[GridCell]]


def _pct(v: float) -> str:
    return f"{100.0 * v:.1f}"


def _cell_text(cell: Cell) -> str:
    if cell.n == 1 or not cell.interval.has_interval:
        return f"{_pct(cell.mean)} (n={cell.n})"
    return f"{_pct(cell.mean)} ± {_pct(cell.interval.half_width)}"


def _t_text(iv: Interval, signed: bool = False) -> str:
    est = f"{100.0 * iv.estimate:+.1f}" if signed else _pct(iv.estimate)
    if not iv.has_interval:
        return f"{est} (n={iv.n})"
    return f"{est} ± {_pct(iv.half_width)}"


def _boot_text(iv: Interval, scale: float = 100.0, digits: int = 1) -> str:
    est = f"{scale * iv.estimate:.{digits}f}"
    if not iv.has_interval:
        return f"{est} (no seed interval)"
    return f"{est} [{scale * iv.low:.{digits}f}, {scale * iv.high:.{digits}f}]"


def _summary_cell(key: str, iv: Interval | None, n_cols: int) -> GridCell:
    if iv is None or not math.isfinite(iv.estimate):
        return GridCell(MISSING)
    if key == "levels":
        text = _t_text(iv)
        if iv.n < n_cols:
            text += f" ({iv.n}/{n_cols} levels)"
        return GridCell(text, iv.estimate)
    if key == "poi":
        return GridCell(_boot_text(iv, 1.0, 2), iv.estimate)
    if key == "delta":
        return GridCell(_t_text(iv, signed=True), iv.estimate)
    return GridCell(_boot_text(iv), iv.estimate)


def _mark_best(cells: list[GridCell], lower_better: bool, percent: bool = True) -> list[GridCell]:
    """Bold the best displayed value (ties at the displayed precision all bold)."""

    def shown(v: float) -> float:
        return round(100.0 * v, 1) if percent else round(v, 2)

    vals = [shown(c.value) for c in cells if math.isfinite(c.value)]
    if not vals:
        return cells
    best = min(vals) if lower_better else max(vals)
    return [GridCell(c.text, c.value, math.isfinite(c.value) and shown(c.value) == best) for c in cells]


def table_grid(table: BoardTable) -> Grid:
    """The display grid of ``table``: one row per method, level columns then summaries."""
    base = table.baseline or "CE"
    keys = ["method"] + [c.key for c in table.columns]
    headers = ["Method"] + [c.label for c in table.columns]
    summary_keys = ["levels", "boot_mean", "iqm"]
    if table.baseline is not None:
        summary_keys += ["poi", "delta"]
    keys += summary_keys
    headers += [SUMMARY_HEADERS[k].format(base=base) for k in summary_keys]
    n_cols = len(table.columns)
    columns: list[list[GridCell]] = [[GridCell(r.label) for r in table.rows]]
    lower = not table.higher_is_better
    for col in table.columns:
        cells = [
            GridCell(_cell_text(r.cells[col.config]), r.cells[col.config].mean) if col.config in r.cells
            else GridCell(MISSING)
            for r in table.rows
        ]
        columns.append(_mark_best(cells, lower))
    complete = [len(r.cells) == n_cols for r in table.rows]
    for key in summary_keys:
        cells = [_summary_cell(key, r.summary.get(key), n_cols) for r in table.rows]
        # Only rows covering every column compete for bold: a mean over fewer levels is not comparable.
        marked = _mark_best([c if ok else GridCell(c.text) for c, ok in zip(cells, complete)],
                            lower and key != "poi", percent=key != "poi")  # P(improvement): higher is better
        columns.append([m if ok else c for m, c, ok in zip(marked, cells, complete)])
    rows = [[col[i] for col in columns] for i in range(len(table.rows))]
    return Grid(keys, headers, rows)


@dataclass(frozen=True)
class Page:
    """Everything a renderer needs: the tables, how they were computed, the figures.

    ``plots[(dataset, kind)]`` and ``dataset_plots[dataset]`` list ``(caption, relative path)``.
    """

    tables: Sequence[BoardTable]
    metric: str
    reps: int
    seed: int
    baseline: str = "CE"
    plots: Mapping[tuple[str, str], Sequence[tuple[str, str]]] = field(default_factory=dict)
    dataset_plots: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=dict)
    title: str = "cnlbench leaderboard"


def failed_note(table: BoardTable) -> str:
    """``"3 failed runs excluded from the statistics (coteaching: 2, dac: 1)."`` or ``""``."""
    if not table.n_failed:
        return ""
    parts = ", ".join(f"{m}: {n}" for m, n in table.failed.items())
    s = "s" if table.n_failed != 1 else ""
    return f"{table.n_failed} failed run{s} (status `failed`) excluded from the statistics ({parts})."


def binomial_note(table: BoardTable) -> str:
    """The test-set sampling half-width over the range of cell means, or ``""`` when unknown."""
    if not table.n_test or table.metric not in TEST_ACCURACIES:
        return ""
    means = [c.mean for r in table.rows for c in r.cells.values() if math.isfinite(c.mean)]
    if not means:
        return ""
    lo, hi = min(means), max(means)
    hws = [binomial_half_width(a, table.n_test) for a in (lo, hi)]
    return (
        f"Test-set sampling (a separate source, not included above): binomial 95% half-width "
        f"±{100 * hws[0]:.2f} points at {100 * lo:.1f}% and ±{100 * hws[1]:.2f} at {100 * hi:.1f}% "
        f"(n_test = {table.n_test:,})."
    )


def table_notes(table: BoardTable) -> list[str]:
    """The footnotes of a table: failed runs, test-set sampling, submitted rows, missing baseline."""
    notes = [n for n in (failed_note(table), binomial_note(table)) if n]
    if any(r.submitted for r in table.rows):
        notes.append("† submitted: numbers as reported in an accepted submission, not re-run here.")
    if table.baseline is None:
        notes.append("No CE baseline in this table, so no P(improvement) or paired difference.")
    return notes
