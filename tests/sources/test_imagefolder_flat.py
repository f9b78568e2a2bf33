"""A flat ``root/<class>/<file>`` ImageFolder tree builds when the recipe carves a test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnlbench.errors import RecipeError
from cnlbench.manifest import build_from_recipe, open_dataset, validate_dataset
from fixtures_sources import write_imagefolder


def _recipe(root: Path, **splits) -> dict:
    return {"name": "flat", "source": {"kind": "imagefolder", "root": str(root)}, "images": "reference",
            "splits": {"validation": {"from": "train", "fraction": 0.2}, **splits},
            "levels": [0.0, 0.2], "configs": [{"kind": "sym", "noise": "symmetric"}]}


def test_flat_tree_builds_with_a_carved_test_split(tmp_path: Path) -> None:
    root = write_imagefolder(tmp_path / "flat", {"": {"cat": 20, "dog": 15, "eel": 10}}, np.random.default_rng(0))
    recipe = _recipe(root, test={"from": "train", "fraction": 0.2})
    a = build_from_recipe(recipe, tmp_path / "a")
    b = build_from_recipe(recipe, tmp_path / "b")
    ds = open_dataset(a.out, image_root=root)
    test, train, val = (ds.split("sym-20", s) for s in ("test", "train", "validation"))
    assert len(test) + len(train) + len(val) == 45
    # per class: round(0.2 * n) test images, each class present; disjoint from train/validation
    assert np.bincount(test.label).tolist() == [4, 3, 2]
    assert not set(test.ids) & (set(train.ids) | set(val.ids))
    # deterministic: the same rows on a rebuild
    assert validate_dataset(a.out, image_root=root) == validate_dataset(b.out, image_root=root)
    assert test.images_uint8().shape == (9, 8, 8, 3)


def test_flat_tree_without_a_test_split_says_the_layout(tmp_path: Path) -> None:
    root = write_imagefolder(tmp_path / "flat", {"": {"cat": 4, "dog": 4}}, np.random.default_rng(0))
    with pytest.raises(RecipeError, match=r"splits: \{test: \{from: train.*<root>/train/<class>/<file> and <root>/test"):
        build_from_recipe(_recipe(root), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_split_tree_refuses_a_second_test_split(tmp_path: Path) -> None:
    root = write_imagefolder(tmp_path / "tree", {"train": {"cat": 4, "dog": 4}, "test": {"cat": 2, "dog": 2}},
                             np.random.default_rng(0))
    with pytest.raises(RecipeError, match="ships its own test split"):
        build_from_recipe(_recipe(root, test={"from": "train", "fraction": 0.2}), tmp_path / "out")


def test_reference_build_of_resized_images_points_at_the_resized_pixels(tmp_path: Path) -> None:
    """With `image_size`, a reference manifest must not point at the untransformed originals."""
    root = write_imagefolder(tmp_path / "tree", {"train": {"cat": 4, "dog": 4}, "test": {"cat": 2, "dog": 2}},
                             np.random.default_rng(0))
    recipe = _recipe(root)
    recipe["source"]["image_size"] = 5
    out = build_from_recipe(recipe, tmp_path / "out").out
    ds = open_dataset(out)  # no image_root needed: the resized images live in the build folder
    sp = ds.split("sym-20", "train")
    assert all(p.startswith("images/") for p in sp.image_path_values())
    assert sp.images_uint8().shape[1:3] == (5, 5)
    validate_dataset(out, images=True)
