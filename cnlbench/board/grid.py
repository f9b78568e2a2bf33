"""A :class:`~cnlbench.board.table.BoardTable` as a grid of display cells.

The Markdown and HTML renderers both serialise this grid, so both show the same text, the same
bold cells and sort on the same numbers. Percent with one decimal for metric values; two
decimals for P(improvement), which is a probability.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from cnlbench.board.stats import Interval, binomial_half_width
from cnlbench.board.references import method_info
from cnlbench.board.table import TEST_ACCURACIES, BoardTable, Cell, MethodRow

__all__ = ["GridCell", "Grid", "RowMeta", "Page", "table_grid", "summary_grid", "table_notes", "failed_note",
           "failed_levels", "FAILURE_TEXT_CHARS",
           "binomial_note", "seeds_note", "clipped_note", "clipped", "min_seeds", "MISSING", "SUMMARY_HEADERS",
           "SUMMARY_GRID_HEADERS", "FEW_SEEDS_MARK", "MIN_BOOT_SEEDS"]

MISSING = "—"

#: The longest error text a failed-runs note quotes, in characters (the store keeps the whole error).
FAILURE_TEXT_CHARS = 240

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
class RowMeta:
    """What a renderer needs to style a row: the method's name and family, its paper and code
    links (``""`` when unknown), whether it is the baseline (highlighted) and its protocol flag
    (``""`` when none; a flagged row is greyed and unranked)."""

    method: str
    family: str
    paper: str = ""
    code: str = ""
    baseline: bool = False
    flag: str = ""


@dataclass(frozen=True)
class Grid:
    keys: list[str]            # column keys: "method", "c-<config>", summary keys
    headers: list[str]
    rows: list[list[GridCell]]
    meta: list[RowMeta] = field(default_factory=list)  # one per row


def _row_meta(table: BoardTable, row: MethodRow, flags: Mapping[str, str]) -> RowMeta:
    info = method_info(row.method)
    return RowMeta(row.method, info.family, info.paper, info.code,
                   baseline=table.baseline is not None and row.label == table.baseline,
                   flag=flags.get(row.method, "") if not row.submitted else "")


def _pct(v: float) -> str:
    return f"{100.0 * v:.1f}"


def clipped(iv: Interval) -> bool:
    """True when a percent interval passes 0% or 100% (it is then shown clipped to [0, 100])."""
    return iv.has_interval and (iv.low < 0.0 or iv.high > 1.0)


def _pm_text(est: str, iv: Interval) -> str:
    """``est ± hw``, or ``est [low, high]`` clipped to [0, 100] when the interval passes a bound."""
    if clipped(iv):
        return f"{est} [{_pct(max(iv.low, 0.0))}, {_pct(min(iv.high, 1.0))}]"
    return f"{est} ± {_pct(iv.half_width)}"


def _cell_text(cell: Cell) -> str:
    if cell.n == 1 or not cell.interval.has_interval:
        return f"{_pct(cell.mean)} (n={cell.n})"
    return _pm_text(_pct(cell.mean), cell.interval)


def _t_text(iv: Interval, signed: bool = False) -> str:
    est = f"{100.0 * iv.estimate:+.1f}" if signed else _pct(iv.estimate)
    if not iv.has_interval:
        return f"{est} (n={iv.n})"
    return f"{est} ± {_pct(iv.half_width)}" if signed else _pm_text(est, iv)


#: Appended to a bootstrap interval resting on fewer than :data:`MIN_BOOT_SEEDS` seeds at a level.
FEW_SEEDS_MARK = " ⚠"
#: Below this many seeds per level a percentile bootstrap only reshuffles a handful of values
#: (2 seeds: 3 distinct resamples per level) and its interval is far too narrow to trust.
MIN_BOOT_SEEDS = 3


def _boot_text(iv: Interval, scale: float = 100.0, digits: int = 1, few_seeds: bool = False) -> str:
    est = f"{scale * iv.estimate:.{digits}f}"
    if not iv.has_interval:
        return f"{est} (no seed interval)"
    return f"{est} [{scale * iv.low:.{digits}f}, {scale * iv.high:.{digits}f}]" + (FEW_SEEDS_MARK if few_seeds else "")


def min_seeds(row: MethodRow) -> int:
    """The fewest seeds any of the row's cells rests on (0 for an empty row)."""
    return min((c.n for c in row.cells.values()), default=0)


def _summary_cell(key: str, iv: Interval | None, n_cols: int, few_seeds: bool = False) -> GridCell:
    if iv is None or not math.isfinite(iv.estimate):
        return GridCell(MISSING)
    if key == "levels":
        text = _t_text(iv)
        if iv.n < n_cols:
            text += f" ({iv.n}/{n_cols} levels)"
        return GridCell(text, iv.estimate)
    if key == "poi":
        return GridCell(_boot_text(iv, 1.0, 2, few_seeds), iv.estimate)
    if key == "delta":
        return GridCell(_t_text(iv, signed=True), iv.estimate)
    return GridCell(_boot_text(iv, few_seeds=few_seeds), iv.estimate)


def _mark_best(cells: list[GridCell], lower_better: bool, percent: bool = True) -> list[GridCell]:
    """Bold the best displayed value (ties at the displayed precision all bold)."""

    def shown(v: float) -> float:
        return round(100.0 * v, 1) if percent else round(v, 2)

    vals = [shown(c.value) for c in cells if math.isfinite(c.value)]
    if not vals:
        return cells
    best = min(vals) if lower_better else max(vals)
    return [GridCell(c.text, c.value, math.isfinite(c.value) and shown(c.value) == best) for c in cells]


def table_grid(table: BoardTable, flags: Mapping[str, str] | None = None) -> Grid:
    """The display grid of ``table``: one row per method, level columns then summaries.

    ``flags``: ``{method: reason}`` from :func:`cnlbench.board.protocol.protocol_flags`; a
    flagged row never competes for bold in the summary columns."""
    flags = flags or {}
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
    meta = [_row_meta(table, r, flags) for r in table.rows]
    complete = [len(r.cells) == n_cols and not m.flag for r, m in zip(table.rows, meta)]
    for key in summary_keys:
        cells = [_summary_cell(key, r.summary.get(key), n_cols, min_seeds(r) < MIN_BOOT_SEEDS) for r in table.rows]
        # Only rows covering every column compete for bold: a mean over fewer levels is not comparable.
        marked = _mark_best([c if ok else GridCell(c.text) for c, ok in zip(cells, complete)],
                            lower and key != "poi", percent=key != "poi")  # P(improvement): higher is better
        columns.append([m if ok else c for m, c, ok in zip(marked, cells, complete)])
    rows = [[col[i] for col in columns] for i in range(len(table.rows))]
    return Grid(keys, headers, rows, meta)


SUMMARY_GRID_HEADERS = {
    "rank": "Rank",
    "method": "Method",
    "family": "Family",
    "boot_mean": "Mean over levels [95% CI]",
    "delta": "Δ vs {base} (points) ± 95% CI",
    "poi": "P(better than {base}) [95% CI]",
    "protocol": "Protocol",
}


def summary_grid(table: BoardTable, flags: Mapping[str, str] | None = None) -> Grid:
    """The summary of ``table``, one row per method: rank, method, family, mean over levels with
    its stratified-bootstrap interval (seed uncertainty), paired difference to the baseline,
    P(improvement) and the protocol flag.

    Ranked rows come first, best mean first; a row is unranked (rank ``—``, listed after the
    ranked ones) when it is flagged (``flags``, see :mod:`cnlbench.board.protocol`) or does not
    cover every level of the table (its mean is over other levels, not comparable). Ties at the
    displayed precision share a rank.
    """
    flags = flags or {}
    base = table.baseline or "CE"
    base = base.upper() if base.lower() == "ce" else base
    keys = ["rank", "method", "family", "boot_mean"] + (["delta", "poi"] if table.baseline is not None else []) + ["protocol"]
    headers = [SUMMARY_GRID_HEADERS[k].format(base=base) for k in keys]
    n_cols = len(table.columns)
    sign = 1.0 if table.higher_is_better else -1.0
    entries = []
    for r in table.rows:
        m = _row_meta(table, r, flags)
        mean = r.summary.get("boot_mean")
        reason = m.flag or ("" if len(r.cells) == n_cols else
                            f"unranked: covers {len(r.cells)}/{n_cols} levels"
                            + (f", {failed}" if (failed := failed_levels(table, r)) else ""))
        ranked = not reason and mean is not None and math.isfinite(mean.estimate)
        entries.append((r, m, reason, ranked, sign * mean.estimate if ranked else -math.inf))
    entries.sort(key=lambda e: (not e[3], -e[4], e[0].label))
    rows, meta, shown, rank = [], [], None, 0
    for i, (r, m, reason, ranked, score) in enumerate(entries):
        if ranked and round(100 * score, 1) != shown:
            rank, shown = i + 1, round(100 * score, 1)
        few = min_seeds(r) < MIN_BOOT_SEEDS
        cells = {
            "rank": GridCell(str(rank), float(rank)) if ranked else GridCell(MISSING),
            "method": GridCell(r.label),
            "family": GridCell(m.family),
            "boot_mean": _summary_cell("boot_mean", r.summary.get("boot_mean"), n_cols, few),
            "delta": _summary_cell("delta", r.summary.get("delta"), n_cols),
            "poi": _summary_cell("poi", r.summary.get("poi"), n_cols, few),
            "protocol": GridCell(reason or ("submitted" if r.submitted else "ok")),
        }
        rows.append([cells[k] for k in keys])
        meta.append(m)
    return Grid(keys, headers, rows, meta)


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
    #: ``flags[(dataset, kind)]``: ``{method: reason}`` (see :mod:`cnlbench.board.protocol`).
    flags: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    #: ``(label, value)`` lines saying where the numbers come from (model, epochs, seeds, ...).
    provenance: Sequence[tuple[str, str]] = ()
    #: ``dataset -> [(noise kind, what it is)]``: honest labels shown beside the tables.
    kind_notes: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=dict)

    def table_flags(self, table: BoardTable) -> Mapping[str, str]:
        return self.flags.get((table.dataset, table.noise_kind), {})


def failed_note(table: BoardTable) -> str:
    """``"3 failed runs excluded from the statistics (coteaching: 2, at sym-40: NaN loss at epoch 2;
    dac: 1, at sym-80: ...)."`` or ``""``: how many runs of each method failed, where, and why (the
    error of the lowest seed at each config; configs that failed alike are listed together)."""
    if not table.n_failed:
        return ""
    parts = []
    for m, n in table.failed.items():
        by_error: dict[str, list[str]] = {}
        for config, error in table.failures.get(m, {}).items():
            by_error.setdefault(_clip(error, FAILURE_TEXT_CHARS) or "no error recorded", []).append(config)
        where = "; ".join(f"at {_and(configs)}: {error}" for error, configs in by_error.items())
        parts.append(f"{m}: {n}" + (f", {where}" if where else ""))
    s = "s" if table.n_failed != 1 else ""
    return f"{table.n_failed} failed run{s} (status `failed`) excluded from the statistics ({'; '.join(parts)})."


def failed_levels(table: BoardTable, row: MethodRow) -> str:
    """Why ``row`` misses a level because its runs there failed: ``"failed at asym-50 (HarnessError:
    backward correction needs an invertible T)"``, or ``""`` when none of its missing levels failed."""
    failures = table.failures.get(row.method, {}) if not row.submitted else {}
    at = [c.config for c in table.columns if c.config not in row.cells and c.config in failures]
    if not at:
        return ""
    first = re.split(r"[,;(]", failures[at[0]], maxsplit=1)[0].strip()
    return f"failed at {_and(at)}" + (f" ({_clip(first, FAILURE_TEXT_CHARS)})" if first else "")


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


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


def seeds_note(table: BoardTable) -> str:
    """A warning when some cell rests on fewer than :data:`MIN_BOOT_SEEDS` seeds, or ``""``."""
    few = sorted({r.label for r in table.rows if min_seeds(r) < MIN_BOOT_SEEDS})
    if not few:
        return ""
    return (f"Too few seeds for a trustworthy interval ({', '.join(few)}): a cell with 1 seed has no "
            f"interval; with 2 seeds the t interval is honest but wide (t = 12.71); a bootstrap interval "
            f"marked{FEW_SEEDS_MARK} resamples fewer than {MIN_BOOT_SEEDS} seeds per level, so it is far too "
            f"narrow: read it as no interval. Run at least {MIN_BOOT_SEEDS} seeds (5 for a ranking).")


def clipped_note(table: BoardTable) -> str:
    """A note when some percent interval of ``table`` passes 0% or 100%, or ``""``."""
    ivs = [c.interval for r in table.rows for c in r.cells.values()] + [
        r.summary["levels"] for r in table.rows if "levels" in r.summary]
    if not any(clipped(iv) for iv in ivs):
        return ""
    return ("Intervals are clipped to [0, 100]: where mean ± half-width would pass a bound, the cell "
            "shows mean [low, high] with the bound in place of the impossible value.")


def table_notes(table: BoardTable) -> list[str]:
    """The footnotes of a table: failed runs, test-set sampling, submitted rows, missing baseline."""
    notes = [n for n in (failed_note(table), binomial_note(table), seeds_note(table), clipped_note(table)) if n]
    if any(r.submitted for r in table.rows):
        notes.append("† submitted: numbers as reported in an accepted submission, not re-run here.")
    if table.baseline is None:
        notes.append("No CE baseline in this table, so no P(improvement) or paired difference.")
    return notes
