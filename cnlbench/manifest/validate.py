"""Checking a built dataset folder end to end: card, schema, labels, rates, fingerprints."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from cnlbench.errors import ManifestError
from cnlbench.manifest.reader import BuiltDataset, ManifestSplit, open_dataset
from cnlbench.manifest.schema import SPLITS, arrow_schema
from cnlbench.manifest.families import NOISE_SOURCES

REBUILD = "rebuild it with `cnlbench build RECIPE --out FOLDER`"


def read_card_yaml(path: str | Path) -> dict[str, Any]:
    """The parsed YAML front matter of ``README.md`` in a dataset folder."""
    card = Path(path) / "README.md"
    if not card.is_file():
        raise ManifestError(f"{str(path)!r} has no README.md dataset card; {REBUILD}")
    text = card.read_text(encoding="utf-8")
    parts = text.split("---\n", 2)
    if not text.startswith("---\n") or len(parts) < 3:
        raise ManifestError(f"{str(card)!r} has no YAML front matter between '---' lines; {REBUILD}")
    data = yaml.safe_load(parts[1])
    if not isinstance(data, dict):
        raise ManifestError(f"{str(card)!r}: the YAML front matter is not a mapping; {REBUILD}")
    return data


def _check_card(ds: BuiltDataset) -> None:
    card = read_card_yaml(ds.path)
    listed = {c.get("config_name"): c for c in card.get("configs") or []}
    if set(listed) != set(ds.configs):
        raise ManifestError(
            f"card lists configs {sorted(listed)} but the build has {sorted(ds.configs)}; {REBUILD}"
        )
    defaults = [n for n, c in listed.items() if c.get("default")]
    if len(defaults) != 1:
        raise ManifestError(f"card marks {len(defaults)} default configs ({defaults}); exactly one must be default; {REBUILD}")
    infos = {i.get("config_name"): i for i in card.get("dataset_info") or []}
    for name, cfg in listed.items():
        files = {f["split"]: f["path"] for f in cfg.get("data_files", [])}
        if set(files) != set(SPLITS):
            raise ManifestError(f"card config {name!r} lists splits {sorted(files)}; it needs {list(SPLITS)}; {REBUILD}")
        for split, rel in files.items():
            if not (ds.path / rel).is_file():
                raise ManifestError(f"card config {name!r} split {split!r} points to missing file {rel!r}; {REBUILD}")
        sizes = {s["name"]: s["num_examples"] for s in (infos.get(name) or {}).get("splits", [])}
        want = {s: ds.record["configs"][name]["splits"][s]["rows"] for s in SPLITS}
        if sizes != want:
            raise ManifestError(f"card dataset_info for {name!r} gives split sizes {sizes}, the build has {want}; {REBUILD}")


def _check_split(ds: BuiltDataset, config: str, split: str, sp: ManifestSplit) -> None:
    where = f"config {config!r} split {split!r}"
    want = arrow_schema(ds.class_names, ds.images)
    got = sp.table.schema
    if [(f.name, f.type) for f in got] != [(f.name, f.type) for f in want]:
        raise ManifestError(f"{where}: columns {[(f.name, str(f.type)) for f in got]} differ from the manifest schema; {REBUILD}")
    if got.metadata.get(b"huggingface") != want.metadata[b"huggingface"]:
        raise ManifestError(f"{where}: the `huggingface` features metadata differs from the manifest schema; {REBUILD}")
    k = ds.num_classes
    if len(sp) and (sp.label.min() < 0 or sp.label.max() >= k):
        raise ManifestError(f"{where}: labels outside 0..{k - 1} (ClassLabel does not check ranges); {REBUILD}")
    if len(sp) and (sp.clean_label.min() < -1 or sp.clean_label.max() >= k):
        raise ManifestError(f"{where}: clean_label outside -1..{k - 1}; {REBUILD}")
    bad = sorted(set(sp.noise_source.tolist()) - set(NOISE_SOURCES))
    if bad:
        raise ManifestError(f"{where}: noise_source values {bad} are not in {list(NOISE_SOURCES)}; {REBUILD}")
    if len(np.unique(sp.ids)) != len(sp.ids):
        raise ManifestError(f"{where}: ids are not unique; {REBUILD}")
    wrong = (sp.clean_label >= 0) & (sp.label != sp.clean_label) & ~sp.is_noisy
    if wrong.any():
        raise ManifestError(f"{where}: {int(wrong.sum())} rows have label != clean_label but is_noisy false (first id {sp.ids[wrong][0]!r}); {REBUILD}")
    rec = ds.record["configs"][config]["splits"][split]
    rate = float(sp.is_noisy.mean()) if len(sp) else 0.0
    for what, recorded in (("cnlbench-build.json", rec["realised_rate"]), ("Parquet metadata", sp.metadata.get("realised_rate"))):
        if recorded is None or not math.isclose(rate, recorded, rel_tol=0, abs_tol=1e-12):
            raise ManifestError(f"{where}: realised rate from the rows is {rate}, {what} records {recorded}; the manifest was modified; {REBUILD}")
    if len(sp) != rec["rows"]:
        raise ManifestError(f"{where}: {len(sp)} rows, cnlbench-build.json records {rec['rows']}; {REBUILD}")
    if sp.fingerprint != rec["fingerprint"] or sp.metadata.get("fingerprint") != rec["fingerprint"]:
        raise ManifestError(
            f"{where}: content fingerprint {sp.fingerprint[:16]}... does not match the recorded "
            f"{str(rec['fingerprint'])[:16]}...; the manifest was modified after the build; {REBUILD}"
        )


def validate_dataset(path: str | Path, image_root: str | Path | None = None) -> dict[str, str]:
    """Check a dataset folder; raise ManifestError naming the config/split on the first problem.

    Checks: the card's YAML lists exactly the built configs (one default) with existing files and
    the right split sizes; every split has the manifest schema, labels in range, valid
    ``noise_source``, unique ids, ``is_noisy`` consistent with the labels, the recorded realised
    rate and row count, and the recorded content fingerprint. Returns config -> fingerprint.
    """
    ds = open_dataset(path, image_root=image_root)
    _check_card(ds)
    out = {}
    for config in ds.configs:
        for split in SPLITS:
            _check_split(ds, config, split, ds.split(config, split))
        fp = ds.fingerprint(config)
        if fp != ds.recorded_fingerprint(config):
            raise ManifestError(f"config {config!r}: fingerprint does not match the recorded one; {REBUILD}")
        out[config] = fp
    return out
