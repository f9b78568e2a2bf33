"""The results store: one Parquet part file per finished run, plus ``store.json``.

Layout::

    RESULTS/
      store.json                      # cnlbench version, schema version, dataset fingerprints
      parts/<run_id>.parquet          # one row (schema below), written atomically

A part is written to a hidden temporary sibling, fsynced and renamed over its final name, so a
crash leaves either the complete part or a temporary file that readers ignore and the next
writer deletes (when its process is gone). A run's part is named by its ``run_id``, so a
re-run replaces rather than duplicates. ``store.json`` records, per dataset, the manifest
fingerprint of every config the store was built on: a manifest that changed since is refused.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from cnlbench import __version__
from cnlbench.errors import HarnessError
from cnlbench.manifest.atomic import atomic_write_bytes, fsync_path

#: Keys of the per-epoch memorisation curves in a row's ``curves`` JSON: train accuracy on the
#: clean subset, on the noisy subset against the label it was GIVEN (memorisation of the wrong
#: label), and on the noisy subset against its true label (where known).
CURVE_TRAIN_CLEAN = "train_acc_clean"
CURVE_TRAIN_NOISY_GIVEN = "train_acc_noisy_given"
CURVE_TRAIN_NOISY_TRUE = "train_acc_noisy_true"

#: Bump when a column is added, removed or changes meaning; readers refuse other versions.
SCHEMA_VERSION = 1
STORE_FILE = "store.json"
PARTS = "parts"

#: The results row, see docs/architecture.md "Layer 4".
COLUMNS: dict[str, pa.DataType] = {
    "run_id": pa.string(),
    "dataset": pa.string(),
    "config": pa.string(),
    "noise_kind": pa.string(),
    "level": pa.float64(),
    "method": pa.string(),
    "model": pa.string(),
    "method_params": pa.string(),
    "seed": pa.int64(),
    "epochs": pa.int64(),
    "train_config": pa.string(),
    "test_acc_final": pa.float64(),
    "test_acc_best_val": pa.float64(),
    "val_acc_best": pa.float64(),
    "best_epoch": pa.int64(),
    "ece": pa.float64(),
    "ece_bins": pa.int64(),
    "overconfidence": pa.float64(),
    "auroc_noise": pa.float64(),
    "abstain_coverage": pa.float64(),
    "abstain_acc": pa.float64(),
    "curves": pa.string(),
    "wall_time_s": pa.float64(),
    "device": pa.string(),
    "cnlbench_version": pa.string(),
    "manifest_fingerprint": pa.string(),
    "status": pa.string(),
    "error": pa.string(),
}
SCHEMA = pa.schema([pa.field(k, v) for k, v in COLUMNS.items()],
                   metadata={"cnlbench_schema_version": str(SCHEMA_VERSION)})


def empty_row() -> dict[str, Any]:
    """A row with every column at its "missing" value (NaN, -1 or empty string)."""
    row: dict[str, Any] = {}
    for name, typ in COLUMNS.items():
        row[name] = math.nan if pa.types.is_floating(typ) else (-1 if pa.types.is_integer(typ) else "")
    return row


def row_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows (dicts with exactly the store columns) as a table with :data:`SCHEMA`."""
    rows = list(rows)
    for r in rows:
        missing, extra = set(COLUMNS) - set(r), set(r) - set(COLUMNS)
        if missing or extra:
            raise HarnessError(f"results row has missing columns {sorted(missing)} / unknown columns "
                               f"{sorted(extra)}; build rows with cnlbench.harness.store.empty_row()")
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True


def _atomic_write(path: Path, data: bytes) -> None:
    """Temporary sibling, fsync, ``os.replace``, then fsync the folder (the rename is durable)."""
    atomic_write_bytes(path, data)
    fsync_path(path.parent)


class ResultsStore:
    """A results folder. ``ResultsStore(path)`` opens (and with ``create=True`` creates) it."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        meta_path = self.path / STORE_FILE
        if meta_path.is_file():
            self.meta = self._read_meta(meta_path)
        elif self.path.exists() and self.path.is_dir() and any(self.path.iterdir()):
            raise HarnessError(
                f"results folder {str(self.path)!r} is not empty and has no {STORE_FILE}; "
                "pass --out a new folder or an existing cnlbench results folder"
            )
        elif not create:
            raise HarnessError(f"no results store at {str(self.path)!r}; run `cnlbench eval ... --out {self.path}` first")
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self.meta = {"cnlbench_version": __version__, "schema_version": SCHEMA_VERSION, "datasets": {}}
            self._write_meta()
        (self.path / PARTS).mkdir(exist_ok=True)

    # -- metadata ---------------------------------------------------------------------
    def _read_meta(self, meta_path: Path) -> dict[str, Any]:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise HarnessError(f"{str(meta_path)!r} is not valid JSON ({exc}); restore it or use a new --out folder") from None
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            raise HarnessError(
                f"results store {str(self.path)!r} has schema version {version!r} (written by cnlbench "
                f"{meta.get('cnlbench_version', '?')}); this cnlbench {__version__} reads schema version "
                f"{SCHEMA_VERSION} only. Use a new --out folder, or that cnlbench version to read it"
            )
        meta.setdefault("datasets", {})
        return meta

    def _write_meta(self) -> None:
        _atomic_write(self.path / STORE_FILE, json.dumps(self.meta, indent=2, sort_keys=True).encode("utf-8"))

    def check_fingerprints(self, dataset: str, fingerprints: Mapping[str, str]) -> None:
        """Refuse configs whose manifest fingerprint differs from the one the store was built
        on; record the new ones."""
        known = self.meta["datasets"].setdefault(dataset, {})
        for config, fp in fingerprints.items():
            old = known.get(config)
            if old is not None and old != fp:
                raise HarnessError(
                    f"config {config!r} of dataset {dataset!r} has manifest fingerprint {fp}, but the "
                    f"results in {str(self.path)!r} were trained on fingerprint {old}; the dataset was "
                    "rebuilt or changed. Use a new --out folder (or rebuild the dataset exactly as before)"
                )
        changed = {c: f for c, f in fingerprints.items() if known.get(c) != f}
        if changed:
            known.update(changed)
            self._write_meta()

    # -- parts --------------------------------------------------------------------------
    def part_path(self, run_id: str) -> Path:
        return self.path / PARTS / f"{run_id}.parquet"

    def write(self, row: Mapping[str, Any]) -> Path:
        """Write one run's row atomically (replacing an earlier row of the same run)."""
        table = row_table([row])
        run_id = str(row["run_id"])
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise HarnessError(f"run_id {run_id!r} is not a valid part name; use engine.run_id()")
        target = self.part_path(run_id)
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf)
        _atomic_write(target, buf.getvalue().to_pybytes())
        return target

    def clean_temporaries(self) -> int:
        """Delete temporary part files left by dead processes; returns how many."""
        removed = 0
        for f in (self.path / PARTS).iterdir():
            if f.name.startswith(".") and ".tmp-" in f.name:
                pid = f.name.split(".tmp-", 1)[1].split("-", 1)[0]
                if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                    f.unlink(missing_ok=True)
                    removed += 1
        return removed

    def part_files(self) -> list[Path]:
        """Complete part files (temporaries ignored), sorted by name."""
        return sorted(p for p in (self.path / PARTS).glob("*.parquet") if not p.name.startswith("."))

    def finished(self, include_failed: bool = True) -> set[str]:
        """run_ids with a row (``include_failed=False``: only ``status == "ok"``)."""
        if include_failed:
            return {p.stem for p in self.part_files()}
        t = self.read(columns=["run_id", "status"])
        return {r for r, s in zip(t["run_id"].to_pylist(), t["status"].to_pylist()) if s == "ok"}

    def read(self, columns: list[str] | None = None) -> pa.Table:
        """All rows, concatenated (schema :data:`SCHEMA`, or ``columns`` of it)."""
        tables = [pq.read_table(p, columns=columns) for p in self.part_files()]
        if not tables:
            schema = SCHEMA if columns is None else pa.schema([SCHEMA.field(c) for c in columns])
            return schema.empty_table()
        return pa.concat_tables(tables, promote_options="none")

    def __len__(self) -> int:
        return len(self.part_files())


def read_results(path: str | Path) -> pa.Table:
    """Every row of the results store at ``path``."""
    return ResultsStore(path, create=False).read()


__all__ = ["COLUMNS", "SCHEMA", "SCHEMA_VERSION", "ResultsStore", "empty_row", "read_results", "row_table"]
