"""Class-conditional noise samplers: one level (:func:`apply_transition`) and a ladder of levels
(:func:`noise_levels`, nested by default). Pure numpy, vectorised over examples.

Orientation: ``T[i, j] = P(noisy = j | clean = i)``, rows sum to 1.

Exact mode (default). For clean class i with ``n_i`` examples, write ``r_i = 1 - T[i, i]`` (its
flip rate) and ``R[i, :]`` for row i of T without the diagonal, normalised (where a flipped
example goes). The number of flipped examples per class is the largest-remainder rounding of
``n_i r_i`` with total ``round(sum_i n_i r_i)`` (halves up); the number per (i, j) cell is the
largest-remainder rounding of ``m_i R[i, j]``. Which examples flip, and which of them goes where,
is uniformly random (from the generator). Per-sample mode (``mode="per-sample"``) draws each
example independently from its row of T; the realised rate wanders around the target.

Nested ladders: each class has one random corruption ORDER of its examples, fixed across
levels; at level l the first ``m_i(l)`` examples in that order are noisy, so the noisy set grows
with the level and a flipped example keeps its noisy label. Counts across levels come from
:func:`~cnlbench.noise.apportion.apportion_monotone` (within quota at every level and never
decreasing). This needs ``T(p) = (1 - p) I + p R``-shaped families: the destination distribution
R must not change with the level, and the per-class flip rates must scale together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from cnlbench.errors import NoiseSpecError
from cnlbench.noise.apportion import (
    iter_monotone,
    largest_remainder,
    priority_order,
    round_half_up,
)
from cnlbench.noise.matrices import (
    validate_labels,
    validate_level,
    validate_levels,
    validate_transition_matrix,
)
from cnlbench.noise.presets import NoiseFamily
from cnlbench.noise.result import NoiseResult, make_result, realised_counts

MODES = ("exact", "per-sample")
_R_TOL = 1e-9


def check_rng(rng: object) -> np.random.Generator:
    """The generator to draw from: ``rng`` itself, or ``np.random.default_rng(rng)`` for a
    non-negative int seed (the same seed gives the same draws). Anything else (None, a float,
    a bool, the legacy ``RandomState``) is refused: cnlbench never uses the global numpy RNG."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise NoiseSpecError(
        f"rng={rng!r} is neither a numpy.random.Generator nor a non-negative int seed; pass "
        "np.random.default_rng(seed) or the seed itself (cnlbench never uses the global numpy RNG)"
    )


def _check_mode(mode: object) -> str:
    if mode not in MODES:
        raise NoiseSpecError(f"mode={mode!r} is unknown; use 'exact' (exact counts) or 'per-sample'")
    return str(mode)


def decompose(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split T (K, K) into flip rates ``r`` (K,) = off-diagonal row mass and the destination
    distribution ``R`` (K, K): off-diagonal part of each row normalised (zero rows where r = 0)."""
    off = T.copy()
    np.fill_diagonal(off, 0.0)
    r = off.sum(axis=1)
    R = np.divide(off, r[:, None], out=np.zeros_like(off), where=r[:, None] > 0)
    return r, R


def _corruption_order(y: np.ndarray, n: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N,) int64 example indices, class-major (class 0 first), each class in uniformly random order.

    One ``rng.permutation`` per class: cache-friendly and several times faster than permuting all
    N at once (a cheap loop over classes).
    """
    if y.shape[0] < 2 or bool(np.all(y[:-1] <= y[1:])):
        grouped = np.arange(y.shape[0], dtype=np.int64)
    else:
        small = np.int16 if n.shape[0] <= np.iinfo(np.int16).max else np.int32  # int16 sorts by radix
        grouped = np.argsort(y.astype(small), kind="stable")
    starts = np.cumsum(n) - n
    blocks = [grouped[s : s + c][rng.permutation(int(c))] for s, c in zip(starts.tolist(), n.tolist()) if c]
    return np.concatenate(blocks) if blocks else grouped


def fill_from_cells(
    sequence: np.ndarray, offsets: np.ndarray, flips: np.ndarray, cells: Sequence[np.ndarray]
) -> None:
    """Write destinations into ``sequence`` for R rows from cumulative cell counts per level.

    flips: (L, R) flipped examples per row and level (nondecreasing); cells[l]: (R, K) cumulative
    destination counts (row r sums to flips[l, r]); offsets: (R,) where row r's block starts.
    The examples newly flipped at level l (block positions flips[l-1, r] .. flips[l, r]) take the
    destinations of ``cells[l] - cells[l-1]``.
    """
    k = cells[0].shape[1] if len(cells) else 0
    prev_m = np.zeros(flips.shape[1], dtype=np.int64)
    prev_c = np.zeros((flips.shape[1], k), dtype=np.int64)
    for m, c in zip(flips, cells):
        delta = (c - prev_c).ravel()
        idx = np.flatnonzero(delta)
        reps = delta[idx]
        local = np.repeat(idx // k, reps)
        new = m - prev_m
        within = np.arange(local.shape[0], dtype=np.int64) - np.repeat(np.cumsum(new) - new, new)
        sequence[offsets[local] + prev_m[local] + within] = np.repeat(idx % k, reps)
        prev_m, prev_c = m, c


def _place(
    y: np.ndarray, n: np.ndarray, flips: np.ndarray, sequence: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Put exact counts on examples.

    flips: (L, K) flipped examples per class and level (nondecreasing along L); sequence: (M,)
    class-major destinations, ``M = flips[-1].sum()``: entry ``offsets[i] + h`` is where the h-th
    flipped example of class i goes. Returns ``first_level`` (N,) (the first level index at which
    the example is noisy; L if never) and ``dest`` (N,) int64 (its noisy label; the clean label
    for examples never flipped).

    Each class has one uniformly random corruption order, so handing the block of newly flipped
    positions their destinations in column order is a uniformly random assignment of that
    multiset of destinations to those examples (no separate shuffle is needed).
    """
    L = flips.shape[0]
    top = flips[-1]
    order = _corruption_order(y, n, rng)
    starts = np.cumsum(n) - n
    within = np.arange(sequence.shape[0], dtype=np.int64) - np.repeat(np.cumsum(top) - top, top)
    flipped = order[np.repeat(starts, top) + within]
    per_level = np.diff(flips, axis=0, prepend=0).T  # (K, L): newly flipped per class and level
    small = np.int8 if L < 127 else np.int32
    first_level = np.full(y.shape[0], L, dtype=small)
    first_level[flipped] = np.repeat(np.tile(np.arange(L, dtype=small), n.shape[0]), per_level.ravel())
    dest = y.copy()
    dest[flipped] = sequence
    return first_level, dest


def _exact_counts(cells: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(K, K) realised counts from fresh cumulative cell counts (modified in place)."""
    cells[np.diag_indices_from(cells)] = n - m
    return cells


def _sample_rows(P: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw: for each (row index, uniform) pair, a column of P[row] (zero-probability
    columns are never drawn). P: (K, K) nonnegative rows summing to ~1; rows, u: (M,)."""
    k = P.shape[1]
    cum = np.cumsum(P, axis=1)
    cum /= np.where(cum[:, -1:] > 0, cum[:, -1:], 1.0)
    last = k - 1 - np.argmax(P[:, ::-1] > 0, axis=1)
    cum[np.arange(k)[None, :] >= last[:, None]] = 1.0
    flat = (cum + np.arange(P.shape[0])[:, None]).ravel()
    idx = np.searchsorted(flat, rows + u, side="right")
    return idx - rows * k


def _prepare(clean_labels: object, k: int) -> tuple[np.ndarray, np.ndarray]:
    y = validate_labels(clean_labels, k, require_all_classes=True)
    return y, np.bincount(y, minlength=k)


def apply_transition(
    clean_labels: object,
    T: object,
    rng: np.random.Generator | int,
    *,
    mode: str = "exact",
    level: float | None = None,
    spec: dict[str, Any] | None = None,
) -> NoiseResult:
    """Apply one transition matrix to clean labels.

    Args:
        clean_labels: (N,) integer class ids in 0..K-1; every class must occur.
        T: (K, K) row-stochastic, ``T[i, j] = P(noisy=j | clean=i)``.
        rng: the generator all draws come from.
        mode: ``"exact"`` (largest-remainder counts per class and per cell) or ``"per-sample"``.
        level: the nominal level to record (default: the realised expected flip rate of T).
        spec: JSON-able description to record (default ``{"kind": "matrix"}``).
    Returns:
        NoiseResult with ``nested=False``.
    """
    rng = check_rng(rng)
    mode = _check_mode(mode)
    Tm = validate_transition_matrix(T)
    k = Tm.shape[0]
    y, n = _prepare(clean_labels, k)
    r, R = decompose(Tm)
    nominal = float((n * r).sum() / n.sum()) if level is None else validate_level(level)
    spec = {"kind": "matrix"} if spec is None else dict(spec)
    spec.update(level=nominal, mode=mode, nested=False)
    if mode == "per-sample":
        noisy = _sample_rows(Tm, y, rng.random(y.shape[0]))
        return make_result(y, noisy, num_classes=k, level=nominal, requested_matrix=Tm, nested=False,
                           mode=mode, spec=spec)
    m = largest_remainder(n * r, int(round_half_up((n * r).sum())), rng=rng)
    cells = np.array(largest_remainder(m[:, None] * R, m, rng=rng))
    sequence = np.empty(int(m.sum()), dtype=np.int64)
    fill_from_cells(sequence, np.cumsum(m) - m, m[None, :], [cells])
    first, dest = _place(y, n, m[None, :], sequence, rng)
    is_noisy = first == 0
    return make_result(y, np.where(is_noisy, dest, y), num_classes=k, level=nominal, requested_matrix=Tm,
                       nested=False, mode=mode, spec=spec, is_noisy=is_noisy,
                       counts=_exact_counts(cells, n, m))


def _ladder_parameters(
    family: Callable[[float], np.ndarray], levels: Sequence[float], n: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """For nested ladders: (matrices, rates (L, K), R (K, K), totals (L,)), levels ascending.

    A :class:`~cnlbench.noise.presets.NoiseFamily` is affine in the level by construction; any
    other family is checked: R must not change with the level and the per-class flip rates must
    scale together (otherwise nested=False is needed).
    """
    if isinstance(family, NoiseFamily):
        matrices = [family(p) for p in levels]
        r_base, R = decompose(family.flip_matrix)
        rates = np.asarray(levels, dtype=np.float64)[:, None] * r_base[None, :]
    else:
        matrices = [validate_transition_matrix(family(p)) for p in levels]
        k = matrices[0].shape[0]
        if any(T.shape[0] != k for T in matrices):
            raise NoiseSpecError("the family returns matrices of different sizes across levels; return (K, K) at every level")
        decomp = [decompose(T) for T in matrices]
        rates = np.stack([d[0] for d in decomp])
        r_top, R = decomp[-1]
        for lvl, (r, Rl) in zip(levels, decomp):
            rows = r > 0
            if np.any(rows & (r_top == 0)) or not np.allclose(Rl[rows], R[rows], rtol=0, atol=_R_TOL):
                raise NoiseSpecError(
                    f"the family's off-diagonal (destination) distribution at level {lvl} differs from the one "
                    f"at level {levels[-1]}; nested levels need T(p) = (1-p) I + p R with a fixed R: use nested=False"
                )
            s = float((n * r).sum() / (n * r_top).sum()) if (n * r_top).sum() > 0 else 0.0
            if not np.allclose(r, s * r_top, rtol=1e-9, atol=1e-12):
                raise NoiseSpecError(
                    f"the family's per-class flip rates at level {lvl} are not proportional to those at level "
                    f"{levels[-1]}; nested levels need rates that scale together: use nested=False"
                )
    totals = round_half_up((n[None, :] * rates).sum(axis=1))
    bad = np.flatnonzero(np.diff(totals) < 0)
    if bad.size:
        i = int(bad[0])
        raise NoiseSpecError(
            f"the family flips fewer examples at level {levels[i + 1]} ({int(totals[i + 1])}) than at level "
            f"{levels[i]} ({int(totals[i])}); nested levels need a nondecreasing flip rate: use nested=False"
        )
    return matrices, rates, R, totals


def _uniform_rows(R: np.ndarray) -> np.ndarray:
    """(K,) bool: rows whose nonzero entries are all equal (every preset; all-zero rows count)."""
    rmax = R.max(axis=1)
    rmin = np.where(R > 0, R, np.inf).min(axis=1)
    return (rmax == 0) | (rmax - rmin <= 1e-12 * rmax)


class _DestinationLadder:
    """Per clean class, the destination of the h-th flipped example in its corruption order, and
    the exact (K, K) cell counts at each level, for nested ladders.

    Rows of R with equal nonzero entries (all presets) use a closed form: a random cyclic order
    of the row's destinations, so the first m flipped examples go to ``cyc[h mod nnz]``; every
    cell count is then ``floor(m/nnz)`` or one more, and never decreases as m grows (the quota
    method with equal weights). Other rows use :func:`iter_monotone` on the cell quotas.
    """

    def __init__(self, R: np.ndarray, flips: np.ndarray, rng: np.random.Generator):
        k = R.shape[0]
        m_top = flips[-1]
        self.offsets = np.cumsum(m_top) - m_top
        self.sequence = np.empty(int(m_top.sum()), dtype=np.int64)
        uniform = _uniform_rows(R)
        # closed form for uniform rows
        nz = R > 0
        self.nnz = nz.sum(axis=1)
        self.position = np.full((k, k), k + 1, dtype=np.int64)  # position in the row's cyclic order
        cyc_rows, cyc = [], []
        for i in np.flatnonzero(uniform & (m_top > 0)):
            cols = np.flatnonzero(nz[i])[rng.permutation(int(self.nnz[i]))]
            self.position[i, cols] = np.arange(cols.shape[0])
            cyc.append(cols)
            cyc_rows.append(i)
        if cyc:
            rows = np.asarray(cyc_rows)
            lengths = self.nnz[rows]
            flat = np.concatenate(cyc)
            start = np.cumsum(lengths) - lengths
            rep = np.repeat(rows, m_top[rows])
            h = np.arange(rep.shape[0], dtype=np.int64) - np.repeat(np.cumsum(m_top[rows]) - m_top[rows], m_top[rows])
            where = np.repeat(start, m_top[rows]) + h % np.repeat(lengths, m_top[rows])
            self.sequence[self.offsets[rep] + h] = flat[where]
        # general rows: monotone apportionment of the cells, then the level-by-level blocks
        self.general = np.flatnonzero(~uniform)
        self.general_cells: list[np.ndarray] = []
        if self.general.size:
            g = self.general
            cells = list(iter_monotone(flips[:, g], R[g], priority_order((g.shape[0], k), rng)))
            fill_from_cells(self.sequence, self.offsets[g], flips[:, g], cells)
            self.general_cells = cells

    def cells(self, level_index: int, m: np.ndarray) -> np.ndarray:
        """(K, K) int64 cumulative destination counts at a level (m: (K,) flips per class)."""
        nnz = np.maximum(self.nnz, 1)
        counts = np.where(self.position < self.nnz[:, None], (m // nnz)[:, None], 0)
        counts += self.position < (m % nnz)[:, None]
        if self.general.size:
            counts[self.general] = self.general_cells[level_index]
        return counts


def noise_levels(
    clean_labels: object,
    family: Callable[[float], np.ndarray],
    levels: Iterable[float],
    rng: np.random.Generator | int,
    *,
    nested: bool = True,
    mode: str = "exact",
) -> dict[float, NoiseResult]:
    """Noisy labels at several levels of one family.

    Args:
        clean_labels: (N,) integer class ids in 0..K-1; every class must occur.
        family: ``level -> T(level)`` (K, K) row-stochastic, e.g. ``make_family("symmetric", K)``.
        levels: distinct fractions in [0, 1) (any order; e.g. ``DEFAULT_LEVELS``).
        rng: the generator all draws come from.
        nested: the noisy set at each level is a subset of the noisy set at every higher level, and
            a flipped example keeps its noisy label (default). ``False`` draws each level afresh.
        mode: ``"exact"`` or ``"per-sample"``.
    Returns:
        ``{level: NoiseResult}`` keyed by the given level values, in the given order.
    """
    rng = check_rng(rng)
    mode = _check_mode(mode)
    given = validate_levels(levels)
    if not callable(family):
        raise NoiseSpecError(f"family={family!r} is not callable; pass e.g. make_family('symmetric', K)")
    base_spec = dict(getattr(family, "spec", {"family": "custom"}))
    order = sorted(given)
    if not nested:
        out = {}
        for p in order:
            T = validate_transition_matrix(family(p))
            out[p] = apply_transition(clean_labels, T, rng, mode=mode, level=p, spec=base_spec)
        return {p: out[p] for p in given}
    first_T = validate_transition_matrix(family(order[0]))
    k = first_T.shape[0]
    y, n = _prepare(clean_labels, k)
    matrices, rates, R, totals = _ladder_parameters(family, order, n)

    def result(p: float, T: np.ndarray, is_noisy: np.ndarray, dest: np.ndarray, counts: np.ndarray | None) -> NoiseResult:
        return make_result(y, np.where(is_noisy, dest, y), num_classes=k, level=p, requested_matrix=T, nested=True,
                           mode=mode, spec={**base_spec, "level": p, "mode": mode, "nested": True},
                           is_noisy=is_noisy, counts=counts)

    out = {}
    if mode == "per-sample":
        u = rng.random(y.shape[0])
        movers = np.flatnonzero(rates[-1][y] > 0)
        dest = y.copy()
        dest[movers] = _sample_rows(R, y[movers], rng.random(movers.shape[0]))
        for p, r, T in zip(order, rates, matrices):
            out[p] = result(p, T, u < r[y], dest, None)
        return {p: out[p] for p in given}
    weights = n * rates[-1]
    flips = np.stack([m[0] for m in iter_monotone(totals[:, None], weights[None, :], priority_order((1, k), rng))])
    ladder = _DestinationLadder(R, flips, rng)
    first, dest = _place(y, n, flips, ladder.sequence, rng)
    for li, (p, T) in enumerate(zip(order, matrices)):
        m = flips[li]
        out[p] = result(p, T, first <= li, dest, _exact_counts(ladder.cells(li, m), n, m))
    return {p: out[p] for p in given}


__all__ = ["MODES", "apply_transition", "noise_levels", "decompose", "check_rng", "realised_counts"]
