"""export-hf: a self-contained embedded copy that plain `datasets` loads from any cwd; push plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cnlbench.errors import CnlbenchError, ManifestError, MissingDataError
from cnlbench.manifest.build import build_from_recipe
from cnlbench.manifest.export import export_hf, push_to_hub, upload_plan
from cnlbench.manifest.families import ConfigPlan, SplitPlan, register_family
from cnlbench.sources.png import encode_png


@register_family("test-export-flip")
def _flip_family(ctx):
    """Deterministic test family: at level p, the first round(p*N) rows get label (y+1) % K."""
    plans = []
    for level in ctx.levels:
        splits = {}
        for split in ("train", "validation"):
            sp = ctx.splits[split]
            k = int(round(level * len(sp)))
            noisy = np.arange(len(sp)) < k
            label = np.where(noisy, (sp.labels + 1) % ctx.num_classes, sp.labels)
            splits[split] = SplitPlan(sp.ids, label, sp.labels, noisy, np.where(noisy, "synthetic", "none"), sp.images)
        plans.append(ConfigPlan(ctx.config_name(level), ctx.kind, level, splits, True, {"family": "test"}))
    return plans


def _imagefolder(root: Path) -> None:
    for split, n in (("train", 6), ("test", 2)):
        for c in ("cat", "dog", "emu"):
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                v = (hash((split, c, i)) % 200) + 20
                pix = np.full((5, 6, 3), v, dtype=np.uint8)
                pix[0, 0] = (i * 40, 3, 7)
                (d / f"{i:03d}.png").write_bytes(encode_png(pix))


def _recipe(source: dict, images: str) -> dict:
    return {
        "name": "exporttest",
        "seed": 0,
        "source": source,
        "splits": {"validation": {"from": "train", "fraction": 0.34}},
        "images": images,
        "levels": [0.0, 0.5],
        "configs": [{"kind": "flip", "noise": "test-export-flip"}],
    }


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    _imagefolder(tmp / "imgs")
    out = {}
    folder = {"kind": "imagefolder", "root": str(tmp / "imgs")}
    out["file-reference"] = (build_from_recipe(_recipe(folder, "reference"), tmp / "b-file-ref").out, tmp / "imgs")
    out["file-embed"] = (build_from_recipe(_recipe(folder, "embed"), tmp / "b-file-emb").out, None)
    return tmp, out


LOAD = textwrap.dedent(
    """
    import json, sys
    from datasets import load_dataset, Image, ClassLabel
    folder, config = sys.argv[1], sys.argv[2]
    ds = load_dataset(folder, config)
    out = {}
    for split in ds:
        d = ds[split]
        assert isinstance(d.features["image"], Image), d.features
        assert isinstance(d.features["label"], ClassLabel), d.features
        out[split] = {"ids": list(d["id"]), "label": list(d["label"]), "is_noisy": list(d["is_noisy"]),
                      "size": [list(im.size) for im in d["image"]]}
    print(json.dumps(out))
    """
)


def _load_elsewhere(folder: Path, config: str, cwd: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(cwd / "hf-home")}
    res = subprocess.run([sys.executable, "-c", LOAD, str(folder), config], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["file-reference", "file-embed"])
def test_export_round_trip_from_another_cwd(builds, kind, tmp_path):
    from cnlbench.manifest.reader import open_dataset

    _tmp, b = builds
    src, root = b[kind]
    out = tmp_path / "exported"
    rep = export_hf(src, out, image_root=root)
    assert rep.copied == (kind == "file-embed")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    got = _load_elsewhere(out.resolve(), "flip-50", elsewhere)
    orig = open_dataset(src, image_root=root)
    for split in ("train", "validation", "test"):
        sp = orig.split("flip-50", split)
        assert got[split]["ids"] == sp.ids.tolist()
        assert got[split]["label"] == sp.label.tolist()
        assert got[split]["is_noisy"] == sp.is_noisy.tolist()
        assert all(s == [6, 5] for s in got[split]["size"])
    assert sum(got["train"]["is_noisy"]) == round(0.5 * len(got["train"]["ids"]))
    # the exported folder is a valid cnlbench build whose pixels equal the original's
    exp = open_dataset(out)
    np.testing.assert_array_equal(exp.split("flip-50", "train").images_uint8(), orig.split("flip-50", "train").images_uint8())
    record = json.loads((out / "cnlbench-build.json").read_text())
    assert record["images"] == "embed"
    assert not (out / "images").exists()


def test_export_of_reference_build_matches_embedded_build_fingerprints(builds, tmp_path):
    _tmp, b = builds
    out = tmp_path / "x"
    export_hf(b["file-reference"][0], out, image_root=b["file-reference"][1])
    ref = json.loads((out / "cnlbench-build.json").read_text())
    emb = json.loads((b["file-embed"][0] / "cnlbench-build.json").read_text())
    for cfg in ("flip-00", "flip-50"):
        assert ref["configs"][cfg]["fingerprint"] == emb["configs"][cfg]["fingerprint"]


def test_external_reference_build_needs_image_root(builds, tmp_path):
    _tmp, b = builds
    with pytest.raises(MissingDataError, match="--image-root"):
        export_hf(b["file-reference"][0], tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_export_refuses_non_builds(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(ManifestError, match="not a cnlbench build"):
        export_hf(tmp_path / "d", tmp_path / "o")


def test_failed_export_leaves_previous_output(builds, tmp_path):
    _tmp, b = builds
    out = tmp_path / "o"
    export_hf(b["file-embed"][0], out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(MissingDataError):
        export_hf(b["file-reference"][0], out, image_root=tmp_path / "nowhere")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_upload_plan_and_offline_push(builds, tmp_path, monkeypatch):
    _tmp, b = builds
    out = tmp_path / "o"
    export_hf(b["file-embed"][0], out)
    plan = upload_plan(out, "me/cnl-test", private=True)
    rels = [r for _, r in plan.files]
    assert plan.configs == ("flip-00", "flip-50") and plan.private
    assert rels[:2] == ["README.md", "cnlbench-build.json"]
    assert set(rels[2:]) == {
        "clean/test-00000-of-00001.parquet",
        *(f"flip-{p}/{s}-00000-of-00001.parquet" for p in ("00", "50") for s in ("train", "validation")),
    }
    assert all(p.is_file() for p, _ in plan.files)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CnlbenchError, match="HF_HUB_OFFLINE"):
        push_to_hub(out, "me/cnl-test")


@pytest.mark.parametrize("repo", ["noslash", "a/b/c", "/x"])
def test_push_rejects_bad_repo_ids(builds, repo):
    _tmp, b = builds
    with pytest.raises(CnlbenchError, match="owner/name"):
        upload_plan(b["file-embed"][0], repo)


def test_push_refuses_reference_builds(builds):
    _tmp, b = builds
    with pytest.raises(ManifestError, match="export-hf"):
        upload_plan(b["file-reference"][0], "me/x")


def test_cli_export_hf(builds, tmp_path, capsys):
    from cnlbench.cli import main

    _tmp, b = builds
    src, root = b["file-reference"]
    rc = main(["export-hf", str(src), "--out", str(tmp_path / "cli"), "--image-root", str(root), "--no-progress"])
    assert rc == 0
    assert "embedded" in capsys.readouterr().out
    assert (tmp_path / "cli" / "flip-50" / "train-00000-of-00001.parquet").is_file()
    rc = main(["push", str(tmp_path / "cli"), "me/x", "--dry-run"])
    assert rc == 0 and "flip-50/train-00000-of-00001.parquet" in capsys.readouterr().out
