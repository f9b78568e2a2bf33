"""Our numbers against the paper's: metrics read from results rows (store columns, or the DAC
study's test-subset metrics at the selected epoch), the paper's claims evaluated as checks
(directions: paired differences with a t interval; orderings: Spearman's rho with a bootstrap
interval) and the side-by-side comparison with the published numbers."""

from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from cnlbench.errors import CnlbenchError
from cnlbench.reproduce.model import (
    MIN_N, PERCENT_METRICS, REPORT_SEED, SUBSET_METRICS, TRUST_LEVELS, CheckResult, Direction, Ordering, Published,
    Reproduction, ScalePlan,
)

# --------------------------------------------------------------------------------------------
# Our numbers


#: A method that reports its accuracy on the noisy-validation examples it does NOT abstain on
#: (DAC: ``val_abstain_acc``) is read at the epoch where that is best, the DAC protocol's own
#: criterion (``dac-protocol``); every other method at the engine's selected epoch.
ABSTAIN_SELECTION = "val_abstain_acc"


def selected_index(curves: Mapping[str, Any], best_epoch: Any) -> int | None:
    """Index into the per-epoch ``curves`` lists of the selected epoch, over the LAST stage:
    the best finite ``val_abstain_acc`` when the method reports one (the engine's selection rule,
    :func:`cnlbench.harness.metrics.select_best_epoch`: earliest on ties), else ``best_epoch``
    (the engine's: best noisy-validation accuracy). None when absent."""
    from cnlbench.harness.metrics import select_best_epoch

    epochs = curves.get("epoch") or []
    stages = curves.get("stage") or [0] * len(epochs)
    if not epochs:
        return None
    last = max(stages)
    idx = [i for i, st in enumerate(stages) if st == last]
    kept = curves.get(ABSTAIN_SELECTION) or []
    scores = [float(kept[i]) if i < len(kept) and kept[i] is not None and math.isfinite(kept[i]) else math.nan
              for i in idx]
    if any(math.isfinite(v) for v in scores):
        return idx[select_best_epoch(scores)]
    return next((i for i in idx if epochs[i] == best_epoch), None)


def selected_point(row: Mapping[str, Any]) -> dict[str, Any]:
    """The curves' point of the selected epoch (:func:`selected_index`), {} if absent."""
    try:
        curves = json.loads(row.get("curves") or "{}")
    except (TypeError, json.JSONDecodeError):
        return {}
    i = selected_index(curves, row.get("best_epoch"))
    if i is None:
        return {}
    return {k: v[i] for k, v in curves.items() if isinstance(v, list) and len(v) > i}


def subset_metric(point: Mapping[str, Any], metric: str) -> float:
    """One of :data:`SUBSET_METRICS` (a fraction) from an epoch's curves point with the engine's
    test-subset keys (``test_affected_*``, ``test_rest_*``; see ``TrainConfig.test_corruption``).

    ``abstain_affected`` / ``abstain_rest``: share of the corrupted / other test images whose
    argmax is the abstain output, ``1 - abstain_coverage`` (NaN without an abstain output, CE);
    ``acc_rest_kept`` / ``acc_affected``: accuracy on the other / corrupted images that were not
    abstained on (plain accuracy without an abstain output)."""
    subset = "affected" if metric.endswith("affected") else "rest"

    def get(key: str) -> float:
        v = point.get(f"test_{subset}_{key}")
        return math.nan if v is None else float(v)

    if metric.startswith("abstain_"):
        return 1.0 - get("abstain_coverage")
    kept = get("abstain_acc")
    return kept if "test_" + subset + "_abstain_coverage" in point else get("acc")


def row_metric(row: Mapping[str, Any], metric: str) -> float:
    """``metric`` of one results row (a fraction for percent metrics): a store column, or one
    of :data:`SUBSET_METRICS` at the selected epoch."""
    if metric in SUBSET_METRICS:
        return subset_metric(selected_point(row), metric)
    v = row.get(metric)
    return math.nan if v is None else float(v)


def _scale_factor(metric: str) -> float:
    return 100.0 if metric in PERCENT_METRICS else 1.0


def _kind(config: str) -> str:
    """The noise kind a config name carries (``web-40`` -> ``web``; a named label set is its own
    kind), read by :func:`cnlbench.manifest.recipe.parse_config_name`."""
    from cnlbench.manifest.recipe import parse_config_name

    return parse_config_name(config)[0]


def _level_key(config: str) -> str:
    """The level suffix that pairs configs across noise kinds (``web-40`` -> ``40``; a config
    without a level pairs by its whole name)."""
    from cnlbench.manifest.recipe import parse_config_name

    kind, level = parse_config_name(config)
    return config if level is None else config[len(kind) + 1:]


def metric_values(rows: Sequence[Mapping[str, Any]], method: str, config: str, metric: str,
                  exclude: Sequence[str] = ()) -> dict[tuple[str, int], float]:
    """{(level key, seed): value in display units} of ``method``'s finished runs on the
    configs matching ``config`` (a name or glob) and no pattern of ``exclude``."""
    out: dict[tuple[str, int], float] = {}
    f = _scale_factor(metric)
    for r in rows:
        c = str(r["config"])
        if r["method"] != method or r["status"] != "ok" or not fnmatch.fnmatchcase(c, config):
            continue
        if any(fnmatch.fnmatchcase(c, x) for x in exclude):
            continue
        v = row_metric(r, metric) * f
        if math.isfinite(v):
            out[(_level_key(c), int(r["seed"]))] = v
    return out



# --------------------------------------------------------------------------------------------
# Checks


def direction_verdict(iv: Any, relation: str, margin: float = 0.0, min_n: int = MIN_N) -> tuple[str, str]:
    """(verdict, reason) of a directional claim from the interval ``iv`` of the difference.

    ``above``: PASS when ``iv.low > margin``; ``below``: PASS when ``iv.high < -margin``;
    ``within``: PASS when the interval lies inside ``[-margin, margin]``. FAIL otherwise
    ("reversed" when the whole interval is on the wrong side). NOT TESTABLE when the interval
    rests on fewer than ``min_n`` observations or does not exist."""
    if relation not in ("above", "below", "within"):
        raise CnlbenchError(f"unknown relation {relation!r}; use above, below or within")
    if iv.n < min_n:
        return "NOT TESTABLE", f"{iv.n} paired value(s); a verdict needs at least {min_n}"
    if not iv.has_interval:
        return "NOT TESTABLE", "no interval (no variation to estimate)"
    if relation == "within":
        if -margin <= iv.low and iv.high <= margin:
            return "PASS", f"whole interval within ±{margin:g}"
        return "FAIL", f"interval reaches outside ±{margin:g}"
    bound = (margin if relation == "above" else -margin) + 0.0  # + 0.0: never print "-0"
    sign = 1.0 if relation == "above" else -1.0
    near, far = (iv.low, iv.high) if relation == "above" else (iv.high, iv.low)
    if sign * (near - bound) > 0:
        return "PASS", f"whole interval {relation} {bound:+g}"
    if sign * (far - bound) < 0:
        return "FAIL", f"reversed: whole interval on the other side of {bound:+g}"
    return "FAIL", f"not shown: the interval includes {bound:+g}"


def evaluate_direction(check: Direction, rows: Sequence[Mapping[str, Any]], min_n: int = MIN_N) -> CheckResult:
    """A :class:`Direction` on ``rows``: the paired difference a - b over (level, seed) with a
    95% t interval (:func:`cnlbench.board.stats.paired_difference`), or ``a`` alone (t over
    seeds) when ``b`` is None; verdict by :func:`direction_verdict`."""
    from cnlbench.board.stats import paired_difference, t_interval

    xa = metric_values(rows, check.a[0], check.a[1], check.metric, check.exclude)
    if check.b is None:
        iv = t_interval(list(xa.values()))
    else:
        xb = metric_values(rows, check.b[0], check.b[1], check.metric_b or check.metric, check.exclude)
        if not xb:
            return CheckResult(check.name, check.claim, "direction", "NOT TESTABLE", None,
                               f"no finished run of {check.b[0]} on {check.b[1]} at this scale", check.source)
        iv = paired_difference(xa, xb)
    if not xa:
        return CheckResult(check.name, check.claim, "direction", "NOT TESTABLE", None,
                           f"no finished run of {check.a[0]} on {check.a[1]} at this scale", check.source)
    verdict, why = direction_verdict(iv, check.relation, check.margin, min_n)
    return CheckResult(check.name, check.claim, "direction", verdict, iv, why, check.source)


def ordering_inputs(check: Ordering, rows: Sequence[Mapping[str, Any]], published: Sequence[Published]
                    ) -> tuple[list[str], list[np.ndarray], list[float]]:
    """(methods, per-method seed scores, published values) of the methods with both.

    A method's score for one seed is its value on ``check.config`` or, for a glob, the mean
    over the matching configs of that seed (a seed missing a level is left out)."""
    pubs = {p.method: p.value for p in published
            if (p.dataset, p.setting, p.metric) == (check.dataset, check.setting, check.metric)}
    methods, scores, values = [], [], []
    for method, value in pubs.items():
        vals = metric_values(rows, method, check.config, check.metric, check.exclude)
        levels = sorted({lv for lv, _ in vals})
        per_seed = []
        for seed in sorted({s for _, s in vals}):
            cell = [vals.get((lv, seed)) for lv in levels]
            if all(v is not None for v in cell):
                per_seed.append(float(np.mean(cell)))
        if per_seed:
            methods.append(method)
            scores.append(np.asarray(per_seed))
            values.append(float(value))
    return methods, scores, values


def evaluate_ordering(check: Ordering, rows: Sequence[Mapping[str, Any]], published: Sequence[Published],
                      rng: np.random.Generator, min_n: int = MIN_N) -> CheckResult:
    """An :class:`Ordering`: Spearman's rho between our methods' means and the published
    numbers with a bootstrap interval over seeds (:func:`cnlbench.board.stats.spearman_interval`).
    PASS when the whole interval is above 0; NOT TESTABLE with fewer than ``min_n`` methods or
    a method with fewer than ``min_n`` seeds."""
    from cnlbench.board.stats import spearman_interval

    pubs = [p for p in published if (p.dataset, p.setting, p.metric) == (check.dataset, check.setting, check.metric)]
    trust = sorted({p.trust for p in pubs}, key=TRUST_LEVELS.index)
    source = f"{pubs[0].source} ({'/'.join(trust)})" if pubs else ""
    methods, scores, values = ordering_inputs(check, rows, pubs)
    if len(methods) < min_n:
        return CheckResult(check.name, check.claim, "ordering", "NOT TESTABLE", None,
                           f"{len(methods)} method(s) with our runs and a published number; a rank needs "
                           f"at least {min_n}", source)
    iv = spearman_interval(scores, values, rng)
    ours = " > ".join(m for _, m in sorted(zip([-s.mean() for s in scores], methods)))
    theirs = " > ".join(m for _, m in sorted(zip([-v for v in values], methods)))
    order = f"ours: {ours}; published: {theirs}"
    fewest = min(s.size for s in scores)
    if fewest < min_n:
        return CheckResult(check.name, check.claim, "ordering", "NOT TESTABLE", iv,
                           f"{fewest} seed(s) for some method; an interval needs at least {min_n}. {order}", source)
    if not math.isfinite(iv.estimate) or not iv.has_interval:
        return CheckResult(check.name, check.claim, "ordering", "NOT TESTABLE", iv,
                           f"rho undefined (our means tie). {order}", source)
    if iv.low > 0:
        return CheckResult(check.name, check.claim, "ordering", "PASS", iv, f"whole interval above 0. {order}", source)
    why = "reversed: whole interval below 0" if iv.high < 0 else "not shown: the interval includes 0"
    return CheckResult(check.name, check.claim, "ordering", "FAIL", iv, f"{why}. {order}", source)


def evaluate_checks(repro: Reproduction, rows: Sequence[Mapping[str, Any]], *, seed: int = REPORT_SEED,
                    min_n: int = MIN_N) -> list[CheckResult]:
    """Every check of ``repro`` on ``rows``, in declaration order; a check whose
    ``requires`` did not PASS is NOT TESTABLE. The bootstrap draws from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    done: dict[str, CheckResult] = {}
    out = []
    for check in repro.checks:
        unmet = [(n, done[n].verdict if n in done else "missing") for n in check.requires
                 if n not in done or done[n].verdict != "PASS"]
        if unmet:
            source = check.source if isinstance(check, Direction) else ""
            why = "; ".join(f"precondition {n} is {v}" for n, v in unmet)
            res = CheckResult(check.name, check.claim, "direction" if isinstance(check, Direction) else "ordering",
                              "NOT TESTABLE", None, why, source)
        elif isinstance(check, Direction):
            res = evaluate_direction(check, rows, min_n)
        else:
            res = evaluate_ordering(check, rows, repro.published, rng, min_n)
        done[check.name] = res
        out.append(res)
    return out



# --------------------------------------------------------------------------------------------
# Comparison with the published numbers


def shows_difference(plan: ScalePlan, published: Published | None) -> bool:
    """"ours - published" is meaningful only at full scale on the paper's dataset."""
    return published is not None and plan.scale == "full" and published.dataset == plan.dataset


@dataclass(frozen=True)
class ComparisonRow:
    method: str
    setting: str
    metric: str
    ours: Any  # cnlbench.board.stats.Interval, in the metric's display units
    published: Published | None
    failed: int
    finished: int = 0
    show_difference: bool = False

    @property
    def difference(self) -> float:
        """ours - published; NaN unless the scale and dataset match the paper's."""
        if not self.show_difference or self.published is None or not math.isfinite(self.ours.estimate):
            return math.nan
        return float(self.ours.estimate - self.published.value)


def repro_dataset(repro: Reproduction) -> str:
    """The dataset the published comparison numbers were measured on (the full scale's)."""
    full = repro.scales.get("full")
    return full.dataset if full is not None else "cifar10"


def compare(repro: Reproduction, plan: ScalePlan, rows: Sequence[Mapping[str, Any]]) -> list[ComparisonRow]:
    """One row per (metric, method, config) that was run, in plan order, each beside the
    published number of the paper's dataset for that method and setting (if any)."""
    from cnlbench.board.stats import t_interval

    configs: list[str] = []
    for r in rows:
        if r["config"] not in configs:
            configs.append(r["config"])
    order = {m: i for i, m in enumerate(plan.methods)}
    configs.sort(key=lambda c: (_kind(c), c))
    out = []
    for metric in repro.metrics:
        f = _scale_factor(metric)
        for method in sorted({r["method"] for r in rows}, key=lambda m: order.get(m, 99)):
            for config in configs:
                sel = [r for r in rows if r["method"] == method and r["config"] == config]
                if not sel:
                    continue
                ok = [row_metric(r, metric) * f for r in sel if r["status"] == "ok"]
                iv = t_interval([v for v in ok if math.isfinite(v)], kind="t over seeds")
                pub = repro.published_value(method, config, metric, repro_dataset(repro)) or next(
                    (p for p in repro.published if (p.method, p.setting, p.metric) == (method, config, metric)), None)
                n_ok = sum(r["status"] == "ok" for r in sel)
                out.append(ComparisonRow(method, config, metric, iv, pub, len(sel) - n_ok, n_ok,
                                         shows_difference(plan, pub)))
    return out


def summary_over_levels(plan: ScalePlan, rows: Sequence[Mapping[str, Any]], metric: str) -> list[tuple[str, str, Any]]:
    """(method, noise kind, Interval) of the mean over levels with a 95% t interval across the
    levels (:func:`cnlbench.board.stats.mean_over_levels`; the report prints no interval over
    fewer than :data:`MIN_N` levels)."""
    from cnlbench.board.stats import mean_over_levels

    out = []
    f = _scale_factor(metric)
    kinds = sorted({_kind(r["config"]) for r in rows})
    for method in plan.methods:
        for kind in kinds:
            per_level: dict[str, list[float]] = {}
            for r in rows:
                if r["method"] == method and _kind(r["config"]) == kind and r["status"] == "ok":
                    v = row_metric(r, metric) * f
                    if math.isfinite(v):
                        per_level.setdefault(r["config"], []).append(v)
            if per_level:
                out.append((method, kind, mean_over_levels([np.asarray(v) for v in per_level.values()])))
    return out

