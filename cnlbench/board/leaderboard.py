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
from cnlbench.board._io import slugify
from cnlbench.board.grid import Page
from cnlbench.board.html import render_html
from cnlbench.board.markdown import METRIC_NAMES, render_markdown
from cnlbench.board.plots import method_styles, plot_memorisation, plot_metric_vs_level, plot_synthetic_vs_web
from cnlbench.board.protocol import memorisation_note, protocol_flags, tuned_settings_note
from cnlbench.board.results import read_results
from cnlbench.board.submission import load_accepted
from cnlbench.board.table import BoardTable, build_tables
from cnlbench.harness.tuning import TunedSettings, load_tuned
from cnlbench.manifest.atomic import atomic_write_text

__all__ = ["WEB_KINDS", "SYNTHETIC_KINDS", "KIND_NOTES", "LeaderboardOutput", "write_leaderboard", "tables_json",
           "provenance", "kind_notes", "table_flags"]

WEB_KINDS = ("web", "red")
SYNTHETIC_KINDS = ("sym", "blue", "symmetric")


@dataclass
class LeaderboardOutput:
    out: Path
    files: list[Path] = field(default_factory=list)
    tables: list[BoardTable] = field(default_factory=list)
    skipped_submissions: list[str] = field(default_factory=list)
    n_rows: int = 0
    #: Part files of the results stores that could not be read ("PATH: why"), left out.
    unreadable_results: list[str] = field(default_factory=list)
    #: Figures of an earlier render that this one no longer draws, deleted from ``out/plots``.
    removed_plots: list[Path] = field(default_factory=list)


#: What each noise kind is, in words, shown above its summary table. Keys: ``(dataset prefix,
#: kind)`` first (``""`` matches every dataset). Honest about simulated sources.
KIND_NOTES: dict[tuple[str, str], str] = {
    ("digits", "web"): "**Simulated web pool**: the digits have no real web images, so `web-*` replaces "
                       "clean examples with look-alike glyphs drawn with a font and labelled by simulated "
                       "raters (`cnlbench/sources/digits_web.py`), built like CNWL's red noise. It is a "
                       "stand-in for web noise, not web noise.",
    ("digits", "blue"): "Symmetric noise to a random incorrect class on the digits' CNWL-format splits.",
    ("", "web"): "Web (red) noise: clean examples replaced by retrieved web images whose content is not the "
                 "labelled class (CNWL construction).",
    ("", "red"): "Web (red) noise: clean examples replaced by retrieved web images whose content is not the "
                 "labelled class (CNWL construction).",
    ("", "sym"): "Symmetric noise: at level p, exactly p of the examples of each class are flipped, uniformly to "
                 "the other classes.",
    ("", "asym"): "Asymmetric noise: the level is the flip probability WITHIN the flipped classes (e.g. CIFAR-10's "
                  "truck->automobile, bird->airplane, deer->horse, cat<->dog), so the overall realised rate is lower "
                  "(half the level on CIFAR-10); at levels above 50% a flipped class holds more wrong than right "
                  "labels.",
}


def kind_notes(tables: Sequence[BoardTable]) -> dict[str, list[tuple[str, str]]]:
    """``dataset -> [(kind, note)]`` from :data:`KIND_NOTES` for the tables' (dataset, kind)s."""
    out: dict[str, list[tuple[str, str]]] = {}
    for t in tables:
        note = next((n for (ds, kind), n in KIND_NOTES.items()
                     if kind == t.noise_kind and ds and t.dataset.startswith(ds)), None)
        note = note or KIND_NOTES.get(("", t.noise_kind))
        if note:
            out.setdefault(t.dataset, []).append((t.noise_kind, note))
    return out


def _with_memorisation(notes: dict[str, list[tuple[str, str]]], rows: Sequence[Mapping[str, Any]],
                       tables: Sequence[BoardTable], baseline: str) -> dict[str, list[tuple[str, str]]]:
    """Each kind's note followed by CE's memorisation at this budget (:func:`memorisation_note`)."""
    out = {ds: list(v) for ds, v in notes.items()}
    for t in tables:
        memo = memorisation_note(rows, t.dataset, t.noise_kind, baseline=baseline)
        if not memo:
            continue
        entries = out.setdefault(t.dataset, [])
        for i, (kind, note) in enumerate(entries):
            if kind == t.noise_kind:
                entries[i] = (kind, f"{note} {memo}")
                break
        else:
            entries.append((t.noise_kind, memo))
    return out


def table_flags(rows: Sequence[Mapping[str, Any]], tables: Sequence[BoardTable],
                baseline: str) -> dict[tuple[str, str], dict[str, str]]:
    """Protocol flags (:func:`cnlbench.board.protocol.protocol_flags`) per (dataset, kind)."""
    out = {}
    for t in tables:
        mine = [r for r in rows if r.get("dataset") == t.dataset and r.get("noise_kind") == t.noise_kind]
        out[(t.dataset, t.noise_kind)] = protocol_flags(mine, baseline=baseline, metric="test_acc_best_val")
    return out


def _counted(values: Sequence[Any]) -> str:
    counts: dict[str, int] = {}
    for v in values:
        key = str(v) if v not in (None, "") else "not recorded"
        counts[key] = counts.get(key, 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{k} ({n:,} runs)" for k, n in sorted(counts.items()))


_TRAIN_KEYS = (("batch_size", "batch"), ("lr", "lr"), ("schedule", "schedule"), ("momentum", "momentum"),
               ("weight_decay", "weight decay"), ("warmup_epochs", "warm-up epochs"))


def _training(rows: Sequence[Mapping[str, Any]]) -> str:
    """The training settings of ``rows``: one line when at most three differ; otherwise the settings
    every run shares, then the keys that vary with their range (e.g. the learning rate, which a
    tuned multiplier scales per method and noise kind)."""
    cfgs = []
    for r in rows:
        try:
            cfg = json.loads(r.get("train_config") or "{}")
        except ValueError:
            cfg = {}
        cfgs.append(cfg if isinstance(cfg, dict) else {})
    configs = {", ".join(f"{label} {c[k]}" for k, label in _TRAIN_KEYS if k in c) or "not recorded" for c in cfgs}
    if len(configs) <= 3:
        return "; ".join(sorted(configs))
    shared, varying = [], []
    for k, label in _TRAIN_KEYS:
        values = {json.dumps(c.get(k), sort_keys=True) for c in cfgs}
        if len(values) == 1:
            if k in cfgs[0]:
                shared.append(f"{label} {cfgs[0][k]}")
            continue
        nums = sorted(float(c[k]) for c in cfgs if isinstance(c.get(k), (int, float)))
        span = f", {nums[0]:g} to {nums[-1]:g}" if nums else ""
        varying.append(f"{label} ({len(values)} values{span})")
    text = ", ".join(shared)
    if varying:
        text += ("; " if text else "") + "varies by run: " + ", ".join(varying)
    return text + f" ({len(configs)} different training settings)"


def _tuning(rows: Sequence[Mapping[str, Any]]) -> str:
    note = tuned_settings_note(rows)
    if note:
        return ("`cnlbench tune`: every method (CE included) got the same 9 trials per noise kind at a mid level, "
                "selected on the NOISY validation split by the one-standard-error rule (a method keeps its defaults "
                "unless a setting beats them by more than one standard error) and frozen for every level and seed; "
                + note)
    tuned: dict[str, set[str]] = {}
    for r in rows:
        params = r.get("method_params") or "{}"
        if params.strip() not in ("", "{}"):
            tuned.setdefault(r["method"], set()).add(params)
    if not tuned:
        return "none: every method at its documented defaults (docs/methods.md), no per-method search"
    parts = [f"{m}: {' or '.join(sorted(p))}" for m, p in sorted(tuned.items())]
    return "settings other than the defaults: " + "; ".join(parts)


def tuning_grid_text(tuned: TunedSettings) -> str:
    """What ``cnlbench tune`` tried, read from its tuned-settings file: the tuning configs, the
    validation size and, per method, the learning-rate multipliers and parameter values of its
    trials (union over noise kinds), e.g. ``"gce: lr x{0.3, 1, 3} x q {0.4, 0.7, 0.9}"``."""
    kinds = tuned.data.get("kinds") or {}
    axes: dict[str, dict[str, list[Any]]] = {}  # method -> axis label -> distinct values tried
    counts: set[int] = set()
    for kind in kinds.values():
        for method, entry in (kind.get("methods") or {}).items():
            trials = entry.get("trials") or []
            counts.add(len(trials))
            for t in trials:
                for label, v in [("lr x", float(t.get("lr_mult", 1.0))),
                                 *((f"{k} ", v) for k, v in (t.get("params") or {}).items())]:
                    seen = axes.setdefault(method, {}).setdefault(label, [])
                    if v not in seen:
                        seen.append(v)

    def shown(vs: list[Any]) -> str:
        order = sorted(vs, key=lambda v: (0, float(v), "") if isinstance(v, (int, float)) else (1, 0.0, str(v)))
        return "{" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in order) + "}"

    configs = ", ".join(str(k.get("config")) for _, k in sorted(kinds.items()))
    n_val = sorted({k.get("n_val") for k in kinds.values() if k.get("n_val")})
    head = (f"{'/'.join(map(str, sorted(counts)))} trials per method and noise kind on {configs}"
            + (f" ({'/'.join(map(str, n_val))} noisy validation images)" if n_val else "") + ": ")
    body = "; ".join(f"{m}: " + " x ".join(f"{label}{shown(vs)}" for label, vs in a.items())
                     for m, a in sorted(axes.items()))
    return head + body if body else "none recorded in the tuned-settings file"


def provenance(rows: Sequence[Mapping[str, Any]], sources: Sequence[str | Path], *, commit: str = "",
               date: str = "", reps: int = stats.DEFAULT_REPS, seed: int = 0, status: str = "",
               tuned: TunedSettings | None = None) -> list[tuple[str, str]]:
    """``(label, value)`` lines: where the board's numbers come from, read from the results rows
    (model, epochs, seeds, training and tuning settings, device, version) plus ``commit`` and
    ``date`` (given by the caller; ``"not recorded"`` when empty) and, first, ``status`` (e.g.
    that the sweep is incomplete) when given."""
    head = [("Status", status)] if status else []
    if not rows:
        return head + [("Results", "none yet")]
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    per_cell: dict[tuple, set] = {}
    for r in ok:
        per_cell.setdefault((r["dataset"], r["config"], r["method"], r.get("model")), set()).add(r.get("seed"))
    counts = sorted({len(s) for s in per_cell.values()}) or [0]
    seeds = sorted({r.get("seed") for r in ok if r.get("seed") is not None})
    seeds_text = (f"{counts[0]} per cell" if len(counts) == 1 else f"{counts[0]} to {counts[-1]} per cell") + \
        (f" (seeds {', '.join(map(str, seeds[:10]))}{', ...' if len(seeds) > 10 else ''})" if seeds else "")
    if counts and counts[0] < 3:
        seeds_text += " ⚠ fewer than 3 seeds: intervals are wide or missing"
    return head + [
        ("Results", f"{len(rows):,} runs ({len(rows) - len(ok):,} failed) from "
                    + ", ".join(f"`{Path(s).as_posix()}`" for s in sources)),
        ("Model", _counted([r.get("model") for r in ok])),
        ("Epochs", _counted([r.get("epochs") for r in ok])),
        ("Seeds", seeds_text),
        ("Training", _training(ok)),
        ("Tuning", _tuning(ok)),
        *([("Tuning grid", tuning_grid_text(tuned))] if tuned is not None else []),
        ("Device", _counted([r.get("device") for r in ok])),
        ("cnlbench version", _counted([r.get("cnlbench_version") for r in ok])),
        ("Commit", commit or "not recorded (pass --commit)"),
        ("Date", date or "not recorded (pass --date)"),
        ("Bootstrap", f"{reps:,} resamples, seed {seed}"),
    ]


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
            "failed_runs": t.failed, "failures": t.failures,
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
    commit: str = "",
    date: str = "",
    status: str = "",
    tuned: str | Path | None = None,
) -> LeaderboardOutput:
    """Render the leaderboard for ``results`` (results-store folders or .parquet/.csv files) into ``out``.

    ``submissions_dir`` defaults to ``out/submissions``; its valid submissions join the tables,
    marked as submitted. ``curve_methods``/``curve_level`` choose the memorisation figure
    (default: every method with curves, the level nearest 40%). ``commit``/``date`` go into the
    provenance block (the rest of it is read from the rows); ``tuned`` (the file ``cnlbench tune
    --write`` wrote) adds the tuning grid that was searched. Returns the files written.
    """
    out = Path(out)
    tuned_settings = load_tuned(tuned) if tuned is not None else None
    unreadable: list[str] = []
    rows = read_results(results, unreadable=unreadable) if results else []
    sub_dir = Path(submissions_dir) if submissions_dir is not None else out / "submissions"
    sub_rows, skipped = load_accepted(sub_dir)
    tables = build_tables(rows + sub_rows, metric, baseline=baseline, seed=seed, reps=reps, n_test=n_test)
    res = LeaderboardOutput(out, tables=tables, skipped_submissions=skipped, n_rows=len(rows),
                            unreadable_results=unreadable)
    plot_refs: dict[tuple[str, str], list[tuple[str, str]]] = {}
    dataset_refs: dict[str, list[tuple[str, str]]] = {}
    if plots:
        _write_plots(rows, tables, out, metric, baseline, seed, curve_methods, curve_level, plot_refs, dataset_refs, res)
        res.removed_plots = _remove_stale_plots(out / "plots", res.files)
    page = Page(tables, metric, reps, seed, baseline.upper() if baseline.lower() == "ce" else baseline,
                plot_refs, dataset_refs, flags=table_flags(rows, tables, baseline),
                provenance=provenance(rows, list(results), commit=commit, date=date, reps=reps, seed=seed,
                                          status=status, tuned=tuned_settings),
                kind_notes=_with_memorisation(kind_notes(tables), rows, tables, baseline))
    md = render_markdown(page)
    if skipped:
        md += "\n" + "\n".join(f"- Skipped invalid submission {s}" for s in skipped) + "\n"
    if unreadable:
        md += "\n" + "\n".join(f"- Skipped unreadable results part {Path(u.split(': ', 1)[0]).name}" for u in unreadable) + "\n"
    res.files.append(atomic_write_text(out / "README.md", md))
    res.files.append(atomic_write_text(out / "index.html", render_html(page)))
    payload = tables_json(tables) | {"metric": metric, "metric_description": METRIC_NAMES.get(metric, metric),
                                     "bootstrap": {"reps": reps, "seed": seed},
                                     "protocol_flags": {f"{ds}/{kind}": dict(sorted(f.items()))
                                                        for (ds, kind), f in page.flags.items()},
                                     "provenance": dict(page.provenance)}
    res.files.append(atomic_write_text(out / "leaderboard.json",
                                       json.dumps(payload, indent=1, sort_keys=True, allow_nan=False) + "\n"))
    return res


def _remove_stale_plots(folder: Path, written: Sequence[Path]) -> list[Path]:
    """Delete the figures (``.png``/``.svg``) in ``folder`` that this render did not write: a
    board re-rendered without a noise kind or metric would otherwise keep its old figures beside
    the new ones. Other files are never touched. Returns the deleted paths."""
    keep = {p.resolve() for p in written}
    removed = []
    if folder.is_dir():
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.suffix in (".png", ".svg") and p.resolve() not in keep:
                p.unlink()
                removed.append(p)
    return removed


def _written(res: LeaderboardOutput, path: Path) -> None:
    from cnlbench.board.plots import svg_path

    res.files += [path, svg_path(path)]


def _write_plots(rows, tables, out, metric, baseline, seed, curve_methods, curve_level,
                 plot_refs, dataset_refs, res) -> None:
    styles = method_styles((r.label for t in tables for r in t.rows), baseline)
    for t in tables:
        rel = f"plots/{_stem(t.dataset, t.noise_kind, metric)}.png"
        if plot_metric_vs_level(t, out / rel, _ylabel(metric), styles):
            plot_refs.setdefault((t.dataset, t.noise_kind), []).append(
                (f"{t.dataset}, {t.noise_kind} noise: {metric} against level, one panel per method family with "
                 f"{t.baseline or baseline} in each (95% t bands over seeds)", rel))
            _written(res, out / rel)
    by_ds: dict[str, dict[str, BoardTable]] = {}
    for t in tables:
        by_ds.setdefault(t.dataset, {})[t.noise_kind] = t
    for ds, kinds in by_ds.items():
        web = next((kinds[k] for k in WEB_KINDS if k in kinds), None)
        syn = next((kinds[k] for k in SYNTHETIC_KINDS if k in kinds), None)
        if web is not None and syn is not None:
            rel = f"plots/{_stem(ds, 'synthetic-vs-web', metric)}.png"
            if plot_synthetic_vs_web(syn, web, out / rel, _ylabel(metric), styles):
                dataset_refs.setdefault(ds, []).append(
                    (f"{ds}: synthetic beside web noise, one row per method family (shared y axis)", rel))
                _written(res, out / rel)
    if not rows:
        return
    for t in build_tables(rows, "auroc_noise", baseline=baseline, seed=seed, reps=1):
        rel = f"plots/{_stem(t.dataset, t.noise_kind, 'auroc')}.png"
        if plot_metric_vs_level(t, out / rel, _ylabel("auroc_noise"), styles):
            plot_refs.setdefault((t.dataset, t.noise_kind), []).append(
                (f"{t.dataset}, {t.noise_kind} noise: noise-detection AUROC against level", rel))
            _written(res, out / rel)
    for t in tables:
        level = _curve_level(rows, t.dataset, t.noise_kind, curve_level)
        if level is None:
            continue
        rel = f"plots/{_stem(t.dataset, t.noise_kind, 'memorisation', f'{round(100 * level):02d}')}.png"
        if plot_memorisation(rows, t.dataset, t.noise_kind, level, curve_methods, out / rel, styles):
            plot_refs.setdefault((t.dataset, t.noise_kind), []).append(
                (f"{t.dataset}, {t.noise_kind} noise at {100 * level:g}%: train accuracy on the clean (solid) and "
                 "noisy (dashed) subsets over epochs", rel))
            _written(res, out / rel)
