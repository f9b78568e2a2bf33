"""File-backed sources on tiny fixtures in the exact on-disk formats: ImageFolder,
Mini-ImageNet (CSV lists + JPEGs), Stanford Cars (devkit .mat + anno_test.csv)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from fixtures_sources import write_imagefolder, write_mini_imagenet, write_stanford_cars

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources import make_source
from cnlbench.sources.images import decode_rgb

RNG = np.random.default_rng(0)


# ------------------------------------------------------------------------------ ImageFolder


@pytest.mark.parametrize("split_layout", [False, True])
def test_imagefolder_layouts(tmp_path, split_layout):
    if split_layout:
        layout = {"train": {"dog": 2, "cat": 3}, "val": {"cat": 1}, "test": {"dog": 1, "cat": 1}}
    else:
        layout = {"": {"dog": 2, "cat": 3}}
    write_imagefolder(tmp_path, layout, RNG)
    src = make_source("imagefolder", root=tmp_path, image_size=4)
    assert src.class_names == ("cat", "dog")
    assert src.split_names() == (("train", "validation", "test") if split_layout else ("train",))
    tr = src.load_split("train")
    assert tr.ids.tolist() == ["cat/000.png", "cat/001.png", "cat/002.png", "dog/000.png", "dog/001.png"]
    assert tr.labels.tolist() == [0, 0, 0, 1, 1]
    assert tr.images.relpath(0) == ("train/cat/000.png" if split_layout else "cat/000.png")
    assert decode_rgb(tr.images.encoded(4), "x").shape == (4, 4, 3)
    if split_layout:
        assert src.load_split("validation").labels.tolist() == [0]


def test_imagefolder_refuses_unknown_classes_and_escaping_symlinks(tmp_path):
    write_imagefolder(tmp_path, {"train": {"a": 1}, "test": {"a": 1, "zebra": 1}}, RNG)
    src = make_source("imagefolder", root=tmp_path)
    with pytest.raises(SourceError, match="zebra"):
        src.load_split("test")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.png"
    outside.write_bytes((tmp_path / "train" / "a" / "000.png").read_bytes())
    os.symlink(outside, tmp_path / "train" / "a" / "link.png")
    tr = src.load_split("train")
    with pytest.raises(SourceError, match="outside the image root"):
        tr.images.encoded(tr.ids.tolist().index("a/link.png"))


def test_imagefolder_reports_bad_file_by_name(tmp_path):
    write_imagefolder(tmp_path, {"": {"a": 1}}, RNG)
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    tr = make_source("imagefolder", root=tmp_path).load_split("train")
    with pytest.raises(SourceError, match="a/broken.png"):
        [tr.images.encoded(i) for i in range(len(tr))]


def test_imagefolder_missing_root(tmp_path):
    with pytest.raises(MissingDataError, match="does not exist"):
        make_source("imagefolder", root=tmp_path / "nope")


# ------------------------------------------------------------------------------ Mini-ImageNet

WNIDS = {"train": ["n01532829", "n01558993"], "val": ["n01855672"], "test": ["n01930112", "n01981276"]}


@pytest.mark.parametrize("split_files, n_classes", [(("train", "val", "test"), 5), (("train",), 2)])
def test_mini_imagenet_union_and_resize(tmp_path, split_files, n_classes):
    write_mini_imagenet(tmp_path, WNIDS, 3, RNG)
    src = make_source("mini-imagenet", root=tmp_path, split_files=list(split_files), image_size=10)
    assert len(src.class_names) == n_classes and list(src.class_names) == sorted(src.class_names)
    sd = src.load_split("train")
    assert len(sd) == 3 * n_classes
    assert sd.ids[0] == "n0153282900000001"
    assert sd.images.relpath(0) == "images/n0153282900000001.jpg"
    assert np.bincount(sd.labels).tolist() == [3] * n_classes
    a = sd.images.encoded(1)
    assert a == sd.images.encoded(1) and decode_rgb(a, "x").shape == (10, 10, 3)


def test_mini_imagenet_missing_images(tmp_path):
    write_mini_imagenet(tmp_path, WNIDS, 2, RNG)
    (tmp_path / "images" / "n0155899300000002.jpg").unlink()
    with pytest.raises(MissingDataError, match=r"1 of 10 .*n0155899300000002\.jpg.*on_missing='drop'"):
        make_source("mini-imagenet", root=tmp_path).load_split("train")
    src = make_source("mini-imagenet", root=tmp_path, on_missing="drop")
    assert len(src.load_split("train")) == 9 and src.dropped == ["n0155899300000002.jpg"]


@pytest.mark.parametrize(
    "content, match",
    [("file,label\nx.jpg,n01532829\n", "header"), ("filename,label\n../x.jpg,n01532829\n", "no folders"), ("filename,label\nx.jpg,dog\n", "wnid")],
)
def test_mini_imagenet_malformed_lists(tmp_path, content, match):
    (tmp_path / "train.csv").write_text(content)
    with pytest.raises(SourceError, match=match):
        make_source("mini-imagenet", root=tmp_path, split_files=["train"])


@pytest.mark.shared_data
def test_real_mini_imagenet_lists(shared_data):
    src = make_source("mini-imagenet", root=shared_data / "mini-imagenet")
    counts = src.class_counts()
    assert len(counts) == 100 and set(counts.values()) == {600} and len(src.rows) == 60_000


# ------------------------------------------------------------------------------ Stanford Cars

CLASSES = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Audi TT RS Coupe 2012"]
TRAIN = [("00001.jpg", 2, 3, 30, 20, 1), ("00002.jpg", 1, 1, 60, 40, 3), ("00003.jpg", 10, 5, 50, 35, 2)]
TEST = [("00001.jpg", 5, 5, 25, 25, 2), ("00002.jpg", 1, 2, 59, 39, 3)]


@pytest.mark.parametrize("crop", [False, True])
def test_stanford_cars_fixture(tmp_path, crop):
    write_stanford_cars(tmp_path, CLASSES, TRAIN, TEST, RNG)
    src = make_source("stanford-cars", root=tmp_path, crop=crop, check_sizes=False)
    assert src.class_names == tuple(CLASSES)
    tr, te = src.load_split("train"), src.load_split("test")
    assert tr.labels.tolist() == [0, 2, 1] and te.labels.tolist() == [1, 2]
    assert tr.ids.tolist() == ["cars-train-00001", "cars-train-00002", "cars-train-00003"]
    assert tr.extras["bbox_x2"].tolist() == [30, 60, 50] and te.extras["bbox_y1"].tolist() == [5, 2]
    assert tr.images.relpath(0) == "cars_train/00001.jpg"
    shape = decode_rgb(tr.images.encoded(0), "x").shape
    assert shape == ((18, 29, 3) if crop else (40, 60, 3))  # box (2,3)-(30,20), 1-based inclusive


def test_stanford_cars_test_csv_must_match_devkit(tmp_path):
    write_stanford_cars(tmp_path, CLASSES, TRAIN, TEST, RNG, images=False)
    (tmp_path / "anno_test.csv").write_text("00001.jpg,5,5,25,25,2\n00009.jpg,1,2,59,39,3\n")
    with pytest.raises(SourceError, match="disagrees"):
        make_source("stanford-cars", root=tmp_path, check_sizes=False).load_split("test")
    (tmp_path / "anno_test.csv").unlink()
    with pytest.raises(MissingDataError, match="anno_test.csv"):
        make_source("stanford-cars", root=tmp_path, check_sizes=False).load_split("test")


def test_stanford_cars_checks_class_range_and_sizes(tmp_path):
    write_stanford_cars(tmp_path, CLASSES, [("00001.jpg", 1, 1, 5, 5, 4)], TEST, RNG, images=False)
    with pytest.raises(SourceError, match="1-based 1..3"):
        make_source("stanford-cars", root=tmp_path, check_sizes=False).load_split("train")
    with pytest.raises(SourceError, match="expected 196"):
        make_source("stanford-cars", root=tmp_path)


@pytest.mark.shared_data
def test_real_stanford_cars_devkit(shared_data):
    src = make_source("stanford-cars", root=shared_data / "stanford-cars")
    assert len(src.class_names) == 196
    tr, te = src.load_split("train"), src.load_split("test")
    assert (len(tr), len(te)) == (8144, 8041)
    assert tr.labels.min() == 0 and tr.labels.max() == 195 and len(np.unique(te.labels)) == 196
