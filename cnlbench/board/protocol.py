"""Fair-protocol flags: which methods the leaderboard shows greyed and unranked, and why.

The sanity gate is computed from the results themselves. At 0% noise every method should
match plain cross-entropy (CE) once its settings are tuned; a method more than
:data:`CONVERGENCE_GAP` (2 points) below CE there did not converge under this protocol (budget,
learning rate, a loss that needs more epochs), so its noisy-level numbers say more about the
training budget than about noise robustness. Such a method is shown with its reason and left
out of the ranking.

The comparison is per (dataset, noise kind): the method's mean ``test_acc_best_val`` over its
runs at level 0 against CE's mean over CE's runs at level 0. A kind without a level-0 run of
both the method and CE is not gated (nothing to compare). Failed runs never count.

A second flag marks a method whose mechanism never engaged: a method that reports, per epoch,
the share of each training batch its mechanism acted on (:data:`ENGAGEMENT_CURVES`, e.g. DAC's
``stat_abstain_rate``) and that acted on none in any epoch of any of its runs at the noisy
levels of a (dataset, noise kind) trained as plain CE there, so its column would not mean its
name (e.g. DAC whose warm-up ended after the labels were fitted: docs/methods.md).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

__all__ = ["CONVERGENCE_GAP", "ENGAGEMENT_CURVES", "engagement_flags", "memorisation_note", "protocol_flags",
           "tuned_settings_note"]

#: A method more than this far (fraction: 2 points) below CE at 0% noise is flagged.
CONVERGENCE_GAP = 0.02
#: Per-epoch curves (in a row's ``curves``) that say on what share of a training batch a
#: method's mechanism acted -> what the reason calls it.
ENGAGEMENT_CURVES = {"stat_abstain_rate": "abstained on"}


def _records(rows: Any) -> Iterable[Mapping[str, Any]]:
    """Row dicts from a pandas DataFrame (``to_dict("records")``) or any iterable of mappings."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        return rows.to_dict("records")
    return rows


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def protocol_flags(
    rows: Any,
    *,
    baseline: str = "ce",
    metric: str = "test_acc_best_val",
    gap: float = CONVERGENCE_GAP,
) -> dict[str, str]:
    """``{method: reason}`` for every method that fails the 0%-noise sanity gate.

    ``rows``: results rows (a pandas DataFrame or an iterable of dicts with ``dataset``,
    ``noise_kind``, ``level``, ``method``, ``status`` and ``metric``; values are fractions).
    A method is flagged when, for some (dataset, noise kind), its mean ``metric`` at level 0
    is more than ``gap`` below the ``baseline`` method's mean there. The reason names the
    numbers, in points, for each such (dataset, kind), e.g.
    ``"not converged: at 0% noise 85.1% vs CE 97.3% (-12.2 points; digits/sym)"``.
    The baseline itself and methods without a level-0 run are never flagged.
    """
    at_zero: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in _records(rows):
        if str(r.get("status") or "ok").lower() != "ok":
            continue
        level, value = _finite(r.get("level")), _finite(r.get(metric))
        if level is None or value is None or abs(level) > 1e-12 or not r.get("method"):
            continue
        key = (str(r.get("dataset") or ""), str(r.get("noise_kind") or ""))
        at_zero.setdefault(key, {}).setdefault(str(r["method"]), []).append(value)
    reasons: dict[str, list[str]] = {}
    for (dataset, kind), by_method in sorted(at_zero.items()):
        base = next((v for m, v in by_method.items() if m.lower() == baseline.lower()), None)
        if not base:
            continue
        ref = sum(base) / len(base)
        for method, vals in sorted(by_method.items()):
            if method.lower() == baseline.lower():
                continue
            mean = sum(vals) / len(vals)
            if ref - mean > gap + 1e-12:
                where = "/".join(p for p in (dataset, kind) if p)
                reasons.setdefault(method, []).append(
                    f"at 0% noise {100 * mean:.1f}% vs {baseline.upper()} {100 * ref:.1f}% "
                    f"({100 * (mean - ref):+.1f} points; {where})")
    flags = {m: "not converged: " + "; ".join(rs) for m, rs in reasons.items()}
    for m, why in engagement_flags(rows, baseline=baseline).items():
        flags[m] = f"{flags[m]}; {why}" if m in flags else why
    return flags


def engagement_flags(rows: Any, *, baseline: str = "ce") -> dict[str, str]:
    """``{method: reason}`` for every method whose mechanism never engaged at the noisy levels
    of some (dataset, noise kind): all its ok runs there report an :data:`ENGAGEMENT_CURVES`
    curve and every value of it, in every epoch, is 0, e.g. ``"mechanism never engaged:
    abstained on 0% of the training batches in every epoch of its 25 runs at noisy levels
    (digits/sym): it trained as CE"``. Runs without such a curve are never flagged."""
    import json

    seen: dict[tuple[str, str, str], list[float | None]] = {}
    for r in _records(rows):
        level = _finite(r.get("level"))
        if (str(r.get("status") or "ok").lower() != "ok" or level is None or level <= 0 or not r.get("method")
                or str(r["method"]).lower() == baseline.lower()):
            continue
        try:
            curves = json.loads(r.get("curves") or "{}")
        except (TypeError, ValueError):
            curves = {}
        key = (str(r.get("dataset") or ""), str(r.get("noise_kind") or ""), str(r["method"]))
        for name in ENGAGEMENT_CURVES:
            values = [v for v in (_finite(x) for x in curves.get(name) or []) if v is not None]
            seen.setdefault(key + (name,), []).append(max(values) if values else None)
    reasons: dict[str, list[str]] = {}
    for (dataset, kind, method, name), peaks in sorted(seen.items()):
        if peaks and all(p is not None and p == 0 for p in peaks):
            where = "/".join(p for p in (dataset, kind) if p)
            reasons.setdefault(method, []).append(
                f"{ENGAGEMENT_CURVES[name]} 0% of the training batches in every epoch of its {len(peaks)} runs at "
                f"noisy levels ({where})")
    return {m: "mechanism never engaged: " + "; ".join(rs) + f": it trained as {baseline.upper()}"
            for m, rs in reasons.items()}


def memorisation_note(rows: Any, dataset: str, kind: str, *, baseline: str = "ce") -> str:
    """Whether the budget is one where noise matters, per config of ``(dataset, kind)``: the
    ``baseline``'s (CE's) final train accuracy on the noisy-labelled subset against the label
    it was GIVEN (how much of the noise it memorised) and its best-vs-final test gap (mean over
    seeds, points), e.g. ``"CE at 60 epochs: sym-40 fits 31% of the wrong labels, best-vs-final
    gap +14.1 points; ..."``. "" when the baseline has no curves there."""
    import json

    per: dict[tuple[float, str], list[tuple[float, float]]] = {}
    epochs: set[int] = set()
    for r in _records(rows):
        if (str(r.get("status") or "ok").lower() != "ok" or str(r.get("method", "")).lower() != baseline.lower()
                or r.get("dataset") != dataset or r.get("noise_kind") != kind or not r.get("curves")):
            continue
        level = _finite(r.get("level"))
        best, final = _finite(r.get("test_acc_best_val")), _finite(r.get("test_acc_final"))
        if level is None or level <= 0 or best is None or final is None:
            continue
        try:
            fit = json.loads(r["curves"]).get("train_acc_noisy_given", [])
        except ValueError:
            continue
        fit = [f for f in fit if _finite(f) is not None]
        if not fit:
            continue
        per.setdefault((level, str(r.get("config"))), []).append((float(fit[-1]), best - final))
        if _finite(r.get("epochs")) is not None:
            epochs.add(int(r["epochs"]))
    if not per:
        return ""
    parts = []
    for (level, config), vals in sorted(per.items()):
        fit = sum(v[0] for v in vals) / len(vals)
        gap = sum(v[1] for v in vals) / len(vals)
        parts.append(f"{config} fits {100 * fit:.0f}% of the wrong labels, best-vs-final gap {100 * gap:+.1f}")
    budget = f" at {', '.join(map(str, sorted(epochs)))} epochs" if epochs else ""
    return (f"Memorisation ({baseline.upper()}{budget}; a budget where noise matters has CE fit the wrong labels "
            f"late in training, so its final accuracy falls below its best-validation one): " + "; ".join(parts) + ".")


def tuned_settings_note(rows: Any) -> str:
    """The tuned settings the rows ran with (their ``tuning`` column, written by ``cnlbench
    eval --tuned``), per method and noise kind, e.g. ``"chosen settings: ce: sym lr x3.2, web lr
    x5.6; gce: sym lr x3 q=0.4"``; "" when no row was tuned."""
    import json

    chosen: dict[str, dict[str, str]] = {}
    for r in _records(rows):
        raw = r.get("tuning") or ""
        if not raw or str(r.get("status") or "ok").lower() != "ok":
            continue
        try:
            t = json.loads(raw)
        except ValueError:
            continue
        if "kind" not in t:
            continue
        ps = "".join(f" {k}={v}" for k, v in sorted((t.get("params") or {}).items()))
        chosen.setdefault(str(r["method"]), {})[str(t["kind"])] = f"lr x{float(t.get('lr_mult', 1.0)):g}{ps}"
    if not chosen:
        return ""
    body = "; ".join(f"{m}: " + ", ".join(f"{k} {v}" for k, v in sorted(ks.items())) for m, ks in sorted(chosen.items()))
    return f"chosen settings: {body}"
