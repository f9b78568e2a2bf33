"""Read a results store (the harness's output) into plain row dicts, tolerantly.

The row schema is fixed in docs/architecture.md, "Layer 4". This reader accepts:

- a results-store folder: every ``*.parquet`` under it (part files, any depth; parts a writer
  set aside under ``damaged/`` are left out), read one by one so part files written by
  different versions (extra or missing columns) still combine. A part that cannot be read is
  an error naming it, or, given an ``unreadable`` list, is reported there and left out;
- a single ``.parquet`` file, or a ``.csv`` file with a header row.

Missing columns and missing cells never crash: numeric fields become NaN, integers ``None``,
strings ``""``. ``noise_kind`` and ``level`` are derived from a ``<kind>-<pp>`` config name when
absent. A run seen twice (same ``run_id``) is kept once (the last ``ok`` copy wins).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import pyarrow as pa

from cnlbench.errors import CnlbenchError, MissingDataError, UnreadableResultsError
from cnlbench.harness.store import COLUMNS, DAMAGED, unreadable_reason
from cnlbench.manifest.recipe import parse_config_name

__all__ = ["FLOAT_COLUMNS", "INT_COLUMNS", "STRING_COLUMNS", "parse_config", "normalise_row", "read_results"]

def _by_type(test: Any) -> tuple[str, ...]:
    return tuple(name for name, typ in COLUMNS.items() if test(typ))


#: The store's columns (:data:`cnlbench.harness.store.COLUMNS`) by type, plus ``n_test``: an
#: optional integer a row may carry (its test-set size, for the binomial half-width).
STRING_COLUMNS = _by_type(pa.types.is_string)
FLOAT_COLUMNS = _by_type(pa.types.is_floating)
INT_COLUMNS = _by_type(pa.types.is_integer) + ("n_test",)


def parse_config(config: str) -> tuple[str, float]:
    """:func:`cnlbench.manifest.recipe.parse_config_name` with NaN for no level:
    ``"sym-40" -> ("sym", 0.40)``; a named label set (``"cifar10n-aggre"``) -> ``(name, nan)``."""
    kind, level = parse_config_name(config)
    return kind, math.nan if level is None else level


def _float(v: Any) -> float:
    if v is None or v == "":
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _int(v: Any) -> int | None:
    f = _float(v)
    return None if not math.isfinite(f) else int(f)


def _str(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v)


def normalise_row(raw: dict[str, Any]) -> dict[str, Any]:
    """One results row with every schema column present and typed (extra keys are kept)."""
    row: dict[str, Any] = dict(raw)
    for c in STRING_COLUMNS:
        row[c] = _str(raw.get(c))
    for c in FLOAT_COLUMNS:
        row[c] = _float(raw.get(c))
    for c in INT_COLUMNS:
        row[c] = _int(raw.get(c))
    kind, level = parse_config(row["config"])
    if not row["noise_kind"]:
        row["noise_kind"] = kind
    if not math.isfinite(row["level"]):
        row["level"] = level
    row["status"] = (row["status"] or "ok").lower()
    return row


def _read_table(path: Path) -> list[dict[str, Any]]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if path.suffix.lower() == ".csv":
            table = pacsv.read_csv(path)
        else:
            table = pq.read_table(path, page_checksum_verification=True)
        return table.to_pylist()
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise _unreadable(path, unreadable_reason(exc)) from None


def _unreadable(path: Path, reason: str) -> UnreadableResultsError:
    return UnreadableResultsError(
        f"cannot read results file {path}: {reason}; pass a results-store folder of Parquet "
        "part files, a .parquet file or a .csv file with a header row (a damaged part of a "
        "store: re-run its `cnlbench eval` command, which sets it aside and trains it again)",
        str(path), reason)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*.parquet") if p.is_file() and ".tmp" not in p.name
                      and DAMAGED not in p.relative_to(path).parts[:-1])
    if path.is_file():
        if path.suffix.lower() not in (".parquet", ".csv"):
            raise CnlbenchError(
                f"results file {path} has suffix {path.suffix!r}; pass a results-store folder, "
                "a .parquet file or a .csv file"
            )
        return [path]
    raise MissingDataError(
        f"results path {path} does not exist; pass the folder `cnlbench eval` wrote its results to"
    )


def _dedupe(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row in rows:
        rid = row["run_id"]
        if not rid:
            out.append(row)
            continue
        if rid in seen:
            if row["status"] == "ok" or out[seen[rid]]["status"] != "ok":
                out[seen[rid]] = row
            continue
        seen[rid] = len(out)
        out.append(row)
    return out


def read_results(paths: Sequence[str | Path] | str | Path, *,
                 unreadable: list[str] | None = None) -> list[dict[str, Any]]:
    """All result rows under ``paths`` (folders, .parquet or .csv files), normalised.

    Returns a list of dicts with every column of the Layer-4 schema (see module docstring).
    An empty folder gives an empty list. A file that cannot be read raises
    :class:`~cnlbench.errors.CnlbenchError` naming it; with ``unreadable`` (a list), a part
    file found inside a folder is instead reported there (``"PATH: why"``) and left out, so
    one damaged part does not hide a whole store. A file named directly always raises.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows: list[dict[str, Any]] = []
    for p in paths:
        for f in _files(Path(p)):
            try:
                rows.extend(normalise_row(r) for r in _read_table(f))
            except UnreadableResultsError as exc:
                if unreadable is None or not Path(p).is_dir():
                    raise
                unreadable.append(f"{f}: {exc.reason}")
    return _dedupe(rows)
