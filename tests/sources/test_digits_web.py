"""The packaged digits web pool: format, and enough supply (its regeneration: tests/tools)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from cnlbench.sources.cnwl import CNWL_LEVELS, FolderImageStore, import_split, is_web_name, level_file_name
from cnlbench.sources.digits import DigitsSource
from cnlbench.sources.digits_web import pool_path, release


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_committed_pool_is_small():
    assert sum(len(b) for b in _files(pool_path()).values()) < 3 * 1024 * 1024


@pytest.fixture(scope="module")
def rel():
    return release()


def test_pool_format_and_annotations(rel):
    from PIL import Image

    pool = rel.pool
    assert rel.class_names == tuple(str(d) for d in range(10))
    assert rel.check().ok
    assert set(np.unique(pool.votes_total).tolist()) == {3, 4, 5}
    np.testing.assert_array_equal(pool.is_clean, pool.votes_correct * 2 > pool.votes_total)  # majority, ties not clean
    assert set(pool.retrieval.tolist()) == {"text", "image"}
    share = (pool.retrieval == "image").mean()
    assert 0.15 < share < 0.25
    store = rel.image_stores()[0]
    for i in range(0, len(pool), 97):
        im = Image.open(io.BytesIO(store.read(pool.uri[i])))
        assert im.size == (8, 8) and im.mode == "L"
        px = np.asarray(im)
        assert px.max() > 0
        assert set(np.unique(px).tolist()) <= {int(round(v * 255 / 16)) for v in range(17)}  # digits' grey levels
    # look-alike digits (7 retrieved for 1) carry their true class; letters are unknown (-1)
    true_of_1 = pool.true_class[(pool.retrieved_class == 1) & (pool.true_class >= 0) & (pool.true_class != 1)]
    assert set(true_of_1.tolist()) == {7}
    assert (pool.true_class == -1).sum() > 1000


def test_supply_covers_80_percent_of_train_with_margin(rel):
    pool = rel.pool
    y = DigitsSource().load_split("train").labels
    need = np.ceil(0.8 * np.bincount(y, minlength=10))
    inc = ~pool.is_clean
    supply = np.bincount(pool.retrieved_class[inc], minlength=10)
    text = np.bincount(pool.retrieved_class[inc & (pool.retrieval == "text")], minlength=10)
    assert (supply >= need + 20).all(), (supply, need)
    assert (text >= need + 10).all(), (text, need)


@pytest.mark.parametrize("level", CNWL_LEVELS)
def test_split_files_follow_the_web_construction(rel, level):
    train = DigitsSource().load_split("train")
    red = rel.level_split("red", level)
    np.testing.assert_array_equal(red.labels, train.labels)  # labels kept
    web = red.is_web
    k = np.bincount(train.labels[web], minlength=10)
    assert abs(int(web.sum()) - level * len(train)) <= 1
    assert (np.abs(k - level * np.bincount(train.labels, minlength=10)) < 1.0 + 1e-9).all() or level == 0
    idx = rel.pool.index()
    pos = np.array([idx[n[:-4]] for n in red.names[web].tolist()], dtype=np.int64)
    assert not rel.pool.is_clean[pos].any()
    assert len(np.unique(pos)) == len(pos)
    np.testing.assert_array_equal(red.names[~web], np.array([f"{i}.png" for i in train.ids[~web]]))
    blue = rel.level_split("blue", level)
    assert abs(int((blue.labels != train.labels).sum()) - level * len(train)) <= 1
    assert not any(is_web_name(n) for n in blue.names.tolist())


def test_import_path_runs_end_to_end(rel):
    from cnlbench.sources.cnwl import SourceImageStore

    src = DigitsSource()
    stores = [SourceImageStore([src.load_split("train"), src.load_split("test")]), *rel.image_stores()]
    imp = import_split(rel, level_file_name("red", 0.4), stores, missing="error")
    assert imp.missing == () and len(imp.ids) == len(src.load_split("train"))
    assert imp.images.encoded(int(np.flatnonzero(imp.is_noisy)[0])).startswith(b"\x89PNG")
    val = import_split(rel, "clean_validation", stores, missing="error")
    assert len(val.ids) == len(src.load_split("test")) and not val.is_noisy.any()
    assert isinstance(stores[1], FolderImageStore) is False  # images ship as one Parquet archive
