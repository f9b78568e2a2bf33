import hashlib
import json
import random
import subprocess
import sys

import numpy as np
import pytest

from cnlbench.errors import NoiseSpecError
from cnlbench.noise import (
    DEFAULT_LEVELS,
    apply_transition,
    make_family,
    noise_levels,
    symmetric_matrix,
)
from cnlbench.noise.result import ORIENTATION, realised_counts
from noise_checks import imbalanced_labels, within_quota

FAMILIES = [
    ("symmetric", 10, {}),
    ("symmetric-all", 7, {}),
    ("pair-flip", 5, {}),
    ("cifar10", 10, {}),
    ("cifar100", 100, {}),
    ("cifar100-legacy-blocks", 100, {}),
    ("matrix", 6, {"base": np.random.default_rng(5).dirichlet(np.ones(6), size=6)}),  # unequal rows
]


def family(name, k, params):
    return make_family(name, k, **params)


def labels_for(k):
    return imbalanced_labels(k, base=9 if k >= 100 else 23, step=3)


def check_exact(res, y, T, *, nested):
    k = T.shape[0]
    n = np.bincount(y, minlength=k)
    off = T.copy()
    np.fill_diagonal(off, 0)
    r = off.sum(axis=1)
    counts = realised_counts(y, res.noisy_labels, k)
    np.testing.assert_array_equal(counts, res.realised_counts)
    np.testing.assert_array_equal(res.is_noisy, res.noisy_labels != y)
    m = counts.sum(axis=1) - np.diag(counts)
    total = int(np.floor((n * r).sum() + 0.5 + 1e-9))
    assert m.sum() == total  # exact total: round(sum_i N_i r_i)
    quota = n * r if not nested or (n * r).sum() == 0 else total * (n * r) / (n * r).sum()
    assert within_quota(m, quota)
    assert np.all(np.abs(m - n * r) < 1.5)
    R = np.divide(off, r[:, None], out=np.zeros_like(off), where=r[:, None] > 0)
    cells = counts.copy()
    np.fill_diagonal(cells, 0)
    assert within_quota(cells, m[:, None] * R)
    assert res.realised_rate == pytest.approx(total / y.size)
    np.testing.assert_allclose(res.realised_matrix, counts / n[:, None])


@pytest.mark.parametrize("name,k,params", FAMILIES, ids=[f[0] for f in FAMILIES])
@pytest.mark.parametrize("nested", [True, False])
def test_exact_counts_every_family_and_level(name, k, params, nested):
    y = labels_for(k)
    fam = family(name, k, params)
    res = noise_levels(y, fam, DEFAULT_LEVELS, np.random.default_rng(1), nested=nested)
    assert list(res) == list(DEFAULT_LEVELS)
    for p, r in res.items():
        assert r.mode == "exact" and r.nested is nested and r.level == p
        np.testing.assert_allclose(r.requested_matrix, fam(p))
        check_exact(r, y, fam(p), nested=nested)


@pytest.mark.parametrize("name,k,params", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_nesting_subset_and_label_kept(name, k, params):
    y = labels_for(k)
    res = noise_levels(y, family(name, k, params), DEFAULT_LEVELS, np.random.default_rng(2))
    levels = sorted(res)
    for lo, hi in zip(levels, levels[1:]):
        a, b = res[lo], res[hi]
        assert np.all(b.is_noisy[a.is_noisy])
        np.testing.assert_array_equal(b.noisy_labels[a.is_noisy], a.noisy_labels[a.is_noisy])
        assert np.all(b.realised_counts[~np.eye(k, dtype=bool)] >= a.realised_counts[~np.eye(k, dtype=bool)])


def test_levels_in_any_order_give_the_same_ladder():
    y = labels_for(10)
    fam = make_family("symmetric", 10)
    a = noise_levels(y, fam, DEFAULT_LEVELS, np.random.default_rng(4))
    b = noise_levels(y, fam, DEFAULT_LEVELS[::-1], np.random.default_rng(4))
    assert list(b) == list(DEFAULT_LEVELS[::-1])
    for p in DEFAULT_LEVELS:
        np.testing.assert_array_equal(a[p].noisy_labels, b[p].noisy_labels)


@pytest.mark.parametrize("nested", [True, False])
@pytest.mark.parametrize("k", [2, 3, 10])
def test_symmetric_never_maps_to_itself_and_level_zero_is_identity(k, nested):
    y = imbalanced_labels(k, base=50)
    res = noise_levels(y, make_family("symmetric", k), DEFAULT_LEVELS, np.random.default_rng(0), nested=nested)
    for p, r in res.items():
        assert np.all(r.noisy_labels[r.is_noisy] != y[r.is_noisy])
    zero = res[0.0]
    np.testing.assert_array_equal(zero.noisy_labels, y)
    assert not zero.is_noisy.any() and zero.realised_rate == 0.0
    np.testing.assert_array_equal(zero.realised_matrix, np.eye(k))


@pytest.mark.parametrize("mode", ["exact", "per-sample"])
def test_apply_transition_level_zero_identity(mode):
    y = labels_for(10)
    r = apply_transition(y, np.eye(10), np.random.default_rng(0), mode=mode)
    np.testing.assert_array_equal(r.noisy_labels, y)
    assert r.realised_rate == 0.0


@pytest.mark.parametrize("k,p", [(10, 0.5), (4, 0.8)])
def test_symmetric_all_realised_rate(k, p):
    y = np.repeat(np.arange(k), 300)
    r = noise_levels(y, make_family("symmetric-all", k), [p], np.random.default_rng(0))[p]
    assert r.realised_rate == pytest.approx(p * (k - 1) / k, abs=0.5 / y.size)
    assert "p(K-1)/K" in r.spec["description"]


def test_apply_transition_single_level_exact():
    y = labels_for(10)
    T = symmetric_matrix(10, 0.37)
    r = apply_transition(y, T, np.random.default_rng(3), level=0.37)
    assert r.mode == "exact" and not r.nested
    check_exact(r, y, T, nested=False)


@pytest.mark.parametrize("nested", [True, False])
def test_per_sample_mode_is_named_and_close(nested):
    y = np.repeat(np.arange(10), 4000)
    res = noise_levels(y, make_family("symmetric", 10), [0.0, 0.3, 0.6], np.random.default_rng(9),
                       nested=nested, mode="per-sample")
    for p, r in res.items():
        assert r.mode == "per-sample" and r.spec["mode"] == "per-sample"
        assert abs(r.realised_rate - p) <= 5 * np.sqrt(p * (1 - p) / y.size) + 1e-12
        assert np.all(r.noisy_labels[r.is_noisy] != y[r.is_noisy])
    if nested:
        assert np.all(res[0.6].is_noisy[res[0.3].is_noisy])
        keep = res[0.3].is_noisy
        np.testing.assert_array_equal(res[0.6].noisy_labels[keep], res[0.3].noisy_labels[keep])


def test_per_sample_rate_wanders_but_exact_does_not():
    y = np.repeat(np.arange(10), 100)
    rates = {noise_levels(y, make_family("symmetric", 10), [0.3], np.random.default_rng(s), mode="per-sample")[0.3]
             .realised_rate for s in range(8)}
    assert len(rates) > 1
    exact = {noise_levels(y, make_family("symmetric", 10), [0.3], np.random.default_rng(s))[0.3].realised_rate
             for s in range(8)}
    assert exact == {0.3}


def digest(res):
    h = hashlib.sha256()
    for p in sorted(res):
        h.update(res[p].noisy_labels.tobytes())
    return h.hexdigest()


SNIPPET = """
import hashlib, numpy as np
from cnlbench.noise import make_family, noise_levels, DEFAULT_LEVELS
y = np.random.default_rng(0).integers(0, 10, size=3000)
res = noise_levels(y, make_family("{name}", 10), DEFAULT_LEVELS, np.random.default_rng(123), nested={nested})
h = hashlib.sha256()
for p in sorted(res):
    h.update(res[p].noisy_labels.tobytes())
print(h.hexdigest())
"""


@pytest.mark.parametrize("name,nested", [("symmetric", True), ("cifar10", False)])
def test_determinism_same_seed_and_fresh_process(name, nested):
    y = np.random.default_rng(0).integers(0, 10, size=3000)
    fam = make_family(name, 10)
    a = noise_levels(y, fam, DEFAULT_LEVELS, np.random.default_rng(123), nested=nested)
    b = noise_levels(y, fam, DEFAULT_LEVELS, np.random.default_rng(123), nested=nested)
    assert digest(a) == digest(b)
    out = subprocess.run([sys.executable, "-c", SNIPPET.format(name=name, nested=nested)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == digest(a)
    c = noise_levels(y, fam, DEFAULT_LEVELS, np.random.default_rng(124), nested=nested)
    assert digest(c) != digest(a)
    assert not np.array_equal(c[0.4].is_noisy, a[0.4].is_noisy)


def test_to_metadata_is_json():
    y = labels_for(10)
    r = noise_levels(y, make_family("cifar10", 10), [0.4], np.random.default_rng(0))[0.4]
    meta = json.loads(json.dumps(r.to_metadata()))
    assert meta["orientation"] == ORIENTATION == "T[i,j] = P(noisy=j | clean=i)"
    assert meta["nested"] is True and meta["mode"] == "exact" and meta["level"] == 0.4
    assert np.array(meta["requested_matrix"]).shape == (10, 10)
    assert np.array(meta["realised_counts"]).sum() == y.size
    assert meta["spec"]["family"] == "cifar10" and meta["realised_rate"] == pytest.approx(r.realised_rate)
    assert not r.noisy_labels.flags.writeable


def test_nested_rejects_changing_destinations_but_independent_accepts():
    y = np.repeat(np.arange(3), 20)
    fam = lambda p: symmetric_matrix(3, p) if p < 0.3 else make_family("pair-flip", 3)(p)  # noqa: E731
    with pytest.raises(NoiseSpecError, match="nested=False"):
        noise_levels(y, fam, [0.1, 0.4], np.random.default_rng(0))
    res = noise_levels(y, fam, [0.1, 0.4], np.random.default_rng(0), nested=False)
    assert res[0.4].realised_rate == pytest.approx(0.4)


def test_custom_affine_callable_nests():
    y = labels_for(6)
    B = np.random.default_rng(1).dirichlet(np.ones(6), size=6)
    fam = lambda p: (1 - p) * np.eye(6) + p * B  # noqa: E731
    res = noise_levels(y, fam, DEFAULT_LEVELS, np.random.default_rng(0))
    assert np.all(res[0.8].is_noisy[res[0.4].is_noisy])
    assert res[0.4].spec["family"] == "custom"


GLOBAL_CALLS = {
    "noise_levels": lambda y, rng: noise_levels(y, make_family("symmetric", 10), DEFAULT_LEVELS, rng),
    "noise_levels_independent": lambda y, rng: noise_levels(y, make_family("pair-flip", 10), DEFAULT_LEVELS, rng,
                                                            nested=False),
    "per_sample": lambda y, rng: noise_levels(y, make_family("symmetric", 10), [0.2], rng, mode="per-sample"),
    "apply_transition": lambda y, rng: apply_transition(y, symmetric_matrix(10, 0.2), rng),
}


@pytest.mark.parametrize("call", list(GLOBAL_CALLS.values()), ids=list(GLOBAL_CALLS))
def test_global_rng_untouched(call):
    y = labels_for(10)
    np_state, py_state = np.random.get_state(), random.getstate()
    call(y, np.random.default_rng(0))
    after = np.random.get_state()
    assert np_state[0] == after[0] and np.array_equal(np_state[1], after[1]) and np_state[2:] == after[2:]
    assert random.getstate() == py_state


Y10 = np.repeat(np.arange(10), 5)


@pytest.mark.parametrize(
    "call,needle",
    [
        (lambda: noise_levels(Y10, make_family("symmetric", 10), [0.2, 1.2], np.random.default_rng(0)), "1.2"),
        (lambda: noise_levels(Y10, make_family("symmetric", 10), [0.2, 0.2], np.random.default_rng(0)), "duplicates"),
        (lambda: noise_levels(Y10, make_family("symmetric", 10), [], np.random.default_rng(0)), "empty"),
        (lambda: noise_levels(Y10, make_family("symmetric", 10), [0.2], 4.2), "4.2"),  # a float is no seed (an int is)
        (lambda: noise_levels(Y10, make_family("symmetric", 10), [0.2], np.random.default_rng(0), mode="bernoulli"),
         "bernoulli"),
        (lambda: noise_levels(Y10.astype(float), make_family("symmetric", 10), [0.2], np.random.default_rng(0)),
         "float64"),
        (lambda: noise_levels(Y10.reshape(5, 10), make_family("symmetric", 10), [0.2], np.random.default_rng(0)),
         "(5, 10)"),
        (lambda: noise_levels(Y10 + 1, make_family("symmetric", 10), [0.2], np.random.default_rng(0)), "10"),
        (lambda: noise_levels(Y10 - 1, make_family("symmetric", 10), [0.2], np.random.default_rng(0)), "-1"),
        (lambda: noise_levels(Y10[Y10 != 3], make_family("symmetric", 10), [0.2], np.random.default_rng(0)),
         "class 3 has no examples"),
        (lambda: noise_levels(Y10, "symmetric", [0.2], np.random.default_rng(0)), "'symmetric'"),
        (lambda: apply_transition(Y10, np.full((10, 10), 0.2), np.random.default_rng(0)), "sums to"),
        (lambda: apply_transition(Y10, np.eye(10), np.random.default_rng(0), level=float("nan")), "nan"),
    ],
)
def test_invalid_inputs(call, needle):
    with pytest.raises(NoiseSpecError) as err:
        call()
    assert needle in str(err.value)


def test_an_int_seed_is_the_generator_it_names():
    """README: every drawing function takes a Generator or a seed; a seed means default_rng(seed)."""
    from cnlbench.noise import apply_transition, make_family, noise_levels, symmetric_matrix

    y = np.repeat(np.arange(4), 25)
    a = apply_transition(y, symmetric_matrix(4, 0.4), 3)
    b = apply_transition(y, symmetric_matrix(4, 0.4), np.random.default_rng(3))
    assert np.array_equal(a.noisy_labels, b.noisy_labels)
    fam = make_family("symmetric", 4)
    la, lb = noise_levels(y, fam, [0.2, 0.4], np.int64(5)), noise_levels(y, fam, [0.2, 0.4], np.random.default_rng(5))
    assert all(np.array_equal(la[k].noisy_labels, lb[k].noisy_labels) for k in la)
    for bad in (None, 1.5, False, -3, np.random.RandomState(0)):
        with pytest.raises(NoiseSpecError, match="non-negative int seed"):
            apply_transition(y, symmetric_matrix(4, 0.4), bad)
