"""The ``external`` noise family: one config from a label file, one noisy label per training
example in source order.

Recipe entry::

    configs:
      - {kind: mylabels, noise: external, file: labels/noisy.npy, name: my-noisy,
         noise_source: human, license: CC-BY-4.0}
      - {kind: idn, noise: external, file: idn-40.csv, noisy_column: label_noisy,
         clean_column: label}

The config is named ``name`` (default the entry's kind) and built like the ``human`` family's
sets (:mod:`cnlbench.manifest.family_human`: alignment by source order, no nominal level,
realised rate and matrix from the rows, noisy validation where the file covers it).

Accepted formats (chosen by suffix; examples in ``docs/recipes.md``):

* ``.npy``: a 1-D integer array (integral floats accepted), loaded with ``allow_pickle=False``;
* ``.json``: a JSON list of integer labels (DivideMix-style noise files), or an object whose
  ``key`` (recipe ``key:``) is such a list;
* ``.pt``: a torch archive holding a dict of label arrays (CIFAR-10N/100N style), read through
  the restricted unpickler (no pickled code runs); ``key`` picks the noisy array (optional when
  there is one array besides ``clean_label``); a ``clean_label`` array is checked;
* ``.txt`` / ``.csv``: one integer per line (blank lines and ``#`` comments ignored), or
  ``clean,noisy`` pairs without a header, or a header naming the columns: the noisy column is
  ``noisy_column`` (recipe key) or the one column whose name contains ``noisy``/``noise``
  (``label,label_noisy``, ``clean_label,noisy_label``, ``noisy``) or the only column; the clean
  column is ``clean_column`` or the one named ``clean``, ``clean_label``, ``label_clean``,
  ``true_label`` or ``label`` (besides the noisy one). Other columns (an index) are ignored.

A clean column, when present, must equal the source's training labels (the first differing row
is named): it proves the file is in the source's order. Soft labels (an (N, K) array of label
distributions) are refused with a message saying what is expected.

:func:`read_external_labels` reads; :func:`validate_external_labels` checks against the source;
:func:`build_external` is the family. Label arrays are checked by
:func:`cnlbench.noise.external.hard_labels` and described by ``cnlbench.noise.from_external_labels``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from cnlbench.errors import MissingDataError, RecipeError, SourceError
from cnlbench.manifest.families import NOISE_SOURCES, ConfigPlan, FamilyContext, register_family
from cnlbench.manifest.family_human import label_set_plan, source_order
from cnlbench.noise.external import EXPECTED_LABELS, hard_labels

__all__ = ["LABEL_SUFFIXES", "build_external", "read_external_labels", "validate_external_labels"]

LABEL_SUFFIXES = (".npy", ".json", ".pt", ".pth", ".txt", ".csv")
_CLEAN_NAMES = ("clean", "clean_label", "clean_labels", "label_clean", "true_label", "label_true", "label")


def _parse_int(text: str, path: Path, line_no: int) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise SourceError(
            f"{path} line {line_no}: {text.strip()!r:.40} is not an integer label; write one "
            "0-based class index per line (or clean,noisy pairs, or a header naming the columns)"
        ) from None


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _pick_columns(header: list[str], path: Path, noisy_column: str | None, clean_column: str | None) -> tuple[int, int | None]:
    """(noisy index, clean index or None) of a CSV header (see the module docstring)."""
    names = [h.strip().lower() for h in header]
    if len(set(names)) != len(names):
        raise SourceError(f"{path}: the header {header} names a column twice; give each column its own name")

    def find(name: str, what: str) -> int:
        if name.lower() not in names:
            raise SourceError(f"{path}: no column {name!r} for the {what} labels; the header is {header}")
        return names.index(name.lower())

    if noisy_column is not None:
        noisy = find(noisy_column, "noisy")
    else:
        cands = [i for i, n in enumerate(names) if "noisy" in n or "noise" in n]
        if len(cands) == 1:
            noisy = cands[0]
        elif len(names) == 1:
            noisy = 0
        elif len(names) == 2 and names[0] in _CLEAN_NAMES and names[1] not in _CLEAN_NAMES:
            noisy = 1
        else:
            raise SourceError(
                f"{path}: cannot tell which column of the header {header} holds the noisy labels; set "
                "`noisy_column: NAME` (and `clean_column: NAME`) in the recipe entry"
            )
    if clean_column is not None:
        return noisy, find(clean_column, "clean")
    cands = [i for i, n in enumerate(names) if n in _CLEAN_NAMES and i != noisy]
    if len(cands) > 1:
        raise SourceError(f"{path}: columns {[header[i] for i in cands]} could each be the clean labels; set "
                          "`clean_column: NAME` in the recipe entry")
    return noisy, (cands[0] if cands else None)


def _read_text(path: Path, noisy_column: str | None, clean_column: str | None) -> tuple[np.ndarray | None, np.ndarray]:
    rows: list[list[str]] = []
    line_nos: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            for i, row in enumerate(csv.reader(f), start=1):
                cells = [c.strip() for c in row]
                if not cells or not cells[0] or cells[0].startswith("#"):
                    continue
                rows.append(cells)
                line_nos.append(i)
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 CSV") from None
    except csv.Error as exc:
        raise SourceError(f"{path}: not a readable CSV ({exc}); write one label per line or a header and columns") from None
    if not rows:
        raise SourceError(f"{path} holds no labels; write one label per training example")
    header = None
    if not all(_is_int(c) for c in rows[0]):
        header, rows, line_nos = rows[0], rows[1:], line_nos[1:]
        if not rows:
            raise SourceError(f"{path} holds a header {header} but no labels; write one row per training example")
    for r, n in zip(rows, line_nos):
        if header is not None and len(r) != len(header):
            raise SourceError(f"{path} line {n}: {len(r)} cells, the header {header} has {len(header)}")
    if header is not None:
        noisy_i, clean_i = _pick_columns(header, path, noisy_column, clean_column)
    elif noisy_column is not None or clean_column is not None:
        raise SourceError(f"{path} has no header line, so `noisy_column`/`clean_column` cannot be found; add a header "
                          "naming the columns (e.g. `label,label_noisy`)")
    else:
        width = {len(r) for r in rows}
        if width == {1}:
            noisy_i, clean_i = 0, None
        elif width == {2}:
            noisy_i, clean_i = 1, 0
        else:
            if max(width) > 2 and not all(_is_int(c) for c in rows[0]):
                hard_labels(np.zeros((len(rows), max(width))), str(path))  # soft-label message
            raise SourceError(
                f"{path}: rows have {sorted(width)} columns and no header; use one label per row, `clean,noisy` "
                "pairs, or a header naming the columns (e.g. `label,label_noisy`)"
            )
    noisy = np.array([_parse_int(r[noisy_i], path, n) for r, n in zip(rows, line_nos)], dtype=np.int64)
    clean = None
    if clean_i is not None:
        clean = np.array([_parse_int(r[clean_i], path, n) for r, n in zip(rows, line_nos)], dtype=np.int64)
    return clean, noisy


def _read_json(path: Path, key: str | None) -> np.ndarray:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path} is not valid UTF-8 JSON ({exc}); write a JSON list of labels, e.g. [3, 0, 7]") from None
    if isinstance(data, dict):
        lists = {k: v for k, v in data.items() if isinstance(v, list)}
        if key is None and len(lists) == 1:
            key = next(iter(lists))
        if key is None or key not in data:
            raise SourceError(f"{path} holds a JSON object with keys {sorted(data)[:10]}; set `key: NAME` in the recipe "
                              "entry to the list of noisy labels")
        data = data[key]
    if not isinstance(data, list):
        raise SourceError(f"{path} holds a JSON {type(data).__name__}; write a JSON list of labels, e.g. [3, 0, 7]")
    if data and all(isinstance(v, list) for v in data):
        return hard_labels(data, str(path))
    for i, v in enumerate(data):
        if isinstance(v, bool) or not isinstance(v, int):
            raise SourceError(f"{path}: entry {i} is {v!r:.40}, not an integer label; {EXPECTED_LABELS}")
    return hard_labels(np.asarray(data, dtype=np.int64), str(path))


def _read_pt(path: Path, key: str | None) -> tuple[np.ndarray | None, np.ndarray]:
    from cnlbench.sources.cifar_n import read_cifar_n

    arrays = read_cifar_n(path)
    noisy_keys = [k for k in arrays if k != "clean_label" and "clean" not in k]
    if key is None:
        if len(noisy_keys) != 1:
            raise SourceError(f"{path} holds label arrays {sorted(arrays)}; set `key: NAME` in the recipe entry to the "
                              "noisy one (e.g. key: worse_label)")
        key = noisy_keys[0]
    if key not in arrays:
        raise SourceError(f"{path}: no array {key!r}; it holds {sorted(arrays)}")
    return arrays.get("clean_label"), arrays[key]


def read_external_labels(
    path: str | Path, *, noisy_column: str | None = None, clean_column: str | None = None, key: str | None = None
) -> tuple[np.ndarray | None, np.ndarray]:
    """``(clean or None, noisy)`` (N,) int64 arrays read from ``path`` (formats above).

    ``noisy_column``/``clean_column`` name CSV header columns; ``key`` picks an entry of a JSON
    object or a ``.pt`` dict.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(
            f"external label file {path} not found; give a path (relative to the recipe) to a "
            f"{', '.join(LABEL_SUFFIXES)} file with one noisy label per training example"
        )
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise SourceError(
                f"{path}: cannot load without pickle ({e}); save a plain integer array with "
                "numpy.save(path, labels.astype('int64'))"
            ) from None
        except (OSError, EOFError) as e:
            raise SourceError(f"{path}: not a readable .npy file ({e}); {EXPECTED_LABELS}") from None
        if not isinstance(arr, np.ndarray):
            raise SourceError(f"{path}: holds several arrays (an .npz?); {EXPECTED_LABELS}")
        return None, hard_labels(arr, str(path))
    if suffix == ".json":
        return None, _read_json(path, key)
    if suffix in (".pt", ".pth"):
        return _read_pt(path, key)
    if suffix not in (".txt", ".csv"):
        raise SourceError(f"{path}: unsupported suffix {suffix!r}; use one of {list(LABEL_SUFFIXES)}")
    return _read_text(path, noisy_column, clean_column)


def validate_external_labels(
    path: str | Path,
    clean_labels: np.ndarray,
    num_classes: int,
    **columns: str | None,
) -> np.ndarray:
    """Read ``path`` and check it against the source's (N,) clean training labels.

    Checks: one row per example (length N), labels in ``0..num_classes-1``, and for files with
    a clean column (or ``clean_label`` array) that it equals ``clean_labels`` (else the first
    differing row is named). ``columns``: ``noisy_column``, ``clean_column``, ``key`` as in
    :func:`read_external_labels`. Returns the noisy labels (N,) int64.
    """
    clean_ref = np.asarray(clean_labels, dtype=np.int64)
    clean, noisy = read_external_labels(path, **columns)
    n = len(clean_ref)
    if clean is not None and len(clean) != len(noisy):
        raise SourceError(f"{path}: {len(clean)} clean labels but {len(noisy)} noisy ones; both need one row per example")
    if len(noisy) != n:
        raise SourceError(
            f"{path}: {len(noisy)} labels for {n} training examples; the file needs exactly one "
            "row per training example, in source order"
        )
    for what, arr in (("noisy", noisy), ("clean", clean)):
        if arr is not None and (arr.min() < 0 or arr.max() >= num_classes):
            bad = int(np.flatnonzero((arr < 0) | (arr >= num_classes))[0])
            raise SourceError(
                f"{path}: {what} label {arr[bad]} at row {bad} is outside 0..{num_classes - 1}; "
                "labels must be 0-based class indices"
            )
    if clean is not None and not np.array_equal(clean, clean_ref):
        bad = int(np.flatnonzero(clean != clean_ref)[0])
        raise SourceError(
            f"{path}: clean column differs from the source's labels ({int((clean != clean_ref).sum())} "
            f"rows, first at row {bad}: file {clean[bad]} vs source {clean_ref[bad]}); the file "
            "is in a different order or for another dataset"
        )
    return noisy


#: What external labels may be (every noise source but "none": they are external labels).
_NOISE_SOURCES = tuple(s for s in NOISE_SOURCES if s != "none")


@register_family("external")
def build_external(ctx: FamilyContext) -> list[ConfigPlan]:
    """One config from a label file (params: ``file``, ``name``, ``noise_source``, ``license``,
    ``citation``, ``noisy_column``, ``clean_column``, ``key``); formats in the module docstring."""
    ctx.check_params(["file", "name", "noise_source", "license", "citation", "noisy_column", "clean_column", "key"])
    path = ctx.path(ctx.param("file", types=str))
    name = ctx.param("name", ctx.kind, types=str)
    noise_source = ctx.param("noise_source", "human", types=str)
    if noise_source not in _NOISE_SOURCES:
        raise RecipeError(
            f"recipe key `configs[kind={ctx.kind}].noise_source`: {noise_source!r}; use one of {list(_NOISE_SOURCES)}"
        )
    columns = {c: ctx.param(c, None, types=(str, type(None))) for c in ("noisy_column", "clean_column", "key")}
    _, probe = read_external_labels(path, **columns)
    positions, clean_full, _ = source_order(ctx, len(probe), f"label file {str(path)!r}")
    noisy_full = validate_external_labels(path, clean_full, ctx.num_classes, **columns)
    spec = {
        "family": "external", "file": path.name, **{k: v for k, v in columns.items() if v is not None},
        "license": ctx.param("license", "unknown (set `license:` in the recipe entry)", types=str),
        "citation": ctx.param("citation", "", types=str),
    }
    return [label_set_plan(ctx, name, noisy_full, positions, clean_full, spec, noise_source)]
