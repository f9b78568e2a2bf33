"""Reproductions: --list, the per-scale plans, the comparison arithmetic, the full-scale
refusals, and a smoke end-to-end run (digits, 1 epoch) that prints the side-by-side table."""

from __future__ import annotations

import fnmatch
import json
import math
from pathlib import Path

import numpy as np
import pytest

import cnlbench.reproduce as R
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
    assert "checks:" in out and "primary" in out


def test_registry_names_match_and_unknown_name_is_refused():
    assert R.reproduction_names() == sorted(NAMES)
    with pytest.raises(CnlbenchError, match="valid names"):
        R.get_reproduction("patrini2018")


def test_no_name_and_no_list_is_an_error(capsys):
    assert main(["reproduce"]) == 2
    assert "--list" in capsys.readouterr().err


EXPECTED_REDUCED = {
    "patrini2017": dict(
        recipe="digits.yaml", configs=("sym-00", "sym-20", "asym-20", "asym-60"),
        methods={"ce", "unhinged", "sigmoid", "savage", "bootstrap-soft", "bootstrap-hard", "backward",
                 "forward", "backward-that", "forward-that"}),
    "jiang2020": dict(recipe="digits.yaml", configs=("sym-20", "sym-40", "sym-60", "sym-80", "web-20", "web-40",
                                                     "web-60", "web-80"),
                      methods={"ce", "mixup", "mentornet", "mentormix"}),
    "thulasidasan2019-dac": dict(recipe="repro-thulasidasan2019-dac-digits.yaml",
                                 configs=("randcls-10", "blur-20", "smudge-10"), methods={"ce", "dac"}),
    "thulasidasan2019-mixup": dict(recipe="repro-thulasidasan2019-mixup-digits.yaml", configs=("sym-00", "sym-40"),
                                   methods={"ce", "mixup"}),
}


@pytest.mark.parametrize("name", NAMES)
def test_reduced_plan(name, repo_root):
    """At least 3 seeds at the protocol's reference budget (epochs None: the model's default)."""
    plan = R.get_reproduction(name).plan("reduced")
    want = EXPECTED_REDUCED[name]
    assert plan.recipe == want["recipe"] and (repo_root / "recipes" / plan.recipe).is_file()
    assert plan.configs == want["configs"]
    assert set(plan.methods) == want["methods"]
    assert plan.dataset == "digits" and not plan.needs_gpu
    assert plan.seeds >= R.MIN_N and plan.epochs is None
    assert "reduced: digits" in plan.statement and "reference budget" in plan.statement


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
    chosen, missing = R.choose_configs(plan, built)
    assert set(chosen) == {"sym-00", "sym-20", "asym-20", "asym-60"} and not missing


def test_optional_configs_are_reported_not_fatal():
    plan = R.get_reproduction("jiang2020").plan("reduced")
    sym = ["sym-00", "sym-20", "sym-40", "sym-60", "sym-80", "asym-20"]
    chosen, missing = R.choose_configs(plan, sym + ["web-20", "web-40"])
    assert chosen == ["sym-20", "sym-40", "sym-60", "sym-80", "web-20", "web-40"] and missing == ["web-60", "web-80"]
    strict = R.get_reproduction("patrini2017").plan("reduced")
    with pytest.raises(CnlbenchError, match="asym-60"):
        R.choose_configs(strict, ["sym-00", "sym-20", "asym-20"])


def test_full_scale_refuses_without_data(tmp_path):
    plan = R.get_reproduction("patrini2017").plan("full")
    from cnlbench.errors import MissingDataError

    with pytest.raises(MissingDataError, match="--data PATH"):
        R.check_requirements(plan, device="auto", allow_cpu=False, data=tmp_path / "nowhere")


def test_full_scale_refuses_cpu_unless_allowed(tmp_path):
    plan = R.get_reproduction("thulasidasan2019-mixup").plan("full")
    with pytest.raises(CnlbenchError, match="--allow-cpu"):
        R.check_requirements(plan, device="cpu", allow_cpu=False, data=tmp_path)
    assert R.check_requirements(plan, device="cpu", allow_cpu=True, data=tmp_path) == "cpu"


def _row(method: str, config: str, seed: int, acc: float, status: str = "ok", **extra) -> dict:
    return {"run_id": f"{method}-{config}-{seed}", "method": method, "config": config, "seed": seed,
            "status": status, "test_acc_best_val": acc, "ece_bins": 15, "device": "cpu", "curves": "{}",
            "epochs": 60, **extra}


def _toy(checks=(), published=(), full_dataset="cifar10") -> R.Reproduction:
    return R.Reproduction(
        name="toy", title="T", authors="A", venue="V", arxiv="0000.00000", citation="@misc{t}", description="d",
        metrics=("test_acc_best_val",), published=tuple(published), checks=tuple(checks),
        scales={"reduced": R.ScalePlan("reduced", "digits.yaml", ("sym-*", "asym-*"), ("ce", "forward", "a", "b", "c"),
                                       3, None, "reduced: x"),
                "full": R.ScalePlan("full", "digits.yaml", ("sym-*", "asym-*"), ("ce", "forward"), 3, None, "full: x",
                                    dataset=full_dataset)},
    )


# -- directions ------------------------------------------------------------------------------

T975_2 = 4.302652729911275  # t(0.975, 2 degrees of freedom)


def test_direction_is_a_paired_difference_over_seeds_with_a_t_interval():
    """forward - ce at asym-60 per seed: 20, 22, 24 points -> mean 22, half-width t * 2 / sqrt(3)."""
    rows = [_row("ce", "asym-60", s, a) for s, a in enumerate((0.50, 0.52, 0.54))]
    rows += [_row("forward", "asym-60", s, a) for s, a in enumerate((0.70, 0.74, 0.78))]
    check = R.Direction("f>ce", "forward above CE", "test_acc_best_val", ("forward", "asym-60"), ("ce", "asym-60"))
    res = R.evaluate_direction(check, rows)
    assert res.interval.estimate == pytest.approx(22.0)
    assert res.interval.half_width == pytest.approx(T975_2 * 2.0 / math.sqrt(3))
    assert res.interval.n == 3 and res.verdict == "PASS"
    # the same means with a large spread: the interval includes 0 -> FAIL (not shown)
    noisy = rows[:3] + [_row("forward", "asym-60", s, a) for s, a in enumerate((0.60, 0.50, 0.80))]
    res = R.evaluate_direction(check, noisy)
    assert res.interval.estimate == pytest.approx((10 - 2 + 26) / 3)
    assert res.verdict == "FAIL" and "not shown" in res.detail
    # reversed claim
    res = R.evaluate_direction(R.Direction("x", "ce above forward", "test_acc_best_val", ("ce", "asym-60"),
                                           ("forward", "asym-60")), rows)
    assert res.verdict == "FAIL" and "reversed" in res.detail
    # two seeds: no interval, no verdict
    res = R.evaluate_direction(check, [r for r in rows if r["seed"] < 2])
    assert res.verdict == "NOT TESTABLE" and res.interval.n == 2
    # a failed run is not a pair
    res = R.evaluate_direction(check, rows[:5] + [_row("forward", "asym-60", 2, math.nan, status="failed")])
    assert res.verdict == "NOT TESTABLE" and res.interval.n == 2
    # no runs of one side at this scale
    res = R.evaluate_direction(R.Direction("y", "", "test_acc_best_val", ("sigmoid", "asym-60"), ("ce", "asym-60")), rows)
    assert res.verdict == "NOT TESTABLE" and res.interval is None and "sigmoid" in res.detail


def test_direction_within_below_and_one_sided():
    rows = [_row("ce", "sym-00", s, a) for s, a in enumerate((0.900, 0.905, 0.910))]
    rows += [_row("unhinged", "sym-00", s, a) for s, a in enumerate((0.905, 0.900, 0.910))]  # diffs +0.5, -0.5, 0
    within = R.Direction("u~ce", "", "test_acc_best_val", ("unhinged", "sym-00"), ("ce", "sym-00"),
                         relation="within", margin=3.0)
    res = R.evaluate_direction(within, rows)
    assert res.interval.estimate == pytest.approx(0.0)
    assert res.interval.half_width == pytest.approx(T975_2 * 0.5 / math.sqrt(3))
    assert res.verdict == "PASS"
    assert R.evaluate_direction(dataclass_replace(within, margin=1.0), rows).verdict == "FAIL"
    below = R.Direction("u<ce", "", "test_acc_best_val", ("unhinged", "sym-00"), ("ce", "sym-00"), relation="below")
    assert R.evaluate_direction(below, rows).verdict == "FAIL"
    alone = R.Direction("ce>89", "", "test_acc_best_val", ("ce", "sym-00"), None, margin=89.0)
    res = R.evaluate_direction(alone, rows)
    assert res.interval.estimate == pytest.approx(90.5) and res.verdict == "PASS"


def dataclass_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


def test_direction_verdict_rules():
    from cnlbench.board.stats import Interval

    iv = lambda lo, hi, n=3: Interval((lo + hi) / 2, lo, hi, n, "t")  # noqa: E731
    assert R.direction_verdict(iv(0.1, 2.0), "above")[0] == "PASS"
    assert R.direction_verdict(iv(0.1, 2.0), "above", margin=0.5)[0] == "FAIL"
    assert R.direction_verdict(iv(-2.0, -0.1), "above")[1].startswith("reversed")
    assert R.direction_verdict(iv(-2.0, -0.1), "below")[0] == "PASS"
    assert R.direction_verdict(iv(-1.0, 1.0), "within", margin=1.0)[0] == "PASS"
    assert R.direction_verdict(iv(0.1, 2.0, n=2), "above")[0] == "NOT TESTABLE"
    with pytest.raises(CnlbenchError, match="above, below or within"):
        R.direction_verdict(iv(0, 1), "beside")


def test_directions_pair_configs_across_noise_kinds_by_level_and_skip_excluded():
    """web - sym at the same level and seed; *-00 left out."""
    rows = []
    for lv, sym, web in (("00", 0.95, 0.10), ("40", 0.60, 0.80), ("80", 0.30, 0.60)):
        for s in range(3):
            rows += [_row("ce", f"sym-{lv}", s, sym + 0.01 * s), _row("ce", f"web-{lv}", s, web + 0.02 * s)]
    check = R.Direction("web>sym", "", "test_acc_best_val", ("ce", "web-*"), ("ce", "sym-*"), exclude=("*-00",))
    res = R.evaluate_direction(check, rows)
    diffs = [20 + 1.0 * s for s in range(3)] + [30 + 1.0 * s for s in range(3)]
    assert res.interval.n == 6 and res.interval.estimate == pytest.approx(np.mean(diffs))
    assert res.verdict == "PASS"


# -- orderings (Spearman with a bootstrap interval) --------------------------------------------

def test_spearman_rho_by_hand():
    from cnlbench.board.stats import spearman_rho

    assert float(spearman_rho(np.array([1.0, 2.0, 3.0]), np.array([10.0, 30.0, 20.0]))) == pytest.approx(0.5)
    assert float(spearman_rho(np.array([3.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0]))) == pytest.approx(-1.0)
    # ties take the average rank: (1.5, 1.5, 3) against (1, 2, 3) -> 1.5 / sqrt(3)
    assert float(spearman_rho(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))) == pytest.approx(1.5 / math.sqrt(3))
    assert math.isnan(float(spearman_rho(np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0]))))
    batch = spearman_rho(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), np.array([1.0, 2.0, 3.0]))
    assert batch.tolist() == pytest.approx([1.0, -1.0])


def test_spearman_interval_by_hand():
    """Item A's seeds (0, 0, 3): its bootstrap mean is 3 with probability 1/27 (A above B: rho 0.5),
    2 with 6/27 (A ties B: rho 0.866), else below 2 (rho 1). The 2.5th percentile falls in the
    rho = 0.5 mass (3.7% > 2.5%), the 97.5th at 1."""
    from cnlbench.board.stats import spearman_interval

    scores = [np.array([0.0, 0.0, 3.0]), np.array([2.0, 2.0, 2.0]), np.array([5.0, 5.0, 5.0])]
    iv = spearman_interval(scores, [1.0, 2.0, 3.0], np.random.default_rng(0), reps=4000)
    assert iv.estimate == pytest.approx(1.0) and iv.n == 3
    assert iv.low == pytest.approx(0.5) and iv.high == pytest.approx(1.0)
    fixed = spearman_interval([np.full(3, 1.0), np.full(3, 2.0), np.full(3, 3.0)], [10.0, 30.0, 20.0],
                              np.random.default_rng(0), reps=200)
    assert (fixed.estimate, fixed.low, fixed.high) == pytest.approx((0.5, 0.5, 0.5))
    one_seed = spearman_interval([np.array([1.0]), np.array([2.0]), np.array([3.0])], [1.0, 2.0, 3.0],
                                 np.random.default_rng(0))
    assert one_seed.estimate == pytest.approx(1.0) and not one_seed.has_interval
    with pytest.raises(CnlbenchError, match="one per item"):
        spearman_interval(scores, [1.0, 2.0], np.random.default_rng(0))


def test_ordering_check_against_published_numbers():
    pub = [R.Published(m, "sym-20", "test_acc_best_val", v, "Table 9", "primary") for m, v in
           (("a", 10.0), ("b", 20.0), ("c", 30.0), ("zz", 40.0))]  # zz: no run, left out
    rows = [_row(m, "sym-20", s, base + 0.001 * s) for m, base in (("a", 0.5), ("b", 0.6), ("c", 0.7)) for s in range(3)]
    check = R.Ordering("order", "", "test_acc_best_val", "sym-20", "sym-20", "cifar10")
    res = R.evaluate_ordering(check, rows, pub, np.random.default_rng(0))
    assert res.verdict == "PASS" and res.interval.estimate == pytest.approx(1.0) and res.interval.n == 3
    assert "ours: c > b > a; published: c > b > a" in res.detail and "(primary)" in res.source
    reversed_rows = [dict(r, method={"a": "c", "c": "a"}.get(r["method"], r["method"])) for r in rows]
    assert R.evaluate_ordering(check, reversed_rows, pub, np.random.default_rng(0)).verdict == "FAIL"
    two = [r for r in rows if r["seed"] < 2]
    res = R.evaluate_ordering(check, two, pub, np.random.default_rng(0))
    assert res.verdict == "NOT TESTABLE" and "2 seed(s)" in res.detail
    res = R.evaluate_ordering(check, [r for r in rows if r["method"] != "c"], pub, np.random.default_rng(0))
    assert res.verdict == "NOT TESTABLE" and "2 method(s)" in res.detail


def test_ordering_over_a_glob_uses_each_seeds_mean_over_levels():
    rows = [_row(m, f"sym-{lv}", s, v) for m, vals in (("a", (0.9, 0.1)), ("b", (0.6, 0.5)), ("c", (0.2, 0.3)))
            for lv, v in zip(("20", "40"), vals) for s in range(3)]
    check = R.Ordering("o", "", "test_acc_best_val", "sym-*", "mean", "x")
    pub = [R.Published(m, "mean", "test_acc_best_val", v, "s", "secondary", "x") for m, v in (("a", 3), ("b", 2), ("c", 1))]
    methods, scores, values = R.ordering_inputs(check, rows, pub)
    assert methods == ["a", "b", "c"] and values == [3.0, 2.0, 1.0]
    assert [s.tolist() for s in scores] == [[50.0] * 3, [55.0] * 3, [25.0] * 3]


def test_a_failed_precondition_makes_its_dependents_not_testable():
    pre = R.Direction("pre", "CE over-confident", "overconfidence_final", ("ce", "sym-40"), None, margin=1.0)
    dep = R.Direction("dep", "mixup lower OE", "overconfidence_final", ("mixup", "sym-40"), ("ce", "sym-40"),
                      relation="below", requires=("pre",))
    repro = _toy(checks=(pre, dep))

    def rows(ce_oe):
        return ([_row("ce", "sym-40", s, 0.7, overconfidence_final=v) for s, v in enumerate(ce_oe)]
                + [_row("mixup", "sym-40", s, 0.8, overconfidence_final=0.0) for s in range(3)])

    got = {c.name: c for c in R.evaluate_checks(repro, rows((0.10, 0.11, 0.12)))}
    assert got["pre"].verdict == "PASS" and got["pre"].interval.estimate == pytest.approx(11.0)
    assert got["dep"].verdict == "PASS" and got["dep"].interval.estimate == pytest.approx(-11.0)
    got = {c.name: c for c in R.evaluate_checks(repro, rows((0.001, 0.002, 0.0)))}
    assert got["pre"].verdict == "FAIL"
    assert got["dep"].verdict == "NOT TESTABLE" and got["dep"].detail == "precondition pre is FAIL"


# -- ours - published only where dataset and scale match --------------------------------------

def test_ours_minus_published_only_at_full_scale_on_the_papers_dataset():
    pub = R.Published("ce", "sym-20", "test_acc_best_val", 50.0, "Table 1, arXiv:0000.00000", "primary", "cifar10")
    rows = [_row("ce", "sym-20", s, a) for s, a in enumerate((0.60, 0.62, 0.64))]
    rows += [_row("forward", "sym-20", 0, 0.7), _row("forward", "sym-20", 1, math.nan, status="failed")]
    repro = _toy(published=[pub])
    outcome = R.RunOutcome(rows, Path("data"), False, [], [], 5, 0)

    reduced = R.compare(repro, repro.plan("reduced"), rows)
    ce = next(c for c in reduced if c.method == "ce")
    assert ce.ours.estimate == pytest.approx(62.0) and ce.ours.half_width == pytest.approx(T975_2 * 2 / math.sqrt(3))
    assert ce.published is pub and not ce.show_difference and math.isnan(ce.difference)
    text = R.render_report(repro, repro.plan("reduced"), outcome, seeds=3, epochs=None, device="cpu", checks=[])
    assert "ours − published" not in text.split("**ours − published is not shown**")[1]
    assert "| ce | sym-20 | 62.00 ± 4.97 (n=3) | 50.00 | primary | Table 1, arXiv:0000.00000 |" in text

    full = R.compare(repro, repro.plan("full"), rows)
    ce = next(c for c in full if c.method == "ce")
    assert ce.show_difference and ce.difference == pytest.approx(12.0)
    fwd = next(c for c in full if c.method == "forward")
    assert fwd.published is None and math.isnan(fwd.difference) and fwd.failed == 1 and fwd.ours.n == 1
    text = R.render_report(repro, repro.plan("full"), outcome, seeds=3, epochs=None, device="cpu", checks=[])
    assert "| ce | sym-20 | 62.00 ± 4.97 (n=3) | 50.00 | primary | +12.00 | Table 1, arXiv:0000.00000 |" in text
    assert "| forward | sym-20 | 70.00 (1 seed(s), no interval) (1 failed) | n/a |  | n/a | not published |" in text

    other = _toy(published=[pub], full_dataset="cifar100")  # full scale on another dataset: no difference
    assert not any(c.show_difference for c in R.compare(other, other.plan("full"), rows))


def test_summary_over_levels_is_the_cnwl_mean_with_a_t_interval_across_levels():
    plan = R.get_reproduction("jiang2020").plan("reduced")
    rows = [_row("ce", f"sym-{pp}", s, a) for pp, accs in (("00", (0.9, 0.8)), ("40", (0.6, 0.6)), ("80", (0.3, 0.1)))
            for s, a in enumerate(accs)]
    rows += [_row("ce", "web-40", 0, 0.7), _row("ce", "web-80", 0, 0.5)]
    got = {(m, k): iv for m, k, iv in R.summary_over_levels(plan, rows, "test_acc_best_val")}
    sym = got["ce", "sym"]
    means = np.array([85.0, 60.0, 20.0])
    assert sym.estimate == pytest.approx(means.mean()) and sym.n == 3
    assert sym.half_width == pytest.approx(T975_2 * means.std(ddof=1) / math.sqrt(3), rel=1e-6)
    assert R.interval_text(got["ce", "web"]) == "n/a (n=2 < 3)"  # no interval over two levels


# -- the DAC metrics at the selected epoch ---------------------------------------------------

def test_subset_metrics_by_hand():
    dac = {"test_affected_abstain_coverage": 0.2, "test_affected_abstain_acc": 0.5, "test_affected_acc": 0.4,
           "test_rest_abstain_coverage": 0.9, "test_rest_abstain_acc": 0.95, "test_rest_acc": 0.9}
    got = {m: R.subset_metric(dac, m) for m in R.SUBSET_METRICS}
    assert got == pytest.approx({"abstain_affected": 0.8, "abstain_rest": 0.1, "acc_rest_kept": 0.95,
                                 "acc_affected": 0.5})
    ce = {"test_affected_acc": 0.4, "test_rest_acc": 0.9}
    assert math.isnan(R.subset_metric(ce, "abstain_affected"))
    assert R.subset_metric(ce, "acc_rest_kept") == 0.9 and R.subset_metric(ce, "acc_affected") == 0.4


def test_row_metric_reads_subset_metrics_at_the_selected_epoch_of_the_last_stage():
    curves = {"stage": [0, 0, 1, 1, 1], "epoch": [0, 1, 0, 1, 2],
              "test_rest_acc": [0.1, 0.2, 0.3, 0.4, 0.5], "test_affected_acc": [0.0] * 5}
    row = _row("ce", "blur-20", 0, 0.4, best_epoch=1, curves=json.dumps(curves))
    assert R.row_metric(row, "acc_rest_kept") == pytest.approx(0.4)
    assert R.row_metric(row, "test_acc_best_val") == pytest.approx(0.4)


# -- end to end (digits, 1 epoch) ----------------------------------------------------------------

@pytest.mark.slow
def test_smoke_end_to_end_prints_checks_and_table_and_resumes(tmp_path, capsys):
    out = tmp_path / "pat"
    args = ["reproduce", "patrini2017", "--scale", "smoke", "--out", str(out), "--quiet", "--device", "cpu"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "smoke: digits on CPU, 1 epoch" in text and "Test split: 355 images" in text
    assert "| check | claim | verdict | estimate | 95% interval | n | why | source |" in text
    assert "| forward>ce@asym-60 |" in text and "**NOT TESTABLE**" in text and "**PASS**" not in text
    assert "| method | config | ours | published | trust | source |" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("| ce | asym-20 |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert float(cells[2].split()[0]) >= 0.0 and cells[3] == "89.00" and cells[4] == "primary"
    assert (out / "REPORT.md").read_text(encoding="utf-8") in text
    assert "4 run now, 0 reused" in text
    assert main(args) == 0  # resumable: the dataset and every run are reused
    again = capsys.readouterr().out
    assert "cached build reused" in again and "0 run now, 4 reused" in again


@pytest.mark.slow
def test_smoke_dac_runs_through_the_sweep_with_the_test_corruption(tmp_path):
    res = R.reproduce("thulasidasan2019-dac", "smoke", tmp_path / "dac", device="cpu", progress=False)
    rows = res.outcome.rows
    assert {(r["method"], r["config"]) for r in rows} == {(m, c) for m in ("ce", "dac") for c in ("randcls-10", "blur-20")}
    for r in rows:
        assert r["status"] == "ok", r["error"]
        assert json.loads(r["train_config"])["test_corruption"] == "structured"
        point = R.selected_point(r)
        assert ("test_affected_abstain_coverage" in point) == (r["method"] == "dac")
        assert math.isnan(R.row_metric(r, "abstain_affected")) == (r["method"] == "ce")
    assert "blur-20 71 of 355; randcls-10 36 of 355" in res.report
    assert "## abstain_affected (%)" in res.report and len(res.checks) == 6
    assert fnmatch.fnmatch(res.report, "*| ce | blur-20 | n/a (undefined for this method) |*")


def test_dry_run_prints_plan_and_cost_without_building(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "thulasidasan2019-mixup", "--scale", "reduced", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "dry run: nothing is built or trained" in text
    assert "1442 training images" in text and "355 test images (8x8 px)" in text
    assert "configs (2): sym-00, sym-40" in text and "runs: 12" in text
    assert "budget: 60 epochs" in text and "checks: 5" in text
    assert not any(tmp_path.iterdir())


def test_an_abstaining_method_is_read_where_its_kept_validation_accuracy_is_best():
    """DAC's own criterion (accuracy on the non-abstained noisy-validation examples, earliest on
    ties, last stage); CE (no such key) at the engine's best epoch."""
    curves = {"stage": [0, 0, 0, 0], "epoch": [0, 1, 2, 3], "val_abstain_acc": [0.5, 0.9, float("nan"), 0.9]}
    assert R.selected_index(curves, best_epoch=0) == 1
    assert R.selected_index({"stage": [0, 1, 1], "epoch": [0, 0, 1]}, best_epoch=1) == 2
    assert R.selected_index({}, best_epoch=1) is None


def test_report_only_says_partial_and_refuses_an_empty_folder(tmp_path, capsys):
    repro = _toy()
    rows = [_row("ce", "sym-20", s, 0.6) for s in range(3)]
    outcome = R.RunOutcome(rows, Path("data"), False, [], [], 3, 0, planned=10)
    text = R.render_report(repro, repro.plan("reduced"), outcome, seeds=3, epochs=None, device="cpu", checks=[])
    assert "**Partial**: 3 of the 10 planned runs are in the results store" in text
    assert main(["reproduce", "patrini2017", "--out", str(tmp_path / "none"), "--report-only"]) == 2
    assert "holds no reproduction yet" in capsys.readouterr().err


@pytest.mark.slow
def test_reuse_imports_the_plans_runs_from_an_exported_file_and_trains_none(tmp_path, capsys):
    """--reuse FILE: the plan's rows of an exported results file (here one reproduction's own
    store, exported with two foreign rows added) seed a new OUT/results; nothing is trained, the
    report says where the runs came from, and the foreign rows are left out."""
    from cnlbench.harness.store import ResultsStore, read_results, write_rows

    first = tmp_path / "first"
    args = ["reproduce", "patrini2017", "--scale", "smoke", "--quiet", "--device", "cpu"]
    assert main([*args, "--out", str(first)]) == 0
    capsys.readouterr()
    rows = read_results(first / "results").to_pylist()
    foreign = [{**rows[0], "run_id": "f" * 64, "seed": 7}, {**rows[1], "run_id": "e" * 64, "seed": 8}]
    exported = write_rows(rows + foreign, tmp_path / "exported.parquet")
    second = tmp_path / "second"
    args = [*args, "--out", str(second), "--reuse", str(exported)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "0 run now, 4 reused from the results store, 4 of them imported from --reuse files" in text
    stored = ResultsStore(second / "results").read().to_pylist()
    assert sorted(r["run_id"] for r in stored) == sorted(r["run_id"] for r in rows)
    assert main(args) == 0  # again: nothing left to import or train
    assert "0 run now, 4 reused from the results store)." in capsys.readouterr().out


def test_reuse_refuses_a_missing_or_foreign_file_by_name(tmp_path):
    from cnlbench.errors import CnlbenchError

    with pytest.raises(CnlbenchError, match="no such file.*eval --export"):
        R.import_planned(tmp_path / "store", [tmp_path / "nowhere.parquet"], {"x"})
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(CnlbenchError, match="not a readable Parquet results file"):
        R.import_planned(tmp_path / "store", [tmp_path / "junk.parquet"], {"x"})
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), tmp_path / "other.parquet")
    with pytest.raises(CnlbenchError, match="no run_id column"):
        R.import_planned(tmp_path / "store", [tmp_path / "other.parquet"], {"x"})
