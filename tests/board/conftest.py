"""Fixtures for the board tests (helpers live in board_fixtures.py, importable by test modules)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from board_fixtures import toy_rows, write_store


@pytest.fixture
def toy_store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "results", toy_rows())


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
