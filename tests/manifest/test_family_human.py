"""The `human` (CIFAR-N) and `external` noise families: alignment by source order, validation,
licence carried in the plan, and real CIFAR-10N rates."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_sources import cifar10n_arrays, write_cifar_n_pt

from cnlbench.errors import RecipeError, SourceError
from cnlbench.manifest import family_human  # noqa: F401  (registers the families)
from cnlbench.manifest.build import carve_validation
from cnlbench.manifest.families import FamilyContext, plan_configs
from cnlbench.manifest.recipe import ConfigEntry
from cnlbench.sources.base import SplitData
from cnlbench.sources.views import BytesImages

N = 50_000
RATES = {"aggre_label": 0.09, "worse_label": 0.4}


def _ctx(labels: np.ndarray, noise: str, params: dict, *, kind: str = "cifar10n", k: int = 10, fraction: float = 0.1, recipe_dir=None) -> FamilyContext:
    n = len(labels)
    full = SplitData(np.array([f"cifar10-train-{i:05d}" for i in range(n)]), labels, BytesImages([b""] * n))
    train, val = carve_validation(full, fraction)
    entry = ConfigEntry(kind=kind, noise=noise, levels=(0.0,), nested=False, mode="exact", params=params)
    return FamilyContext(entry=entry, class_names=tuple(f"c{i}" for i in range(k)), splits={"train": train, "validation": val}, seed=0, recipe_dir=recipe_dir)


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 10, N)
    arrays = cifar10n_arrays(clean, rng, RATES)
    path = write_cifar_n_pt(tmp_path_factory.mktemp("c10n") / "CIFAR-10_human.pt", arrays)
    return path, arrays


def _check_aligned(plan, arrays, key):
    for split, sp in plan.splits.items():
        idx = np.array([int(i.rsplit("-", 1)[1]) for i in sp.ids])
        np.testing.assert_array_equal(sp.label, arrays[key][idx], err_msg=split)
        np.testing.assert_array_equal(sp.clean_label, arrays["clean_label"][idx])
        np.testing.assert_array_equal(sp.is_noisy, sp.label != sp.clean_label)
        assert set(sp.noise_source[sp.is_noisy]) <= {"human"} and set(sp.noise_source[~sp.is_noisy]) <= {"none"}


@pytest.mark.parametrize("sets", [["cifar10n-aggre"], ["cifar10n-aggre", "cifar10n-worst"]])
def test_human_family_aligns_train_and_carved_validation(fake, sets):
    path, arrays = fake
    plans = plan_configs(_ctx(arrays["clean_label"], "human", {"file": str(path), "sets": sets}))
    assert [p.name for p in plans] == sets
    for plan in plans:
        key = {"cifar10n-aggre": "aggre_label", "cifar10n-worst": "worse_label"}[plan.name]
        _check_aligned(plan, arrays, key)
        assert plan.level is None and plan.nested is False and plan.requested_matrix is None
        assert "CC BY-NC 4.0" in plan.spec["license"] and "wei2022" in plan.spec["citation"]
        assert plan.spec["realised_rate_full_file"] == pytest.approx(RATES[key])
        assert plan.spec["validation"].startswith("noisy")


def test_human_family_refuses_other_labels_and_bad_params(fake):
    path, arrays = fake
    wrong = arrays["clean_label"].copy()
    wrong[0] = (wrong[0] + 1) % 10
    with pytest.raises(SourceError, match="1 differ"):
        plan_configs(_ctx(wrong, "human", {"file": str(path), "sets": ["cifar10n-aggre"]}))
    with pytest.raises(RecipeError, match="cifar10n-best"):
        plan_configs(_ctx(arrays["clean_label"], "human", {"file": str(path), "sets": ["cifar10n-best"]}))
    with pytest.raises(RecipeError, match="100 classes"):
        plan_configs(_ctx(arrays["clean_label"], "human", {"file": str(path), "sets": ["cifar100n-noisy"]}))
    with pytest.raises(RecipeError, match="colour"):
        plan_configs(_ctx(arrays["clean_label"], "human", {"file": str(path), "colour": "red"}))


@pytest.mark.parametrize("fmt", ["npy", "pairs"])
def test_external_family_from_a_file_relative_to_the_recipe(tmp_path, fmt):
    rng = np.random.default_rng(1)
    clean = rng.integers(0, 5, 200)
    noisy = np.where(rng.random(200) < 0.3, (clean + 1) % 5, clean)
    if fmt == "npy":
        np.save(tmp_path / "labels.npy", noisy)
        fname = "labels.npy"
    else:
        (tmp_path / "labels.csv").write_text("clean,noisy\n" + "".join(f"{c},{n}\n" for c, n in zip(clean, noisy)))
        fname = "labels.csv"
    ctx = _ctx(clean, "external", {"file": fname, "name": "mine", "noise_source": "human", "license": "CC-BY-4.0"}, kind="ext", k=5, fraction=0.2, recipe_dir=tmp_path)
    (plan,) = plan_configs(ctx)
    assert plan.name == "mine" and plan.spec["license"] == "CC-BY-4.0"
    _check_aligned(plan, {"clean_label": clean, "x": noisy}, "x")
    assert plan.spec["realised_rate_full_file"] == pytest.approx((noisy != clean).mean())


def test_external_family_length_mismatch(tmp_path):
    np.save(tmp_path / "l.npy", np.zeros(7, np.int64))
    with pytest.raises(SourceError, match="7 rows"):
        plan_configs(_ctx(np.arange(20) % 2, "external", {"file": "l.npy"}, kind="ext", k=2, recipe_dir=tmp_path))


@pytest.mark.shared_data
def test_real_cifar10n_through_the_family(shared_data):
    from cnlbench.sources import make_source

    labels = make_source("cifar10", root=shared_data / "cifar10").load_split("train").labels
    params = {"file": str(shared_data / "cifar10n")}  # default sets: all five CIFAR-10N sets
    plans = {p.name: p for p in plan_configs(_ctx(labels, "human", params))}
    got = {name: round(100 * p.spec["realised_rate_full_file"], 2) for name, p in plans.items()}
    assert got == {"cifar10n-aggre": 9.01, "cifar10n-random1": 17.23, "cifar10n-random2": 18.12, "cifar10n-random3": 17.64, "cifar10n-worst": 40.21}
