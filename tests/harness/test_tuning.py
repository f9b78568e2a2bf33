"""Tuning on equal terms: grids, selection on the noisy validation split, the tuned-settings
file, ``eval --tuned`` and run identity."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnlbench.errors import HarnessError
from cnlbench.harness.identity import HARNESS_NUMERICS_VERSION, run_id
from cnlbench.harness.train_config import TrainConfig
from cnlbench.harness.methods.base import get_method
from cnlbench.harness.sweep import plan_sweep, plan_tuning, run_tuning
from cnlbench.harness.tuning import (
    LR_AXIS,
    LR_ONLY_AXIS,
    MAX_SETTINGS,
    TRIALS_PER_METHOD,
    TUNED_FORMAT,
    load_tuned,
    method_grid,
    select_best,
    standard_error,
    SELECTION_RULE,
    summarise,
    tuning_config,
    write_tuned,
)


# -- grids ---------------------------------------------------------------------------------
def test_every_method_gets_the_same_number_of_trials():
    from cnlbench.harness.methods.base import method_names

    for m in method_names():
        grid = method_grid(m)
        assert len(grid) == TRIALS_PER_METHOD, m
        assert grid[0].lr_mult == 1.0  # defaults first (ties go to them)
        assert dict(grid[0].params) == {k: v[0] for k, v in get_method(m).tuning_grid.items()}
        for st in grid:  # every tuned parameter exists on the method
            assert set(st.params) <= set(get_method(m).defaults), m


#: Every built-in method's grid as it was when the grids moved into the method files (issue 13):
#: the grids decide which trials run and their run ids, so none may change by accident. A
#: method not listed has no grid (the learning-rate-only axis).
EXPECTED_GRIDS = {
    "backward-that": {"percentile": [97.0, 99.0, 100.0]},
    "forward-that": {"percentile": [97.0, 99.0, 100.0]},
    "bootstrap-hard": {"beta": [0.8, 0.6, 0.9]},
    "bootstrap-soft": {"beta": [0.95, 0.8, 0.9]},
    "confidence-penalty": {"beta": [0.125, 0.05, 0.5]},
    "coteaching": {"ramp_epochs": [10, 5, 20]},
    "dac": {"warmup_epochs": [None, 2, 5]},
    "dac-protocol": {"warmup_epochs": [None, 2, 5]},
    "derivative-manipulation": {"beta": [12.0, 6.0, 18.0]},
    "gce": {"q": [0.7, 0.4, 0.9]},
    "gce-truncated": {"q": [0.7, 0.4, 0.9]},
    "label-smoothing": {"epsilon": [0.1, 0.05, 0.3]},
    "mentormix": {"alpha": [None, 2.0, 8.0]},
    "mixup": {"alpha": [1.0, 0.4, 4.0]},
    "proselflc": {"B": [6.0, 12.0, 16.0]},
    "s-model": {"prior_noise": [0.46, 0.3, 0.6]},
    "sce": {"a": [None, 0.1, 0.5]},
}


def test_every_builtin_grid_is_unchanged():
    """Same parameters, values, types and order (defaults first) as the table they came from;
    a variant (proselflc-detached, ce-wd, ...) does not inherit its parent's grid."""
    from cnlbench.harness.methods.base import method_names

    grids = {m: get_method(m).tuning_grid for m in method_names()}
    assert {m: repr(g) for m, g in grids.items() if g} == {m: repr(g) for m, g in EXPECTED_GRIDS.items()}
    assert grids["proselflc-detached"] == {} and grids["ce-wd"] == {} and grids["ce-dropout"] == {}


def test_parameter_free_methods_get_the_lr_only_axis():
    assert sorted(s.lr_mult for s in method_grid("ce")) == sorted(LR_ONLY_AXIS)
    gce = method_grid("gce")
    assert sorted({s.lr_mult for s in gce}) == sorted(LR_AXIS)
    assert sorted({s.params["q"] for s in gce}) == [0.4, 0.7, 0.9]


def test_two_parameter_grid_is_defaults_plus_one_change_at_a_time():
    grid = method_grid("derivative-manipulation", {"beta": [12.0, 8.0], "lam": [0.5, 0.3], "lr_mult": [1.0]})
    assert [dict(s.params) for s in grid] == [{"beta": 12.0, "lam": 0.5}, {"beta": 8.0, "lam": 0.5},
                                             {"beta": 12.0, "lam": 0.3}]


@pytest.mark.parametrize("grid, match", [
    ({"qq": [0.5]}, "unknown parameter"),
    ({"q": []}, "empty"),
    ({"q": 0.5}, "not a list"),
    ({"q": [0.1, 0.2, 0.3, 0.4, 0.5], "lr_mult": [0.5, 1, 2]}, "at most 12"),
    ({"q": [0.5], "lr_mult": [-1.0]}, "positive"),
])
def test_bad_grids_are_named_errors(grid, match):
    with pytest.raises(HarnessError, match=match):
        method_grid("gce", grid)


def test_more_than_two_parameters_refused():
    with pytest.raises(HarnessError, match="at most two"):
        method_grid("gce-truncated", {"q": [0.7], "k": [0.5], "every": [10]})


def test_grid_cap_is_twelve():
    assert MAX_SETTINGS == 12
    assert len(method_grid("gce", {"q": [0.4, 0.7, 0.9], "lr_mult": [0.5, 1, 2, 4]})) == 12


# -- choosing the tuning config and the best trial -------------------------------------------
def test_tuning_config_is_the_mid_level_per_kind():
    kind_of = {"sym-00": ("sym", 0.0), "sym-30": ("sym", 0.3), "sym-40": ("sym", 0.4), "web-50": ("web", 0.5),
               "web-00": ("web", 0.0), "cifar10n-worst": ("cifar10n-worst", None)}
    assert tuning_config(list(kind_of), kind_of) == {"sym": "sym-40", "web": "web-50",
                                                    "cifar10n-worst": "cifar10n-worst"}
    assert tuning_config(["sym-00"], {"sym-00": ("sym", 0.0)}) == {}


def test_select_best_uses_noisy_validation_and_prefers_earlier_on_ties():
    trials = [{"status": "ok", "val_acc_best": 0.8, "i": 0}, {"status": "ok", "val_acc_best": 0.9, "i": 1},
              {"status": "ok", "val_acc_best": 0.9, "i": 2}, {"status": "failed", "val_acc_best": 0.99, "i": 3},
              {"status": "ok", "val_acc_best": math.nan, "i": 4}]
    assert select_best(trials)["i"] == 1
    assert select_best([{"status": "failed", "val_acc_best": math.nan}]) is None


def test_one_standard_error_rule_keeps_the_reference_unless_the_split_can_tell():
    # n_val = 180 at accuracy 0.56: one standard error = sqrt(.56 * .44 / 180) = 0.0370
    assert standard_error(0.56, 180) == pytest.approx(math.sqrt(0.56 * 0.44 / 180))
    ref = {"status": "ok", "val_acc_best": 0.544, "i": 0}
    close = [ref, {"status": "ok", "val_acc_best": 0.561, "i": 1}, {"status": "ok", "val_acc_best": 0.517, "i": 2}]
    assert select_best(close, 180)["i"] == 0  # 0.561 - 0.544 = 1.7 points < 3.7: noise, keep the defaults
    assert select_best(close)["i"] == 1  # the plain arg-max would chase it
    far = [{"status": "ok", "val_acc_best": 0.422, "i": 0}, {"status": "ok", "val_acc_best": 0.583, "i": 1}]
    assert select_best(far, 180)["i"] == 1  # 16 points > one standard error (3.7): the split can tell
    # exactly one standard error below the best is still kept
    edge = 0.6 - standard_error(0.6, 100)
    assert select_best([{"status": "ok", "val_acc_best": edge, "i": 0},
                        {"status": "ok", "val_acc_best": 0.6, "i": 1}], 100)["i"] == 0
    # a failed reference point: the best ok trial
    assert select_best([{"status": "failed", "val_acc_best": math.nan, "i": 0},
                        {"status": "ok", "val_acc_best": 0.3, "i": 1}], 180)["i"] == 1


# -- the tuned-settings file ---------------------------------------------------------------
def _doc(**kinds):
    return {"format": TUNED_FORMAT, "dataset": "digits", "model": "digits-cnn", "kinds": kinds}


def _kind(config, **methods):
    return {"config": config, "methods": {m: {"chosen": c} for m, c in methods.items()}}


def test_tuned_file_apply_and_errors(tmp_path):
    path = write_tuned(_doc(sym=_kind("sym-40", gce={"lr_mult": 3.0, "params": {"q": 0.4}},
                                      ce={"lr_mult": 0.3, "params": {}}, mae=None)), tmp_path / "t.json")
    tuned = load_tuned(path)
    params, lr, record = tuned.apply("gce", "sym", 0.05, {})
    assert params == {"q": 0.4} and lr == pytest.approx(0.15)
    assert json.loads(record) == {"kind": "sym", "config": "sym-40", "dataset": "digits",
                                  "lr_mult": 3.0, "params": {"q": 0.4}}
    # the record is the setting, not the file's bytes: a re-written file keeps the run ids
    doc = json.loads(path.read_text())
    doc["created"] = "another time"
    assert load_tuned(write_tuned(doc, tmp_path / "t2.json")).apply("gce", "sym", 0.05, {})[2] == record
    with pytest.raises(HarnessError, match="contradicts"):
        tuned.apply("gce", "sym", 0.05, {"q": 0.9})
    with pytest.raises(HarnessError, match="no noise kind 'web'"):
        tuned.apply("gce", "web", 0.05, {})
    with pytest.raises(HarnessError, match="no method 'mixup'"):
        tuned.apply("mixup", "sym", 0.05, {})
    with pytest.raises(HarnessError, match="failed on every setting"):
        tuned.apply("mae", "sym", 0.05, {})
    with pytest.raises(HarnessError, match="made for dataset 'digits', not 'cifar10'"):
        tuned.check("cifar10", ["gce"], "digits-cnn")
    with pytest.raises(HarnessError, match="made for model"):
        tuned.check("digits", ["gce"], "fastnet")
    with pytest.raises(HarnessError, match=r"no method\(s\) \['mixup'\]"):
        tuned.check("digits", ["gce", "mixup"], "digits-cnn")


@pytest.mark.parametrize("content, match", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "not a cnlbench tuned-settings file"),
    (json.dumps({"format": "other"}).encode(), "not a cnlbench tuned-settings file"),
    (json.dumps({"format": TUNED_FORMAT, "kinds": {}}).encode(), "lacks 'dataset'"),
    (b"\xff\xfe", "not valid JSON"),
])
def test_bad_tuned_files_are_named_errors(tmp_path, content, match):
    p = tmp_path / "t.json"
    p.write_bytes(content)
    with pytest.raises(HarnessError, match=match):
        load_tuned(p)
    with pytest.raises(HarnessError, match="does not exist"):
        load_tuned(tmp_path / "missing.json")


def test_summarise_records_choice_cost_and_trials():
    plan = {"dataset": "digits", "model": "digits-cnn", "train": {"epochs": 3}, "kinds": {"sym": "sym-40"},
            "fingerprints": {"sym-40": "f"}, "seeds": [1000],
            "trials": {"a": ("sym", "ce", {"lr_mult": 1.0, "params": {}}),
                       "b": ("sym", "ce", {"lr_mult": 3.0, "params": {}}),
                       "c": ("sym", "gce", {"lr_mult": 1.0, "params": {"q": 0.7}})}}
    rows = [{"run_id": "a", "status": "ok", "val_acc_best": 0.5, "wall_time_s": 2.0},
            {"run_id": "b", "status": "ok", "val_acc_best": 0.7, "wall_time_s": 2.0},
            {"run_id": "c", "status": "failed", "val_acc_best": math.nan, "wall_time_s": 1.0}]
    doc = summarise(rows, plan)
    assert doc["kinds"]["sym"]["methods"]["ce"]["chosen"] == {"lr_mult": 3.0, "params": {}}
    assert doc["kinds"]["sym"]["methods"]["gce"]["chosen"] is None
    assert doc["cost"]["runs"] == 3 and doc["cost"]["per_method"]["gce"]["relative_to_ce"] == pytest.approx(0.25)
    assert SELECTION_RULE == doc["selection"]
    # 0.7 vs 0.5: on 20 examples one standard error of 0.7 is 0.102 < 0.2, so the best is chosen
    assert summarise(rows, {**plan, "n_val": {"sym": 20}})["kinds"]["sym"]["methods"]["ce"]["chosen"]["lr_mult"] == 3.0
    # on 4 examples it is 0.229 > 0.2: the reference point (lr x1) is kept
    assert summarise(rows, {**plan, "n_val": {"sym": 4}})["kinds"]["sym"]["methods"]["ce"]["chosen"]["lr_mult"] == 1.0


def test_summarise_scores_a_setting_by_its_mean_over_seeds():
    s1, s3 = {"lr_mult": 1.0, "params": {}}, {"lr_mult": 3.0, "params": {}}
    plan = {"dataset": "digits", "model": "digits-cnn", "train": {"epochs": 3}, "kinds": {"sym": "sym-40"},
            "n_val": {"sym": 10_000}, "fingerprints": {"sym-40": "f"}, "seeds": [1000, 1001],
            "trials": {"a0": ("sym", "ce", s1), "a1": ("sym", "ce", s1), "b0": ("sym", "ce", s3), "b1": ("sym", "ce", s3)}}
    rows = [{"run_id": "a0", "status": "ok", "val_acc_best": 0.60, "wall_time_s": 1.0},
            {"run_id": "a1", "status": "ok", "val_acc_best": 0.50, "wall_time_s": 1.0},
            {"run_id": "b0", "status": "ok", "val_acc_best": 0.58, "wall_time_s": 1.0},
            {"run_id": "b1", "status": "ok", "val_acc_best": 0.58, "wall_time_s": 1.0}]
    entry = summarise(rows, plan)["kinds"]["sym"]["methods"]["ce"]
    assert [t["val_acc_best"] for t in entry["trials"]] == pytest.approx([0.55, 0.58])
    assert entry["trials"][0]["val_acc_seeds"] == pytest.approx([0.60, 0.50])
    assert entry["chosen"] == s3  # 0.58 beats 0.55 by more than one SE on 10,000 examples (0.005)
    # a setting with one failed seed is not ok
    rows[3] = {"run_id": "b1", "status": "failed", "val_acc_best": math.nan, "wall_time_s": 1.0}
    entry = summarise(rows, plan)["kinds"]["sym"]["methods"]["ce"]
    assert entry["trials"][1]["status"] == "failed" and entry["chosen"] == s1


# -- run identity --------------------------------------------------------------------------
def test_run_id_covers_resolved_defaults_tuning_and_numerics_version(monkeypatch):
    cfg = TrainConfig(epochs=3)
    base = run_id("fp", "sym-40", "gce", {}, "digits-cnn", 0, cfg)
    # an explicit parameter equal to the default is the same run
    assert run_id("fp", "sym-40", "gce", {"q": 0.7}, "digits-cnn", 0, cfg) == base
    assert run_id("fp", "sym-40", "gce", {}, "digits-cnn", 0, cfg, tuning="{}") != base
    # a changed default changes the id: old rows are never reused silently
    monkeypatch.setitem(get_method("gce").defaults, "q", 0.5)
    assert run_id("fp", "sym-40", "gce", {}, "digits-cnn", 0, cfg) != base
    monkeypatch.undo()
    import cnlbench.harness.identity as identity

    monkeypatch.setattr(identity, "HARNESS_NUMERICS_VERSION", HARNESS_NUMERICS_VERSION + 1)
    assert run_id("fp", "sym-40", "gce", {}, "digits-cnn", 0, cfg) != base


# -- tuning and eval --tuned end to end on the digits build ---------------------------------
def test_plan_tuning_one_config_per_kind_and_true_t_only_with_a_matrix(digits_dir):
    plan, specs = plan_tuning(digits_dir, ["ce", "forward"], ["sym-*", "web-*"], epochs=1, device="cpu")
    assert plan["kinds"] == {"sym": "sym-40", "web": "web-40"}
    assert {s.config for s in specs if s.method == "forward"} == {"sym-40"}  # web has no T
    assert len(specs) == 9 * 2 + 9
    assert all(s.seed == 1000 for s in specs)
    assert len({s.run_id for s in specs}) == len(specs)


def test_plan_tuning_rejects_grids_for_other_methods(digits_dir):
    with pytest.raises(HarnessError, match="not in --methods"):
        plan_tuning(digits_dir, ["ce"], ["sym-*"], grids={"gce": {"q": [0.5]}}, epochs=1, device="cpu")


def test_tune_then_eval_tuned(digits_dir, tmp_path):
    grids = {"ce": {"lr_mult": [1.0, 2.0]}, "gce": {"q": [0.7], "lr_mult": [1.0]}}
    result, doc = run_tuning(digits_dir, ["ce", "gce"], tmp_path / "tune", tmp_path / "tuned.json",
                             configs=["sym-40"], grids=grids, epochs=1, device="cpu", progress=False)
    assert result.written == 3 and not result.failed
    tuned = load_tuned(tmp_path / "tuned.json")
    assert tuned.data["kinds"]["sym"]["methods"]["ce"]["chosen"]["lr_mult"] in (1.0, 2.0)
    _, _, specs = plan_sweep(digits_dir, ["ce", "gce"], ["sym-20"], 2, epochs=1, device="cpu", tuned=tuned)
    ce = [s for s in specs if s.method == "ce"]
    mult = tuned.data["kinds"]["sym"]["methods"]["ce"]["chosen"]["lr_mult"]
    assert all(s.train.lr == pytest.approx(0.05 * mult) for s in ce)
    assert all(json.loads(s.tuning)["kind"] == "sym" for s in specs)
    # resumable: a second call trains nothing
    again, _ = run_tuning(digits_dir, ["ce", "gce"], tmp_path / "tune", tmp_path / "tuned.json",
                          configs=["sym-40"], grids=grids, epochs=1, device="cpu", progress=False)
    assert again.written == 0 and again.skipped == 3
    with pytest.raises(HarnessError, match="no noise kind 'web'"):
        plan_sweep(digits_dir, ["ce"], ["web-20"], 1, epochs=1, device="cpu", tuned=tuned)


def test_tune_killed_with_sigkill_resumes_without_loss_or_duplicates(digits_dir, tmp_path):
    out = tmp_path / "tune"
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"ce": {"lr_mult": [1.0, 2.0, 0.5, 0.25]}}))
    cmd = [sys.executable, "-c", "import sys; from cnlbench.cli import main; sys.exit(main())", "tune", str(digits_dir), "--methods", "ce", "--configs", "sym-40",
           "--epochs", "2", "--device", "cpu", "--out", str(out), "--grid", str(grid), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = out / "parts"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if parts.is_dir() and len([p for p in parts.glob("*.parquet") if not p.name.startswith(".")]) >= 1:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    files = [p for p in parts.glob("*.parquet") if not p.name.startswith(".")]
    assert len(files) == 4  # every trial exactly once
    doc = json.loads((out / "tuned.json").read_text())
    assert len(doc["kinds"]["sym"]["methods"]["ce"]["trials"]) == 4


# -- the CLI: bad input is a named error and writes nothing ----------------------------------
@pytest.mark.parametrize("grid_text, message", [
    ('{"gce": {"qq": [0.5]}}', "unknown parameter"),
    ("{}", "empty or not a mapping"),
    ('{"gce": {"q": []}}', "empty or not a list"),
    ('{"mixup": {"alpha": [1.0]}}', "not in --methods"),
    ("gce: [unclosed", "not valid YAML/JSON"),
])
def test_tune_cli_refuses_bad_grids_and_writes_nothing(digits_dir, tmp_path, capsys, grid_text, message):
    from cnlbench.cli import main

    grid = tmp_path / "grid.yaml"
    grid.write_text(grid_text)
    out = tmp_path / "tune"
    assert main(["tune", str(digits_dir), "--methods", "gce", "--grid", str(grid), "--epochs", "1",
                 "--device", "cpu", "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_eval_cli_refuses_a_tuned_file_of_another_dataset(digits_dir, tmp_path, capsys):
    from cnlbench.cli import main

    path = write_tuned({"format": TUNED_FORMAT, "dataset": "cifar10", "model": "digits-cnn",
                        "kinds": {"sym": _kind("sym-40", ce={"lr_mult": 1.0, "params": {}})}}, tmp_path / "t.json")
    out = tmp_path / "runs"
    assert main(["eval", str(digits_dir), "--methods", "ce", "--configs", "sym-40", "--seeds", "1", "--epochs", "1",
                 "--device", "cpu", "--tuned", str(path), "--out", str(out), "--no-progress"]) == 2
    assert "made for dataset 'cifar10', not 'digits'" in capsys.readouterr().err
    assert not out.exists()
