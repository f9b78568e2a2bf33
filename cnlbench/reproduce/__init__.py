"""Paper reproductions: build the paper's datasets, run its methods through the harness's
sweep, and test what the paper CLAIMS on our runs.

A :class:`Reproduction` (one module per paper in :mod:`cnlbench.reproduce.papers`) holds the
full citation, the published numbers (:class:`Published`: every number with its source and its
trust level, ``primary``, ``corroborated`` or ``secondary``; a number that was not published is
not stored), the paper's claims as checks (:class:`Direction`, :class:`Ordering`) and one
:class:`ScalePlan` per scale:

* ``smoke``: a plumbing check (digits, 1 epoch, 1 seed); numbers are meaningless;
* ``reduced``: the digits default on CPU, at least 3 seeds at the protocol's reference budget;
  not comparable in absolute terms: the report tests directions and orderings only;
* ``full``: CIFAR-10 on a GPU; refuses without the data or a GPU (``allow_cpu`` overrides);
  the only scale where "ours - published" is printed (dataset and scale match the paper).

Every check prints PASS / FAIL / NOT TESTABLE with the interval behind the verdict:

* a direction (:func:`evaluate_direction`): the paired difference of two (method, config,
  metric) cells over (level, seed) with a 95% t interval (:func:`cnlbench.board.stats.
  paired_difference`); PASS when the whole interval is on the claimed side of the margin;
* an ordering (:func:`evaluate_ordering`): Spearman's rho between our method order and the
  published one, with a bootstrap interval over seeds (:func:`cnlbench.board.stats.
  spearman_interval`); PASS when the whole interval is above 0;
* NOT TESTABLE: fewer than :data:`MIN_N` seeds (pairs) or methods, no runs at this scale, or a
  failed precondition (``requires``).

One code path: every run is a row of :func:`cnlbench.harness.sweep.run_sweep` (the protocol's
reference budget, the tuned settings when given); the DAC study's test-time feature is the
harness option ``TrainConfig.test_corruption`` (:func:`cnlbench.harness.data.corrupt_test`),
whose per-subset metrics the engine records per epoch (read here at the selected epoch).
:func:`reproduce` is resumable end to end (``OUT/data`` is reused while its recipe is
unchanged; ``OUT/results`` is a results store). The report is written to ``OUT/REPORT.md``.
"""

from cnlbench.reproduce.comparison import (
    ABSTAIN_SELECTION, ComparisonRow, compare, direction_verdict, evaluate_checks, evaluate_direction,
    evaluate_ordering, metric_values, ordering_inputs, repro_dataset, row_metric, selected_index, selected_point,
    shows_difference, subset_metric, summary_over_levels,
)
from cnlbench.reproduce.model import (
    MIN_N, PERCENT_METRICS, REPORT_SEED, SCALES, SUBSET_METRICS, TRUST_LEVELS, VERDICTS, CheckResult, Direction,
    Ordering, Published, Reproduction, RunOutcome, ScalePlan,
)
from cnlbench.reproduce.papers import get_reproduction, list_text, published_data, reproduction_names
from cnlbench.reproduce.prepare import check_requirements, data_root, effective_recipe, ensure_dataset, recipes_dir
from cnlbench.reproduce.report import check_table, interval_text, render_report, scale_statement
from cnlbench.reproduce.run import (
    ReproduceResult, choose_configs, import_planned, plan_text, reproduce, run_reproduction, train_overrides,
)

__all__ = [
    "ABSTAIN_SELECTION", "CheckResult", "ComparisonRow", "Direction", "MIN_N", "Ordering", "PERCENT_METRICS",
    "Published", "REPORT_SEED", "ReproduceResult", "Reproduction", "RunOutcome", "SCALES", "SUBSET_METRICS",
    "ScalePlan", "TRUST_LEVELS", "VERDICTS", "check_requirements", "check_table", "choose_configs", "compare",
    "data_root", "direction_verdict", "effective_recipe", "ensure_dataset", "evaluate_checks",
    "evaluate_direction", "evaluate_ordering", "get_reproduction", "import_planned", "interval_text", "list_text",
    "metric_values",
    "ordering_inputs", "plan_text", "published_data", "recipes_dir", "render_report", "repro_dataset", "reproduce",
    "reproduction_names", "row_metric", "run_reproduction", "scale_statement", "selected_index", "selected_point",
    "shows_difference", "subset_metric", "summary_over_levels", "train_overrides",
]
