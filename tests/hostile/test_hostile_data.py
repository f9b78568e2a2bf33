"""Hostile inputs on the DATA side: images, pickles, paths, matrices, recipes, label files,
manifests, and tampered shards/matrices/levels for eval's loader and ``cnlbench verify``.

Every case asserts BOTH a named error (a :class:`CnlbenchError` subclass whose message names the
bad value or file) AND that nothing was written: no output folder, no temporary sibling, and a
dataset folder under test left byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow.parquet as pq
import pytest

from cnlbench.errors import CnlbenchError, ManifestError, RecipeError, SourceError
from cnlbench.manifest import build_from_recipe, open_dataset, validate_dataset
from cnlbench.manifest.fingerprint import noise_fingerprint
from cnlbench.manifest.recipe import load_recipe
from fixtures_sources import jpeg_bytes, write_cifar_n_pt, write_imagefolder

# ---------------------------------------------------------------------------------- helpers


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` (a decompression bomb's calling card)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _tree(folder: Path) -> dict[str, str]:
    """relpath -> sha256 of every file under ``folder`` (what "nothing was written" compares)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_nothing_written(out: Path) -> None:
    """No ``out`` folder and no ``out.tmp-*``/``out.old-*`` sibling."""
    assert not out.exists(), f"{out} was written"
    if out.parent.is_dir():
        assert not [p.name for p in out.parent.iterdir() if p.name.startswith(out.name + ".")]


def refused(fn: Callable[[], Any], err: type[CnlbenchError], *needles: str) -> str:
    """Run ``fn``; it must raise ``err`` (a CnlbenchError) whose message holds every needle."""
    assert issubclass(err, CnlbenchError)
    with pytest.raises(err) as info:
        fn()
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
    assert len(msg) < 2000, f"message of {len(msg)} characters"
    return msg


def _folder_recipe(root: Path, images: str = "reference", **extra) -> dict:
    return {"name": "hostile", "source": {"kind": "imagefolder", "root": str(root)}, "images": images,
            "splits": {"validation": {"from": "train", "fraction": 0.25}}, "levels": [0.0],
            "configs": [{"kind": "sym", "noise": "symmetric"}], **extra}


def _image_tree(tmp_path: Path) -> Path:
    return write_imagefolder(tmp_path / "src", {"train": {"cat": 4, "dog": 4}, "test": {"cat": 2, "dog": 2}},
                             np.random.default_rng(0))


DIGITS = {"name": "hostile-digits", "seed": 5, "source": {"kind": "digits"}, "images": "embed",
          "splits": {"validation": {"from": "train", "fraction": 0.125}}, "levels": [0.2, 0.4],
          "configs": [{"kind": "sym", "noise": "symmetric"},
                      {"kind": "asym", "noise": "pairs", "pairs": {"1": "7", "7": "1", "3": "8", "8": "3"}}]}


@pytest.fixture(scope="module")
def digits_build(tmp_path_factory) -> Path:
    return build_from_recipe(DIGITS, tmp_path_factory.mktemp("hostile") / "digits").out


@pytest.fixture
def dataset(digits_build: Path, tmp_path: Path) -> Path:
    """A private copy of the small digits build to tamper with."""
    return Path(shutil.copytree(digits_build, tmp_path / "ds"))


@pytest.fixture(scope="module")
def reference_build(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("hostile-ref")
    root = _image_tree(base)
    return build_from_recipe(_folder_recipe(root), base / "ref").out, root


def _edit_record(ds: Path, edit: Callable[[dict], Any]) -> None:
    p = ds / "cnlbench-build.json"
    rec = json.loads(p.read_text())
    edit(rec)
    p.write_text(json.dumps(rec, sort_keys=True, indent=2) + "\n")


def _rewrite_split(path: Path, *, labels: Callable[[np.ndarray], np.ndarray] | None = None,
                   meta: Callable[[dict], Any] | None = None) -> None:
    table = pq.read_table(path)
    if labels is not None:
        import pyarrow as pa

        i = table.schema.get_field_index("label")
        new = labels(table.column("label").to_numpy().copy())
        table = table.set_column(i, table.schema.field(i), pa.array(new, type=table.schema.field(i).type))
    if meta is not None:
        md = dict(table.schema.metadata)
        m = json.loads(md[b"cnlbench"])
        meta(m)
        md[b"cnlbench"] = json.dumps(m, sort_keys=True).encode()
        table = table.replace_schema_metadata(md)
    pq.write_table(table, path)


def _load(ds: Path, config: str, image_root: Path | None = None):
    from cnlbench.harness.data import load_task

    return load_task(ds, config, device="cpu", image_root=image_root)


def _verify(ds: Path, capsys, *extra: str) -> str:
    from cnlbench.cli import main

    assert main(["verify", str(ds), *extra]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "cnlbench verify: error:" in err
    return err


# ---------------------------------------------------------------------------------- images


@pytest.mark.parametrize("images", ["reference", "embed"])
def test_png_bomb_is_refused_by_the_build(tmp_path, images):
    root = _image_tree(tmp_path)
    (root / "train" / "cat" / "bomb.png").write_bytes(_png_header_only(40_000, 40_000))
    out = tmp_path / "out"
    refused(lambda: build_from_recipe(_folder_recipe(root, images), out), SourceError,
            "cat/bomb.png", "1600000000 pixels", "decompression bomb")
    assert_nothing_written(out)


@pytest.mark.parametrize("images", ["reference", "embed"])
def test_truncated_png_is_refused_by_the_build(tmp_path, images):
    root = _image_tree(tmp_path)
    good = (root / "train" / "dog" / "000.png").read_bytes()
    (root / "train" / "dog" / "000.png").write_bytes(good[: len(good) // 2])
    out = tmp_path / "out"
    refused(lambda: build_from_recipe(_folder_recipe(root, images), out), SourceError, "dog/000.png", "truncated")
    assert_nothing_written(out)


def test_text_file_named_png_is_refused_by_the_build(tmp_path):
    root = _image_tree(tmp_path)
    (root / "test" / "cat" / "notes.png").write_text("this is not an image\n")
    out = tmp_path / "out"
    refused(lambda: build_from_recipe(_folder_recipe(root), out), SourceError, "cat/notes.png", "not an image")
    assert_nothing_written(out)


def test_pixel_limit_applies_to_the_build(tmp_path, monkeypatch):
    root = _image_tree(tmp_path)
    monkeypatch.setenv("CNLBENCH_MAX_IMAGE_PIXELS", "50")  # the fixture images are 8x8 = 64 pixels
    out = tmp_path / "out"
    refused(lambda: build_from_recipe(_folder_recipe(root), out), SourceError, "64 pixels", "limit of 50",
            "CNLBENCH_MAX_IMAGE_PIXELS")
    assert_nothing_written(out)


def test_pixel_limit_applies_to_the_reading_api(reference_build, monkeypatch):
    ds, root = reference_build
    before = _tree(ds)
    monkeypatch.setenv("CNLBENCH_MAX_IMAGE_PIXELS", "50")
    split = open_dataset(ds, image_root=root).split("sym-00", "train")
    refused(split.images_uint8, ManifestError, "64 pixels", "limit of 50", ".png")
    assert _tree(ds) == before


def test_pixel_limit_applies_to_eval_loading(reference_build, monkeypatch):
    ds, root = reference_build
    monkeypatch.setenv("CNLBENCH_MAX_IMAGE_PIXELS", "50")
    refused(lambda: _load(ds, "sym-00", root), ManifestError, "64 pixels", "limit of 50")


def test_81_megapixel_png_is_refused_by_the_shared_decoder():
    """The reading path used to decode an 81-megapixel PNG silently; it shares the 64 MP limit."""
    from cnlbench.sources.images import DEFAULT_MAX_PIXELS, decode_array

    assert 9000 * 9000 > DEFAULT_MAX_PIXELS
    refused(lambda: decode_array(_png_header_only(9000, 9000), "big.png"), SourceError, "'big.png'",
            "81000000 pixels", f"limit of {DEFAULT_MAX_PIXELS}")


def test_symlink_out_of_the_root_is_refused(tmp_path):
    root = _image_tree(tmp_path)
    outside = tmp_path / "secret.png"
    outside.write_bytes(jpeg_bytes(np.random.default_rng(1), 8, 8, fmt="PNG"))
    (root / "train" / "cat" / "link.png").symlink_to(outside)
    out = tmp_path / "out"
    refused(lambda: build_from_recipe(_folder_recipe(root), out), SourceError, "cat/link.png", "outside the image root")
    assert_nothing_written(out)


def _tamper_image(root: Path) -> Path:
    """Replace one referenced image by a different VALID image (same size)."""
    target = root / "train" / "cat" / "001.png"
    target.write_bytes(jpeg_bytes(np.random.default_rng(99), 8, 8, fmt="PNG"))
    return target


def test_changed_image_refused_by_eval_loading(tmp_path, reference_build):
    ds0, root0 = reference_build
    root = Path(shutil.copytree(root0, tmp_path / "src"))
    ds = Path(shutil.copytree(ds0, tmp_path / "ds"))
    _tamper_image(root)
    before = _tree(ds)
    refused(lambda: _load(ds, "sym-00", root), ManifestError, "cat/001.png", "SHA-256")
    assert _tree(ds) == before


def test_changed_image_refused_by_export(tmp_path, reference_build):
    from cnlbench.manifest.export import export_hf

    ds0, root0 = reference_build
    root = Path(shutil.copytree(root0, tmp_path / "src"))
    _tamper_image(root)
    out = tmp_path / "export"
    refused(lambda: export_hf(ds0, out, image_root=root), ManifestError, "cat/001.png", "SHA-256")
    assert_nothing_written(out)


def test_changed_image_refused_by_verify(tmp_path, reference_build, capsys):
    ds0, root0 = reference_build
    root = Path(shutil.copytree(root0, tmp_path / "src"))
    _tamper_image(root)
    before = _tree(ds0)
    err = _verify(ds0, capsys, "--image-root", str(root))
    assert "cat/001.png" in err and "SHA-256" in err
    assert _tree(ds0) == before


def test_bomb_swapped_in_after_the_build_refused_by_the_reader(tmp_path, reference_build):
    ds0, root0 = reference_build
    root = Path(shutil.copytree(root0, tmp_path / "src"))
    (root / "test" / "dog" / "000.png").write_bytes(_png_header_only(40_000, 40_000))
    split = open_dataset(ds0, image_root=root).split("sym-00", "test")
    refused(split.images_uint8, ManifestError, "dog/000.png", "SHA-256")


def test_bomb_written_into_an_embedded_build_refused_by_load_hf(dataset):
    """A tampered embedded build: 9,000 x 9,000 = 81M pixels (over cnlbench's 64M limit, under
    Pillow's own 179M) is refused by name before Hugging Face ``datasets`` could decode it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cnlbench.errors import SourceError
    from cnlbench.manifest import load_hf

    f = dataset / "sym-20" / "validation-00000-of-00001.parquet"
    table = pq.read_table(f)
    images = table.column("image").to_pylist()
    images[0] = {**images[0], "bytes": _png_header_only(9_000, 9_000)}
    field = table.schema.field("image")
    pq.write_table(table.set_column(table.schema.get_field_index("image"), field, pa.array(images, type=field.type)), f)
    refused(lambda: load_hf(dataset, "sym-20", "validation"), SourceError, "81000000 pixels", "decompression bomb")


# ---------------------------------------------------------------------------------- pickles and label files


def _external(tmp_path: Path, file: Path, **params) -> tuple[dict, Path]:
    recipe = {**DIGITS, "levels": [0.0], "configs": [{"kind": "sym", "noise": "symmetric"},
                                                     {"kind": "ext", "noise": "external", "file": str(file), **params}]}
    return recipe, tmp_path / "out"


class _Evil:
    """A pickle that, if ever unpickled, runs a shell command creating ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_runs_code_is_refused(tmp_path):
    import pickle
    import zipfile

    p = tmp_path / "evil.pt"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"noisy_label": _Evil(tmp_path / "pwned")}, protocol=2))
    recipe, out = _external(tmp_path, p)
    refused(lambda: build_from_recipe(recipe, out), SourceError, "posix.system")
    assert_nothing_written(out)
    assert not (tmp_path / "pwned").exists()


def test_object_npy_is_refused(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    recipe, out = _external(tmp_path, p)
    refused(lambda: build_from_recipe(recipe, out), SourceError, "obj.npy", "without pickle")
    assert_nothing_written(out)


@pytest.mark.parametrize("fmt", ["npy", "json", "pt"])
def test_soft_labels_are_refused(tmp_path, fmt):
    probs = np.full((1442, 10), 0.1)
    p = tmp_path / f"soft.{fmt}"
    if fmt == "npy":
        np.save(p, probs)
    elif fmt == "json":
        p.write_text(json.dumps(probs.tolist()))
    else:
        import pickle
        import zipfile

        with zipfile.ZipFile(p, "w") as z:
            z.writestr("archive/data.pkl", pickle.dumps({"noisy_label": probs}, protocol=2))
    recipe, out = _external(tmp_path, p)
    refused(lambda: build_from_recipe(recipe, out), SourceError, "soft labels are not supported",
            "(N,) array of integer class indices", "soft.")
    assert_nothing_written(out)


def test_npy_given_to_the_human_family(tmp_path):
    p = tmp_path / "CIFAR-10_human.npy"
    np.save(p, np.zeros(10, np.int64))
    from cnlbench.sources.cifar_n import read_cifar_n

    refused(lambda: read_cifar_n(p), SourceError, "CIFAR-10_human.npy", "not a torch .pt archive", "noise: external")


def test_csv_with_an_ambiguous_header(tmp_path):
    p = tmp_path / "l.csv"
    p.write_text("a,b\n" + "1,2\n" * 1442)
    recipe, out = _external(tmp_path, p)
    refused(lambda: build_from_recipe(recipe, out), SourceError, "['a', 'b']", "noisy_column")
    assert_nothing_written(out)


def test_csv_clean_column_mismatch_names_the_first_row(tmp_path):
    p = tmp_path / "l.csv"
    p.write_text("label,label_noisy\n" + "0,0\n" * 1442)  # digits has ten classes: row 0 is not all zeros
    recipe, out = _external(tmp_path, p)
    msg = refused(lambda: build_from_recipe(recipe, out), SourceError, "l.csv", "clean column differs", "first at row")
    assert "file 0 vs source" in msg
    assert_nothing_written(out)


def test_csv_named_column_missing(tmp_path):
    p = tmp_path / "l.csv"
    p.write_text("label,label_noisy\n" + "0,0\n" * 4)
    recipe, out = _external(tmp_path, p, noisy_column="worse")
    refused(lambda: build_from_recipe(recipe, out), SourceError, "no column 'worse'", "label_noisy")
    assert_nothing_written(out)


def test_json_with_a_string_label(tmp_path):
    p = tmp_path / "l.json"
    p.write_text(json.dumps([1, 2, "cat"] + [0] * 1569))
    recipe, out = _external(tmp_path, p)
    refused(lambda: build_from_recipe(recipe, out), SourceError, "entry 2", "'cat'")
    assert_nothing_written(out)


def test_json_that_is_not_a_list(tmp_path):
    p = tmp_path / "l.json"
    p.write_text('"0 1 2"')
    recipe, out = _external(tmp_path, p)
    refused(lambda: build_from_recipe(recipe, out), SourceError, "l.json", "JSON str", "list of labels")
    assert_nothing_written(out)


def test_label_file_of_the_wrong_length(tmp_path):
    p = tmp_path / "l.npy"
    np.save(p, np.zeros(100, np.int64))
    recipe, out = _external(tmp_path, p)
    refused(lambda: build_from_recipe(recipe, out), SourceError, "100 rows", "1442")
    assert_nothing_written(out)


def test_label_out_of_range(tmp_path):
    p = tmp_path / "l.npy"
    labels = np.zeros(1442, np.int64)
    labels[17] = 10
    np.save(p, labels)
    recipe, out = _external(tmp_path, p)
    refused(lambda: build_from_recipe(recipe, out), SourceError, "label 10 at row 17", "0..9")
    assert_nothing_written(out)


def test_non_utf8_label_csv(tmp_path):
    p = tmp_path / "l.csv"
    p.write_bytes(b"label\n\xff\xfe1\n")
    recipe, out = _external(tmp_path, p)
    refused(lambda: build_from_recipe(recipe, out), SourceError, "l.csv", "not UTF-8")
    assert_nothing_written(out)


# ---------------------------------------------------------------------------------- recipes and matrices


def _recipe_file(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "recipe.yaml"
    (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
    return p


def test_non_utf8_recipe(tmp_path):
    p = _recipe_file(tmp_path, b"name: caf\xe9\nsource: {kind: digits}\n")
    refused(lambda: load_recipe(p), RecipeError, "recipe.yaml", "not UTF-8", "offset 9")


def test_duplicated_yaml_key(tmp_path):
    p = _recipe_file(tmp_path, "name: a\nseed: 1\nsource: {kind: digits}\nseed: 2\nconfigs: [{kind: sym, noise: symmetric}]\n")
    refused(lambda: load_recipe(p), RecipeError, "key 'seed' is given twice", "lines 2 and 4")


def test_duplicated_nested_yaml_key(tmp_path):
    p = _recipe_file(tmp_path, "name: a\nsource: {kind: digits}\nconfigs:\n  - kind: sym\n    noise: symmetric\n    kind: asym\n")
    refused(lambda: load_recipe(p), RecipeError, "key 'kind' is given twice")


def test_invalid_yaml(tmp_path):
    p = _recipe_file(tmp_path, "name: [unclosed\n")
    refused(lambda: load_recipe(p), RecipeError, "recipe.yaml", "not valid YAML")


def test_recipe_that_is_a_list(tmp_path):
    p = _recipe_file(tmp_path, "- name: a\n")
    refused(lambda: load_recipe(p), RecipeError, "mapping at top level", "list")


def test_ten_thousand_levels_give_a_short_message():
    levels = [0.5] * 10_000
    msg = refused(lambda: load_recipe({**DIGITS, "levels": levels}), RecipeError, "level 0.5 is listed more than once",
                  "(10000 entries)")
    assert len(msg) < 500


def test_ten_thousand_bad_levels_give_a_short_message():
    msg = refused(lambda: load_recipe({**DIGITS, "levels": [2.0] * 10_000}), RecipeError, "level 2.0")
    assert len(msg) < 500


def _matrix_build(tmp_path: Path, matrix: Any) -> tuple[Callable[[], Any], Path]:
    recipe = {**DIGITS, "configs": [{"kind": "x", "noise": "matrix", "matrix": matrix}]}
    out = tmp_path / "out"
    return (lambda: build_from_recipe(recipe, out)), out


def _eye(k: int = 10) -> list[list[float]]:
    return np.eye(k).tolist()


def test_ragged_matrix(tmp_path):
    m = _eye()
    m[3] = m[3][:7]
    run, out = _matrix_build(tmp_path, m)
    refused(run, RecipeError, "row 3 has 7 entries", "10 numbers")
    assert_nothing_written(out)


def test_matrix_with_a_negative_entry(tmp_path):
    m = np.roll(np.eye(10), 1, axis=1).tolist()
    m[2][4], m[2][3] = -0.5, 1.5
    run, out = _matrix_build(tmp_path, m)
    refused(run, RecipeError, "entry [2][4] = -0.5", "negative")
    assert_nothing_written(out)


def test_matrix_row_not_summing_to_one(tmp_path):
    m = np.roll(np.eye(10), 1, axis=1).tolist()
    m[5][6] = 0.9
    run, out = _matrix_build(tmp_path, m)
    refused(run, RecipeError, "row 5 sums to 0.9")
    assert_nothing_written(out)


def test_matrix_with_a_string_entry(tmp_path):
    m = np.roll(np.eye(10), 1, axis=1).tolist()
    m[1][2] = "half"
    run, out = _matrix_build(tmp_path, m)
    refused(run, RecipeError, "entry [1][2] = 'half'", "not a finite number")
    assert_nothing_written(out)


def test_matrix_of_the_wrong_size(tmp_path):
    run, out = _matrix_build(tmp_path, _eye(3))
    refused(run, RecipeError, "3 rows", "10x10")
    assert_nothing_written(out)


def test_identity_matrix_would_build_noiseless_noisy_configs(tmp_path):
    run, out = _matrix_build(tmp_path, _eye())
    refused(run, RecipeError, "identity matrix flips nothing", "x-<pp>", "0% noise")
    assert_nothing_written(out)


def test_empty_pairs_would_build_noiseless_noisy_configs(tmp_path):
    recipe = {**DIGITS, "configs": [{"kind": "x", "noise": "pairs", "pairs": {}}]}
    out = tmp_path / "out"
    refused(lambda: build_from_recipe(recipe, out), RecipeError, "pairs", "0% noise")
    assert_nothing_written(out)


def test_bad_test_carve_fraction(tmp_path):
    out = tmp_path / "out"
    refused(lambda: build_from_recipe({**DIGITS, "splits": {"test": {"from": "train", "fraction": 1.5}}}, out),
            RecipeError, "splits.test.fraction", "1.5")
    assert_nothing_written(out)


# ---------------------------------------------------------------------------------- paths and output folders


def test_out_pointing_at_a_file(tmp_path):
    out = tmp_path / "file.txt"
    out.write_text("keep me")
    refused(lambda: build_from_recipe(DIGITS, out), ManifestError, "file.txt", "not a folder")
    assert out.read_text() == "keep me"


def test_out_pointing_at_a_foreign_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    before = _tree(out)
    refused(lambda: build_from_recipe(DIGITS, out), ManifestError, "mine", "holds no cnlbench-build.json")
    assert _tree(out) == before


def test_image_path_escaping_the_root_in_a_manifest(tmp_path, reference_build):
    ds = Path(shutil.copytree(reference_build[0], tmp_path / "ds"))
    path = ds / "sym-00" / "train-00000-of-00001.parquet"
    table = pq.read_table(path)
    import pyarrow as pa

    i = table.schema.get_field_index("image_path")
    paths = table.column("image_path").to_pylist()
    paths[0] = "../../etc/passwd"
    pq.write_table(table.set_column(i, table.schema.field(i), pa.array(paths)), path)
    before = _tree(ds)
    refused(lambda: open_dataset(ds, image_root=reference_build[1]).split("sym-00", "train").encoded_images(),
            ManifestError, "'../../etc/passwd'")
    assert _tree(ds) == before


# ---------------------------------------------------------------------------------- manifests: the build record


@pytest.mark.parametrize(
    "content, needles",
    [
        ("[1, 2, 3]", ("JSON list", "not the build record object")),
        ('{"class_names": [], "configs": {}, "images": "embed"}', ("key 'name' is missing",)),
        ("{not json", ("not valid JSON",)),
        (b"\xff\xfe{}", ("not UTF-8",)),
        ('{"name": "x", "class_names": ["a"], "configs": {"c": {}}, "images": "embed", "default_config": "c", "clean": {}}',
         ("config 'c' does not list a file",)),
    ],
    ids=["list", "no-name", "not-json", "not-utf8", "config-without-files"],
)
def test_bad_build_record(dataset, content, needles):
    p = dataset / "cnlbench-build.json"
    (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
    before = _tree(dataset)
    refused(lambda: open_dataset(dataset), ManifestError, "cnlbench-build.json", *needles)
    assert _tree(dataset) == before


def test_truncated_parquet_shard(dataset, capsys):
    p = dataset / "sym-20" / "train-00000-of-00001.parquet"
    p.write_bytes(p.read_bytes()[:200])
    before = _tree(dataset)
    refused(lambda: _load(dataset, "sym-20"), ManifestError, "sym-20/train", "not a readable Parquet file")
    assert "sym-20" in _verify(dataset, capsys)
    assert _tree(dataset) == before


# ---------------------------------------------------------------------------------- manifests: tampering for eval and verify


def test_swapped_shard_refused_by_eval_and_verify(dataset, capsys):
    """sym-40's training rows copied over sym-20's: 40% noise under the name sym-20."""
    shutil.copyfile(dataset / "sym-40" / "train-00000-of-00001.parquet", dataset / "sym-20" / "train-00000-of-00001.parquet")
    before = _tree(dataset)
    refused(lambda: _load(dataset, "sym-20"), ManifestError, "config 'sym-20' split 'train'",
            "sym-20/train-00000-of-00001.parquet", "fingerprint")
    err = _verify(dataset, capsys)
    assert "sym-20" in err and "train" in err
    assert _tree(dataset) == before


def test_edited_label_refused_by_eval(dataset):
    _rewrite_split(dataset / "asym-40" / "validation-00000-of-00001.parquet", labels=lambda y: (y + 1) % 10)
    refused(lambda: _load(dataset, "asym-40"), ManifestError, "asym-40", "validation", "fingerprint")


def test_edited_matrix_refused_by_eval_and_verify(dataset, capsys):
    """The transition matrix forward/backward train with, edited in cnlbench-build.json."""
    def edit(rec):
        t = np.array(rec["configs"]["sym-40"]["requested_matrix"])
        rec["configs"]["sym-40"]["requested_matrix"] = (0.5 * t + 0.5 / 10).tolist()
    _edit_record(dataset, edit)
    before = _tree(dataset)
    refused(lambda: _load(dataset, "sym-40"), ManifestError, "config 'sym-40'", "transition matrix",
            "cnlbench-build.json", "edited")
    assert "sym-40" in _verify(dataset, capsys)
    assert _tree(dataset) == before


def test_matrix_edited_everywhere_is_refused_by_the_rows(dataset):
    """Even with the noise fingerprint and both Parquet copies rewritten, the rows disagree."""
    flat = (np.full((10, 10), 0.4 / 9) + np.eye(10) * (0.6 - 0.4 / 9))  # sym-40's T
    fake = np.roll(np.eye(10), 1, axis=1) * 0.4 + np.eye(10) * 0.6  # pair flips at 40%
    assert not np.allclose(flat, fake)

    def edit(rec):
        c = rec["configs"]["sym-40"]
        c["requested_matrix"] = fake.tolist()
        c["noise_fingerprint"] = noise_fingerprint(c["kind"], c["level"], c["requested_matrix"])
    _edit_record(dataset, edit)
    for split in ("train", "validation"):
        _rewrite_split(dataset / "sym-40" / f"{split}-00000-of-00001.parquet",
                       meta=lambda m: m.__setitem__("requested_matrix", fake.tolist()))
    refused(lambda: _load(dataset, "sym-40"), ManifestError, "does not describe the rows", "class", "T[")


def test_edited_level_refused_by_eval_and_verify(dataset, capsys):
    _edit_record(dataset, lambda rec: rec["configs"]["sym-20"].__setitem__("level", 0.05))
    refused(lambda: _load(dataset, "sym-20"), ManifestError, "config 'sym-20'", "cnlbench-build.json", "edited")
    assert "sym-20" in _verify(dataset, capsys)


def test_level_edited_with_its_fingerprint_refused_by_the_name(dataset):
    def edit(rec):
        c = rec["configs"]["sym-20"]
        c["level"] = 0.4
        c["noise_fingerprint"] = noise_fingerprint(c["kind"], 0.4, c["requested_matrix"])
    _edit_record(dataset, edit)
    refused(lambda: _load(dataset, "sym-20"), ManifestError, "config 'sym-20'", "level 0.4", "'sym-40'")


def test_level_in_parquet_metadata_disagreeing_with_the_record(dataset):
    _rewrite_split(dataset / "sym-20" / "train-00000-of-00001.parquet", meta=lambda m: m.__setitem__("requested_level", 0.4))
    refused(lambda: _load(dataset, "sym-20"), ManifestError, "config 'sym-20' split 'train'", "level 0.4", "disagree")


def test_recorded_fingerprint_edited(dataset, capsys):
    _edit_record(dataset, lambda rec: rec["configs"]["asym-20"].__setitem__("fingerprint", "0" * 64))
    refused(lambda: _load(dataset, "asym-20"), ManifestError, "config 'asym-20'", "recorded")
    assert "asym-20" in _verify(dataset, capsys)


def test_verify_on_a_missing_folder(tmp_path, capsys):
    err = _verify(tmp_path / "nope", capsys)
    assert "nope" in err and "does not exist" in err
    assert_nothing_written(tmp_path / "nope")


def test_untampered_build_verifies(dataset, capsys):
    """The control: the same fixture passes every check above untouched."""
    from cnlbench.cli import main

    assert main(["verify", str(dataset)]) == 0
    assert "OK" in capsys.readouterr().out
    assert set(validate_dataset(dataset, images=True)) == {"sym-20", "sym-40", "asym-20", "asym-40"}
