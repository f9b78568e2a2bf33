"""Manifests: recipes, builds, the one schema, reading, validation, fingerprints, the card."""

from cnlbench.manifest.families import (
    ConfigPlan,
    FamilyContext,
    SplitPlan,
    family_names,
    get_family,
    register_family,
)
from cnlbench.manifest.recipe import ConfigEntry, Recipe, config_name, load_recipe, parse_config_name
from cnlbench.manifest.build import BuildReport, ConfigSummary, build_from_recipe
from cnlbench.manifest.reader import BuiltDataset, ManifestSplit, open_dataset
from cnlbench.manifest.validate import validate_dataset
from cnlbench.manifest.export import export_hf, load_hf

__all__ = [
    "BuildReport",
    "BuiltDataset",
    "ConfigSummary",
    "ManifestSplit",
    "build_from_recipe",
    "export_hf",
    "load_hf",
    "open_dataset",
    "validate_dataset",
    "ConfigEntry",
    "ConfigPlan",
    "FamilyContext",
    "Recipe",
    "SplitPlan",
    "config_name",
    "family_names",
    "get_family",
    "load_recipe",
    "parse_config_name",
    "register_family",
]
