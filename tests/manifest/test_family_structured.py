"""The `structured` family: exact counts, random WRONG labels, the feature only on the chosen
rows, one config per level (or per class set), determinism, and the test-feature helper."""

from __future__ import annotations

import numpy as np
import pytest

from cnlbench.errors import RecipeError
from cnlbench.manifest import build_from_recipe, open_dataset
from cnlbench.manifest.family_structured import apply_test_feature, decode_images, structured_test_rng

CONFIGS = [
    {"kind": "randcls", "noise": "structured", "generator": "random-classes", "classes": ["3", "5"]},
    {"kind": "blur", "noise": "structured", "generator": "blur", "levels": [0.0, 0.2], "sigma": 1.0},
    {"kind": "smudge", "noise": "structured", "generator": "smudge", "levels": [0.1], "radius": 0.3},
]


def _recipe(configs=CONFIGS, seed=0):
    return {"name": "structured-test", "seed": seed, "source": {"kind": "digits"},
            "splits": {"validation": {"from": "train", "fraction": 0.125}}, "images": "embed",
            "levels": [0.2], "configs": configs}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("structured") / "ds"
    build_from_recipe(_recipe(), out)
    return open_dataset(out)


def test_configs_one_per_level_and_one_for_the_class_set(built):
    assert sorted(built.configs) == ["blur-00", "blur-20", "randcls-20", "smudge-10"]


@pytest.mark.parametrize("config,level", [("blur-00", 0.0), ("blur-20", 0.2), ("smudge-10", 0.1)])
@pytest.mark.parametrize("split", ["train", "validation"])
def test_exact_counts_wrong_labels_and_feature_only_on_affected_rows(built, config, level, split):
    sp = built.split(config, split)
    clean = built.split("randcls-20", split)  # unchanged images for every non-randomised row
    n = len(sp.ids)
    noisy = np.asarray(sp.is_noisy)
    assert noisy.sum() == int(np.floor(n * level + 0.5))
    assert np.all(np.asarray(sp.label)[noisy] != np.asarray(sp.clean_label)[noisy])
    assert np.all(np.asarray(sp.label)[~noisy] == np.asarray(sp.clean_label)[~noisy])
    assert set(np.asarray(sp.noise_source)[noisy]) <= {"structured"}
    assert set(np.asarray(sp.noise_source)[~noisy]) <= {"none"}
    same = np.all(sp.images_uint8() == clean.images_uint8(), axis=(1, 2, 3))
    assert np.all(same[~noisy])
    assert not noisy.any() or (~same[noisy]).mean() > 0.9  # blurred / smudged (a blank corner may survive a blur)


def test_random_classes_randomises_exactly_those_classes(built):
    for split in ("train", "validation"):
        sp = built.split("randcls-20", split)
        hit = np.isin(np.asarray(sp.clean_label), [3, 5])
        assert np.array_equal(np.asarray(sp.is_noisy), hit)
        assert np.all(np.asarray(sp.label)[hit] != np.asarray(sp.clean_label)[hit])
    meta = built.split("randcls-20", "train").metadata["noise_spec"]
    assert meta["generator"] == "random-classes" and meta["classes"] == [3, 5] and meta["level"] == 0.2


def test_same_seed_same_build_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    cfg = [CONFIGS[1]]
    build_from_recipe(_recipe(cfg), a)
    build_from_recipe(_recipe(cfg), b)
    build_from_recipe(_recipe(cfg, seed=1), c)
    da, db, dc = (open_dataset(p) for p in (a, b, c))
    assert da.fingerprint("blur-20") == db.fingerprint("blur-20")
    assert da.fingerprint("blur-20") != dc.fingerprint("blur-20")


@pytest.mark.parametrize("bad,match", [
    ({"generator": "wobble"}, "generator"),
    ({"generator": "random-classes", "classes": ["eleven"]}, "not a class name"),
    ({"generator": "random-classes", "classes": []}, "empty"),
    ({"generator": "blur", "radius": 0.1}, "not a parameter"),
])
def test_bad_params_name_the_key(tmp_path, bad, match):
    with pytest.raises(RecipeError, match=match):
        build_from_recipe(_recipe([{"kind": "x", "noise": "structured", **bad}]), tmp_path / "x")


@pytest.mark.parametrize("config,fraction", [("blur-20", 0.2), ("smudge-10", 0.1), ("randcls-20", None)])
def test_test_feature_is_applied_to_a_known_subset(built, config, fraction):
    spec = built.split(config, "train").metadata["noise_spec"]
    test = built.split(config, "test")
    images, labels = test.images_uint8(), np.asarray(test.label)
    out, affected = apply_test_feature(spec, images, labels, structured_test_rng(0, config))
    again, affected2 = apply_test_feature(spec, images, labels, structured_test_rng(0, config))
    assert np.array_equal(out, again) and np.array_equal(affected, affected2)
    changed = ~np.all(out == images, axis=(1, 2, 3))
    assert not changed[~affected].any()
    if fraction is None:
        assert np.array_equal(affected, np.isin(labels, [3, 5])) and not changed.any()
    else:
        assert affected.sum() == int(np.floor(len(labels) * fraction + 0.5))
        assert changed[affected].mean() > 0.9
    other, _ = apply_test_feature(spec, images, labels, structured_test_rng(1, config))
    assert fraction is None or not np.array_equal(other, out)


def test_decode_images_keeps_grayscale_channel(built):
    from cnlbench.sources.base import make_source

    split = make_source("digits").load_split("test")
    arr = decode_images(split.images)
    assert arr.shape == (len(split), 8, 8, 1) and arr.dtype == np.uint8
