"""The dataset card (``README.md``): YAML front matter ``datasets`` reads, and prose a person reads.

The YAML is produced by the ``datasets``/``huggingface_hub`` serialisers (``MetadataConfigs``,
``DatasetInfosDict``, ``DatasetCardData``) from the one schema definition, so ``configs:`` and
``dataset_info:`` are exactly what ``load_dataset`` expects.
"""

from __future__ import annotations

from typing import Any, Mapping

from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCardData

from cnlbench.manifest.recipe import Recipe
from cnlbench.manifest.schema import SPLITS, dataset_info
from cnlbench.noise import ORIENTATION
from cnlbench.sources.base import Source

CNLBENCH_CITATION = """@software{cnlbench,
  title = {cnlbench: controlled label-noise benchmarks},
  version = {%s},
  note = {https://github.com/cnlbench/cnlbench}
}"""


def _data_files(record: Mapping[str, Any], name: str) -> list[dict[str, str]]:
    cfg = record["configs"][name]
    return [{"split": s, "path": cfg["splits"][s]["file"]} for s in SPLITS]


def card_yaml(record: Mapping[str, Any], recipe: Recipe) -> str:
    """The YAML front matter (without ``---`` fences)."""
    names = list(record["configs"])
    configs = MetadataConfigs(
        {
            n: {"data_files": _data_files(record, n), **({"default": True} if record["configs"][n]["default"] else {})}
            for n in names
        }
    )
    infos = DatasetInfosDict(
        {
            n: dataset_info(record["class_names"], record["images"], {s: v["rows"] for s, v in record["configs"][n]["splits"].items()})
            for n in names
        }
    )
    data = DatasetCardData(
        license=recipe.license.lower() if recipe.license != "unknown" else "other",
        pretty_name=recipe.pretty_name,
        task_categories=["image-classification"],
        tags=["label-noise", "noisy-labels", "cnlbench"],
        size_categories=[_size_category(record["source"]["rows"])],
    )
    configs.to_dataset_card_data(data)
    infos.to_dataset_card_data(data)
    # The builder does not measure Arrow sizes; ``num_bytes: 0`` would be a false size, so leave it out.
    for info in data.dataset_info if isinstance(data.dataset_info, list) else [data.dataset_info]:
        for split in info.get("splits", []):
            split.pop("num_bytes", None)
    return data.to_yaml()


def _size_category(rows: Mapping[str, int]) -> str:
    n = sum(rows.values())
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "1M<n<10M"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


_BULKY = ("base", "base_matrix", "matrix", "flip_matrix", "citation", "license")


def _flips(matrix: Any, class_names: list[str]) -> str:
    """Off-diagonal entries of a (K, K) row-stochastic flip matrix as ``a->b`` (weights if not 1)."""
    parts = []
    for i, row in enumerate(matrix):
        for j, w in enumerate(row):
            if i != j and w:
                a, b = class_names[i] if i < len(class_names) else i, class_names[j] if j < len(class_names) else j
                parts.append(f"{a}->{b}" + ("" if abs(w - 1.0) < 1e-12 else f" ({w:.3g})"))
    if len(parts) > 24:
        return f"{len(parts)} off-diagonal flip entries (full matrix in the metadata)"
    return ", ".join(parts) if parts else "none"


def _spec_prose(spec: Mapping[str, Any], class_names: list[str]) -> str:
    """A readable one-line summary of a family's noise spec: description first, then short
    parameters; matrices as their flips (the full matrices stay in the Parquet metadata)."""
    parts = [str(spec[k]) for k in ("description", "construction") if spec.get(k)]
    for key in ("base", "base_matrix"):
        if isinstance(spec.get(key), list):
            parts.append(f"flips: {_flips(spec[key], class_names)}")
            break
    for k, v in sorted(spec.items()):
        if k in _BULKY or k in ("description", "construction", "pairs", "validation"):
            continue
        text = str(v)
        if len(text) > 80:
            continue
        parts.append(f"{k}={text}")
    return "; ".join(parts) if parts else "see metadata"


#: Web pools that are simulated, not retrieved from the web: said so wherever they are named.
SIMULATED_POOLS = {
    "digits-web": "**simulated web pool**: look-alike glyphs drawn with a font and labelled by simulated raters "
                  "(`cnlbench/sources/digits_web.py`), built like CNWL's web noise; a stand-in for web noise, "
                  "not web images",
}


def _within_flipped(cfg: Mapping[str, Any]) -> tuple[int, int] | None:
    """``(flipped classes, K)`` when the requested matrix flips only some classes, else None."""
    T = cfg.get("requested_matrix")
    if not T:
        return None
    flipped = sum(1.0 - row[i] > 1e-12 for i, row in enumerate(T))
    return (flipped, len(T)) if 0 < flipped < len(T) else None


def level_note(cfg: Mapping[str, Any], class_names: list[str]) -> str:
    """A short plain-text note on what a config's level means, for tables beside the card:
    ``"flip prob. within 4 of 10 classes"`` (partial matrices: the overall rate is lower),
    ``"simulated web pool"``, and ``"majority wrong: 7->1"`` where labels alone cannot recover a
    class; "" when the level is the plain overall rate."""
    notes = []
    within = _within_flipped(cfg)
    if within and cfg.get("level"):
        notes.append(f"flip prob. within {within[0]} of {within[1]} classes")
    if str((cfg.get("noise_spec") or {}).get("pool", "")) in SIMULATED_POOLS:
        notes.append("simulated web pool")
    majority = majority_flips(cfg, class_names)
    if majority:
        notes.append("majority wrong: " + ", ".join(majority[:3]) + (", ..." if len(majority) > 3 else ""))
    return "; ".join(notes)


def majority_flips(cfg: Mapping[str, Any], class_names: list[str]) -> list[str]:
    """``"cat->dog"`` for each class whose requested matrix makes a wrong label at least as
    likely as the right one (the class's majority label is then wrong: labels alone cannot
    recover it)."""
    T = cfg.get("requested_matrix") or []

    def name(k: int) -> str:
        return class_names[k] if k < len(class_names) else str(k)

    out = []
    for i, row in enumerate(T):
        j = max((j for j in range(len(row)) if j != i), key=lambda j: row[j], default=None)
        if j is not None and row[j] > 0 and row[j] >= row[i] - 1e-12:
            out.append(f"{name(i)}->{name(j)}")
    return out


def _dedupe_citations(cites: list[str | None]) -> list[str]:
    """Citations in order, each BibTeX key once (the same entry from the source and a family)."""
    import re

    seen, out = set(), []
    for cite in cites:
        if not cite or not cite.strip():
            continue
        m = re.match(r"\s*@\w+\s*\{\s*([^,\s]+)\s*,", cite)
        key = m.group(1) if m else " ".join(cite.split())
        if key not in seen:
            seen.add(key)
            out.append(cite)
    return out


def _imported_note(configs: Mapping[str, Any]) -> str:
    """" ..." naming the configs imported line for line from a released split file (CNWL
    ``from_splits``): their splits are that file's lines, not the clean splits; "" when none."""
    imported = sorted(n for n, c in configs.items() if (c.get("noise_spec") or {}).get("from_splits"))
    if not imported:
        return ""
    shown = ", ".join(f"`{n}`" for n in imported[:6]) + (f" and {len(imported) - 6} more" if len(imported) > 6 else "")
    return (f" Configs imported from a released split file ({shown}) are the exception: their noisy `train` and "
            "`validation` are that file's lines (validation held out from the file itself, see each config's "
            "note), so their sizes are the file's, not the clean splits'.")


def render_card(record: Mapping[str, Any], recipe: Recipe, source: Source) -> str:
    """The full ``README.md`` text for a build record (see ``build.build_from_recipe``)."""
    configs = record["configs"]
    default = record["default_config"]
    rows = record["source"]["rows"]
    lines = ["---", card_yaml(record, recipe), "---", "", f"# {recipe.pretty_name}", ""]
    if recipe.description:
        lines += [recipe.description.strip(), ""]
    lines += [
        f"Built by cnlbench {record['cnlbench_version']} from the clean source `{record['source']['kind']}` "
        f"({source.name}; {len(record['class_names'])} classes: {', '.join(record['class_names'])}).",
        f"Clean splits: train {rows['train']}, validation {rows['validation']}, test {rows['test']} examples. "
        "Every config has its own noisy `train` and noisy `validation` split (noise applied the same way as "
        "to train, so model selection sees noisy labels as it would in practice) and shares one clean `test` "
        "split (`clean/`)." + _imported_note(configs),
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("path/to/this/folder", "{default}")   # or any config below',
        "```",
        "",
        f"`load_dataset(folder)` without a config gives the default config `{default}`. Columns: `id`, "
        + ("`image` (embedded PNG bytes)" if record["images"] == "embed" else "`image_path` (POSIX path under the image root)")
        + ", `label` (the label to train on), `clean_label` (true label, -1 where unknown), `is_noisy`, "
        "`noise_source` (`none`, `synthetic`, `web`, `human`, `structured`). With cnlbench: "
        "`cnlbench.manifest.open_dataset(folder)`.",
        "",
        "## Noise",
        "",
        f"Transition matrices are row-stochastic: `{ORIENTATION}`. Seed: `{record['seed']}`. "
        "Per-config generators derive from `SeedSequence(entropy=seed, spawn_key=(stable_hash(kind), stable_hash(split)))`, "
        "so adding a config never changes another's labels.",
        "",
    ]
    kinds: dict[str, dict] = {}
    for cfg in configs.values():
        kinds.setdefault(cfg["kind"], cfg)
    class_names = list(record["class_names"])
    for kind, cfg in kinds.items():
        entry = next((e for e in recipe.configs if e.kind == kind), None)
        mode = entry.mode if entry else "exact"
        if cfg["level"] is None:  # real label sets (human, external): named configs, labels as given
            for name, c in configs.items():
                if c["kind"] == kind:
                    lines.append(
                        f"- `{name}`: {_spec_prose(c['noise_spec'], class_names)}; the noisy labels are taken from the "
                        "label file as given, one per example (no sampling and no nominal level: the realised rate "
                        "is measured from the rows)."
                    )
            continue
        simulated = SIMULATED_POOLS.get(str(cfg["noise_spec"].get("pool", "")))
        lines.append(
            f"- `{kind}-*`: {simulated + '. ' if simulated else ''}{_spec_prose(cfg['noise_spec'], class_names)}; "
            f"{'nested' if cfg['nested'] else 'independent'} across levels "
            f"(nested: the noisy set at a level is a subset of that at every higher level); sampling `{mode}` "
            "(exact: realised counts match the target by largest-remainder rounding, to within one example "
            "per class)."
        )
        if cfg["noise_spec"].get("validation"):  # how the family made this kind's noisy validation split
            lines[-1] += f" Validation: {cfg['noise_spec']['validation']}."
    lines += [
        "",
        "### Requested and realised noise rates",
        "",
        "| config | train | validation | requested level | realised overall (train) | realised overall (validation) | nested |",
        "|---|---|---|---|---|---|---|",
    ]
    partial: dict[str, tuple[int, int]] = {}
    majority: list[str] = []
    for name, cfg in configs.items():
        sp = cfg["splits"]
        within = _within_flipped(cfg)
        level = _pct(cfg["level"])
        if within and cfg["level"]:
            partial.setdefault(cfg["kind"], within)
            level += f" within {within[0]} of {within[1]} classes"
        flips = majority_flips(cfg, class_names)
        if flips:
            majority.append(f"`{name}` ({', '.join(flips)})")
            level += " ⚠"
        lines.append(
            f"| `{name}`{' (default)' if name == default else ''} | {sp['train']['rows']} | {sp['validation']['rows']} | "
            f"{level} | {_pct(sp['train']['realised_rate'])} | {_pct(sp['validation']['realised_rate'])} | "
            f"{'yes' if cfg['nested'] else 'no'} |"
        )
    lines.append("")
    for kind, (n, k) in partial.items():
        lines.append(f"`{kind}-*`: the level is the flip probability WITHIN the {n} flipped classes (of {k}); the "
                     "realised columns are the overall rate over all classes, so they are lower than the level "
                     f"(about {n}/{k} of it with balanced classes).")
    if majority:
        lines.append("⚠ At these configs a wrong label is at least as likely as the right one for some classes, so "
                     "that class's majority label is wrong (labels alone cannot recover it): "
                     + "; ".join(majority) + ".")
    lines += [
        "Exact per-split realised matrices, the requested matrices and the full recipe are in each Parquet "
        "file's `cnlbench` metadata and in `cnlbench-build.json`, with content fingerprints "
        f"(source fingerprint `{record['source']['fingerprint']}`).",
        "",
        "## Licence",
        "",
        f"This dataset: `{recipe.license}`. Clean source `{source.name}`: `{source.license}`"
        + (f" ({source.homepage})." if source.homepage else "."),
    ]
    family_cites = []
    for kind, cfg in kinds.items():
        spec = cfg["noise_spec"]
        if spec.get("license"):
            which = (", ".join(f"`{n}`" for n, c in configs.items() if c["kind"] == kind) if cfg["level"] is None
                     else f"`{kind}-*`")
            lines.append(f"Noisy labels of {which}: `{spec['license']}`; any use or export of these configs "
                         "must carry this licence.")
        if isinstance(spec.get("citation"), str) and spec["citation"].strip():
            family_cites.append(spec["citation"])
    lines += [
        "",
        "## Citation",
        "",
        "```bibtex",
    ]
    for cite in _dedupe_citations([source.citation, recipe.citation, *family_cites,
                                   CNLBENCH_CITATION % record["cnlbench_version"]]):
        lines += [cite.strip(), ""]
    lines[-1:] = ["```", ""]
    return "\n".join(lines)
