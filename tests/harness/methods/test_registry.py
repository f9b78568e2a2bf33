"""Every method of the zoo is registered with its documented name and structure."""

from __future__ import annotations

import pytest

from cnlbench.harness.methods import get_method, method_names

EXPECTED = {
    "ce", "ce-wd", "ce-dropout", "label-smoothing", "confidence-penalty", "bootstrap-soft",
    "bootstrap-hard", "gce", "gce-truncated", "mae", "sce", "forward", "backward", "forward-that",
    "backward-that", "s-model", "mixup", "mentornet", "mentormix", "dac", "dac-protocol",
    "proselflc", "proselflc-detached", "derivative-manipulation", "coteaching", "unhinged", "sigmoid",
    "savage",
}


def test_every_method_is_registered():
    assert EXPECTED <= set(method_names())


@pytest.mark.parametrize("name,outputs,networks,stages,needs_T", [
    ("dac", 1, 1, 1, False), ("dac-protocol", 1, 1, 2, False), ("coteaching", 0, 2, 1, False),
    ("forward-that", 0, 1, 2, False), ("backward-that", 0, 1, 2, False), ("forward", 0, 1, 1, True),
    ("backward", 0, 1, 1, True), ("ce", 0, 1, 1, False),
])
def test_structure(name, outputs, networks, stages, needs_T):
    cls = get_method(name)
    assert (cls.extra_outputs, cls.num_networks, cls.num_stages, cls.needs_noise_matrix) == (
        outputs, networks, stages, needs_T)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_documented_in_docs_methods(name, repo_root):
    text = (repo_root / "docs" / "methods.md").read_text(encoding="utf-8")
    assert f"`{name}`" in text
