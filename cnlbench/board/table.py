"""The leaderboard's numbers: per (dataset, noise kind) one table, per method one row.

:func:`build_tables` groups result rows (see :mod:`cnlbench.board.results`) and computes every
statistic once; the Markdown, HTML, JSON and plots all render these objects, so they always
show the same numbers. Values are kept as fractions (the metric's own scale); renderers convert
to percent.

Columns are the configs of one noise kind, ordered by level (named label sets such as
``cifar10n-aggre`` have no level and come last). Failed runs (``status == "failed"``) and
rows whose metric is missing never enter a statistic; failed runs are counted per method.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from cnlbench.board import stats
from cnlbench.errors import CnlbenchError

__all__ = ["METRICS", "Column", "Cell", "MethodRow", "BoardTable", "build_tables", "SUMMARY_KEYS"]

# metric -> higher is better
METRICS: dict[str, bool] = {
    "test_acc_best_val": True,
    "test_acc_final": True,
    "val_acc_best": True,
    "auroc_noise": True,
    "abstain_acc": True,
    "abstain_coverage": True,
    "ece": False,
    "overconfidence": False,
}

SUMMARY_KEYS = ("levels", "boot_mean", "iqm", "poi", "delta")
TEST_ACCURACIES = ("test_acc_best_val", "test_acc_final")


@dataclass(frozen=True)
class Column:
    """One config of a noise kind: ``level`` is a fraction (NaN for a named label set)."""

    config: str
    level: float

    @property
    def key(self) -> str:
        return f"c-{self.config}"

    @property
    def label(self) -> str:
        return f"{100 * self.level:g}%" if math.isfinite(self.level) else self.config


@dataclass(frozen=True)
class Cell:
    """One (method, config) cell: per-seed values ``(n,)`` and their t interval over seeds.

    ``binomial`` is the test-set half-width at the mean (NaN when the test-set size is unknown).
    """

    values: tuple[float, ...]
    seeds: tuple[int | None, ...]
    interval: stats.Interval
    binomial: float = math.nan

    @property
    def mean(self) -> float:
        return self.interval.estimate

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass
class MethodRow:
    """A method's row. ``summary`` maps :data:`SUMMARY_KEYS` to intervals (absent = not defined)."""

    label: str
    method: str
    model: str
    submitted: bool
    cells: dict[str, Cell] = field(default_factory=dict)
    summary: dict[str, stats.Interval] = field(default_factory=dict)
    version: str = ""


@dataclass
class BoardTable:
    dataset: str
    noise_kind: str
    metric: str
    higher_is_better: bool
    columns: list[Column]
    rows: list[MethodRow]
    baseline: str | None
    failed: dict[str, int]
    n_test: int | None
    reps: int
    #: ``method -> {config: error}``: where its failed runs are and why (the error of the run with
    #: the lowest seed there), so a reader sees why a method misses a level.
    failures: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def n_failed(self) -> int:
        return sum(self.failed.values())


def _stable_key(*parts: str) -> tuple[int, ...]:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))


def _rng(seed: int, *parts: str) -> np.random.Generator:
    """A generator per (table, method, statistic): adding a method never changes another's draws."""
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=_stable_key(*parts)))


def _row_key(r: Mapping[str, Any]) -> tuple[str, str, bool, str]:
    return (r["method"], r.get("model", "") or "", bool(r.get("submitted", False)), r.get("method_version", "") or "")


def _strata(row: MethodRow, columns: list[Column], sign: float) -> list[np.ndarray]:
    return [
        sign * np.asarray(row.cells[c.config].values if c.config in row.cells else (), dtype=np.float64)
        for c in columns
    ]


def _summaries(row: MethodRow, base: MethodRow | None, columns: list[Column], sign: float,
               table_id: tuple[str, ...], seed: int, reps: int) -> None:
    strata = _strata(row, columns, 1.0)
    if not any(s.size for s in strata):
        return
    row.summary["levels"] = stats.mean_over_levels(strata)
    rid = (*table_id, row.label)
    row.summary["boot_mean"] = stats.stratified_bootstrap(
        strata, stats.aggregate_mean, _rng(seed, *rid, "mean"), reps)
    row.summary["iqm"] = stats.stratified_bootstrap(
        strata, stats.aggregate_iqm, _rng(seed, *rid, "iqm"), reps)
    if base is None or base is row:
        return
    # P(improvement) and the paired difference are defined on "better" = sign * value.
    row.summary["poi"] = stats.probability_of_improvement_interval(
        _strata(row, columns, sign), _strata(base, columns, sign), _rng(seed, *rid, "poi"), reps)
    mine = {(c, s): v for c, cell in row.cells.items() for s, v in zip(cell.seeds, cell.values) if s is not None}
    theirs = {(c, s): v for c, cell in base.cells.items() for s, v in zip(cell.seeds, cell.values) if s is not None}
    if set(mine) & set(theirs):
        row.summary["delta"] = stats.paired_difference(mine, theirs)


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[Column]:
    cols = {r["config"]: Column(r["config"], r["level"]) for r in rows}
    return sorted(cols.values(), key=lambda c: (not math.isfinite(c.level), c.level if math.isfinite(c.level) else 0.0, c.config))


def build_tables(
    rows: Iterable[Mapping[str, Any]],
    metric: str = "test_acc_best_val",
    *,
    baseline: str = "ce",
    seed: int = 0,
    reps: int = stats.DEFAULT_REPS,
    n_test: Mapping[str, int] | None = None,
) -> list[BoardTable]:
    """One :class:`BoardTable` per (dataset, noise kind), sorted by dataset then kind.

    ``rows``: normalised result rows (:func:`cnlbench.board.results.read_results`), optionally
    with ``submitted=True``/``method_version`` for accepted submissions. ``baseline`` names the
    method P(improvement) and paired differences are computed against (case-insensitive; the
    harness's CE method). ``seed`` seeds every bootstrap (one generator per table, method and
    statistic). ``n_test`` maps a dataset to its test-set size for the binomial half-width; a
    row's own ``n_test`` column is used when present.
    """
    if metric not in METRICS:
        raise CnlbenchError(f"metric {metric!r} is not reported; choose one of {sorted(METRICS)}")
    higher = METRICS[metric]
    sign = 1.0 if higher else -1.0
    n_test = dict(n_test or {})
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        if not r.get("dataset") or not r.get("config") or not r.get("method"):
            continue
        groups.setdefault((r["dataset"], r["noise_kind"]), []).append(r)
    tables = []
    for (dataset, kind), grp in sorted(groups.items()):
        failed: dict[str, int] = {}
        failures: dict[str, dict[str, str]] = {}
        ok, bad = [], []
        for r in grp:
            if r.get("status", "ok") != "ok":
                failed[r["method"]] = failed.get(r["method"], 0) + 1
                bad.append(r)
            elif isinstance(r.get(metric), float) and math.isfinite(r[metric]):
                ok.append(r)
            if r.get("n_test") and dataset not in n_test:
                n_test[dataset] = int(r["n_test"])
        for r in sorted(bad, key=lambda r: (r.get("seed") is None, r.get("seed") or 0)):
            failures.setdefault(r["method"], {}).setdefault(str(r["config"]), str(r.get("error") or "").strip())
        columns = _columns(ok)
        nt = n_test.get(dataset)
        by_method: dict[tuple[str, str, bool, str], dict[str, list[Mapping[str, Any]]]] = {}
        for r in ok:
            by_method.setdefault(_row_key(r), {}).setdefault(r["config"], []).append(r)
        models = {k[1] for k in by_method}
        method_rows = []
        for (method, model, submitted, version), cells in by_method.items():
            label = method + (f" {version}" if version else "") + (f" / {model}" if len(models) > 1 and model else "")
            mr = MethodRow(label + (" †" if submitted else ""), method, model, submitted, version=version)
            for config, rs in cells.items():
                rs = sorted(rs, key=lambda r: (r.get("seed") is None, r.get("seed") or 0))
                vals = tuple(float(r[metric]) for r in rs)
                iv = stats.t_interval(vals)
                binom = math.nan
                if nt and metric in TEST_ACCURACIES:
                    binom = stats.binomial_half_width(min(max(iv.estimate, 0.0), 1.0), nt)
                mr.cells[config] = Cell(vals, tuple(r.get("seed") for r in rs), iv, binom)
            method_rows.append(mr)
        base_candidates = [m for m in method_rows if m.method.lower() == baseline.lower() and not m.submitted]
        base = base_candidates[0] if base_candidates else None
        for mr in method_rows:
            _summaries(mr, base, columns, sign, (dataset, kind, metric), seed, reps)
        method_rows.sort(key=lambda m: (
            -len(m.cells),
            -sign * m.summary["levels"].estimate if "levels" in m.summary else math.inf,
            m.label,
        ))
        tables.append(BoardTable(dataset, kind, metric, higher, columns, method_rows,
                                 base.label if base else None, dict(sorted(failed.items())), nt, reps,
                                 {m: dict(sorted(c.items())) for m, c in sorted(failures.items())}))
    return tables
