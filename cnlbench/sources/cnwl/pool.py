"""Annotated web pools: :class:`AnnotatedPool` (what the CNWL annotation JSON and a generic pool
table both become) and the generic pool table reader.

Generic pool table (CSV with a header, or Parquet), one row per retrieved image:

=================  ========  ==================================================================
column             required  meaning
=================  ========  ==================================================================
``id``             yes       unique image id (string)
``retrieved_class`` yes      class id (0-based) the image was retrieved for
``is_clean``       *         raters' majority verdict (true/false/1/0); or give both vote columns
``votes_correct``  *         number of raters saying the image shows ``retrieved_class``
``votes_incorrect`` *        number saying it does not; verdict = correct > incorrect (ties: not
                             clean)
``true_class``     no        class the image really shows, -1 unknown (default -1)
``retrieval``      no        ``text`` or ``image`` (default unknown)
``path``           no        image file path relative to the table's folder
``uri``            no        original URL
=================  ========  ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.noise.web import WebPool
from cnlbench.sources.images import check_relpath


@dataclass(frozen=True)
class AnnotatedPool:
    """Per retrieved image (M,): ``ids`` str, ``retrieved_class`` int64, ``is_clean`` bool,
    ``true_class`` int64 (-1 unknown), ``retrieval`` str (``text``/``image``/``""``), ``uri``
    str (``""`` unknown), ``path`` str (relative image path, ``""`` unknown),
    ``votes_correct`` / ``votes_total`` int64 (-1 unknown)."""

    ids: np.ndarray
    retrieved_class: np.ndarray
    is_clean: np.ndarray
    true_class: np.ndarray
    retrieval: np.ndarray
    uri: np.ndarray
    path: np.ndarray
    votes_correct: np.ndarray
    votes_total: np.ndarray
    #: ids that occur more than once with DIFFERENT classes; only the first record is kept.
    conflicts: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def to_web_pool(self) -> WebPool:
        """The noise layer's view (validates uniqueness and value ranges)."""
        return WebPool(
            ids=self.ids,
            retrieved_class=self.retrieved_class,
            is_clean=self.is_clean,
            true_class=self.true_class,
            retrieval=self.retrieval,
        )

    def index(self) -> dict[str, int]:
        """id -> position."""
        return {s: i for i, s in enumerate(self.ids.tolist())}


def build_pool(rows: list[dict], where: str) -> AnnotatedPool:
    """Deduplicate ``rows`` (exact repeats dropped, conflicting classes reported) and pack."""
    seen: dict[str, int] = {}
    kept: list[dict] = []
    conflicts: list[str] = []
    for r in rows:
        j = seen.get(r["id"])
        if j is None:
            seen[r["id"]] = len(kept)
            kept.append(r)
        elif kept[j]["retrieved_class"] != r["retrieved_class"] and r["id"] not in conflicts:
            conflicts.append(r["id"])
    m = len(kept)

    def col(key, dtype, default):
        return np.array([r.get(key, default) for r in kept], dtype=dtype) if m else np.zeros(0, dtype)

    return AnnotatedPool(
        ids=col("id", str, ""),
        retrieved_class=col("retrieved_class", np.int64, 0),
        is_clean=col("is_clean", bool, False),
        true_class=col("true_class", np.int64, -1),
        retrieval=col("retrieval", "<U5", ""),
        uri=col("uri", object, "").astype(str),
        path=col("path", object, "").astype(str),
        votes_correct=col("votes_correct", np.int64, -1),
        votes_total=col("votes_total", np.int64, -1),
        conflicts=tuple(conflicts),
    )


def as_bool(v, where: str) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)) and int(v) in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("0", "1", "true", "false"):
        return v.strip().lower() in ("1", "true")
    raise SourceError(f"{where}: verdict {v!r} is not a boolean; use true/false or 1/0")


def as_int(v, where: str, what: str) -> int:
    try:
        if isinstance(v, float) and not v.is_integer():
            raise ValueError
        return int(v)
    except (TypeError, ValueError):
        raise SourceError(f"{where}: {what} {v!r} is not an integer") from None


def read_pool_table(path: str | Path, num_classes: int | None = None) -> AnnotatedPool:
    """Read a generic pool from CSV (header row) or Parquet; columns in the module docstring."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise MissingDataError(f"web pool table {p} is missing; pass the CSV or Parquet file's path")
    if p.suffix.lower() == ".parquet":
        table = pq.read_table(p)
    elif p.suffix.lower() in (".csv", ".tsv"):
        opts = pacsv.ParseOptions(delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
        conv = pacsv.ConvertOptions(column_types={"id": pa.string(), "retrieval": pa.string(),
                                                  "path": pa.string(), "uri": pa.string()})
        table = pacsv.read_csv(p, parse_options=opts, convert_options=conv)
    else:
        raise SourceError(f"web pool table {p} must end in .csv, .tsv or .parquet")
    cols = set(table.column_names)
    for req in ("id", "retrieved_class"):
        if req not in cols:
            raise SourceError(f"{p}: required column {req!r} is missing (columns: {sorted(cols)})")
    has_votes = {"votes_correct", "votes_incorrect"} <= cols
    if "is_clean" not in cols and not has_votes:
        raise SourceError(
            f"{p}: needs an 'is_clean' column or both 'votes_correct' and 'votes_incorrect'"
        )
    data = {c: table.column(c).to_pylist() for c in table.column_names}
    rows = []
    for i in range(table.num_rows):
        where = f"{p} row {i + 1}"
        rid = data["id"][i]
        if rid is None or str(rid) == "":
            raise SourceError(f"{where}: empty id; every pool image needs an id")
        lab = as_int(data["retrieved_class"][i], where, "retrieved_class")
        if lab < 0 or (num_classes is not None and lab >= num_classes):
            raise SourceError(f"{where}: retrieved_class {lab} is outside 0..{(num_classes or 1) - 1}")
        row = {"id": str(rid), "retrieved_class": lab}
        if has_votes:
            vc = as_int(data["votes_correct"][i], where, "votes_correct")
            vi = as_int(data["votes_incorrect"][i], where, "votes_incorrect")
            row["votes_correct"], row["votes_total"] = vc, vc + vi
            verdict = vc > vi
            if "is_clean" in cols and data["is_clean"][i] is not None:
                given = as_bool(data["is_clean"][i], where)
                if given != verdict:
                    raise SourceError(
                        f"{where}: is_clean={given} contradicts the votes ({vc} correct, {vi} "
                        f"incorrect); fix one of them"
                    )
            row["is_clean"] = verdict
        else:
            row["is_clean"] = as_bool(data["is_clean"][i], where)
        if "true_class" in cols and data["true_class"][i] is not None:
            row["true_class"] = as_int(data["true_class"][i], where, "true_class")
        for opt in ("retrieval", "path", "uri"):
            if opt in cols and data[opt][i] is not None:
                row[opt] = str(data[opt][i])
        if row.get("path"):
            check_relpath(row["path"])
        rows.append(row)
    return build_pool(rows, str(p))
