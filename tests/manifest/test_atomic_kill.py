"""SIGKILL between a build's two renames: the complete previous copy is never deleted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnlbench.errors import ManifestError
from cnlbench.manifest import build_from_recipe, open_dataset, validate_dataset

RECIPE = {"name": "digits-kill", "seed": 1, "source": {"kind": "digits"},
          "splits": {"validation": {"from": "train", "fraction": 0.125}}, "images": "embed",
          "levels": [0.0, 0.2], "configs": [{"kind": "sym", "noise": "symmetric"}]}

CHILD = """
import json, sys, time
from pathlib import Path
import cnlbench.manifest.atomic as atomic
from cnlbench.manifest import build_from_recipe
marker = Path(sys.argv[2])
def pause():
    marker.write_text("between")
    time.sleep(120)
atomic._between_renames = pause
build_from_recipe(json.loads(sys.argv[1]), sys.argv[3], seed=2)
"""


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name and p.name.startswith(out.name))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_between_renames_keeps_the_complete_old_copy(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    build_from_recipe(RECIPE, out, seed=1)
    old_fp = validate_dataset(out)
    marker = tmp_path / "marker"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(RECIPE), str(marker), str(out)], env=env)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert proc.poll() is None, "the child build exited before reaching the swap"
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    # killed between the renames: no OUT, the old copy aside, the new one complete in .tmp-
    assert not out.exists()
    olds = [n for n in _siblings(out) if ".old-" in n]
    assert len(olds) == 1
    with pytest.raises(ManifestError, match=r"killed while swapping.*\.old-"):
        open_dataset(out)
    # the next build renames the old copy back before anything else, then replaces it
    from cnlbench.manifest.atomic import recover_previous

    assert recover_previous(out) == out
    assert validate_dataset(out) == old_fp  # the complete previous build, intact
    report = build_from_recipe(RECIPE, out, seed=2)
    assert validate_dataset(report.out) != old_fp
    assert _siblings(out) == []


def test_next_build_restores_then_replaces(tmp_path: Path) -> None:
    """A stale ``.old-`` copy of a dead process beside a missing OUT is renamed back, not deleted."""
    out = tmp_path / "ds"
    build_from_recipe(RECIPE, out, seed=1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    aside = out.with_name(f"ds.old-{int(dead.stdout)}-abcd")
    os.rename(out, aside)
    from cnlbench.manifest.atomic import interrupted_copy

    assert interrupted_copy(out) == aside
    # a build that fails inside the swap's folder never touches the restored copy
    with pytest.raises(RuntimeError):
        from cnlbench.manifest.atomic import atomic_directory

        with atomic_directory(out):
            assert (out / "cnlbench-build.json").is_file()  # restored first
            raise RuntimeError("boom")
    assert (out / "cnlbench-build.json").is_file() and _siblings(out) == []
