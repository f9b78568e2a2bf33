"""CIFAR-10/100 from both on-disk layouts: tiny fixtures in the exact formats, and the real copy."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_sources import cifar_arrays, write_cifar_parquet, write_cifar_python

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources import make_source
from cnlbench.sources.cifar import CIFAR10_CLASSES, CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES
from cnlbench.sources.images import decode_rgb


def test_canonical_name_tables():
    assert len(CIFAR10_CLASSES) == 10 and len(CIFAR100_FINE_CLASSES) == 100 and len(CIFAR100_COARSE_CLASSES) == 20
    assert list(CIFAR100_FINE_CLASSES) == sorted(CIFAR100_FINE_CLASSES)  # fine labels are alphabetical
    assert len(set(CIFAR100_FINE_CLASSES)) == 100


@pytest.fixture(params=["cifar10", "cifar100"])
def variant(request):
    return request.param


@pytest.fixture
def data(variant):
    rng = np.random.default_rng(0)
    k = 10 if variant == "cifar10" else 100
    return {"train": cifar_arrays(2 * k, k, rng), "test": cifar_arrays(k, k, rng)}


@pytest.mark.parametrize("layout", ["python", "parquet"])
def test_loads_each_layout_in_source_order(tmp_path, variant, data, layout):
    if layout == "python":
        write_cifar_python(tmp_path, variant, data)
    else:
        write_cifar_parquet(tmp_path, variant, data)
    src = make_source(variant, root=str(tmp_path), check_sizes=False)
    assert src.layout == layout
    assert src.class_names == (CIFAR10_CLASSES if variant == "cifar10" else CIFAR100_FINE_CLASSES)
    for split in ("train", "test"):
        px, lab = data[split]
        sd = src.load_split(split)
        np.testing.assert_array_equal(sd.labels, lab)
        assert sd.ids[0] == f"{variant}-{split}-00000" and len(set(sd.ids)) == len(lab)
        for i in (0, len(lab) - 1):
            np.testing.assert_array_equal(decode_rgb(sd.images.encoded(i), "x"), px[i])
        if variant == "cifar100":
            np.testing.assert_array_equal(sd.extras["coarse_label"], lab % 20)


def test_cifar100_coarse_labels(tmp_path):
    rng = np.random.default_rng(1)
    data = {"train": cifar_arrays(40, 100, rng), "test": cifar_arrays(20, 100, rng)}
    write_cifar_python(tmp_path, "cifar100", data)
    src = make_source("cifar100", root=tmp_path, label="coarse", check_sizes=False)
    assert src.class_names == CIFAR100_COARSE_CLASSES and src.name == "cifar100-coarse"
    np.testing.assert_array_equal(src.load_split("train").labels, data["train"][1] % 20)


def test_parquet_class_names_fall_back_to_card_then_canonical(tmp_path):
    rng = np.random.default_rng(2)
    data = {"train": cifar_arrays(20, 10, rng), "test": cifar_arrays(10, 10, rng)}
    write_cifar_parquet(tmp_path, "cifar10", data, with_metadata=False)
    assert make_source("cifar10", root=tmp_path, check_sizes=False).class_names == CIFAR10_CLASSES
    names = [f"c{i}" for i in range(10)]
    card = "---\ndataset_info:\n  features:\n  - name: label\n    dtype:\n      class_label:\n        names:\n"
    card += "".join(f"          '{i}': {n}\n" for i, n in enumerate(names)) + "---\n# card\n"
    (tmp_path / "README.md").write_text(card)
    assert make_source("cifar10", root=tmp_path, check_sizes=False).class_names == tuple(names)


def test_sizes_are_checked_by_default(tmp_path, data, variant):
    write_cifar_python(tmp_path, variant, data)
    with pytest.raises(SourceError, match="expected 50000"):
        make_source(variant, root=tmp_path).load_split("train")


def test_missing_folder_says_what_to_download(tmp_path):
    with pytest.raises(MissingDataError, match=r"cifar-10-python\.tar\.gz.*uoft-cs/cifar10"):
        make_source("cifar10", root=tmp_path / "nope")
    with pytest.raises(MissingDataError, match="cifar-100-python"):
        make_source("cifar100", root=tmp_path)


def test_hostile_batch_file_is_refused(tmp_path, data):
    import os
    import pickle

    write_cifar_python(tmp_path, "cifar10", data)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    src = make_source("cifar10", root=tmp_path, check_sizes=False)
    with pytest.raises(SourceError, match="system"):
        src.load_split("train")
    assert not marker.exists()


def test_out_of_range_labels_are_refused(tmp_path):
    rng = np.random.default_rng(3)
    px, lab = cifar_arrays(20, 10, rng)
    lab[3] = 12
    write_cifar_parquet(tmp_path, "cifar10", {"train": (px, lab), "test": cifar_arrays(10, 10, rng)})
    with pytest.raises(SourceError, match="outside 0..9"):
        make_source("cifar10", root=tmp_path, check_sizes=False).load_split("train")


@pytest.mark.shared_data
def test_real_cifar10_hub_parquet(shared_data):
    src = make_source("cifar10", root=shared_data / "cifar10")
    assert src.layout == "parquet" and src.class_names == CIFAR10_CLASSES
    train, test = src.load_split("train"), src.load_split("test")
    assert (len(train), len(test)) == (50_000, 10_000)
    assert np.bincount(train.labels).tolist() == [5000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert decode_rgb(train.images.encoded(49_999), "x").shape == (32, 32, 3)
