"""No module of the package reads or assigns another object's private members.

A name starting with one underscore is private to its class or module. Checked statically on
every module under ``cnlbench/``: ``obj._name`` is allowed only on ``self``/``cls``
(or on a third-party module such as ``torch._dynamo``), and ``from cnlbench... import _name``
(a private name of another module) is refused. Private MODULES (``methods/_common.py``) are
package-internal helpers and may be imported by their package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnlbench"

#: Third-party private members read on purpose, by module, with the reason.
THIRD_PARTY = {
    "sources/safe_pickle.py": {
        "_np_multiarray()._reconstruct": "numpy's own array reconstructor: the one global a NumPy pickle names for "
                                          "an ndarray, wrapped so that only plain numeric dtypes pass",
        "_np_core_numeric()._frombuffer": "numpy's own buffer reconstructor (NumPy >= 2 pickles), wrapped likewise",
    },
}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    outside: set[str] = set()  # names bound to modules outside cnlbench (torch, numpy, ...)
    bad: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if not a.name.startswith("cnlbench"):
                    outside.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("cnlbench"):
                bad += [f"line {node.lineno}: from {node.module} import {a.name}" for a in node.names if _private(a.name)]
            else:
                outside.update(a.asname or a.name for a in node.names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            if isinstance(base, ast.Name) and (base.id in ("self", "cls") or base.id in outside):
                continue
            if isinstance(base, ast.Attribute):  # torch._dynamo.x, np._core.y
                root = base
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id in outside and not _private(base.attr):
                    continue
            bad.append(f"line {node.lineno}: {ast.unparse(node)}")
    return bad


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_member_of_another_object(path: Path) -> None:
    rel = path.relative_to(PACKAGE).as_posix()
    allowed = THIRD_PARTY.get(rel, {})
    bad = [b for b in _violations(path) if b.split(": ", 1)[1] not in allowed]
    assert not bad, f"{rel} reads another object's private members: {bad}"
