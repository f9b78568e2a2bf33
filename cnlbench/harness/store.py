"""The results store: one Parquet part file per finished run, plus ``store.json``.

Layout::

    RESULTS/
      store.json                      # cnlbench version, schema version, dataset fingerprints
      parts/<run_id>.parquet          # one row (schema below), written atomically
      damaged/                        # damaged parts, set aside (never deleted)
      .lock                           # the writer lock: pid, host, start time of the holder

A part is written to a hidden temporary sibling, fsynced and renamed over its final name, so a
crash leaves either the complete part or a temporary file that readers ignore and the next
writer deletes (when its process is gone). A run's part is named by its ``run_id``, so a
re-run replaces rather than duplicates. ``store.json`` records, per dataset, the manifest
fingerprint of every config the store was built on: a manifest that changed since is refused.

One writer at a time: a writer holds a POSIX record lock on ``.lock`` (released by the kernel
when its process ends, however it ends); a second writer is refused naming the holder.
``store.json`` is updated read-merge-write under that lock. A part that cannot be read (page
checksums, schema, one row named by its ``run_id``) is reported by name, moved to ``damaged/``
by the next writer and its run trained again. A kill while a store is created leaves only the
lock file and temporaries, which the next creation accepts.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

import pyarrow as pa
import pyarrow.parquet as pq

from cnlbench import __version__
from cnlbench.errors import DamagedPartError, HarnessError, StoreLockedError
from cnlbench.manifest.atomic import atomic_write_bytes, fsync_path, pid_alive

#: Keys of the per-epoch memorisation curves in a row's ``curves`` JSON: train accuracy on the
#: clean subset, on the noisy subset against the label it was GIVEN (memorisation of the wrong
#: label), and on the noisy subset against its true label (where known).
CURVE_TRAIN_CLEAN = "train_acc_clean"
CURVE_TRAIN_NOISY_GIVEN = "train_acc_noisy_given"
CURVE_TRAIN_NOISY_TRUE = "train_acc_noisy_true"

#: Bump when a column is added, removed or changes meaning; readers refuse other versions.
SCHEMA_VERSION = 2
STORE_FILE = "store.json"
PARTS = "parts"
#: Damaged part files are moved here (never deleted) and their runs trained again.
DAMAGED = "damaged"
#: The writer lock (pid, host and start time of the holder).
LOCK_FILE = ".lock"

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
    # the same metrics at the end of training (the columns above are at the selected epoch)
    "ece_final": pa.float64(),
    "overconfidence_final": pa.float64(),
    "auroc_noise_final": pa.float64(),
    "abstain_coverage_final": pa.float64(),
    "abstain_acc_final": pa.float64(),
    "tuning": pa.string(),  # the tuned setting applied (JSON), "" when untuned
    "harness_version": pa.int64(),  # engine.HARNESS_NUMERICS_VERSION that computed the row
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


def write_rows(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write ``rows`` (store rows) as ONE zstd Parquet file at ``path``, atomically; the
    file a board, a submission or a commit takes (``cnlbench eval --export FILE``)."""
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(row_table(rows), sink, compression="zstd")
    p = Path(path)
    atomic_write_bytes(p, sink.getvalue().to_pybytes())
    return p


def unreadable_reason(exc: BaseException) -> str:
    """Why pyarrow cannot read a file: the first line of its message, without the path it
    repeats, at most 160 characters."""
    text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"^Could not open Parquet input source '[^']*': ", "", text)[:160]


def _dead_temporary(name: str) -> bool:
    """A ``.<name>.tmp-<pid>-<random>`` file (see ``atomic_write_bytes``) whose writer is gone."""
    if not (name.startswith(".") and ".tmp-" in name):
        return False
    pid = name.split(".tmp-", 1)[1].split("-", 1)[0]
    return pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid))


#: Lock files held by this process (POSIX record locks do not exclude within one process).
_HELD: set[str] = set()
_HELD_GUARD = threading.Lock()


class _StoreLock:
    """An exclusive writer lock on ``RESULTS/.lock``: a POSIX record lock (``fcntl.lockf``),
    which the kernel drops when its process dies however it dies (a stale lock file of a dead
    process therefore never blocks), and which forked children do not inherit. The file holds
    the holder's pid, host and start time for the refusal message."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def _holder(self) -> str:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace").split()
        except OSError:
            text = []
        if len(text) >= 3:
            return f"process {text[0]} on {text[1]} (since {text[2]})"
        return "another process"

    def _try(self) -> bool:
        key = str(self.path.resolve())
        with _HELD_GUARD:
            if key in _HELD:
                return False
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    try:
                        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError as exc:
                        if exc.errno in (errno.EACCES, errno.EAGAIN):
                            os.close(fd)
                            return False
                        raise
                else:  # pragma: no cover - no POSIX locks: trust a live pid in the file
                    pid = self.path.read_text(encoding="utf-8", errors="replace").split()[:1]
                    if pid and pid[0].isdigit() and int(pid[0]) != os.getpid() and pid_alive(int(pid[0])):
                        os.close(fd)
                        return False
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()} {socket.gethostname() or '?'} {stamp}\n".encode(), 0)
            except BaseException:
                os.close(fd)
                raise
            self.fd = fd
            _HELD.add(key)
            return True

    def acquire(self, store: Path, wait: float) -> None:
        deadline = time.monotonic() + max(0.0, wait)
        while not self._try():
            if time.monotonic() >= deadline:
                raise StoreLockedError(
                    f"results store {str(store)!r} is being written by {self._holder()} (lock file "
                    f"{str(self.path)!r}); two writers would train the same runs twice. Wait for it to "
                    "finish, or pass --out a different folder. (A lock of a process that has ended "
                    "is released by the system and never blocks.)"
                )
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def release(self) -> None:
        if self.fd is None:
            return
        with _HELD_GUARD:
            _HELD.discard(str(self.path.resolve()))
            try:
                os.ftruncate(self.fd, 0)
            finally:
                os.close(self.fd)  # closing drops the record lock
                self.fd = None


class ResultsStore:
    """A results folder. ``ResultsStore(path)`` opens (and with ``create=True`` creates) it.

    Writers hold :meth:`locked` (one writer per store at a time; :func:`run_sweep
    <cnlbench.harness.sweep.run_sweep>` holds it for the whole sweep); readers need no lock."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        self._lock: _StoreLock | None = None
        self._depth = 0
        #: part name -> ((size, mtime, inode), checked table): parts are read and checked once
        self._checked: dict[str, tuple[tuple[int, int, int], pa.Table]] = {}
        meta_path = self.path / STORE_FILE
        if self.path.exists() and not self.path.is_dir():
            raise HarnessError(f"results path {str(self.path)!r} is a file, not a folder; pass --out a new "
                               "folder or an existing cnlbench results folder")
        if meta_path.is_file():
            self.meta = self._read_meta(meta_path)
        elif not create:
            raise HarnessError(f"no results store at {str(self.path)!r}; run `cnlbench eval ... --out {self.path}` first")
        else:
            self._refuse_foreign()
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HarnessError(f"cannot create results folder {str(self.path)!r} ({exc.strerror}); "
                                   "pass --out a folder you can write") from None
            with self.locked():  # creation: a second creator waits for the lock, then reads ours
                if meta_path.is_file():
                    self.meta = self._read_meta(meta_path)
                else:
                    self._refuse_foreign()
                    self._clean_own_temporaries()
                    self.meta = {"cnlbench_version": __version__, "schema_version": SCHEMA_VERSION, "datasets": {}}
                    self._write_meta()
        if create:
            (self.path / PARTS).mkdir(exist_ok=True)

    def _refuse_foreign(self) -> None:
        """A folder without ``store.json`` may hold only what an interrupted creation leaves
        (the lock file, temporaries of ``store.json``, an empty ``parts/``); anything else is
        someone's data and is never written into."""
        if not self.path.is_dir():
            return
        foreign = []
        for p in self.path.iterdir():
            if p.name == LOCK_FILE or (p.name.startswith(f".{STORE_FILE}.tmp-")):
                continue
            if p.name == PARTS and p.is_dir() and not any(q.suffix == ".parquet" and not q.name.startswith(".")
                                                          for q in p.iterdir()):
                continue
            foreign.append(p.name)
        if foreign:
            raise HarnessError(
                f"results folder {str(self.path)!r} is not empty ({', '.join(sorted(foreign)[:5])}) and has "
                f"no {STORE_FILE}; pass --out a new folder or an existing cnlbench results folder"
            )

    def _clean_own_temporaries(self) -> None:
        for p in self.path.iterdir():
            if p.name.startswith(f".{STORE_FILE}.tmp-") and _dead_temporary(p.name):
                p.unlink(missing_ok=True)

    # -- the writer lock ------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, *, wait: float = 0.0) -> Iterator["ResultsStore"]:
        """Hold the store's writer lock (re-entrant within this object). Another live writer
        makes this wait up to ``wait`` seconds, then raise :class:`StoreLockedError` naming it."""
        if self._depth == 0:
            lock = _StoreLock(self.path / LOCK_FILE)
            lock.acquire(self.path, wait)
            self._lock = lock
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0 and self._lock is not None:
                self._lock.release()
                self._lock = None

    # -- metadata ---------------------------------------------------------------------
    def _read_meta(self, meta_path: Path) -> dict[str, Any]:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HarnessError(f"{str(meta_path)!r} is not valid JSON ({exc}); restore it or use a new --out folder") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("datasets", {}), dict):
            raise HarnessError(f"{str(meta_path)!r} is not a cnlbench results record (a JSON object with "
                               "schema_version and datasets); restore it or use a new --out folder")
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            raise HarnessError(
                f"results store {str(self.path)!r} has schema version {version!r:.40} (written by cnlbench "
                f"{str(meta.get('cnlbench_version', '?'))[:40]}); this cnlbench {__version__} reads schema version "
                f"{SCHEMA_VERSION} only. Use a new --out folder, or that cnlbench version to read it"
            )
        meta.setdefault("datasets", {})
        return meta

    def _write_meta(self) -> None:
        atomic_write_bytes(self.path / STORE_FILE, json.dumps(self.meta, indent=2, sort_keys=True).encode("utf-8"))

    def check_fingerprints(self, dataset: str, fingerprints: Mapping[str, str]) -> None:
        """Refuse configs whose manifest fingerprint differs from the one the store was built
        on; record the new ones. Read-merge-write of ``store.json`` under the writer lock, so
        concurrent writers never lose each other's entries."""
        with self.locked():
            self.meta = self._read_meta(self.path / STORE_FILE)
            known = self.meta["datasets"].setdefault(dataset, {})
            if not isinstance(known, dict):
                raise HarnessError(f"{str(self.path / STORE_FILE)!r}: datasets.{dataset} is not an object; "
                                   "restore it or use a new --out folder")
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
        """Write one run's row atomically (replacing an earlier row of the same run), with
        Parquet page checksums so a damaged part is detected when read."""
        table = row_table([row])
        run_id = str(row["run_id"])
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise HarnessError(f"run_id {run_id!r} is not a valid part name; use engine.run_id()")
        target = self.part_path(run_id)
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf, write_page_checksum=True)
        atomic_write_bytes(target, buf.getvalue().to_pybytes())
        return target

    def import_rows(self, table: pa.Table) -> int:
        """Write every row of ``table`` (a consolidated results file, e.g. the committed
        ``leaderboard/results/*.parquet``) whose run is not in the store yet, so a sweep resumes
        from it; returns how many were written. Rows of another schema are refused by name."""
        missing = sorted(set(COLUMNS) - set(table.column_names))
        if missing:
            raise HarnessError(f"results table lacks column(s) {missing} of schema version {SCHEMA_VERSION}; "
                               "it was written by another cnlbench version and cannot seed this store")
        with self.locked():
            self.set_aside_damaged()  # a damaged part is not a finished run: the table's row replaces it
            done = self.finished()
            written = 0
            for row in table.select(list(COLUMNS)).to_pylist():
                if row["run_id"] not in done:
                    self.write(row)
                    done.add(row["run_id"])
                    written += 1
        return written

    def clean_temporaries(self) -> int:
        """Delete temporary part files left by dead processes; returns how many."""
        removed = 0
        for f in (self.path / PARTS).iterdir():
            if _dead_temporary(f.name):
                f.unlink(missing_ok=True)
                removed += 1
        return removed

    def part_files(self) -> list[Path]:
        """Complete part files (temporaries ignored), sorted by name."""
        return sorted(p for p in (self.path / PARTS).glob("*.parquet") if not p.name.startswith("."))

    def _read_part(self, path: Path, columns: list[str] | None = None) -> pa.Table:
        """One part, checked: readable (page checksums verified), the store's columns and
        types, one row whose ``run_id`` is the file's name. Raises :class:`DamagedPartError`.
        A part already checked and unchanged since (same size and mtime) is not read again."""
        try:
            st = path.stat()
        except OSError as exc:
            raise DamagedPartError(f"{path.name}: {exc.strerror}") from None
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        cached = self._checked.get(path.name)
        if cached is not None and cached[0] == key:
            return cached[1].select(list(COLUMNS) if columns is None else columns)
        try:
            table = pq.read_table(path, page_checksum_verification=True)
        except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
            raise DamagedPartError(f"{path.name}: {unreadable_reason(exc)}") from None
        wrong = [f"{n} ({table.schema.field(n).type if n in table.column_names else 'missing'})"
                 for n, t in COLUMNS.items() if n not in table.column_names or table.schema.field(n).type != t]
        if wrong:
            raise DamagedPartError(f"{path.name}: columns differ from results schema {SCHEMA_VERSION}: {', '.join(wrong[:5])}")
        if table.num_rows != 1 or table["run_id"][0].as_py() != path.stem:
            raise DamagedPartError(f"{path.name}: holds {table.num_rows} row(s) with run_id(s) "
                                   f"{table['run_id'].to_pylist()[:3]}, not the one run it is named after")
        table = table.select(list(COLUMNS))
        self._checked[path.name] = (key, table)
        return table if columns is None else table.select(columns)

    def scan(self, columns: list[str] | None = None) -> tuple[list[pa.Table], list[tuple[Path, str]]]:
        """Every part read and checked: (tables of the readable ones, (path, why) of the
        damaged ones)."""
        tables, damaged = [], []
        for p in self.part_files():
            try:
                tables.append(self._read_part(p, columns))
            except DamagedPartError as exc:
                damaged.append((p, str(exc).removeprefix(f"{p.name}: ")))
        return tables, damaged

    def set_aside_damaged(self) -> list[tuple[Path, str]]:
        """Move every damaged part into ``RESULTS/damaged/`` (never deleted: it may be examined
        or restored), so its run counts as not run and is trained again. Returns (the part's
        new path, why it is damaged). Under the writer lock."""
        with self.locked():
            _tables, damaged = self.scan(["run_id"])
            moved = []
            if damaged:
                folder = self.path / DAMAGED
                folder.mkdir(exist_ok=True)
                for p, why in damaged:
                    dest, n = folder / p.name, 1
                    while dest.exists():
                        dest, n = folder / f"{p.stem}.{n}{p.suffix}", n + 1
                    os.replace(p, dest)
                    moved.append((dest, why))
                fsync_path(folder)
                fsync_path(self.path / PARTS)
            return moved

    def finished(self, include_failed: bool = True) -> set[str]:
        """run_ids with a readable row (``include_failed=False``: only ``status == "ok"``);
        damaged parts count as not finished."""
        tables, _damaged = self.scan(["run_id", "status"])
        return {r for t in tables for r, s in zip(t["run_id"].to_pylist(), t["status"].to_pylist())
                if include_failed or s == "ok"}

    def read(self, columns: list[str] | None = None, *, skip_damaged: bool = False) -> pa.Table:
        """All rows, concatenated (schema :data:`SCHEMA`, or ``columns`` of it). A damaged
        part raises :class:`DamagedPartError` naming every one (``skip_damaged``: left out)."""
        tables, damaged = self.scan(columns)
        if damaged and not skip_damaged:
            raise DamagedPartError(damaged_message(self.path, damaged))
        if not tables:
            schema = SCHEMA if columns is None else pa.schema([SCHEMA.field(c) for c in columns])
            return schema.empty_table()
        return pa.concat_tables(tables, promote_options="none")

    def __len__(self) -> int:
        return len(self.part_files())


def damaged_message(store: Path, damaged: Sequence[tuple[Path, str]]) -> str:
    """The refusal for damaged parts: each file and why, and the fix."""
    shown = "; ".join(f"{p.name} ({why})" for p, why in damaged[:10]) + (f"; and {len(damaged) - 10} more" if len(damaged) > 10 else "")
    return (f"results store {str(store)!r} has {len(damaged)} damaged part file(s): {shown}. Re-run the same "
            f"`cnlbench eval` command: it moves them to {DAMAGED}/ and trains those runs again")


def read_results(path: str | Path) -> pa.Table:
    """Every row of the results store at ``path``."""
    return ResultsStore(path, create=False).read()


__all__ = ["COLUMNS", "DAMAGED", "LOCK_FILE", "SCHEMA", "SCHEMA_VERSION", "ResultsStore", "damaged_message",
           "empty_row", "read_results", "row_table", "write_rows"]
