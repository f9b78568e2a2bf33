"""Leaderboard figures (matplotlib, Agg; PNG at 150 dpi plus SVG, byte-for-byte deterministic).

Figures are drawn on ``matplotlib.figure.Figure`` objects with an Agg canvas, never through
``pyplot``, so no global figure state is touched. Files are written without a software or date
stamp, atomically. Each method keeps one colour and marker in every figure
(:func:`method_styles`: fixed per built-in method, CE always black); line style is never used
to tell methods apart (dashed means "noisy subset" in the memorisation figure only).

- :func:`plot_metric_vs_level`: metric against noise level as small multiples, one panel per
  method family with CE in each, mean with a light 95% t band per method; a single-level table
  is drawn as points with error bars.
- :func:`plot_synthetic_vs_web`: the CNWL figure, synthetic and web noise side by side, one row
  per family, shared y axis.
- :func:`plot_memorisation`: training accuracy on the clean and the noisy subsets over epochs
  (from the ``curves`` JSON column), mean over seeds, for chosen methods at one level.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from cnlbench.board.references import METHOD_FAMILIES, method_info, method_infos
from cnlbench.board.table import BoardTable, Column, MethodRow
from cnlbench.harness.store import CURVE_TRAIN_CLEAN, CURVE_TRAIN_NOISY_GIVEN
from cnlbench.manifest.atomic import atomic_write_bytes

__all__ = [
    "CLEAN_CURVE_KEYS",
    "NOISY_CURVE_KEYS",
    "DPI",
    "Style",
    "BASELINE_STYLE",
    "method_styles",
    "method_colours",
    "svg_path",
    "figure_metric_vs_level",
    "figure_synthetic_vs_web",
    "figure_memorisation",
    "plot_metric_vs_level",
    "plot_synthetic_vs_web",
    "plot_memorisation",
    "parse_curves",
]

# Names in the ``curves`` JSON for train accuracy on the clean / noisy subsets: the harness's
# own keys (the noisy subset measured against the label it was given: memorisation).
CLEAN_CURVE_KEYS = (CURVE_TRAIN_CLEAN,)
NOISY_CURVE_KEYS = (CURVE_TRAIN_NOISY_GIVEN,)

#: PNG resolution; an SVG is written beside every PNG.
DPI = 150
#: Small multiples: panels per row, and at most this many methods (plus the baseline) per panel.
PANEL_COLUMNS = 3
PANEL_METHODS = 9


def _figure(nrows: int = 1, ncols: int = 1, width: float = 6.4, height: float = 4.2, sharey: bool = False):
    """A figure of ``nrows x ncols`` panels, each ``width x height`` inches; flat list of axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharey=sharey, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def svg_path(path: Any) -> Path:
    """The SVG written beside the PNG ``path``."""
    return Path(path).with_suffix(".svg")


def _save(fig: Any, path: Any) -> None:
    """``path`` (PNG, :data:`DPI`) and the SVG beside it, both without dates or software
    stamps (SVG element ids from a fixed hash salt), so the same figure gives the same bytes."""
    from matplotlib import rc_context

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    atomic_write_bytes(path, buf.getvalue())
    buf = io.BytesIO()
    with rc_context({"svg.hashsalt": "cnlbench", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    atomic_write_bytes(svg_path(path), buf.getvalue())


@dataclass(frozen=True)
class Style:
    """How one method is drawn in every figure: colour, marker and line width."""

    colour: str
    marker: str
    linewidth: float = 1.4


#: The baseline is black, solid and a little heavier in every figure.
BASELINE_STYLE = Style("#000000", "o", 2.0)
# Within a family, members take these colours in docs order (tab10 without its grey); families
# differ by marker, so (colour, marker) is unique across the whole zoo and distinct inside a panel.
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
_FAMILY_MARKERS = {"baseline": "o", "regularisation": "s", "robust loss": "^", "loss correction": "D",
                   "sample selection": "v", "other": "P"}
_OTHER_MARKERS = ("P", "X", "*", "h", "<", ">")
#: Colour order inside each family (the order the built-in methods first got their colours, kept
#: so that every figure keeps them); a method not listed follows its family's listed members in
#: name order, so adding a method (one file) changes no other method's style.
_COLOUR_ORDER = (
    "ce-wd", "ce-dropout",
    "label-smoothing", "confidence-penalty", "bootstrap-soft", "bootstrap-hard", "proselflc",
    "proselflc-detached", "mixup",
    "mae", "gce", "gce-truncated", "sce", "derivative-manipulation", "unhinged", "sigmoid", "savage",
    "forward", "backward", "forward-that", "backward-that", "s-model",
    "coteaching", "mentornet", "mentormix", "dac", "dac-protocol",
)


def _family_members(infos: Mapping[str, Any]) -> dict[str, list[str]]:
    """family -> its methods (CE aside) in colour order."""
    rank = {name: i for i, name in enumerate(_COLOUR_ORDER)}
    members: dict[str, list[str]] = {}
    for name in sorted(infos, key=lambda n: (rank.get(n, len(rank)), n)):
        if name != "ce":
            members.setdefault(infos[name].family, []).append(name)
    return members


def method_styles(labels: Iterable[str], baseline: str = "ce") -> dict[str, Style]:
    """A fixed :class:`Style` per method label, the same in every figure.

    Methods with a family (:func:`cnlbench.board.references.method_infos`) have a style of their
    own that does not depend on which other methods are drawn: family -> marker, position in the
    family (:data:`_COLOUR_ORDER`) -> colour; ``baseline`` is always :data:`BASELINE_STYLE`. Other
    labels (a user's methods without a family, submissions, versions) take the remaining (colour,
    marker) pairs in sorted order, and so does CE when another method is the ``baseline``.
    """
    infos = method_infos()
    members = _family_members(infos)
    styles: dict[str, Style] = {}
    used = set()
    others = []
    for label in sorted(set(labels)):
        if label.lower() == baseline.lower():
            styles[label] = BASELINE_STYLE
            continue
        info = infos.get(label)
        if info is None or label not in members.get(info.family, ()):
            others.append(label)  # no family, or CE when another method is the baseline
            continue
        i = members[info.family].index(label)
        styles[label] = Style(_PALETTE[i % len(_PALETTE)], _FAMILY_MARKERS[info.family])
        used.add((styles[label].colour, styles[label].marker))
    free = [(c, m) for m in _OTHER_MARKERS for c in _PALETTE if (c, m) not in used]
    for i, label in enumerate(others):
        colour, marker = free[i % len(free)]
        styles[label] = Style(colour, marker)
    return styles


def method_colours(labels: Iterable[str]) -> dict[str, str]:
    """The colour of each label's :func:`method_styles` entry."""
    return {k: v.colour for k, v in method_styles(labels).items()}


def _level_columns(table: BoardTable) -> list[Column]:
    return [c for c in table.columns if math.isfinite(c.level)]


def _panels(table_rows: Sequence[MethodRow], baseline: str | None) -> list[tuple[str, list[MethodRow]]]:
    """Small multiples: one panel per method family present (in :data:`METHOD_FAMILIES` order), the
    baseline row drawn in every panel; the baseline's own family panel holds its other members."""
    base = [r for r in table_rows if baseline is not None and r.label == baseline]
    fams: dict[str, list[MethodRow]] = {}
    for r in table_rows:
        if r in base:
            continue
        fams.setdefault(method_info(r.method).family if not r.submitted else "other", []).append(r)
    order = sorted(fams, key=lambda f: METHOD_FAMILIES.index(f) if f in METHOD_FAMILIES else len(METHOD_FAMILIES))
    if not order:
        return [("baseline", base)] if base else []
    panels = []
    for f in order:  # a crowded family (many methods of a user's own) is split: legible panels
        chunks = [fams[f][i:i + PANEL_METHODS] for i in range(0, len(fams[f]), PANEL_METHODS)]
        for k, chunk in enumerate(chunks):
            panels.append((f if len(chunks) == 1 else f"{f} ({k + 1}/{len(chunks)})", base + chunk))
    return panels


def _band(lo: np.ndarray, hi: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ok = np.isfinite(lo) & np.isfinite(hi)
    # every plotted metric is a fraction: a t band past 0% or 100% is clipped to the range
    return np.clip(np.where(ok, lo, y), 0.0, 100.0), np.clip(np.where(ok, hi, y), 0.0, 100.0), ok


def _draw_panel(ax: Any, rows: Sequence[MethodRow], cols: list[Column], styles: Mapping[str, Style],
                ylabel: str, title: str) -> bool:
    """Mean against level per method with a light 95% t band; with ONE level, points with error
    bars at categorical positions (a line through one level would be degenerate)."""
    drew = False
    single = len(cols) == 1
    for i, row in enumerate(rows):
        pts = [(100 * c.level, row.cells[c.config]) for c in cols if c.config in row.cells]
        if not pts:
            continue
        st = styles.get(row.label, BASELINE_STYLE)
        y = np.array([100 * p[1].mean for p in pts])
        lo, hi, ok = _band(np.array([100 * p[1].interval.low for p in pts]),
                           np.array([100 * p[1].interval.high for p in pts]), y)
        if single:
            ax.errorbar([i], y, yerr=[y - lo, hi - y], fmt=st.marker, ms=6, color=st.colour, capsize=4,
                        lw=st.linewidth, label=row.label)
        else:
            x = np.array([p[0] for p in pts])
            ax.plot(x, y, marker=st.marker, ms=4, lw=st.linewidth, color=st.colour, label=row.label)
            if ok.any():
                ax.fill_between(x, lo, hi, color=st.colour, alpha=0.10, lw=0)
        drew = True
    if single:
        ax.set_xticks(range(len(rows)), [r.label for r in rows], rotation=35, ha="right", fontsize=8)
        ax.set_xlabel(f"method (noise level {100 * cols[0].level:g}%; error bars: 95% t interval over seeds)")
    else:
        ax.set_xlabel("noise level (%)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.set_title(title, fontsize=10)
    if drew:
        ax.legend(fontsize=7, loc="best", framealpha=0.85)
    return drew


def _grid_shape(n: int, max_cols: int = PANEL_COLUMNS) -> tuple[int, int]:
    ncols = max(1, min(n, max_cols))
    return math.ceil(n / ncols), ncols


def figure_metric_vs_level(table: BoardTable, ylabel: str,
                         styles: Mapping[str, Style] | None = None) -> Any:
    """Small multiples, one panel per method family with the baseline in each: mean per method
    against level with its 95% t band (no band at n=1); a single-level table as points with
    error bars. The Figure, or None if nothing to draw."""
    styles = styles or method_styles([r.label for r in table.rows], table.baseline or "ce")
    cols = _level_columns(table)
    panels = _panels(table.rows, table.baseline)
    if not cols or not panels:
        return None
    nrows, ncols = _grid_shape(len(panels))
    fig, axes = _figure(nrows, ncols, width=4.6, height=3.4, sharey=True)
    drew = False
    for ax, (family, rows) in zip(axes, panels):
        drew = _draw_panel(ax, rows, cols, styles, ylabel, family) or drew
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    if not drew:
        return None
    fig.suptitle(f"{table.dataset}: {table.noise_kind} noise")
    return fig


def figure_synthetic_vs_web(synthetic: BoardTable, web: BoardTable, ylabel: str,
                          styles: Mapping[str, Style] | None = None) -> Any:
    """The CNWL figure as small multiples: one row per method family (baseline in each),
    synthetic noise left and web noise right, one shared y axis. None if nothing to draw."""
    styles = styles or method_styles([r.label for r in synthetic.rows] + [r.label for r in web.rows],
                                     synthetic.baseline or web.baseline or "ce")
    left_panels = dict(_panels(synthetic.rows, synthetic.baseline))
    right_panels = dict(_panels(web.rows, web.baseline))
    families = sorted(set(left_panels) | set(right_panels),
                      key=lambda f: METHOD_FAMILIES.index(f) if f in METHOD_FAMILIES else len(METHOD_FAMILIES))
    lcols, rcols = _level_columns(synthetic), _level_columns(web)
    if not families or not (lcols or rcols):
        return None
    fig, axes = _figure(len(families), 2, width=4.8, height=3.0, sharey=True)
    drew = False
    for i, fam in enumerate(families):
        if lcols:
            drew = _draw_panel(axes[2 * i], left_panels.get(fam, []), lcols, styles, ylabel,
                               f"{fam}: synthetic ({synthetic.noise_kind})") or drew
        if rcols:
            drew = _draw_panel(axes[2 * i + 1], right_panels.get(fam, []), rcols, styles, ylabel,
                               f"{fam}: web ({web.noise_kind})") or drew
    if not drew:
        return None
    fig.suptitle(f"{synthetic.dataset}: synthetic ({synthetic.noise_kind}) vs web ({web.noise_kind}) noise")
    return fig


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


def figure_memorisation(rows: Iterable[Mapping[str, Any]], dataset: str, noise_kind: str, level: float,
                      methods: Sequence[str] | None,
                      styles: Mapping[str, Style] | None = None) -> Any:
    """Train accuracy on the clean (solid) and noisy (dashed) subsets over epochs.

    One line pair per method (mean over seeds) for the runs of ``dataset``/``noise_kind`` at
    ``level`` (fraction). ``methods=None`` takes every method with curves. Accuracy on the
    noisy subset is measured against the noisy labels: rising means memorisation. Dashed means
    "noisy subset" here and nothing else in any figure; colours are :func:`method_styles`'.
    None when no run has usable curves.
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
        return None
    if methods is None and len(per_method) > MEMORISATION_DEFAULT_METHODS:
        per_method = {m: per_method[m] for m in _memorisation_default(per_method)}
    styles = styles or method_styles(per_method)
    fig, (ax,) = _figure()
    for method in sorted(per_method):
        runs = per_method[method]
        clean = 100 * _mean_curve([c for c, _ in runs])
        noisy = 100 * _mean_curve([n for _, n in runs])
        st = styles.get(method) or method_styles([method])[method]
        ax.plot(np.arange(1, clean.size + 1), clean, color=st.colour, lw=st.linewidth, label=f"{method}: clean subset")
        ax.plot(np.arange(1, noisy.size + 1), noisy, color=st.colour, lw=st.linewidth, ls="--",
                label=f"{method}: noisy subset")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("train accuracy (%) against the training label")
    ax.set_title(f"{dataset}: memorisation, {noise_kind} noise at {100 * level:g}%")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig


def plot_metric_vs_level(table: BoardTable, path: Any, ylabel: str,
                         styles: Mapping[str, Style] | None = None) -> bool:
    """:func:`figure_metric_vs_level` written to ``path`` (PNG) and its SVG; False if nothing to draw."""
    return _save_figure(figure_metric_vs_level(table, ylabel, styles), path)


def plot_synthetic_vs_web(synthetic: BoardTable, web: BoardTable, path: Any, ylabel: str,
                          styles: Mapping[str, Style] | None = None) -> bool:
    """:func:`figure_synthetic_vs_web` written to ``path`` (PNG) and its SVG; False if nothing to draw."""
    return _save_figure(figure_synthetic_vs_web(synthetic, web, ylabel, styles), path)


def plot_memorisation(rows: Iterable[Mapping[str, Any]], dataset: str, noise_kind: str, level: float,
                      methods: Sequence[str] | None, path: Any,
                      styles: Mapping[str, Style] | None = None) -> bool:
    """:func:`figure_memorisation` written to ``path`` (PNG) and its SVG; False (no file) when no
    run has usable curves."""
    return _save_figure(figure_memorisation(rows, dataset, noise_kind, level, methods, styles), path)


def _save_figure(fig: Any, path: Any) -> bool:
    if fig is None:
        return False
    _save(fig, path)
    return True
