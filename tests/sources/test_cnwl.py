"""The CNWL release reader, generic pool tables, consistency checks and split import."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.cnwl import (
    CNWL_LEVELS,
    CnwlRelease,
    FolderImageStore,
    import_split,
    is_web_name,
    level_file_name,
    read_pool_table,
    read_split_file,
)
from cnlbench.sources.png import encode_png

CLASSES = ["n01440764", "n01443537", "n01484850"]


def _png(v: int) -> bytes:
    return encode_png(np.full((4, 4, 3), v, dtype=np.uint8))


def make_release(root: Path, *, with_images: bool = True, missing: tuple[str, ...] = ()) -> dict:
    """A tiny CNWL release in the exact distributed format, plus an image folder.

    3 classes x 4 clean ImageNet-named images; 2 incorrect + 1 correct web image per class.
    red_p replaces round(p * 4) images per class; blue_p flips the label of the first
    round(p * 4) images per class to (c + 1) % 3.
    """
    (root / "split").mkdir(parents=True)
    (root / "class_names.txt").write_text("".join(f"{c}\n" for c in CLASSES))
    clean = [(f"{CLASSES[c]}{i:08d}.jpg", c) for c in range(3) for i in range(1, 5)]
    web = {c: [f"{c:x}{j:015x}.jpg" for j in range(3)] for c in range(3)}  # last one judged clean
    groups = []
    for c in range(3):
        groups.append([
            {"image/id": Path(n).stem, "image/uri": f"http://example.com/{c}/{j}.jpg",
             "image/class/label": c, "image/class/label/is_clean": int(j == 2)}
            for j, n in enumerate(web[c])
        ])
    (root / "mini-imagenet-annotations.json").write_text(json.dumps({"data": groups}))
    lines = {}
    for lv in CNWL_LEVELS:
        k = min(int(round(lv * 4)), 2)
        red, blue = [], []
        for c in range(3):
            rows = [n for n, cc in clean if cc == c]
            red += [(web[c][i] if i < k else n, c) for i, n in enumerate(rows)]
            blue += [(n, (c + 1) % 3 if i < int(round(lv * 4)) else c) for i, n in enumerate(rows)]
        lines[level_file_name("red", lv)] = red
        lines[level_file_name("blue", lv)] = blue
    lines["clean_validation"] = [(f"{CLASSES[c]}{i:08d}.jpg", c) for c in range(3) for i in range(90, 92)]
    for name, rows in lines.items():
        (root / "split" / name).write_text("".join(f"{n} {lab}\n" for n, lab in rows))
    if with_images:
        img = root.parent / "images"
        img.mkdir(exist_ok=True)
        names = {n for rows in lines.values() for n, _ in rows} | {n for ws in web.values() for n in ws}
        for i, n in enumerate(sorted(names)):
            if n not in missing:
                (img / n).write_bytes(_png(i % 250))
    return lines


@pytest.fixture()
def release(tmp_path):
    lines = make_release(tmp_path / "release")
    return CnwlRelease(tmp_path / "release"), tmp_path / "images", lines


def test_reads_release_format(release):
    rel, _, lines = release
    assert rel.class_names == tuple(CLASSES)
    assert len(rel.split_names()) == 21
    sl = rel.level_split("red", 0.5)
    assert sl.names.tolist() == [n for n, _ in lines["red_noise_nl_0.5"]]
    assert sl.labels.tolist() == [lab for _, lab in lines["red_noise_nl_0.5"]]
    assert sl.is_web.sum() == 6
    pool = rel.pool
    assert len(pool) == 9 and pool.is_clean.sum() == 3
    assert (pool.true_class == -1).all() and (pool.retrieval == "").all()
    assert pool.uri[0].startswith("http://")


@pytest.mark.parametrize("level, name", [(0.0, "red_noise_nl_0.0"), (0.05, "red_noise_nl_0.05"), (0.1, "red_noise_nl_0.1"), (0.8, "red_noise_nl_0.8")])
def test_level_file_names(level, name):
    assert level_file_name("red", level) == name


@pytest.mark.parametrize("name, web", [("0123456789abcdef.jpg", True), ("n0144076400000001.jpg", False), ("0123.jpg", False)])
def test_web_names(name, web):
    assert is_web_name(name) is web


@pytest.mark.parametrize(
    "text, match",
    [
        (b"a.jpg 1 2\n", "expected"),
        (b"a.jpg x\n", "not an integer"),
        (b"a.jpg 7\n", "outside"),
        (b"a.jpg -1\n", "outside"),
        (b"../a.jpg 1\n", r"\.\."),
        (b"/etc/a.jpg 1\n", "absolute"),
        (b"a\\b.jpg 1\n", "backslash"),
        (b"\xff\xfe.jpg 1\n", "not UTF-8"),
    ],
)
def test_split_file_errors_name_file_and_line(tmp_path, text, match):
    p = tmp_path / "red_noise_nl_0.1"
    p.write_bytes(b"ok.jpg 0\n\n" + text)  # a blank line still counts
    with pytest.raises(SourceError, match=match) as e:
        read_split_file(p, num_classes=3)
    assert str(e.value).startswith(f"{p}:3: ")


def test_repeated_image_is_refused_naming_both_lines(tmp_path):
    make_release(tmp_path / "r", with_images=False)
    split = tmp_path / "r" / "split" / "red_noise_nl_0.5"
    lines = split.read_text().splitlines()
    split.write_text("\n".join(lines + [lines[1]]) + "\n")
    rel = CnwlRelease(tmp_path / "r")
    with pytest.raises(SourceError) as e:
        import_split(rel, "red_noise_nl_0.5", [])
    assert f"{split}:{len(lines) + 1}: image id {Path(lines[1].split()[0]).stem!r}" in str(e.value)
    assert f"repeats {split}:2" in str(e.value)


def test_consistency_reports_id_mismatches(tmp_path):
    make_release(tmp_path / "r")
    split = tmp_path / "r" / "split" / "red_noise_nl_0.5"
    text = split.read_text().replace("0000000000000000.jpg 0", "ffffffffffffffff.jpg 0").replace("1000000000000000.jpg 1", "1000000000000000.jpg 2")
    split.write_text(text)
    rep = CnwlRelease(tmp_path / "r").check()
    assert not rep.ok
    assert rep.web_not_annotated["red_noise_nl_0.5"] == ["ffffffffffffffff.jpg"]
    assert rep.label_mismatch["red_noise_nl_0.5"] == [("1000000000000000.jpg", 2, 1)]
    assert rep.web_not_annotated["red_noise_nl_0.4"] == []
    assert "without annotation" in rep.summary()


def test_consistency_ok_on_clean_release(release):
    rel, _, _ = release
    rep = rel.check()
    assert rep.ok, rep.summary()


@pytest.mark.parametrize("level", CNWL_LEVELS)
def test_import_matches_split_files_line_for_line(release, level):
    rel, images, lines = release
    stores = [FolderImageStore(images)]
    for color in ("red", "blue"):
        name = level_file_name(color, level)
        imp = import_split(rel, name, stores, clean_reference=rel.level_split("blue", 0.0))
        assert imp.names.tolist() == [n for n, _ in lines[name]]
        assert imp.labels.tolist() == [lab for _, lab in lines[name]]
        assert imp.ids.tolist() == [Path(n).stem for n, _ in lines[name]]
        assert imp.missing == ()
        for i, (n, _lab) in enumerate(lines[name]):
            assert imp.images.encoded(i) == (images / n).read_bytes()
        if color == "red":
            web = np.array([is_web_name(n) for n, _ in lines[name]])
            np.testing.assert_array_equal(imp.is_noisy, web)
            assert (imp.noise_source[web] == "web").all() and (imp.clean_labels[web] == -1).all()
        else:
            clean = np.repeat(np.arange(3), 4)
            np.testing.assert_array_equal(imp.clean_labels, clean)
            np.testing.assert_array_equal(imp.is_noisy, imp.labels != clean)
            assert imp.realised_rate == pytest.approx(round(level * 4) / 4)


def test_missing_images_reported_dropped_or_refused(tmp_path):
    gone = ("0000000000000000.jpg", f"{CLASSES[1]}00000004.jpg")
    make_release(tmp_path / "r", missing=gone)
    rel = CnwlRelease(tmp_path / "r")
    name = "red_noise_nl_0.5"
    stores = [FolderImageStore(tmp_path / "images")] + rel.image_stores(name)
    rep = import_split(rel, name, stores, missing="report")
    assert rep.missing == gone and len(rep.ids) == 12 and not rep.dropped
    with pytest.raises(MissingDataError):
        rep.images.encoded(rep.names.tolist().index(gone[0]))
    drop = import_split(rel, name, stores, missing="drop")
    assert len(drop.ids) == 10 and drop.dropped and drop.missing == gone
    assert not set(gone) & set(drop.names.tolist())
    assert drop.realised_rate == pytest.approx(5 / 10)  # 6 web rows, one dropped
    assert drop.summary()["missing_images"] == 2
    with pytest.raises(MissingDataError, match="2 of 12 images") as e:
        import_split(rel, name, stores, missing="error")
    assert gone[0] in str(e.value) and "missing: drop" in str(e.value)
    assert f"searched: {tmp_path / 'images'}, {tmp_path / 'r'}/images, {tmp_path / 'r'}/all_images (no such folder)" in str(e.value)
    assert rep.searched == (str(tmp_path / "images"), f"{tmp_path / 'r'}/images, {tmp_path / 'r'}/all_images (no such folder)")
    with pytest.raises(MissingDataError, match=f"{gone[0]}.*searched: {tmp_path / 'images'}"):
        rep.images.encoded(rep.names.tolist().index(gone[0]))


def test_third_party_layout_needs_no_image_dir(tmp_path):
    """all_images/ (training split files) and all_validation/ (clean_validation) under the
    release root, as third-party readers expect: found without image_dir, each split file in
    its own folder, paths relative to the release root."""
    from cnlbench.sources.base import make_source

    lines = make_release(tmp_path / "r")
    root = tmp_path / "r"
    (root / "all_images").mkdir()
    (root / "all_validation").mkdir()
    for split, rows in lines.items():
        for n, _ in rows:
            src = tmp_path / "images" / n
            dst = root / ("all_validation" if split == "clean_validation" else "all_images") / n
            if not dst.exists():
                dst.write_bytes(src.read_bytes())
    (root / "all_images" / lines["clean_validation"][0][0]).write_bytes(_png(251))  # a same-named decoy
    src = make_source("cnwl", root=str(root))
    train, test = src.load_split("train"), src.load_split("test")
    assert train.images.root == root and train.images.relpath(0) == f"all_images/{lines['blue_noise_nl_0.0'][0][0]}"
    assert test.images.relpath(0) == f"all_validation/{lines['clean_validation'][0][0]}"
    assert test.images.encoded(0) == (tmp_path / "images" / lines["clean_validation"][0][0]).read_bytes()
    (root / "all_validation" / lines["clean_validation"][1][0]).unlink()
    test = make_source("cnwl", root=str(root)).load_split("test")
    with pytest.raises(MissingDataError, match=f"searched: {root}/all_validation\\)"):
        test.images.encoded(1)


def test_release_without_annotation_file(tmp_path):
    make_release(tmp_path / "r", with_images=False)
    (tmp_path / "r" / "mini-imagenet-annotations.json").unlink()
    with pytest.raises(SourceError, match="exactly one annotation"):
        CnwlRelease(tmp_path / "r")


def test_annotation_conflicts_are_reported(tmp_path):
    make_release(tmp_path / "r", with_images=False)
    p = tmp_path / "r" / "mini-imagenet-annotations.json"
    doc = json.loads(p.read_text())
    rec = dict(doc["data"][0][0], **{"image/class/label": 2})
    doc["data"].append([rec, doc["data"][1][0]])  # a conflict and an exact repeat
    p.write_text(json.dumps(doc))
    pool = CnwlRelease(tmp_path / "r").pool
    assert len(pool) == 9 and pool.conflicts == (rec["image/id"],)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_generic_pool_table(tmp_path, fmt):
    rows = {
        "id": ["a1", "b2", "c3", "d4"],
        "retrieved_class": [0, 0, 1, 2],
        "votes_correct": [0, 3, 1, 2],
        "votes_incorrect": [3, 0, 2, 2],
        "true_class": [1, 0, -1, -1],
        "retrieval": ["text", "image", "text", ""],
        "path": ["w/a1.jpg", "w/b2.jpg", "w/c3.jpg", "w/d4.jpg"],
    }
    if fmt == "csv":
        p = tmp_path / "pool.csv"
        head = ",".join(rows)
        body = "".join(",".join(str(rows[k][i]) for k in rows) + "\n" for i in range(4))
        p.write_text(head + "\n" + body)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        p = tmp_path / "pool.parquet"
        pq.write_table(pa.table(rows), p)
    pool = read_pool_table(p, num_classes=3)
    assert pool.ids.tolist() == rows["id"]
    assert pool.is_clean.tolist() == [False, True, False, False]  # tie -> not clean
    assert pool.true_class.tolist() == [1, 0, -1, -1]
    assert pool.retrieval.tolist() == ["text", "image", "text", ""]
    assert pool.votes_total.tolist() == [3, 3, 3, 4]
    wp = pool.to_web_pool()
    assert len(wp) == 4


@pytest.mark.parametrize(
    "header, row, match",
    [
        ("id,retrieved_class", "a,0", "is_clean"),
        ("id,is_clean", "a,1", "retrieved_class"),
        ("id,retrieved_class,is_clean", "a,5,1", "outside"),
        ("id,retrieved_class,is_clean", "a,0,maybe", "boolean"),
        ("id,retrieved_class,is_clean,votes_correct,votes_incorrect", "a,0,1,0,3", "contradicts"),
    ],
)
def test_generic_pool_table_errors(tmp_path, header, row, match):
    p = tmp_path / "pool.csv"
    p.write_text(f"{header}\n{row}\n")
    with pytest.raises(SourceError, match=match):
        read_pool_table(p, num_classes=3)


def test_cnwl_source(release, tmp_path):
    from cnlbench.sources.base import make_source

    rel, images, lines = release
    src = make_source("cnwl", root=str(rel.root), image_dir=str(images))
    assert src.class_names == tuple(CLASSES)
    train = src.load_split("train")
    assert train.ids.tolist() == [Path(n).stem for n, _ in lines["blue_noise_nl_0.0"]]
    test = src.load_split("test")
    assert len(test) == 6 and test.images.encoded(0) == (images / lines["clean_validation"][0][0]).read_bytes()
    assert test.images.relpath(0) == lines["clean_validation"][0][0]


@pytest.mark.parametrize("size", [2, 7])
def test_cnwl_source_resizes(release, size):
    from PIL import Image
    import io

    from cnlbench.sources.base import make_source

    rel, images, _ = release
    src = make_source("cnwl", root=str(rel.root), image_dir=str(images), image_size=size)
    test = src.load_split("test")
    assert Image.open(io.BytesIO(test.images.encoded(0))).size == (size, size)
    assert test.images.relpath(0) is None  # resized images cannot be referenced by file path
