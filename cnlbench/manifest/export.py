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

The output folder is written atomically (temporary sibling, then renamed).

:func:`push_to_hub` publishes an exported folder with one ``HfApi.upload_folder`` call (after
``create_repo(exist_ok=True)``); :func:`upload_plan` lists what would be uploaded, and is what
the tests check offline.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnlbench.errors import CnlbenchError, ManifestError, MissingDataError
from cnlbench.manifest.atomic import BUILD_RECORD, atomic_directory
from cnlbench.manifest.build import _image_ext
from cnlbench.manifest.fingerprint import combine, split_fingerprint
from cnlbench.manifest.schema import METADATA_KEY
from cnlbench.manifest.writer import split_table, write_table
from cnlbench.sources.images import read_image_file

__all__ = ["ExportReport", "UploadPlan", "export_hf", "push_to_hub", "upload_plan"]

CARD = "README.md"


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_hf` wrote: the folder, the files, how many images it embedded."""

    out: Path
    files: tuple[str, ...]
    images_embedded: int
    copied: bool  # True when the source build was already embedded


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
        for split in ("train", "validation"):
            files.append(record["configs"][name]["splits"][split]["file"])
    return files


class _Resolver:
    """``image_path`` -> bytes, cached (configs share most images)."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, bytes] = {}

    def __call__(self, rel: str) -> bytes:
        blob = self._cache.get(rel)
        if blob is None:
            blob = self._cache[rel] = read_image_file(self.root, rel)
        return blob


def _embed_split(src: Path, dst: Path, resolve: _Resolver, bar) -> tuple[str, int]:
    """Rewrite one reference-mode split with embedded bytes; returns (fingerprint, rows)."""
    import pyarrow.parquet as pq

    table = pq.read_table(src)
    raw = table.schema.metadata or {}
    if METADATA_KEY not in raw:
        raise ManifestError(f"{src} lacks the cnlbench metadata; it was not written by cnlbench build")
    meta = json.loads(raw[METADATA_KEY])
    class_names = meta["class_names"]
    ids = table.column("id").to_pylist()
    blobs = []
    for rel in table.column("image_path").to_pylist():
        blobs.append(resolve(rel))
        bar.update(1)
    cols = {c: np.asarray(table.column(c).to_numpy(zero_copy_only=False)) for c in ("label", "clean_label", "is_noisy")}
    source = np.asarray(table.column("noise_source").to_pylist(), dtype=str)
    fp = split_fingerprint(np.asarray(ids, dtype=str), blobs, cols["label"], cols["clean_label"], cols["is_noisy"], source)
    meta = {**meta, "images": "embed", "fingerprint": fp, "exported_from": "reference"}
    columns = {
        "id": ids,
        "image": [{"bytes": b, "path": f"{i}.{_image_ext(b)}"} for i, b in zip(ids, blobs)],
        "label": cols["label"].astype(np.int64),
        "clean_label": cols["clean_label"].astype(np.int64),
        "is_noisy": cols["is_noisy"].astype(bool),
        "noise_source": source,
    }
    write_table(split_table(columns, class_names, "embed", meta), dst)
    return fp, len(ids)


def _embed_card(text: str) -> str:
    """The card with every ``image_path: string`` feature turned into ``image: image``."""
    import yaml

    if not text.startswith("---\n"):
        raise ManifestError("the build's README.md has no YAML header; rebuild the dataset")
    end = text.index("\n---", 4)
    header = yaml.safe_load(text[4:end])
    body = text[end + 4 :]

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("name") == "image_path" and node.get("dtype") == "string":
                return {"name": "image", "dtype": "image"}
            return {k: fix(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    header = fix(header)
    note = (
        "\n\n> Exported by `cnlbench export-hf`: image bytes are embedded in every split, so this "
        "folder loads with `datasets.load_dataset(folder, CONFIG)` from anywhere.\n"
    )
    dumped = yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=10_000)
    return f"---\n{dumped}---{body.rstrip()}{note}"


def export_hf(
    dataset_dir: str | Path, out: str | Path, *, image_root: str | Path | None = None, progress: bool = False
) -> ExportReport:
    """Write a self-contained, embedded copy of the build ``dataset_dir`` to ``out``.

    Args:
        dataset_dir: a folder written by ``cnlbench build``.
        out: output folder (replaced atomically if it is a previous export).
        image_root: where a reference build's file-backed images live (the source's image
            root, as given to ``open_dataset(..., image_root=)``); not needed for builds whose
            images sit in the dataset folder or are embedded.
        progress: show a tqdm bar (images) on stderr.
    """
    from tqdm.auto import tqdm

    src = Path(dataset_dir)
    record = _read_record(src)
    files = split_files(record)
    if record.get("images") == "embed":
        with atomic_directory(out) as tmp:
            names = [CARD, BUILD_RECORD, *files]
            for rel in tqdm(names, desc="export (copy)", unit="file", disable=not progress):
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src / rel, tmp / rel)
        return ExportReport(Path(out), tuple(names), 0, True)
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
    with atomic_directory(out) as tmp:
        with tqdm(total=total, desc="export", unit="img", disable=not progress) as bar:
            for rel in files:
                fingerprints[rel], _ = _embed_split(src / rel, tmp / rel, resolve, bar)
        new = _update_record(record, fingerprints)
        (tmp / BUILD_RECORD).write_text(json.dumps(new, sort_keys=True, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (tmp / CARD).write_text(_embed_card((src / CARD).read_text(encoding="utf-8")), encoding="utf-8")
    return ExportReport(Path(out), (CARD, BUILD_RECORD, *files), total, False)


def _split_rows(record: dict[str, Any]) -> list[int]:
    rows = [record["clean"]["test"]["rows"]]
    for name in sorted(record["configs"]):
        rows += [record["configs"][name]["splits"][s]["rows"] for s in ("train", "validation")]
    return rows


def _update_record(record: dict[str, Any], fps: dict[str, str]) -> dict[str, Any]:
    new = json.loads(json.dumps(record))
    new["images"] = "embed"
    new["image_root"] = "dataset"
    new["exported_from"] = "reference"
    test = new["clean"]["test"]
    test["fingerprint"] = fps[test["file"]]
    for cfg in new["configs"].values():
        for split in ("train", "validation"):
            cfg["splits"][split]["fingerprint"] = fps[cfg["splits"][split]["file"]]
        cfg["splits"]["test"] = test
        cfg["fingerprint"] = combine({s: cfg["splits"][s]["fingerprint"] for s in ("train", "validation", "test")})
    return new


# --------------------------------------------------------------------------------------------
# Push


@dataclass(frozen=True)
class UploadPlan:
    """What :func:`push_to_hub` uploads: ``files`` as (local path, path in repo), per config."""

    folder: Path
    repo_id: str
    private: bool
    configs: tuple[str, ...]
    files: tuple[tuple[Path, str], ...] = field(default_factory=tuple)


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
    return UploadPlan(folder, repo_id, bool(private), tuple(sorted(record["configs"])),
                      tuple((folder / r, r) for r in rels))


def push_to_hub(folder: str | Path, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Upload an exported folder to the dataset repo ``repo_id``; returns the commit URL.

    Raises :class:`CnlbenchError` with the fix when offline (``HF_HUB_OFFLINE=1``), not logged
    in, or the network is unreachable.
    """
    plan = upload_plan(folder, repo_id, private=private)
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise CnlbenchError(
            f"cannot push to {repo_id!r}: HF_HUB_OFFLINE is set; unset it (and log in with "
            f"`hf auth login` or pass --token) to publish"
        )
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=plan.private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=str(plan.folder),
            allow_patterns=[rel for _, rel in plan.files],
            commit_message=f"cnlbench: upload {len(plan.configs)} configs",
        )
    except OfflineModeIsEnabled:
        raise CnlbenchError(f"cannot push to {repo_id!r}: the Hub client is in offline mode; unset HF_HUB_OFFLINE") from None
    except HfHubHTTPError as e:
        raise CnlbenchError(f"push to {repo_id!r} failed ({e}); check the token (`hf auth login`) and repo permissions") from None
    except OSError as e:
        raise CnlbenchError(f"push to {repo_id!r} failed: the Hub is unreachable ({e}); check the network") from None
    return str(getattr(info, "commit_url", info))
