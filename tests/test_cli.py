"""The command line: every verb has a working --help, and errors are clear, not tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cnlbench.cli import _verb_modules, main

VERBS = sorted(m.NAME for m in _verb_modules())
EXPECTED = {"build", "demo", "eval", "export-hf", "leaderboard", "push", "reproduce", "submit"}


def test_every_verb_of_the_contract_exists():
    assert EXPECTED <= set(VERBS)


def test_top_level_help_lists_every_verb(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for verb in VERBS:
        assert verb in out


@pytest.mark.parametrize("verb", VERBS)
def test_verb_help(verb, capsys):
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: cnlbench {verb}" in out
    assert len(out.splitlines()) > 5  # a real explanation, not just the usage line


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "cnlbench", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("cnlbench ")


def test_bad_input_is_an_error_message_not_a_traceback(tmp_path, capsys):
    rc = main(["build", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "missing.yaml" in err and "Traceback" not in err


def test_help_text_shows_single_percent_signs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "%%" not in capsys.readouterr().out
