"""`--set KEY=VALUE` recipe overrides (cnlbench build)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnlbench.errors import RecipeError
from cnlbench.manifest.recipe import apply_overrides

RAW = {"name": "x", "seed": 0, "source": {"kind": "cifar10", "root": "../data/cifar10"},
       "configs": [{"kind": "sym", "noise": "symmetric"}, {"kind": "h", "noise": "human", "file": "a.pt"}]}


@pytest.mark.parametrize(
    "override, path, expected",
    [
        ("seed=3", ("seed",), 3),
        ("levels=[0.0, 0.4]", ("levels",), [0.0, 0.4]),
        ("configs.0.kind=symm", ("configs", 0, "kind"), "symm"),
        ("source.root=/data/c10", ("source", "root"), "/data/c10"),
    ],
)
def test_override_sets_value(override, path, expected):
    out = apply_overrides(RAW, [override])
    node = out
    for p in path:
        node = node[p]
    assert node == expected
    assert RAW["seed"] == 0 and RAW["configs"][0]["kind"] == "sym"  # input untouched


def test_relative_path_values_resolve_against_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = apply_overrides(RAW, ["configs.1.file=labels/c10n.pt", "source.root=data"])
    assert out["configs"][1]["file"] == str(tmp_path / "labels" / "c10n.pt")
    assert Path(out["source"]["root"]) == tmp_path / "data"


@pytest.mark.parametrize("bad, words", [("seed", "KEY=VALUE"), ("configs.7.file=x", "0..1"),
                                        ("seed.x=1", "not a mapping")])
def test_bad_overrides_name_the_key_and_fix(bad, words):
    with pytest.raises(RecipeError, match=words):
        apply_overrides(RAW, [bad])


def test_build_cli_applies_overrides(tmp_path, repo_root):
    from cnlbench.cli import main
    from cnlbench.manifest import open_dataset

    out = tmp_path / "d"
    rc = main(["build", str(repo_root / "recipes" / "digits.yaml"), "--out", str(out), "--no-validate",
               "--set", "levels=[0.0, 0.2]", "--set", "configs=[{kind: sym, noise: symmetric}]"])
    assert rc == 0
    assert open_dataset(out).configs == ["sym-00", "sym-20"]
