"""Safe file names for the board layer (files are written with
:func:`cnlbench.manifest.atomic.atomic_write_text`, the package's one atomic write)."""

from __future__ import annotations

import re

from cnlbench.errors import CnlbenchError

__all__ = ["slugify"]

_SLUG_MAX = 80


def slugify(text: str) -> str:
    """A safe file-name stem: lowercase ``[a-z0-9._-]``, no leading dot, at most 80 characters.

    Path separators, ``..``, NUL and every other character collapse to ``-``, so the result
    can never name a parent folder or an absolute path. A text with no letter or digit raises
    :class:`~cnlbench.errors.CnlbenchError` naming it.
    """
    slug = re.sub(r"[^a-z0-9._]+", "-", text.lower())
    slug = re.sub(r"\.{2,}", "-", slug)
    slug = re.sub(r"-{2,}", "-", slug).strip("-._")[:_SLUG_MAX].strip("-._")
    if not slug:
        raise CnlbenchError(f"{text!r} has no letters or digits to name a file after; use a plain name")
    return slug
