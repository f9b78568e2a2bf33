"""Reference builds record each image's SHA-256; every reader decodes under one pixel limit."""

from __future__ import annotations

import numpy as np

from cnlbench.manifest import build_from_recipe, open_dataset
from cnlbench.manifest.fingerprint import split_fingerprint
from cnlbench.manifest.schema import IMAGE_SHA256, column_names, features
from cnlbench.sources.images import image_sha256


def test_reference_build_records_each_files_sha256(tmp_path, recipe):
    out = build_from_recipe(recipe(images="reference", levels=[0.2]), tmp_path / "ref").out
    sp = open_dataset(out).split("sym-20", "validation")
    assert sp.table.column_names == list(column_names("reference"))
    for rel, sha in zip(sp.image_path_values(), sp.image_sha256):
        assert image_sha256((out / rel).read_bytes()) == sha
    # the split fingerprint covers the checksums: another digest, another fingerprint
    other = list(sp.image_sha256)
    other[0] = "0" * 64
    args = (sp.ids, sp.image_path_values(), sp.label, sp.clean_label, sp.is_noisy, sp.noise_source)
    assert split_fingerprint(*args, sp.image_sha256) == sp.fingerprint != split_fingerprint(*args, other)


def test_embedded_schema_is_unchanged():
    assert IMAGE_SHA256 not in column_names("embed")
    assert IMAGE_SHA256 not in features(["a", "b"], "embed")


def test_reference_build_loads_with_plain_datasets(tmp_path, recipe, python_run):
    out = build_from_recipe(recipe(images="reference", levels=[0.0, 0.4]), tmp_path / "ref").out
    code = (
        "from datasets import load_dataset\n"
        f"d = load_dataset({str(out)!r}, 'sym-40')\n"
        "r = d['train'][0]\n"
        "print(sorted(d), len(r['image_sha256']), r['image_path'].startswith('images/'))\n"
    )
    res = python_run(code, tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "['test', 'train', 'validation'] 64 True"


def test_reader_decodes_like_the_build(tmp_path, recipe):
    """Gray images stay one channel, through the shared decoder."""
    out = build_from_recipe(recipe(images="reference", levels=[0.0]), tmp_path / "ref").out
    arr = open_dataset(out).split("sym-00", "test").images_uint8()
    assert arr.dtype == np.uint8 and arr.ndim == 4 and arr.shape[1:3] == (8, 8)
