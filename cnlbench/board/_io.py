"""Atomic file writes for the board layer: temporary sibling, fsync, ``os.replace``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "slugify"]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (readers see the old file or the new one, never half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these files are published
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


_SLUG_MAX = 80


def slugify(text: str) -> str:
    """A safe file-name stem: lowercase ``[a-z0-9._-]``, no leading dot, at most 80 characters.

    Path separators, ``..``, NUL and every other character collapse to ``-``, so the result
    can never name a parent folder or an absolute path. Empty results raise ``ValueError``.
    """
    import re

    slug = re.sub(r"[^a-z0-9._]+", "-", text.lower())
    slug = re.sub(r"\.{2,}", "-", slug)
    slug = re.sub(r"-{2,}", "-", slug).strip("-._")[:_SLUG_MAX].strip("-._")
    if not slug:
        raise ValueError(f"{text!r} has no letters or digits to name a file after; use a plain name")
    return slug
