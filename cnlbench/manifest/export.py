"""Export a built dataset folder as a self-contained Hugging Face dataset, and push it.

:func:`export_hf` copies a build into a new folder where every split stores its image bytes in
an ``Image`` column, so ``datasets.load_dataset(OUT, CONFIG)`` works from any working directory
and any machine (no image root to resolve, no cnlbench needed):

* an ``images: embed`` build is copied file by file (already self-contained);
* an ``images: reference`` build is resolved: each ``image_path`` is read (safely, refusing
  paths that escape the root) from the dataset folder's ``images/`` (in-memory sources) or from
  ``image_root`` (file-backed sources, whose paths are relative to the source's root), and
  written as ``{"bytes", "path"}`` with the manifest schema of an embedded build. Split
  fingerprints are recomputed over the bytes, exactly as an embedded build computes them, and
  the card's ``dataset_info`` features change from ``image_path: string`` to ``image: image``.

``configs`` (names or globs, :func:`cnlbench.manifest.reader.match_configs`) exports a subset:
the record, the card's ``configs:``/``dataset_info:`` and its rates table keep only those
configs (the default moves to the first exported config when the build's default is left out).
The output folder is written atomically (temporary sibling, then renamed).

:func:`load_hf` gives any build, reference or embedded, as a ``datasets.Dataset`` with decoded
images, without exporting it first.

:func:`push_to_hub` publishes an exported folder: ``HfApi.upload_large_folder`` (resumable:
re-running continues where an interrupted upload stopped) where the installed huggingface_hub
has it, else one commit per config, skipping configs whose files the repo already holds with
the same content (so a re-run resumes too). :func:`upload_plan` lists what would be uploaded,
its total size and licences, and is what ``push --dry-run`` prints.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cnlbench.errors import CnlbenchError, ManifestError, MissingDataError, SourceError
from cnlbench.manifest.atomic import BUILD_RECORD, atomic_directory
from cnlbench.manifest.build import image_ext
from cnlbench.manifest.families import NOISY_SPLITS
from cnlbench.manifest.fingerprint import combine, split_fingerprint
from cnlbench.manifest.phases import Phases
from cnlbench.manifest.reader import match_configs
from cnlbench.manifest.schema import IMAGE_SHA256, METADATA_KEY, SPLITS, features
from cnlbench.manifest.writer import split_table, write_table
from cnlbench.sources.images import image_sha256, read_image_file, verify_image

__all__ = ["ExportReport", "UploadPlan", "export_hf", "load_hf", "push_to_hub", "upload_plan"]

CARD = "README.md"


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_hf` wrote: the folder, the files, how many images it embedded."""

    out: Path
    files: tuple[str, ...]
    images_embedded: int
    copied: bool  # True when the source build was already embedded
    configs: tuple[str, ...] = ()  # the configs exported


def _read_record(dataset_dir: Path) -> dict[str, Any]:
    path = dataset_dir / BUILD_RECORD
    if not path.is_file():
        raise ManifestError(
            f"{dataset_dir} has no {BUILD_RECORD}: not a cnlbench build folder; pass the folder "
            f"`cnlbench build` wrote"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path} is not valid JSON ({e}); rebuild the dataset") from None


def split_files(record: dict[str, Any]) -> list[str]:
    """Every Parquet file of a build, in a fixed order: clean test, then configs' splits."""
    files = [record["clean"]["test"]["file"]]
    for name in sorted(record["configs"]):
        for split in NOISY_SPLITS:
            files.append(record["configs"][name]["splits"][split]["file"])
    return files


class _Resolver:
    """``image_path`` -> bytes, cached (configs share most images). Each file must have the
    SHA-256 the build recorded and decode fully under the one pixel limit
    (:func:`cnlbench.sources.images.verify_image`), else :class:`ManifestError` naming it."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, bytes] = {}

    def __call__(self, rel: str, sha256: str) -> bytes:
        blob = self._cache.get(rel)
        if blob is None:
            blob = read_image_file(self.root, rel)
            got = image_sha256(blob)
            if got != sha256:
                raise ManifestError(
                    f"image file {str(self.root / rel)!r} has SHA-256 {got[:16]}..., the build recorded {sha256[:16]}...; "
                    "it changed after the build: restore it (or pass the right --image-root) or rebuild, then export"
                )
            try:
                verify_image(blob, str(self.root / rel))
            except SourceError as exc:
                raise ManifestError(str(exc)) from None
            self._cache[rel] = blob
        return blob


def _embed_split(src: Path, dst: Path, resolve: _Resolver, tick: Any) -> tuple[str, int]:
    """Rewrite one reference-mode split with embedded bytes; returns (fingerprint, rows)."""
    import pyarrow.parquet as pq

    table = pq.read_table(src)
    raw = table.schema.metadata or {}
    if METADATA_KEY not in raw:
        raise ManifestError(f"{src} lacks the cnlbench metadata; it was not written by cnlbench build")
    meta = json.loads(raw[METADATA_KEY])
    class_names = meta["class_names"]
    ids = table.column("id").to_pylist()
    if IMAGE_SHA256 not in table.column_names:
        raise ManifestError(f"{src} has no {IMAGE_SHA256!r} column (built by an older cnlbench, its images were never "
                            "checked); rebuild the dataset with `cnlbench build`, then export")
    blobs = []
    for rel, sha in zip(table.column("image_path").to_pylist(), table.column(IMAGE_SHA256).to_pylist()):
        blobs.append(resolve(rel, sha))
        tick(1)
    cols = {c: np.asarray(table.column(c).to_numpy(zero_copy_only=False)) for c in ("label", "clean_label", "is_noisy")}
    source = np.asarray(table.column("noise_source").to_pylist(), dtype=str)
    fp = split_fingerprint(np.asarray(ids, dtype=str), blobs, cols["label"], cols["clean_label"], cols["is_noisy"], source)
    meta = {**meta, "images": "embed", "fingerprint": fp, "exported_from": "reference"}
    columns = embedded_columns(ids, blobs, cols["label"], cols["clean_label"], cols["is_noisy"], source)
    write_table(split_table(columns, class_names, "embed", meta), dst)
    return fp, len(ids)


def embedded_columns(ids: Sequence[str], blobs: Sequence[bytes], label: Any, clean_label: Any, is_noisy: Any,
                     noise_source: Any) -> dict[str, Any]:
    """The columns of an embedded split: ``image`` as ``{"bytes", "path"}`` per row."""
    return {
        "id": list(ids),
        "image": [{"bytes": b, "path": f"{i}.{image_ext(b)}"} for i, b in zip(ids, blobs)],
        "label": np.asarray(label).astype(np.int64),
        "clean_label": np.asarray(clean_label).astype(np.int64),
        "is_noisy": np.asarray(is_noisy).astype(bool),
        "noise_source": np.asarray(noise_source, dtype=str),
    }


def _export_card(text: str, record: dict[str, Any], default_before: str) -> str:
    """The exported card: ``image`` (bytes) instead of ``image_path`` in the features and the
    prose, only the exported configs in ``configs:``, ``dataset_info:`` and the rates table, the
    default moved when the build's default was left out, and a note on the export."""
    import re

    import yaml

    if not text.startswith("---\n"):
        raise ManifestError("the build's README.md has no YAML header; rebuild the dataset")
    end = text.index("\n---", 4)
    header = yaml.safe_load(text[4:end])
    body = text[end + 4 :]
    keep = list(record["configs"])
    default = record["default_config"]

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("name") == "image_path" and node.get("dtype") == "string":
                return {"name": "image", "dtype": "image"}
            return {k: fix(v) for k, v in node.items()}
        if isinstance(node, list):  # an embedded split has no per-file checksum column
            return [fix(v) for v in node if not (isinstance(v, dict) and v.get("name") == IMAGE_SHA256)]
        return node

    header = fix(header)
    header["configs"] = [c for c in header.get("configs") or [] if c.get("config_name") in keep]
    for c in header["configs"]:
        c.pop("default", None)
        if c["config_name"] == default:
            c["default"] = True
    infos = header.get("dataset_info") or []
    infos = [infos] if isinstance(infos, dict) else infos  # one config's dataset_info is a mapping
    header["dataset_info"] = [i for i in infos if i.get("config_name") in keep]
    body = body.replace("`image_path` (POSIX path under the image root)", "`image` (embedded PNG bytes)")
    kinds = {cfg["kind"] for cfg in record["configs"].values()}
    lines = []
    for line in body.split("\n"):
        row = re.match(r"^\| `([^`]+)`", line)
        if row and row.group(1) not in keep:
            continue  # a rates-table row of a config not exported
        bullet = re.match(r"^- `([^`]+)-\*`: ", line)
        if bullet and bullet.group(1) not in kinds:
            continue  # the noise description of a kind not exported
        if default != default_before:
            line = (line.replace(f'"{default_before}")', f'"{default}")')
                    .replace(f"default config `{default_before}`", f"default config `{default}`")
                    .replace(f"| `{default_before}` (default) |", f"| `{default_before}` |")
                    .replace(f"| `{default}` |", f"| `{default}` (default) |"))
        lines.append(line)
    body = "\n".join(lines)
    subset = record.get("exported_configs")
    note = (
        "\n\n> Exported by `cnlbench export-hf`: image bytes are embedded in every split, so this "
        "folder loads with `datasets.load_dataset(folder, CONFIG)` from anywhere"
        + (f"; configs exported: {', '.join(f'`{c}`' for c in subset)}" if subset else "") + ".\n"
    )
    dumped = yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=10_000)
    return f"---\n{dumped}---{body.rstrip()}{note}"


def _subset_record(record: dict[str, Any], configs: Sequence[str] | None) -> dict[str, Any]:
    """``record`` restricted to the configs matching ``configs`` (names or globs; None: all)."""
    if configs is None:
        return record
    chosen = match_configs(list(configs), list(record["configs"]))
    new = json.loads(json.dumps(record))
    new["configs"] = {c: new["configs"][c] for c in chosen}
    if new["default_config"] not in chosen:
        new["default_config"] = chosen[0]
    for name, cfg in new["configs"].items():
        cfg["default"] = name == new["default_config"]
    if len(chosen) < len(record["configs"]):
        new["exported_configs"] = chosen
    return new


def export_hf(
    dataset_dir: str | Path, out: str | Path, *, image_root: str | Path | None = None,
    configs: Sequence[str] | None = None, progress: bool | Phases = False,
) -> ExportReport:
    """Write a self-contained, embedded copy of the build ``dataset_dir`` to ``out``.

    Args:
        dataset_dir: a folder written by ``cnlbench build``.
        out: output folder (replaced atomically if it is a previous export).
        image_root: where a reference build's file-backed images live (the source's image
            root, as given to ``open_dataset(..., image_root=)``); not needed for builds whose
            images sit in the dataset folder or are embedded.
        configs: config names or globs to export (default: all); a pattern matching nothing
            is an error listing the build's configs.
        progress: report each phase on stderr (:class:`~cnlbench.manifest.phases.Phases`).
    """
    src = Path(dataset_dir)
    full = _read_record(src)
    record = _subset_record(full, configs)
    files = split_files(record)
    phases = progress if isinstance(progress, Phases) else Phases(f"export {full.get('name', src.name)}",
                                                                  enabled=bool(progress))
    card = _export_card((src / CARD).read_text(encoding="utf-8"), record, full["default_config"])
    names = [CARD, BUILD_RECORD, *files]
    if record.get("images") == "embed":
        with atomic_directory(out, phase=phases.phase) as tmp:
            with phases.phase("copying splits", total=len(files), unit="files") as tick:
                for rel in files:
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src / rel, tmp / rel)
                    tick(1)
            (tmp / BUILD_RECORD).write_text(json.dumps(record, sort_keys=True, indent=2, allow_nan=False) + "\n",
                                            encoding="utf-8")
            (tmp / CARD).write_text(card, encoding="utf-8")
        phases.close()
        return ExportReport(Path(out), tuple(names), 0, True, tuple(record["configs"]))
    if record.get("image_root") == "external":
        if image_root is None:
            raise MissingDataError(
                f"{src} is a reference build whose images live outside the folder; pass the "
                f"image root its paths are relative to (--image-root DIR, the source's root)"
            )
        root = Path(image_root)
    else:
        root = src
    if not root.is_dir():
        raise MissingDataError(f"image root {root} does not exist; pass the folder the build's image paths are relative to")
    resolve = _Resolver(root)
    total = sum(int(r) for r in _split_rows(record))
    fingerprints: dict[str, str] = {}
    with atomic_directory(out, phase=phases.phase) as tmp:
        with phases.phase("embedding images", total=total, unit="images") as tick:
            for rel in files:
                fingerprints[rel], _ = _embed_split(src / rel, tmp / rel, resolve, tick)
        new = _update_record(record, fingerprints)
        (tmp / BUILD_RECORD).write_text(json.dumps(new, sort_keys=True, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (tmp / CARD).write_text(card, encoding="utf-8")
    phases.close()
    return ExportReport(Path(out), tuple(names), total, False, tuple(record["configs"]))


def load_hf(path: str | Path, config: str | None = None, split: str | None = None, *,
            image_root: str | Path | None = None) -> Any:
    """Any build (reference or embedded, exported or not) as Hugging Face ``datasets`` objects
    with decoded images: a ``datasets.Dataset`` for one ``split`` (``train``, ``validation``,
    ``test``), else a ``DatasetDict`` of the three. ``config`` defaults to the build's default.

    Columns and features are those of an embedded build (``image`` is an ``Image()`` feature
    that decodes to PIL on access, ``label`` a ``ClassLabel``); images are read through
    :func:`cnlbench.manifest.open_dataset` (paths checked against ``image_root``, which a
    reference build of file-backed images needs, as for ``export-hf --image-root``), and each is
    decoded once under the pixel limit (:func:`cnlbench.sources.images.max_pixels`) before
    ``datasets`` may decode it: a bomb or a corrupt image is a named error here, not later."""
    import datasets

    from cnlbench.manifest.reader import open_dataset
    from cnlbench.sources.images import verify_image

    ds = open_dataset(path, image_root=image_root)
    config = config or ds.default_config
    splits = [split] if split is not None else list(SPLITS)
    feats = features(ds.class_names, "embed")
    out = {}
    for name in splits:
        sp = ds.split(config, name)
        encoded = sp.encoded_images()
        for data, image_name in zip(encoded, sp.image_names()):
            verify_image(data, image_name)
        columns = embedded_columns(sp.ids.tolist(), encoded, sp.label, sp.clean_label, sp.is_noisy,
                                   sp.noise_source)
        columns = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in columns.items()}
        out[name] = datasets.Dataset.from_dict(columns, features=feats, split=datasets.Split(name))
    return out[split] if split is not None else datasets.DatasetDict(out)


def _split_rows(record: dict[str, Any]) -> list[int]:
    rows = [record["clean"]["test"]["rows"]]
    for name in sorted(record["configs"]):
        rows += [record["configs"][name]["splits"][s]["rows"] for s in NOISY_SPLITS]
    return rows


def _update_record(record: dict[str, Any], fps: dict[str, str]) -> dict[str, Any]:
    new = json.loads(json.dumps(record))
    new["images"] = "embed"
    new["image_root"] = "dataset"
    new["exported_from"] = "reference"
    test = new["clean"]["test"]
    test["fingerprint"] = fps[test["file"]]
    for cfg in new["configs"].values():
        for split in NOISY_SPLITS:
            cfg["splits"][split]["fingerprint"] = fps[cfg["splits"][split]["file"]]
        cfg["splits"]["test"] = test
        cfg["fingerprint"] = combine({s: cfg["splits"][s]["fingerprint"] for s in SPLITS})
    return new


# --------------------------------------------------------------------------------------------
# Push


@dataclass(frozen=True)
class UploadPlan:
    """What :func:`push_to_hub` uploads: ``files`` as (local path, path in repo), per config,
    their total size in bytes, and every licence the data carries (dataset, clean source,
    label sets), with ``non_commercial`` set when any of them forbids commercial use."""

    folder: Path
    repo_id: str
    private: bool
    configs: tuple[str, ...]
    files: tuple[tuple[Path, str], ...] = field(default_factory=tuple)
    total_bytes: int = 0
    licenses: tuple[str, ...] = ()
    non_commercial: bool = False

    def batches(self) -> list[tuple[str, list[str]]]:
        """(commit message, repo paths) per commit of a resumable upload: each config's
        splits, then the shared clean test split, then the card and build record (last, so the
        card never names files the repo lacks)."""
        rels = [r for _, r in self.files]
        out = [(f"cnlbench: add config {c}", [r for r in rels if r.startswith(f"{c}/")]) for c in self.configs]
        taken = {r for _, group in out for r in group} | {CARD, BUILD_RECORD}
        rest = [r for r in rels if r not in taken]
        if rest:
            out.append(("cnlbench: add the clean test split", rest))
        out.append((f"cnlbench: card and build record ({len(self.configs)} configs)", [CARD, BUILD_RECORD]))
        return [(msg, group) for msg, group in out if group]


def format_size(n: int) -> str:
    """Bytes in decimal units (``2.70 GB``), as the Hub shows sizes."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def _licenses(record: dict[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    for value in [(record.get("recipe") or {}).get("license"), (record.get("source") or {}).get("license"),
                  *((cfg.get("noise_spec") or {}).get("license") for cfg in record["configs"].values())]:
        if isinstance(value, str) and value.strip() and value.strip() not in found:
            found.append(value.strip())
    return tuple(found)


def _is_non_commercial(license_id: str) -> bool:
    import re

    return bool(re.search(r"(^|[^a-z])nc([^a-z]|$)|non-?commercial", license_id.lower()))


def upload_plan(folder: str | Path, repo_id: str, *, private: bool = False) -> UploadPlan:
    """Check ``folder`` is an exported (embedded) build and list the files to upload."""
    folder = Path(folder)
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise CnlbenchError(f"repo id {repo_id!r} is not of the form 'owner/name'; pass e.g. my-org/cnlbench-digits")
    record = _read_record(folder)
    if record.get("images") != "embed":
        raise ManifestError(
            f"{folder} stores image paths, not bytes; a Hub dataset must be self-contained: run "
            f"`cnlbench export-hf {folder} --out EXPORTED` and push EXPORTED"
        )
    rels = [CARD, BUILD_RECORD, *split_files(record)]
    for rel in rels:
        if not (folder / rel).is_file():
            raise MissingDataError(f"{folder / rel} is missing; re-run the export")
    licenses = _licenses(record)
    return UploadPlan(folder, repo_id, bool(private), tuple(sorted(record["configs"])),
                      tuple((folder / r, r) for r in rels), sum((folder / r).stat().st_size for r in rels),
                      licenses, any(_is_non_commercial(x) for x in licenses))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _remote_files(api: Any, repo_id: str) -> dict[str, tuple[int | None, str | None]]:
    """repo path -> (size, LFS sha256) of the files the dataset repo holds ({} if none/unknown)."""
    try:
        entries = api.list_repo_tree(repo_id, repo_type="dataset", recursive=True)
        out = {}
        for e in entries:
            lfs = getattr(e, "lfs", None)
            sha = lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)
            if getattr(e, "size", None) is not None or sha:
                out[e.path] = (getattr(e, "size", None), sha)
        return out
    except Exception:  # an empty or new repo: upload everything
        return {}


def push_to_hub(folder: str | Path, repo_id: str, token: str | None = None, private: bool = False, *,
                api: Any = None, log: Any = None) -> str:
    """Upload an exported folder to the dataset repo ``repo_id``; returns the repo or commit URL.

    Resumable either way: with ``HfApi.upload_large_folder`` (huggingface_hub versions that have
    it) the Hub client keeps its own resume state; otherwise one commit per config
    (:meth:`UploadPlan.batches`), skipping every batch whose files the repo already holds with
    the same size and LFS sha256, so re-running after an interruption uploads only the rest.
    ``api``: an ``HfApi``-like object (default ``HfApi(token=token)``); ``log(line)`` reports
    each batch. Raises :class:`CnlbenchError` with the fix when offline (``HF_HUB_OFFLINE``),
    not logged in, or the network is unreachable.
    """
    plan = upload_plan(folder, repo_id, private=private)
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if api is None:
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            raise CnlbenchError(
                f"cannot push to {repo_id!r}: HF_HUB_OFFLINE is set; unset it (and log in with "
                f"`hf auth login` or pass --token) to publish"
            )
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    say = log or (lambda line: None)
    url = f"https://huggingface.co/datasets/{repo_id}"
    try:
        api.create_repo(repo_id, repo_type="dataset", private=plan.private, exist_ok=True)
        large = getattr(api, "upload_large_folder", None)
        if callable(large):
            say(f"uploading {len(plan.files)} files ({format_size(plan.total_bytes)}) with upload_large_folder "
                "(resumable: re-run the same command after an interruption)")
            large(repo_id=repo_id, folder_path=str(plan.folder), repo_type="dataset", private=plan.private,
                  allow_patterns=[rel for _, rel in plan.files])
            return url
        remote = _remote_files(api, repo_id)
        for message, group in plan.batches():
            todo = [rel for rel in group if not _same_remote(plan.folder / rel, remote.get(rel))]
            if not todo:
                say(f"already on the Hub: {message.removeprefix('cnlbench: ')}")
                continue
            say(f"{message.removeprefix('cnlbench: ')}: {len(todo)} files, "
                f"{format_size(sum((plan.folder / r).stat().st_size for r in todo))}")
            info = api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=str(plan.folder),
                                     allow_patterns=todo, commit_message=message)
            url = str(getattr(info, "commit_url", None) or url)
    except OfflineModeIsEnabled:
        raise CnlbenchError(f"cannot push to {repo_id!r}: the Hub client is in offline mode; unset HF_HUB_OFFLINE") from None
    except HfHubHTTPError as e:
        raise CnlbenchError(f"push to {repo_id!r} failed ({e}); check the token (`hf auth login`) and repo permissions; "
                            "re-running resumes where it stopped") from None
    except OSError as e:
        raise CnlbenchError(f"push to {repo_id!r} failed: the Hub is unreachable ({e}); check the network and re-run "
                            "(the upload resumes)") from None
    return url


def _same_remote(path: Path, remote: tuple[int | None, str | None] | None) -> bool:
    """True when the repo already holds ``path``'s content (same size and LFS sha256)."""
    if remote is None:
        return False
    size, sha = remote
    if size is not None and size != path.stat().st_size:
        return False
    return sha is not None and sha == _sha256(path)
