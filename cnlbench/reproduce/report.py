"""The Markdown report of a reproduction (``OUT/REPORT.md``): the scale statement, the check
table, our numbers beside the published ones (the difference only where dataset and scale
match), other published figures, the CNWL summary, notes and the citation."""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

from cnlbench.reproduce.comparison import compare, evaluate_checks, repro_dataset, summary_over_levels
from cnlbench.reproduce.model import (
    MIN_N, PERCENT_METRICS, REPORT_SEED, VERDICTS, CheckResult, Reproduction, RunOutcome, ScalePlan,
)


def _num(v: float | None, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:+.2f}" if signed else f"{v:.2f}"


def interval_text(iv: Any, min_n: int = MIN_N) -> str:
    if iv is None or iv.n == 0:
        return "n/a"
    if iv.n < min_n or not iv.has_interval:
        return f"n/a (n={iv.n} < {min_n})" if iv.n < min_n else "n/a"
    return f"[{iv.low:+.2f}, {iv.high:+.2f}]"


def _ours_text(iv: Any, n_ok: int) -> str:
    if iv.n == 0:
        return "n/a (undefined for this method)" if n_ok else "n/a (no finished run)"
    if iv.n < MIN_N or not iv.has_interval:
        return f"{iv.estimate:.2f} ({iv.n} seed(s), no interval)"
    return f"{iv.estimate:.2f} ± {iv.half_width:.2f} (n={iv.n})"


def scale_statement(plan: ScalePlan, seeds: int, epochs: int | str | None, device: str) -> str:
    ep = "the reference budget of" if epochs is None else str(epochs)
    return f"{plan.statement} [this run: {seeds} seed(s), {ep} epoch(s), device {device}]"


def check_table(results: Sequence[CheckResult]) -> list[str]:
    """The Markdown check table: one line per check with its verdict and interval."""
    lines = ["| check | claim | verdict | estimate | 95% interval | n | why | source |",
             "|---|---|---|---|---|---|---|---|"]
    for c in results:
        est = _num(None if c.interval is None else c.interval.estimate, signed=True)
        n = "" if c.interval is None else str(c.interval.n)
        lines.append(f"| {c.name} | {c.claim} | **{c.verdict}** | {est} | {interval_text(c.interval)} | {n} | "
                     f"{c.detail} | {c.source} |")
    return lines


def _test_sizes(repro: Reproduction, outcome: RunOutcome) -> str:
    """"Test split: N images" (and, with a test-time corruption, the corrupted count per config)."""
    from cnlbench.harness.data import corrupt_test, load_task

    parts = []
    for config in outcome.configs:
        task = load_task(outcome.dataset_dir, config, "cpu")
        n = len(task.test)
        if not repro.test_corruption:
            return f"Test split: {n} images (clean labels, shared by every config)."
        marked = int(corrupt_test(task, repro.test_corruption).test.is_noisy.sum())
        parts.append(f"{config} {marked} of {n}")
    return ("Test split with the test-time corruption (affected images of the test split): "
            + "; ".join(parts) + ".")


def render_report(repro: Reproduction, plan: ScalePlan, outcome: RunOutcome, *, seeds: int, epochs: int | None,
                  device: str, checks: Sequence[CheckResult] | None = None) -> str:
    """The Markdown report: scale statement, the check table, our numbers beside the published
    ones (the difference only where dataset and scale match), other published figures,
    summaries, notes, citation."""
    comparison = compare(repro, plan, outcome.rows)
    checks = evaluate_checks(repro, outcome.rows) if checks is None else checks
    ran_epochs = sorted({int(r["epochs"]) for r in outcome.rows if r.get("epochs") not in (None, -1)})
    budget = f"{', '.join(map(str, ran_epochs))} epoch(s) per run" if ran_epochs else "no run"
    shown_epochs: int | str | None = epochs
    if epochs is None and ran_epochs:
        shown_epochs = f"{', '.join(map(str, ran_epochs))} (the reference budget)"
    paper = "; ".join(f"{m} {json.dumps(dict(v), sort_keys=True)}" for m, v in plan.method_params.items()
                      if m in plan.methods)
    settings = (f"tuned settings from `{outcome.tuned}` (the protocol's equal-budget tuning)" if outcome.tuned else
                "every method at its reference defaults" + (f" except the paper's {paper}" if paper else "")
                + " (untuned; `--tune` tunes on equal terms first)")
    full = plan.scale == "full"
    lines = [
        f"# Reproduction `{repro.name}` ({plan.scale} scale)",
        "",
        f"**{repro.title}**, {repro.authors}, {repro.venue} (arXiv:{repro.arxiv}).",
        "",
        f"**Scale**: {scale_statement(plan, seeds, shown_epochs, device)}",
        "",
        f"Budget: {budget}; settings: {settings}.",
        "",
        f"Dataset: `{outcome.dataset_dir}` ({'built now' if outcome.built else 'cached build reused'}); "
        f"runs: {len(outcome.rows)} ({outcome.written} run now, {outcome.skipped} reused from the results store"
        + (f", {outcome.imported} of them imported from --reuse files" if outcome.imported else "") + ").",
        "",
    ]
    if outcome.rows:
        lines += [_test_sizes(repro, outcome), ""]
    if outcome.missing_configs:
        lines += [f"Missing from the built dataset (skipped): {', '.join(outcome.missing_configs)}.", ""]
    if outcome.planned > len(outcome.rows):
        lines += [f"**Partial**: {len(outcome.rows)} of the {outcome.planned} planned runs are in the results "
                  "store (report only); a check without its runs is NOT TESTABLE.", ""]
    if math.isfinite(outcome.wall_time_s):
        lines += [f"Wall time of this invocation: {outcome.wall_time_s:.0f} s.", ""]
    lines += ["## Checks (the paper's claims on our runs)", "",
              f"Directions: paired difference over (level, seed), mean with a 95% t interval; orderings: "
              f"Spearman's rho with a {REPORT_SEED}-seeded bootstrap interval over seeds. No interval (and no "
              f"verdict) rests on fewer than {MIN_N} seeds, pairs or methods.", ""]
    lines += check_table(checks) if checks else ["(this reproduction declares no check)"]
    tally = ", ".join(f"{sum(c.verdict == v for c in checks)} {v}" for v in VERDICTS)
    lines += ["", f"Verdicts: {tally}.", ""]
    comparable = "" if full else (
        " At this scale the dataset and the model are not the paper's: **ours − published is not shown**; "
        "the report compares directions and orderings only.")
    lines += [f"Ours: mean over seeds ± 95% t half-width. Published: measured on {repro_dataset(repro)} "
              f"with its trust level (primary, corroborated, secondary; secondary numbers are marked).{comparable}",
              ""]
    for metric in repro.metrics:
        rows = [c for c in comparison if c.metric == metric]
        if not rows:
            continue
        unit = " (%)" if metric in PERCENT_METRICS else ""
        head = "| method | config | ours | published | trust |" + (" ours − published |" if full else "") + " source |"
        lines += [f"## {metric}{unit}", "", head, "|---" * (7 if full else 6) + "|"]
        for c in rows:
            pub = c.published
            failed = f" ({c.failed} failed)" if c.failed else ""
            cells = [c.method, c.setting, _ours_text(c.ours, c.finished) + failed,
                     "n/a" if pub is None else pub.text() + ("" if pub.dataset == repro_dataset(repro)
                                                             else f" ({pub.dataset})"),
                     "" if pub is None else pub.trust]
            if full:
                cells.append(_num(c.difference, signed=True))
            cells.append("not published" if pub is None else pub.source)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if any(m in ("ece", "overconfidence", "ece_final", "overconfidence_final") for m in repro.metrics):
        bins = sorted({int(r["ece_bins"]) for r in outcome.rows if r.get("ece_bins") not in (None, -1)})
        if bins:
            lines += [f"ECE and OE use {', '.join(map(str, bins))} equal-width confidence bins.", ""]
    shown = {(c.published.method, c.published.setting, c.published.metric, c.published.dataset)
             for c in comparison if c.published is not None}
    others = [p for p in repro.published if (p.method, p.setting, p.metric, p.dataset) not in shown]
    if others:
        lines += ["## Other published figures (context; not compared with our runs)", "",
                  "| dataset | method | setting | metric | published | trust | note | source |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {p.dataset} | {p.method} | {p.setting} | {p.metric} | {p.text()} | {p.trust} | {p.note} | "
                  f"{p.source} |" for p in others]
        lines.append("")
    if repro.summary_over_levels and outcome.rows:
        lines += ["## Mean over levels (CNWL summary)", "",
                  "Mean of the per-level means with a 95% t interval across the levels (none over fewer than "
                  f"{MIN_N} levels); it reflects spread BETWEEN levels, not seed uncertainty.", "",
                  "| method | noise kind | mean over levels | 95% interval | levels |", "|---|---|---|---|---|"]
        for metric in repro.metrics[:1]:
            for method, kind, iv in summary_over_levels(plan, outcome.rows, metric):
                lines.append(f"| {method} | {kind} | {iv.estimate:.2f} | {interval_text(iv)} | {iv.n} |")
        lines.append("")
    if repro.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in repro.notes] + [""]
    lines += ["## Citation", "", "```bibtex", repro.citation.strip(), "```", ""]
    return "\n".join(lines)

