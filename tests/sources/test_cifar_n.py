"""CIFAR-N label files: read from the torch zip without executing pickled code, validated."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest
from fixtures_sources import cifar10n_arrays, write_cifar_n_pt

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.cifar_n import CIFAR_N_SETS, cifar_n_labels, read_cifar_n

N = 50_000
RATES = {"aggre_label": 0.0901, "random_label1": 0.17234, "random_label2": 0.18122, "random_label3": 0.1764, "worse_label": 0.40208}


@pytest.fixture(scope="module")
def fake_pt(tmp_path_factory):
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 10, N)
    arrays = cifar10n_arrays(clean, rng, RATES)
    return write_cifar_n_pt(tmp_path_factory.mktemp("c10n") / "CIFAR-10_human.pt", arrays), arrays


def test_fixture_has_the_real_internal_layout(fake_pt):
    path, _ = fake_pt
    assert sorted(zipfile.ZipFile(path).namelist()) == ["archive/data.pkl", "archive/version"]


@pytest.mark.parametrize("config", [c for c in CIFAR_N_SETS if c.startswith("cifar10n")])
def test_each_set_reads_with_its_exact_rate(fake_pt, config):
    path, arrays = fake_pt
    clean, noisy = cifar_n_labels(config, path.parent, clean_labels=arrays["clean_label"])
    key = CIFAR_N_SETS[config].key
    np.testing.assert_array_equal(noisy, arrays[key])
    assert (noisy != clean).mean() == pytest.approx(round(RATES[key] * N) / N)


def test_clean_label_mismatch_is_an_error(fake_pt):
    path, arrays = fake_pt
    wrong = arrays["clean_label"].copy()
    wrong[[5, 9]] = (wrong[[5, 9]] + 1) % 10
    with pytest.raises(SourceError, match="2 differ"):
        cifar_n_labels("cifar10n-aggre", path, clean_labels=wrong)


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"clean_label": np.zeros(100), "aggre_label": np.zeros(100)}, "expected 50000"),
        ({"clean_label": np.zeros(N), "aggre_label": np.full(N, 10)}, r"outside 0\.\.9"),
        ({"clean_label": np.zeros(N)}, "no 'aggre_label'"),
    ],
    ids=["length", "range", "missing-key"],
)
def test_validation(tmp_path, arrays, match):
    path = write_cifar_n_pt(tmp_path / "CIFAR-10_human.pt", arrays)
    with pytest.raises(SourceError, match=match):
        cifar_n_labels("cifar10n-aggre", path)


def test_unknown_set_and_missing_file(tmp_path):
    with pytest.raises(SourceError, match="cifar10n-aggre"):
        cifar_n_labels("cifar10n-best", tmp_path)
    with pytest.raises(MissingDataError, match="UCSC-REAL"):
        cifar_n_labels("cifar10n-aggre", tmp_path)


def test_hostile_pt_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "CIFAR-10_human.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"clean_label": Evil()}, protocol=2))
        z.writestr("archive/version", "3\n")
    with pytest.raises(SourceError, match="system"):
        read_cifar_n(path)
    assert not marker.exists()


def test_torch_tensor_storage_is_refused(tmp_path):
    torch = pytest.importorskip("torch", reason="torch builds the tensor-storage file")
    path = tmp_path / "t.pt"
    torch.save({"clean_label": torch.zeros(3, dtype=torch.int64)}, path)
    with pytest.raises(SourceError, match="torch"):
        read_cifar_n(path)


@pytest.mark.shared_data
def test_real_cifar10n_rates(shared_data):
    from cnlbench.sources import make_source

    clean_ref = make_source("cifar10", root=shared_data / "cifar10").load_split("train").labels
    expected = {"cifar10n-aggre": 9.01, "cifar10n-worst": 40.21, "cifar10n-random1": 17.23, "cifar10n-random2": 18.12, "cifar10n-random3": 17.64}
    for config, pct in expected.items():
        clean, noisy = cifar_n_labels(config, shared_data / "cifar10n", clean_labels=clean_ref)
        assert round(100 * float((noisy != clean).mean()), 2) == pct
