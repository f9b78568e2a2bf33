"""Builds talk (a line or bar per phase) and sync once per build, not once per file."""

from __future__ import annotations

import io
import os
import sys

import pytest

import cnlbench.manifest.atomic as atomic
from cnlbench.cli import main
from cnlbench.manifest import build_from_recipe, validate_dataset
from cnlbench.manifest.phases import Phases

PHASES = ["loading the source", "drawing the noise", "writing images", "writing configs", "syncing to disk",
          "swapping in the new folder"]


def test_every_phase_is_reported_in_order(tmp_path, recipe) -> None:
    stream = io.StringIO()
    build_from_recipe(recipe(images="reference", levels=[0.0, 0.4]), tmp_path / "ref",
                      progress=Phases("build t", live=False, stream=stream))
    lines = stream.getvalue().splitlines()
    done = [line.split("] ", 1)[1].split(":")[0] for line in lines if ": done in " in line]
    assert done == PHASES
    assert "[build t] writing images (" in stream.getvalue()  # its size is announced
    assert lines[-1].startswith("[build t] finished in ")


def test_embedded_builds_read_images_and_the_cli_reports_without_a_terminal(tmp_path, recipe, capsys) -> None:
    import yaml

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe(levels=[0.0])), encoding="utf-8")
    assert main(["build", str(path), "--out", str(tmp_path / "emb")]) == 0
    err = capsys.readouterr().err
    for phase in ("loading the source", "drawing the noise", "reading images", "writing configs", "syncing to disk"):
        assert f"[build digits-small] {phase}: done in " in err, phase
    assert main(["build", str(path), "--out", str(tmp_path / "emb2"), "--no-progress"]) == 0
    assert "[build" not in capsys.readouterr().err


def test_a_stopped_phase_says_so(tmp_path) -> None:
    stream = io.StringIO()
    phases = Phases("job", live=False, stream=stream)
    with pytest.raises(KeyboardInterrupt):
        with phases.phase("writing images", total=10, unit="images") as tick:
            tick(3)
            raise KeyboardInterrupt
    assert "[job] writing images: stopped after " in stream.getvalue()
    with Phases("quiet", enabled=False, stream=stream).phase("x", total=5) as tick:
        tick(5)
    assert "quiet" not in stream.getvalue()


def test_long_phases_report_progress_lines(tmp_path) -> None:
    stream = io.StringIO()
    phases = Phases("job", live=False, stream=stream, interval_s=0.0)
    with phases.phase("writing images", total=4, unit="images") as tick:
        for _ in range(4):
            tick(1)
    assert "[job] writing images: 2/4 images (50%)" in stream.getvalue()


def test_live_phases_draw_bars(tmp_path, recipe) -> None:
    stream = io.StringIO()
    build_from_recipe(recipe(levels=[0.0]), tmp_path / "b", progress=Phases("build t", live=True, stream=stream))
    text = stream.getvalue()
    assert "build t: reading images" in text and "build t: syncing to disk" in text


def test_one_sync_per_build_before_the_rename(tmp_path, recipe, monkeypatch) -> None:
    """Durability with one sync: every file of the new folder is flushed (one filesystem sync)
    BEFORE the rename that publishes it, the rename is then synced (parent fsync), and no
    per-file fsync happens (1,797 image files in this reference build)."""
    events: list[str] = []
    real_sync, real_rename, real_fsync = atomic.sync_tree, os.rename, os.fsync

    def sync(root):
        events.append(f"sync {os.path.basename(str(root)).split('.tmp-')[0]}")
        return real_sync(root)

    def rename(src, dst):
        events.append(f"rename {os.path.basename(str(src)).split('.tmp-')[0]} -> {os.path.basename(str(dst))}")
        return real_rename(src, dst)

    def fsync(fd):
        events.append("fsync")
        return real_fsync(fd)

    monkeypatch.setattr(atomic, "sync_tree", sync)
    monkeypatch.setattr(atomic.os, "rename", rename)
    monkeypatch.setattr(atomic.os, "fsync", fsync)
    out = tmp_path / "ref"
    build_from_recipe(recipe(images="reference", levels=[0.0, 0.4]), out)
    assert len(list((out / "images").iterdir())) == 1797
    assert events[0] == "sync ref"
    assert events[1] == "rename ref -> ref"  # the temporary folder becomes OUT after the sync
    assert events.count("sync ref") == 1 and events.count("fsync") <= 2  # no per-file fsync
    validate_dataset(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux-only")
def test_sync_tree_uses_one_syncfs_on_linux(tmp_path) -> None:
    (tmp_path / "a").write_bytes(b"x")
    assert atomic.sync_tree(tmp_path) == "syncfs"


def test_image_progress_counts_every_image(tmp_path, recipe) -> None:
    """The image phase advances image by image (not a split at a time) and ends at its total."""
    ticks: list[int] = []

    class Counting(Phases):
        def phase(self, name, total=None, unit=""):
            cm = super().phase(name, total, unit)
            if name != "writing images":
                return cm
            import contextlib

            @contextlib.contextmanager
            def wrapped():
                with cm as tick:
                    def counting(n=1):
                        ticks.append(n)
                        tick(n)
                    yield counting
            ticks.append(-int(total))
            return wrapped()

    build_from_recipe(recipe(images="reference", levels=[0.0, 0.4]), tmp_path / "ref",
                      progress=Counting("b", live=False, stream=io.StringIO()))
    total = -ticks[0]
    assert total >= 1797 and set(ticks[1:]) == {1} and len(ticks) - 1 == total
