"""What the leaderboard and ``eval --list-methods`` say about each method: its family, a
one-line description, the paper and the code it follows.

Each method declares these in its own file (class attributes ``family``, ``summary``,
``paper``, ``code``, ``code_official`` of :class:`cnlbench.harness.methods.base.Method`);
this module reads them from the method registry, lazily, so importing the board does not
import torch. A method that declares no family (a user's own, see the README's "Bring your
own method"), or a family not in :data:`METHOD_FAMILIES`, and a name the registry does not know get
family ``other`` and no links; :func:`method_info` never fails. ``code`` is the repository
whose computation we follow (see docs/methods.md for each departure); ``code_official`` is
False where the authors released none and a widely used reimplementation is cited instead.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["METHOD_FAMILIES", "MethodInfo", "method_info", "method_infos"]

#: Family display order (the summary and the plots' small multiples follow it).
METHOD_FAMILIES = ("baseline", "regularisation", "robust loss", "loss correction", "sample selection", "other")


@dataclass(frozen=True)
class MethodInfo:
    family: str
    summary: str
    paper: str = ""
    code: str = ""
    code_official: bool = True


_OTHER = MethodInfo("other", "")


def _info(cls: type) -> MethodInfo:
    family = cls.family if cls.family in METHOD_FAMILIES else "other"
    return MethodInfo(family, cls.summary, cls.paper, cls.code, cls.code_official)


def method_infos() -> dict[str, MethodInfo]:
    """name -> :class:`MethodInfo` of every registered method that declares a family the board
    shows (not ``other``), sorted by name (imports the method registry, hence torch)."""
    from cnlbench.harness.methods.base import METHODS

    return {name: info for name, info in ((n, _info(c)) for n, c in METHODS.items()) if info.family != "other"}


def method_info(name: str) -> MethodInfo:
    """The entry of ``name`` (case-insensitive; a ``" v2"``/``" / model"`` suffix is ignored)
    from the method's class, or family ``other`` without links for a name the method registry
    does not know (a submission's own method)."""
    from cnlbench.harness.methods.base import METHODS

    key = name.strip().lower().split(" ")[0]
    return _info(METHODS.get(key)) if key in METHODS else _OTHER
