"""Reproductions: --list, the per-scale plans, the comparison arithmetic, the full-scale
refusals, and a smoke end-to-end run (digits, 1 epoch) that prints the side-by-side table."""

from __future__ import annotations

import fnmatch
import json
import math
from pathlib import Path

import numpy as np
import pytest

from cnlbench.board import reproduce as R
from cnlbench.cli import main
from cnlbench.errors import CnlbenchError
from cnlbench.harness.methods import method_names

NAMES = ("patrini2017", "jiang2020", "thulasidasan2019-dac", "thulasidasan2019-mixup")


def test_list_names_every_reproduction_with_citation_and_scales(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for name, arxiv in zip(NAMES, ("1609.03683", "1911.09781", "1905.10964", "1905.11001")):
        assert f"\n{name}\n" in f"\n{out}"
        assert f"arXiv:{arxiv}" in out
    assert out.count("--scale reduced") == len(NAMES)
    assert out.count("--scale full") == len(NAMES)
    assert "compare the ordering" in out


def test_registry_names_match_and_unknown_name_is_refused():
    assert tuple(R.reproduction_names()) == NAMES
    with pytest.raises(CnlbenchError, match="valid names"):
        R.get_reproduction("patrini2018")


def test_no_name_and_no_list_is_an_error(capsys):
    assert main(["reproduce"]) == 2
    assert "--list" in capsys.readouterr().err


EXPECTED_REDUCED = {
    "patrini2017": dict(
        recipe="repro-patrini2017-digits.yaml", configs=("sym-00", "sym-20", "asym-20", "asym-60"),
        methods={"ce", "unhinged", "sigmoid", "savage", "bootstrap-soft", "bootstrap-hard", "backward",
                 "forward", "backward-that", "forward-that"}),
    "jiang2020": dict(recipe="digits.yaml", configs=("sym-*", "web-*"), methods={"ce", "mixup", "mentormix"}),
    "thulasidasan2019-dac": dict(recipe="repro-thulasidasan2019-dac-digits.yaml",
                                 configs=("randcls-10", "blur-20", "smudge-10"), methods={"ce", "dac"}),
    "thulasidasan2019-mixup": dict(recipe="repro-patrini2017-digits.yaml", configs=("sym-00", "sym-20"),
                                   methods={"ce", "mixup"}),
}


@pytest.mark.parametrize("name", NAMES)
def test_reduced_plan(name, repo_root):
    plan = R.get_reproduction(name).plan("reduced")
    want = EXPECTED_REDUCED[name]
    assert plan.recipe == want["recipe"] and (repo_root / "recipes" / plan.recipe).is_file()
    assert plan.configs == want["configs"]
    assert set(plan.methods) == want["methods"]
    assert plan.dataset == "digits" and not plan.needs_gpu
    assert plan.seeds >= 1 and plan.epochs is not None and plan.epochs <= 20
    assert "reduced: digits" in plan.statement and "compare the ordering" in plan.statement


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scale", R.SCALES)
def test_every_scale_names_registered_methods_and_an_existing_recipe(name, scale, repo_root):
    plan = R.get_reproduction(name).plan(scale)
    assert set(plan.methods) <= set(method_names())
    assert (repo_root / "recipes" / plan.recipe).is_file()
    assert plan.statement.startswith(f"{scale}:")
    if scale == "full":
        assert plan.needs_gpu and plan.dataset == "cifar10" and plan.data_key == "root"
        assert "CIFAR-10, GPU" in plan.statement
    if scale == "smoke":
        assert plan.epochs == 1 and plan.seeds == 1


def test_patrini_configs_exist_in_its_digits_build(tmp_path):
    """The reduced plan's configs are exactly configs the recipe builds (no glob misses)."""
    plan = R.get_reproduction("patrini2017").plan("reduced")
    recipe = R.effective_recipe(plan, tmp_path)
    from cnlbench.manifest.recipe import config_name

    built = [config_name(e["kind"], lv) for e in recipe["configs"] for lv in recipe["levels"]]
    chosen, missing = R._choose_configs(plan, built)
    assert set(chosen) == {"sym-00", "sym-20", "asym-20", "asym-60"} and not missing


def test_optional_configs_are_reported_not_fatal():
    plan = R.get_reproduction("jiang2020").plan("reduced")
    chosen, missing = R._choose_configs(plan, ["sym-00", "sym-20", "asym-20"])
    assert chosen == ["sym-00", "sym-20"] and missing == ["web-*"]
    strict = R.get_reproduction("patrini2017").plan("reduced")
    with pytest.raises(CnlbenchError, match="asym-60"):
        R._choose_configs(strict, ["sym-00", "sym-20", "asym-20"])


def test_full_scale_refuses_without_data(tmp_path):
    plan = R.get_reproduction("patrini2017").plan("full")
    with pytest.raises(FileNotFoundError, match="--data PATH"):
        R.check_requirements(plan, device="auto", allow_cpu=False, data=tmp_path / "nowhere")


def test_full_scale_refuses_cpu_unless_allowed(tmp_path):
    plan = R.get_reproduction("thulasidasan2019-mixup").plan("full")
    with pytest.raises(CnlbenchError, match="--allow-cpu"):
        R.check_requirements(plan, device="cpu", allow_cpu=False, data=tmp_path)
    assert R.check_requirements(plan, device="cpu", allow_cpu=True, data=tmp_path) == "cpu"


def _row(method: str, config: str, seed: int, acc: float, status: str = "ok") -> dict:
    return {"run_id": f"{method}-{config}-{seed}", "method": method, "config": config, "seed": seed,
            "status": status, "test_acc_best_val": acc, "ece_bins": 15, "device": "cpu", "curves": "{}"}


def test_comparison_arithmetic_against_a_published_number():
    """ours = mean over seeds in percent with the t interval; difference = ours - published."""
    repro = R.Reproduction(
        name="toy", title="T", authors="A", venue="V", arxiv="0000.00000", citation="@misc{t}", description="d",
        metrics=("test_acc_best_val",),
        published=(R.Published("ce", "sym-20", "test_acc_best_val", 50.0, "Table 1, arXiv:0000.00000", "digits"),),
        scales={"full": R.ScalePlan("full", "digits.yaml", ("sym-*",), ("ce", "gce"), 3, 1, "full: x", dataset="digits")},
    )
    rows = [_row("ce", "sym-20", s, a) for s, a in enumerate((0.60, 0.62, 0.64))]
    rows += [_row("gce", "sym-20", 0, 0.7), _row("gce", "sym-20", 1, math.nan, status="failed")]
    comp = R.compare(repro, repro.plan("full"), rows)
    ce = next(c for c in comp if c.method == "ce")
    assert ce.ours.estimate == pytest.approx(62.0)
    assert ce.ours.half_width == pytest.approx(4.303 * 2.0 / math.sqrt(3), rel=1e-3)
    assert ce.difference == pytest.approx(12.0)
    gce = next(c for c in comp if c.method == "gce")
    assert gce.published is None and math.isnan(gce.difference) and gce.failed == 1 and gce.ours.n == 1
    outcome = R.RunOutcome(rows, Path("data"), False, ["sym-20"], [], 5, 0)
    text = R.render_report(repro, repro.plan("full"), outcome, seeds=3, epochs=1, device="cpu")
    assert "| ce | sym-20 | 62.00 ± 4.97 (n=3) | 50.00 | +12.00 | Table 1, arXiv:0000.00000 |" in text
    assert "| gce | sym-20 | 70.00 (1 seed, no interval) (1 failed) | n/a | n/a |" in text
    assert "**Scale**: full: x" in text


def test_rank_agreement_needs_three_methods():
    pub = lambda m, v: R.Published(m, "s", "acc", v, "src")  # noqa: E731
    iv = lambda v: type("I", (), {"estimate": v})()  # noqa: E731
    comp = [R.ComparisonRow(m, "s", "acc", iv(o), pub(m, p), 0) for m, o, p in
            (("a", 1.0, 10.0), ("b", 2.0, 20.0), ("c", 3.0, 30.0))]
    assert R.rank_agreement(comp) == [("s", "acc", pytest.approx(1.0), 3)]
    assert R.rank_agreement(comp[:2]) == []


def test_structured_test_metrics_by_hand():
    k = 3
    # rows: abstain, correct, wrong, abstain, correct ; last column = abstain output
    logits = np.array([[0, 0, 0, 9], [9, 0, 0, 0], [0, 9, 0, 0], [0, 0, 0, 9], [0, 0, 9, 0]], float)
    labels = np.array([0, 0, 0, 1, 2])
    affected = np.array([True, True, False, False, False])
    m = R.structured_test_metrics(logits, labels, affected, k)
    assert m["abstain_affected"] == pytest.approx(0.5)
    assert m["abstain_rest"] == pytest.approx(1 / 3)
    assert m["acc_rest_kept"] == pytest.approx(0.5)  # rows 2 (wrong) and 4 (right)
    assert m["acc_affected"] == pytest.approx(1.0)  # row 1
    ce = R.structured_test_metrics(logits[:, :k], labels, affected, k)
    assert math.isnan(ce["abstain_affected"]) and math.isnan(ce["abstain_rest"])


@pytest.mark.slow
def test_smoke_end_to_end_prints_table_and_resumes(tmp_path, capsys):
    out = tmp_path / "pat"
    args = ["reproduce", "patrini2017", "--scale", "smoke", "--out", str(out), "--quiet", "--device", "cpu"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "smoke: digits on CPU, 1 epoch" in text
    assert "| method | config | ours | published | ours − published | source |" in text
    for method in ("ce", "forward"):
        for config in ("sym-00", "asym-20"):
            line = next(ln for ln in text.splitlines() if ln.startswith(f"| {method} | {config} |"))
            cells = [c.strip() for c in line.strip("|").split("|")]
            assert float(cells[2].split()[0]) >= 0.0 and cells[3] == "n/a" and cells[5] == "not transcribed"
    assert (out / "REPORT.md").read_text(encoding="utf-8") in text
    assert "4 run now, 0 reused" in text
    assert main(args) == 0  # resumable: the dataset and every run are reused
    again = capsys.readouterr().out
    assert "cached build reused" in again and "0 run now, 4 reused" in again


@pytest.mark.slow
def test_smoke_structured_runner_records_per_subset_metrics(tmp_path):
    res = R.reproduce("thulasidasan2019-dac", "smoke", tmp_path / "dac", device="cpu", progress=False)
    rows = res.outcome.rows
    assert {(r["method"], r["config"]) for r in rows} == {(m, c) for m in ("ce", "dac") for c in ("randcls-10", "blur-20")}
    for r in rows:
        assert r["status"] == "ok", r["error"]
        extra = json.loads(r["curves"])["extra_metrics"]["structured_test"]
        assert extra["n_affected"] + extra["n_rest"] == 355
        if r["config"] == "blur-20":
            assert extra["n_affected"] == round(355 * 0.2)
        assert math.isnan(extra["abstain_affected"]) == (r["method"] == "ce")
    assert "## abstain_affected (%)" in res.report and "smoke: digits on CPU" in res.report
    assert fnmatch.fnmatch(res.report, "*| ce | blur-20 | n/a (undefined for this method) |*")


def test_summary_over_levels_is_the_cnwl_mean_with_a_t_interval_across_levels():
    plan = R.get_reproduction("jiang2020").plan("reduced")
    rows = [_row("ce", f"sym-{pp}", s, a) for pp, accs in (("00", (0.9, 0.8)), ("40", (0.6, 0.6)), ("80", (0.3, 0.1)))
            for s, a in enumerate(accs)]
    rows += [_row("ce", "web-40", 0, 0.7)]
    got = {(m, k): iv for m, k, iv in R.summary_over_levels(plan, rows, "test_acc_best_val")}
    sym = got["ce", "sym"]
    means = np.array([85.0, 60.0, 20.0])
    assert sym.estimate == pytest.approx(means.mean()) and sym.n == 3
    assert sym.half_width == pytest.approx(4.303 * means.std(ddof=1) / math.sqrt(3), rel=1e-3)
    assert got["ce", "web"].estimate == pytest.approx(70.0) and not got["ce", "web"].has_interval
