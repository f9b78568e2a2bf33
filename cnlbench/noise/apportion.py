"""Exact-count apportionment: turn fractional quotas into integer counts (pure numpy).

Two rules:

* :func:`largest_remainder` (Hamilton): every count is the floor or the ceiling of its quota and
  the counts sum to the requested total. Used for a single level.
* :func:`apportion_monotone`: a LADDER of totals (one per noise level, nondecreasing). Largest
  remainder applied level by level is not house-monotone (the Alabama paradox: a class can
  lose a unit when the total grows), which would break nested noise levels. Here every count
  stays within its quota (floor or ceiling) at every level AND never decreases as the level
  rises. At each level, counts start from ``max(floor(quota), previous count)``; the remaining
  units go, one per class, to the classes still below the ceiling of their quota whose quota
  will reach the next integer soonest as the total grows (the Balinski-Young quota method's
  priority, ``(floor(quota) + 1) / weight``), ties broken by a fixed (optionally random)
  priority. This keeps every class whose unit was carried over from the previous level ahead of
  its quota, so no repair step is ever needed (property-tested with hypothesis).

Everything is vectorised over rows: ``weights`` (R, K) apportions R independent problems at
once (e.g. one per clean class for the destination cells of a transition matrix).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from cnlbench.errors import NoiseSpecError

_SNAP = 1e-9


def round_half_up(x: float | np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves up, after snapping float noise (int64)."""
    arr = np.asarray(x, dtype=np.float64)
    return np.floor(snap(arr) + 0.5).astype(np.int64)


def snap(q: np.ndarray) -> np.ndarray:
    """Snap values within 1e-9 (relative) of an integer onto it, so 1499.9999999998 floors to 1500."""
    r = np.rint(q)
    return np.where(np.abs(q - r) <= _SNAP * np.maximum(1.0, np.abs(q)), r, q)


def priority_order(shape: tuple[int, int], rng: np.random.Generator | None) -> np.ndarray:
    """(R, K) int64: per row, the column indices in tie-break order (random if rng is given)."""
    rows, k = shape
    if rng is None:
        return np.broadcast_to(np.arange(k, dtype=np.int64), (rows, k)).copy()
    # one permutation per row (a cheap loop over rows; Generator.permutation has a stable stream)
    return np.stack([rng.permutation(k) for _ in range(rows)]).astype(np.int64, copy=False)


def _pick(key: np.ndarray, eligible: np.ndarray, extras: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Per row, choose ``extras[r]`` eligible columns with the smallest key; ties by ``order``.

    key, eligible, order: (R, K); extras: (R,) int. Returns an (R, K) bool mask.
    """
    rows, k = key.shape
    chosen = np.zeros((rows, k), dtype=bool)
    active = np.flatnonzero(extras > 0)
    if active.size == 0:
        return chosen
    key, eligible, order, extras = key[active], eligible[active], order[active], extras[active]
    n_elig = eligible.sum(axis=1)
    if np.any(n_elig < extras):  # cannot happen for feasible input; guard against silent errors
        r = int(np.flatnonzero(n_elig < extras)[0])
        raise NoiseSpecError(
            f"apportionment is infeasible in row {int(active[r])}: {int(extras[r])} units for "
            f"{int(n_elig[r])} eligible classes; check that totals and weights are consistent"
        )
    elig_p = np.take_along_axis(eligible, order, axis=1)
    kmin = np.where(eligible, key, np.inf).min(axis=1)
    kmax = np.where(eligible, key, -np.inf).max(axis=1)
    flat = kmin == kmax  # every eligible column ties: take them in priority order
    chosen_p = np.zeros_like(elig_p)
    if flat.any():
        ep = elig_p[flat]
        chosen_p[flat] = ep & (np.cumsum(ep, axis=1) <= extras[flat, None])
    general = ~flat
    if general.any():
        kp = np.take_along_axis(np.where(eligible[general], key[general], np.inf), order[general], axis=1)
        idx = np.argsort(kp, axis=1, kind="stable")
        sel = np.arange(k)[None, :] < extras[general, None]
        cp = np.zeros(kp.shape, dtype=bool)
        np.put_along_axis(cp, idx, sel, axis=1)
        chosen_p[general] = cp
    out = np.zeros_like(chosen_p)
    np.put_along_axis(out, order, chosen_p, axis=1)
    chosen[active] = out
    return chosen


def _as_2d_weights(weights: object) -> tuple[np.ndarray, bool]:
    w = np.array(weights, dtype=np.float64)
    one = w.ndim == 1
    if one:
        w = w[None, :]
    if w.ndim != 2 or w.shape[1] == 0:
        raise NoiseSpecError(f"weights have shape {np.shape(weights)}; pass (K,) or (R, K) nonnegative numbers")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        bad = w[~(np.isfinite(w) & (w >= 0))][0]
        raise NoiseSpecError(f"weights contain {bad!r}; weights must be finite and >= 0")
    return w, one


def largest_remainder(
    quotas: object, total: int | np.ndarray, *, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Largest-remainder (Hamilton) rounding of ``quotas`` to integers summing to ``total``.

    Args:
        quotas: (K,) or (R, K) nonnegative floats.
        total: int (or (R,) ints) with ``sum(floor(q)) <= total <= sum(ceil(q))``.
        rng: optional generator for a random tie-break between equal remainders (default: index).
    Returns:
        int64 counts of the same shape; each is ``floor(q)`` or ``ceil(q)`` and they sum to ``total``.
    """
    q, one = _as_2d_weights(quotas)
    q = snap(q)
    tot = np.broadcast_to(np.asarray(total), (q.shape[0],))
    if not np.all(np.equal(np.mod(tot, 1), 0)):
        raise NoiseSpecError(f"total={total!r} is not an integer; pass an integer number of units")
    tot = tot.astype(np.int64)
    f = np.floor(q)
    fl, ce = f.sum(axis=1), np.ceil(q).sum(axis=1)
    bad = np.flatnonzero((tot < fl) | (tot > ce))
    if bad.size:
        r = int(bad[0])
        raise NoiseSpecError(
            f"total={int(tot[r])} cannot be reached by rounding quotas that sum to {q[r].sum()!r} "
            f"(floors sum to {int(fl[r])}, ceilings to {int(ce[r])}); pass a total in that range"
        )
    order = priority_order(q.shape, rng)
    extras = tot - fl.astype(np.int64)
    chosen = _pick(-(q - f), q > f, extras, order)
    out = f.astype(np.int64) + chosen
    return out[0] if one else out


def iter_monotone(
    totals: np.ndarray, weights: np.ndarray, order: np.ndarray
) -> Iterator[np.ndarray]:
    """Yield (R, K) int64 counts level by level (see :func:`apportion_monotone`); inputs validated.

    totals: (L, R) int64 nondecreasing along L; weights: (R, K) float64; order: (R, K) tie-break.
    """
    wsum = weights.sum(axis=1)
    share = np.divide(weights, wsum[:, None], out=np.zeros_like(weights), where=wsum[:, None] > 0)
    with np.errstate(divide="ignore", over="ignore"):
        inv_w = np.where(weights > 0, 1.0 / np.where(weights > 0, weights, 1.0), np.inf)
    prev = np.zeros(weights.shape, dtype=np.int64)
    for t in totals:
        q = snap(t[:, None] * share)
        f = np.floor(q)
        fi = f.astype(np.int64)
        hi = np.ceil(q).astype(np.int64)
        lo = np.maximum(fi, prev)
        extras = t - lo.sum(axis=1)
        if np.any(extras < 0):  # never observed; the quota-method priority prevents it
            r = int(np.flatnonzero(extras < 0)[0])
            raise RuntimeError(
                f"monotone apportionment failed in row {r} at total {int(t[r])}; please report this "
                "input (weights, totals) as a cnlbench bug"
            )
        key = (f + 1.0) * inv_w  # when the quota reaches the next integer, in units of the total
        prev = lo + _pick(key, lo < hi, extras, order)
        yield prev


def apportion_monotone(
    totals: object, weights: object, *, rng: np.random.Generator | None = None
) -> np.ndarray:
    """House-monotone apportionment of a ladder of totals, within quota at every level.

    Args:
        totals: (L,) nondecreasing nonnegative ints (one per level), or (L, R) for R rows.
        weights: (K,) nonnegative weights, or (R, K) one row of weights per problem. The quota of
            column k at level l is ``totals[l] * weights[k] / sum(weights)``.
        rng: optional generator for the tie-break priority (fixed across levels); default: index.
    Returns:
        (L, K) (or (L, R, K)) int64 counts with, for every level and row: counts sum to the
        total; each count is the floor or the ceiling of its quota; and counts never decrease
        from one level to the next.
    """
    w, one = _as_2d_weights(weights)
    t = np.array(totals)
    if t.ndim == 1 and one:
        t = t[:, None]
    if t.ndim != 2 or t.shape[1] != w.shape[0] or t.shape[0] == 0:
        raise NoiseSpecError(
            f"totals have shape {np.shape(totals)} for weights of shape {np.shape(weights)}; "
            "pass totals (L,) with weights (K,), or (L, R) with weights (R, K)"
        )
    if t.dtype.kind == "f":
        if not np.all(np.isfinite(t)) or not np.all(t == np.floor(t)):
            raise NoiseSpecError(f"totals {t.tolist()} are not all integers; pass integer totals")
    elif t.dtype.kind not in "iu":
        raise NoiseSpecError(f"totals have dtype {t.dtype}; pass integer totals")
    t = t.astype(np.int64)
    if np.any(t < 0):
        raise NoiseSpecError(f"totals contain {int(t.min())}; totals must be >= 0")
    if np.any(np.diff(t, axis=0) < 0):
        raise NoiseSpecError(f"totals {t[:, 0].tolist() if one else t.tolist()} decrease; pass a nondecreasing ladder")
    dead = (w.sum(axis=1) == 0) & (t[-1] > 0)
    if dead.any():
        r = int(np.flatnonzero(dead)[0])
        raise NoiseSpecError(f"row {r} has all-zero weights but a total of {int(t[-1, r])}; give it positive weights or total 0")
    order = priority_order(w.shape, rng)
    out = np.stack(list(iter_monotone(t, w, order)))
    return out[:, 0, :] if one else out


def total_for(quota_sum: float) -> int:
    """The exact number of units for a quota sum: round half up (snapped)."""
    if not math.isfinite(quota_sum):
        raise NoiseSpecError(f"quota sum {quota_sum!r} is not finite")
    return int(round_half_up(quota_sum))
