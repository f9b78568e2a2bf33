"""A :class:`~cnlbench.board.table.BoardTable` as plain aligned text, for terminals.

Serialises the same :func:`~cnlbench.board.grid.table_grid` the Markdown and HTML renderers use,
so the numbers a terminal shows are the leaderboard's numbers. Best cells are marked with ``*``
(a terminal has no bold).
"""

from __future__ import annotations

from typing import Sequence

from cnlbench.board.grid import table_grid, table_notes
from cnlbench.board.markdown import METRIC_NAMES
from cnlbench.board.table import BoardTable

__all__ = ["render_text"]


def render_text(table: BoardTable, *, summary: Sequence[str] = ("levels",)) -> str:
    """Aligned text of ``table``: method, one column per level, then the ``summary`` columns
    (keys of :data:`cnlbench.board.grid.SUMMARY_HEADERS`; default: mean over levels)."""
    grid = table_grid(table)
    keep = [i for i, k in enumerate(grid.keys) if k == "method" or k.startswith("c-") or k in summary]
    headers = [grid.headers[i] for i in keep]
    body = [[row[i].text + ("*" if row[i].bold else "") for i in keep] for row in grid.rows]
    widths = [max(len(r[j]) for r in [headers, *body]) for j in range(len(keep))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(cells, widths)))

    title = f"{table.dataset} / {table.noise_kind}: {METRIC_NAMES.get(table.metric, table.metric)} (%)"
    out = [title, line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in body]
    out += [f"  {n}" for n in table_notes(table)]
    out.append("  cells: mean ± 95% t half-width over seeds; * best in column")
    return "\n".join(out)
