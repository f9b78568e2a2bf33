"""Controlled web noise: exact counts, kept labels, distinct incorrect images, nesting."""

from __future__ import annotations

import numpy as np
import pytest

from cnlbench.errors import NoiseSpecError
from cnlbench.noise.web import WebPool, web_class_counts, web_noise, web_noise_levels

LEVELS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)


def make_labels(sizes, seed=0):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(sizes)]).astype(np.int64)
    return y[rng.permutation(len(y))]


def make_pool(per_class_incorrect, per_class_correct=3, image_share=0.3, seed=1):
    rng = np.random.default_rng(seed)
    ids, cls, clean, true, ret = [], [], [], [], []
    for c, n in enumerate(per_class_incorrect):
        for j in range(n + per_class_correct):
            ids.append(f"{c:02d}{j:014x}")
            cls.append(c)
            ok = j >= n
            clean.append(ok)
            true.append(c if ok else (int(rng.integers(0, 9)) if j % 4 == 0 else -1))
            ret.append("image" if rng.random() < image_share else "text")
    return WebPool(ids=ids, retrieved_class=cls, is_clean=clean, true_class=true, retrieval=ret)


SIZES = [(10, 7, 13, 5), (40, 41, 3, 1, 25), (100,)]


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("nested", [True, False])
def test_exact_counts_labels_kept_distinct_incorrect(sizes, nested):
    y = make_labels(sizes)
    pool = make_pool([n + 2 for n in sizes])
    res = web_noise_levels(y, pool, LEVELS, np.random.default_rng(3), num_classes=len(sizes), nested=nested)
    counts = web_class_counts(np.bincount(y, minlength=len(sizes)), LEVELS, nested=nested)
    for li, p in enumerate(LEVELS):
        r = res[p]
        per_class = np.bincount(y[r.replaced], minlength=len(sizes))
        np.testing.assert_array_equal(per_class, counts[li])
        np.testing.assert_array_equal(r.realised_counts, counts[li])
        total = int(np.floor(p * len(y) + 0.5 + 1e-9))
        assert int(r.replaced.sum()) == total  # total exact, halves up
        quota = total * np.asarray(sizes) / len(y)
        assert (np.abs(per_class - quota) < 1.0).all()  # each class: floor or ceiling of its quota
        np.testing.assert_array_equal(r.labels, y)  # labels kept
        used = r.pool_index[r.replaced]
        assert len(np.unique(used)) == len(used)  # no pool image twice
        assert not pool.is_clean[used].any()  # only images judged incorrect
        np.testing.assert_array_equal(pool.retrieved_class[used], y[r.replaced])  # retrieved for that class
        assert (r.pool_index[~r.replaced] == -1).all()
        np.testing.assert_array_equal(r.row_clean_label[~r.replaced], y[~r.replaced])
        np.testing.assert_array_equal(r.row_clean_label[r.replaced], pool.true_class[used])
        assert r.realised_rate == pytest.approx(r.replaced.mean())
        assert not r.capped


def test_level_zero_replaces_nothing():
    y = make_labels((5, 5))
    r = web_noise(y, make_pool([5, 5]), 0.0, np.random.default_rng(0))
    assert not r.replaced.any() and r.realised_rate == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nested_levels_keep_their_web_image(seed):
    y = make_labels((30, 20, 25))
    res = web_noise_levels(y, make_pool([30, 30, 30]), LEVELS, np.random.default_rng(seed))
    for lo, hi in zip(LEVELS, LEVELS[1:]):
        a, b = res[lo], res[hi]
        assert not (a.replaced & ~b.replaced).any()  # subset
        np.testing.assert_array_equal(a.pool_index[a.replaced], b.pool_index[a.replaced])


def test_nesting_does_not_depend_on_which_levels_are_asked():
    y = make_labels((30, 20, 25))
    pool = make_pool([30, 30, 30])
    full = web_noise_levels(y, pool, LEVELS, np.random.default_rng(5))
    part = web_noise_levels(y, pool, (0.4,), np.random.default_rng(5))
    np.testing.assert_array_equal(full[0.4].pool_index, part[0.4].pool_index)


def test_deterministic_per_seed():
    y = make_labels((30, 20, 25))
    pool = make_pool([30, 30, 30])
    a = web_noise_levels(y, pool, LEVELS, np.random.default_rng(7))
    b = web_noise_levels(y, pool, LEVELS, np.random.default_rng(7))
    c = web_noise_levels(y, pool, LEVELS, np.random.default_rng(8))
    for p in LEVELS:
        np.testing.assert_array_equal(a[p].pool_index, b[p].pool_index)
    assert not np.array_equal(a[0.4].pool_index, c[0.4].pool_index)


def test_text_only_uses_only_text_retrievals():
    y = make_labels((20, 20))
    pool = make_pool([40, 40], image_share=0.5)
    r = web_noise(y, pool, 0.8, np.random.default_rng(0), text_only=True)
    used = r.pool_index[r.replaced]
    assert (pool.retrieval[used] == "text").all()
    assert r.text_only and r.summary()["text_only"]


def test_text_only_without_retrieval_info_is_an_error():
    pool = WebPool(ids=["a", "b"], retrieved_class=[0, 0], is_clean=[False, False])
    with pytest.raises(NoiseSpecError, match="retrieval"):
        web_noise([0, 0], pool, 0.5, np.random.default_rng(0), text_only=True)


@pytest.mark.parametrize("level", [0.5, 0.8])
def test_pool_exhaustion_names_class_need_and_supply(level):
    y = make_labels((10, 10))
    pool = make_pool([10, 3])
    need = int(web_class_counts(np.array([10, 10]), [level])[0, 1])
    with pytest.raises(NoiseSpecError) as e:
        web_noise(y, pool, level, np.random.default_rng(0))
    msg = str(e.value)
    assert "class 1" in msg and f"needs {need}" in msg and "supplies 3" in msg and "on_shortage" in msg


def test_cap_option_records_capped_rate():
    y = make_labels((10, 10))
    pool = make_pool([10, 3])
    res = web_noise_levels(y, pool, (0.1, 0.8), np.random.default_rng(0), on_shortage="cap")
    r = res[0.8]
    assert r.capped and r.summary()["capped"]
    assert int(r.realised_counts[1]) == 3 and int(r.requested_counts[1]) == 8
    assert int(np.bincount(y[r.replaced], minlength=2)[1]) == 3
    assert r.realised_rate == pytest.approx((8 + 3) / 20)
    assert r.per_class_rate[1] == pytest.approx(0.3)
    assert not res[0.1].capped


def test_exclude_keeps_images_for_another_split():
    y = make_labels((10, 10))
    pool = make_pool([20, 20])
    a = web_noise(y, pool, 0.8, np.random.default_rng(0))
    used = a.pool_index[a.replaced]
    b = web_noise(y, pool, 0.8, np.random.default_rng(1), exclude=used)
    assert not np.isin(b.pool_index[b.replaced], used).any()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(ids=["a", "a"], retrieved_class=[0, 1], is_clean=[0, 0]), "not unique"),
        (dict(ids=["a", "b"], retrieved_class=[0, -1], is_clean=[0, 0]), "negative"),
        (dict(ids=["a", "b"], retrieved_class=[0, 1], is_clean=[0, 2]), "0/1"),
        (dict(ids=["a"], retrieved_class=[0], is_clean=[0], retrieval=["web"]), "retrieval"),
        (dict(ids=["a"], retrieved_class=[0], is_clean=[0], true_class=[-3]), "-1"),
    ],
)
def test_pool_validation(kwargs, match):
    with pytest.raises(NoiseSpecError, match=match):
        WebPool(**kwargs)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_bad_levels(bad):
    with pytest.raises(NoiseSpecError, match="outside"):
        web_noise([0, 1], make_pool([2, 2]), bad, np.random.default_rng(0))


def test_rng_is_a_generator_or_an_int_seed():
    by_seed = web_noise([0, 0, 1, 1], make_pool([4, 4]), 0.5, 7)
    by_gen = web_noise([0, 0, 1, 1], make_pool([4, 4]), 0.5, np.random.default_rng(7))
    assert np.array_equal(by_seed.replaced, by_gen.replaced) and np.array_equal(by_seed.pool_index, by_gen.pool_index)
    for bad in (None, 0.5, True, -1, np.random.RandomState(0)):
        with pytest.raises(NoiseSpecError, match="Generator"):
            web_noise([0, 1], make_pool([2, 2]), 0.5, bad)
