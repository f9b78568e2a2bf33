"""Shared test fixtures. Tests run offline (HF_HUB_OFFLINE=1) and never need a GPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout (CI clones main with ../shared beside it).
SHARED_DATA = Path(os.environ.get("CNLBENCH_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder; skips the test (with the reason) when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the checkout in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def digits_dir(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits default build: the committed ``manifests/digits`` when present, else built
    once per session from ``recipes/digits.yaml`` into a temporary folder."""
    committed = repo_root / "manifests" / "digits"
    if (committed / "cnlbench-build.json").is_file():
        return committed
    from cnlbench.manifest import build_from_recipe

    out = tmp_path_factory.mktemp("build") / "digits"
    build_from_recipe(repo_root / "recipes" / "digits.yaml", out)
    return out
