"""Atomic writes: files and whole output folders appear complete or not at all.

Files: :func:`atomic_write_bytes` / :func:`atomic_write_text`, the one implementation every
layer from the manifest up writes with (results parts, tuned settings, leaderboards,
submissions).

Folders: a build writes into ``OUT.tmp-<pid>-<random>`` beside ``OUT``, flushes everything it wrote to
stable storage with ONE filesystem sync (:func:`sync_tree`: Linux ``syncfs``, else
``os.sync``, else an fsync per file) instead of one fsync per file, then swaps it in: the previous ``OUT`` (if any) is renamed aside, the new folder renamed to ``OUT``, the
old one deleted. On any failure the temporary folder is removed and the previous ``OUT`` stays
untouched. A process killed mid-build leaves a ``.tmp-`` sibling, which the next build beside it
removes; a process killed between the two renames leaves no ``OUT`` but the complete previous
copy as ``OUT.old-<pid>-<random>``: the next build (and :func:`recover_previous`) renames it
back to ``OUT`` before anything else, so a complete copy is never deleted before its
replacement is in place. A completed build survives power loss: its files and folders reach the
disk before the rename that makes ``OUT`` point at them, and the rename itself is synced.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Callable, ContextManager, Iterator

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


def _syncfs(path: Path) -> bool:
    """Linux ``syncfs(2)`` on the filesystem holding ``path``; False where unavailable or failed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return libc.syncfs(fd) == 0
    except AttributeError:  # pragma: no cover - a libc without syncfs
        return False
    finally:
        os.close(fd)


def sync_tree(root: str | Path) -> str:
    """Flush every file and folder written under ``root`` to stable storage, in one call.

    Linux: ``syncfs`` on the filesystem holding ``root`` (data and metadata of every dirty file
    there, waited for; since Linux 5.8 it reports write-back errors); other POSIX systems:
    ``os.sync()``; elsewhere, or if those fail: :func:`fsync_tree`. Returns the method used."""
    root = Path(root)
    if _syncfs(root):
        return "syncfs"
    if hasattr(os, "sync") and not sys.platform.startswith("linux"):
        os.sync()  # POSIX without syncfs: waits for completion on the BSDs and macOS since 2014
        return "sync"
    fsync_tree(root)
    return "fsync"


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The one atomic file write of the package: a hidden temporary sibling
    ``.<name>.tmp-<pid>-<random>`` (readers skip it; a results store deletes it once its writer
    is gone), fsync, ``os.replace``, then an fsync of the folder so the rename survives a power
    loss. Missing parent folders are created. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    fsync_path(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, owned by someone else
        return True
    return True


def _stale_siblings(out: Path, tag: str) -> list[Path]:
    """``OUT<tag><pid>-*`` siblings whose process is dead, newest first."""
    if not out.parent.is_dir():
        return []
    prefix = out.name + tag
    found = []
    for sib in out.parent.iterdir():
        if sib.name.startswith(prefix):
            pid = sib.name[len(prefix):].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                found.append(sib)
    return sorted(found, key=lambda p: p.lstat().st_mtime, reverse=True)


def interrupted_copy(out: str | Path) -> Path | None:
    """The complete previous copy a build killed between its two renames left beside a missing
    ``out`` (``OUT.old-<pid>-*`` of a dead process), or ``None``."""
    out = Path(out)
    if os.path.lexists(out):
        return None
    olds = [p for p in _stale_siblings(out, ".old-") if (p / BUILD_RECORD).is_file()]
    return olds[0] if olds else None


def recover_previous(out: str | Path) -> Path | None:
    """Rename the copy :func:`interrupted_copy` finds back to ``out``; returns it, or ``None``."""
    out = Path(out)
    old = interrupted_copy(out)
    if old is None:
        return None
    os.rename(old, out)
    fsync_path(out.parent)
    return out


def remove_stale_temporaries(out: Path) -> None:
    """Delete ``OUT.tmp-<pid>-*`` / ``OUT.old-<pid>-*`` siblings left by dead processes, after
    renaming a complete previous copy back to a missing ``OUT`` (:func:`recover_previous`)."""
    recover_previous(out)
    for tag in (".tmp-", ".old-"):
        for sib in _stale_siblings(out, tag):
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
        _between_renames()
    try:
        os.rename(new, out)
    except BaseException:
        if old is not None:
            os.rename(old, out)
        raise
    fsync_path(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _between_renames() -> None:
    """Called between the two renames of :func:`replace_directory` (a test hook: the SIGKILL
    test pauses here); does nothing."""


@contextlib.contextmanager
def atomic_directory(out: str | Path, *, phase: Callable[[str], ContextManager] | None = None) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on clean exit it is synced to disk once
    (:func:`sync_tree`) and replaces ``out`` atomically. ``phase(name)``, when given, wraps the
    sync and the swap (progress reporting, e.g. :meth:`cnlbench.manifest.phases.Phases.phase`)."""
    out = Path(out)
    step = phase or (lambda name: contextlib.nullcontext())
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)  # first: renames an interrupted build's old copy back
    check_replaceable(out)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir()
    try:
        yield tmp
        with step("syncing to disk"):
            sync_tree(tmp)
        with step("swapping in the new folder"):
            replace_directory(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
