"""Import of one CNWL split file as manifest rows, line for line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.base import ImageAccess
from cnlbench.sources.cnwl.format import SplitList
from cnlbench.sources.cnwl.release import CnwlRelease
from cnlbench.sources.views import ImageStore, StoreImages, resolve_names, searched_folders


MISSING_POLICIES = ("error", "report", "drop")


@dataclass(frozen=True)
class ImportedSplit:
    """One split file turned into manifest rows, in file order (after dropping, if asked).

    ``ids``/``names`` (N,) str; ``labels``, ``clean_labels`` (N,) int64 (-1 unknown);
    ``is_noisy`` (N,) bool; ``noise_source`` (N,) str; ``images`` (ImageAccess, one per row;
    rows in ``missing`` raise MissingDataError when read). ``missing``: file names with no image
    found (all of them, in file order, whatever the policy). ``dropped``: whether they were
    removed. ``rows_in_file``: lines in the split file. ``searched``: where images were looked
    for (store labels, in search order).
    """

    split_file: str
    names: np.ndarray
    ids: np.ndarray
    labels: np.ndarray
    clean_labels: np.ndarray
    is_noisy: np.ndarray
    noise_source: np.ndarray
    images: ImageAccess
    missing: tuple[str, ...]
    dropped: bool
    rows_in_file: int
    searched: tuple[str, ...] = ()

    @property
    def realised_rate(self) -> float:
        return float(self.is_noisy.mean()) if len(self.ids) else 0.0

    def summary(self) -> dict:
        return {
            "split_file": self.split_file,
            "rows_in_file": self.rows_in_file,
            "rows": int(len(self.ids)),
            "missing_images": len(self.missing),
            "dropped_missing": self.dropped,
            "image_folders_searched": list(self.searched),
            "realised_rate": self.realised_rate,
            "web_rows": int((self.noise_source == "web").sum()),
        }


def import_split(
    release: CnwlRelease,
    split_file: str,
    stores: Sequence[ImageStore],
    *,
    clean_reference: SplitList | None = None,
    missing: str = "report",
    image_size: int | tuple[int, int] | None = None,
) -> ImportedSplit:
    """Rows of ``split_file`` with labels exactly as listed.

    Red (``red_*``) rows: web images are noisy (``noise_source="web"``, ``clean_label`` = the
    annotation's true class where known, else -1); other rows are clean. Blue (``blue_*``)
    rows: ``clean_label`` from ``clean_reference`` (the blue 0% split) by file name where known,
    else -1; a row is noisy when its label differs from a known clean label
    (``noise_source="synthetic"``). ``clean_validation`` rows are clean.

    ``missing``: ``"error"`` raises MissingDataError naming the count and the first names;
    ``"report"`` keeps every line (``missing`` lists them); ``"drop"`` removes those rows.
    ``image_size``: resize every image (see :class:`StoreImages`).
    """
    if missing not in MISSING_POLICIES:
        raise SourceError(f"missing={missing!r} is not known; use one of {list(MISSING_POLICIES)}")
    sl = release.split(split_file)
    names = sl.names.tolist()
    ids = sl.ids
    labels = sl.labels.copy()
    n = len(names)
    clean = labels.copy()
    noisy = np.zeros(n, dtype=bool)
    source = np.full(n, "none", dtype="<U9")
    if split_file.startswith("red_"):
        web = sl.is_web
        if web.any():
            pool = release.pool
            pidx = pool.index()
            pos = np.array([pidx.get(s, -1) for s in ids[web].tolist()], dtype=np.int64)
            tc = np.where(pos >= 0, pool.true_class[np.maximum(pos, 0)], -1) if len(pool) else np.full(len(pos), -1)
            clean[web] = tc
            noisy[web] = True
            source[web] = "web"
    elif split_file.startswith("blue_"):
        if clean_reference is not None:
            ref = dict(zip(clean_reference.names.tolist(), clean_reference.labels.tolist()))
            clean = np.array([ref.get(nm, -1) for nm in names], dtype=np.int64)
        else:
            clean = np.full(n, -1, dtype=np.int64)
        noisy = (clean >= 0) & (clean != labels)
        source[noisy] = "synthetic"
    first_row: dict[str, int] = {}
    for row, ident in enumerate(ids.tolist()):
        if ident in first_row:
            raise SourceError(
                f"{sl.where(row)}: image id {ident!r} ({names[row]}) repeats {sl.where(first_row[ident])}; "
                f"manifest ids must be unique per config, remove the repeated line"
            )
        first_row[ident] = row
    where = resolve_names(names, stores)
    absent = tuple(nm for nm, w in zip(names, where.tolist()) if w < 0)
    searched = tuple(searched_folders(stores))
    if absent and missing == "error":
        raise MissingDataError(
            f"{len(absent)} of {n} images listed in {split_file} are missing on disk (first: "
            f"{list(absent[:10])}; searched: {', '.join(searched)}); download them, or set missing: report "
            f"(keep the lines and list them) or missing: drop (rebuild the split from the images present)"
        )
    keep = np.ones(n, dtype=bool)
    if absent and missing == "drop":
        keep = where >= 0
    kept_names = [nm for nm, k in zip(names, keep.tolist()) if k]
    return ImportedSplit(
        split_file=split_file,
        names=np.array(kept_names, dtype=str),
        ids=ids[keep],
        labels=labels[keep],
        clean_labels=clean[keep],
        is_noisy=noisy[keep],
        noise_source=source[keep],
        images=StoreImages(stores, where[keep], kept_names, image_size),
        missing=absent,
        dropped=bool(absent) and missing == "drop",
        rows_in_file=n,
        searched=searched,
    )
