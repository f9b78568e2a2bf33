"""Byte-identical builds across fresh processes; the committed default reproduces exactly."""

from __future__ import annotations

from pathlib import Path

BUILD = "from cnlbench.manifest import build_from_recipe\nbuild_from_recipe({recipe!r}, {out!r})\n"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_fresh_processes_build_identical_bytes(tmp_path, recipe, python_run):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name / "ds"
        proc = python_run(BUILD.format(recipe=recipe(), out=str(out)), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs.append(_files(out))
    assert outs[0].keys() == outs[1].keys() and len(outs[0]) == 11
    for name in outs[0]:
        assert outs[0][name] == outs[1][name], name


def test_committed_digits_manifests_are_reproduced_byte_for_byte(repo_root, tmp_path):
    from cnlbench.manifest import build_from_recipe

    committed = repo_root / "manifests" / "digits"
    assert (committed / "cnlbench-build.json").is_file(), "manifests/digits is missing; run `cnlbench build recipes/digits.yaml --out manifests/digits`"
    rebuilt = build_from_recipe(repo_root / "recipes" / "digits.yaml", tmp_path / "digits").out
    want, got = _files(committed), _files(rebuilt)
    assert sorted(got) == sorted(want)
    mismatched = [name for name in want if want[name] != got[name]]
    assert not mismatched, f"rebuild differs in {mismatched}; regenerate with `cnlbench build recipes/digits.yaml --out manifests/digits`"
    assert sum(len(b) for b in want.values()) < 5 * 2**20
