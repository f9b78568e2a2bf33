"""Fixtures for manifest tests: small digits recipes built once per module."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnlbench.manifest import build_from_recipe

SMALL_RECIPE = {
    "name": "digits-small",
    "description": "A small digits build for tests.",
    "license": "CC-BY-4.0",
    "seed": 3,
    "source": {"kind": "digits"},
    "splits": {"validation": {"from": "train", "fraction": 0.125}},
    "images": "embed",
    "levels": [0.0, 0.4],
    "nested": True,
    "configs": [
        {"kind": "sym", "noise": "symmetric"},
        {"kind": "asym", "noise": "pairs", "pairs": {"1": "7", "7": "1", "3": "8", "8": "3"}},
    ],
}


def small_recipe(**changes) -> dict:
    r = copy.deepcopy(SMALL_RECIPE)
    r.update(changes)
    return r


@pytest.fixture(scope="session")
def small_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small") / "digits-small"
    build_from_recipe(small_recipe(), out)
    return out


def run_python(code: str, cwd: Path, **env) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, offline, with a private HF cache under ``cwd``."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(cwd / "hf-home"), **env}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def recipe():
    """``recipe(**changes)``: a copy of the small digits recipe with top-level keys replaced."""
    return small_recipe


@pytest.fixture
def python_run():
    """``python_run(code, cwd, **env)``: run code in a fresh offline interpreter."""
    return run_python
