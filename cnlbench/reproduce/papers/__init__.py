"""The reproduced papers: one module per paper, each defining ``REPRODUCTION`` (a
:class:`cnlbench.reproduce.model.Reproduction`): the full citation, the published numbers with
where each was read, the paper's claims as checks and the smoke / reduced / full scale plans.
Registered here in :data:`REPRODUCTION_MODULES` (a module is imported on first use)."""

from __future__ import annotations

import importlib

from cnlbench.errors import CnlbenchError
from cnlbench.reproduce.model import SCALES, TRUST_LEVELS, Published, Reproduction

REPRODUCTION_MODULES = {
    "patrini2017": "cnlbench.reproduce.papers.patrini2017",
    "jiang2020": "cnlbench.reproduce.papers.jiang2020",
    "thulasidasan2019-dac": "cnlbench.reproduce.papers.thulasidasan2019_dac",
    "thulasidasan2019-mixup": "cnlbench.reproduce.papers.thulasidasan2019_mixup",
}
#: Modules holding published numbers without a reproduction yet (context for the board).
REFERENCE_MODULES = ("cnlbench.reproduce.papers.wei2022_cifarn",)


def reproduction_names() -> list[str]:
    return list(REPRODUCTION_MODULES)


def get_reproduction(name: str) -> Reproduction:
    """The reproduction registered as ``name`` (its module is imported on first use)."""
    if name not in REPRODUCTION_MODULES:
        raise CnlbenchError(f"unknown reproduction {name!r}; valid names: {reproduction_names()} (see `cnlbench reproduce --list`)")
    return importlib.import_module(REPRODUCTION_MODULES[name]).REPRODUCTION


def published_data() -> dict[str, tuple[Published, ...]]:
    """Every stored published number, by module (the reproductions and :data:`REFERENCE_MODULES`)."""
    out = {name: get_reproduction(name).published for name in reproduction_names()}
    for mod in REFERENCE_MODULES:
        out[mod.rsplit(".", 1)[-1]] = importlib.import_module(mod).PUBLISHED
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
