"""open_dataset / BuiltDataset / ManifestSplit per the reading contract."""

from __future__ import annotations

import numpy as np
import pytest

from cnlbench.errors import ManifestError
from cnlbench.manifest import open_dataset
from cnlbench.manifest.reader import resolve_under


@pytest.mark.parametrize("config", ["sym-00", "sym-40", "asym-40"])
@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_split_arrays(small_build, config, split):
    ds = open_dataset(small_build)
    assert ds.name == "digits-small" and ds.class_names == [str(d) for d in range(10)]
    sp = ds.split(config, split)
    n = len(sp)
    assert sp.ids.shape == sp.label.shape == sp.clean_label.shape == sp.is_noisy.shape == sp.noise_source.shape == (n,)
    assert sp.label.dtype == np.int64 and sp.clean_label.dtype == np.int64 and sp.is_noisy.dtype == bool
    assert sp.metadata["config"] == ("clean" if split == "test" else config) and sp.metadata["split"] == split
    assert sp.metadata["source_fingerprint"] == ds.record["source"]["fingerprint"]
    assert len(sp.fingerprint) == 64 and sp.fingerprint == sp.metadata["fingerprint"]
    images = sp.images_uint8()
    assert images.shape == (n, 8, 8, 1) and images.dtype == np.uint8
    assert images.max() > 200  # scaled to 0..255
    assert sp.images_uint8() is images  # decoded once


def test_config_fingerprints_differ_and_match_record(small_build):
    ds = open_dataset(small_build)
    fps = {c: ds.fingerprint(c) for c in ds.configs}
    # content fingerprints: the 0% configs hold identical rows, noisy ones differ
    assert fps["sym-00"] == fps["asym-00"]
    assert len({fps["sym-00"], fps["sym-40"], fps["asym-40"]}) == 3
    assert all(fps[c] == ds.recorded_fingerprint(c) for c in fps)


def test_transition_matrix_orientation(small_build):
    t = open_dataset(small_build).transition_matrix("asym-40")
    assert t.shape == (10, 10)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    assert t[3, 8] == pytest.approx(0.4) and t[8, 3] == pytest.approx(0.4) and t[3, 3] == pytest.approx(0.6)


@pytest.mark.parametrize("bad", ["../etc/passwd", "/etc/passwd", "a/../../b", "a//b", "./a", "C:/x", "a\\b"])
def test_paths_escaping_the_root_are_refused(tmp_path, bad):
    with pytest.raises(ManifestError):
        resolve_under(tmp_path, bad)


def test_symlink_escape_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(ManifestError, match="escapes"):
        resolve_under(root, "link/secret.png")


def test_unknown_config_and_split(small_build):
    ds = open_dataset(small_build)
    with pytest.raises(ManifestError, match="valid configs"):
        ds.split("sym-99", "train")
    with pytest.raises(ManifestError, match="valid splits"):
        ds.split("sym-40", "dev")
