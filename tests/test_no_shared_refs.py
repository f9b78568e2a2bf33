"""What users read never points at ../shared (the developers' folder, not shipped)."""

from __future__ import annotations

from pathlib import Path


def test_docs_readme_and_package_never_cite_the_shared_folder(repo_root: Path):
    files = [repo_root / "README.md", *sorted((repo_root / "docs").glob("*.md")),
             *sorted((repo_root / "cnlbench").rglob("*.py"))]
    hits = [f"{p.relative_to(repo_root)}:{i}" for p in files
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if "../shared" in line]
    assert not hits, hits
