"""The registry of reproduced papers: a paper is ONE module of ``cnlbench/reproduce/papers/``
that builds its :class:`~cnlbench.reproduce.model.Reproduction` and calls
:func:`register_reproduction` (a module holding published numbers without a reproduction yet
calls :func:`register_reference`). Found by :class:`cnlbench.registry.Registry`: adding a paper
touches no other file.
"""

from __future__ import annotations

from typing import Sequence

from cnlbench.errors import CnlbenchError
from cnlbench.registry import Registry
from cnlbench.reproduce.model import Published, Reproduction

_PAPERS = "cnlbench.reproduce.papers"

REPRODUCTIONS: Registry[Reproduction] = Registry("reproduction", _PAPERS, error=CnlbenchError, skip=("registry",))
#: Published numbers kept as context for the board, by module, for papers not reproduced (yet).
REFERENCES: Registry[tuple[Published, ...]] = Registry(
    "reference number set", _PAPERS, error=CnlbenchError, skip=("registry",))


def register_reproduction(reproduction: Reproduction) -> Reproduction:
    """Register ``reproduction`` under its ``name`` (what ``cnlbench reproduce NAME`` takes)."""
    return REPRODUCTIONS.add(reproduction.name, reproduction)


def register_reference(name: str, published: Sequence[Published]) -> tuple[Published, ...]:
    """Register published numbers of a paper without a reproduction, under ``name``."""
    return REFERENCES.add(name, tuple(published))


__all__ = ["REFERENCES", "REPRODUCTIONS", "register_reference", "register_reproduction"]
