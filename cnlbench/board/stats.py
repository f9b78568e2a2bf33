"""Statistics for the leaderboard: 95% intervals over seeds and levels, pure numpy/scipy.

Shapes follow rliable's conventions, adapted to unequal seed counts: a method's scores on one
noise kind are a *sequence of 1-D arrays*, one per level (stratum), ``scores[i]`` of shape
``(n_i,)`` float64 holding that level's per-seed scores. Levels with no runs are empty arrays
and are left out of every aggregate.

Every function that draws takes an explicit ``numpy.random.Generator``; nothing touches global
RNG state, so the same inputs and seed give identical outputs.

Intervals returned here (all 95% by default):

- :func:`t_interval`: mean over seeds +- ``t(0.975, n-1) s / sqrt(n)``; with ``n == 1`` the
  half-width is NaN ("n=1, no interval"), never 0.
- :func:`binomial_half_width`: test-set sampling, ``z sqrt(a (1 - a) / n_test)``; a separate
  source of uncertainty, reported separately.
- :func:`mean_over_levels`: the CNWL summary, mean of the per-level means with a t interval
  over levels; it mostly measures the spread *between* levels.
- :func:`stratified_bootstrap`: resample seeds with replacement within each level
  (independently per level), recompute an aggregate (:func:`aggregate_mean`,
  :func:`aggregate_iqm`); percentile interval.
- :func:`probability_of_improvement` and :func:`probability_of_improvement_interval`:
  Mann-Whitney ``U / (n_x n_y)`` per level (ties count 1/2), averaged over levels.
- :func:`paired_difference`: differences paired by (level, seed), t interval over the pairs.
- :func:`spearman_interval`: Spearman's rho between items' mean scores and a reference order
  (e.g. published numbers), bootstrap percentile interval over each item's seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Hashable, Mapping, Sequence

import numpy as np
from scipy import stats as _sps

from cnlbench.errors import CnlbenchError

__all__ = [
    "Interval",
    "t_interval",
    "binomial_half_width",
    "mean_over_levels",
    "aggregate_mean",
    "aggregate_iqm",
    "stratified_bootstrap",
    "probability_of_improvement",
    "probability_of_improvement_interval",
    "paired_difference",
    "spearman_rho",
    "spearman_interval",
    "DEFAULT_REPS",
]

DEFAULT_REPS = 2000

Scores = Sequence[np.ndarray]
"""One 1-D float array per level (stratum); ``scores[i].shape == (n_i,)``."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with a (possibly asymmetric) interval.

    ``low``/``high`` are NaN when no interval exists (e.g. one seed). ``n`` is the number of
    observations the interval rests on (seeds, levels, pairs or runs, see ``kind``).
    """

    estimate: float
    low: float
    high: float
    n: int
    kind: str
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        """Half the interval's width (NaN when there is no interval)."""
        return (self.high - self.low) / 2.0

    @property
    def has_interval(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high))

    def contains(self, value: float) -> bool:
        return self.has_interval and self.low <= value <= self.high

    def to_dict(self) -> dict:
        def f(v: float) -> float | None:
            return None if v is None or not math.isfinite(v) else float(v)

        return {
            "estimate": f(self.estimate),
            "low": f(self.low),
            "high": f(self.high),
            "half_width": f(self.half_width),
            "n": int(self.n),
            "kind": self.kind,
            "confidence": self.confidence,
        }


def _as_1d(x: Sequence[float] | np.ndarray, what: str = "scores") -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(a)):
        raise CnlbenchError(
            f"{what} contains non-finite values {a[~np.isfinite(a)][:5].tolist()}; "
            "drop failed runs (status == 'failed') before computing statistics"
        )
    return a


def _strata(scores: Scores) -> list[np.ndarray]:
    return [s for s in (_as_1d(x) for x in scores) if s.size > 0]


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise CnlbenchError(f"confidence={confidence!r} must be in (0, 1), e.g. 0.95")


def t_interval(x: Sequence[float] | np.ndarray, confidence: float = 0.95,
               kind: str = "t over seeds") -> Interval:
    """Mean of ``x`` (shape ``(n,)``) with the t interval ``t(1-(1-c)/2, n-1) * s / sqrt(n)``.

    ``s`` is the sample standard deviation (``ddof=1``). With ``n == 1`` the estimate is the
    single value and the interval is NaN (no seed interval exists; do not print +-0).
    With ``n == 0`` everything is NaN.
    """
    _check_confidence(confidence)
    a = _as_1d(x)
    n = a.size
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, kind, confidence)
    m = float(a.mean())
    if n == 1:
        return Interval(m, math.nan, math.nan, 1, kind, confidence)
    t = float(_sps.t.ppf(1.0 - (1.0 - confidence) / 2.0, n - 1))
    hw = t * float(a.std(ddof=1)) / math.sqrt(n)
    return Interval(m, m - hw, m + hw, n, kind, confidence)


def binomial_half_width(accuracy: float | np.ndarray, n_test: int, z: float = 1.96) -> float | np.ndarray:
    """Test-set sampling half-width ``z * sqrt(a (1 - a) / n_test)`` of an accuracy ``a`` in [0, 1].

    This is the uncertainty from the finite test set alone (normal approximation to the
    binomial); it is a different source from the seed interval and is reported separately.
    """
    if int(n_test) <= 0:
        raise CnlbenchError(f"n_test={n_test!r} must be a positive test-set size, e.g. 10000")
    a = np.asarray(accuracy, dtype=np.float64)
    if np.any((a < 0) | (a > 1)):
        raise CnlbenchError(f"accuracy {a!r} must be a fraction in [0, 1], not a percentage")
    hw = z * np.sqrt(a * (1.0 - a) / int(n_test))
    return float(hw) if hw.ndim == 0 else hw


def mean_over_levels(scores: Scores, confidence: float = 0.95) -> Interval:
    """The CNWL summary: mean of the per-level means, t interval over the ``L`` levels.

    ``scores``: one ``(n_i,)`` array per level. The interval's ``n`` is the number of levels
    with at least one run; it reflects the spread BETWEEN levels, not seed uncertainty.
    """
    means = [float(s.mean()) for s in _strata(scores)]
    return t_interval(means, confidence, kind="t over levels (spread between levels)")


def aggregate_mean(strata: Sequence[np.ndarray]) -> np.ndarray:
    """Mean of per-level means. ``strata[i]``: ``(..., n_i)``; returns shape ``(...)``."""
    return np.mean(np.stack([s.mean(axis=-1) for s in strata], axis=-1), axis=-1)


def aggregate_iqm(strata: Sequence[np.ndarray]) -> np.ndarray:
    """Interquartile mean: 25% trimmed mean over all runs x levels pooled.

    ``strata[i]``: ``(..., n_i)``; the runs of all levels are concatenated on the last axis
    and ``scipy.stats.trim_mean(x, 0.25)`` is taken there; returns shape ``(...)``.
    """
    return np.asarray(_sps.trim_mean(np.concatenate(strata, axis=-1), 0.25, axis=-1))


def _percentile_interval(estimate: float, boot: np.ndarray, n: int, kind: str,
                         confidence: float) -> Interval:
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.percentile(boot, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return Interval(float(estimate), float(lo), float(hi), n, kind, confidence)


def _resample(stratum: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``(reps, n)`` resample of a ``(n,)`` stratum, with replacement."""
    idx = rng.integers(0, stratum.size, size=(reps, stratum.size))
    return stratum[idx]


def stratified_bootstrap(
    scores: Scores,
    aggregate: Callable[[Sequence[np.ndarray]], np.ndarray],
    rng: np.random.Generator,
    reps: int = DEFAULT_REPS,
    confidence: float = 0.95,
) -> Interval:
    """Stratified bootstrap percentile interval of ``aggregate(scores)``.

    Each replicate resamples the seeds of every level WITH replacement, independently per
    level (``n_i`` draws from level ``i``), then recomputes the aggregate. ``aggregate`` maps a
    list of ``(reps, n_i)`` arrays to ``(reps,)`` (see :func:`aggregate_mean`,
    :func:`aggregate_iqm`). When no level has two or more runs there is no seed variation to
    resample and the interval is NaN. ``n`` in the result is the total number of runs.
    """
    _check_confidence(confidence)
    if reps < 1:
        raise CnlbenchError(f"reps={reps!r} must be a positive number of resamples, e.g. 2000")
    strata = _strata(scores)
    kind = f"stratified bootstrap over seeds ({reps} resamples, percentile)"
    if not strata:
        return Interval(math.nan, math.nan, math.nan, 0, kind, confidence)
    n = sum(s.size for s in strata)
    estimate = float(aggregate([s[None, :] for s in strata])[0])
    if max(s.size for s in strata) < 2:
        return Interval(estimate, math.nan, math.nan, n, kind, confidence)
    boot = np.asarray(aggregate([_resample(s, reps, rng) for s in strata]), dtype=np.float64)
    return _percentile_interval(estimate, boot, n, kind, confidence)


def _poi_pairs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``P(X > Y) + P(X = Y)/2`` for ``x`` ``(..., n_x)`` and ``y`` ``(..., n_y)``; shape ``(...)``."""
    xe, ye = x[..., :, None], y[..., None, :]
    return ((xe > ye).astype(np.float64) + 0.5 * (xe == ye)).mean(axis=(-2, -1))


def _paired_strata(x: Scores, y: Scores) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(x) != len(y):
        raise CnlbenchError(
            f"x has {len(x)} levels and y has {len(y)}; pass one array per level for both, "
            "in the same level order (use an empty array for a missing level)"
        )
    pairs = [(_as_1d(a, "x"), _as_1d(b, "y")) for a, b in zip(x, y)]
    return [(a, b) for a, b in pairs if a.size and b.size]


def probability_of_improvement(x: Scores, y: Scores) -> float:
    """P(X > Y): per level ``U / (n_x n_y)`` (Mann-Whitney U of ``x``; ties count 1/2), averaged.

    ``x[i]``, ``y[i]``: the per-seed scores of the two methods at level ``i``. Levels where
    either method has no run are skipped; NaN when no level is shared.
    """
    pairs = _paired_strata(x, y)
    if not pairs:
        return math.nan
    per_level = [
        float(_sps.mannwhitneyu(a, b, alternative="two-sided").statistic) / (a.size * b.size)
        for a, b in pairs
    ]
    return float(np.mean(per_level))


def probability_of_improvement_interval(
    x: Scores,
    y: Scores,
    rng: np.random.Generator,
    reps: int = DEFAULT_REPS,
    confidence: float = 0.95,
) -> Interval:
    """:func:`probability_of_improvement` with a stratified-bootstrap percentile interval.

    Each replicate resamples, within every shared level and independently, the seeds of ``x``
    and the seeds of ``y`` with replacement. NaN interval when every run count is 1.
    """
    _check_confidence(confidence)
    kind = f"stratified bootstrap over seeds ({reps} resamples, percentile)"
    pairs = _paired_strata(x, y)
    if not pairs:
        return Interval(math.nan, math.nan, math.nan, 0, kind, confidence)
    estimate = probability_of_improvement([a for a, _ in pairs], [b for _, b in pairs])
    n = len(pairs)
    if all(a.size < 2 and b.size < 2 for a, b in pairs):
        return Interval(estimate, math.nan, math.nan, n, kind, confidence)
    boot = np.mean(
        np.stack([_poi_pairs(_resample(a, reps, rng), _resample(b, reps, rng)) for a, b in pairs], axis=-1),
        axis=-1,
    )
    return _percentile_interval(estimate, boot, n, kind, confidence)


def paired_difference(
    x: Mapping[Hashable, float],
    y: Mapping[Hashable, float],
    confidence: float = 0.95,
) -> Interval:
    """Mean of ``x[k] - y[k]`` over the keys both share (typically ``(level, seed)``).

    Runs on the same (level, seed) share the noisy split and the seed, so the difference
    cancels the split-to-split variation two separate intervals carry. t interval over the
    pairs (NaN with fewer than two pairs).
    """
    keys = sorted(set(x) & set(y), key=repr)
    diffs = [float(x[k]) - float(y[k]) for k in keys]
    return t_interval(diffs, confidence, kind="paired t over (level, seed)")


def spearman_rho(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation between ``x`` ``(..., M)`` and ``y`` ``(M,)`` or ``(..., M)``.

    Ranks are average ranks (ties share the mean of their positions), rho is Pearson's
    correlation of the ranks along the last axis; shape ``(...)``. NaN where either side has
    no spread (all tied) or ``M < 2``.
    """
    rx = _sps.rankdata(np.asarray(x, dtype=np.float64), axis=-1)
    ry = _sps.rankdata(np.asarray(y, dtype=np.float64), axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    num = (rx * ry).sum(axis=-1)
    den = np.sqrt((rx * rx).sum(axis=-1) * (ry * ry).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def spearman_interval(
    scores: Scores,
    reference: Sequence[float] | np.ndarray,
    rng: np.random.Generator,
    reps: int = DEFAULT_REPS,
    confidence: float = 0.95,
) -> Interval:
    """Spearman's rho between items' mean scores and a reference order, with a bootstrap
    percentile interval over seeds.

    ``scores[i]``: ``(n_i,)`` per-seed scores of item ``i`` (e.g. a method); ``reference``:
    ``(M,)`` one value per item (e.g. the published numbers), ``M == len(scores)``. The
    estimate is :func:`spearman_rho` of the per-item means against ``reference``. Each
    replicate resamples every item's seeds with replacement, independently per item, and
    recomputes rho; replicates whose means all tie (rho undefined) are dropped. ``n`` is the
    number of items. NaN interval when no item has two or more seeds; everything NaN with
    fewer than two items.
    """
    _check_confidence(confidence)
    if reps < 1:
        raise CnlbenchError(f"reps={reps!r} must be a positive number of resamples, e.g. 2000")
    items = [_as_1d(s) for s in scores]
    ref = _as_1d(reference, "reference")
    if ref.size != len(items):
        raise CnlbenchError(f"{len(items)} items of scores but {ref.size} reference values; pass one per item")
    kind = f"bootstrap over seeds ({reps} resamples, percentile)"
    if len(items) < 2 or any(s.size == 0 for s in items):
        return Interval(math.nan, math.nan, math.nan, len(items), kind, confidence)
    estimate = float(spearman_rho(np.array([s.mean() for s in items]), ref))
    if max(s.size for s in items) < 2:
        return Interval(estimate, math.nan, math.nan, len(items), kind, confidence)
    means = np.stack([_resample(s, reps, rng).mean(axis=1) for s in items], axis=-1)  # (reps, M)
    boot = spearman_rho(means, ref)
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return Interval(estimate, math.nan, math.nan, len(items), kind, confidence)
    return _percentile_interval(estimate, boot, len(items), kind, confidence)
