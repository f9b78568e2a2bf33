"""The dataset card's prose: readable noise specs, per-family licences and citations."""

from __future__ import annotations

import pytest

from cnlbench.manifest.card import _flips, _spec_prose


def test_matrix_spec_is_summarised_as_flips_not_dumped():
    base = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]]
    text = _spec_prose({"description": "T(p) = (1-p) I + p B", "base": base, "num_classes": 3}, ["a", "b", "c"])
    assert text.startswith("T(p) = (1-p) I + p B")
    assert "b->c" in text and "c->a (0.5)" in text and "c->b (0.5)" in text
    assert "[[" not in text  # the matrix itself stays in the metadata


def test_long_flip_lists_are_counted():
    k = 30
    base = [[1.0 / (k - 1) if i != j else 0.0 for j in range(k)] for i in range(k)]
    assert _flips(base, [str(i) for i in range(k)]).startswith(f"{k * (k - 1)} off-diagonal")


@pytest.mark.parametrize("key", ["license", "citation"])
def test_licence_and_citation_stay_out_of_the_spec_line(key):
    assert key not in _spec_prose({"description": "human labels", key: "CC BY-NC 4.0"}, [])


def test_card_carries_family_licence(tmp_path):
    """A human-label family's licence (CIFAR-N: CC BY-NC 4.0) reaches the card's Licence section."""
    import numpy as np

    from cnlbench.manifest import build_from_recipe
    from cnlbench.manifest.build import clean_splits
    from cnlbench.manifest.recipe import load_recipe
    from cnlbench.sources import make_source

    labels = tmp_path / "noisy.txt"

    rec = load_recipe({"name": "d", "seed": 0, "source": {"kind": "digits"},
                       "splits": {"validation": {"from": "train", "fraction": 0.125}},
                       "configs": [{"kind": "sym", "noise": "symmetric"}], "levels": [0.0]})
    train = clean_splits(make_source("digits"), rec)["train"]
    noisy = train.labels.copy()
    noisy[:10] = (noisy[:10] + 1) % 10
    np.savetxt(labels, noisy, fmt="%d")
    recipe = {"name": "d", "seed": 0, "source": {"kind": "digits"},
              "splits": {"validation": {"from": "train", "fraction": 0.125}}, "levels": [0.0],
              "configs": [{"kind": "sym", "noise": "symmetric"},
                          {"kind": "ext", "noise": "external", "file": str(labels), "name": "ext-set",
                           "license": "CC BY-NC 4.0", "citation": "@misc{x, title={Noisy set}}"}]}
    build_from_recipe(recipe, tmp_path / "out")
    card = (tmp_path / "out" / "README.md").read_text()
    licence = card.split("## Licence", 1)[1]
    assert "CC BY-NC 4.0" in licence.split("## Citation")[0]
    assert "@misc{x, title={Noisy set}}" in card


def test_external_label_configs_are_described_truly(tmp_path):
    """Cards name an external config by its real name and never claim sampled (largest-remainder) noise."""
    import json

    import numpy as np

    from cnlbench.manifest import build_from_recipe
    from cnlbench.manifest.build import clean_splits
    from cnlbench.manifest.recipe import load_recipe
    from cnlbench.sources.base import make_source

    recipe = {"name": "ext", "source": {"kind": "digits"}, "splits": {"validation": {"from": "train", "fraction": 0.125}},
              "levels": [0.0], "configs": [{"kind": "sym", "noise": "symmetric"},
                                           {"kind": "mylabels", "noise": "external", "file": str(tmp_path / "l.json"),
                                            "name": "my-noisy", "license": "CC0-1.0"}]}
    clean = clean_splits(make_source("digits"), load_recipe(recipe))
    ids = np.concatenate([clean["train"].ids, clean["validation"].ids])
    labels = np.concatenate([clean["train"].labels, clean["validation"].labels])[np.argsort(ids, kind="stable")]
    noisy = labels.copy()
    noisy[::5] = (noisy[::5] + 1) % 10
    (tmp_path / "l.json").write_text(json.dumps(noisy.tolist()))
    out = build_from_recipe(recipe, tmp_path / "out").out
    card = (out / "README.md").read_text()
    line = next(x for x in card.splitlines() if x.startswith("- `my-noisy`"))
    assert "largest-remainder" not in line and "exact" not in line and "as given" in line
    assert "mylabels-*" not in card
    assert "Noisy labels of `my-noisy`: `CC0-1.0`" in card
