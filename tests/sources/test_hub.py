"""Hub image-classification datasets, offline: local folders load; an uncached id is a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_sources import cifar_arrays, write_cifar_parquet, write_imagefolder

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources import make_source
from cnlbench.sources.cifar import CIFAR10_CLASSES
from cnlbench.sources.images import decode_rgb


def _card(configs: str = "plain_text") -> str:
    return (
        "---\nconfigs:\n- config_name: plain_text\n  default: true\n  data_files:\n"
        f"  - split: train\n    path: {configs}/train-*.parquet\n"
        f"  - split: test\n    path: {configs}/test-*.parquet\n---\n"
    )


def test_local_parquet_folder_with_card(tmp_path):
    rng = np.random.default_rng(0)
    data = {"train": cifar_arrays(20, 10, rng), "test": cifar_arrays(10, 10, rng)}
    write_cifar_parquet(tmp_path / "ds", "cifar10", data)
    (tmp_path / "ds" / "README.md").write_text(_card())
    src = make_source("hub", name=str(tmp_path / "ds"), cache_dir=str(tmp_path / "cache"))
    assert (src.image_column, src.label_column) == ("img", "label")
    assert src.class_names == CIFAR10_CLASSES and src.split_names() == ("train", "test")
    tr = src.load_split("train")
    np.testing.assert_array_equal(tr.labels, data["train"][1])
    np.testing.assert_array_equal(decode_rgb(tr.images.encoded(7), "x"), data["train"][0][7])
    assert tr.ids[3] == "train-000003"


def test_local_image_folder_dataset_paths_only(tmp_path):
    write_imagefolder(tmp_path / "ds", {"train": {"a": 2, "b": 1}, "validation": {"a": 1, "b": 1}}, np.random.default_rng(1))
    src = make_source("hub", name=str(tmp_path / "ds"), cache_dir=str(tmp_path / "cache"))
    assert src.class_names == ("a", "b") and src.split_names() == ("train", "validation")
    tr = src.load_split("train")
    assert sorted(tr.labels.tolist()) == [0, 0, 1]
    assert decode_rgb(tr.images.encoded(0), "x").shape == (8, 8, 3)


def test_column_overrides_are_checked(tmp_path):
    rng = np.random.default_rng(2)
    write_cifar_parquet(tmp_path / "ds", "cifar10", {"train": cifar_arrays(10, 10, rng), "test": cifar_arrays(10, 10, rng)})
    (tmp_path / "ds" / "README.md").write_text(_card())
    with pytest.raises(SourceError, match="not a ClassLabel"):
        make_source("hub", name=str(tmp_path / "ds"), label_column="img", cache_dir=str(tmp_path / "cache"))


def test_uncached_hub_id_offline_is_a_clear_missing_data_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingDataError, match=r"cnlbench-test/definitely-not-cached.*hf download"):
        make_source("hub", name="cnlbench-test/definitely-not-cached", cache_dir=str(tmp_path / "cache"))


@pytest.mark.shared_data
def test_real_cifar10_folder_through_datasets(shared_data, tmp_path):
    src = make_source("hub", name=str(shared_data / "cifar10"), cache_dir=str(tmp_path / "cache"))
    assert src.class_names == CIFAR10_CLASSES
    te = src.load_split("test")
    assert len(te) == 10_000 and np.bincount(te.labels).tolist() == [1000] * 10
    direct = make_source("cifar10", root=shared_data / "cifar10").load_split("test")
    np.testing.assert_array_equal(te.labels, direct.labels)
    assert te.images.encoded(1234) == direct.images.encoded(1234)
