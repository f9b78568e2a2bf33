"""Atomic writes: files and whole output folders appear complete or not at all.

A build writes into ``OUT.tmp-<pid>-<random>`` beside ``OUT``, fsyncs every file, then swaps
it in: the previous ``OUT`` (if any) is renamed aside, the new folder renamed to ``OUT``, the
old one deleted. On any failure the temporary folder is removed and the previous ``OUT`` stays
untouched. A process killed mid-build leaves only a ``.tmp-`` sibling, which the next build
beside it removes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

from cnlbench.errors import ManifestError

#: A folder that is not a cnlbench build is never replaced; this file marks a build.
BUILD_RECORD = "cnlbench-build.json"


def fsync_path(path: Path) -> None:
    """fsync one file or directory (directories where the OS allows it)."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # pragma: no cover - e.g. directories on Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (files first, then their folders)."""
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(Path(folder))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary sibling, fsync and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, owned by someone else
        return True
    return True


def remove_stale_temporaries(out: Path) -> None:
    """Delete ``OUT.tmp-<pid>-*`` / ``OUT.old-<pid>-*`` siblings left by dead processes."""
    if not out.parent.is_dir():
        return
    for sib in out.parent.iterdir():
        for tag in (".tmp-", ".old-"):
            prefix = out.name + tag
            if sib.name.startswith(prefix):
                pid = sib.name[len(prefix):].split("-", 1)[0]
                if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                    shutil.rmtree(sib, ignore_errors=True)


def check_replaceable(out: Path) -> None:
    """Refuse to replace an existing non-empty folder that is not a cnlbench build."""
    if out.exists() and not out.is_dir():
        raise ManifestError(f"output {str(out)!r} exists and is not a folder; pass --out a new or build folder")
    if out.is_dir() and any(out.iterdir()) and not (out / BUILD_RECORD).is_file():
        raise ManifestError(
            f"output folder {str(out)!r} is not empty and holds no {BUILD_RECORD}; refusing to replace it. "
            "Pass --out a new folder or a previous cnlbench build"
        )


def replace_directory(new: Path, out: Path) -> None:
    """Move the complete folder ``new`` to ``out``, replacing a previous ``out``."""
    old = None
    if out.exists():
        old = out.with_name(f"{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
        os.rename(out, old)
    try:
        os.rename(new, out)
    except BaseException:
        if old is not None:
            os.rename(old, out)
        raise
    fsync_path(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(out: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on clean exit it replaces ``out`` atomically."""
    out = Path(out)
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir()
    try:
        yield tmp
        fsync_tree(tmp)
        replace_directory(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
