import numpy as np
import pytest

from cnlbench.errors import NoiseSpecError
from cnlbench.noise import (
    DEFAULT_LEVELS,
    cifar10_asymmetric_matrix,
    cifar100_superclass_matrix,
    from_cleanlab,
    pair_flip_matrix,
    symmetric_matrix,
    validate_transition_matrix,
)


def test_default_levels():
    assert DEFAULT_LEVELS == (0.0, 0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60, 0.80)


@pytest.mark.parametrize("k", [2, 3, 10, 100])
@pytest.mark.parametrize("p", [0.0, 0.2, 0.8])
def test_symmetric_matrix_excludes_true_class(k, p):
    T = symmetric_matrix(k, p)
    np.testing.assert_allclose(T.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diag(T), 1 - p)
    off = T[~np.eye(k, dtype=bool)]
    np.testing.assert_allclose(off, p / (k - 1))


@pytest.mark.parametrize("k,p", [(2, 0.5), (10, 0.4), (100, 0.8)])
def test_symmetric_all_variant(k, p):
    T = symmetric_matrix(k, p, include_true_class=True)
    np.testing.assert_allclose(np.diag(T), 1 - p + p / k)
    np.testing.assert_allclose(1 - np.diag(T), p * (k - 1) / k)  # realised flip rate p(K-1)/K
    np.testing.assert_allclose(T.sum(axis=1), 1.0)


@pytest.mark.parametrize("k", [2, 5, 10])
def test_pair_flip(k):
    T = pair_flip_matrix(k, 0.3)
    for i in range(k):
        assert T[i, i] == pytest.approx(0.7)
        assert T[i, (i + 1) % k] == pytest.approx(0.3)
    assert np.count_nonzero(T) == 2 * k


def test_cifar10_pairs():
    T = cifar10_asymmetric_matrix(0.4)
    expected = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
    for i in range(10):
        if i in expected:
            assert T[i, i] == pytest.approx(0.6) and T[i, expected[i]] == pytest.approx(0.4)
            assert np.count_nonzero(T[i]) == 2
        else:
            assert T[i, i] == 1.0 and np.count_nonzero(T[i]) == 1


def test_cifar100_matrices_are_row_stochastic():
    for legacy in (False, True):
        T = cifar100_superclass_matrix(0.3, legacy_blocks=legacy)
        validate_transition_matrix(T, 100)
        assert np.all(np.count_nonzero(T, axis=1) == 2)


def test_from_cleanlab_transposes():
    rng = np.random.default_rng(3)
    cols = rng.dirichlet(np.ones(4), size=4).T  # columns sum to 1: cleanlab's orientation
    T = from_cleanlab(cols)
    np.testing.assert_array_equal(T, cols.T)
    np.testing.assert_allclose(T.sum(axis=1), 1.0)
    with pytest.raises(NoiseSpecError, match="from_cleanlab"):
        validate_transition_matrix(cols)  # the hint points the user at the converter


@pytest.mark.parametrize(
    "T,needle",
    [
        ([[0.5, 0.6], [0.5, 0.5]], "sums to"),
        ([[1.5, -0.5], [0.0, 1.0]], "-0.5"),
        ([[np.nan, 1.0], [0.0, 1.0]], "nan"),
        ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "(2, 3)"),
        ([1.0, 0.0], "(2,)"),
        ("abc", "not numeric"),
    ],
)
def test_invalid_matrices(T, needle):
    with pytest.raises(NoiseSpecError) as err:
        validate_transition_matrix(T)
    assert needle in str(err.value)


def test_wrong_size_matrix():
    with pytest.raises(NoiseSpecError, match="num_classes=3"):
        validate_transition_matrix(np.eye(2), 3)


@pytest.mark.parametrize("level", [-0.1, 1.0, 40, float("nan"), float("inf"), "0.2", True])
def test_invalid_levels(level):
    with pytest.raises(NoiseSpecError) as err:
        symmetric_matrix(10, level)
    assert repr(level) in str(err.value)


def test_percent_hint():
    with pytest.raises(NoiseSpecError, match="0.4"):
        symmetric_matrix(10, 40)


@pytest.mark.parametrize("fn", [symmetric_matrix, pair_flip_matrix])
def test_one_class_cannot_flip(fn):
    with pytest.raises(NoiseSpecError, match="K=1"):
        fn(1, 0.2)
    assert fn(1, 0.0).shape == (1, 1)
