import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlbench.errors import NoiseSpecError
from cnlbench.noise import apportion_monotone, largest_remainder
from noise_checks import within_quota

weights_st = st.lists(
    st.one_of(st.integers(0, 60).map(float), st.floats(0.0, 50.0, allow_nan=False, allow_infinity=False)),
    min_size=1, max_size=14,
).filter(lambda w: sum(w) > 0)


@st.composite
def ladders(draw):
    w = draw(weights_st)
    totals = sorted(draw(st.lists(st.integers(0, 400), min_size=1, max_size=10)))
    step = draw(st.booleans())
    if step:  # every total from 0 up: the classic Alabama-paradox setting
        totals = list(range(draw(st.integers(1, 80))))
    return np.array(w), np.array(totals)


def check_ladder(counts, totals, w):
    share = w / w.sum()
    assert counts.shape == (len(totals), len(w))
    np.testing.assert_array_equal(counts.sum(axis=1), totals)
    for t, c in zip(totals, counts):
        assert within_quota(c, t * share), (t, c, t * share)
    assert np.all(np.diff(counts, axis=0) >= 0), counts


@settings(max_examples=300, deadline=None)
@given(ladders(), st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_apportion_monotone_is_monotone_and_within_quota(ladder, seed):
    w, totals = ladder
    rng = None if seed is None else np.random.default_rng(seed)
    check_ladder(apportion_monotone(totals, w, rng=rng), totals, w)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6), st.integers(2, 9), st.integers(0, 2**32 - 1))
def test_apportion_monotone_batched_rows(rows, k, seed):
    rng = np.random.default_rng(seed)
    w = rng.random((rows, k)) ** 3 + (rng.random((rows, k)) < 0.3)
    totals = np.sort(rng.integers(0, 120, size=(6, rows)), axis=0)
    counts = apportion_monotone(totals, w, rng=np.random.default_rng(seed + 1))
    for r in range(rows):
        check_ladder(counts[:, r, :], totals[:, r], w[r])


def test_alabama_paradox_is_avoided():
    w = np.array([6.0, 6.0, 2.0])
    # plain largest remainder: class 2 drops from 2 to 1 when the total grows from 10 to 11
    assert largest_remainder(10 * w / w.sum(), 10).tolist() == [4, 4, 2]
    assert largest_remainder(11 * w / w.sum(), 11).tolist() == [5, 5, 1]
    counts = apportion_monotone([10, 11], w)
    assert np.all(np.diff(counts, axis=0) >= 0)
    check_ladder(counts, np.array([10, 11]), w)


@settings(max_examples=200, deadline=None)
@given(weights_st, st.integers(0, 2**32 - 1))
def test_largest_remainder_properties(w, seed):
    q = np.array(w) * 3.7
    total = int(np.floor(q.sum() + 0.5))
    c = largest_remainder(q, total, rng=np.random.default_rng(seed))
    assert c.sum() == total and within_quota(c, q)
    # extras go to the largest remainders
    fl = np.floor(q + 1e-9)
    frac = np.maximum(q - fl, 0.0)
    got = c > fl
    if got.any() and (~got & (frac > 1e-9)).any():
        assert frac[got].min() >= frac[~got & (frac > 1e-9)].max() - 1e-9


def test_largest_remainder_tie_break_uses_rng():
    q = np.full(10, 0.5)
    picks = {tuple(largest_remainder(q, 5, rng=np.random.default_rng(s))) for s in range(20)}
    assert len(picks) > 1
    assert largest_remainder(q, 5).tolist() == [1] * 5 + [0] * 5  # no rng: by index


@pytest.mark.parametrize(
    "call,needle",
    [
        (lambda: largest_remainder([0.5, 0.5], 3), "total=3"),
        (lambda: largest_remainder([0.5, -1.0], 0), "-1.0"),
        (lambda: largest_remainder([0.5, 0.5], 0.5), "0.5"),
        (lambda: apportion_monotone([3, 2], [1.0, 1.0]), "[3, 2]"),
        (lambda: apportion_monotone([-1], [1.0]), "-1"),
        (lambda: apportion_monotone([1.5], [1.0]), "1.5"),
        (lambda: apportion_monotone([2], [0.0, 0.0]), "all-zero"),
        (lambda: apportion_monotone([2], [np.nan, 1.0]), "nan"),
        (lambda: apportion_monotone(np.zeros((2, 3), int), [1.0, 1.0]), "(2, 3)"),
    ],
)
def test_apportion_errors(call, needle):
    with pytest.raises(NoiseSpecError) as err:
        call()
    assert needle in str(err.value)
