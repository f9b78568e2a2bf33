import random

import numpy as np
import pytest

from cnlbench.errors import NoiseSpecError
from cnlbench.noise import (
    blur_and_randomize,
    blur_images,
    randomize_classes,
    smudge_and_randomize,
    smudge_images,
)


def data(n=60, k=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    x = rng.integers(0, 256, size=(n, 12, 12, 3), dtype=np.uint8)
    return x, y


GENERATORS = {
    "blur": lambda x, y, f, rng: blur_and_randomize(x, y, f, rng),
    "smudge": lambda x, y, f, rng: smudge_and_randomize(x, y, f, rng),
}


@pytest.mark.parametrize("gen", list(GENERATORS.values()), ids=list(GENERATORS))
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.2, 0.55])
def test_exact_counts_and_identity(gen, fraction):
    x, y = data()
    out = gen(x, y, fraction, np.random.default_rng(1))
    count = int(np.floor(y.size * fraction + 0.5))
    assert out.affected.sum() == count
    assert np.all(out.labels[out.affected] != y[out.affected])
    np.testing.assert_array_equal(out.labels[~out.affected], y[~out.affected])
    np.testing.assert_array_equal(out.images[~out.affected], x[~out.affected])
    changed = np.any(out.images != x, axis=(1, 2, 3))
    np.testing.assert_array_equal(changed, out.affected)
    assert out.images.dtype == np.uint8 and out.images.shape == x.shape
    assert out.noise.is_noisy.sum() == count and out.noise.spec["kind"] == "structured"
    if fraction == 0:
        np.testing.assert_array_equal(out.labels, y)


def test_blur_smooths_and_smudge_darkens():
    x, y = data()
    b = blur_and_randomize(x, y, 0.5, np.random.default_rng(0))
    a = b.affected
    grad = lambda im: np.abs(np.diff(im.astype(float), axis=1)).mean()  # noqa: E731
    assert grad(b.images[a]) < 0.6 * grad(x[a])
    s = smudge_and_randomize(x, y, 0.5, np.random.default_rng(0))
    assert s.images[s.affected].astype(int).sum() < x[s.affected].astype(int).sum()
    assert np.all(s.images.astype(int) <= x.astype(int))  # a smudge only darkens


def test_deterministic_and_seed_sensitive():
    x, y = data()
    a = smudge_and_randomize(x, y, 0.3, np.random.default_rng(5))
    b = smudge_and_randomize(x, y, 0.3, np.random.default_rng(5))
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    c = smudge_and_randomize(x, y, 0.3, np.random.default_rng(6))
    assert not np.array_equal(a.affected, c.affected)


def test_apply_to_test_helpers_keep_labels():
    x, _ = data()
    for fn in (blur_images, smudge_images):
        out, affected = fn(x, 0.25, np.random.default_rng(0))
        assert affected.sum() == 15
        np.testing.assert_array_equal(out[~affected], x[~affected])
        assert np.all(np.any(out[affected] != x[affected], axis=(1, 2, 3)))


def test_randomize_classes():
    _, y = data(k=5)
    out = randomize_classes(y, [1, 3], np.random.default_rng(0), num_classes=5)
    np.testing.assert_array_equal(out.affected, np.isin(y, [1, 3]))
    assert np.all(out.labels[out.affected] != y[out.affected])
    np.testing.assert_array_equal(out.labels[~out.affected], y[~out.affected])
    assert out.images is None and out.noise.realised_rate == pytest.approx(0.4)
    assert set(out.labels[out.affected].tolist()) > {0}  # spread over the other classes


def test_global_rng_untouched():
    x, y = data()
    st, pst = np.random.get_state(), random.getstate()
    blur_and_randomize(x, y, 0.2, np.random.default_rng(0))
    smudge_and_randomize(x, y, 0.2, np.random.default_rng(0))
    randomize_classes(y, [0], np.random.default_rng(0))
    assert np.array_equal(np.random.get_state()[1], st[1]) and random.getstate() == pst


X, Y = data()


@pytest.mark.parametrize(
    "call,needle",
    [
        (lambda: blur_and_randomize(X.astype(np.float32), Y, 0.2, np.random.default_rng(0)), "float32"),
        (lambda: blur_and_randomize(X[:10], Y, 0.2, np.random.default_rng(0)), "10 images"),
        (lambda: blur_and_randomize(X, Y, 1.0, np.random.default_rng(0)), "1.0"),
        (lambda: blur_and_randomize(X, Y, 0.2, np.random.default_rng(0), sigma=0), "sigma=0"),
        (lambda: smudge_and_randomize(X, Y, 0.2, np.random.default_rng(0), radius=2.0), "radius=2.0"),
        (lambda: smudge_and_randomize(X, np.zeros(60, int), 0.2, np.random.default_rng(0)), "K=1"),
        (lambda: randomize_classes(Y, [7], np.random.default_rng(0)), "[7]"),
        (lambda: blur_images(X, 0.2, "seed"), "'seed'"),
    ],
)
def test_errors(call, needle):
    with pytest.raises(NoiseSpecError) as err:
        call()
    assert needle in str(err.value)
