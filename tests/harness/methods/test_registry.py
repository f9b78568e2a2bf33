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


def test_every_method_declares_its_board_entry_in_its_own_class():
    """family and summary are declared in each registered class's own body (a method is one
    file: no table elsewhere), and the grid, when there is one, only names the method's parameters."""
    for name in method_names():
        cls = get_method(name)
        assert "family" in vars(cls) and "summary" in vars(cls) and cls.summary, name
        assert set(cls.tuning_grid) <= set(cls.defaults), name


def test_board_attributes_and_grid_are_not_inherited():
    """A subclass of a built-in (a user's variant) does not pass for its parent on the board
    nor take its parent's grid: what it does not declare is Method's (family "other")."""
    from cnlbench.harness.methods.base import Method

    gce = get_method("gce")

    class MyGCE(gce):
        name = "my-gce"

    class MyTunedGCE(gce):
        name = "my-tuned-gce"
        family = "robust loss"
        tuning_grid = {"q": [0.5, 0.9]}

    for attr in Method.OWN_ATTRIBUTES:
        assert getattr(MyGCE, attr) == getattr(Method, attr), attr
    assert (MyGCE.family, MyGCE.summary, MyGCE.tuning_grid, MyGCE.code_official) == ("other", "", {}, True)
    assert MyGCE.defaults == gce.defaults  # everything else is inherited as usual
    assert (MyTunedGCE.family, MyTunedGCE.summary, MyTunedGCE.tuning_grid) == ("robust loss", "", {"q": [0.5, 0.9]})
    assert get_method("proselflc-detached").tuning_grid == {}  # not proselflc's
