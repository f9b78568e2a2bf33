"""Build the leaderboard folder: README.md, index.html, leaderboard.json and plots/.

:func:`write_leaderboard` reads one or more results stores plus the accepted submissions,
computes every table once (:func:`cnlbench.board.table.build_tables`) and renders it. It never
crashes on a partial store: missing cells render as missing, failed runs are excluded and
counted, a figure with nothing to draw is simply not written.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from cnlbench import __version__
from cnlbench.board import stats
from cnlbench.board._io import atomic_write_text, slugify
from cnlbench.board.grid import Page
from cnlbench.board.html import render_html
from cnlbench.board.markdown import METRIC_NAMES, render_markdown
from cnlbench.board.plots import method_colours, plot_memorisation, plot_metric_vs_level, plot_synthetic_vs_web
from cnlbench.board.results import read_results
from cnlbench.board.submission import load_accepted
from cnlbench.board.table import BoardTable, build_tables

__all__ = ["WEB_KINDS", "SYNTHETIC_KINDS", "LeaderboardOutput", "write_leaderboard", "tables_json"]

WEB_KINDS = ("web", "red")
SYNTHETIC_KINDS = ("sym", "blue", "symmetric")


@dataclass
class LeaderboardOutput:
    out: Path
    files: list[Path] = field(default_factory=list)
    tables: list[BoardTable] = field(default_factory=list)
    skipped_submissions: list[str] = field(default_factory=list)
    n_rows: int = 0


def _ylabel(metric: str) -> str:
    return {"test_acc_best_val": "test accuracy (%), best noisy-val epoch",
            "test_acc_final": "test accuracy (%), final epoch",
            "auroc_noise": "noise-detection AUROC (%)"}.get(metric, f"{metric} (%)")


def _stem(*parts: str) -> str:
    return "-".join(slugify(p) for p in parts)


def _curve_level(rows: Sequence[Mapping[str, Any]], dataset: str, kind: str, wanted: float | None) -> float | None:
    levels = sorted({r["level"] for r in rows if r["dataset"] == dataset and r["noise_kind"] == kind
                     and r.get("curves") and math.isfinite(r["level"])})
    if not levels:
        return None
    target = 0.4 if wanted is None else wanted
    return min(levels, key=lambda lv: (abs(lv - target), lv))


def tables_json(tables: Sequence[BoardTable]) -> dict[str, Any]:
    """Every number of the board, machine-readable (fractions, NaN as null)."""

    def num(v: float) -> float | None:
        return float(v) if v is not None and math.isfinite(v) else None

    out = []
    for t in tables:
        out.append({
            "dataset": t.dataset, "noise_kind": t.noise_kind, "metric": t.metric,
            "higher_is_better": t.higher_is_better, "baseline": t.baseline, "n_test": t.n_test,
            "failed_runs": t.failed,
            "columns": [{"config": c.config, "level": num(c.level)} for c in t.columns],
            "rows": [{
                "label": r.label, "method": r.method, "model": r.model, "submitted": r.submitted,
                "method_version": r.version,
                "cells": {cfg: {"values": list(c.values), "seeds": list(c.seeds), "binomial_half_width": num(c.binomial),
                                **c.interval.to_dict()} for cfg, c in r.cells.items()},
                "summary": {k: iv.to_dict() for k, iv in r.summary.items()},
            } for r in t.rows],
        })
    return {"cnlbench_version": __version__, "tables": out}


def write_leaderboard(
    results: Sequence[str | Path],
    out: str | Path,
    *,
    metric: str = "test_acc_best_val",
    submissions_dir: str | Path | None = None,
    baseline: str = "ce",
    seed: int = 0,
    reps: int = stats.DEFAULT_REPS,
    n_test: Mapping[str, int] | None = None,
    curve_methods: Sequence[str] | None = None,
    curve_level: float | None = None,
    plots: bool = True,
) -> LeaderboardOutput:
    """Render the leaderboard for ``results`` (results-store folders or .parquet/.csv files) into ``out``.

    ``submissions_dir`` defaults to ``out/submissions``; its valid submissions join the tables,
    marked as submitted. ``curve_methods``/``curve_level`` choose the memorisation figure
    (default: every method with curves, the level nearest 40%). Returns the files written.
    """
    out = Path(out)
    rows = read_results(results) if results else []
    sub_dir = Path(submissions_dir) if submissions_dir is not None else out / "submissions"
    sub_rows, skipped = load_accepted(sub_dir)
    tables = build_tables(rows + sub_rows, metric, baseline=baseline, seed=seed, reps=reps, n_test=n_test)
    res = LeaderboardOutput(out, tables=tables, skipped_submissions=skipped, n_rows=len(rows))
    plot_refs: dict[tuple[str, str], list[tuple[str, str]]] = {}
    dataset_refs: dict[str, list[tuple[str, str]]] = {}
    if plots:
        _write_plots(rows, tables, out, metric, baseline, seed, curve_methods, curve_level, plot_refs, dataset_refs, res)
    page = Page(tables, metric, reps, seed, baseline.upper() if baseline.lower() == "ce" else baseline,
                plot_refs, dataset_refs)
    md = render_markdown(page)
    if skipped:
        md += "\n" + "\n".join(f"- Skipped invalid submission {s}" for s in skipped) + "\n"
    res.files.append(atomic_write_text(out / "README.md", md))
    res.files.append(atomic_write_text(out / "index.html", render_html(page)))
    payload = tables_json(tables) | {"metric": metric, "metric_description": METRIC_NAMES.get(metric, metric),
                                     "bootstrap": {"reps": reps, "seed": seed}}
    res.files.append(atomic_write_text(out / "leaderboard.json",
                                       json.dumps(payload, indent=1, sort_keys=True, allow_nan=False) + "\n"))
    return res


def _write_plots(rows, tables, out, metric, baseline, seed, curve_methods, curve_level,
                 plot_refs, dataset_refs, res) -> None:
    colours = method_colours(r.label for t in tables for r in t.rows)
    for t in tables:
        rel = f"plots/{_stem(t.dataset, t.noise_kind, metric)}.png"
        if plot_metric_vs_level(t, out / rel, _ylabel(metric), colours):
            plot_refs.setdefault((t.dataset, t.noise_kind), []).append(
                (f"{t.dataset}, {t.noise_kind} noise: {metric} against level (95% t bands over seeds)", rel))
            res.files.append(out / rel)
    by_ds: dict[str, dict[str, BoardTable]] = {}
    for t in tables:
        by_ds.setdefault(t.dataset, {})[t.noise_kind] = t
    for ds, kinds in by_ds.items():
        web = next((kinds[k] for k in WEB_KINDS if k in kinds), None)
        syn = next((kinds[k] for k in SYNTHETIC_KINDS if k in kinds), None)
        if web is not None and syn is not None:
            rel = f"plots/{_stem(ds, 'synthetic-vs-web', metric)}.png"
            if plot_synthetic_vs_web(syn, web, out / rel, _ylabel(metric), colours):
                dataset_refs.setdefault(ds, []).append((f"{ds}: synthetic beside web noise (shared y axis)", rel))
                res.files.append(out / rel)
    if not rows:
        return
    for t in build_tables(rows, "auroc_noise", baseline=baseline, seed=seed, reps=1):
        rel = f"plots/{_stem(t.dataset, t.noise_kind, 'auroc')}.png"
        if plot_metric_vs_level(t, out / rel, _ylabel("auroc_noise"), colours):
            plot_refs.setdefault((t.dataset, t.noise_kind), []).append(
                (f"{t.dataset}, {t.noise_kind} noise: noise-detection AUROC against level", rel))
            res.files.append(out / rel)
    for t in tables:
        level = _curve_level(rows, t.dataset, t.noise_kind, curve_level)
        if level is None:
            continue
        rel = f"plots/{_stem(t.dataset, t.noise_kind, 'memorisation', f'{round(100 * level):02d}')}.png"
        if plot_memorisation(rows, t.dataset, t.noise_kind, level, curve_methods, out / rel, colours):
            plot_refs.setdefault((t.dataset, t.noise_kind), []).append(
                (f"{t.dataset}, {t.noise_kind} noise at {100 * level:g}%: train accuracy on the clean and "
                 "noisy subsets over epochs", rel))
            res.files.append(out / rel)
