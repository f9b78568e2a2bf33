"""validate_dataset detects tampering, broken cards and out-of-range labels."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cnlbench.errors import ManifestError
from cnlbench.manifest import open_dataset, validate_dataset


@pytest.fixture
def copy_build(small_build, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(small_build, out)
    return out


def _rewrite(path, column, fn):
    """Rewrite one column of a Parquet file keeping its schema and metadata (a careful tamperer)."""
    table = pq.read_table(path)
    i = table.column_names.index(column)
    new = pa.array(fn(table.column(column).to_numpy(zero_copy_only=False)), type=table.schema.field(column).type)
    pq.write_table(table.set_column(i, table.schema.field(column), new), path)


def test_clean_build_validates(small_build):
    fps = validate_dataset(small_build)
    assert set(fps) == set(open_dataset(small_build).configs)
    assert all(fps[c] == open_dataset(small_build).recorded_fingerprint(c) for c in fps)


@pytest.mark.parametrize("config, split", [("sym-40", "train"), ("asym-00", "validation")])
def test_tampered_label_is_detected_and_named(copy_build, config, split):
    path = copy_build / config / f"{split}-00000-of-00001.parquet"

    def flip(label):  # change one label and mark it noisy so the rows stay self-consistent
        label = label.copy()
        label[0] = (label[0] + 1) % 10
        return label

    _rewrite(path, "label", flip)
    _rewrite(path, "is_noisy", lambda v: np.where(np.arange(len(v)) == 0, True, v))
    with pytest.raises(ManifestError) as err:
        validate_dataset(copy_build)
    msg = str(err.value)
    assert f"config {config!r} split {split!r}" in msg and "cnlbench build" in msg


def test_tampered_image_changes_fingerprint(copy_build):
    path = copy_build / "sym-00" / "train-00000-of-00001.parquet"
    table = pq.read_table(path)
    images = table.column("image").to_pylist()
    images[5], images[6] = images[6], images[5]
    i = table.column_names.index("image")
    pq.write_table(table.set_column(i, table.schema.field("image"), pa.array(images, type=table.schema.field("image").type)), path)
    with pytest.raises(ManifestError, match="fingerprint"):
        validate_dataset(copy_build)


def test_label_out_of_range_is_detected(copy_build):
    path = copy_build / "sym-00" / "validation-00000-of-00001.parquet"
    _rewrite(path, "label", lambda v: np.where(np.arange(len(v)) == 0, 12, v))
    with pytest.raises(ManifestError, match=r"labels outside 0\.\.9"):
        validate_dataset(copy_build)


def test_card_missing_a_config_is_detected(copy_build):
    card = copy_build / "README.md"
    text = card.read_text()
    start = text.index("- config_name: asym-40\n")
    end = text.index("- config_name: sym-00\n")
    card.write_text(text[:start] + text[end:])
    with pytest.raises(ManifestError, match="card lists configs"):
        validate_dataset(copy_build)


def test_recorded_rate_mismatch_is_detected(copy_build):
    rec_path = copy_build / "cnlbench-build.json"
    rec = json.loads(rec_path.read_text())
    rec["configs"]["sym-40"]["splits"]["train"]["realised_rate"] = 0.4
    rec_path.write_text(json.dumps(rec))
    with pytest.raises(ManifestError, match="realised rate"):
        validate_dataset(copy_build)


def test_not_a_build(tmp_path):
    with pytest.raises(ManifestError, match="cnlbench build"):
        validate_dataset(tmp_path)
