"""The leaderboard folder end to end through the CLI, including an empty and a partial store."""

from __future__ import annotations

import json

import pytest
from board_fixtures import toy_rows, write_store

from cnlbench.cli import main


def test_cli_leaderboard_writes_every_file(tmp_path, capsys):
    store = write_store(tmp_path / "results", toy_rows())
    out = tmp_path / "lb"
    rc = main(["leaderboard", "--results", str(store), "--out", str(out), "--reps", "100", "--no-plots",
               "--n-test", "toy=10000", "--metric", "test_acc_final"])
    assert rc == 0
    assert "2 table(s) from 69 result row(s); 2 failed run(s) excluded" in capsys.readouterr().out
    md = (out / "README.md").read_text(encoding="utf-8")
    assert "clean test accuracy of the final model (`test_acc_final`)" in md
    assert "spread BETWEEN levels" in md and "NOISY validation" in md
    data = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))
    sym = next(t for t in data["tables"] if t["noise_kind"] == "sym")
    ce = next(r for r in sym["rows"] if r["method"] == "ce")
    # test_acc_final = test_acc_best_val - 0.01 in the fixture: 0.59, 0.61, 0.63 at 40%
    assert ce["cells"]["sym-40"]["estimate"] == pytest.approx(0.61)
    assert ce["cells"]["sym-40"]["values"] == pytest.approx([0.59, 0.61, 0.63])
    gce = next(r for r in sym["rows"] if r["method"] == "gce")
    assert gce["cells"]["sym-80"]["half_width"] is None  # n=1: no interval, stored as null


def test_empty_and_partial_stores_render(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["leaderboard", "--results", str(empty), "--out", str(tmp_path / "a"), "--reps", "10"]) == 0
    assert "_No finished runs yet._" in (tmp_path / "a" / "README.md").read_text(encoding="utf-8")
    assert (tmp_path / "a" / "index.html").stat().st_size > 0
    only_failed = [r for r in toy_rows() if r["status"] == "failed"]
    store = write_store(tmp_path / "failed", only_failed)
    assert main(["leaderboard", "--results", str(store), "--out", str(tmp_path / "b"), "--reps", "10"]) == 0
    md = (tmp_path / "b" / "README.md").read_text(encoding="utf-8")
    assert "2 failed runs" in md and not list((tmp_path / "b").glob("plots/*.png"))


def test_cli_errors_name_the_fix(tmp_path, capsys):
    assert main(["leaderboard", "--results", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["leaderboard", "--out", str(tmp_path / "x"), "--n-test", "toy"]) == 2
    assert "DATASET=SIZE" in capsys.readouterr().err


def test_every_builtin_method_has_a_family_and_a_description():
    from cnlbench.board.references import METHOD_FAMILIES, method_info, method_infos
    from cnlbench.harness.methods import method_names

    assert set(method_names()) == set(method_infos())  # every built-in declares a family
    for name in method_names():
        info = method_info(name)
        assert info.family in METHOD_FAMILIES and info.summary
        assert all(u.startswith("https://") for u in (info.paper, info.code) if u)
    assert method_info("my-own-method").family == "other"
    assert method_info("GCE v2") == method_info("gce") and method_info("gce").code_official is False


def test_a_users_method_is_other_unless_it_declares_a_family():
    """What the board shows comes from the method's class: a registered method of your own is
    family ``other`` without links (a subclass does not pass for its parent) until it declares
    its family, summary and paper; a family the board does not know is shown as ``other``."""
    from cnlbench.board.plots import method_styles
    from cnlbench.board.references import MethodInfo, method_info, method_infos
    from cnlbench.harness.methods.base import METHODS, get_method, register_method

    @register_method
    class Mine(get_method("ce")):
        name = "h7-mine"

    @register_method
    class Declared(get_method("ce")):
        name = "h7-declared"
        family, summary, paper = "robust loss", "a loss of my own", "https://example.org/paper"

    @register_method
    class Odd(get_method("ce")):
        name = "h7-odd"
        family, summary = "regularization", "a misspelt family"

    try:
        assert method_info("h7-mine") == MethodInfo("other", "")
        assert method_info("h7-declared") == MethodInfo("robust loss", "a loss of my own", "https://example.org/paper")
        assert method_info("h7-odd").family == "other"
        assert "h7-declared" in method_infos() and "h7-mine" not in method_infos()
        before = method_styles(["ce", "gce", "savage", "h7-mine"])
        after = method_styles(["ce", "gce", "savage", "h7-mine", "h7-declared"])
        assert {k: after[k] for k in before} == before  # a new method changes no other style
        assert after["h7-declared"].marker == after["gce"].marker != before["h7-mine"].marker
    finally:
        for name in ("h7-mine", "h7-declared", "h7-odd"):
            METHODS.remove(name)


def _summary_rows(md: str, kind: str) -> dict[str, list[str]]:
    block = md.split(f"### toy — {kind} noise: summary")[1].split("###")[0]
    rows = [ln.strip("|").split(" | ") for ln in block.splitlines() if ln.startswith("| ") and "Rank" not in ln]
    return {r[1].strip(): [c.strip() for c in r] for r in rows}


def test_summary_ranks_flags_and_honest_intervals(tmp_path):
    from board_fixtures import make_row

    rows = toy_rows()
    # a method that never learns (10 points below CE at 0%): flagged with its reason, unranked
    rows += [make_row("toy", "sym", lvl, "savage", s, 0.80 - 0.1 * lvl + 0.01 * s)
             for lvl in (0.0, 0.2, 0.4, 0.8) for s in (0, 1, 2)]
    # two seeds only, one near 100%: the t interval would pass 100%
    rows += [make_row("toy", "sym", lvl, "mixup", s, min(1.0, 0.99 - 0.05 * lvl + 0.02 * s))
             for lvl in (0.0, 0.2, 0.4, 0.8) for s in (0, 1)]
    out = tmp_path / "lb"
    assert main(["leaderboard", "--results", str(write_store(tmp_path / "r", rows)), "--out", str(out),
                 "--reps", "50", "--no-plots", "--commit", "abc1234", "--date", "2025-01-31",
                 "--status", "INCOMPLETE: 10 of 20 planned runs"]) == 0
    md = (out / "README.md").read_text(encoding="utf-8")
    assert "- **Commit:** abc1234" in md and "- **Date:** 2025-01-31" in md
    assert "- **Status:** INCOMPLETE: 10 of 20 planned runs" in md
    summary = _summary_rows(md, "sym")
    sav = next(v for k, v in summary.items() if k.startswith("[savage]"))
    assert sav[0] == "—" and "not converged: at 0% noise 81.0% vs CE 90.0%" in sav[-1]
    ranks = [v[0] for v in summary.values()]
    assert ranks[:2] == ["1", "2"] and "—" in ranks  # coteaching (3/4 levels) and savage unranked
    mix = next(v for k, v in summary.items() if k.startswith("[mixup]"))
    assert mix[3].endswith("⚠")  # bootstrap over 2 seeds: flagged, not shown as trustworthy
    assert "Too few seeds for a trustworthy interval (gce, mixup)" in md  # gce: one n=1 cell
    # mixup at 0%: 0.99, 1.00 -> 99.5 ± 6.4 would pass 100: shown clipped, with the note
    assert "99.5 [93.1, 100.0]" in md and "Intervals are clipped to [0, 100]" in md
    assert "100.0 ±" not in md and not any(f"{v} ±" in md for v in ("101", "102", "103", "104", "105"))
    data = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))
    assert set(data["protocol_flags"]["toy/sym"]) == {"savage"}


def test_eval_list_methods_needs_no_other_flag(capsys):
    from cnlbench.board.references import method_info
    from cnlbench.harness.methods import method_names

    with pytest.raises(SystemExit) as exc:
        main(["eval", "--list-methods"])
    assert exc.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(method_names())
    by_name = {ln.split()[0]: ln for ln in lines}
    assert set(by_name) == set(method_names())
    assert "robust loss" in by_name["gce"] and "Zhang & Sabuncu" in by_name["gce"]
    assert all(method_info(n).family in ln for n, ln in by_name.items())


def test_a_re_render_deletes_only_the_figures_it_no_longer_draws(tmp_path):
    from cnlbench.board.leaderboard import write_leaderboard

    rows = [r for r in toy_rows() if r["status"] == "ok"]
    out = tmp_path / "lb"
    both = write_store(tmp_path / "both", rows)
    write_leaderboard([both], out, reps=10)
    web_figures = {p.name for p in (out / "plots").glob("*web*")}
    assert web_figures  # the toy store has web rows
    (out / "plots" / "notes.txt").write_text("mine")  # not a figure: never touched
    sym_only = write_store(tmp_path / "sym", [r for r in rows if r["noise_kind"] != "web"])
    res = write_leaderboard([sym_only], out, reps=10)
    assert {p.name for p in res.removed_plots} >= web_figures
    assert not list((out / "plots").glob("*web*"))
    assert (out / "plots" / "notes.txt").read_text() == "mine"
    assert {p.name for p in (out / "plots").glob("*.png")} == {p.name for p in res.files if p.suffix == ".png"}


def _tuned_doc(dataset: str = "toy") -> dict:
    trial = lambda lr, q: {"lr_mult": lr, "params": {"q": q}, "status": "ok", "val_acc_best": 0.5}  # noqa: E731
    return {"format": "cnlbench-tuned/1", "dataset": dataset, "kinds": {
        "sym": {"config": "sym-40", "n_val": 180, "methods": {
            "gce": {"chosen": {"lr_mult": 1.0, "params": {"q": 0.7}},
                    "trials": [trial(lr, q) for lr in (0.3, 1.0, 3.0) for q in (0.4, 0.7, None)]},
            "ce": {"chosen": {"lr_mult": 1.0, "params": {}},
                   "trials": [{"lr_mult": m, "params": {}, "status": "ok"} for m in (0.1, 1.0, 10.0)]}}},
        "web": {"config": "web-40", "n_val": 180, "methods": {
            "ce": {"chosen": {"lr_mult": 1.0, "params": {}},
                   "trials": [{"lr_mult": m, "params": {}, "status": "ok"} for m in (0.1, 1.0, 10.0, 3.2)]}}}}}


def test_header_states_the_tuning_grid_from_the_tuned_file(tmp_path):
    tuned = tmp_path / "tuned.json"
    tuned.write_text(json.dumps(_tuned_doc()), encoding="utf-8")
    out = tmp_path / "lb"
    assert main(["leaderboard", "--results", str(write_store(tmp_path / "r", toy_rows())), "--out", str(out),
                 "--reps", "50", "--no-plots", "--tuned", str(tuned)]) == 0
    md = (out / "README.md").read_text(encoding="utf-8")
    line = next(ln for ln in md.splitlines() if ln.startswith("- **Tuning grid:**"))
    # the union over noise kinds of what was tried, per method; None (a method's own default) kept
    assert line == ("- **Tuning grid:** 3/4/9 trials per method and noise kind on sym-40, web-40 (180 noisy "
                    "validation images): ce: lr x{0.1, 1, 3.2, 10}; gce: lr x{0.3, 1, 3} x q {0.4, 0.7, None}")
    # without --tuned there is no grid line; a file that is not a tuned-settings file is a named error
    assert main(["leaderboard", "--results", str(write_store(tmp_path / "r2", toy_rows())), "--out",
                 str(tmp_path / "lb2"), "--reps", "50", "--no-plots"]) == 0
    assert "Tuning grid" not in (tmp_path / "lb2" / "README.md").read_text(encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}', encoding="utf-8")
    assert main(["leaderboard", "--results", str(write_store(tmp_path / "r3", toy_rows())), "--out",
                 str(tmp_path / "lb3"), "--no-plots", "--tuned", str(bad)]) == 2


def test_training_line_names_what_all_runs_share_and_what_varies():
    from cnlbench.board.leaderboard import provenance

    base = {"batch_size": 128, "lr": 0.05, "schedule": "cosine", "momentum": 0.9, "weight_decay": 1e-4}
    rows = [{"dataset": "toy", "config": "sym-40", "method": f"m{i}", "seed": 0, "status": "ok",
             "train_config": json.dumps({**base, "lr": 0.05 * mult})} for i, mult in enumerate((0.3, 1, 3, 10))]
    training = dict(provenance(rows, []))["Training"]
    assert training == ("batch 128, schedule cosine, momentum 0.9, weight decay 0.0001; varies by run: "
                        "lr (4 values, 0.015 to 0.5) (4 different training settings)")
    assert dict(provenance(rows[:2], []))["Training"] == ("batch 128, lr 0.015, schedule cosine, momentum 0.9, "
                                                          "weight decay 0.0001; batch 128, lr 0.05, schedule cosine, "
                                                          "momentum 0.9, weight decay 0.0001")
