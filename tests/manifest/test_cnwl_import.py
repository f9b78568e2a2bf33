"""The shipped CNWL recipe on a small release in the exact distributed format and the layout
third-party readers use (``all_images/``, ``all_validation/``): every imported config holds its
noisy validation out of its own split file, disjoint from train, and selection reads noisy labels."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from cnlbench.manifest.build import build_from_recipe, holdout_count
from cnlbench.manifest.family_web import holdout_mask
from cnlbench.manifest.reader import open_dataset
from cnlbench.sources.cnwl import CnwlRelease, level_file_name

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures_sources import CNWL_FIXTURE_LEVELS, write_cnwl_release  # noqa: E402

WNIDS = ["n01532829", "n01558993", "n01704323", "n01749939", "n01770081"]
PER_CLASS, VAL_PER_CLASS = 40, 10
GONE = (f"{WNIDS[1]}00000019.jpg",)  # one clean training image never downloaded


def _recipe(repo_root: Path, root: Path, **changes) -> dict:
    data = yaml.safe_load((repo_root / "recipes" / "cnwl-mini-imagenet.yaml").read_text())
    data["source"].update(root=str(root), image_size=8)
    data["configs"][0].update(pool=str(root), image_size=8)
    for key, value in changes.items():
        data[key] = value
    return data


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cnwl") / "mini-imagenet"
    write_cnwl_release(root, WNIDS, PER_CLASS, VAL_PER_CLASS, np.random.default_rng(7), missing=GONE)
    return root


@pytest.fixture(scope="module")
def built(repo_root, release_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cnwl-out") / "b"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = build_from_recipe(_recipe(repo_root, release_dir), out)
    return report, open_dataset(out), [str(w.message) for w in caught]


def _configs():
    return [(c, k, lv) for c, k in (("red", "web"), ("blue", "blue")) for lv in CNWL_FIXTURE_LEVELS]


@pytest.mark.parametrize("color, kind, level", _configs())
def test_validation_is_held_out_of_the_configs_own_split_file(built, release_dir, color, kind, level):
    _, ds, _ = built
    rel = CnwlRelease(release_dir)
    sl = rel.level_split(color, level)
    present = ~np.isin(sl.names, GONE)  # missing: drop
    name = f"{kind}-{int(round(level * 100)):02d}"
    tr, va = ds.split(name, "train"), ds.split(name, "validation")
    # disjoint, and together exactly the file's (present) lines with the file's labels
    assert not set(tr.ids.tolist()) & set(va.ids.tolist())
    file_label = dict(zip(sl.ids[present].tolist(), sl.labels[present].tolist()))
    assert sorted(tr.ids.tolist() + va.ids.tolist()) == sorted(file_label)
    for sp in (tr, va):
        assert sp.label.tolist() == [file_label[i] for i in sp.ids.tolist()]
    # ~10% of every class, and the validation carries the file's noise
    clean = rel.level_split("blue", 0.0)
    clean_of = dict(zip(clean.names.tolist(), clean.labels.tolist()))  # files list lines in their own order
    noisy = (sl.is_web if color == "red" else sl.labels != np.array([clean_of[n] for n in sl.names.tolist()]))[present]
    np.testing.assert_array_equal(va.is_noisy, [dict(zip(sl.ids[present].tolist(), noisy.tolist()))[i] for i in va.ids.tolist()])
    if color == "red":
        np.testing.assert_array_equal(va.is_noisy, va.noise_source == "web")
    else:
        np.testing.assert_array_equal(va.is_noisy, va.label != va.clean_label)
        assert (va.noise_source[va.is_noisy] == "synthetic").all()
    labels = sl.labels[present]
    for c in range(len(WNIDS)):
        in_class = labels == c
        file_rate = noisy[in_class].mean()
        n_val = int((va.label == c).sum())
        assert n_val == holdout_count(int(in_class.sum()), 0.1)  # the recipe carve's count per class
        assert abs(int(va.is_noisy[va.label == c].sum()) - file_rate * n_val) <= 0.5  # within half an example
    assert va.metadata["realised_rate"] == pytest.approx(va.is_noisy.mean())
    assert abs(va.is_noisy.sum() - noisy.mean() * len(va)) < len(WNIDS)
    if level >= 0.2:  # 4 validation lines per class here: lower levels may round to none
        assert va.is_noisy.any()


@pytest.mark.parametrize("seed", range(5))
def test_holdout_mask_keeps_class_sizes_and_noise_share(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 400))
    ids = np.array([f"img{i:05d}" for i in rng.permutation(10 * n)[:n]])
    labels = rng.integers(0, 7, n)
    noisy = rng.random(n) < rng.uniform(0, 0.9)
    f = float(rng.choice([0.05, 0.1, 0.25]))
    held = holdout_mask(ids, labels, noisy, f)
    for c in np.unique(labels):
        in_c = labels == c
        k = int(held[in_c].sum())
        assert k == holdout_count(int(in_c.sum()), f)
        assert abs(int((held & noisy)[in_c].sum()) - k * noisy[in_c].mean()) <= 0.5
    order = rng.permutation(n)  # a property of the lines, not of their order
    np.testing.assert_array_equal(holdout_mask(ids[order], labels[order], noisy[order], f), held[order])


def test_the_holdout_is_recorded_in_metadata_record_and_card(built):
    report, ds, _ = built
    record = json.loads((report.out / "cnlbench-build.json").read_text())
    cfg = record["configs"]["web-40"]
    assert cfg["noise_spec"]["validation_fraction"] == 0.1
    assert "held out from the config's own split file" in cfg["noise_spec"]["validation"]
    assert cfg["splits"]["validation"]["rows"] == len(ds.split("web-40", "validation"))
    meta = ds.split("web-40", "validation").metadata["noise"]
    assert meta["held_out"] is True and meta["split_file"] == "red_noise_nl_0.4"
    assert ds.split("web-40", "train").metadata["noise"]["held_out"] is False
    card = (report.out / "README.md").read_text()
    assert "Validation: held out from the config's own split file" in card
    # the general sentence about the clean splits names the imported configs as its exception
    assert "Configs imported from a released split file (`blue-00`, `blue-05`" in card and "are that file's lines" in card
    summary = {c.name: c for c in report.configs}
    assert set(summary) == {f"{k}-{int(round(lv * 100)):02d}" for _, k, lv in _configs()}
    assert summary["blue-40"].rows["validation"] > 0
    assert summary["blue-40"].realised_rate["validation"] == pytest.approx(ds.split("blue-40", "validation").is_noisy.mean())
    assert "realised val" in report.table()


def test_each_split_file_reads_its_own_folder(repo_root, release_dir, tmp_path):
    """Training split files read all_images/, clean_validation (the test split) all_validation/:
    a same-named decoy in the other folder is never used."""
    import shutil

    root = tmp_path / "mini-imagenet"
    shutil.copytree(release_dir, root)
    val_names = (root / "split" / "clean_validation").read_text().split()[::2]
    train_names = (root / "split" / "red_noise_nl_0.0").read_text().split()[::2]
    decoy = (root / "all_images" / train_names[0]).read_bytes()
    for n in val_names[:3]:
        (root / "all_images" / n).write_bytes(decoy)
    (root / "all_validation" / train_names[1]).write_bytes((root / "all_validation" / val_names[0]).read_bytes())
    data = _recipe(repo_root, root, levels=[0.0], images="reference")
    del data["source"]["image_size"], data["configs"][0]["image_size"]  # files as they are: paths
    r = build_from_recipe(data, tmp_path / "o")
    ds = open_dataset(r.out)
    test = ds.split("web-00", "test")
    paths = dict(zip(test.ids.tolist(), pq_paths(test)))
    assert all(paths[Path(n).stem] == f"all_validation/{n}" for n in val_names)
    train = ds.split("web-00", "train")
    assert all(p.startswith("all_images/") for p in pq_paths(train))
    assert f"all_images/{train_names[1]}" in set(pq_paths(train)) | set(pq_paths(ds.split("web-00", "validation")))


def pq_paths(sp) -> list[str]:
    """The ``image_path`` column of a reference-mode split."""
    import pyarrow.parquet as pq

    return pq.read_table(sp.path, columns=["image_path"]).column("image_path").to_pylist()


def test_missing_images_are_dropped_and_the_report_names_the_folders_searched(built, release_dir):
    report, ds, messages = built
    gone_id = Path(GONE[0]).stem
    for name in ds.configs:
        assert gone_id not in set(ds.split(name, "train").ids.tolist()) | set(ds.split(name, "validation").ids.tolist())
    assert ds.split("blue-40", "train").metadata["noise"]["missing_images"] == list(GONE)
    assert any(GONE[0] in m and f"{release_dir}/all_images" in m for m in messages)
    listed = (report.out / "missing-images.txt").read_text()
    assert f"# searched: {release_dir}/all_images" in listed
    assert f"blue-40\ttrain\t{GONE[0]}" in listed


def test_a_missing_test_image_names_the_validation_folder(repo_root, release_dir, tmp_path):
    import shutil

    from cnlbench.errors import MissingDataError

    root = tmp_path / "mini-imagenet"
    shutil.copytree(release_dir, root)
    first = (root / "split" / "clean_validation").read_text().split()[0]
    (root / "all_validation" / first).unlink()
    with pytest.raises(MissingDataError, match=f"{first}.*{root}/all_validation"):
        build_from_recipe(_recipe(repo_root, root, levels=[0.0], images="embed"), tmp_path / "o")


def test_selection_reads_only_the_noisy_validation_labels(built):
    """The engine's model selection on an imported config: the validation labels it sees are the
    split file's (noisy) labels, and scrambling the validation clean labels changes nothing."""
    import dataclasses

    import torch

    from cnlbench.harness.data import load_task
    from cnlbench.harness.engine import RunSpec, default_train_config, run_one

    report, ds, _ = built
    task = load_task(report.out, "blue-60", device="cpu")
    va = ds.split("blue-60", "validation")
    np.testing.assert_array_equal(task.validation.label.numpy(), va.label)
    assert (task.validation.label.numpy() != va.clean_label).sum() == va.is_noisy.sum() > 0
    spec = RunSpec(dataset_dir=str(report.out), config="blue-60", method="ce", seed=0, model="digits-cnn",
                   train=default_train_config("digits-cnn", "digits", epochs=2), device="cpu")
    scrambled_val = dataclasses.replace(task.validation, clean_label=torch.full_like(task.validation.clean_label, -1))
    a = run_one(spec, task=task)
    b = run_one(spec, task=dataclasses.replace(task, validation=scrambled_val))
    assert a["status"] == b["status"] == "ok"
    for key in ("val_acc_best", "test_acc_best_val", "best_epoch"):
        if key in a:
            assert a[key] == b[key]
    assert json.loads(a["curves"]).get("val_acc") == json.loads(b["curves"]).get("val_acc")
