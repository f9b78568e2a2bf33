"""Preparing a reproduction: the recipe it builds (the repository's ``recipes/`` with the
scale's levels and the ``--data`` root applied), the cached build in ``OUT/data``, and the full
scale's refusals (no data, no GPU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from cnlbench.errors import CnlbenchError, MissingDataError
from cnlbench.reproduce.model import ScalePlan


def recipes_dir() -> Path:
    """The repository's ``recipes/`` folder (reproductions need a source checkout)."""
    here = Path(__file__).resolve().parents[2] / "recipes"
    if not here.is_dir():
        raise MissingDataError(
            f"recipes folder {str(here)!r} not found; reproductions read the recipes of a cnlbench source "
            "checkout: run from a clone of the repository (pip install -e .)"
        )
    return here


def effective_recipe(plan: ScalePlan, out: Path, data: str | Path | None = None) -> dict[str, Any]:
    """The recipe the reproduction builds: ``recipes/<plan.recipe>`` with the smoke levels and
    the ``--data`` source root applied; relative source paths are rewritten relative to ``out``
    (where the effective recipe is written), so the build records no absolute path."""
    import os

    import yaml

    path = recipes_dir() / plan.recipe
    if not path.is_file():
        raise MissingDataError(f"recipe {str(path)!r} is missing; restore it from the repository")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if plan.levels is not None:
        raw["levels"] = [float(x) for x in plan.levels]
    src = dict(raw.get("source", {}))
    if plan.data_key:
        value = Path(data).expanduser() if data is not None else path.parent / str(src.get(plan.data_key, ""))
        src[plan.data_key] = os.path.relpath(value.resolve(), out.resolve())
    raw["source"] = src
    return raw


def data_root(plan: ScalePlan, data: str | Path | None = None) -> Path | None:
    """The source folder the full scale reads (``--data`` or the recipe's), or None."""
    if not plan.data_key:
        return None
    import yaml

    if data is not None:
        return Path(data).expanduser().resolve()
    path = recipes_dir() / plan.recipe
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return (path.parent / str(raw.get("source", {}).get(plan.data_key, ""))).resolve()


def ensure_dataset(recipe: Mapping[str, Any], out: Path, *, progress: bool = True) -> tuple[Path, bool]:
    """Build ``recipe`` into ``out/data`` unless a build with the same recipe is there.

    Returns (dataset folder, whether it was built now)."""
    import yaml

    from cnlbench.manifest import build_from_recipe
    from cnlbench.manifest.atomic import atomic_write_bytes

    out.mkdir(parents=True, exist_ok=True)
    dest = out / "data"
    record = dest / "cnlbench-build.json"
    if record.is_file():
        try:
            old = json.loads(record.read_text(encoding="utf-8")).get("recipe")
        except (OSError, json.JSONDecodeError):
            old = None
        if json.dumps(old, sort_keys=True) == json.dumps(json.loads(json.dumps(recipe)), sort_keys=True):
            return dest, False
    recipe_path = out / "recipe.yaml"
    atomic_write_bytes(recipe_path, yaml.safe_dump(dict(recipe), sort_keys=False).encode("utf-8"))
    build_from_recipe(recipe_path, dest, progress=progress)
    return dest, True


# --------------------------------------------------------------------------------------------
# Checks for the full scale


def check_requirements(plan: ScalePlan, *, device: str, allow_cpu: bool, data: str | Path | None) -> str:
    """Refuse a full-scale run without its data or a GPU; returns the device to use."""
    root = data_root(plan, data)
    if root is not None and not root.exists():
        raise MissingDataError(
            f"the {plan.dataset} data folder {str(root)!r} does not exist; pass --data PATH "
            f"(e.g. a folder holding the Hub Parquet copy of CIFAR-10) or use --scale reduced"
        )
    if not plan.needs_gpu:
        return device
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        if not allow_cpu:
            why = "--device cpu was asked for" if device == "cpu" else "no CUDA GPU is visible"
            raise CnlbenchError(
                f"--scale {plan.scale} trains on {plan.dataset} and needs a CUDA GPU ({why}); run on a GPU "
                "machine, use --scale reduced, or pass --allow-cpu to train on the CPU anyway (slow)"
            )
        return "cpu"
    return device

