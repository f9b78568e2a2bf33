"""Plain Hugging Face datasets loads a build in a fresh, offline process."""

from __future__ import annotations

import json

import numpy as np
import yaml

from cnlbench.manifest import open_dataset
from cnlbench.manifest.validate import read_card_yaml

LOAD = r"""
import json, sys
import numpy as np
from datasets import ClassLabel, Image, load_dataset
folder = sys.argv[1] if len(sys.argv) > 1 else {folder!r}
ds = load_dataset(folder, "sym-40")
out = {{}}
for split in ("train", "validation", "test"):
    d = ds[split]
    f = d.features
    out[split] = {{
        "image_is_Image": isinstance(f["image"], Image),
        "label_is_ClassLabel": isinstance(f["label"], ClassLabel),
        "names": f["label"].names,
        "rows": d.num_rows,
        "ids": list(d["id"]),
        "label": list(d["label"]),
        "is_noisy": list(d["is_noisy"]),
        "image_size": list(d[0]["image"].size),
    }}
default = load_dataset(folder)
out["default_train_rows"] = default["train"].num_rows
out["default_noisy"] = int(sum(default["train"]["is_noisy"]))
print(json.dumps(out))
"""


def test_load_dataset_in_fresh_offline_process(small_build, tmp_path, python_run):
    proc = python_run(LOAD.format(folder=str(small_build)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    ds = open_dataset(small_build)
    for split in ("train", "validation", "test"):
        got = loaded[split]
        assert got["image_is_Image"] and got["label_is_ClassLabel"]
        assert got["names"] == [str(d) for d in range(10)]
        sp = ds.split("sym-40", split)
        assert got["rows"] == len(sp)
        assert got["ids"] == sp.ids.tolist()
        assert got["label"] == sp.label.tolist()
        assert got["image_size"] == [8, 8]
        rate = float(np.mean(got["is_noisy"]))
        assert rate == sp.metadata["realised_rate"] == ds.record["configs"]["sym-40"]["splits"][split]["realised_rate"]
    assert loaded["test"]["rows"] == len(ds.split("sym-00", "test"))
    assert loaded["default_train_rows"] == len(ds.split("sym-00", "train")) and loaded["default_noisy"] == 0


def test_card_yaml_lists_every_config(small_build):
    card = read_card_yaml(small_build)
    configs = {c["config_name"]: c for c in card["configs"]}
    assert set(configs) == set(open_dataset(small_build).configs)
    assert [n for n, c in configs.items() if c.get("default")] == ["sym-00"]
    for name, c in configs.items():
        files = {f["split"]: f["path"] for f in c["data_files"]}
        assert files == {
            "train": f"{name}/train-00000-of-00001.parquet",
            "validation": f"{name}/validation-00000-of-00001.parquet",
            "test": "clean/test-00000-of-00001.parquet",
        }
    infos = {i["config_name"]: i for i in card["dataset_info"]}
    assert set(infos) == set(configs)
    label = next(f for f in infos["sym-40"]["features"] if f["name"] == "label")
    assert label["dtype"]["class_label"]["names"] == {str(d): str(d) for d in range(10)}
    sizes = {s["name"]: s["num_examples"] for s in infos["sym-40"]["splits"]}
    ds = open_dataset(small_build)
    assert sizes == {s: len(ds.split("sym-40", s)) for s in ("train", "validation", "test")}
    assert card["license"] == "cc-by-4.0" and card["task_categories"] == ["image-classification"]


def test_card_prose_documents_noise_and_loading(small_build):
    text = (small_build / "README.md").read_text()
    for needle in ('load_dataset("path/to/this/folder", "sym-00")', "T[i,j] = P(noisy=j | clean=i)", "| `sym-40` |", "Seed: `3`", "CC-BY-4.0", "@misc{alpaydin1998digits"):
        assert needle in text
    yaml.safe_load(text.split("---\n")[1])
