"""The reproduction data model: a paper (:class:`Reproduction`) with its published numbers
(:class:`Published`), its claims (:class:`Direction`, :class:`Ordering`), one
:class:`ScalePlan` per scale, and what a run and a check produce (:class:`RunOutcome`,
:class:`CheckResult`). Data only: no I/O, no training."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from cnlbench.errors import CnlbenchError

SCALES = ("smoke", "reduced", "full")
#: Metrics shown in percent (ours are fractions in the store; published numbers are percent).
PERCENT_METRICS = ("test_acc_best_val", "test_acc_final", "ece", "overconfidence", "ece_final",
                   "overconfidence_final", "abstain_affected", "abstain_rest", "acc_rest_kept", "acc_affected")
#: The DAC study's metrics, read from the engine's per-epoch test-subset curves at the selected epoch.
SUBSET_METRICS = ("abstain_affected", "abstain_rest", "acc_rest_kept", "acc_affected")
#: How far a published number can be trusted (shared/notes policy): the authors' own slides,
#: table or code; two independent secondary sources that agree; one secondary source.
TRUST_LEVELS = ("primary", "corroborated", "secondary")
#: No interval, and so no verdict, rests on fewer seeds, pairs, levels or methods than this.
MIN_N = 3
#: Seed of the bootstrap generator of the report (the same store always gives the same report).
REPORT_SEED = 0
VERDICTS = ("PASS", "FAIL", "NOT TESTABLE")


@dataclass(frozen=True)
class Published:
    """One published number, in percent (or the metric's own unit).

    ``method`` is our registry name (the paper's label in ``note`` where it differs);
    ``setting`` our config name (``sym-20``) or the paper's setting; ``dataset`` where the
    paper measured it; ``source`` where it was read; ``trust`` one of :data:`TRUST_LEVELS`.
    ``upper``: the upper end when a range was published (``value`` is the lower end);
    ``spread``: the published "±" (its meaning, when known, in ``note``).
    """

    method: str
    setting: str
    metric: str
    value: float
    source: str
    trust: str
    dataset: str = "cifar10"
    upper: float | None = None
    spread: float | None = None
    note: str = ""

    def text(self) -> str:
        """The number as printed: ``82.50-82.70`` for a range, ``84.20 ± 0.70`` with a spread,
        ``[secondary]`` appended to a secondary number."""
        v = f"{self.value:.2f}" + (f"–{self.upper:.2f}" if self.upper is not None else "")
        v += f" ± {self.spread:.2f}" if self.spread is not None else ""
        return v + (" [secondary]" if self.trust == "secondary" else "")


@dataclass(frozen=True)
class ScalePlan:
    """What one scale builds and runs.

    ``recipe``: file name under the repository's ``recipes/``; ``configs``: config names or
    globs (``sym-*``), missing optional ones are reported, not fatal when ``optional``;
    ``levels``: overrides the recipe's levels (smoke); ``epochs``: None for the protocol's
    reference budget (the model's default, declared in its file with ``register_model(train_defaults=)``);
    ``needs_gpu``/``data_key``: the full scale's requirements (``data_key`` is the ``source``
    option ``--data`` replaces).
    """

    scale: str
    recipe: str
    configs: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: int
    epochs: int | None
    statement: str
    dataset: str = "digits"
    model: str | None = None
    levels: tuple[float, ...] | None = None
    optional_configs: tuple[str, ...] = ()
    needs_gpu: bool = False
    data_key: str | None = None
    train_overrides: Mapping[str, Any] = field(default_factory=dict)
    method_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Direction:
    """A directional claim: ``metric`` of side ``a`` minus ``metric_b`` (default ``metric``) of
    side ``b``, paired over (level, seed), is ``above`` the margin, ``below`` minus the margin,
    or ``within`` +-margin (display units: points for percent metrics).

    ``a``/``b``: (method, config name or glob); configs pair by their level suffix (``web-40``
    with ``sym-40``), configs matching ``exclude`` are left out. ``b = None``: ``a`` alone
    against the margin (a t interval over its seeds). ``requires``: names of checks that must
    PASS for this one to be testable (a precondition of the paper's regime).
    """

    name: str
    claim: str
    metric: str
    a: tuple[str, str]
    b: tuple[str, str] | None
    relation: str = "above"
    margin: float = 0.0
    metric_b: str | None = None
    exclude: tuple[str, ...] = ()
    source: str = ""
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ordering:
    """An ordering claim: our methods' order on ``config`` (a name, or a glob: each seed's
    mean over the matching configs) against the published numbers of ``(dataset, setting,
    metric)``, over the methods that have both."""

    name: str
    claim: str
    metric: str
    config: str
    setting: str
    dataset: str
    exclude: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict (:data:`VERDICTS`) with the interval behind it (None when there is
    none) and a one-line reason."""

    name: str
    claim: str
    kind: str
    verdict: str
    interval: Any  # cnlbench.board.stats.Interval | None
    detail: str
    source: str = ""


@dataclass(frozen=True)
class Reproduction:
    """One paper: citation, published numbers, checks, scales.

    ``metrics``: the metrics the comparison shows; ``summary_over_levels``: also print each
    method's mean over the levels of each noise kind (the CNWL summary); ``test_corruption``:
    the harness's test-time corruption the runs use (``TrainConfig.test_corruption``).
    """

    name: str
    title: str
    authors: str
    venue: str
    arxiv: str
    citation: str
    description: str
    metrics: tuple[str, ...]
    published: tuple[Published, ...]
    scales: Mapping[str, ScalePlan]
    checks: tuple[Direction | Ordering, ...] = ()
    summary_over_levels: bool = False
    test_corruption: str = ""
    notes: tuple[str, ...] = ()

    def plan(self, scale: str) -> ScalePlan:
        if scale not in self.scales:
            raise CnlbenchError(f"reproduction {self.name!r} has no scale {scale!r}; use one of {sorted(self.scales)}")
        return self.scales[scale]

    def published_value(self, method: str, setting: str, metric: str, dataset: str) -> Published | None:
        for p in self.published:
            if (p.method, p.setting, p.metric, p.dataset) == (method, setting, metric, dataset):
                return p
        return None



@dataclass
class RunOutcome:
    """Rows of the reproduction's runs (one dict per run, store columns) and what happened."""

    rows: list[dict[str, Any]]
    dataset_dir: Path
    built: bool
    configs: list[str]
    missing_configs: list[str]
    skipped: int
    written: int
    tuned: str = ""
    wall_time_s: float = math.nan
    planned: int = 0  # runs the plan has (the rows may be fewer with report_only)
    imported: int = 0  # of ``skipped``: runs imported from ``--reuse`` files before the sweep

