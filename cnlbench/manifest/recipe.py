"""Recipes: the YAML that says which clean source, which noise families, which levels.

The format is documented in ``docs/recipes.md``. :func:`load_recipe` validates it and returns a
:class:`Recipe`; every problem raises :class:`~cnlbench.errors.RecipeError` naming the key and
the fix. The recipe is recorded verbatim (as parsed, before path resolution) in every manifest,
so a build never embeds machine-specific absolute paths.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from cnlbench.errors import MissingDataError, RecipeError
from cnlbench.manifest.schema import IMAGE_MODES
from cnlbench.noise import DEFAULT_LEVELS
from cnlbench.noise.sampling import MODES

TOP_KEYS = {
    "name": "dataset name (letters, digits, '.', '_', '-')",
    "description": "one paragraph for the dataset card",
    "pretty_name": "human-readable title for the card",
    "seed": "non-negative integer; `cnlbench build --seed` overrides it",
    "license": "licence identifier of the built dataset (e.g. CC-BY-4.0)",
    "citation": "extra BibTeX for the card (the source's citation is always included)",
    "source": "mapping {kind: NAME, ...options}",
    "splits": "mapping {validation: {from: train, fraction: F}, test: {from: train, fraction: F}}",
    "images": "'embed' or 'reference'",
    "levels": "list of noise levels, fractions in [0, 1)",
    "nested": "true/false: noisy sets nested across levels",
    "mode": "'exact' or 'per-sample'",
    "configs": "list of config families [{kind: NAME, noise: FAMILY, ...params}]",
}
ENTRY_KEYS = {"kind", "noise", "levels", "nested", "mode"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_KIND_RE = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
#: Source option keys treated as paths and resolved against the recipe's folder.
_PATH_KEY_RE = re.compile(r"^(root|path|dir|file|files)$|_(root|path|dir|file|files)$")


@dataclass(frozen=True)
class ConfigEntry:
    """One ``configs:`` item: a noise family expanded over levels into configs ``<kind>-<pp>``.

    ``params`` holds every key except ``kind``, ``noise``, ``levels``, ``nested``, ``mode``; the
    family builder validates it.
    """

    kind: str
    noise: str
    levels: tuple[float, ...]
    nested: bool
    mode: str
    params: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. ``raw`` is the parsed YAML (JSON-able) recorded in manifests."""

    name: str
    description: str
    pretty_name: str
    seed: int
    license: str
    citation: str
    source_kind: str
    source_options: dict[str, Any]
    validation_from: str | None
    validation_fraction: float
    images: str
    levels: tuple[float, ...]
    nested: bool
    mode: str
    configs: tuple[ConfigEntry, ...]
    base_dir: Path | None
    raw: dict[str, Any]
    #: ``splits.test.fraction``: carve the clean test split from train (sources without one,
    #: e.g. a flat ImageFolder tree); 0.0 = the source's own test split.
    test_fraction: float = 0.0

    def resolved_source_options(self) -> dict[str, Any]:
        """Source options with relative path values resolved against the recipe's folder (a
        path key's value may be one path or a list of paths, e.g. a CNWL ``image_dir``)."""
        def resolve(value: Any) -> Any:
            if not isinstance(value, str):
                return value
            p = Path(value).expanduser()
            return str(p if p.is_absolute() else (self.base_dir / p))

        out = {}
        for key, value in self.source_options.items():
            if self.base_dir is not None and _PATH_KEY_RE.search(key):
                value = [resolve(v) for v in value] if isinstance(value, (list, tuple)) else resolve(value)
            out[key] = value
        return out


#: ``<kind>-<pp>``: two digits for recipe levels (fractions in [0, 1)), three for 100%.
_LEVEL_SUFFIX = re.compile(r"^(?P<kind>.+)-(?P<pp>\d{2,3})$")


def config_name(kind: str, level: float) -> str:
    """``<kind>-<pp>``: the level in percent with two digits (``sym``, 0.4 -> ``sym-40``).

    The one writer of config names; :func:`parse_config_name` is the one reader. A config
    holding a named label set keeps its own name (``cifar10n-aggre``) and has no level."""
    return f"{kind}-{int(round(level * 100)):02d}"


def parse_config_name(config: str) -> tuple[str, float | None]:
    """The (kind, level) a config name carries, the inverse of :func:`config_name`:
    ``"sym-40" -> ("sym", 0.40)``, ``"asym-100" -> ("asym", 1.0)``; a named label set
    (``"cifar10n-aggre"``) or any name without a ``-<pp>`` suffix -> ``(name, None)``. Builds
    record kind and level; this is for readers that hold only the name (a results row, a
    published setting)."""
    m = _LEVEL_SUFFIX.match(config or "")
    if not m:
        return config or "", None
    return m.group("kind"), int(m.group("pp")) / 100.0


def _fail(key: str, problem: str, fix: str) -> RecipeError:
    return RecipeError(f"recipe key `{key}`: {problem}; {fix}")


def short_repr(value: Any, limit: int = 120) -> str:
    """``repr(value)`` cut to about ``limit`` characters (a 10,000-entry list must not make a
    60 KB error message); sequences say how many entries they have."""
    text = repr(value)
    if len(text) <= limit:
        return text
    n = f" ({len(value)} entries)" if isinstance(value, (list, tuple, dict)) else ""
    return text[:limit] + "..." + n


def _levels(value: Any, key: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise _fail(key, f"expected a non-empty list of fractions, got {short_repr(value)}", "write e.g. `levels: [0.0, 0.2, 0.4]`")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 <= float(v) < 1.0):
            raise _fail(key, f"level {short_repr(v)} is not a fraction in [0, 1)", "write levels as fractions, e.g. 0.4 for 40%")
        pct = float(v) * 100
        if not math.isclose(pct, round(pct), abs_tol=1e-9):
            raise _fail(key, f"level {v!r} is not a whole percent", "config names carry whole percents; use e.g. 0.12 or 0.13")
        out.append(round(pct) / 100)
    if len(set(out)) != len(out):
        dup = next(v for v in out if out.count(v) > 1)
        raise _fail(key, f"level {dup} is listed more than once (in {short_repr(value)})", "list each level once")
    return tuple(sorted(out))


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, f"expected true or false, got {value!r}", "write `true` or `false`")
    return value


def _mode(value: Any, key: str) -> str:
    if value not in MODES:
        raise _fail(key, f"unknown mode {value!r}", f"use one of {list(MODES)}")
    return value


def _str(value: Any, key: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise _fail(key, f"expected a string, got {value!r}", "quote the value")
    return value


def parse_recipe(data: Mapping[str, Any], base_dir: str | Path | None = None) -> Recipe:
    """Validate a parsed recipe mapping. ``base_dir``: folder relative source paths resolve against."""
    if not isinstance(data, Mapping):
        raise RecipeError(f"a recipe must be a mapping at top level, got {type(data).__name__}; see docs/recipes.md")
    raw = copy.deepcopy(dict(data))
    for key in raw:
        if key not in TOP_KEYS:
            raise _fail(str(key), "unknown key", f"valid keys: {sorted(TOP_KEYS)}")
    for key in ("name", "source", "configs"):
        if key not in raw:
            raise _fail(key, "missing", f"add `{key}:` ({TOP_KEYS[key]}); see docs/recipes.md")
    name = _str(raw["name"], "name")
    if not _NAME_RE.match(name):
        raise _fail("name", f"invalid name {name!r}", "use letters, digits, '.', '_' and '-'")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise _fail("seed", f"expected a non-negative integer, got {seed!r}", "write e.g. `seed: 0`")

    source = raw["source"]
    if not isinstance(source, Mapping) or not isinstance(source.get("kind"), str):
        raise _fail("source", f"expected a mapping with a `kind`, got {source!r}", "write e.g. `source: {kind: digits}`")
    source_options = {k: v for k, v in source.items() if k != "kind"}

    splits = raw.get("splits") or {}
    if not isinstance(splits, Mapping):
        raise _fail("splits", f"expected a mapping, got {splits!r}", "write `splits: {validation: {from: train, fraction: 0.1}}`")
    for key in splits:
        if key not in ("validation", "test"):
            raise _fail(f"splits.{key}", "unknown split", "only `validation` and `test` can be carved (from train); train comes from the source")

    def carve(split: str) -> tuple[str | None, float]:
        if split not in splits:
            return None, 0.0
        val = splits[split]
        if not isinstance(val, Mapping) or set(val) - {"from", "fraction"}:
            raise _fail(f"splits.{split}", f"expected {{from: train, fraction: F}}, got {short_repr(val)}", "use only the keys `from` and `fraction`")
        frm = val.get("from", "train")
        if frm != "train":
            raise _fail(f"splits.{split}.from", f"cannot carve from {short_repr(frm)}", "write `from: train`")
        fraction = val.get("fraction")
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
            raise _fail(f"splits.{split}.fraction", f"expected a fraction in (0, 1), got {short_repr(fraction)}", "write e.g. `fraction: 0.1`")
        return frm, float(fraction)

    val_from, val_fraction = carve("validation")
    _, test_fraction = carve("test")

    images = raw.get("images", "embed")
    if images not in IMAGE_MODES:
        raise _fail("images", f"unknown image mode {images!r}", f"use one of {list(IMAGE_MODES)}")
    levels = _levels(raw["levels"], "levels") if "levels" in raw else tuple(float(v) for v in DEFAULT_LEVELS)
    nested = _bool(raw.get("nested", True), "nested")
    mode = _mode(raw.get("mode", "exact"), "mode")

    configs = raw["configs"]
    if not isinstance(configs, list) or not configs:
        raise _fail("configs", f"expected a non-empty list, got {configs!r}", "write e.g. `configs: [{kind: sym, noise: symmetric}]`")
    entries, kinds = [], set()
    for i, entry in enumerate(configs):
        where = f"configs[{i}]"
        if not isinstance(entry, Mapping):
            raise _fail(where, f"expected a mapping, got {entry!r}", "write `{kind: NAME, noise: FAMILY, ...}`")
        for key in ("kind", "noise"):
            if not isinstance(entry.get(key), str):
                raise _fail(f"{where}.{key}", f"missing or not a string ({entry.get(key)!r})", "every config entry needs `kind` (config prefix) and `noise` (family name)")
        kind = entry["kind"]
        if not _KIND_RE.match(kind):
            raise _fail(f"{where}.kind", f"invalid kind {kind!r}", "use lowercase letters and digits, optionally joined by '-' or '_' (e.g. `sym`, `asym`, `web`)")
        if kind in kinds or kind == "clean":
            raise _fail(f"{where}.kind", f"kind {kind!r} is {'reserved' if kind == 'clean' else 'used twice'}", "give each config entry its own kind")
        kinds.add(kind)
        entries.append(
            ConfigEntry(
                kind=kind,
                noise=entry["noise"],
                levels=_levels(entry["levels"], f"{where}.levels") if "levels" in entry else levels,
                nested=_bool(entry["nested"], f"{where}.nested") if "nested" in entry else nested,
                mode=_mode(entry["mode"], f"{where}.mode") if "mode" in entry else mode,
                params={k: copy.deepcopy(v) for k, v in entry.items() if k not in ENTRY_KEYS},
                raw=copy.deepcopy(dict(entry)),
            )
        )
    return Recipe(
        name=name,
        description=_str(raw.get("description"), "description"),
        pretty_name=_str(raw.get("pretty_name"), "pretty_name", default=name),
        seed=int(seed),
        license=_str(raw.get("license"), "license", default="unknown"),
        citation=_str(raw.get("citation"), "citation"),
        source_kind=source["kind"],
        source_options=source_options,
        validation_from=val_from,
        validation_fraction=val_fraction,
        images=images,
        levels=levels,
        nested=nested,
        mode=mode,
        configs=tuple(entries),
        base_dir=Path(base_dir) if base_dir is not None else None,
        raw=raw,
        test_fraction=test_fraction,
    )


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A deep copy of the raw recipe ``data`` with ``KEY=VALUE`` overrides applied.

    KEY is a dotted path; integer parts index lists (``configs.2.file``). VALUE is parsed as
    YAML (``0.5``, ``[0.2, 0.4]``, ``true``). A value for a path-like key (``root``, ``file``,
    ``*_dir``, ...) that is a relative path is made absolute against the CURRENT directory, the
    place the user typed it from, not the recipe's folder.
    """
    import yaml

    out: Any = copy.deepcopy(dict(data))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise _fail(item, "is not KEY=VALUE", "write e.g. --set source.root=/data/cifar10")
        parts = key.strip().split(".")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        if isinstance(value, str) and _PATH_KEY_RE.search(parts[-1]) and value and not Path(value).is_absolute():
            value = str(Path(value).resolve())
        node = out
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise _fail(key, f"indexes a list of {len(node)} entries with {part!r}",
                                f"use an index 0..{len(node) - 1}")
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                raise _fail(key, f"goes through {part!r}, which is not a mapping or list",
                            "override a key that exists in the recipe's structure")
    return out


def parse_yaml(text: str, name: str) -> Any:
    """``yaml.safe_load(text)`` refusing a key given twice in one mapping (YAML keeps the last
    silently, so a recipe would lose a setting without a word). ``name`` names the file."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key; the recipe checks refuse it later
                continue
            if first != key_node.start_mark.line + 1:
                raise RecipeError(f"recipe {name!r}: key {short_repr(key)} is given twice (lines {first} and "
                                  f"{key_node.start_mark.line + 1}); keep one")
        return loader.construct_mapping(node, deep=deep)

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {name!r} is not valid YAML ({exc}); fix the syntax at the position shown") from None


def load_recipe(recipe: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> Recipe:
    """Load and validate a recipe from a YAML file path or an already parsed mapping.

    Relative source paths resolve against the YAML file's folder (or the current directory
    for a mapping). ``overrides``: ``KEY=VALUE`` strings, see :func:`apply_overrides`.
    """
    if isinstance(recipe, Mapping):
        return parse_recipe(apply_overrides(recipe, overrides), base_dir=Path.cwd())
    path = Path(recipe)
    if not path.is_file():
        raise MissingDataError(f"recipe {str(path)!r} does not exist; pass the path of a recipe YAML (e.g. recipes/digits.yaml)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(f"recipe {str(path)!r} is not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} at "
                          f"offset {exc.start}); save it as UTF-8") from None
    data = parse_yaml(text, str(path))
    if overrides:
        if not isinstance(data, Mapping):
            raise RecipeError(f"recipe {str(path)!r} is not a YAML mapping; see docs/recipes.md for the format")
        data = apply_overrides(data, overrides)
    return parse_recipe(data, base_dir=path.resolve().parent)
