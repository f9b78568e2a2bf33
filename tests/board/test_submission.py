"""Submissions: every refusal names its field; an accepted one end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from board_fixtures import fingerprint, toy_rows

from cnlbench.board.submission import (
    PublishedDataset,
    accept_submission,
    load_submission,
    make_submission,
    published_fingerprints,
    validate_submission,
)
from cnlbench.cli import main
from cnlbench.errors import SubmissionError

CONFIGS = [f"{k}-{p:02d}" for k in ("sym", "web") for p in (0, 20, 40, 80)]
META = {"method": "gce", "method_version": "1.0", "authors": ["A. Author"], "code_url": "https://example.org/code",
        "paper_url": "https://arxiv.org/abs/1805.07836", "hardware": "1x test CPU"}


def _published() -> dict[str, PublishedDataset]:
    return {"toy": PublishedDataset("toy", {c: fingerprint("toy", c) for c in CONFIGS})}


def _sub(**changes) -> dict:
    # ce's toy runs, submitted under the name "GCE" (so the board test can recognise the numbers)
    rows = [r for r in toy_rows() if r["method"] == "ce"]
    sub = make_submission(rows, {**META, "method": "ce"})
    sub["method"] = "GCE"
    sub.update(changes)
    return sub


def _write(tmp_path: Path, sub: dict | str, name: str = "sub.json") -> Path:
    p = tmp_path / name
    p.write_text(sub if isinstance(sub, str) else json.dumps(sub), encoding="utf-8")
    return p


def _refused(tmp_path: Path, sub: dict | str, match: str, published=None) -> None:
    with pytest.raises(SubmissionError, match=match):
        accept_submission(_write(tmp_path, sub), tmp_path / "lb", _published() if published is None else published)
    assert not list((tmp_path / "lb").glob("submissions/*.json"))


def test_make_submission_roundtrip():
    sub = _sub()
    validate_submission(sub)
    assert sub["schema_version"] == 1 and len(sub["runs"]) == 24
    run = sub["runs"][0]
    assert set(run["metrics"]) >= {"test_acc_final", "test_acc_best_val", "ece"}
    assert "auroc_noise" not in run["metrics"]  # NaN (undefined) metrics are left out, not written as NaN
    json.dumps(sub, allow_nan=False)


def test_make_submission_needs_a_method_when_results_mix():
    with pytest.raises(SubmissionError, match="meta\\['method'\\]"):
        make_submission(toy_rows(), {k: v for k, v in META.items() if k != "method"})


def test_accepts_valid(tmp_path):
    acc = accept_submission(_write(tmp_path, _sub()), tmp_path / "lb", _published())
    assert acc.path == (tmp_path / "lb" / "submissions" / "gce-1.0.json").resolve()
    assert load_submission(acc.path) == _sub()


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda s: s["runs"][3]["metrics"].update(test_acc_final=float("nan")), r"runs\[3\]\.metrics\.test_acc_final is nan"),
        (lambda s: s["runs"][2]["metrics"].update(ece=float("inf")), r"runs\[2\]\.metrics\.ece is inf"),
        (lambda s: s["runs"][1]["metrics"].update(test_acc_best_val=91.2), r"runs\[1\]\.metrics\.test_acc_best_val = 91.2 is outside \[0, 1\].*percentage"),
        (lambda s: s["runs"][0]["metrics"].update(ece=-0.1), r"runs\[0\]\.metrics\.ece = -0.1 is outside"),
        (lambda s: s["runs"][0]["metrics"].update(test_acc_final="0.9"), r"runs\[0\]\.metrics\.test_acc_final must be a number"),
        (lambda s: s["runs"][5]["metrics"].pop("test_acc_best_val"), r"runs\[5\]\.metrics\.test_acc_best_val is missing"),
        (lambda s: s["runs"][0]["metrics"].update(top5=0.9), r"runs\[0\]\.metrics\.top5 is not a field"),
        (lambda s: s["runs"][4].update(seed=-1), r"runs\[4\]\.seed must be a non-negative integer"),
        (lambda s: s["runs"][4].update(seed=True), r"runs\[4\]\.seed must be a non-negative integer"),
        (lambda s: s["runs"][0].update(manifest_fingerprint="abc"), r"runs\[0\]\.manifest_fingerprint must be the 64-hex"),
        (lambda s: s["runs"][0].update(wall_time_s=-3), r"runs\[0\]\.wall_time_s must be a finite"),
        (lambda s: s.pop("code_url"), r"code_url is missing"),
        (lambda s: s.update(paper_url="javascript:alert(1)"), r"paper_url = .* is not an http\(s\) URL"),
        (lambda s: s.update(authors=[]), r"authors must be a non-empty array"),
        (lambda s: s.update(schema_version=2), r"schema_version = 2 is not supported"),
        (lambda s: s.update(method="bad\x00name"), r"method contains control characters"),
        (lambda s: s.update(extra=1), r"extra is not a field of schema version 1"),
        (lambda s: s.update(runs=[]), r"runs must be a non-empty array"),
    ],
)
def test_refuses_bad_fields(tmp_path, mutate, match):
    sub = _sub()
    mutate(sub)
    _refused(tmp_path, json.dumps(sub), match)  # json.dumps writes NaN/Infinity literals: they must be caught


def test_refuses_fingerprint_mismatch_naming_the_config(tmp_path):
    sub = _sub()
    i = next(i for i, r in enumerate(sub["runs"]) if r["config"] == "web-40")
    sub["runs"][i]["manifest_fingerprint"] = "0" * 64
    _refused(tmp_path, sub, rf"runs\[{i}\]\.manifest_fingerprint: dataset 'toy' config 'web-40' was trained on a different split")


def test_refuses_unknown_config_and_dataset(tmp_path):
    sub = _sub()
    sub["runs"][0]["config"] = "sym-45"
    sub["runs"][1]["dataset"] = "other"
    _refused(tmp_path, sub, r"runs\[0\]\.config 'sym-45' is not a config of dataset 'toy'")
    _refused(tmp_path, sub, r"runs\[1\]\.dataset 'other' is not a published dataset")


def test_refuses_too_few_seeds_and_uncovered_configs(tmp_path):
    sub = _sub()
    sub["runs"] = [r for r in sub["runs"] if not (r["config"] == "sym-20" and r["seed"] == 2)]
    _refused(tmp_path, sub, r"config 'sym-20' has 2 seed\(s\); at least 3 are needed")
    sub = _sub()
    sub["runs"] = [r for r in sub["runs"] if r["config"] != "web-80"]
    _refused(tmp_path, sub, r"config 'web-80' has no run; a submission covers every config of each noise kind")
    # reporting only the sym kind is fine: coverage is per noise kind reported
    sub = _sub()
    sub["runs"] = [r for r in sub["runs"] if r["config"].startswith("sym")]
    accept_submission(_write(tmp_path, sub), tmp_path / "lb", _published())


def test_refuses_repeated_seed(tmp_path):
    sub = _sub()
    sub["runs"].append(dict(sub["runs"][0]))
    _refused(tmp_path, sub, r"runs\[24\] repeats dataset 'toy' config 'sym-00' seed 0 of runs\[0\]")


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"schema_version": 1, "runs": [', "not valid JSON .*truncated"),
        ("{'method': 'x'}", "not valid JSON"),
        ("", "is empty"),
        ("[1, 2]", "top level is a JSON array"),
        ('{"method": "a", "method": "b"}', "key 'method' appears twice"),
        ("[" * 100_000 + "]" * 100_000, "nests JSON too deeply|not valid JSON"),
    ],
)
def test_refuses_malformed(tmp_path, text, match):
    _refused(tmp_path, text, match)


def test_refuses_non_utf8_and_oversized(tmp_path):
    p = tmp_path / "latin1.json"
    p.write_bytes(b'{"method": "caf\xe9"}')
    with pytest.raises(SubmissionError, match="not UTF-8"):
        load_submission(p)
    big = _write(tmp_path, _sub(description="x" * 100), "big.json")
    with pytest.raises(SubmissionError, match="over the 1,000-byte limit"):
        load_submission(big, max_bytes=1_000)
    with pytest.raises(SubmissionError, match="over the"):
        accept_submission(big, tmp_path / "lb", _published(), max_bytes=1_000)


def test_refuses_duplicates(tmp_path):
    accept_submission(_write(tmp_path, _sub()), tmp_path / "lb", _published())
    # the same content, reformatted: still a duplicate
    with pytest.raises(SubmissionError, match="duplicates the accepted gce-1.0.json"):
        accept_submission(_write(tmp_path, json.dumps(_sub(), indent=4), "again.json"), tmp_path / "lb", _published())
    # new numbers under the same method and version (case-insensitive)
    sub = _sub(method="gce", hardware="another machine")
    with pytest.raises(SubmissionError, match="already accepted as gce-1.0.json; bump method_version"):
        accept_submission(_write(tmp_path, sub, "v.json"), tmp_path / "lb", _published())
    accept_submission(_write(tmp_path, _sub(method_version="1.1"), "v11.json"), tmp_path / "lb", _published())
    assert sorted(p.name for p in (tmp_path / "lb" / "submissions").iterdir()) == ["gce-1.0.json", "gce-1.1.json"]


@pytest.mark.parametrize(
    "method, version, slug",
    [
        ("../../etc/passwd", "1", "etc-passwd-1"),
        ("/abs/path", "..", "abs-path"),
        ("Co-teaching+ (ResNet)", "2.0", "co-teaching-resnet-2.0"),
        ("..\\..\\win", "1", "win-1"),
    ],
)
def test_path_tricks_are_slugified_inside_the_folder(tmp_path, method, version, slug):
    acc = accept_submission(_write(tmp_path, _sub(method=method, method_version=version)), tmp_path / "lb", _published())
    assert acc.path.name == f"{slug}.json"
    assert acc.path.parent == (tmp_path / "lb" / "submissions").resolve()


def test_name_without_letters_refused(tmp_path):
    _refused(tmp_path, _sub(method="../", method_version="/"), "cannot name a file")


def test_refuses_without_published_manifests(tmp_path):
    _refused(tmp_path, _sub(), "pass the built dataset folder", published={})


def _fake_build(folder: Path) -> Path:
    folder.mkdir(parents=True)
    record = {"name": "toy", "configs": {c: {"kind": c.split("-")[0], "fingerprint": fingerprint("toy", c)} for c in CONFIGS}}
    (folder / "cnlbench-build.json").write_text(json.dumps(record))
    return folder


def test_published_fingerprints_from_build_record(tmp_path):
    pub = published_fingerprints(_fake_build(tmp_path / "built"))
    assert pub.name == "toy" and pub.fingerprints["web-40"] == fingerprint("toy", "web-40")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SubmissionError, match="no readable config fingerprints"):
        published_fingerprints(tmp_path / "empty")
    # asked to verify, the recorded (unverified) fingerprints of a folder without its Parquet files are refused
    with pytest.raises(SubmissionError, match="cannot recompute the config fingerprints"):
        published_fingerprints(tmp_path / "built", recompute=True)


def test_cli_submit_end_to_end_and_leaderboard(tmp_path, capsys):
    from board_fixtures import write_store

    built = _fake_build(tmp_path / "built")
    lb = tmp_path / "lb"
    path = _write(tmp_path, _sub())
    assert main(["submit", str(path), "--leaderboard", str(lb), "--manifests", str(built)]) == 0
    out = capsys.readouterr().out
    dest = lb / "submissions" / "gce-1.0.json"
    assert dest.is_file() and f"git add {dest.resolve()}" in out
    # a second time: refused, exit status 2, the reason on stderr
    assert main(["submit", str(path), "--leaderboard", str(lb), "--manifests", str(built)]) == 2
    assert "duplicates the accepted" in capsys.readouterr().err
    # the leaderboard shows the submission beside the harness results, marked as submitted
    store = write_store(tmp_path / "results", toy_rows())
    assert main(["leaderboard", "--results", str(store), "--out", str(lb), "--reps", "50", "--no-plots"]) == 0
    md = (lb / "README.md").read_text(encoding="utf-8")
    assert "| GCE 1.0 † |" in md and "† submitted" in md
    # the submitted runs are ce's numbers: its 40% cell equals ce's
    row = next(line for line in md.splitlines() if line.startswith("| GCE 1.0 †") and "62.0 ± 5.0" in line)
    assert row


def test_json_schema_matches_the_validator():
    from importlib.resources import files

    from cnlbench.board import submission as s

    schema = json.loads(files("cnlbench.board").joinpath("submission_schema.json").read_text(encoding="utf-8"))
    assert schema["properties"]["schema_version"]["const"] == s.SCHEMA_VERSION
    assert set(schema["required"]) == set(s._TOP_REQUIRED)
    assert set(schema["properties"]) == set(s._TOP_REQUIRED) | set(s._TOP_OPTIONAL)
    run = schema["$defs"]["run"]
    assert set(run["required"]) == set(s._RUN_REQUIRED)
    assert set(run["properties"]) == set(s._RUN_REQUIRED) | set(s._RUN_OPTIONAL)
    metrics = run["properties"]["metrics"]
    assert set(metrics["required"]) == set(s.REQUIRED_METRICS)
    assert set(metrics["properties"]) == set(s.REQUIRED_METRICS) | set(s.OPTIONAL_METRICS)
