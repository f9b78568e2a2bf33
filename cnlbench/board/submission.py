"""Leaderboard submissions: one JSON file per method version, validated in plain Python.

The schema (version 1) is documented in ``docs/submissions.md`` and, as a JSON Schema, in
``cnlbench/board/submission_schema.json``. Submissions are data only: read with a size limit,
parsed with ``json.loads`` (duplicate keys and non-finite numbers flagged), never executed or
unpickled. Every error names the field path (e.g. ``runs[3].metrics.test_acc_final``) and the fix.

Public functions:

- :func:`load_submission` (path -> dict; size limit, UTF-8, JSON),
- :func:`validate_submission` (schema and types, metric ranges),
- :func:`check_runs` (config coverage, seeds per config, fingerprints against published manifests),
- :func:`published_fingerprints` (a built dataset folder -> its name and config fingerprints),
- :func:`make_submission` (harness result rows + metadata -> a submission dict),
- :func:`accept_submission` (all checks, duplicate check, atomic write under ``submissions/``),
- :func:`load_accepted` / :func:`submission_rows` (accepted files -> result rows for the board).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from cnlbench import __version__
from cnlbench.board._io import slugify
from cnlbench.board.results import normalise_row, parse_config
from cnlbench.errors import CnlbenchError, MissingDataError, SubmissionError
from cnlbench.manifest import open_dataset
from cnlbench.manifest.atomic import BUILD_RECORD, atomic_write_text

__all__ = [
    "SCHEMA_VERSION",
    "MAX_BYTES",
    "MIN_SEEDS",
    "REQUIRED_METRICS",
    "OPTIONAL_METRICS",
    "load_submission",
    "validate_submission",
    "check_submission_meta",
    "check_runs",
    "published_fingerprints",
    "content_hash",
    "submission_slug",
    "make_submission",
    "accept_submission",
    "load_accepted",
    "submission_rows",
    "Accepted",
]

SCHEMA_VERSION = 1
MAX_BYTES = 10 * 1024 * 1024
MIN_SEEDS = 3
REQUIRED_METRICS = ("test_acc_final", "test_acc_best_val")
OPTIONAL_METRICS = ("val_acc_best", "ece", "overconfidence", "auroc_noise", "abstain_coverage", "abstain_acc")
_MAX_ERRORS = 25

_TOP_REQUIRED = ("schema_version", "method", "method_version", "authors", "code_url",
                 "cnlbench_version", "hardware", "runs")
_TOP_OPTIONAL = ("paper_url", "description", "contact")
_RUN_REQUIRED = ("dataset", "config", "seed", "metrics", "manifest_fingerprint", "wall_time_s")
_RUN_OPTIONAL = ("model", "epochs", "method_params", "device")
_URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _parse_constant(name: str) -> float:
    """Keep NaN/Infinity literals as floats so validation can name the field they sit in."""
    return float(name.replace("Infinity", "inf"))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise SubmissionError(f"key {k!r} appears twice in one JSON object; keep exactly one")
        out[k] = v
    return out


def load_submission(path: str | Path, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Read and parse a submission file (no validation beyond JSON well-formedness).

    Refuses files over ``max_bytes`` (checked before reading), non-UTF-8 bytes, truncated or
    malformed JSON, duplicate keys and a top level that is not an object.
    """
    path = Path(path)
    if not path.exists():
        raise MissingDataError(f"submission file {path} does not exist; pass the JSON file to submit")
    if not path.is_file():
        raise SubmissionError(f"submission {path} is not a regular file (a folder, device or pipe); pass the JSON file to submit")
    size = path.stat().st_size
    if size > max_bytes:
        raise SubmissionError(
            f"submission {path} is {size:,} bytes, over the {max_bytes:,}-byte limit; "
            "submit per-run metrics only (no curves, logits or checkpoints)"
        )
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SubmissionError(f"submission {path} grew past the {max_bytes:,}-byte limit while being read")
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (Windows editors) is not an error
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"submission {path} is not UTF-8 ({exc}); save it as UTF-8 JSON") from exc
    if not text.strip():
        raise SubmissionError(f"submission {path} is empty; write the JSON object described in docs/submissions.md")
    try:
        obj = json.loads(text, parse_constant=_parse_constant, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        hint = " (the file ends early: it looks truncated)" if exc.pos >= len(text.rstrip()) else ""
        raise SubmissionError(
            f"submission {path} is not valid JSON{hint}: {exc.msg} at line {exc.lineno} column {exc.colno}; "
            "regenerate it with `cnlbench eval --submission` or fix the JSON syntax"
        ) from exc
    except RecursionError as exc:
        raise SubmissionError(f"submission {path} nests JSON too deeply; use the flat schema in docs/submissions.md") from exc
    except ValueError as exc:  # an integer literal past Python's digit limit
        raise SubmissionError(f"submission {path} holds an integer too long to read ({str(exc).split(';')[0][:80]}); "
                              "seeds and counts are integers below 2**63") from None
    if not isinstance(obj, dict):
        raise SubmissionError(
            f"submission {path}: the top level is a JSON {_type_name(obj)}, not an object; "
            "wrap the fields in {...} as in docs/submissions.md"
        )
    return obj


class _Errors:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, msg: str) -> None:
        self.items.append(msg)

    def raise_if_any(self, what: str) -> None:
        if self.items:
            shown = self.items[:_MAX_ERRORS]
            more = len(self.items) - len(shown)
            tail = f"\n  ... and {more} more" if more > 0 else ""
            raise SubmissionError(f"{what} refused ({len(self.items)} problem(s)):\n  " + "\n  ".join(shown) + tail)


def _type_name(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(v), type(v).__name__)


def _check_string(err: _Errors, path: str, v: Any, max_len: int = 200, allow_empty: bool = False) -> bool:
    if not isinstance(v, str):
        err.add(f"{path} must be a string, got {_type_name(v)} {v!r:.60}")
        return False
    if not v.strip() and not allow_empty:
        err.add(f"{path} is empty; fill it in")
        return False
    if len(v) > max_len:
        err.add(f"{path} is {len(v)} characters; keep it under {max_len}")
        return False
    if _CONTROL_RE.search(v):
        err.add(f"{path} contains control characters (NUL, newline, ...) {v!r:.60}; use plain text")
        return False
    return True


def _check_url(err: _Errors, path: str, v: Any) -> None:
    if _check_string(err, path, v, max_len=500) and not _URL_RE.match(v):
        err.add(f"{path} = {v!r:.80} is not an http(s) URL; give a link such as https://arxiv.org/abs/...")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


def _check_fraction(err: _Errors, path: str, v: Any) -> None:
    if not _is_number(v):
        err.add(f"{path} must be a number in [0, 1], got {_type_name(v)} {v!r:.40}")
    elif not math.isfinite(float(v)):
        err.add(f"{path} is {float(v)} (NaN/Infinity is not a result); drop the run or report a finite value")
    elif not 0.0 <= float(v) <= 1.0:
        hint = " (it looks like a percentage; divide by 100)" if 1.0 < float(v) <= 100.0 else ""
        err.add(f"{path} = {v!r} is outside [0, 1]{hint}")


def _unknown_keys(err: _Errors, path: str, obj: Mapping[str, Any], allowed: Sequence[str]) -> None:
    for k in obj:
        if k not in allowed:
            err.add(f"{path}{'.' if path else ''}{k} is not a field of schema version {SCHEMA_VERSION}; "
                    f"remove it (fields: {', '.join(allowed)})")


def _validate_run(err: _Errors, i: int, run: Any) -> None:
    p = f"runs[{i}]"
    if not isinstance(run, dict):
        err.add(f"{p} must be an object, got {_type_name(run)}")
        return
    for k in _RUN_REQUIRED:
        if k not in run:
            err.add(f"{p}.{k} is missing; every run needs {', '.join(_RUN_REQUIRED)}")
    _unknown_keys(err, p, run, _RUN_REQUIRED + _RUN_OPTIONAL)
    for k in ("dataset", "config"):
        if k in run:
            _check_string(err, f"{p}.{k}", run[k], max_len=100)
    for k in ("model", "device"):
        if k in run:
            _check_string(err, f"{p}.{k}", run[k], max_len=100)
    if "method_params" in run and not isinstance(run["method_params"], dict):
        err.add(f"{p}.method_params must be an object of hyper-parameters, got {_type_name(run['method_params'])}")
    if "seed" in run and (not _is_int(run["seed"]) or not 0 <= run["seed"] < 2**63):
        err.add(f"{p}.seed must be a non-negative integer below 2**63, got {run['seed']!r:.40}")
    if "epochs" in run and (not _is_int(run["epochs"]) or not 1 <= run["epochs"] < 2**63):
        err.add(f"{p}.epochs must be a positive integer below 2**63, got {run['epochs']!r:.40}")
    if "manifest_fingerprint" in run:
        fp = run["manifest_fingerprint"]
        if not isinstance(fp, str) or not _HEX64_RE.match(fp):
            err.add(f"{p}.manifest_fingerprint must be the 64-hex-digit sha256 the harness recorded, got {fp!r:.80}")
    if "wall_time_s" in run:
        w = run["wall_time_s"]
        if not _is_number(w) or not math.isfinite(float(w)) or float(w) < 0:
            err.add(f"{p}.wall_time_s must be a finite number of seconds >= 0, got {w!r:.40}")
    m = run.get("metrics")
    if "metrics" in run and not isinstance(m, dict):
        err.add(f"{p}.metrics must be an object, got {_type_name(m)}")
    elif isinstance(m, dict):
        for k in REQUIRED_METRICS:
            if k not in m:
                err.add(f"{p}.metrics.{k} is missing; required metrics: {', '.join(REQUIRED_METRICS)}")
        _unknown_keys(err, f"{p}.metrics", m, REQUIRED_METRICS + OPTIONAL_METRICS)
        for k, v in m.items():
            if k in REQUIRED_METRICS + OPTIONAL_METRICS:
                if v is None and k in OPTIONAL_METRICS:
                    continue  # an optional metric the method does not define (e.g. auroc_noise)
                _check_fraction(err, f"{p}.metrics.{k}", v)


def _check_meta_fields(err: _Errors, sub: Mapping[str, Any]) -> None:
    """The descriptive top-level fields present in ``sub``: names, authors, URLs."""
    for k in ("method", "method_version", "cnlbench_version", "hardware"):
        if k in sub:
            _check_string(err, k, sub[k], max_len=100 if k != "hardware" else 300)
    if "description" in sub:
        _check_string(err, "description", sub["description"], max_len=2000)
    if "contact" in sub:
        _check_string(err, "contact", sub["contact"], max_len=200)
    if "authors" in sub:
        a = sub["authors"]
        if not isinstance(a, list) or not a:
            err.add(f"authors must be a non-empty array of names, got {_type_name(a)} {a!r:.60}")
        else:
            for i, name in enumerate(a):
                _check_string(err, f"authors[{i}]", name)
    if "code_url" in sub:
        _check_url(err, "code_url", sub["code_url"])
    if sub.get("paper_url") is not None:
        _check_url(err, "paper_url", sub["paper_url"])


def check_submission_meta(meta: Mapping[str, Any]) -> None:
    """The metadata ``make_submission`` takes (method, method_version, authors, code_url,
    paper_url, ...) checked alone, e.g. before a sweep whose rows it will describe."""
    err = _Errors()
    _check_meta_fields(err, meta)
    if "method" in meta:
        try:
            submission_slug(meta)
        except SubmissionError as exc:
            err.add(str(exc))
    err.raise_if_any("submission metadata (--authors, --code-url, --paper-url, --method-version)")


def validate_submission(sub: Mapping[str, Any]) -> None:
    """Schema and types of a parsed submission; raises :class:`SubmissionError` listing every problem."""
    err = _Errors()
    if not isinstance(sub, Mapping):
        raise SubmissionError(f"a submission must be a JSON object, got {_type_name(sub)}")
    for k in _TOP_REQUIRED:
        if k not in sub:
            err.add(f"{k} is missing; required fields: {', '.join(_TOP_REQUIRED)}")
    _unknown_keys(err, "", sub, _TOP_REQUIRED + _TOP_OPTIONAL)
    if "schema_version" in sub and (not _is_int(sub["schema_version"]) or sub["schema_version"] != SCHEMA_VERSION):
        err.add(f"schema_version = {sub['schema_version']!r:.40} is not supported; this cnlbench reads "
                f"schema_version {SCHEMA_VERSION} (see docs/submissions.md)")
    _check_meta_fields(err, sub)
    if "runs" in sub:
        runs = sub["runs"]
        if not isinstance(runs, list) or not runs:
            err.add(f"runs must be a non-empty array of run records, got {_type_name(runs)}")
        else:
            for i, run in enumerate(runs):
                _validate_run(err, i, run)
    err.raise_if_any("submission")


@dataclass(frozen=True)
class PublishedDataset:
    """A built dataset's name and ``config -> fingerprint`` (sha256 hex)."""

    name: str
    fingerprints: dict[str, str]


def _fingerprints_from_build_json(folder: Path) -> PublishedDataset | None:
    """Name and ``configs.<name>.fingerprint`` of the build record ``cnlbench-build.json``,
    read as plain JSON (size-limited); ``None`` when absent, unreadable or without any."""
    f = folder / BUILD_RECORD
    if not f.is_file() or f.stat().st_size > 50 * 1024 * 1024:
        return None
    try:
        rec = json.loads(f.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("configs"), dict):
        return None
    fps = {str(k): str(v["fingerprint"]) for k, v in rec["configs"].items()
           if isinstance(v, dict) and isinstance(v.get("fingerprint"), str)}
    return PublishedDataset(str(rec.get("name") or folder.name), fps) if fps else None


def published_fingerprints(folder: str | Path, *, recompute: bool = False) -> PublishedDataset:
    """The published config fingerprints of a built dataset folder.

    Opens the folder with ``cnlbench.manifest.open_dataset`` and takes each config's
    fingerprint as recorded by the build (``recompute=True``: recomputed over the Parquet
    content with ``BuiltDataset.fingerprint(config)``, slow for large image sets). If the
    manifest layer cannot open the folder (e.g. only the build record was published), reads
    the ``configs.<name>.fingerprint`` entries of its ``cnlbench-build.json``, except with
    ``recompute=True``: a fingerprint that was asked to be verified is never replaced by the
    recorded, unverified one (the error says why the content could not be read).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SubmissionError(f"--manifests {folder} is a file, not a folder; pass a dataset folder `cnlbench build` wrote")
    if not folder.is_dir():
        raise MissingDataError(f"manifest folder {folder} does not exist; pass a dataset folder `cnlbench build` wrote")
    try:
        ds = open_dataset(folder)
        get = ds.fingerprint if recompute else ds.recorded_fingerprint
        return PublishedDataset(str(ds.name), {c: str(get(c)) for c in ds.configs})
    except Exception as exc:  # a folder the manifest layer cannot open: read the build record
        if recompute:
            raise SubmissionError(f"cannot recompute the config fingerprints of {folder} ({exc}); the recorded ones "
                                  "are not used when verification was asked for: rebuild or re-download the "
                                  "dataset folder") from None
        opened_error = exc
    rec = _fingerprints_from_build_json(folder)
    if rec is None:
        raise SubmissionError(
            f"manifest folder {folder} has no readable config fingerprints (open_dataset said: {opened_error}); "
            f"pass the folder `cnlbench build` wrote (it holds {BUILD_RECORD})"
        )
    return rec


def check_runs(sub: Mapping[str, Any], published: Mapping[str, PublishedDataset], min_seeds: int = MIN_SEEDS) -> None:
    """Configs known, fingerprints equal to the published ones, every config covered.

    ``published`` maps a dataset name to its :class:`PublishedDataset`. For each dataset and
    each noise kind the submission reports, every published config of that kind (all ten
    levels when the kind has ten) needs at least ``min_seeds`` distinct seeds. A run on a
    different split (fingerprint mismatch) is refused with its config named.
    """
    err = _Errors()
    seeds: dict[tuple[str, str], set[int]] = {}
    seen: dict[tuple[str, str, int, str], int] = {}
    for i, run in enumerate(sub["runs"]):
        ds, config, seed = run["dataset"], run["config"], run["seed"]
        model = run.get("model", "")
        if (ds, config, seed, model) in seen:
            err.add(f"runs[{i}] repeats dataset {ds!r} config {config!r} seed {seed} of runs[{seen[(ds, config, seed, model)]}]; "
                    "keep one run per seed")
            continue
        seen[(ds, config, seed, model)] = i
        pub = published.get(ds)
        if pub is None:
            err.add(f"runs[{i}].dataset {ds!r} is not a published dataset (known: {', '.join(sorted(published)) or 'none'}); "
                    "pass its built folder with --manifests")
            continue
        if config not in pub.fingerprints:
            err.add(f"runs[{i}].config {config!r} is not a config of dataset {ds!r} "
                    f"(configs: {', '.join(sorted(pub.fingerprints))})")
            continue
        if run["manifest_fingerprint"] != pub.fingerprints[config]:
            err.add(f"runs[{i}].manifest_fingerprint: dataset {ds!r} config {config!r} was trained on a different split "
                    f"({run['manifest_fingerprint'][:12]}..., published {pub.fingerprints[config][:12]}...); "
                    "re-run on the published manifests")
        seeds.setdefault((ds, config), set()).add(seed)
    for ds in sorted({d for d, _ in seeds}):
        pub = published[ds]
        kinds = sorted({parse_config(c)[0] for d, c in seeds if d == ds})
        for kind in kinds:
            for config in sorted(c for c in pub.fingerprints if parse_config(c)[0] == kind):
                n = len(seeds.get((ds, config), ()))
                if n == 0:
                    err.add(f"runs: dataset {ds!r} config {config!r} has no run; a submission covers every config "
                            f"of each noise kind it reports ({kind!r}), with at least {min_seeds} seeds each")
                elif n < min_seeds:
                    err.add(f"runs: dataset {ds!r} config {config!r} has {n} seed(s); at least {min_seeds} are needed")
    err.raise_if_any("submission")


def content_hash(sub: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace): formatting cannot hide a duplicate."""
    return hashlib.sha256(json.dumps(sub, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()).hexdigest()


def submission_slug(sub: Mapping[str, Any]) -> str:
    """File stem ``<method>-<version>``, slugified: no separators, ``..``, NUL or absolute paths."""
    try:
        return slugify(f"{sub['method']}-{sub['method_version']}")
    except CnlbenchError as exc:
        raise SubmissionError(f"method/method_version cannot name a file: {exc}") from exc


def _safe_dest(folder: Path, slug: str) -> Path:
    dest = (folder / f"{slug}.json").resolve()
    if dest.parent != folder.resolve():
        raise SubmissionError(f"submission name {slug!r} escapes {folder}; rename the method")
    return dest


@dataclass(frozen=True)
class Accepted:
    path: Path
    slug: str
    content_hash: str
    n_runs: int


def accept_submission(
    path: str | Path,
    leaderboard_dir: str | Path,
    published: Mapping[str, PublishedDataset],
    *,
    min_seeds: int = MIN_SEEDS,
    max_bytes: int = MAX_BYTES,
) -> Accepted:
    """Run every check and write the accepted file to ``<leaderboard_dir>/submissions/<slug>.json``.

    Refuses a submission identical in content to an accepted one, or with the same method
    and version. The written file is the canonical JSON (sorted keys, indented), atomically.
    """
    if not (_is_int(min_seeds) and min_seeds >= 1):
        raise SubmissionError(f"--min-seeds {min_seeds!r} must be an integer >= 1 (default {MIN_SEEDS})")
    for folder in (Path(leaderboard_dir), Path(leaderboard_dir) / "submissions"):
        if folder.exists() and not folder.is_dir():
            raise SubmissionError(f"--leaderboard: {folder} is a file, not a folder; pass the leaderboard folder "
                                  "(submissions are written to LEADERBOARD/submissions/)")
    sub = load_submission(path, max_bytes=max_bytes)
    validate_submission(sub)
    if not published:
        raise SubmissionError(
            "no published manifests to check the runs' fingerprints against; pass the built dataset "
            "folder(s) with --manifests DIR"
        )
    check_runs(sub, published, min_seeds=min_seeds)
    folder = Path(leaderboard_dir) / "submissions"
    slug = submission_slug(sub)
    dest = _safe_dest(folder, slug)
    digest = content_hash(sub)
    key = (sub["method"].strip().lower(), sub["method_version"].strip().lower())
    for other_path, other in _iter_accepted(folder):
        if content_hash(other) == digest:
            raise SubmissionError(f"submission duplicates the accepted {other_path.name} (same content); nothing to do")
        if (str(other.get("method", "")).strip().lower(), str(other.get("method_version", "")).strip().lower()) == key:
            raise SubmissionError(
                f"method {sub['method']!r} version {sub['method_version']!r} is already accepted as {other_path.name}; "
                "bump method_version for new results"
            )
    if dest.exists():
        raise SubmissionError(f"{dest} already exists; bump method_version or rename the method")
    text = json.dumps(sub, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"
    atomic_write_text(dest, text)
    return Accepted(dest, slug, digest, len(sub["runs"]))


def _iter_accepted(folder: Path) -> Iterable[tuple[Path, dict[str, Any]]]:
    if not folder.is_dir():
        return
    for p in sorted(folder.glob("*.json")):
        try:
            yield p, load_submission(p)
        except (SubmissionError, OSError):
            continue


def load_accepted(folder: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Result rows of every valid submission in ``folder``, and a note per file skipped as invalid."""
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    folder = Path(folder)
    if not folder.is_dir():
        return rows, skipped
    for p in sorted(folder.glob("*.json")):
        try:
            sub = load_submission(p)
            validate_submission(sub)
        except (SubmissionError, OSError) as exc:
            skipped.append(f"{p.name}: {str(exc).splitlines()[0]}")
            continue
        rows.extend(submission_rows(sub))
    return rows, skipped


def submission_rows(sub: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A validated submission's runs as normalised result rows marked ``submitted=True``."""
    out = []
    for run in sub["runs"]:
        metrics = {k: (v if v is not None else math.nan) for k, v in run["metrics"].items()}
        raw = {
            "dataset": run["dataset"], "config": run["config"], "seed": run["seed"],
            "method": sub["method"], "model": run.get("model", ""), "epochs": run.get("epochs"),
            "manifest_fingerprint": run["manifest_fingerprint"], "wall_time_s": run["wall_time_s"],
            "cnlbench_version": sub["cnlbench_version"], "device": run.get("device", sub["hardware"]),
            "status": "ok", **metrics,
        }
        row = normalise_row(raw)
        row["submitted"] = True
        row["method_version"] = sub["method_version"]
        out.append(row)
    return out


def make_submission(results_rows: Iterable[Mapping[str, Any]], meta: Mapping[str, Any]) -> dict[str, Any]:
    """A submission dict from harness result rows (``status == "ok"`` only) and metadata.

    ``meta``: ``method`` (defaults to the rows' only method), ``method_version`` (default
    ``"1"``), ``authors`` (list), ``code_url``, optional ``paper_url``, ``description``,
    ``contact``, ``hardware`` (default: the rows' devices), ``cnlbench_version`` (default: this
    package). Rows of other methods are left out. The result passes :func:`validate_submission`
    (raises otherwise); write it with ``json.dumps(sub, allow_nan=False)``.
    """
    rows = [normalise_row(dict(r)) for r in results_rows]
    rows = [r for r in rows if r["status"] == "ok"]
    methods = sorted({r["method"] for r in rows})
    method = meta.get("method") or (methods[0] if len(methods) == 1 else None)
    if method is None:
        raise SubmissionError(f"results hold methods {methods}; set meta['method'] to the one to submit")
    rows = [r for r in rows if r["method"] == method] if method in methods else rows
    runs = []
    for r in rows:
        metrics = {k: r[k] for k in REQUIRED_METRICS}
        metrics.update({k: r[k] for k in OPTIONAL_METRICS if math.isfinite(r[k])})
        run: dict[str, Any] = {
            "dataset": r["dataset"], "config": r["config"], "seed": r["seed"], "metrics": metrics,
            "manifest_fingerprint": r["manifest_fingerprint"], "wall_time_s": r["wall_time_s"],
        }
        if r["model"]:
            run["model"] = r["model"]
        if r["epochs"] is not None:
            run["epochs"] = r["epochs"]
        if r["method_params"]:
            try:
                params = json.loads(r["method_params"])
            except ValueError:
                params = None
            if isinstance(params, dict):
                run["method_params"] = params
        if r["device"]:
            run["device"] = r["device"][:100]
        runs.append(run)
    devices = sorted({r["device"] for r in rows if r["device"]})
    sub: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "method": method,
        "method_version": str(meta.get("method_version", "1")),
        "authors": list(meta.get("authors", [])),
        "code_url": meta.get("code_url", ""),
        "paper_url": meta.get("paper_url"),
        "cnlbench_version": str(meta.get("cnlbench_version", __version__)),
        "hardware": str(meta.get("hardware") or ", ".join(devices) or "unknown"),
        "runs": runs,
    }
    for k in ("description", "contact"):
        if meta.get(k):
            sub[k] = meta[k]
    validate_submission(sub)
    return sub
