"""Checking a built dataset folder end to end: card, schema, labels, rates, fingerprints."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from cnlbench.errors import ManifestError
from cnlbench.manifest.reader import BuiltDataset, ManifestSplit, decode_image, open_dataset
from cnlbench.manifest.schema import SPLITS, arrow_schema
from cnlbench.manifest.families import NOISE_SOURCES, NOISY_SPLITS
from cnlbench.sources.images import image_sha256

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
    raw_infos = card.get("dataset_info") or []
    if isinstance(raw_infos, dict):  # huggingface_hub writes one config's dataset_info as a mapping
        raw_infos = [raw_infos]
    infos = {i.get("config_name"): i for i in raw_infos if isinstance(i, dict)}
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


def _same_matrix(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        return np.array_equal(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    except (TypeError, ValueError):
        return False


#: How far a split's realised counts may sit from the requested ones before the recorded
#: level/matrix is refused as not describing the data. Exact mode rounds each class's flip
#: count and each cell to floor/ceil of its quota, so a cell is within 2 of ``N_i T[i, j]``;
#: per-sample mode draws, so 6 binomial standard deviations are added.
_EXACT_SLACK = 2.0
_SIGMAS = 6.0


def _check_noise_against_data(config: str, split: str, sp: ManifestSplit, level: float | None, matrix: Any, k: int) -> None:
    """Refuse a recorded level/matrix the split's rows cannot have come from."""
    if level is None:
        return
    where = f"config {config!r} split {split!r} ({sp.path.name})"
    per_sample = (sp.metadata.get("noise") or {}).get("mode") == "per-sample"
    known = sp.clean_label >= 0
    if matrix is not None:
        t = np.asarray(matrix, dtype=np.float64)
        counts = np.zeros((k, k), dtype=np.float64)
        np.add.at(counts, (sp.clean_label[known], sp.label[known]), 1)
        n_i = counts.sum(axis=1, keepdims=True)
        want = n_i * t
        slack = _EXACT_SLACK + (_SIGMAS * np.sqrt(want * (1 - t)) if per_sample else 0.0)
        bad = np.argwhere(np.abs(counts - want) > slack + 1e-9)
        if len(bad):
            i, j = (int(v) for v in bad[0])
            raise ManifestError(
                f"{where}: the recorded transition matrix (level {level}) does not describe the rows: "
                f"{int(counts[i, j])} of {int(n_i[i, 0])} examples of class {i} carry label {j}, the matrix asks for "
                f"{want[i, j]:.1f} (T[{i},{j}] = {t[i, j]:.4g}); the labels or cnlbench-build.json were edited; {REBUILD}"
            )
        return
    n = len(sp)
    if not n:
        return
    rate = float(sp.is_noisy.mean())
    slack = (k + 1) / n + (_SIGMAS * math.sqrt(level * (1 - level) / n) if per_sample else 0.0)
    if abs(rate - level) > slack + 1e-9:
        raise ManifestError(
            f"{where}: recorded level {level} but {rate:.4f} of the rows are noisy; the labels or "
            f"cnlbench-build.json were edited; {REBUILD}"
        )


def check_config(ds: BuiltDataset, config: str) -> str:
    """Everything training reads of ``config`` checked against what the build recorded.

    Per split, the recomputed content fingerprint (reference builds: including each image's
    SHA-256) must equal the recorded one; the config fingerprint likewise; the noise kind,
    level and requested matrix of ``cnlbench-build.json`` must match their recorded
    ``noise_fingerprint``, each split's Parquet metadata, the config name (``<kind>-<pp>``) and
    the rows themselves (realised counts within rounding of the requested ones). Raises
    :class:`ManifestError` naming the config and file; returns the config fingerprint.
    """
    from cnlbench.manifest.fingerprint import noise_fingerprint
    from cnlbench.manifest.recipe import config_name

    ds.check_split(config, "train")
    cfg = ds.record["configs"][config]
    rec_path = ds.path / "cnlbench-build.json"
    for split in SPLITS:
        sp = ds.split(config, split)
        want = (cfg["splits"][split] or {}).get("fingerprint")
        if sp.fingerprint != want:
            raise ManifestError(
                f"config {config!r} split {split!r}: the content of {str(sp.path)!r} has fingerprint "
                f"{sp.fingerprint[:16]}..., cnlbench-build.json records {str(want)[:16]}...; the file was replaced or "
                f"edited after the build; {REBUILD}"
            )
    fp = ds.content_fingerprint(config)
    if fp != cfg.get("fingerprint"):
        raise ManifestError(
            f"config {config!r}: fingerprint {fp[:16]}... of its splits differs from the {str(cfg.get('fingerprint'))[:16]}... "
            f"recorded in {str(rec_path)!r}; {REBUILD}"
        )
    kind, level, matrix = cfg.get("kind"), cfg.get("level"), cfg.get("requested_matrix")
    if "noise_fingerprint" not in cfg:
        raise ManifestError(f"config {config!r}: {str(rec_path)!r} records no noise_fingerprint (built by an older "
                            f"cnlbench, so its level and matrix are unchecked); {REBUILD}")
    try:
        noise_fp = noise_fingerprint(str(kind), level, matrix)
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"config {config!r}: level {level!r} or requested_matrix in {str(rec_path)!r} is malformed "
                            f"({exc}); {REBUILD}") from None
    if noise_fp != cfg["noise_fingerprint"]:
        raise ManifestError(
            f"config {config!r}: the kind, level or transition matrix in {str(rec_path)!r} was edited after the build "
            f"(noise fingerprint {noise_fp[:16]}..., recorded {str(cfg['noise_fingerprint'])[:16]}...); {REBUILD}"
        )
    if level is not None and config != config_name(str(kind), float(level)):
        raise ManifestError(f"config {config!r}: {str(rec_path)!r} records kind {kind!r} level {level}, which would be "
                            f"named {config_name(str(kind), float(level))!r}; {REBUILD}")
    for split in NOISY_SPLITS:
        sp = ds.split(config, split)
        meta = sp.metadata
        if (meta.get("noise_kind"), meta.get("requested_level")) != (kind, level) or not _same_matrix(meta.get("requested_matrix"), matrix):
            raise ManifestError(
                f"config {config!r} split {split!r}: {sp.path.name} records kind {meta.get('noise_kind')!r} level "
                f"{meta.get('requested_level')!r} (and its matrix), cnlbench-build.json kind {kind!r} level {level!r}; "
                f"the two disagree; {REBUILD}"
            )
        _check_noise_against_data(config, split, sp, level, matrix, ds.num_classes)
    return fp


def check_images(ds: BuiltDataset, configs: Sequence[str] | None = None) -> int:
    """Decode every distinct image of ``configs`` (all when ``None``) once, under the one pixel
    limit; reference builds also check each file's SHA-256. Returns how many were checked."""
    seen: set[str] = set()  # embed: SHA-256 of decoded blobs; reference: "path\0sha" checked
    decoded: set[str] = set()
    for config in ds.configs if configs is None else configs:
        for split in SPLITS:
            sp = ds.split(config, split)
            if sp.images_mode == "reference":
                for rel, sha in zip(sp.image_path_values(), sp.image_sha256 or []):
                    if f"{rel}\0{sha}" in seen:
                        continue
                    blob = sp.read_file(rel, sha)
                    if sha not in decoded:
                        decode_image(blob, rel)
                        decoded.add(sha)
                    seen.add(f"{rel}\0{sha}")
                continue
            for blob, name in zip(sp.encoded_images(), sp.image_names()):
                digest = image_sha256(blob)
                if digest not in decoded:
                    decode_image(blob, name)
                    decoded.add(digest)
    return len(decoded)


def validate_dataset(path: str | Path, image_root: str | Path | None = None, *, images: bool = False) -> dict[str, str]:
    """Check a dataset folder; raise ManifestError naming the config/split on the first problem.

    Checks: the card's YAML lists exactly the built configs (one default) with existing files and
    the right split sizes; every split has the manifest schema, labels in range, valid
    ``noise_source``, unique ids, ``is_noisy`` consistent with the labels, the recorded realised
    rate and row count, and the recorded content fingerprint; every config passes
    :func:`check_config` (fingerprints, noise record against the rows). ``images=True`` also
    decodes every image and checks reference builds' SHA-256s (:func:`check_images`).
    Returns config -> fingerprint.
    """
    ds = open_dataset(path, image_root=image_root)
    _check_card(ds)
    out = {}
    for config in ds.configs:
        for split in SPLITS:
            _check_split(ds, config, split, ds.split(config, split))
        out[config] = check_config(ds, config)
    if images:
        check_images(ds)
    return out
