"""Hostile inputs to the run side: `cnlbench eval` arguments, results stores, submissions.

Every case asserts a named error (a CnlbenchError subclass whose message names the bad value)
AND that nothing was written: the watched folders (the test's folder, the dataset) hold the
same files with the same bytes before and after. Nothing here trains a network: each refusal
comes before the first run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from cnlbench.cli import build_parser
from cnlbench.errors import (
    CnlbenchError,
    DamagedPartError,
    DeviceError,
    HarnessError,
    StoreLockedError,
    SubmissionError,
    UnreadableResultsError,
)
from cnlbench.harness.store import STORE_FILE, ResultsStore, empty_row

@pytest.fixture()
def digits(digits_dir: Path) -> Path:
    """The digits default build (tests/conftest.py); every case checks it is left unchanged."""
    return digits_dir


def _snapshot(*roots: Path) -> dict[str, str]:
    """Every file and folder under ``roots``: path -> sha256 of its bytes ("dir" for folders)."""
    snap: dict[str, str] = {}
    for root in roots:
        if root.is_file():
            snap[str(root)] = hashlib.sha256(root.read_bytes()).hexdigest()
            continue
        for folder, dirs, files in os.walk(root):
            snap[folder] = "dir"
            for name in files:
                p = Path(folder) / name
                snap[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "special"
    return snap


def refused(call: Callable[[], Any], error: type[CnlbenchError], names: list[str], watch: list[Path]) -> str:
    """``call()`` raises ``error`` (a CnlbenchError) naming every string of ``names``, and the
    folders/files in ``watch`` are byte-for-byte unchanged. Returns the message."""
    assert issubclass(error, CnlbenchError)
    before = _snapshot(*watch)
    with pytest.raises(error) as err:
        call()
    msg = str(err.value)
    for name in names:
        assert name in msg, (name, msg)
    assert len(msg) < 2000, "a message should name the value, not dump it"
    assert _snapshot(*watch) == before, "a refused command wrote something"
    return msg


def _cli(argv: list[str]) -> int:
    """Run a verb as `cnlbench ARGV` does, but let its error propagate so its class is checked."""
    args = build_parser().parse_args(argv)
    return int(args.run_verb(args) or 0)


# -- cnlbench eval: arguments ---------------------------------------------------------------

def _no_cuda_device() -> str:
    import torch

    return f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


EVAL_CASES = [
    # (extra argv, error, names in the message)
    (["--methods", "ce", "--configs", ","], HarnessError, ["--configs"]),
    (["--methods", "", "--configs", "sym-00"], HarnessError, ["--methods"]),
    (["--methods", "ce", "--configs", "sym-00", "--seeds", "99999999999999999999"], HarnessError,
     ["99999999999999999999"]),
    (["--methods", "ce", "--configs", "sym-00", "--seeds", "0,99999999999999999999"], HarnessError,
     ["99999999999999999999", "2**63"]),
    (["--methods", "ce", "--configs", "sym-00", "--seeds", "1,1"], HarnessError, ["[1]", "twice"]),
    (["--methods", "ce", "--configs", "sym-00", "--seeds", "3,-1"], HarnessError, ["-1"]),
    (["--methods", "ce", "--configs", "sym-00", "--seeds", "three"], HarnessError, ["'three'"]),
    (["--methods", "ce,ce", "--configs", "sym-00"], HarnessError, ["'ce'", "twice"]),
    (["--methods", "gce", "--configs", "sym-00", "--param", "gce.q=abc"], HarnessError, ["gce.q", "abc"]),
    (["--methods", "gce", "--configs", "sym-00", "--param", "gce.q=NaN"], HarnessError, ["gce.q", "nan"]),
    (["--methods", "coteaching", "--configs", "sym-00", "--param", "coteaching.ramp_epochs=2.5"], HarnessError,
     ["coteaching.ramp_epochs", "integer"]),
    (["--methods", "gce", "--configs", "sym-00", "--param", "gce.nope=1"], HarnessError, ["nope", "valid parameters"]),
    (["--methods", "gce", "--configs", "sym-00", "--param", "gce.q"], HarnessError, ["'gce.q'"]),
    (["--methods", "ce", "--configs", "sym-00", "--param", "gce.q=0.5"], HarnessError, ["'gce'", "--methods"]),
    (["--methods", "ce", "--configs", "sym-00", "--epochs", "0"], HarnessError, ["--epochs 0"]),
    (["--methods", "ce", "--configs", "sym-00", "--batch-size", "-5"], HarnessError, ["--batch-size -5"]),
    (["--methods", "ce", "--configs", "sym-00", "--lr", "nan"], HarnessError, ["--lr nan"]),
    (["--methods", "ce", "--configs", "sym-00", "--lr", "-0.1"], HarnessError, ["--lr -0.1"]),
    (["--methods", "ce", "--configs", "sym-00", "--jobs", "0"], HarnessError, ["--jobs 0"]),
    (["--methods", "ce", "--configs", "sym-00", "--pack", "0"], HarnessError, ["--pack 0"]),
    (["--methods", "ce", "--configs", "sym-00", "--pack", "2", "--jobs", "2"], HarnessError, ["--pack 2", "--jobs 2"]),
    (["--methods", "ce", "--configs", "sym-00", "--device", "tpu"], DeviceError, ["'tpu'"]),
    (["--methods", "ce", "--configs", "sym-00", "--device", "xla"], DeviceError, ["'xla'"]),
    (["--methods", "ce", "--configs", "sym-00", "--device", "<no cuda>"], DeviceError, ["<no cuda>"]),
    (["--methods", "ce", "--configs", "noise-*"], HarnessError, ["'noise-*'", "valid configs"]),
    (["--methods", "ce", "--configs", "sym-00", "--model", "vgg"], HarnessError, ["'vgg'"]),
    (["--methods", "ce,gce", "--configs", "sym-00", "--submission", "<tmp>/s.json", "--authors", "A",
      "--code-url", "https://example.org"], SubmissionError, ["one method", "'gce'"]),
    (["--methods", "ce", "--configs", "sym-00", "--submission", "<tmp>/s.json"], SubmissionError,
     ["authors", "code_url"]),
    (["--methods", "ce", "--configs", "sym-00", "--submission", "<tmp>", "--authors", "A",
      "--code-url", "https://example.org"], SubmissionError, ["--submission"]),
    (["--methods", "ce", "--configs", "sym-00", "--submission", "<tmp>/s.json", "--authors", "A",
      "--code-url", "javascript:alert(1)"], SubmissionError, ["javascript:alert(1)"]),
]


@pytest.mark.parametrize("extra,error,names", EVAL_CASES, ids=lambda v: " ".join(v) if isinstance(v, list) and
                         v and isinstance(v[0], str) and v[0].startswith("--") else None)
def test_eval_refuses_bad_arguments_before_writing_anything(digits, tmp_path, extra, error, names) -> None:
    device = _no_cuda_device()
    extra = [a.replace("<tmp>", str(tmp_path)).replace("<no cuda>", device) for a in extra]
    names = [n.replace("<no cuda>", device) for n in names]
    argv = ["eval", str(digits), "--out", str(tmp_path / "results"), "--no-progress", "--device", "cpu", *extra]
    refused(lambda: _cli(argv), error, names, [tmp_path, digits])
    assert not (tmp_path / "results").exists()


def test_eval_refuses_a_file_as_out(digits, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    argv = ["eval", str(digits), "--methods", "ce", "--configs", "sym-00", "--seeds", "1", "--device", "cpu",
            "--out", str(tmp_path / "notes.txt")]
    refused(lambda: _cli(argv), HarnessError, ["notes.txt", "not a folder"], [tmp_path, digits])


def test_eval_refuses_a_foreign_folder_as_out(digits, tmp_path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("mine")
    argv = ["eval", str(digits), "--methods", "ce", "--configs", "sym-00", "--seeds", "1", "--device", "cpu",
            "--out", str(tmp_path / "mine")]
    refused(lambda: _cli(argv), HarnessError, ["mine", "thesis.tex", "not empty"], [tmp_path, digits])


# -- cnlbench eval: results stores ------------------------------------------------------------

def _store(folder: Path) -> Path:
    store = ResultsStore(folder)
    row = empty_row()
    row.update(run_id="a" * 64, dataset="digits", config="sym-00", method="ce", seed=0, status="ok")
    store.write(row)
    return folder


def _eval_into(digits: Path, out: Path) -> Callable[[], int]:
    argv = ["eval", str(digits), "--methods", "ce", "--configs", "sym-00", "--seeds", "1", "--epochs", "1",
            "--device", "cpu", "--no-progress", "--out", str(out)]
    return lambda: _cli(argv)


_HOLD = """
import sys, time
from cnlbench.harness.store import ResultsStore
with ResultsStore(sys.argv[1]).locked():
    print("locked", flush=True)
    time.sleep(600)
"""


def test_eval_into_a_store_another_writer_holds_is_refused_naming_it(digits, tmp_path) -> None:
    out = _store(tmp_path / "r")
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        refused(_eval_into(digits, out), StoreLockedError, [f"process {proc.pid}", str(out)], [tmp_path, digits])
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("content,names", [
    (b'{"schema_version": 1, "datas', [STORE_FILE, "not valid JSON"]),
    (b"[1, 2, 3]", [STORE_FILE, "not a cnlbench results record"]),
    (b'{"schema_version": 99, "cnlbench_version": "9.9", "datasets": {}}', ["schema version 99", "9.9"]),
    (b'{"schema_version": 1, "datasets": {"digits": {"sym-00": "' + b"0" * 64 + b'"}}}', ["sym-00", "0" * 64]),
])
def test_eval_refuses_a_store_json_it_cannot_trust(digits, tmp_path, content, names) -> None:
    out = _store(tmp_path / "r")
    meta = json.loads((out / STORE_FILE).read_text())
    if b'"schema_version": 1' in content:  # keep this build's own schema version
        content = content.replace(b'"schema_version": 1', f'"schema_version": {meta["schema_version"]}'.encode())
    (out / STORE_FILE).write_bytes(content)
    refused(_eval_into(digits, out), HarnessError, names, [tmp_path, digits])


def test_reading_a_store_with_a_damaged_part_names_it_and_moves_nothing(tmp_path) -> None:
    out = _store(tmp_path / "r")
    part = out / "parts" / f"{'a' * 64}.parquet"
    part.write_bytes(part.read_bytes()[:50])
    refused(lambda: ResultsStore(out, create=False).read(), DamagedPartError, [part.name, "Re-run"], [tmp_path])


def test_a_results_file_named_directly_that_cannot_be_read_is_named(tmp_path) -> None:
    from cnlbench.board.results import read_results

    bad = tmp_path / "results.parquet"
    bad.write_bytes(b"PAR1 not really")
    refused(lambda: read_results([bad]), UnreadableResultsError, [str(bad)], [tmp_path])


def test_a_store_path_through_a_file_is_refused(tmp_path) -> None:
    (tmp_path / "f").write_text("mine")
    refused(lambda: ResultsStore(tmp_path / "f" / "results"), HarnessError, ["f/results"], [tmp_path])


# -- cnlbench submit ---------------------------------------------------------------------------

CONFIGS = ("sym-00", "sym-20")


def _fp(config: str) -> str:
    return hashlib.sha256(f"toy/{config}".encode()).hexdigest()


def _valid_submission() -> dict[str, Any]:
    from cnlbench.board.submission import make_submission

    rows = []
    for config in CONFIGS:
        for seed in range(3):
            row = empty_row()
            row.update(run_id=f"{config}-{seed}", dataset="toy", config=config, method="gce", seed=seed,
                       test_acc_final=0.8, test_acc_best_val=0.81, manifest_fingerprint=_fp(config),
                       wall_time_s=1.0, status="ok", epochs=2)
            rows.append(row)
    return make_submission(rows, {"method": "gce", "authors": ["A. Author"], "code_url": "https://example.org/gce"})


@pytest.fixture()
def board(tmp_path: Path) -> dict[str, Path]:
    built = tmp_path / "built"
    built.mkdir()
    (built / "cnlbench-build.json").write_text(json.dumps(
        {"name": "toy", "configs": {c: {"fingerprint": _fp(c)} for c in CONFIGS}}))
    return {"built": built, "lb": tmp_path / "lb"}


def _submit(path: Path, board: dict[str, Path], *extra: str) -> Callable[[], int]:
    argv = ["submit", str(path), "--leaderboard", str(board["lb"]), "--manifests", str(board["built"]), *extra]
    return lambda: _cli(argv)


def _mutated(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    sub = _valid_submission()
    change(sub)
    return sub


SUBMISSION_CASES = [
    # (file content: bytes or a mutated submission, names in the message)
    (b'{"schema_version": 1, "runs": [', ["not valid JSON", "truncated"]),
    (b"[1, 2, 3]", ["top level is a JSON array"]),
    (b'{"a": 1, "a": 2}', ["'a' appears twice"]),
    (b"\xff\xfe{}", ["not UTF-8"]),
    (b"[" * 100_000 + b"]" * 100_000, ["nests JSON too deeply"]),
    (b'{"schema_version": ' + b"9" * 5000 + b"}", ["integer too long"]),
    (lambda s: s["runs"][0].update(seed="0"), ["runs[0].seed", "'0'"]),
    (lambda s: s["runs"][1].update(seed=2**64), ["runs[1].seed", str(2**64)]),
    (lambda s: s["runs"][2]["metrics"].update(test_acc_final=float("nan")), ["runs[2].metrics.test_acc_final", "nan"]),
    (lambda s: s["runs"][3]["metrics"].update(test_acc_best_val=float("inf")), ["runs[3].metrics.test_acc_best_val", "inf"]),
    (lambda s: s["runs"][4]["metrics"].update(test_acc_final=87.5), ["runs[4].metrics.test_acc_final", "87.5", "percentage"]),
    (lambda s: s["runs"][5]["metrics"].update(test_acc_final=-0.1), ["runs[5].metrics.test_acc_final", "-0.1"]),
    (lambda s: s.update(runs={"0": 1}), ["runs must be a non-empty array"]),
    (lambda s: s.update(method="../../../../etc/passwd\n"), ["method", "control characters"]),
    (lambda s: s.update(method="../..", method_version="/"), ["cannot name a file"]),
    (lambda s: s.update(code_url="file:///etc/passwd"), ["code_url", "file:///etc/passwd"]),
    (lambda s: s["runs"][0].update(manifest_fingerprint="f" * 64), ["runs[0].manifest_fingerprint", "sym-00"]),
    (lambda s: s["runs"].pop(), ["sym-20", "2 seed(s)"]),
]


SUBMISSION_IDS = ["truncated", "top-level-array", "duplicate-key", "not-utf8", "deep-nesting", "5000-digit-int",
                  "seed-string", "seed-2**64", "nan-metric", "inf-metric", "percent-metric", "negative-metric",
                  "runs-object", "control-chars", "path-only-name", "file-url", "wrong-fingerprint", "missing-seed"]


@pytest.mark.parametrize("content,names", SUBMISSION_CASES, ids=SUBMISSION_IDS)
def test_submit_refuses_hostile_files_writing_nothing(tmp_path, board, content, names) -> None:
    path = tmp_path / "sub.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(json.dumps(_mutated(content), allow_nan=True))
    refused(_submit(path, board), SubmissionError, names, [tmp_path])
    assert not board["lb"].exists()


def test_submit_refuses_a_huge_file_before_reading_it(tmp_path, board) -> None:
    from cnlbench.board.submission import MAX_BYTES

    path = tmp_path / "huge.json"
    with open(path, "wb") as fh:
        fh.truncate(MAX_BYTES + 1)  # sparse: no 10 MB written to disk
    refused(_submit(path, board), SubmissionError, ["huge.json", "limit"], [tmp_path])


@pytest.mark.parametrize("target", ["folder", "/dev/zero"])
def test_submit_refuses_what_is_not_a_regular_file(tmp_path, board, target) -> None:
    path = tmp_path / "sub.json" if target == "folder" else Path(target)
    if target == "folder":
        path.mkdir()
    refused(_submit(path, board), SubmissionError, [str(path), "not a regular file"], [tmp_path])


def test_submit_refuses_a_file_as_the_leaderboard_or_manifests_and_a_bad_min_seeds(tmp_path, board) -> None:
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(_valid_submission()))
    board["lb"].write_text("a file")
    refused(_submit(path, board), SubmissionError, [str(board["lb"]), "not a folder"], [tmp_path])
    board["lb"].unlink()
    refused(_submit(path, {**board, "built": board["built"] / "cnlbench-build.json"}), SubmissionError,
            ["cnlbench-build.json", "not a folder"], [tmp_path])
    refused(_submit(path, board, "--min-seeds", "0"), SubmissionError, ["--min-seeds 0"], [tmp_path])
    assert _submit(path, board)() == 0  # the same file, with sane arguments, is accepted
