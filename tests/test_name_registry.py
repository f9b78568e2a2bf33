"""The registry idiom (cnlbench/registry.py): discovery, listing, errors with the valid names
and install hints; and the model registry built on it (a model is one file).

(Named apart from tests/harness/methods/test_registry.py: test modules share one namespace.)"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from cnlbench.errors import CnlbenchError, HarnessError
from cnlbench.registry import Registry, missing_package_hint


@pytest.fixture()
def plugin_package(tmp_path: Path, monkeypatch):
    """A package ``cnl_plugins`` with two entry modules, a private one and one whose optional
    dependency is missing."""
    pkg = tmp_path / "cnl_plugins"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "reg.py").write_text("from cnlbench.registry import Registry\nREG = Registry('widget', 'cnl_plugins', skip=('reg',))\n")
    (pkg / "alpha.py").write_text("from cnl_plugins.reg import REG\nREG.add('alpha', 1)\n")
    (pkg / "beta.py").write_text("from cnl_plugins.reg import REG\nREG.add('beta', 2)\n")
    (pkg / "_helpers.py").write_text("raise RuntimeError('private modules are not imported')\n")
    (pkg / "gamma.py").write_text(textwrap.dedent("""
        import cnl_missing_dependency_xyz  # noqa: F401
        from cnl_plugins.reg import REG
        REG.add('gamma', 3)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [m for m in sys.modules if m == "cnl_plugins" or m.startswith("cnl_plugins.")]:
        del sys.modules[name]


def test_discovery_lists_and_gets(plugin_package) -> None:
    from cnl_plugins.reg import REG

    assert REG.names() == ["alpha", "beta"]
    assert REG.get("beta") == 2 and "alpha" in REG and "gamma" not in REG
    assert list(REG.items()) == [("alpha", 1), ("beta", 2)]


def test_unknown_name_lists_valid_names_and_unavailable_modules(plugin_package) -> None:
    from cnl_plugins.reg import REG

    with pytest.raises(CnlbenchError, match=r"unknown widget 'delta'; valid widgets: \['alpha', 'beta'\]") as info:
        REG.get("delta")
    assert "cnl_missing_dependency_xyz" in str(info.value) and "pip install" in str(info.value)


def test_duplicate_and_empty_names_are_errors() -> None:
    reg: Registry[int] = Registry("thing", "cnlbench", error=HarnessError)
    reg.add("a", 1)
    reg.add("a", 1)  # the same entry again (a module imported twice) is fine
    with pytest.raises(HarnessError, match="thing name 'a' registered twice"):
        reg.add("a", 2)
    with pytest.raises(HarnessError, match="non-empty name"):
        reg.add("", 3)
    assert reg.remove("a") == 1
    with pytest.raises(HarnessError, match="thing 'a' is not registered"):
        reg.remove("a")


def test_missing_package_hint_names_the_extra() -> None:
    exc = ImportError("No module named 'ray'", name="ray")
    assert missing_package_hint(exc, "the ray backend", "ray") == (
        "the ray backend needs the package 'ray', which is not installed; `pip install 'cnlbench[ray]'`")
    assert missing_package_hint(exc, "x").endswith("`pip install ray`")


def test_a_model_file_declares_its_defaults_and_packing() -> None:
    """Every built-in model's training defaults and channel-wise containers come from its own
    registration; nothing else lists models."""
    from cnlbench.harness.models import model_info, model_names
    from cnlbench.harness.models.fastnet import FastNet
    from cnlbench.harness.models.registry import channelwise_containers
    from cnlbench.harness.train_config import default_train_config

    for name in model_names():
        info = model_info(name)
        assert info.train_defaults, name
        assert default_train_config(name).epochs == info.train_defaults["epochs"]
    assert default_train_config("digits-cnn").epochs == 60
    assert FastNet in channelwise_containers()


def test_models_import_no_package_init_back() -> None:
    """Model files import the registry module, not their package's ``__init__`` (no cycle)."""
    root = Path(__file__).resolve().parents[1] / "cnlbench" / "harness" / "models"
    for path in root.glob("*.py"):
        assert "from cnlbench.harness.models import" not in path.read_text(), path.name


def test_registry_is_the_bottom_layer() -> None:
    """cnlbench/registry.py imports nothing of cnlbench but the errors, so every layer may use it."""
    import ast

    path = Path(__file__).resolve().parents[1] / "cnlbench" / "registry.py"
    mods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            mods.add(node.module)
        elif isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
    assert {m for m in mods if m.startswith("cnlbench")} == {"cnlbench.errors"}


def test_prefix_and_plural(plugin_package, tmp_path: Path) -> None:
    """``prefix`` discovers only the package's entry modules (the others are never imported);
    ``plural`` names the valid entries where adding an ``s`` is wrong."""
    (tmp_path / "cnl_plugins" / "family_delta.py").write_text("from cnl_plugins.reg import FAMS\nFAMS.add('delta', 4)\n")
    with open(tmp_path / "cnl_plugins" / "reg.py", "a") as f:
        f.write("FAMS = Registry('noise family', 'cnl_plugins', plural='noise families', prefix='family_')\n")
    from cnl_plugins.reg import FAMS

    assert FAMS.names() == ["delta"]
    assert "cnl_plugins.alpha" not in sys.modules and "cnl_plugins.gamma" not in sys.modules
    with pytest.raises(CnlbenchError, match=r"unknown noise family 'x'; valid noise families: \['delta'\]"):
        FAMS.get("x")


def _entry_modules(registry: Registry, entries) -> set[str]:
    """The modules of ``registry``'s package (first name below it) that define ``entries``."""
    depth = registry.package.count(".") + 1
    return {e.__module__.split(".")[depth] for e in entries if e.__module__.startswith(registry.package + ".")}


def _candidate_modules(registry: Registry) -> set[str]:
    """The modules discovery imports: public, with the prefix, not skipped."""
    import importlib
    import pkgutil

    pkg = importlib.import_module(registry.package)
    return {i.name for i in pkgutil.iter_modules(pkg.__path__)
            if not i.name.startswith("_") and i.name.startswith(registry.prefix) and i.name not in registry.skip}


@pytest.mark.parametrize("where", ["methods", "sources", "families", "models"])
def test_discovery_imports_exactly_the_entry_modules(where: str) -> None:
    """Every module a registry discovers defines an entry and every entry module is discovered
    (so a ``skip`` list or a ``prefix`` cannot drift from the files)."""
    if where == "methods":
        from cnlbench.harness.methods.base import METHODS as reg
    elif where == "sources":
        from cnlbench.sources.base import SOURCES as reg
    elif where == "families":
        from cnlbench.manifest.families import FAMILIES as reg
    else:
        from cnlbench.harness.models.registry import MODELS as reg
    entries = [getattr(e, "builder", e) for _, e in reg.items()]
    found = _entry_modules(reg, entries)
    if where == "families":
        found.discard("families")  # the synthetic families, registered by the registry's own module
    assert found == _candidate_modules(reg)


def test_every_registry_lists_its_builtins() -> None:
    """Each registry finds its built-in entries by discovery alone (no table of names)."""
    from cnlbench.harness.methods import method_names
    from cnlbench.manifest.families import family_names
    from cnlbench.reproduce import published_data, reproduction_names
    from cnlbench.sources import source_kinds

    assert {"ce", "mixup", "coteaching", "dac"} <= set(method_names())
    assert source_kinds() == ["cifar10", "cifar100", "cnwl", "digits", "hub", "imagefolder", "mini-imagenet", "stanford-cars"]
    assert {"web", "external", "human", "structured", "part-dependent", "confusion", "symmetric", "matrix"} <= set(family_names())
    assert reproduction_names() == ["jiang2020", "patrini2017", "thulasidasan2019-dac", "thulasidasan2019-mixup"]
    assert "wei2022_cifarn" in published_data()
