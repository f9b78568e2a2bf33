"""The noise-family plug-in interface."""

from __future__ import annotations

import numpy as np
import pytest

from cnlbench.errors import RecipeError
from cnlbench.manifest import ConfigPlan, FamilyContext, SplitPlan, build_from_recipe, load_recipe, open_dataset, register_family
from cnlbench.manifest.families import get_family
from cnlbench.sources import make_source


def _ctx(recipe, entry: int = 0, seed: int = 0) -> FamilyContext:
    r = load_recipe(recipe())
    train = make_source("digits").load_split("train")
    return FamilyContext(entry=r.configs[entry], class_names=tuple(str(d) for d in range(10)), splits={"train": train, "validation": train}, seed=seed)


def test_generators_are_stable_and_keyed_by_kind_and_split(recipe):
    a, b = _ctx(recipe, 0), _ctx(recipe, 1)
    assert a.rng.integers(1 << 30) == _ctx(recipe, 0).rng.integers(1 << 30)
    assert a.rng.integers(1 << 30) != b.rng.integers(1 << 30)
    assert a.split_rng("train").integers(1 << 30) != a.split_rng("validation").integers(1 << 30)
    assert a.rng.integers(1 << 30) != _ctx(recipe, 0, seed=1).rng.integers(1 << 30)


def test_a_registered_family_is_built(tmp_path, recipe):
    @register_family("test-structured-zero")
    def build(ctx: FamilyContext) -> list[ConfigPlan]:
        ctx.check_params(["target"])
        target = ctx.param("target", types=int)
        plans = []
        for level in ctx.levels:
            splits = {}
            for split in ("train", "validation"):
                clean = ctx.splits[split]
                k = int(round(level * len(clean)))
                pick = ctx.split_rng(split).permutation(len(clean))[:k]
                label = clean.labels.copy()
                label[pick] = target
                noisy = label != clean.labels
                splits[split] = SplitPlan(clean.ids, label, clean.labels, noisy, np.where(noisy, "structured", "none"), clean.images, {"target": target})
            plans.append(ConfigPlan(ctx.config_name(level), ctx.kind, level, splits, False, {"family": "test-structured-zero"}))
        return plans

    assert get_family("test-structured-zero") is build
    out = build_from_recipe(recipe(configs=[{"kind": "zero", "noise": "test-structured-zero", "target": 0}]), tmp_path / "z").out
    ds = open_dataset(out)
    assert ds.configs == ["zero-00", "zero-40"] and ds.default_config == "zero-00"
    sp = ds.split("zero-40", "train")
    assert set(sp.noise_source.tolist()) <= {"none", "structured"} and (sp.label[sp.is_noisy] == 0).all()
    assert sp.metadata["noise"] == {"target": 0}
    with pytest.raises(RecipeError, match=r"configs\[kind=zero\]\.colour"):
        build_from_recipe(recipe(configs=[{"kind": "zero", "noise": "test-structured-zero", "target": 0, "colour": 1}]), tmp_path / "y")


def test_family_registered_twice_is_refused():
    with pytest.raises(RecipeError, match="registered twice"):
        register_family("symmetric")(lambda ctx: [])


def test_bad_plans_are_refused(tmp_path, recipe):
    @register_family("test-bad-source")
    def build(ctx):
        clean = ctx.splits["train"]
        sp = SplitPlan(clean.ids, clean.labels, clean.labels, np.zeros(len(clean), bool), np.full(len(clean), "magic"), clean.images)
        return [ConfigPlan("bad-00", ctx.kind, 0.0, {"train": sp, "validation": sp}, False)]

    with pytest.raises(RecipeError, match="noise_source"):
        build_from_recipe(recipe(configs=[{"kind": "bad", "noise": "test-bad-source"}]), tmp_path / "bad")


@pytest.mark.parametrize("noise, params", [("symmetric", {"colour": 1}), ("cifar10", {})])
def test_noise_layer_errors_become_recipe_errors(tmp_path, recipe, noise, params):
    # cifar10 needs 10 classes: digits has 10, so it builds; an unknown param does not
    if noise == "cifar10":
        out = build_from_recipe(recipe(levels=[0.2], configs=[{"kind": "c", "noise": noise}]), tmp_path / "c").out
        assert open_dataset(out).configs == ["c-20"]
        return
    with pytest.raises(RecipeError, match=r"configs\[kind=s\]"):
        build_from_recipe(recipe(configs=[{"kind": "s", "noise": noise, **params}]), tmp_path / "s")


def test_per_sample_mode_and_not_nested(tmp_path, recipe):
    out = build_from_recipe(recipe(mode="per-sample", nested=False, levels=[0.2, 0.4], configs=[{"kind": "sym", "noise": "symmetric"}]), tmp_path / "ps").out
    ds = open_dataset(out)
    sp = ds.split("sym-40", "train")
    assert sp.metadata["noise"]["mode"] == "per-sample" and sp.metadata["nested"] is False
    assert 0.3 < sp.is_noisy.mean() < 0.5
