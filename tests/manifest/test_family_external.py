"""External noisy-label files: formats, validation against the source's labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.manifest.family_external import read_external_labels, validate_external_labels

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
    (tmp_path / "l.yaml").write_text("[]")
    with pytest.raises(SourceError, match="unsupported suffix"):
        read_external_labels(tmp_path / "l.yaml")


# Formats researchers download, as shipped ------------------------------------------------


def test_csv_header_naming_the_noisy_column(tmp_path):
    """Instance-dependent noise releases: `label,label_noisy` (clean first)."""
    p = tmp_path / "idn.csv"
    p.write_text("index,label,label_noisy\n" + "".join(f"{i},{c},{n}\n" for i, (c, n) in enumerate(zip(CLEAN, NOISY))))
    clean, noisy = read_external_labels(p)
    np.testing.assert_array_equal(clean, CLEAN)
    np.testing.assert_array_equal(noisy, NOISY)
    np.testing.assert_array_equal(validate_external_labels(p, CLEAN, 3), NOISY)
    with pytest.raises(SourceError, match=r"first at row 0: file 0 vs source 1"):
        validate_external_labels(p, np.roll(CLEAN, 1), 3)


def test_csv_explicit_columns(tmp_path):
    p = tmp_path / "l.csv"
    p.write_text("gt,annot\n" + "".join(f"{c},{n}\n" for c, n in zip(CLEAN, NOISY)))
    with pytest.raises(SourceError, match="noisy_column"):
        read_external_labels(p)
    clean, noisy = read_external_labels(p, noisy_column="annot", clean_column="gt")
    np.testing.assert_array_equal(noisy, NOISY)
    np.testing.assert_array_equal(clean, CLEAN)
    with pytest.raises(SourceError, match="no column 'nope'"):
        read_external_labels(p, noisy_column="nope")


def test_json_list(tmp_path):
    """DivideMix-style noise files: json.dump(noise_label, f)."""
    p = tmp_path / "noise.json"
    p.write_text(json.dumps(NOISY.tolist()))
    assert read_external_labels(p)[0] is None
    np.testing.assert_array_equal(validate_external_labels(p, CLEAN, 3), NOISY)
    q = tmp_path / "obj.json"
    q.write_text(json.dumps({"noise_label": NOISY.tolist(), "meta": "x"}))
    np.testing.assert_array_equal(read_external_labels(q)[1], NOISY)


def test_pt_dict_through_restricted_unpickler(tmp_path):
    from fixtures_sources import write_cifar_n_pt

    p = write_cifar_n_pt(tmp_path / "labels.pt", {"clean_label": CLEAN, "worse_label": NOISY, "aggre_label": CLEAN})
    with pytest.raises(SourceError, match="key: NAME"):
        read_external_labels(p)
    clean, noisy = read_external_labels(p, key="worse_label")
    np.testing.assert_array_equal(noisy, NOISY)
    np.testing.assert_array_equal(validate_external_labels(p, CLEAN, 3, key="worse_label"), NOISY)
    with pytest.raises(SourceError, match="first at row"):
        validate_external_labels(p, np.roll(CLEAN, 1), 3, key="worse_label")


@pytest.mark.parametrize("fmt", ["npy", "json"])
def test_soft_labels_are_refused_saying_what_is_expected(tmp_path, fmt):
    probs = np.full((len(CLEAN), 3), 1 / 3)
    p = tmp_path / f"soft.{fmt}"
    if fmt == "npy":
        np.save(p, probs)
    else:
        p.write_text(json.dumps(probs.tolist()))
    with pytest.raises(SourceError, match=r"soft labels are not supported.*\(N,\) array of integer class"):
        read_external_labels(p)
