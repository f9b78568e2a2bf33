from collections import Counter

import numpy as np
import pytest

from cnlbench.errors import NoiseSpecError
from cnlbench.noise import (
    CIFAR100_FINE_TO_COARSE,
    FAMILY_NAMES,
    cifar100_superclass_matrix,
    make_family,
    symmetric_matrix,
)
from cnlbench.noise.presets import cifar100_next_in_superclass
from cnlbench.sources.cifar import CIFAR10_CLASSES
from cnlbench.sources.cifar import CIFAR100_COARSE_CLASSES as CIFAR100_COARSE
from cnlbench.sources.cifar import CIFAR100_FINE_CLASSES as CIFAR100_FINE

# The official superclass membership (CIFAR-100 web page), written by name.
OFFICIAL = {
    "aquatic_mammals": ["beaver", "dolphin", "otter", "seal", "whale"],
    "fish": ["aquarium_fish", "flatfish", "ray", "shark", "trout"],
    "flowers": ["orchid", "poppy", "rose", "sunflower", "tulip"],
    "food_containers": ["bottle", "bowl", "can", "cup", "plate"],
    "fruit_and_vegetables": ["apple", "mushroom", "orange", "pear", "sweet_pepper"],
    "household_electrical_devices": ["clock", "keyboard", "lamp", "telephone", "television"],
    "household_furniture": ["bed", "chair", "couch", "table", "wardrobe"],
    "insects": ["bee", "beetle", "butterfly", "caterpillar", "cockroach"],
    "large_carnivores": ["bear", "leopard", "lion", "tiger", "wolf"],
    "large_man-made_outdoor_things": ["bridge", "castle", "house", "road", "skyscraper"],
    "large_natural_outdoor_scenes": ["cloud", "forest", "mountain", "plain", "sea"],
    "large_omnivores_and_herbivores": ["camel", "cattle", "chimpanzee", "elephant", "kangaroo"],
    "medium_mammals": ["fox", "porcupine", "possum", "raccoon", "skunk"],
    "non-insect_invertebrates": ["crab", "lobster", "snail", "spider", "worm"],
    "people": ["baby", "boy", "girl", "man", "woman"],
    "reptiles": ["crocodile", "dinosaur", "lizard", "snake", "turtle"],
    "small_mammals": ["hamster", "mouse", "rabbit", "shrew", "squirrel"],
    "trees": ["maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"],
    "vehicles_1": ["bicycle", "bus", "motorcycle", "pickup_truck", "train"],
    "vehicles_2": ["lawn_mower", "rocket", "streetcar", "tank", "tractor"],
}


def test_cifar_class_orders():
    assert CIFAR10_CLASSES[:3] == ("airplane", "automobile", "bird") and CIFAR10_CLASSES[9] == "truck"
    assert len(CIFAR100_FINE) == 100 and list(CIFAR100_FINE) == sorted(CIFAR100_FINE)
    assert list(CIFAR100_COARSE) == sorted(CIFAR100_COARSE) and len(CIFAR100_COARSE) == 20


def test_cifar100_superclass_table_matches_official_membership():
    assert Counter(CIFAR100_FINE_TO_COARSE) == {c: 5 for c in range(20)}
    for coarse, fines in OFFICIAL.items():
        c = CIFAR100_COARSE.index(coarse)
        assert sorted(CIFAR100_FINE[i] for i in range(100) if CIFAR100_FINE_TO_COARSE[i] == c) == fines


def test_known_pairs_share_a_superclass():
    idx = CIFAR100_FINE.index
    assert CIFAR100_FINE_TO_COARSE[idx("apple")] == CIFAR100_FINE_TO_COARSE[idx("mushroom")]
    assert CIFAR100_COARSE[CIFAR100_FINE_TO_COARSE[idx("apple")]] == "fruit_and_vegetables"
    assert CIFAR100_COARSE[CIFAR100_FINE_TO_COARSE[idx("whale")]] == "aquatic_mammals"


def test_cifar100_flips_within_superclass_cyclically():
    nxt = cifar100_next_in_superclass()
    coarse = np.asarray(CIFAR100_FINE_TO_COARSE)
    assert np.all(coarse[nxt] == coarse) and np.all(nxt != np.arange(100))
    assert sorted(nxt.tolist()) == list(range(100))  # a permutation: every class receives flips
    for c in range(20):  # one 5-cycle per superclass
        start = int(np.flatnonzero(coarse == c)[0])
        seen, cur = [], start
        for _ in range(5):
            seen.append(cur)
            cur = int(nxt[cur])
        assert cur == start and len(set(seen)) == 5
    # apple (0) -> mushroom (51), the next fruit in fine-label order
    assert nxt[CIFAR100_FINE.index("apple")] == CIFAR100_FINE.index("mushroom")
    T = cifar100_superclass_matrix(0.2)
    assert T[0, 51] == pytest.approx(0.2)


def test_legacy_blocks_differ_from_superclasses():
    legacy = cifar100_next_in_superclass(legacy_blocks=True)
    assert legacy[0] == 1 and legacy[4] == 0 and legacy[99] == 95
    coarse = np.asarray(CIFAR100_FINE_TO_COARSE)
    assert np.mean(coarse[legacy] == coarse) < 0.5  # the blocks are NOT the real superclasses


@pytest.mark.parametrize("name,k", [("symmetric", 10), ("symmetric-all", 10), ("pair-flip", 4), ("cifar10", 10),
                                    ("cifar100", 100), ("cifar100-legacy-blocks", 100)])
def test_families_are_affine_in_level(name, k):
    fam = make_family(name, k)
    assert name in FAMILY_NAMES and fam.spec["family"] == name
    np.testing.assert_array_equal(fam(0.0), np.eye(k))
    for p in (0.1, 0.45, 0.8):
        np.testing.assert_allclose(fam(p), (1 - p) * np.eye(k) + p * fam.flip_matrix, atol=1e-15)
        np.testing.assert_allclose(fam(p).sum(axis=1), 1.0)


def test_family_matches_matrix_builders():
    np.testing.assert_allclose(make_family("symmetric", 7)(0.3), symmetric_matrix(7, 0.3))
    np.testing.assert_allclose(make_family("symmetric-all", 7)(0.3), symmetric_matrix(7, 0.3, include_true_class=True))
    assert "p(K-1)/K" in make_family("symmetric-all", 7).spec["description"]


@pytest.mark.parametrize(
    "args,kwargs,needle",
    [
        (("nope", 10), {}, "'nope'"),
        (("cifar10", 9), {}, "num_classes=9"),
        (("cifar100", 10), {}, "num_classes=10"),
        (("symmetric", 1), {}, "got 1"),
        (("symmetric", 10), {"alpha": 1}, "alpha"),
        (("matrix", 3), {}, "base="),
        (("matrix", 3), {"base": np.ones((3, 3))}, "sums to"),
        (("symmetric", 0), {}, "num_classes=0"),
    ],
)
def test_make_family_errors(args, kwargs, needle):
    with pytest.raises(NoiseSpecError) as err:
        make_family(*args, **kwargs)
    assert needle in str(err.value)
