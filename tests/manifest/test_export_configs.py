"""export-hf --configs on a CIFAR-10 reference build (tiny fixture in the real Hub layout),
load_hf on any build, and push: size, licence, resumable uploads (a recording HfApi, no network)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from fixtures_sources import cifar_arrays, write_cifar_parquet

from cnlbench.cli import main
from cnlbench.errors import CnlbenchError, ManifestError
from cnlbench.manifest import build_from_recipe, load_hf, open_dataset, validate_dataset
from cnlbench.manifest.export import export_hf, push_to_hub, upload_plan
from cnlbench.manifest.recipe import parse_recipe


@pytest.fixture(scope="module")
def cifar(tmp_path_factory, repo_root):
    """recipes/cifar10.yaml (reference mode, cc-by-nc-4.0) on 100 + 30 fixture images, sym and
    asym at 0% and 40%; returns (build folder, {image id: pixels})."""
    tmp = tmp_path_factory.mktemp("cifar-export")
    rng = np.random.default_rng(5)
    train, test = cifar_arrays(100, 10, rng), cifar_arrays(30, 10, rng)
    write_cifar_parquet(tmp / "cifar10", "cifar10", {"train": train, "test": test})
    raw = yaml.safe_load((repo_root / "recipes" / "cifar10.yaml").read_text(encoding="utf-8"))
    raw["source"].update(root=str(tmp / "cifar10"), check_sizes=False)  # 100 + 30 images, not 60,000
    raw["configs"] = [c for c in raw["configs"] if c["kind"] in ("sym", "asym")]
    raw["levels"] = [0.0, 0.4]
    out = build_from_recipe(parse_recipe(raw, base_dir=repo_root / "recipes"), tmp / "build").out
    return out, tmp


LOAD = textwrap.dedent(
    """
    import json, sys
    import datasets
    ds = datasets.load_dataset(sys.argv[1], sys.argv[2])
    print(json.dumps({s: {"n": len(d), "image": type(d.features["image"]).__name__,
                          "size": list(d[0]["image"].size), "ids": list(d["id"])} for s, d in ds.items()}))
    """
)


def _load_with_plain_datasets(folder: Path, config: str, cwd: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(cwd / "hf-home")}
    res = subprocess.run([sys.executable, "-c", LOAD, str(folder), config], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_export_two_configs_loads_with_plain_datasets(cifar, tmp_path, capsys) -> None:
    build, _ = cifar
    out = tmp_path / "export"
    assert main(["export-hf", str(build), "--out", str(out), "--configs", "sym-00,sym-4*", "--no-progress"]) == 0
    assert "2 configs (sym-00, sym-40)" in capsys.readouterr().out
    record = json.loads((out / "cnlbench-build.json").read_text())
    assert list(record["configs"]) == ["sym-00", "sym-40"] and record["images"] == "embed"
    assert record["exported_configs"] == ["sym-00", "sym-40"]
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "clean", "cnlbench-build.json", "sym-00", "sym-40"]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "image_path" not in card and "`image` (embedded PNG bytes)" in card
    header = yaml.safe_load(card.split("---\n")[1])
    assert [c["config_name"] for c in header["configs"]] == ["sym-00", "sym-40"]
    assert [i["config_name"] for i in header["dataset_info"]] == ["sym-00", "sym-40"]
    assert {"name": "image", "dtype": "image"} in header["dataset_info"][0]["features"]
    assert "`asym-40`" not in card and "- `asym-*`" not in card  # rates table and noise prose follow
    validate_dataset(out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    got = _load_with_plain_datasets(out.resolve(), "sym-40", elsewhere)
    orig = open_dataset(build)
    for split in ("train", "validation", "test"):
        assert got[split]["image"] == "Image" and got[split]["size"] == [32, 32]
        assert got[split]["ids"] == orig.split("sym-40", split).ids.tolist()


def test_subset_without_the_default_moves_it(cifar, tmp_path) -> None:
    build, _ = cifar
    out = tmp_path / "x"
    rep = export_hf(build, out, configs=["asym-40"])
    assert rep.configs == ("asym-40",)
    record = json.loads((out / "cnlbench-build.json").read_text())
    assert record["default_config"] == "asym-40" and record["configs"]["asym-40"]["default"] is True
    card = (out / "README.md").read_text(encoding="utf-8")
    assert '"asym-40")' in card and "| `asym-40` (default) |" in card and "`sym-00`" not in card
    validate_dataset(out)


def test_unknown_config_pattern_names_the_valid_ones(cifar, tmp_path, capsys) -> None:
    build, _ = cifar
    with pytest.raises(ManifestError, match=r"valid configs: \['asym-00', 'asym-40', 'sym-00', 'sym-40'\]"):
        export_hf(build, tmp_path / "x", configs=["web-*"])
    assert not (tmp_path / "x").exists()
    assert main(["export-hf", str(build), "--out", str(tmp_path / "y"), "--configs", "nope"]) == 2
    assert "matches no config" in capsys.readouterr().err


def test_load_hf_decodes_a_reference_build(cifar) -> None:
    build, _ = cifar
    orig = open_dataset(build)
    assert orig.images == "reference"
    train = load_hf(build, "sym-40", "train")
    sp = orig.split("sym-40", "train")
    assert train.num_rows == len(sp) and train.features["label"].names[0] == "airplane"
    assert train["id"] == sp.ids.tolist() and train["label"] == sp.label.tolist()
    assert train["is_noisy"] == sp.is_noisy.tolist()
    pixels = np.stack([np.asarray(im) for im in train["image"]])
    np.testing.assert_array_equal(pixels, sp.images_uint8())
    whole = load_hf(build)  # the default config, every split
    assert sorted(whole) == ["test", "train", "validation"] and whole["test"].num_rows == 30


def test_load_hf_on_an_embedded_build(small_build) -> None:
    test = load_hf(small_build, "sym-40", "test")
    sp = open_dataset(small_build).split("sym-40", "test")
    assert test.num_rows == len(sp) and test[0]["image"].size == (8, 8)
    np.testing.assert_array_equal(np.stack([np.asarray(im) for im in test["image"]])[..., None], sp.images_uint8())


# ------------------------------------------------------------------------------------- push


class RecordingHub:
    """An HfApi stand-in: records calls and keeps the 'repo' as path -> (size, sha256) so that
    list_repo_tree answers like the Hub does. ``fail_on`` makes that upload_folder call fail."""

    def __init__(self, *, large: bool = False, fail_on: int | None = None):
        self.calls: list[tuple] = []
        self.repo: dict[str, tuple[int, str]] = {}
        self.fail_on = fail_on
        self.uploads = 0
        if large:
            self.upload_large_folder = self._large

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))

    def list_repo_tree(self, repo_id, **kw):
        from types import SimpleNamespace

        return [SimpleNamespace(path=p, size=size, lfs={"sha256": sha} if p.endswith(".parquet") else None)
                for p, (size, sha) in self.repo.items()]

    def upload_folder(self, *, repo_id, folder_path, allow_patterns, commit_message, **kw):
        import hashlib

        self.uploads += 1
        if self.fail_on == self.uploads:
            raise OSError("connection reset")
        self.calls.append(("upload_folder", commit_message, sorted(allow_patterns)))
        for rel in allow_patterns:
            data = (Path(folder_path) / rel).read_bytes()
            self.repo[rel] = (len(data), hashlib.sha256(data).hexdigest())
        return type("Info", (), {"commit_url": f"https://hub/commit/{self.uploads}"})()

    def _large(self, **kw):
        self.calls.append(("upload_large_folder", kw))


@pytest.fixture(scope="module")
def exported(cifar, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "c10"
    export_hf(cifar[0], out, configs=["sym-*"])
    return out


def test_dry_run_reports_size_and_non_commercial_licence(exported, capsys) -> None:
    plan = upload_plan(exported, "me/c10")
    assert plan.total_bytes == sum(p.stat().st_size for p, _ in plan.files) > 0
    assert "cc-by-nc-4.0" in plan.licenses and plan.non_commercial
    assert main(["push", str(exported), "me/c10", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would upload 7 files, " in out and " kB (2 configs) to me/c10" in out
    assert "licence: cc-by-nc-4.0" in out and "NON-COMMERCIAL" in out
    assert "sym-40/train-00000-of-00001.parquet  (" in out


def test_push_uses_upload_large_folder_when_available(exported) -> None:
    hub = RecordingHub(large=True)
    url = push_to_hub(exported, "me/c10", api=hub)
    assert url == "https://huggingface.co/datasets/me/c10"
    assert [c[0] for c in hub.calls] == ["create_repo", "upload_large_folder"]
    kw = hub.calls[1][1]
    assert kw["repo_type"] == "dataset" and kw["folder_path"] == str(exported)
    assert sorted(kw["allow_patterns"]) == sorted(r for _, r in upload_plan(exported, "me/c10").files)


def test_interrupted_push_resumes_without_re_uploading(exported) -> None:
    hub = RecordingHub(fail_on=2)  # the second commit (config sym-40) fails
    with pytest.raises(CnlbenchError, match="re-run"):
        push_to_hub(exported, "me/c10", api=hub)
    assert [c[1] for c in hub.calls if c[0] == "upload_folder"] == ["cnlbench: add config sym-00"]
    hub.fail_on = None
    lines: list[str] = []
    push_to_hub(exported, "me/c10", api=hub, log=lines.append)
    commits = [c[1] for c in hub.calls if c[0] == "upload_folder"]
    assert commits == ["cnlbench: add config sym-00", "cnlbench: add config sym-40",
                       "cnlbench: add the clean test split", "cnlbench: card and build record (2 configs)"]
    assert "already on the Hub: add config sym-00" in lines
    assert hub.calls[-1][2] == ["README.md", "cnlbench-build.json"]  # the card goes last
    assert set(hub.repo) == {r for _, r in upload_plan(exported, "me/c10").files}
