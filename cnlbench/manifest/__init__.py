"""Manifests: recipes, builds, the one schema, reading, validation, fingerprints, the card."""

from cnlbench.manifest.families import (
    ConfigPlan,
    FamilyContext,
    SplitPlan,
    family_names,
    get_family,
    register_family,
)
from cnlbench.manifest.recipe import ConfigEntry, Recipe, config_name, load_recipe

__all__ = [
    "ConfigEntry",
    "ConfigPlan",
    "FamilyContext",
    "Recipe",
    "SplitPlan",
    "config_name",
    "family_names",
    "get_family",
    "load_recipe",
    "register_family",
]
