"""Instance-dependent recipe families: part-dependent (Xia) and confusion (Chen)."""

from __future__ import annotations

import numpy as np
import pytest

from cnlbench.errors import RecipeError
from cnlbench.manifest import build_from_recipe, open_dataset

BASE = {"name": "d", "seed": 0, "source": {"kind": "digits"},
        "splits": {"validation": {"from": "train", "fraction": 0.125}}, "levels": [0.0, 0.2, 0.4]}


def _build(tmp_path, entry, name="out"):
    build_from_recipe({**BASE, "configs": [entry]}, tmp_path / name)
    return open_dataset(tmp_path / name)


def test_part_dependent_exact_counts_level0_identity_and_determinism(tmp_path):
    ds = _build(tmp_path, {"kind": "idn", "noise": "part-dependent"})
    assert ds.configs == ["idn-00", "idn-20", "idn-40"]
    for cfg, level in zip(ds.configs, (0.0, 0.2, 0.4)):
        for split in ("train", "validation"):
            sp = ds.split(cfg, split)
            n = len(sp.ids)
            assert int(sp.is_noisy.sum()) == int(np.floor(n * level + 0.5))
            assert np.all(sp.label[sp.is_noisy] != sp.clean_label[sp.is_noisy])
            assert np.all(sp.label[~sp.is_noisy] == sp.clean_label[~sp.is_noisy])
    again = _build(tmp_path, {"kind": "idn", "noise": "part-dependent"}, "again")
    assert np.array_equal(ds.split("idn-40", "train").label, again.split("idn-40", "train").label)
    sp = ds.split("idn-40", "train")
    assert sp.metadata["noise_spec"]["family"] == "part-dependent"
    assert sp.metadata["noise"]["spec"]["generator"] == "xia2020-part-dependent"
    assert sp.metadata["nested"] is False  # recorded honestly: the generator has no nested form


def _probs_file(tmp_path, ds_ids, k=10):
    rng = np.random.default_rng(0)
    ids = np.concatenate(ds_ids)
    probs = rng.dirichlet(np.ones(k), size=len(ids))
    path = tmp_path / "probs.npz"
    np.savez(path, ids=ids, probs=probs)
    return path, dict(zip(ids.tolist(), probs))


def test_confusion_flips_the_most_confusable_to_their_top_wrong_class(tmp_path):
    clean = _build(tmp_path, {"kind": "sym", "noise": "symmetric"}, "clean")
    ids = [clean.split("sym-00", s).ids for s in ("train", "validation")]
    path, table = _probs_file(tmp_path, ids)
    ds = _build(tmp_path, {"kind": "conf", "noise": "confusion", "probs": str(path)})
    sp20, sp40 = ds.split("conf-20", "train"), ds.split("conf-40", "train")
    assert int(sp40.is_noisy.sum()) == int(np.floor(len(sp40.ids) * 0.4 + 0.5))
    assert np.all(sp40.is_noisy[sp20.is_noisy])  # nested
    for i in np.flatnonzero(sp40.is_noisy)[:50]:
        p = table[sp40.ids[i]].copy()
        p[sp40.clean_label[i]] = -1
        assert sp40.label[i] == int(np.argmax(p))


def test_confusion_refuses_missing_ids_and_bad_files(tmp_path):
    np.savez(tmp_path / "few.npz", ids=np.array(["digits-00000"]), probs=np.full((1, 10), 0.1))
    with pytest.raises(RecipeError, match="have no probabilities"):
        _build(tmp_path, {"kind": "conf", "noise": "confusion", "probs": str(tmp_path / "few.npz")})
    np.savez(tmp_path / "wrong.npz", labels=np.zeros(3))
    with pytest.raises(RecipeError, match="must hold arrays `ids` and `probs`"):
        _build(tmp_path, {"kind": "conf", "noise": "confusion", "probs": str(tmp_path / "wrong.npz")})
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(RecipeError):
        _build(tmp_path, {"kind": "conf", "noise": "confusion", "probs": str(tmp_path / "pickled.npy")})
