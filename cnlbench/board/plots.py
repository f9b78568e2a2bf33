"""Leaderboard figures (matplotlib, Agg, PNG, byte-for-byte deterministic).

Figures are drawn on ``matplotlib.figure.Figure`` objects with an Agg canvas, never through
``pyplot``, so no global figure state is touched. PNGs are written without a software or date
stamp, atomically. Each method keeps one colour across every figure of a run.

- :func:`plot_metric_vs_level`: metric against noise level, mean with its 95% t band per method.
- :func:`plot_synthetic_vs_web`: the CNWL figure, synthetic and web noise side by side,
  shared y axis.
- :func:`plot_memorisation`: training accuracy on the clean and the noisy subsets over epochs
  (from the ``curves`` JSON column), mean over seeds, for chosen methods at one level.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from cnlbench.board._io import atomic_write_bytes
from cnlbench.board.table import BoardTable, Column
from cnlbench.harness.store import CURVE_TRAIN_CLEAN, CURVE_TRAIN_NOISY_GIVEN

__all__ = [
    "CLEAN_CURVE_KEYS",
    "NOISY_CURVE_KEYS",
    "method_colours",
    "plot_metric_vs_level",
    "plot_synthetic_vs_web",
    "plot_memorisation",
    "parse_curves",
]

# Names in the ``curves`` JSON for train accuracy on the clean / noisy subsets: the harness's
# own keys (the noisy subset measured against the label it was given: memorisation).
CLEAN_CURVE_KEYS = (CURVE_TRAIN_CLEAN,)
NOISY_CURVE_KEYS = (CURVE_TRAIN_NOISY_GIVEN,)

_DPI = 110


def _figure(ncols: int = 1, width: float = 6.4, height: float = 4.2, sharey: bool = False):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, sharey=sharey, squeeze=False)[0]
    return fig, list(axes)


def _save(fig: Any, path: Any) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    atomic_write_bytes(path, buf.getvalue())


_LINESTYLES = ("-", "--", ":", "-.")


def method_colours(labels: Iterable[str]) -> dict[str, Any]:
    """A fixed colour per method label (sorted labels over the tab10/tab20 cycle)."""
    from matplotlib import colormaps

    names = sorted(set(labels))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def _linestyle(colours: Mapping[str, Any], label: str) -> str:
    """Past the colour cycle (20), methods that share a colour get another line style."""
    names = sorted(colours)
    i = names.index(label) if label in colours else 0
    cycle = 10 if len(names) <= 10 else 20
    return _LINESTYLES[(i // cycle) % len(_LINESTYLES)]


def _legend_below(fig: Any, handles: Sequence[Any], labels: Sequence[str], width_in: float) -> None:
    """One legend under the axes, in as many columns as fit the figure width, growing the
    figure's height with the rows it needs (so many methods never squash the axes)."""
    ncols = max(1, min(len(labels), int(width_in // 1.9)))
    rows = math.ceil(len(labels) / ncols)
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, h + 0.22 * rows + 0.3)
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=7, frameon=False)


def _level_columns(table: BoardTable) -> list[Column]:
    return [c for c in table.columns if math.isfinite(c.level)]


def _draw_levels(ax: Any, table: BoardTable, colours: Mapping[str, Any], ylabel: str) -> bool:
    cols = _level_columns(table)
    drew = False
    for row in table.rows:
        pts = [(100 * c.level, row.cells[c.config]) for c in cols if c.config in row.cells]
        if not pts:
            continue
        x = np.array([p[0] for p in pts])
        y = np.array([100 * p[1].mean for p in pts])
        # every plotted metric is a fraction: a t band past 0% or 100% is clipped to the range
        lo = np.clip(np.array([100 * p[1].interval.low for p in pts]), 0.0, 100.0)
        hi = np.clip(np.array([100 * p[1].interval.high for p in pts]), 0.0, 100.0)
        colour = colours.get(row.label)
        ax.plot(x, y, marker="o", ms=3.5, lw=1.4, color=colour, ls=_linestyle(colours, row.label), label=row.label)
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():  # bands fade as methods crowd the axes
            alpha = 0.18 if len(table.rows) <= 8 else 0.06
            ax.fill_between(x, np.where(ok, lo, y), np.where(ok, hi, y), color=colour, alpha=alpha, lw=0)
        drew = True
    ax.set_xlabel("noise level (%)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{table.dataset}: {table.noise_kind} noise")
    return drew


def plot_metric_vs_level(table: BoardTable, path: Any, ylabel: str,
                         colours: Mapping[str, Any] | None = None) -> bool:
    """Mean per method against level with its 95% t band (no band at n=1). False if nothing to draw."""
    colours = colours or method_colours(r.label for r in table.rows)
    fig, (ax,) = _figure()
    if not _draw_levels(ax, table, colours, ylabel):
        return False
    if len(table.rows) <= 8:
        ax.legend(fontsize=8, loc="best")
    else:
        _legend_below(fig, *ax.get_legend_handles_labels(), width_in=6.4)
    _save(fig, path)
    return True


def plot_synthetic_vs_web(synthetic: BoardTable, web: BoardTable, path: Any, ylabel: str,
                          colours: Mapping[str, Any] | None = None) -> bool:
    """Two panels, synthetic (left) and web (right), shared y axis. False if nothing to draw."""
    colours = colours or method_colours([r.label for r in synthetic.rows] + [r.label for r in web.rows])
    fig, (left, right) = _figure(ncols=2, width=5.2, sharey=True)
    drew = _draw_levels(left, synthetic, colours, ylabel)
    drew = _draw_levels(right, web, colours, ylabel) or drew
    if not drew:
        return False
    handles, labels = {}, []
    for ax in (left, right):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if len(labels) <= 8:
        right.legend([handles[lab] for lab in labels], labels, fontsize=8, loc="best")
    else:
        _legend_below(fig, [handles[lab] for lab in labels], labels, width_in=10.4)
    fig.suptitle(f"{synthetic.dataset}: synthetic ({synthetic.noise_kind}) vs web ({web.noise_kind}) noise")
    _save(fig, path)
    return True


def _pick(curves: Mapping[str, Any], keys: Sequence[str]) -> list[float] | None:
    for k in keys:
        if k in curves and isinstance(curves[k], list):
            return [float(v) if v is not None else math.nan for v in curves[k]]
    return None


def parse_curves(text: str) -> tuple[list[float], list[float]] | None:
    """``(clean, noisy)`` per-epoch train accuracies from a ``curves`` JSON cell, or None.

    Accepts a dict of per-epoch lists or a list of per-epoch dicts, under any of
    :data:`CLEAN_CURVE_KEYS` / :data:`NOISY_CURVE_KEYS`. Malformed JSON gives None.
    """
    if not text:
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(obj, list) and all(isinstance(e, dict) for e in obj):
        keys = {k for e in obj for k in e}
        obj = {k: [e.get(k) for e in obj] for k in keys}
    if not isinstance(obj, dict):
        return None
    clean, noisy = _pick(obj, CLEAN_CURVE_KEYS), _pick(obj, NOISY_CURVE_KEYS)
    if clean is None or noisy is None:
        return None
    return clean, noisy


def _mean_curve(curves: list[list[float]]) -> np.ndarray:
    n = max(len(c) for c in curves)
    arr = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        arr[i, : len(c)] = c
    with np.errstate(all="ignore"):
        return np.nanmean(arr, axis=0)


#: Methods drawn in the memorisation figure when none are named (two lines each).
MEMORISATION_DEFAULT_METHODS = 6


def _memorisation_default(per_method: Mapping[str, list[tuple[list[float], list[float]]]]) -> list[str]:
    """CE (the reference) plus the methods with the widest final gap between train accuracy on
    the clean subset and on the noisy subset (against its given labels): those that learn the
    clean examples yet resist memorising the wrong labels, the contrast the figure is for. Up to
    :data:`MEMORISATION_DEFAULT_METHODS`; ties by name."""
    def gap(m: str) -> float:
        c = _mean_curve([c for c, _ in per_method[m]])
        n = _mean_curve([n for _, n in per_method[m]])
        ok = np.isfinite(c) & np.isfinite(n)
        return float(c[ok][-1] - n[ok][-1]) if ok.any() else -math.inf

    chosen = ["ce"] if "ce" in per_method else []
    rest = sorted((m for m in per_method if m != "ce"), key=lambda m: (-gap(m), m))
    return chosen + rest[: MEMORISATION_DEFAULT_METHODS - len(chosen)]


def plot_memorisation(rows: Iterable[Mapping[str, Any]], dataset: str, noise_kind: str, level: float,
                      methods: Sequence[str] | None, path: Any,
                      colours: Mapping[str, Any] | None = None) -> bool:
    """Train accuracy on the clean (solid) and noisy (dashed) subsets over epochs.

    One line pair per method (mean over seeds) for the runs of ``dataset``/``noise_kind`` at
    ``level`` (fraction). ``methods=None`` takes every method with curves. Accuracy on the
    noisy subset is measured against the noisy labels: rising means memorisation.
    False (no file) when no run has usable curves.
    """
    per_method: dict[str, list[tuple[list[float], list[float]]]] = {}
    for r in rows:
        if (r.get("dataset"), r.get("noise_kind")) != (dataset, noise_kind) or r.get("status", "ok") != "ok":
            continue
        if not math.isfinite(r.get("level", math.nan)) or abs(r["level"] - level) > 1e-9:
            continue
        if methods is not None and r["method"] not in methods:
            continue
        parsed = parse_curves(r.get("curves", ""))
        if parsed:
            per_method.setdefault(r["method"], []).append(parsed)
    if not per_method:
        return False
    if methods is None and len(per_method) > MEMORISATION_DEFAULT_METHODS:
        per_method = {m: per_method[m] for m in _memorisation_default(per_method)}
    chosen = [colours.get(m) for m in per_method] if colours else []
    if not colours or len({repr(c) for c in chosen}) < len(chosen):
        colours = method_colours(per_method)  # line pairs need distinct colours within this figure
    fig, (ax,) = _figure()
    for method in sorted(per_method):
        runs = per_method[method]
        clean = 100 * _mean_curve([c for c, _ in runs])
        noisy = 100 * _mean_curve([n for _, n in runs])
        colour = colours.get(method)
        ax.plot(np.arange(1, clean.size + 1), clean, color=colour, lw=1.6, label=f"{method}: clean subset")
        ax.plot(np.arange(1, noisy.size + 1), noisy, color=colour, lw=1.6, ls="--", label=f"{method}: noisy subset")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("train accuracy (%) against the training label")
    ax.set_title(f"{dataset}: memorisation, {noise_kind} noise at {100 * level:g}%")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    _save(fig, path)
    return True
