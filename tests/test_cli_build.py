"""`cnlbench build` through the CLI dispatcher."""

from __future__ import annotations

import json

import pytest

from cnlbench.cli import main
from cnlbench.manifest import open_dataset


def test_build_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["build", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for needle in ("RECIPE", "--out", "--seed", "docs/recipes.md", "load_dataset", "atomically"):
        assert needle in out


def test_build_end_to_end(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: tiny\nseed: 1\nsource: {kind: digits}\nsplits: {validation: {from: train, fraction: 0.1}}\n"
        "levels: [0.0, 0.2]\nconfigs:\n  - {kind: sym, noise: symmetric}\n"
    )
    out = tmp_path / "out"
    assert main(["build", str(recipe), "--out", str(out), "--seed", "7"]) == 0
    text = capsys.readouterr().out
    assert "sym-00 (default)" in text and "sym-20" in text and "realised train" in text and "nested" in text
    ds = open_dataset(out)
    assert ds.configs == ["sym-00", "sym-20"]
    assert json.loads((out / "cnlbench-build.json").read_text())["seed"] == 7


def test_build_recipe_error_exit_code(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: tiny\nsource: {kind: digits}\nconfigs: [{kind: sym, noise: symmetric}]\nlevels: [0.5, 2]\n")
    assert main(["build", str(recipe), "--out", str(tmp_path / "o")]) == 2
    assert "`levels`" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
