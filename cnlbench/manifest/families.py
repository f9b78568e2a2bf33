"""Noise families: how one recipe ``configs:`` entry becomes one or more built configs.

This is the plug-in point for new kinds of noise. A *family* is a function registered under
the name a recipe writes as ``noise:``::

    from cnlbench.manifest.families import ConfigPlan, FamilyContext, SplitPlan, register_family

    @register_family("web")
    def build_web(ctx: FamilyContext) -> list[ConfigPlan]:
        ...

The builder receives a :class:`FamilyContext` (the clean ``train`` and ``validation`` splits,
class names, the recipe entry and its params, the levels, and seeded generators) and returns
one :class:`ConfigPlan` per config it wants written (usually one per level, named
``ctx.config_name(level)``; real label sets may use any name, e.g. ``cifar10n-aggre``). Each plan
holds one :class:`SplitPlan` per noisy split (``train`` and ``validation``): the rows in output
order with ``label``, ``clean_label``, ``is_noisy``, ``noise_source`` and an
:class:`~cnlbench.sources.base.ImageAccess` giving each row's image, plus the split's noise
metadata (``NoiseResult.to_metadata()`` for the noise layer's results). The build writes them,
computes realised rates from ``is_noisy`` and records everything; a builder never writes files.

Rules a builder follows:

* Draw only from ``ctx.rng`` or ``ctx.split_rng(split)``: both derive from
  ``SeedSequence(entropy=recipe_seed, spawn_key=(stable_hash(kind), ...))``, so adding a config
  never changes another's draws, and the same recipe and seed give the same plans.
* Raise :class:`~cnlbench.errors.RecipeError` for bad ``ctx.params`` (name the key and the fix;
  :meth:`FamilyContext.param` does this for you).
* ``clean_label`` is ``-1`` where the true class is unknown; ``is_noisy`` is true when the label
  or the image is wrong for the row.

A family is one module of this package named ``family_*.py`` (found by
:class:`cnlbench.registry.Registry` on the first lookup of a name, like source kinds and
methods); the synthetic families are registered below. A family defined elsewhere registers
when its module is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from cnlbench.errors import RecipeError
from cnlbench.manifest.fingerprint import stable_hash
from cnlbench.manifest.recipe import ConfigEntry, config_name
from cnlbench.registry import Registry
from cnlbench.sources.base import ImageAccess, SplitData

NOISE_SOURCES = ("none", "synthetic", "web", "human", "structured")
NOISY_SPLITS = ("train", "validation")


@dataclass(frozen=True)
class SplitPlan:
    """One noisy split of one config, rows in output order.

    Attributes:
        ids: (N,) str, unique.
        label: (N,) int64 in ``0..K-1``, the label to train on.
        clean_label: (N,) int64, true label or -1 where unknown.
        is_noisy: (N,) bool.
        noise_source: (N,) str, each one of :data:`NOISE_SOURCES`.
        images: image of each row, ``len(images) == N``.
        noise: JSON-able noise metadata of this split (``NoiseResult.to_metadata()``); the
            build adds requested level, realised rate and matrices computed from the rows.
    """

    ids: np.ndarray
    label: np.ndarray
    clean_label: np.ndarray
    is_noisy: np.ndarray
    noise_source: np.ndarray
    images: ImageAccess
    noise: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        cols = {"label": self.label, "clean_label": self.clean_label, "is_noisy": self.is_noisy, "noise_source": self.noise_source}
        for name, col in cols.items():
            if np.shape(col) != (n,):
                raise RecipeError(f"family produced column {name!r} of shape {np.shape(col)} for {n} ids; every column needs one entry per row")
        if len(self.images) != n:
            raise RecipeError(f"family produced {len(self.images)} images for {n} rows; give exactly one image per row")
        object.__setattr__(self, "ids", np.asarray(self.ids).astype(str))
        object.__setattr__(self, "label", np.asarray(self.label, dtype=np.int64))
        object.__setattr__(self, "clean_label", np.asarray(self.clean_label, dtype=np.int64))
        object.__setattr__(self, "is_noisy", np.asarray(self.is_noisy, dtype=bool))
        object.__setattr__(self, "noise_source", np.asarray(self.noise_source).astype(str))

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class ConfigPlan:
    """One config to write: its name, noise kind, requested level and noisy splits.

    ``level`` is the requested fraction (``None`` for real label sets that have no nominal
    level); ``splits`` maps ``"train"`` and ``"validation"`` to their :class:`SplitPlan`.
    ``spec`` is the JSON-able description of the family (shown on the card).
    """

    name: str
    kind: str
    level: float | None
    splits: dict[str, SplitPlan]
    nested: bool
    spec: dict[str, Any] = field(default_factory=dict)
    #: (K, K) requested row-stochastic matrix, ``T[i, j] = P(noisy=j | clean=i)``, if any.
    requested_matrix: np.ndarray | None = None


@dataclass(frozen=True)
class FamilyContext:
    """Everything a family builder may use. Builders must not read global state or files
    other than those named in ``params`` (resolve them with :meth:`path`)."""

    entry: ConfigEntry
    class_names: tuple[str, ...]
    splits: Mapping[str, SplitData]  # clean "train" and "validation"
    seed: int
    recipe_dir: Path | None = None

    @property
    def kind(self) -> str:
        return self.entry.kind

    @property
    def params(self) -> dict[str, Any]:
        return self.entry.params

    @property
    def levels(self) -> tuple[float, ...]:
        return self.entry.levels

    @property
    def nested(self) -> bool:
        return self.entry.nested

    @property
    def mode(self) -> str:
        return self.entry.mode

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def rng(self) -> np.random.Generator:
        """A fresh generator from ``SeedSequence(entropy=seed, spawn_key=(stable_hash(kind),))``."""
        return np.random.default_rng(np.random.SeedSequence(entropy=self.seed, spawn_key=(stable_hash(self.kind),)))

    def split_rng(self, split: str) -> np.random.Generator:
        """A fresh generator for one split: spawn key ``(stable_hash(kind), stable_hash(split))``."""
        key = (stable_hash(self.kind), stable_hash(split))
        return np.random.default_rng(np.random.SeedSequence(entropy=self.seed, spawn_key=key))

    def config_name(self, level: float) -> str:
        return config_name(self.kind, level)

    def param(self, key: str, default: Any = ..., types: type | tuple[type, ...] = object) -> Any:
        """``params[key]`` checked against ``types``; RecipeError naming the key when missing or wrong."""
        where = f"configs[kind={self.kind}].{key}"
        if key not in self.params:
            if default is ...:
                raise RecipeError(f"recipe key `{where}`: missing; noise family {self.entry.noise!r} needs it (see docs/recipes.md)")
            return default
        value = self.params[key]
        if not isinstance(value, types) or isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise RecipeError(f"recipe key `{where}`: got {value!r}; expected {types}")
        return value

    def check_params(self, allowed: Sequence[str]) -> None:
        """RecipeError for any param not in ``allowed``."""
        for key in self.params:
            if key not in allowed:
                raise RecipeError(
                    f"recipe key `configs[kind={self.kind}].{key}`: not a parameter of noise family "
                    f"{self.entry.noise!r}; valid parameters: {sorted(allowed)}"
                )

    def path(self, value: str) -> Path:
        """A path from ``params`` resolved against the recipe's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() or self.recipe_dir is None else self.recipe_dir / p


FamilyBuilder = Callable[[FamilyContext], list[ConfigPlan]]
FAMILIES: Registry[FamilyBuilder] = Registry(
    "noise family", "cnlbench.manifest", error=RecipeError, plural="noise families", prefix="family_")


def register_family(noise: str) -> Callable[[FamilyBuilder], FamilyBuilder]:
    """Decorator registering a family builder under the recipe's ``noise:`` name."""

    def deco(fn: FamilyBuilder) -> FamilyBuilder:
        return FAMILIES.add(noise, fn)

    return deco


def family_names() -> list[str]:
    """Every registered noise family (what a recipe may write as ``noise:``), sorted."""
    return FAMILIES.names()


def get_family(noise: str) -> FamilyBuilder:
    """The builder registered as ``noise``; the error names the recipe key and the valid names."""
    try:
        return FAMILIES.get(noise)
    except RecipeError as exc:
        raise RecipeError(f"recipe `noise: {noise}`: {exc}") from None


def plan_configs(ctx: FamilyContext) -> list[ConfigPlan]:
    """Run the family of ``ctx.entry`` and check its plans (splits present, ids aligned)."""
    plans = get_family(ctx.entry.noise)(ctx)
    for plan in plans:
        if set(plan.splits) != set(NOISY_SPLITS):
            raise RecipeError(f"noise family {ctx.entry.noise!r} planned splits {sorted(plan.splits)} for {plan.name}; it must plan exactly {list(NOISY_SPLITS)}")
        for split, sp in plan.splits.items():
            bad = sorted(set(sp.noise_source.tolist()) - set(NOISE_SOURCES))
            if bad:
                raise RecipeError(f"config {plan.name} split {split}: noise_source values {bad} are not in {list(NOISE_SOURCES)}")
            if len(np.unique(sp.ids)) != len(sp.ids):
                raise RecipeError(f"config {plan.name} split {split}: ids are not unique; a family must give each row its own id")
    return plans


# --------------------------------------------------------------------------------------------
# Synthetic families: transition matrices from cnlbench.noise applied over all levels.

#: Recipe ``noise:`` names handed to ``cnlbench.noise.make_family`` unchanged.
MAKE_FAMILY_NAMES = ("symmetric", "symmetric-all", "pair-flip", "cifar10", "cifar100", "cifar100-legacy-blocks")


def _class_index(ctx: FamilyContext, value: Any, key: str) -> int:
    name = str(value)
    if name not in ctx.class_names:
        raise RecipeError(f"recipe key `configs[kind={ctx.kind}].{key}`: {value!r} is not a class name; valid names: {list(ctx.class_names)}")
    return ctx.class_names.index(name)


def base_flip_matrix(ctx: FamilyContext) -> np.ndarray:
    """(K, K) base flip matrix ``B`` from ``matrix: [[...]]`` or ``pairs: {from: to}``.

    At level ``p`` the transition matrix is ``T(p) = (1 - p) I + p B`` (row-stochastic,
    ``T[i, j] = P(noisy = j | clean = i)``). ``pairs`` maps class names to class names
    (``{"1": "7"}`` puts ``B[1, 7] = 1``); classes not listed keep their label (``B[i, i] = 1``).
    """
    k = ctx.num_classes
    if ctx.entry.noise == "pairs":
        pairs = ctx.param("pairs", types=dict)
        b = np.eye(k)
        for src, dst in pairs.items():
            i, j = _class_index(ctx, src, f"pairs.{src}"), _class_index(ctx, dst, f"pairs.{src}")
            if i == j:
                raise RecipeError(f"recipe key `configs[kind={ctx.kind}].pairs.{src}`: maps a class to itself; drop the pair")
            b[i] = 0.0
            b[i, j] = 1.0
        if not pairs:
            raise RecipeError(f"recipe key `configs[kind={ctx.kind}].pairs`: empty, so no class is ever flipped and every "
                              f"`{ctx.kind}-<pp>` config would hold 0% noise; list pairs such as {{\"1\": \"7\"}}")
        return b
    b = _matrix_param(ctx, ctx.param("matrix", types=list), k)
    if np.allclose(np.diag(b), 1.0):
        raise RecipeError(
            f"recipe key `configs[kind={ctx.kind}].matrix`: the identity matrix flips nothing, so every "
            f"`{ctx.kind}-<pp>` config would hold 0% noise under a noisy name; give each class to flip a row "
            "with B[i, i] < 1 (or use `noise: symmetric`)"
        )
    return b


def _matrix_param(ctx: FamilyContext, rows: list, k: int) -> np.ndarray:
    """A recipe's ``matrix: [[...]]`` as a (K, K) row-stochastic float array; every refusal
    names the bad row or entry."""
    key = f"recipe key `configs[kind={ctx.kind}].matrix`"
    want = f"a {k}x{k} row-stochastic matrix (B[i, j] = P(noisy=j | clean=i, flipped)), one row per class"
    if len(rows) != k:
        raise RecipeError(f"{key}: {len(rows)} rows, expected {want}")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != k:
            got = f"{len(row)} entries" if isinstance(row, list) else repr(row)[:60]
            raise RecipeError(f"{key}: row {i} has {got}, expected {k} numbers; write {want}")
        for j, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise RecipeError(f"{key}: entry [{i}][{j}] = {v!r:.60} is not a finite number; write {want}")
            if v < 0:
                raise RecipeError(f"{key}: entry [{i}][{j}] = {v} is negative; probabilities are >= 0")
        if not np.isclose(sum(row), 1.0, atol=1e-6):
            raise RecipeError(f"{key}: row {i} sums to {sum(row):.6g}, not 1; make every row sum to 1")
    return np.asarray(rows, dtype=np.float64)


def _noise_api():
    from cnlbench import noise  # noise is layer 1; imported here so families import cheaply

    return noise


def transition_family(ctx: FamilyContext) -> tuple[Callable[[float], np.ndarray], dict[str, Any]]:
    """(level -> (K, K) row-stochastic T, JSON-able spec) for a synthetic recipe entry.

    ``matrix: [[...]]`` and ``pairs: {...}`` become ``make_family("matrix", K, base=B)``
    (``T(p) = (1 - p) I + p B``); other names go to ``make_family`` with the entry's params.
    """
    from cnlbench.errors import NoiseSpecError

    noise = _noise_api()
    name, params = ctx.entry.noise, dict(ctx.params)
    try:
        if name in ("matrix", "pairs"):
            ctx.check_params(["matrix"] if name == "matrix" else ["pairs"])
            fam = noise.make_family("matrix", ctx.num_classes, base=base_flip_matrix(ctx))
            spec = dict(fam.spec)
            if name == "pairs":
                spec["pairs"] = {str(k): str(v) for k, v in params["pairs"].items()}
            return fam, spec
        fam = noise.make_family(name, ctx.num_classes, **params)
    except NoiseSpecError as exc:
        raise RecipeError(f"recipe entry `configs[kind={ctx.kind}]` (noise: {name}): {exc}") from None
    return fam, dict(getattr(fam, "spec", {"family": name, **params}))


def synthetic_family(ctx: FamilyContext) -> list[ConfigPlan]:
    """Apply a transition-matrix family at every level to the clean train and validation labels.

    Exact counts (largest remainder) by default, ``mode: per-sample`` for Bernoulli draws;
    ``nested: true`` makes the noisy set at level p a subset of that at level q > p.
    """
    noise = _noise_api()
    fam, spec = transition_family(ctx)
    per_split = {}
    for split in NOISY_SPLITS:
        clean = ctx.splits[split]
        per_split[split] = noise.noise_levels(
            clean.labels, fam, list(ctx.levels), ctx.split_rng(split), nested=ctx.nested, mode=ctx.mode
        )
    return [
        ConfigPlan(ctx.config_name(level), ctx.kind, level,
                   {split: label_noise_split(ctx.splits[split], per_split[split][level]) for split in NOISY_SPLITS},
                   ctx.nested, spec, fam(level))
        for level in ctx.levels
    ]


def label_noise_split(clean: SplitData, res: Any) -> SplitPlan:
    """The split plan of label noise on a clean split: same rows and images, ``res``'s labels
    (a ``cnlbench.noise.NoiseResult``), flipped rows marked ``synthetic``."""
    return SplitPlan(
        ids=clean.ids,
        label=res.noisy_labels,
        clean_label=clean.labels,
        is_noisy=res.is_noisy,
        noise_source=np.where(res.is_noisy, "synthetic", "none"),
        images=clean.images,
        noise=res.to_metadata(),
    )


for _name in (*MAKE_FAMILY_NAMES, "matrix", "pairs"):
    register_family(_name)(synthetic_family)
