"""The package layout shows the architecture: each layer imports only the layers before it.

Order: errors -> noise -> sources -> manifest -> harness -> board -> reproduce -> cli (paper
reproductions build data and train, so they sit above the board's statistics and below the CLI).
Checked statically on every module's import statements (including imports inside functions), so
a lazy import cannot sneak a dependency upwards either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "cnlbench"
ORDER = ["errors", "noise", "sources", "manifest", "harness", "board", "reproduce", "cli"]


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "cnlbench" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in ORDER else None


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if _layer("cnlbench." + p.relative_to(PKG).parts[0].removesuffix(".py")))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_module_imports_only_lower_layers(path: Path) -> None:
    own = _layer("cnlbench." + path.relative_to(PKG).parts[0].removesuffix(".py"))
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            layer = _layer(name)
            if layer is not None and ORDER.index(layer) > ORDER.index(own):
                bad.append(f"line {node.lineno}: {name}")
    assert not bad, f"{path.relative_to(PKG)} ({own}) imports a higher layer: {bad}"


def test_no_top_level_torchvision_import() -> None:
    offenders = []
    for path in PKG.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mod = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if mod and mod.split(".")[0] == "torchvision":
                    offenders.append(str(path.relative_to(PKG)))
    assert not offenders, f"torchvision imported at module level (it does not import on CPU torch): {offenders}"
