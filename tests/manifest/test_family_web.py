"""The `web` noise family: generated web noise and the CNWL import, through the real builder."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cnlbench.manifest.family_web  # noqa: F401  (registers `noise: web`)
from cnlbench.errors import MissingDataError, NoiseSpecError, RecipeError
from cnlbench.manifest.build import build_from_recipe
from cnlbench.manifest.reader import open_dataset
from cnlbench.noise.web import web_class_counts
from cnlbench.sources.cnwl import CNWL_LEVELS, level_file_name
from cnlbench.sources.digits_web import pool_path, release

LEVELS = [0.0, 0.2, 0.8]


def recipe(entry: dict, levels=LEVELS, images="embed") -> dict:
    return {
        "name": "digits-web-test",
        "seed": 3,
        "source": {"kind": "digits"},
        "splits": {"validation": {"from": "train", "fraction": 0.125}},
        "images": images,
        "levels": levels,
        "configs": [{"kind": "web", "noise": "web", **entry}],
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("web") / "b"
    build_from_recipe(recipe({"pool": "digits-web"}), out)
    return open_dataset(out)


def test_generated_exact_counts_kept_labels_distinct_images(built):
    pool = release().pool
    pidx = pool.index()
    clean = built.split("web-00", "train")
    assert not clean.is_noisy.any()
    used_by_split = {}
    for split in ("train", "validation"):
        base = built.split("web-00", split)
        sizes = np.bincount(base.label, minlength=10)
        counts = web_class_counts(sizes, LEVELS)
        prev = None
        for li, level in enumerate(LEVELS):
            sp = built.split(f"web-{int(level * 100):02d}", split)
            np.testing.assert_array_equal(sp.label, base.label)  # labels kept, row order kept
            web = sp.is_noisy
            np.testing.assert_array_equal(web, sp.noise_source == "web")
            np.testing.assert_array_equal(np.bincount(sp.label[web], minlength=10), counts[li])
            np.testing.assert_array_equal(sp.ids[~web], base.ids[~web])
            pos = np.array([pidx[i] for i in sp.ids[web]], dtype=np.int64)
            assert len(np.unique(pos)) == len(pos)
            assert not pool.is_clean[pos].any()
            np.testing.assert_array_equal(pool.retrieved_class[pos], sp.label[web])
            np.testing.assert_array_equal(sp.clean_label[web], pool.true_class[pos])
            np.testing.assert_array_equal(sp.clean_label[~web], base.label[~web])
            if prev is not None:  # nested: replaced rows stay replaced, with the same image
                assert not (prev.is_noisy & ~web).any()
                np.testing.assert_array_equal(sp.ids[prev.is_noisy], prev.ids[prev.is_noisy])
            prev = sp
            meta = sp.metadata
            assert meta["realised_rate"] == pytest.approx(web.mean())
        used_by_split[split] = set(prev.ids[prev.is_noisy].tolist())
    assert not used_by_split["train"] & used_by_split["validation"]


def test_web_rows_carry_the_pool_images(built):
    rel = release()
    store = rel.image_stores()[0]
    sp = built.split("web-80", "train")
    blobs = sp.encoded_images()
    for i in np.flatnonzero(sp.is_noisy)[:25]:
        assert blobs[i] == store.read(f"{sp.ids[i]}.png")
    assert sp.images_uint8().shape == (len(sp), 8, 8, 1)


def test_generated_is_deterministic_and_seeded(tmp_path):
    a = build_from_recipe(recipe({"pool": "digits-web"}, levels=[0.4]), tmp_path / "a")
    b = build_from_recipe(recipe({"pool": "digits-web"}, levels=[0.4]), tmp_path / "b")
    c = build_from_recipe(recipe({"pool": "digits-web"}, levels=[0.4]), tmp_path / "c", seed=4)
    fa, fb, fc = (open_dataset(r.out).fingerprint("web-40") for r in (a, b, c))
    assert fa == fb and fa != fc


def test_text_only_and_cap(tmp_path):
    pool = release().pool
    pidx = pool.index()
    r = build_from_recipe(recipe({"pool": "digits-web", "text_only": True}, levels=[0.8]), tmp_path / "t")
    sp = open_dataset(r.out).split("web-80", "train")
    assert (pool.retrieval[[pidx[i] for i in sp.ids[sp.is_noisy]]] == "text").all()
    assert sp.metadata["noise"]["text_only"] is True


def _small_pool(tmp_path, per_class):
    rel = release()
    p = rel.pool
    keep = np.zeros(len(p), bool)
    for c in range(10):
        keep[np.flatnonzero((p.retrieved_class == c) & ~p.is_clean)[:per_class]] = True
    rows = {
        "id": p.ids[keep].tolist(),
        "retrieved_class": p.retrieved_class[keep].tolist(),
        "is_clean": p.is_clean[keep].tolist(),
        "true_class": p.true_class[keep].tolist(),
        "retrieval": p.retrieval[keep].tolist(),
        "path": [f"img/{i}.png" for i in p.ids[keep].tolist()],
    }
    (tmp_path / "img").mkdir()
    store = rel.image_stores()[0]
    for i in rows["id"]:
        (tmp_path / "img" / f"{i}.png").write_bytes(store.read(f"{i}.png"))
    pq.write_table(pa.table(rows), tmp_path / "pool.parquet")
    return tmp_path / "pool.parquet"


def test_pool_table_shortage_error_and_cap(tmp_path):
    table = _small_pool(tmp_path, 60)
    with pytest.raises(NoiseSpecError, match=r"class 0: level 0.8 needs \d+ .*supplies 60"):
        build_from_recipe(recipe({"pool": str(table)}, levels=[0.2, 0.8]), tmp_path / "x")
    r = build_from_recipe(recipe({"pool": str(table), "on_shortage": "cap"}, levels=[0.2, 0.8], images="reference"), tmp_path / "y")
    ds = open_dataset(r.out)
    sp = ds.split("web-80", "train")
    assert sp.metadata["noise"]["capped"] is True
    assert np.bincount(sp.label[sp.is_noisy], minlength=10).max() <= 60
    assert sp.metadata["realised_rate"] < 0.8
    assert ds.split("web-20", "train").metadata["noise"]["capped"] is False


def test_missing_pool_images(tmp_path):
    table = _small_pool(tmp_path, 150)
    gone = sorted((tmp_path / "img").iterdir())[:5]
    for g in gone:
        g.unlink()
    with pytest.raises(MissingDataError, match="5 of 1500 usable pool images"):
        build_from_recipe(recipe({"pool": str(table)}, levels=[0.2]), tmp_path / "x")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = build_from_recipe(recipe({"pool": str(table), "missing": "drop"}, levels=[0.8]), tmp_path / "y")
    assert any("5 of 1500" in str(x.message) for x in w)
    sp = open_dataset(r.out).split("web-80", "train")
    assert sorted(sp.metadata["noise"]["missing_pool_images"]) == sorted(f"img/{g.name}" for g in gone)
    assert not {g.stem for g in gone} & set(sp.ids.tolist())
    listed = (r.out / "missing-images.txt").read_text()
    assert all(f"img/{g.name}" in listed for g in gone)


@pytest.mark.parametrize(
    "entry, err, match",
    [
        ({"pool": "digits-web", "bogus": 1}, RecipeError, "bogus"),
        ({"pool": "digits-web", "on_shortage": "skip"}, RecipeError, "on_shortage"),
        ({"pool": "digits-web", "colors": ["red"]}, RecipeError, "from_splits"),
        ({"pool": "no/such/pool.csv"}, MissingDataError, "does not exist"),
        ({}, RecipeError, "pool"),
    ],
)
def test_bad_params(tmp_path, entry, err, match):
    with pytest.raises(err, match=match):
        build_from_recipe(recipe(entry, levels=[0.2]), tmp_path / "x")


# --------------------------------------------------------------------------------------------
# Import of the release's split files


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("imp") / "b"
    build_from_recipe(recipe({"pool": "digits-web", "from_splits": True}, levels=list(CNWL_LEVELS)), out)
    return open_dataset(out)


def _file_rows(ds, config: str, file_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Train and validation of an imported config put back into split-file order (each split
    must keep file order; ``held`` marks the validation lines)."""
    tr, va = ds.split(config, "train"), ds.split(config, "validation")
    held = np.isin(file_ids, va.ids)
    out = {"held": held}
    for col in ("ids", "label", "clean_label", "is_noisy", "noise_source"):
        a, b = getattr(tr, col), getattr(va, col)
        merged = np.empty(len(file_ids), dtype=np.result_type(a, b))
        merged[~held], merged[held] = a, b
        out[col] = merged
    return out


@pytest.mark.parametrize("level", CNWL_LEVELS)
def test_import_matches_split_files_line_for_line(imported, level):
    """Train plus the held-out validation are the split file, line for line; they share no id."""
    rel = release()
    clean = rel.level_split("blue", 0.0)
    for color, kind in (("red", "web"), ("blue", "blue")):
        sl = rel.level_split(color, level)
        name = f"{kind}-{int(round(level * 100)):02d}"
        sp = _file_rows(imported, name, sl.ids)
        assert sp["ids"].tolist() == sl.ids.tolist()
        np.testing.assert_array_equal(sp["label"], sl.labels)
        if color == "red":
            np.testing.assert_array_equal(sp["is_noisy"], sl.is_web)
            assert (sp["noise_source"][sl.is_web] == "web").all()
        else:
            np.testing.assert_array_equal(sp["clean_label"], clean.labels)
            np.testing.assert_array_equal(sp["is_noisy"], sl.labels != clean.labels)
        assert 0.09 < sp["held"].mean() < 0.11
        assert not set(imported.split(name, "train").ids.tolist()) & set(imported.split(name, "validation").ids.tolist())
        for split in ("train", "validation"):
            assert imported.split(name, split).metadata["noise"]["missing_images"] == []


def test_import_red_equals_generated_construction(imported):
    """The shipped red splits are the web construction itself: same rows as the split file."""
    sl = release().level_split("red", 0.8)
    sp = imported.split("web-80", "train")
    assert sp.metadata["noise_spec"]["split_file"] == "red_noise_nl_0.8"
    assert sp.metadata["noise"]["file_realised_rate"] == pytest.approx(sl.is_web.mean())
    va = imported.split("web-80", "validation")
    assert sp.is_noisy.sum() + va.is_noisy.sum() == sl.is_web.sum()
    for split in (sp, va):  # both within a fraction of a percent of the file's rate
        assert split.metadata["realised_rate"] == pytest.approx(sl.is_web.mean(), abs=10 / len(split))


def _release_copy_without(tmp_path, drop_ids):
    dst = tmp_path / "rel"
    shutil.copytree(pool_path(), dst)
    t = pq.read_table(dst / "images.parquet")
    keep = [not any(d in p for d in drop_ids) for p in t.column("path").to_pylist()]
    pq.write_table(t.filter(pa.array(keep)), dst / "images.parquet")
    return dst


@pytest.mark.parametrize("policy", ["report", "drop", "error"])
def test_import_missing_images(tmp_path, policy):
    sl = release().level_split("red", 0.4)
    gone = sl.ids[sl.is_web][:3].tolist()
    rel = _release_copy_without(tmp_path, gone)
    entry = {"pool": str(rel), "from_splits": True, "colors": ["red"], "missing": policy}
    if policy == "error":
        with pytest.raises(MissingDataError, match="3 of"):
            build_from_recipe(recipe(entry, levels=[0.4]), tmp_path / "o")
        return
    if policy == "report":  # lines kept: an embedded build cannot hold absent images
        with pytest.warns(UserWarning, match="3 of"), pytest.raises(MissingDataError):
            build_from_recipe(recipe(entry, levels=[0.4]), tmp_path / "o")
        return
    with pytest.warns(UserWarning, match="3 of"):
        r = build_from_recipe(recipe(entry, levels=[0.4]), tmp_path / "o")
    ds = open_dataset(r.out)
    sp, va = ds.split("web-40", "train"), ds.split("web-40", "validation")
    assert sorted(sp.metadata["noise"]["missing_images"]) == sorted(f"{g}.png" for g in gone)
    assert va.metadata["noise"]["missing_images"] == []  # dropped lines are listed once, with train
    assert sp.metadata["noise"]["dropped_missing"] is True
    assert len(sp) + len(va) == len(sl) - 3 and not set(gone) & set(sp.ids.tolist() + va.ids.tolist())
    assert sp.metadata["noise"]["file_realised_rate"] == pytest.approx((sl.is_web.sum() - 3) / (len(sl) - 3))
    assert sp.is_noisy.sum() + va.is_noisy.sum() == sl.is_web.sum() - 3
    record = json.loads((r.out / "cnlbench-build.json").read_text())
    assert record["configs"]["web-40"]["noise_spec"]["missing_count"] == 3
    # and a plain list a user can act on: config, split, image name per line
    listed = [ln.split("\t") for ln in (r.out / "missing-images.txt").read_text().splitlines() if not ln.startswith("#")]
    assert {name for cfg, split, name in listed if cfg == "web-40"} == {f"{g}.png" for g in gone}


def test_import_needs_a_release(tmp_path):
    table = _small_pool(tmp_path, 5)
    with pytest.raises(RecipeError, match="release folder"):
        build_from_recipe(recipe({"pool": str(table), "from_splits": True}, levels=[0.2]), tmp_path / "x")


def test_import_rejects_non_cnwl_levels(tmp_path):
    with pytest.raises(RecipeError, match="not CNWL levels"):
        build_from_recipe(recipe({"pool": "digits-web", "from_splits": True}, levels=[0.25]), tmp_path / "x")


def test_level_file_names_cover_release():
    names = set(release().split_names())
    assert {level_file_name(c, lv) for c in ("red", "blue") for lv in CNWL_LEVELS} | {"clean_validation"} == names


@pytest.mark.parametrize("name", ["cnwl-mini-imagenet", "cnwl-stanford-cars"])
def test_cnwl_recipes_run_end_to_end_on_a_release_in_the_same_format(repo_root, tmp_path, name):
    """The shipped CNWL recipes, pointed at the digits pool laid out as a user's download."""
    import yaml

    from cnlbench.sources.digits import DigitsSource

    data = yaml.safe_load((repo_root / "recipes" / f"{name}.yaml").read_text())
    rel_dir = tmp_path / "release"
    shutil.copytree(pool_path(), rel_dir)
    (rel_dir / "images.parquet").unlink()  # the release as distributed: no images inside
    img = tmp_path / "images"
    img.mkdir()
    src = DigitsSource()
    for split in ("train", "test"):
        sd = src.load_split(split)
        for i, ident in enumerate(sd.ids.tolist()):
            (img / f"{ident}.png").write_bytes(sd.images.encoded(i))
    store = release().image_stores()[0]
    sl = release().level_split("red", 0.4)
    web = sl.names[sl.is_web].tolist()
    for n in web[3:]:  # three web images "dead"
        (img / n).write_bytes(store.read(n))
    data["source"].update(root=str(rel_dir), image_dir=str(img), image_size=8)
    data["configs"][0].update(pool=str(rel_dir), images=str(img), image_size=8)
    data["levels"] = [0.0, 0.4]
    data["images"] = "embed"
    with pytest.warns(UserWarning, match="3 of"):
        r = build_from_recipe(data, tmp_path / "out")
    ds = open_dataset(r.out)
    assert set(ds.configs) == {"web-00", "web-40", "blue-00", "blue-40"}
    sp = ds.split("web-40", "train")
    assert sp.metadata["noise"]["missing_images"] == web[:3]
    kept = ~np.isin(sl.names, web[:3])
    rows = _file_rows(ds, "web-40", sl.ids[kept])
    assert rows["ids"].tolist() == sl.ids[kept].tolist()
    np.testing.assert_array_equal(rows["label"], sl.labels[kept])
    assert sp.images_uint8().shape[1:3] == (8, 8)
    blue = release().level_split("blue", 0.4)
    assert _file_rows(ds, "blue-40", blue.ids)["ids"].tolist() == blue.ids.tolist()
    assert len(ds.split("web-40", "test")) == len(src.load_split("test"))


def test_generated_train_and_validation_share_no_id(built):
    for name in built.configs:
        assert not set(built.split(name, "train").ids.tolist()) & set(built.split(name, "validation").ids.tolist())


def test_a_plan_whose_validation_overlaps_train_is_refused():
    from cnlbench.manifest.families import ConfigPlan, SplitPlan
    from cnlbench.manifest.family_web import check_disjoint
    from cnlbench.sources.views import BytesImages

    def split(ids):
        n = len(ids)
        return SplitPlan(np.array(ids), np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, bool),
                         np.full(n, "none"), BytesImages([b""] * n))

    ok = ConfigPlan("web-20", "web", 0.2, {"train": split(["a", "b"]), "validation": split(["c"])}, False)
    assert check_disjoint(ok) is ok
    bad = ConfigPlan("web-20", "web", 0.2, {"train": split(["a", "b"]), "validation": split(["b", "c"])}, False)
    with pytest.raises(RecipeError, match=r"web-20: 1 ids are in both train and validation \(first: \['b'\]\)"):
        check_disjoint(bad)


def test_metadata_names_image_folders_as_the_recipe_writes_them(built, imported):
    """No install or machine path in the manifests: the packaged pool is named by its name."""
    for ds, config in ((built, "web-20"), (imported, "web-20")):
        searched = ds.split(config, "train").metadata["noise"]["image_folders_searched"]
        assert searched and all(not str(f).startswith("/") and "site-packages" not in str(f) for f in searched)
        assert any("digits-web" in str(f) for f in searched)
