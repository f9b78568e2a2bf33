"""tools/make_digits_web.py: the committed digits web pool regenerates byte for byte."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from cnlbench.sources.digits_web import pool_path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "make_digits_web.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("make_digits_web", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_regenerates_byte_for_byte(tool, tmp_path):
    out = tool.generate(tmp_path / "digits-web")
    new, shipped = _files(out), _files(pool_path())
    assert sorted(new) == sorted(shipped)
    for name in shipped:
        assert new[name] == shipped[name], f"{name} differs from the committed pool; regenerate it"


def test_generator_cli_writes_to_out(tool, tmp_path):
    assert tool.main(["--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "split" / "red_noise_nl_0.8").is_file()


def test_script_runs_from_the_command_line():
    res = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "--out" in res.stdout


def test_one_lookalike_of_1_is_the_digit_7(tool):
    assert "7" in tool.LOOKALIKES[1]  # the pool's only incorrect retrievals with a known true class
