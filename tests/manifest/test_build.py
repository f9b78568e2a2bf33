"""Builds: layout, realised rates, seeds, reference mode, atomic replacement."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from cnlbench.errors import ManifestError, RecipeError
from cnlbench.manifest import build_from_recipe, open_dataset, validate_dataset
from cnlbench.manifest import writer as writer_mod
from cnlbench.manifest.build import carve_validation
from cnlbench.sources import make_source


def test_layout_and_report(small_build):
    names = {p.name for p in small_build.iterdir()}
    assert names == {"README.md", "cnlbench-build.json", "clean", "sym-00", "sym-40", "asym-00", "asym-40"}
    assert sorted(p.name for p in (small_build / "sym-40").iterdir()) == [
        "train-00000-of-00001.parquet",
        "validation-00000-of-00001.parquet",
    ]
    assert [p.name for p in (small_build / "clean").iterdir()] == ["test-00000-of-00001.parquet"]
    record = json.loads((small_build / "cnlbench-build.json").read_text())
    assert record["default_config"] == "sym-00"
    assert record["seed"] == 3 and record["recipe"]["name"] == "digits-small"


def test_splits_are_disjoint_and_cover_the_source(small_build):
    ds = open_dataset(small_build)
    ids = {s: set(ds.split("sym-40", s).ids.tolist()) for s in ("train", "validation", "test")}
    assert not (ids["train"] & ids["validation"]) and not (ids["train"] & ids["test"]) and not (ids["validation"] & ids["test"])
    assert sum(map(len, ids.values())) == 1797
    # ids and clean labels are stable across levels and kinds
    for config in ds.configs:
        np.testing.assert_array_equal(ds.split(config, "train").ids, ds.split("sym-00", "train").ids)
        np.testing.assert_array_equal(ds.split(config, "train").clean_label, ds.split("sym-00", "train").clean_label)


@pytest.mark.parametrize("config, level", [("sym-00", 0.0), ("sym-40", 0.4), ("asym-00", 0.0)])
def test_requested_level_and_realised_rate(small_build, config, level):
    ds = open_dataset(small_build)
    for split in ("train", "validation"):
        sp = ds.split(config, split)
        assert sp.metadata["requested_level"] == level
        assert sp.metadata["realised_rate"] == pytest.approx(sp.is_noisy.mean(), abs=0)
        np.testing.assert_array_equal(sp.is_noisy, sp.label != sp.clean_label)
        np.testing.assert_array_equal(sp.noise_source == "synthetic", sp.is_noisy)
        if level == 0.0:
            assert not sp.is_noisy.any()
        else:  # exact counts: within one example per class of the target
            assert abs(sp.is_noisy.sum() - level * len(sp)) <= ds.num_classes


def test_symmetric_40_is_exact_and_nested(small_build):
    ds = open_dataset(small_build)
    sp = ds.split("sym-40", "train")
    assert abs(sp.is_noisy.mean() - 0.4) < 0.01
    assert sp.metadata["nested"] is True and sp.metadata["orientation"] == "T[i,j] = P(noisy=j | clean=i)"
    t = ds.transition_matrix("sym-40")
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diag(t), 0.6)


def test_asym_pairs_flip_only_to_the_named_class(small_build):
    ds = open_dataset(small_build)
    sp = ds.split("asym-40", "train")
    pairs = {1: 7, 7: 1, 3: 8, 8: 3}
    flipped = sp.is_noisy
    assert flipped.any()
    for clean, noisy in zip(sp.clean_label[flipped], sp.label[flipped]):
        assert pairs[int(clean)] == int(noisy)
    t = ds.transition_matrix("asym-40")
    assert t[1, 7] == pytest.approx(0.4) and t[0, 0] == 1.0
    counts = np.asarray(sp.metadata["realised_counts"])
    assert counts.sum() == len(sp) and counts[1, 7] == int(((sp.clean_label == 1) & (sp.label == 7)).sum())


def test_seed_changes_labels_but_not_splits(tmp_path, recipe, small_build):
    other = build_from_recipe(recipe(), tmp_path / "seed4", seed=4).out
    a, b = open_dataset(small_build).split("sym-40", "train"), open_dataset(other).split("sym-40", "train")
    np.testing.assert_array_equal(a.ids, b.ids)
    assert (a.label != b.label).any()
    assert a.metadata["seed"] == 3 and b.metadata["seed"] == 4
    # the clean test split does not depend on the seed
    assert open_dataset(small_build).split("sym-00", "test").fingerprint == open_dataset(other).split("sym-00", "test").fingerprint


def test_adding_a_config_does_not_change_other_configs(tmp_path, recipe, small_build):
    rec = recipe()
    rec["configs"] = [{"kind": "pf", "noise": "pair-flip"}] + rec["configs"]
    out = build_from_recipe(rec, tmp_path / "more").out
    a, b = open_dataset(small_build), open_dataset(out)
    assert b.default_config == "pf-00"
    for config in ("sym-40", "asym-40"):
        assert a.fingerprint(config) == b.fingerprint(config)


def test_carve_validation_is_stratified_and_fixed():
    train = make_source("digits").load_split("train")
    a_train, a_val = carve_validation(train, 0.125)
    b_train, b_val = carve_validation(train, 0.125)
    np.testing.assert_array_equal(a_val.ids, b_val.ids)
    for c in range(10):
        n = int((train.labels == c).sum())
        assert int((a_val.labels == c).sum()) == int(np.floor(0.125 * n + 0.5))
    assert len(a_train) + len(a_val) == len(train)


def test_reference_mode_writes_images_once(tmp_path, recipe):
    out = build_from_recipe(recipe(images="reference", levels=[0.2]), tmp_path / "ref").out
    assert len(list((out / "images").iterdir())) == 1797
    ds = open_dataset(out)
    sp = ds.split("sym-20", "train")
    assert sp.table.column_names == ["id", "image_path", "label", "clean_label", "is_noisy", "noise_source", "image_sha256"]
    assert all(p.startswith("images/") for p in sp.table.column("image_path").to_pylist())
    assert sp.images_uint8().shape == (len(sp), 8, 8, 1)
    validate_dataset(out)


def test_refuses_to_replace_a_non_build_folder(tmp_path, recipe):
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(ManifestError, match="refusing to replace"):
        build_from_recipe(recipe(levels=[0.0]), precious)
    assert (precious / "thesis.tex").read_text() == "do not delete"


def test_unknown_family_and_bad_params(tmp_path, recipe):
    with pytest.raises(RecipeError, match="unknown noise family"):
        build_from_recipe(recipe(configs=[{"kind": "x", "noise": "gaussian"}]), tmp_path / "a")
    with pytest.raises(RecipeError, match=r"configs\[kind=x\]\.pairs\.1"):
        build_from_recipe(recipe(configs=[{"kind": "x", "noise": "pairs", "pairs": {"1": "eleven"}}]), tmp_path / "b")
    with pytest.raises(RecipeError, match=r"configs\[kind=x\]\.matrix"):
        build_from_recipe(recipe(configs=[{"kind": "x", "noise": "matrix", "matrix": [[1.0]]}]), tmp_path / "c")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def _siblings(out):
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(out.name))


def test_exception_during_writing_keeps_previous_build(tmp_path, recipe, monkeypatch):
    out = tmp_path / "atomic"
    build_from_recipe(recipe(levels=[0.0]), out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    calls = {"n": 0}
    real = writer_mod.write_table

    def failing(table, path):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (injected)")
        real(table, path)

    monkeypatch.setattr("cnlbench.manifest.build.write_table", failing)
    with pytest.raises(OSError, match="injected"):
        build_from_recipe(recipe(levels=[0.0, 0.4]), out)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert _siblings(out) == ["atomic"]  # no temporary left behind


def test_first_build_interrupted_leaves_no_folder(tmp_path, recipe, monkeypatch):
    out = tmp_path / "fresh"

    def failing(table, path):
        raise KeyboardInterrupt

    monkeypatch.setattr("cnlbench.manifest.build.write_table", failing)
    with pytest.raises(KeyboardInterrupt):
        build_from_recipe(recipe(levels=[0.0]), out)
    assert _siblings(out) == []


KILL_SCRIPT = """
import sys, time
import cnlbench.manifest.build as b
real = b.write_table
def slow(table, path):
    real(table, path)
    print("WROTE", flush=True)
    time.sleep(60)
b.write_table = slow
from cnlbench.manifest import build_from_recipe
build_from_recipe({recipe!r}, {out!r})
"""


def test_killed_build_keeps_previous_complete_folder(tmp_path, recipe):
    out = tmp_path / "killed"
    build_from_recipe(recipe(levels=[0.0]), out)
    before = validate_dataset(out)
    code = KILL_SCRIPT.format(recipe=recipe(levels=[0.0, 0.4]), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "WROTE"  # mid-build: one file written
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert validate_dataset(out) == before  # the previous complete build, untouched
    assert [n for n in _siblings(out) if n != "killed"] and all(".tmp-" in n for n in _siblings(out) if n != "killed")
    # the next build removes the dead process's temporary and replaces the folder
    build_from_recipe(recipe(levels=[0.0, 0.4]), out)
    assert _siblings(out) == ["killed"]
    assert "sym-40" in open_dataset(out).configs
