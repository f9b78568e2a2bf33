"""External noisy-label files: formats, validation against the source's labels."""

from __future__ import annotations

import numpy as np
import pytest

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.external import read_external_labels, validate_external_labels

CLEAN = np.array([0, 1, 2, 0, 1, 2, 0, 1], dtype=np.int64)
NOISY = np.array([0, 2, 2, 0, 1, 0, 0, 1], dtype=np.int64)


def _write(tmp_path, fmt):
    if fmt == "npy":
        p = tmp_path / "l.npy"
        np.save(p, NOISY)
    elif fmt == "txt":
        p = tmp_path / "l.txt"
        p.write_text("# human labels\n" + "\n".join(map(str, NOISY)) + "\n")
    elif fmt == "csv-single":
        p = tmp_path / "l.csv"
        p.write_text("label\n" + "\n".join(map(str, NOISY)) + "\n")
    else:
        p = tmp_path / "l.csv"
        p.write_text("clean,noisy\n" + "".join(f"{c},{n}\n" for c, n in zip(CLEAN, NOISY)))
    return p


@pytest.mark.parametrize("fmt", ["npy", "txt", "csv-single", "csv-pairs"])
def test_formats(tmp_path, fmt):
    p = _write(tmp_path, fmt)
    clean, noisy = read_external_labels(p)
    np.testing.assert_array_equal(noisy, NOISY)
    assert (clean is not None) == (fmt == "csv-pairs")
    np.testing.assert_array_equal(validate_external_labels(p, CLEAN, 3), NOISY)


@pytest.mark.parametrize(
    "clean, k, match",
    [(CLEAN[:-1], 3, "8 labels for 7"), (CLEAN, 2, r"outside 0\.\.1"), (np.roll(CLEAN, 1), 3, "clean column differs")],
    ids=["length", "range", "order"],
)
def test_validation_errors(tmp_path, clean, k, match):
    with pytest.raises(SourceError, match=match):
        validate_external_labels(_write(tmp_path, "csv-pairs"), clean, k)


def test_pickled_npy_is_refused(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SourceError, match="without pickle"):
        read_external_labels(p)


@pytest.mark.parametrize("content, match", [("1\nx\n", "line 2"), ("1,2,3\n", "columns"), ("", "no labels")])
def test_malformed_text(tmp_path, content, match):
    p = tmp_path / "l.txt"
    p.write_text(content)
    with pytest.raises(SourceError, match=match):
        read_external_labels(p)


def test_missing_and_unsupported(tmp_path):
    with pytest.raises(MissingDataError, match="one noisy label per training example"):
        read_external_labels(tmp_path / "none.npy")
    (tmp_path / "l.json").write_text("[]")
    with pytest.raises(SourceError, match="unsupported suffix"):
        read_external_labels(tmp_path / "l.json")
