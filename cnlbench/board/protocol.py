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
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

__all__ = ["CONVERGENCE_GAP", "protocol_flags"]

#: A method more than this far (fraction: 2 points) below CE at 0% noise is flagged.
CONVERGENCE_GAP = 0.02


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
    return {m: "not converged: " + "; ".join(rs) for m, rs in reasons.items()}
