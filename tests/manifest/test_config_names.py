"""Config names: written by `config_name`, read back by its inverse `parse_config_name` (every reader uses it)."""

from __future__ import annotations

import pytest

from cnlbench.manifest.recipe import config_name, parse_config_name
from cnlbench.noise import DEFAULT_LEVELS


@pytest.mark.parametrize("level", [*DEFAULT_LEVELS, 0.01, 0.99, 1.0])
@pytest.mark.parametrize("kind", ["sym", "asym", "web-red", "cifar100_super"])
def test_round_trip(kind, level):
    assert parse_config_name(config_name(kind, level)) == (kind, pytest.approx(level))


@pytest.mark.parametrize("config", ["cifar10n-aggre", "cifar10n-worst", "cifar10n-rand1", "clean", "web-4", "web-1000", ""])
def test_names_without_a_level(config):
    assert parse_config_name(config) == (config, None)


def test_readers_agree():
    import math

    from cnlbench.board.results import parse_config
    from cnlbench.harness.data import noise_kind_and_level

    for config in ("sym-40", "asym-100", "web-05", "cifar10n-aggre"):
        kind, level = parse_config_name(config)
        assert noise_kind_and_level(config) == (kind, level)
        k, lv = parse_config(config)
        assert k == kind and (math.isnan(lv) if level is None else lv == level)
