"""Honest card labels: asymmetric levels, majority flips, simulated pools, citations, sizes."""

from __future__ import annotations

from cnlbench.manifest.card import SIMULATED_POOLS, _dedupe_citations, _within_flipped, majority_flips
from cnlbench.noise import cifar10_asymmetric_matrix, symmetric_matrix

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _cfg(T):
    return {"requested_matrix": T.tolist()}


def test_asymmetric_level_is_within_the_flipped_classes():
    assert _within_flipped(_cfg(cifar10_asymmetric_matrix(0.4))) == (5, 10)
    assert _within_flipped(_cfg(symmetric_matrix(10, 0.4))) is None  # every class flips: the level is the rate
    assert _within_flipped({"requested_matrix": None}) is None


def test_majority_flip_warning_only_where_a_wrong_label_wins():
    assert majority_flips(_cfg(cifar10_asymmetric_matrix(0.4)), NAMES) == []
    flips = majority_flips(_cfg(cifar10_asymmetric_matrix(0.6)), NAMES)
    assert set(flips) == {"truck->automobile", "bird->airplane", "deer->horse", "cat->dog", "dog->cat"}
    # symmetric 80% over 10 classes: 20% right vs 8.9% for each wrong class, the majority stays right
    assert majority_flips(_cfg(symmetric_matrix(10, 0.8)), NAMES) == []


def test_citations_deduplicated_by_bibtex_key():
    a = "@inproceedings{wei2022learning, title={Learning with Noisy Labels Revisited},\nyear={2022}}"
    b = "@inproceedings{wei2022learning, title={Learning with Noisy Labels Revisited}, year={2022}}"
    c = "@techreport{krizhevsky2009learning, title={Tiny Images}}"
    assert _dedupe_citations([c, None, a, "", b, c]) == [c, a]


def test_digits_pool_is_named_simulated():
    assert "simulated web pool" in SIMULATED_POOLS["digits-web"]


def test_card_yaml_states_no_false_size(repo_root):
    import json

    from cnlbench.manifest.card import card_yaml
    from cnlbench.manifest.recipe import load_recipe

    record = json.loads((repo_root / "manifests" / "digits" / "cnlbench-build.json").read_text(encoding="utf-8"))
    yaml = card_yaml(record, load_recipe(repo_root / "recipes" / "digits.yaml"))
    assert "num_examples:" in yaml and "num_bytes" not in yaml


def test_build_table_says_what_each_level_means():
    """The summary `cnlbench build` prints: asym levels are within the flipped classes, the
    digits web pool is simulated, and a majority-wrong class is named."""
    from cnlbench.manifest.card import level_note

    names = [str(d) for d in range(10)]
    T = [[1.0 if i == j else 0.0 for j in range(10)] for i in range(10)]
    T[7][7], T[7][1] = 0.4, 0.6
    assert level_note({"level": 0.6, "requested_matrix": T, "noise_spec": {}}, names) == \
        "flip prob. within 1 of 10 classes; majority wrong: 7->1"
    assert level_note({"level": 0.4, "requested_matrix": None, "noise_spec": {"pool": "digits-web"}}, names) == \
        "simulated web pool"
    sym = [[0.6 if i == j else 0.4 / 9 for j in range(10)] for i in range(10)]
    assert level_note({"level": 0.4, "requested_matrix": sym, "noise_spec": {}}, names) == ""
