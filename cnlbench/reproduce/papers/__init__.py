"""The reproduced papers: one module per paper, each defining ``REPRODUCTION`` (a
:class:`cnlbench.reproduce.model.Reproduction`): the full citation, the published numbers with
where each was read, the paper's claims as checks and the smoke / reduced / full scale plans.
Each module registers itself (:mod:`cnlbench.reproduce.papers.registry`); the modules are
imported on the first lookup."""

from __future__ import annotations

from cnlbench.errors import CnlbenchError
from cnlbench.reproduce.model import SCALES, TRUST_LEVELS, Published, Reproduction
from cnlbench.reproduce.papers.registry import REFERENCES, REPRODUCTIONS


def reproduction_names() -> list[str]:
    """Every registered reproduction, sorted."""
    return REPRODUCTIONS.names()


def get_reproduction(name: str) -> Reproduction:
    """The reproduction registered as ``name``; the error lists the valid names."""
    if name not in REPRODUCTIONS:
        raise CnlbenchError(f"unknown reproduction {name!r}; valid names: {reproduction_names()} (see `cnlbench reproduce --list`)")
    return REPRODUCTIONS.get(name)


def published_data() -> dict[str, tuple[Published, ...]]:
    """Every stored published number: by reproduction, then the reference sets (papers not
    reproduced, by module)."""
    out = {name: r.published for name, r in REPRODUCTIONS.items()}
    out.update(REFERENCES.items())
    return out


def list_text() -> str:
    """The ``--list`` text: name, title, citation, scales with their statements."""
    out = []
    for name in reproduction_names():
        r = get_reproduction(name)
        out.append(f"{name}\n  {r.authors}, \"{r.title}\", {r.venue} (arXiv:{r.arxiv})\n  {r.description}")
        by_trust = ", ".join(f"{sum(p.trust == t for p in r.published)} {t}" for t in TRUST_LEVELS)
        out.append(f"  published numbers stored: {len(r.published)} ({by_trust}); checks: {len(r.checks)}")
        for scale in SCALES:
            if scale in r.scales:
                out.append(f"  --scale {scale:<8} {r.scales[scale].statement}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
