"""Controlled web ("red") noise: replace clean images by web images raters judged wrong.

The construction of Jiang et al. (ICML 2020, "Controlled Noisy Web Labels"): at noise level
``p``, in every class replace exactly the largest-remainder-rounded ``p`` share of the clean
training examples by DISTINCT web images that were retrieved for that class and that the raters
judged *incorrect* for it. The label is kept (the class the image was retrieved for); the image
is wrong. Every web image that enters a split counts as noisy.

Pure numpy, no I/O. The pool arrives as arrays (:class:`WebPool`); readers of the CNWL release
and of generic pools live in :mod:`cnlbench.sources.cnwl`.

Shapes and dtypes
-----------------
* ``clean_labels``: (N,) int, each in ``0 .. K-1``.
* pool arrays: (M,) each; ``retrieved_class`` int64 in ``0 .. K-1``, ``is_clean`` bool (the
  raters' majority verdict), ``true_class`` int64 (``-1`` unknown or outside the label set),
  ``retrieval`` str (``"text"``, ``"image"`` or ``""`` unknown), ``ids`` str, unique.

Counts per class come from the noise layer's apportionment (the same rounding rule as the
synthetic noise), so ``web-40`` replaces the same number of examples per class as ``sym-40``
flips. With ``nested=True`` (default) the replaced set at level ``p`` is a subset of the replaced
set at every higher level, and a replaced example keeps the SAME web image at every level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np

from cnlbench.errors import NoiseSpecError
from cnlbench.noise.sampling import check_rng

__all__ = [
    "RETRIEVAL_KINDS",
    "WebPool",
    "WebNoiseResult",
    "web_class_counts",
    "web_noise",
    "web_noise_levels",
    "pool_from_mapping",
]

#: Known retrieval methods; ``""`` means unknown (the public CNWL release does not say).
RETRIEVAL_KINDS = ("text", "image", "")

OnShortage = Literal["error", "cap"]


@dataclass(frozen=True)
class WebPool:
    """An annotated pool of retrieved web images (arrays of equal length M).

    ``ids`` (M,) str, unique; ``retrieved_class`` (M,) int64, the class the image was retrieved
    for; ``is_clean`` (M,) bool, the raters' majority verdict that the image shows that class;
    ``true_class`` (M,) int64, the class the image really shows where known, else -1;
    ``retrieval`` (M,) str, ``"text"`` (text-to-image search), ``"image"`` (image-to-image) or
    ``""`` (unknown).
    """

    ids: np.ndarray
    retrieved_class: np.ndarray
    is_clean: np.ndarray
    true_class: np.ndarray | None = None
    retrieval: np.ndarray | None = None

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids).astype(str)
        m = ids.shape[0] if ids.ndim == 1 else -1
        if m < 0:
            raise NoiseSpecError(f"pool ids must be 1-D, got shape {ids.shape}; pass one id per image")
        rc = _int_array(self.retrieved_class, "retrieved_class", m)
        clean = np.asarray(self.is_clean)
        if clean.shape != (m,) or clean.dtype.kind not in "biu":
            raise NoiseSpecError(
                f"pool is_clean must be (M,)=({m},) booleans, got shape {clean.shape} dtype "
                f"{clean.dtype}; pass the raters' majority verdict per image"
            )
        if clean.dtype.kind in "iu" and not np.isin(clean, (0, 1)).all():
            raise NoiseSpecError("pool is_clean holds values other than 0/1; pass booleans")
        true = (
            np.full(m, -1, dtype=np.int64)
            if self.true_class is None
            else _int_array(self.true_class, "true_class", m)
        )
        if (true < -1).any():
            raise NoiseSpecError(
                f"pool true_class has value {int(true.min())} < -1; use -1 for unknown classes"
            )
        ret = np.full(m, "", dtype="<U5") if self.retrieval is None else np.asarray(self.retrieval).astype(str)
        if ret.shape != (m,):
            raise NoiseSpecError(f"pool retrieval must have shape ({m},), got {ret.shape}")
        bad = sorted(set(np.unique(ret).tolist()) - set(RETRIEVAL_KINDS))
        if bad:
            raise NoiseSpecError(
                f"pool retrieval values {bad[:5]} are not known; use 'text', 'image' or '' (unknown)"
            )
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            dup = uniq[counts > 1][:5].tolist()
            raise NoiseSpecError(
                f"pool ids are not unique (e.g. {dup}); every web image needs its own id, drop the "
                f"duplicates before building"
            )
        if (rc < 0).any():
            raise NoiseSpecError(
                f"pool retrieved_class has negative value {int(rc.min())}; classes are 0..K-1"
            )
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "retrieved_class", rc)
        object.__setattr__(self, "is_clean", clean.astype(bool))
        object.__setattr__(self, "true_class", true)
        object.__setattr__(self, "retrieval", ret)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def candidates(self, num_classes: int, *, text_only: bool = False) -> list[np.ndarray]:
        """Per class ``c``: sorted pool positions (int64) retrieved for ``c`` and judged incorrect.

        With ``text_only`` only text-to-image retrievals count; an unknown retrieval method is
        then an error (the pool cannot support the alternative construction).
        """
        if len(self) and int(self.retrieved_class.max()) >= num_classes:
            raise NoiseSpecError(
                f"pool retrieved_class has value {int(self.retrieved_class.max())} but the dataset "
                f"has {num_classes} classes; the pool belongs to another label set"
            )
        usable = ~self.is_clean
        if text_only:
            unknown = usable & (self.retrieval == "")
            if unknown.any():
                raise NoiseSpecError(
                    f"text_only needs each pool image's retrieval method, but {int(unknown.sum())} "
                    f"incorrect images have none (e.g. id {self.ids[unknown][0]!r}); use a pool with "
                    f"a 'retrieval' column or set text_only: false"
                )
            usable &= self.retrieval == "text"
        order = np.flatnonzero(usable)
        cls = self.retrieved_class[order]
        return [order[cls == c].astype(np.int64) for c in range(num_classes)]


@dataclass(frozen=True)
class WebNoiseResult:
    """Web noise at one level.

    ``replaced`` (N,) bool: clean example ``i`` is replaced by a web image.
    ``pool_index`` (N,) int64: the pool position of its web image, -1 where not replaced.
    ``labels`` (N,) int64: the label to train on (the clean label, always kept).
    ``row_clean_label`` (N,) int64: the true class of each resulting row: the clean label for
    kept examples, the pool's ``true_class`` (often -1) for web rows.
    ``requested_counts`` / ``realised_counts`` (K,) int64: replacements per class before and
    after capping; ``class_sizes`` (K,) int64 clean examples per class.
    ``supply`` (K,) int64: usable pool images per class.
    """

    level: float
    replaced: np.ndarray
    pool_index: np.ndarray
    labels: np.ndarray
    row_clean_label: np.ndarray
    requested_counts: np.ndarray
    realised_counts: np.ndarray
    class_sizes: np.ndarray
    supply: np.ndarray
    capped: bool
    nested: bool
    text_only: bool
    spec: dict = field(default_factory=dict)

    @property
    def is_noisy(self) -> np.ndarray:
        """(N,) bool: every web row is noisy (its image is wrong for its label)."""
        return self.replaced

    @property
    def realised_rate(self) -> float:
        n = self.replaced.shape[0]
        return float(self.replaced.sum() / n) if n else 0.0

    @property
    def per_class_rate(self) -> np.ndarray:
        """(K,) float64: realised replaced share per class (0 for empty classes)."""
        sizes = np.maximum(self.class_sizes, 1)
        return self.realised_counts / sizes

    def summary(self) -> dict:
        """JSON-able summary: requested level, realised rates, capping."""
        return {
            "kind": "web",
            "level": float(self.level),
            "realised_rate": self.realised_rate,
            "per_class_realised_rate": [float(x) for x in self.per_class_rate],
            "requested_counts": [int(x) for x in self.requested_counts],
            "realised_counts": [int(x) for x in self.realised_counts],
            "pool_supply": [int(x) for x in self.supply],
            "capped": bool(self.capped),
            "nested": bool(self.nested),
            "text_only": bool(self.text_only),
        }


def _int_array(x, name: str, m: int) -> np.ndarray:
    a = np.asarray(x)
    if a.shape != (m,) or (a.size and a.dtype.kind not in "iu"):
        raise NoiseSpecError(
            f"pool {name} must be (M,)=({m},) integers, got shape {a.shape} dtype {a.dtype}"
        )
    return a.astype(np.int64)


def _check_labels(clean_labels, num_classes: int | None) -> tuple[np.ndarray, int]:
    y = np.asarray(clean_labels)
    if y.ndim != 1 or (y.size and y.dtype.kind not in "iu"):
        raise NoiseSpecError(
            f"clean_labels must be a 1-D integer array, got shape {y.shape} dtype {y.dtype}"
        )
    y = y.astype(np.int64)
    k = int(num_classes) if num_classes is not None else (int(y.max()) + 1 if y.size else 0)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise NoiseSpecError(
            f"clean_labels hold {int(y.min())}..{int(y.max())} but num_classes is {k}; labels "
            f"must lie in 0..{k - 1}"
        )
    return y, k


def _check_levels(levels: Iterable[float]) -> list[float]:
    out = []
    for p in levels:
        p = float(p)
        if not (0.0 <= p < 1.0):
            raise NoiseSpecError(f"web noise level {p!r} is outside [0, 1); pass a fraction like 0.4")
        out.append(p)
    if len(set(out)) != len(out):
        raise NoiseSpecError(f"web noise levels {out} repeat a level; list each level once")
    return out


def web_class_counts(class_sizes: np.ndarray, levels: Sequence[float], *, nested: bool = True) -> np.ndarray:
    """Replacements per class and level, (L, K) int64, rows in the order of ``levels``.

    Row ``l`` apportions ``total_for(levels[l] * N)`` (round half up) over the classes in
    proportion to ``class_sizes`` (quota ``levels[l] * n_c``, each count its floor or ceiling):
    :func:`~cnlbench.noise.apportion.largest_remainder` per level, or with ``nested`` the
    house-monotone :func:`~cnlbench.noise.apportion.apportion_monotone`, so counts never shrink
    as the level rises (nesting needs that).
    """
    from cnlbench.noise.apportion import apportion_monotone, largest_remainder, total_for

    sizes = np.asarray(class_sizes, dtype=np.int64)
    lv = np.asarray(list(levels), dtype=np.float64)
    if lv.size == 0:
        return np.zeros((0, sizes.shape[0]), dtype=np.int64)
    n = int(sizes.sum())
    totals = np.array([total_for(p * n) for p in lv], dtype=np.int64)
    if n == 0:
        return np.zeros((lv.size, sizes.shape[0]), dtype=np.int64)
    if nested:
        order = np.argsort(lv, kind="stable")
        counts = np.asarray(apportion_monotone(totals[order], sizes), dtype=np.int64)
        out = np.empty_like(counts)
        out[order] = counts
        return out
    return np.stack([np.asarray(largest_remainder(p * sizes, t), dtype=np.int64) for p, t in zip(lv, totals)])


def web_noise_levels(
    clean_labels,
    pool: WebPool,
    levels: Iterable[float],
    rng: np.random.Generator | int,
    *,
    num_classes: int | None = None,
    nested: bool = True,
    text_only: bool = False,
    on_shortage: OnShortage = "error",
    exclude: np.ndarray | None = None,
) -> dict[float, WebNoiseResult]:
    """Web noise for every level in ``levels``; returns ``{level: WebNoiseResult}``.

    Per class ``c`` the generator draws one order of the class's clean examples (which are
    replaced first) and one order of the class's usable pool images (which are used first); at a
    level with ``k`` replacements the first ``k`` examples receive the first ``k`` images. With
    ``nested=True`` those orders are shared by all levels, so the replaced sets are nested and a
    replaced example keeps its web image; with ``nested=False`` each level draws its own orders.

    ``on_shortage="error"`` (default) raises :class:`NoiseSpecError` naming the class, the need
    and the supply when the pool has too few usable images; ``"cap"`` replaces as many as the
    pool allows and sets ``capped`` (the realised rates record the shortfall). Level 0 replaces
    nothing. Draws come from ``rng`` only, class by class in class order.

    ``exclude``: pool positions (int) that may not be used, e.g. the images a train split already
    took, so that a validation split built next gets different web images.
    """
    if on_shortage not in ("error", "cap"):
        raise NoiseSpecError(f"on_shortage={on_shortage!r} is not known; use 'error' or 'cap'")
    rng = check_rng(rng)
    y, k = _check_labels(clean_labels, num_classes)
    lv = _check_levels(levels)
    if not lv:
        return {}
    sizes = np.bincount(y, minlength=k).astype(np.int64)
    cands = pool.candidates(k, text_only=text_only)
    if exclude is not None and np.size(exclude):
        ex = np.asarray(exclude, dtype=np.int64).ravel()
        cands = [c[~np.isin(c, ex)] for c in cands]
    supply = np.array([c.shape[0] for c in cands], dtype=np.int64)
    requested = web_class_counts(sizes, lv, nested=nested)
    need = requested.max(axis=0)
    if on_shortage == "error":
        short = np.flatnonzero(need > supply)
        if short.size:
            c = int(short[0])
            lvl = lv[int(np.argmax(requested[:, c]))]
            raise NoiseSpecError(
                f"web pool too small for class {c}: level {lvl:g} needs {int(need[c])} distinct "
                f"incorrect{' text-retrieved' if text_only else ''} pool images, the pool supplies "
                f"{int(supply[c])} ({short.size} class(es) short: {short[:10].tolist()}); add pool "
                f"images, lower the level, or set on_shortage: cap"
            )
    realised = np.minimum(requested, supply[None, :])
    members = [np.flatnonzero(y == c) for c in range(k)]

    def draw_orders() -> tuple[list[np.ndarray], list[np.ndarray]]:
        ex, im = [], []
        for c in range(k):
            ex.append(members[c][rng.permutation(members[c].shape[0])])
            im.append(cands[c][rng.permutation(cands[c].shape[0])])
        return ex, im

    shared = draw_orders() if nested else None
    out: dict[float, WebNoiseResult] = {}
    spec_base = {
        "kind": "web",
        "construction": "replace images by distinct pool images judged incorrect, keep labels",
        "nested": bool(nested),
        "text_only": bool(text_only),
        "on_shortage": on_shortage,
        "pool_size": len(pool),
    }
    for li, p in enumerate(lv):
        ex_order, im_order = shared if shared is not None else draw_orders()
        replaced = np.zeros(y.shape[0], dtype=bool)
        pool_index = np.full(y.shape[0], -1, dtype=np.int64)
        for c in range(k):
            n = int(realised[li, c])
            if n:
                rows = ex_order[c][:n]
                replaced[rows] = True
                pool_index[rows] = im_order[c][:n]
        row_clean = y.copy()
        row_clean[replaced] = pool.true_class[pool_index[replaced]]
        capped = bool((realised[li] < requested[li]).any())
        out[p] = WebNoiseResult(
            level=p,
            replaced=replaced,
            pool_index=pool_index,
            labels=y.copy(),
            row_clean_label=row_clean,
            requested_counts=requested[li].copy(),
            realised_counts=realised[li].copy(),
            class_sizes=sizes.copy(),
            supply=supply.copy(),
            capped=capped,
            nested=bool(nested),
            text_only=bool(text_only),
            spec={**spec_base, "level": p},
        )
    return out


def web_noise(
    clean_labels,
    pool: WebPool,
    level: float,
    rng: np.random.Generator | int,
    *,
    num_classes: int | None = None,
    text_only: bool = False,
    on_shortage: OnShortage = "error",
    exclude: np.ndarray | None = None,
) -> WebNoiseResult:
    """Web noise at one level (see :func:`web_noise_levels`)."""
    return web_noise_levels(
        clean_labels,
        pool,
        [level],
        rng,
        num_classes=num_classes,
        nested=True,
        text_only=text_only,
        on_shortage=on_shortage,
        exclude=exclude,
    )[float(level)]


def pool_from_mapping(columns: Mapping[str, np.ndarray]) -> WebPool:
    """A :class:`WebPool` from a column mapping (``id``, ``retrieved_class``, ``is_clean``, and
    optionally ``true_class``, ``retrieval``), as the source readers produce it."""
    return WebPool(
        ids=columns["id"],
        retrieved_class=columns["retrieved_class"],
        is_clean=columns["is_clean"],
        true_class=columns.get("true_class"),
        retrieval=columns.get("retrieval"),
    )
