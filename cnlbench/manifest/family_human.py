"""The noise family for real noisy-label sets: ``human`` (CIFAR-10N / CIFAR-100N), and the
alignment and plan every real label set shares (the ``external`` family of any label file,
:mod:`cnlbench.manifest.family_external`, builds on them).

Recipe entry::

    configs:
      - {kind: cifar10n, noise: human, file: ../data/cifar10n/CIFAR-10_human.pt,
         sets: [cifar10n-aggre, cifar10n-worst]}        # default: every set of the file

Each set becomes ONE config named after it (``cifar10n-aggre``; external: ``name``, default the
entry's kind), with no nominal level (``level: None``), ``nested: false`` and no requested
matrix; the realised rate and matrix come from the rows (``cnlbench.noise.from_external_labels``).

Alignment: label files list one label per training example in the SOURCE order of the clean
``train`` split before a validation split is carved. The family recovers that order from the
ids (sorted ids == source order for CIFAR, Stanford Cars, ImageFolder and Hub sources, whose
ids are zero-padded positions or sorted paths), so the carved validation rows get their own
human labels (noisy validation, as the architecture asks). When the file covers only the
train split (a source that ships its own validation), validation stays clean and the spec says
so. CIFAR-N files carry ``clean_label``: it must equal the source labels in that order, which
also proves the alignment; external ``clean,noisy`` files are checked the same way.

Licence: every plan's ``spec`` carries ``license`` and ``citation`` (CIFAR-N: CC BY-NC 4.0);
the card writer includes the spec of each config.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnlbench.errors import RecipeError, SourceError
from cnlbench.manifest.families import NOISY_SPLITS, ConfigPlan, FamilyContext, SplitPlan, register_family
from cnlbench.sources.cifar_n import CIFAR_N_CITATION, CIFAR_N_LICENSE, CIFAR_N_ROWS, CIFAR_N_SETS, cifar_n_labels

__all__ = ["build_human", "label_set_plan", "source_order"]


def source_order(ctx: FamilyContext, n_file: int, what: str = "the label file") -> tuple[dict[str, np.ndarray], np.ndarray, bool]:
    """Map the clean splits back to the source order a label file of ``n_file`` rows uses.

    Returns ``(positions, clean_full, covers_validation)``: ``positions[split]`` (N_split,)
    int64 is each row's index into the file, ``clean_full`` (n_file,) int64 the clean labels in
    file order, and whether the validation rows are covered.
    """
    tr, va = ctx.splits["train"], ctx.splits["validation"]
    if n_file == len(tr) + len(va):
        ids = np.concatenate([tr.ids, va.ids])
        labels = np.concatenate([tr.labels, va.labels])
        covers_val = True
    elif n_file == len(tr):
        ids, labels, covers_val = tr.ids, tr.labels, False
    else:
        raise SourceError(
            f"{what} has {n_file} rows but the clean train split has {len(tr)} rows and "
            f"validation {len(va)} (together {len(tr) + len(va)}); the file needs one row per "
            "training example of this source"
        )
    order = np.argsort(ids, kind="stable")
    pos = np.empty(len(ids), dtype=np.int64)
    pos[order] = np.arange(len(ids))
    positions = {"train": pos[: len(tr)]}
    if covers_val:
        positions["validation"] = pos[len(tr) :]
    return positions, labels[order], covers_val


def _external_result(clean: np.ndarray, noisy: np.ndarray, num_classes: int, source: str) -> Any:
    """Realised rate and (K, K) matrix of given labels (``cnlbench.noise.from_external_labels``)."""
    from cnlbench.noise import from_external_labels

    return from_external_labels(clean, noisy, source=source, num_classes=num_classes)


def label_set_plan(
    ctx: FamilyContext,
    name: str,
    noisy_full: np.ndarray,
    positions: dict[str, np.ndarray],
    clean_full: np.ndarray,
    spec: dict[str, Any],
    noise_source: str,
) -> ConfigPlan:
    """The config ``name`` of a real label set: ``noisy_full`` (file order) mapped onto the clean
    splits by ``positions`` (see :func:`source_order`; a split not covered stays clean), rows
    marked noisy where the label differs, ``spec`` completed with the full file's realised rate
    and what validation holds."""
    full = _external_result(clean_full, noisy_full, ctx.num_classes, noise_source)
    splits = {}
    for split in NOISY_SPLITS:
        clean = ctx.splits[split]
        if split in positions:
            noisy = noisy_full[positions[split]]
        else:
            noisy = clean.labels.copy()
        res = _external_result(clean.labels, noisy, ctx.num_classes, noise_source)
        splits[split] = SplitPlan(
            ids=clean.ids,
            label=res.noisy_labels,
            clean_label=clean.labels,
            is_noisy=res.is_noisy,
            noise_source=np.where(res.is_noisy, noise_source, "none"),
            images=clean.images,
            noise=res.to_metadata(),
        )
    spec = {
        **spec,
        "realised_rate_full_file": float(full.realised_rate),
        "validation": "noisy: the file's labels for the carved validation rows"
        if "validation" in positions
        else "clean: the file covers the train split only",
    }
    return ConfigPlan(name=name, kind=ctx.kind, level=None, splits=splits, nested=False, spec=spec)


@register_family("human")
def build_human(ctx: FamilyContext) -> list[ConfigPlan]:
    """CIFAR-10N / CIFAR-100N sets (params: ``file`` (the ``.pt`` or its folder), ``sets``)."""
    ctx.check_params(["file", "sets"])
    path = ctx.path(ctx.param("file", types=str))
    default = [s for s, spec in CIFAR_N_SETS.items() if spec.num_classes == ctx.num_classes]
    sets = ctx.param("sets", default, types=list)
    if not sets:
        raise RecipeError(f"recipe key `configs[kind={ctx.kind}].sets`: empty; list e.g. [cifar10n-aggre]")
    plans = []
    for name in sets:
        spec = CIFAR_N_SETS.get(str(name))
        if spec is None:
            raise RecipeError(
                f"recipe key `configs[kind={ctx.kind}].sets`: unknown set {name!r}; valid: {sorted(CIFAR_N_SETS)}"
            )
        if spec.num_classes != ctx.num_classes:
            raise RecipeError(
                f"set {name!r} has {spec.num_classes} classes but the source has {ctx.num_classes}; "
                f"use it with a {spec.variant} source"
            )
        positions, clean_full, _ = source_order(ctx, CIFAR_N_ROWS)
        _, noisy_full = cifar_n_labels(str(name), path, clean_labels=clean_full)
        plans.append(
            label_set_plan(
                ctx, str(name), noisy_full, positions, clean_full,
                {
                    "family": "human", "set": str(name), "file": path.name, "key": spec.key,
                    "license": CIFAR_N_LICENSE, "citation": CIFAR_N_CITATION,
                },
                "human",
            )
        )
    return plans
