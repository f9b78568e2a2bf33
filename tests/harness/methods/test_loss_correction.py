"""Forward/backward correction, the T-hat estimator and the two-stage T-hat methods."""

from __future__ import annotations

import numpy as np
import pytest

from cnlbench.errors import HarnessError
from cnlbench.harness.methods.loss_correction import checked_inverse, estimate_transition_matrix
from methods_testlib import FakeHooks, loss_of, make_method, np_softmax, random_case


def sym_T(k: int, level: float) -> np.ndarray:
    T = np.full((k, k), level / (k - 1))
    np.fill_diagonal(T, 1 - level)
    return T


def pair_T(k: int, level: float) -> np.ndarray:
    T = (1 - level) * np.eye(k)
    T[np.arange(k), (np.arange(k) + 1) % k] += level
    return T


MATRICES = [sym_T(4, 0.2), sym_T(4, 0.6), pair_T(4, 0.3)]


@pytest.mark.parametrize("T", MATRICES)
@pytest.mark.parametrize("seed", [0, 1])
def test_forward_correction(T, seed):
    z, y = random_case(seed, k=4)
    p = np.clip(np_softmax(z), 1e-7, 1 - 1e-7)
    expected = np.mean(-np.log((p @ T)[np.arange(len(y)), y]))
    assert loss_of(make_method("forward", noise_matrix=T), z, y) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("T", MATRICES)
@pytest.mark.parametrize("seed", [0, 1])
def test_backward_correction(T, seed):
    z, y = random_case(seed, k=4)
    p = np.clip(np_softmax(z), 1e-7, 1 - 1e-7)
    per = -(np.linalg.inv(T)[y] * np.log(p)).sum(1)
    assert loss_of(make_method("backward", noise_matrix=T), z, y) == pytest.approx(per.mean(), rel=1e-4)


def test_backward_correction_can_be_negative_per_sample():
    T = sym_T(3, 0.4)
    z = np.array([[8.0, -4.0, -4.0]])  # confident in class 0, labelled 0
    p = np.clip(np_softmax(z), 1e-7, 1 - 1e-7)
    value = -(np.linalg.inv(T)[0] * np.log(p)).sum()  # T^-1 has negative off-diagonal entries
    assert value < 0
    assert loss_of(make_method("backward", k=3, noise_matrix=T), z, np.array([0])) == pytest.approx(value, rel=1e-4)


@pytest.mark.parametrize("k", [3, 5])
def test_backward_with_singular_T_errors_naming_condition_number(k):
    T = sym_T(k, (k - 1) / k)  # every row uniform: rank 1
    with pytest.raises(HarnessError, match="condition number"):
        make_method("backward", k=k, noise_matrix=T)
    with pytest.raises(HarnessError, match="condition number"):
        checked_inverse(T)


@pytest.mark.parametrize("name", ["forward", "backward"])
def test_true_T_methods_need_a_matrix(name):
    with pytest.raises(HarnessError, match="T-hat variant"):
        make_method(name)


def _probs_case() -> np.ndarray:
    """Rows chosen so each estimator variant picks a known row."""
    return np.array([
        [0.90, 0.05, 0.05],   # 0: argmax of column 0
        [0.80, 0.15, 0.05],   # 1
        [0.70, 0.20, 0.10],   # 2
        [0.10, 0.85, 0.05],   # 3: argmax of column 1
        [0.20, 0.75, 0.05],   # 4
        [0.05, 0.15, 0.80],   # 5: argmax of column 2
        [0.10, 0.20, 0.70],   # 6
        [0.30, 0.30, 0.40],   # 7
    ])


def test_that_argmax_rule():
    P = _probs_case()
    T = estimate_transition_matrix(P, filter_outlier=False)
    np.testing.assert_allclose(T, P[[0, 3, 5]] / P[[0, 3, 5]].sum(1, keepdims=True))


def test_that_percentile_filter_rule_and_no_mutation():
    P = _probs_case()
    before = P.copy()
    T = estimate_transition_matrix(P, filter_outlier=True, percentile=97.0)
    rows = []
    for i in range(3):
        thr = np.percentile(P[:, i], 97, method="higher")  # with 8 rows: the column maximum
        col = np.where(P[:, i] >= thr, 0.0, P[:, i])
        rows.append(P[np.argmax(col)])
    expected = np.array(rows) / np.array(rows).sum(1, keepdims=True)
    np.testing.assert_allclose(T, expected)
    np.testing.assert_array_equal(P, before)  # the reference zeroes a view in place; we do not
    np.testing.assert_allclose(T[0], P[1])  # second-largest of column 0
    np.testing.assert_allclose(T[1], P[4])
    np.testing.assert_allclose(T[2], P[6])


def test_that_rows_are_normalised():
    P = np.array([[0.6, 0.3], [0.2, 0.7]], dtype=np.float32)  # rows do not sum to 1
    T = estimate_transition_matrix(P, filter_outlier=False)
    np.testing.assert_allclose(T.sum(1), 1.0)


@pytest.mark.parametrize("name,kind", [("forward-that", "forward"), ("backward-that", "backward")])
def test_that_two_stage_flow(name, kind):
    k = 3
    P = _probs_case()
    m = make_method(name, k=k, n=len(P))
    assert m.num_stages == 2
    hooks = FakeHooks(probs=P)
    m.begin_stage(0, hooks)
    z, y = random_case(3, k=k)
    ce = np.mean(-np.log(np_softmax(z)[np.arange(len(y)), y]))
    assert loss_of(m, z, y) == pytest.approx(ce, rel=1e-5)  # stage 0 is plain CE
    for epoch, val_loss in enumerate([1.0, 0.5, 0.7]):
        hooks.state = epoch + 10
        hooks.val = {"acc": 0.5, "loss": val_loss}
        m.end_epoch(epoch, hooks)
    m.begin_stage(1, hooks)
    names = [c[0] for c in hooks.calls]
    assert names[names.index("restore"):] == ["restore", "predict_train", "reset_networks"]
    assert hooks.calls[names.index("restore")] == ("restore", 11)  # the best validation LOSS
    assert ("predict_train", 11) in hooks.calls  # T-hat from the restored network
    T_hat = estimate_transition_matrix(P, filter_outlier=True)  # K = 3 < 100: filter
    np.testing.assert_allclose(m.t_hat, T_hat)
    p = np.clip(np_softmax(z), 1e-7, 1 - 1e-7)
    if kind == "forward":
        expected = np.mean(-np.log((p @ T_hat)[np.arange(len(y)), y]))
    else:
        expected = np.mean(-(np.linalg.inv(T_hat)[y] * np.log(p)).sum(1))
    assert loss_of(m, z, y, stage=1) == pytest.approx(expected, rel=1e-4)


def test_that_no_filter_for_100_classes():
    rng = np.random.default_rng(0)
    P = np_softmax(rng.normal(size=(300, 100)) * 3)
    m = make_method("forward-that", k=100, n=300)
    hooks = FakeHooks(probs=P)
    m.begin_stage(0, hooks)
    hooks.val = {"acc": 0.1, "loss": 1.0}
    m.end_epoch(0, hooks)
    m.begin_stage(1, hooks)
    np.testing.assert_allclose(m.t_hat, estimate_transition_matrix(P, filter_outlier=False))
