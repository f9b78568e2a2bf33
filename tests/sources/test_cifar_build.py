"""End-to-end: recipes/cifar10.yaml built from the real shared CIFAR-10 folder (a subset of the
configs, to keep the suite fast; benchmarks/build_cifar10.py builds all of them)."""

from __future__ import annotations

import sys

import numpy as np
import pytest


@pytest.mark.slow
@pytest.mark.shared_data
def test_cifar10_recipe_builds_from_real_data(shared_data, repo_root, tmp_path):
    sys.path.insert(0, str(repo_root / "benchmarks"))
    try:
        from build_cifar10 import load_recipe_with_data
    finally:
        sys.path.pop(0)
    from cnlbench.manifest import build_from_recipe, open_dataset

    recipe = load_recipe_with_data(shared_data, ["sym", "cifar10n"])
    assert [e.kind for e in recipe.configs] == ["sym", "cifar10n"]
    from dataclasses import replace

    recipe = replace(recipe, configs=(replace(recipe.configs[0], levels=(0.0, 0.4)), replace(recipe.configs[1], params={**recipe.configs[1].params, "sets": ["cifar10n-aggre", "cifar10n-worst"]})))
    out = tmp_path / "cifar10"
    report = build_from_recipe(recipe, out)
    assert [c.name for c in report.configs] == ["sym-00", "sym-40", "cifar10n-aggre", "cifar10n-worst"]
    rates = {c.name: c.realised_rate["train"] for c in report.configs}
    assert rates["sym-00"] == 0.0 and rates["sym-40"] == pytest.approx(0.4, abs=1e-4)
    ds = open_dataset(out)
    sp = ds.split("cifar10n-worst", "train")
    assert len(sp.ids) == 45_000 and sp.metadata["config"] == "cifar10n-worst"
    # rows map back to CIFAR-10N by id; the realised rate over train + validation is the paper's 40.21%
    va = ds.split("cifar10n-worst", "validation")
    noisy = np.concatenate([sp.is_noisy, va.is_noisy])
    assert round(100 * noisy.mean(), 2) == 40.21
    assert set(np.unique(sp.noise_source)) == {"human", "none"}
    assert "cc-by-nc-4.0" in (out / "README.md").read_text().lower()
