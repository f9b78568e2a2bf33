"""`cnlbench eval --submission` writes a file that `cnlbench submit` accepts, end to end."""

from __future__ import annotations

import json

import pytest

from cnlbench.cli import main
from cnlbench.errors import SubmissionError


def test_eval_writes_a_submission_that_submit_accepts(tmp_path, repo_root, capsys):
    data = str(repo_root / "manifests" / "digits")
    sub = tmp_path / "ce.json"
    rc = main(["eval", data, "--methods", "ce", "--configs", "sym-*", "--seeds", "3", "--epochs", "1",
               "--device", "cpu", "--out", str(tmp_path / "runs"), "--no-progress", "--submission", str(sub),
               "--authors", "A. Author, B. Author", "--code-url", "https://example.org/ce"])
    assert rc == 0
    doc = json.loads(sub.read_text())
    assert doc["method"] == "ce" and doc["authors"] == ["A. Author", "B. Author"]
    assert len(doc["runs"]) == 30 and {r["config"] for r in doc["runs"]} == {f"sym-{p:02d}" for p in
                                                                            (0, 5, 10, 15, 20, 30, 40, 50, 60, 80)}
    assert "cnlbench submit" in capsys.readouterr().out
    rc = main(["submit", str(sub), "--manifests", data, "--leaderboard", str(tmp_path / "lb")])
    assert rc == 0
    assert list((tmp_path / "lb" / "submissions").glob("*.json"))


def test_submission_needs_a_single_method(tmp_path, repo_root):
    import argparse

    from cnlbench.cli.eval import write_submission

    data = str(repo_root / "manifests" / "digits")
    with pytest.raises(SubmissionError, match="one method"):
        write_submission([{"method": "ce"}, {"method": "gce"}],
                         argparse.Namespace(submission=str(tmp_path / "x.json"), dataset=data, authors="",
                                            code_url="", paper_url=None, method_version="1"))
