"""`cnlbench demo` (the README's main job) end to end, at a tiny scale."""

from __future__ import annotations

from cnlbench.cli import main


def test_demo_builds_sweeps_and_reports(tmp_path, repo_root, capsys, monkeypatch):
    monkeypatch.chdir(repo_root)
    out = tmp_path / "out"
    rc = main(["demo", "--out", str(out), "--configs", "sym-00,sym-40", "--methods", "ce",
               "--seeds", "2", "--epochs", "1", "--jobs", "1", "--device", "cpu"])
    assert rc == 0
    text = capsys.readouterr().out
    # the build summary lists every config with requested and realised rates
    assert "sym-40" in text and "realised train" in text
    # the sweep table: one row per method, one column per level, a 95% interval per cell
    assert "digits / sym" in text and "0%" in text and "40%" in text and "±" in text
    assert (out / "digits" / "README.md").is_file()
    assert (out / "leaderboard" / "index.html").is_file()
    # re-running resumes: nothing is trained again
    rc = main(["demo", "--out", str(out), "--configs", "sym-00,sym-40", "--methods", "ce",
               "--seeds", "2", "--epochs", "1", "--jobs", "1", "--device", "cpu"])
    assert rc == 0
    assert "0 runs now, 4 already done" in capsys.readouterr().out
