"""Recipe validation: every error names the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnlbench.errors import RecipeError
from cnlbench.manifest import load_recipe
from cnlbench.manifest.recipe import config_name


def test_small_recipe_parses_with_defaults(recipe):
    r = load_recipe(recipe())
    assert r.levels == (0.0, 0.4) and r.nested and r.mode == "exact" and r.images == "embed"
    assert [e.kind for e in r.configs] == ["sym", "asym"]
    assert r.configs[1].params == {"pairs": {"1": "7", "7": "1", "3": "8", "8": "3"}}


def test_default_levels_are_the_ten_standard_levels(recipe):
    rec = recipe()
    del rec["levels"]
    assert load_recipe(rec).levels == (0.0, 0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60, 0.80)


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"colour": "blue"}, "colour"),
        ({"name": "bad name!"}, "name"),
        ({"seed": -1}, "seed"),
        ({"seed": "zero"}, "seed"),
        ({"source": "digits"}, "source"),
        ({"images": "copy"}, "images"),
        ({"levels": [0.1, 1.0]}, "levels"),
        ({"levels": [0.125]}, "levels"),
        ({"levels": [0.1, 0.1]}, "levels"),
        ({"levels": []}, "levels"),
        ({"nested": "yes"}, "nested"),
        ({"mode": "approximate"}, "mode"),
        ({"configs": []}, "configs"),
        ({"configs": [{"noise": "symmetric"}]}, "configs[0].kind"),
        ({"configs": [{"kind": "sym"}]}, "configs[0].noise"),
        ({"configs": [{"kind": "Sym!", "noise": "symmetric"}]}, "configs[0].kind"),
        ({"configs": [{"kind": "sym", "noise": "symmetric"}, {"kind": "sym", "noise": "pair-flip"}]}, "configs[1].kind"),
        ({"configs": [{"kind": "clean", "noise": "symmetric"}]}, "configs[0].kind"),
        ({"configs": [{"kind": "sym", "noise": "symmetric", "levels": [2]}]}, "configs[0].levels"),
        ({"configs": [{"kind": "sym", "noise": "symmetric", "mode": "x"}]}, "configs[0].mode"),
        ({"splits": {"validation": {"from": "test", "fraction": 0.1}}}, "splits.validation.from"),
        ({"splits": {"validation": {"from": "train", "fraction": 1.5}}}, "splits.validation.fraction"),
        ({"splits": {"holdout": {}}}, "splits.holdout"),
    ],
)
def test_recipe_errors_name_the_key(recipe, changes, key):
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe(**changes))
    assert f"`{key}`" in str(err.value)


@pytest.mark.parametrize("missing", ["name", "source", "configs"])
def test_missing_required_key(recipe, missing):
    rec = recipe()
    del rec[missing]
    with pytest.raises(RecipeError, match=f"`{missing}`: missing"):
        load_recipe(rec)


def test_yaml_file_paths_resolve_against_recipe_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "r.yaml"
    path.write_text("name: x\nsource: {kind: imagefolder, root: data, other: keep}\nconfigs: [{kind: sym, noise: symmetric}]\n")
    r = load_recipe(path)
    opts = r.resolved_source_options()
    assert Path(opts["root"]) == tmp_path / "sub" / "data"
    assert opts["other"] == "keep"
    assert r.raw["source"]["root"] == "data"  # recorded as written, no machine path


def test_a_list_of_paths_resolves_entry_by_entry_against_the_recipe_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "r.yaml"
    path.write_text("name: x\nsource: {kind: cnwl, root: rel, image_dir: [imgs, /abs/imgs]}\n"
                    "configs: [{kind: sym, noise: symmetric}]\n")
    opts = load_recipe(path).resolved_source_options()
    assert [Path(p) for p in opts["image_dir"]] == [tmp_path / "sub" / "imgs", Path("/abs/imgs")]


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
    with pytest.raises(FileNotFoundError, match="does not exist") as missing:
        load_recipe(tmp_path / "nope.yaml")
    from cnlbench.errors import MissingDataError

    assert isinstance(missing.value, MissingDataError) and "nope.yaml" in str(missing.value)


@pytest.mark.parametrize("kind, level, name", [("sym", 0.0, "sym-00"), ("sym", 0.05, "sym-05"), ("web", 0.8, "web-80"), ("asym", 0.3, "asym-30")])
def test_config_names(kind, level, name):
    assert config_name(kind, level) == name


def test_committed_recipe_is_valid(repo_root):
    r = load_recipe(repo_root / "recipes" / "digits.yaml")
    assert r.name == "digits" and len(r.levels) == 10 and r.nested
    assert {e.kind for e in r.configs} >= {"sym", "asym"}
