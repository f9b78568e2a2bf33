import json

import numpy as np
import pytest

from cnlbench.errors import NoiseSpecError
from cnlbench.noise import from_external_labels


def test_realised_rate_and_matrix():
    clean = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    noisy = np.array([0, 1, 0, 1, 2, 2, 2, 0])
    r = from_external_labels(clean, noisy, source="human", num_classes=3)
    assert r.realised_rate == pytest.approx(3 / 8) and r.level == pytest.approx(3 / 8)
    assert r.realised_counts.tolist() == [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
    np.testing.assert_allclose(r.realised_matrix.sum(axis=1), 1.0)
    assert r.requested_matrix is None and r.mode == "external" and r.spec["source"] == "human"
    json.dumps(r.to_metadata())


def test_missing_class_gives_zero_row():
    r = from_external_labels([0, 0], [0, 1], num_classes=3)
    assert r.realised_matrix[2].tolist() == [0.0, 0.0, 0.0]


def test_cifar10n(shared_data):
    """The real CIFAR-10N label sets: published noise rates (restricted unpickler, no code run)."""
    import zipfile

    from cnlbench.sources.safe_pickle import loads_restricted  # executes no pickled code

    path = shared_data / "cifar10n" / "CIFAR-10_human.pt"
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data folder")
    with zipfile.ZipFile(path) as zf:
        member = next(n for n in zf.namelist() if n.endswith("data.pkl"))
        data = loads_restricted(zf.read(member), name=member)
    clean = data["clean_label"]
    for key, rate in [("aggre_label", 0.0901), ("worse_label", 0.4021)]:
        r = from_external_labels(clean, data[key], source="human", name=key)
        assert r.realised_rate == pytest.approx(rate, abs=5e-4)


@pytest.mark.parametrize(
    "args,kwargs,needle",
    [
        (([0, 1, 2], [0, 1]), {}, "2 entries"),
        (([0, 1], [0, 5]), {"num_classes": 3}, "5"),
        (([0, 1], [0.0, 1.0]), {}, "float64"),
        (([], []), {}, "empty"),
        (([0, 1], [0, 1]), {"source": ""}, "source=''"),
    ],
)
def test_errors(args, kwargs, needle):
    with pytest.raises(NoiseSpecError) as err:
        from_external_labels(*args, **kwargs)
    assert needle in str(err.value)
