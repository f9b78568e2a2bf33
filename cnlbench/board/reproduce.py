"""Paper reproductions: build the paper's datasets, run its methods through the harness's
sweep, and test what the paper CLAIMS on our runs.

A :class:`Reproduction` (one module per paper in :mod:`cnlbench.board.reproductions`) holds the
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

from __future__ import annotations

import fnmatch
import importlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from cnlbench.errors import CnlbenchError

SCALES = ("smoke", "reduced", "full")
REPRODUCTION_MODULES = {
    "patrini2017": "cnlbench.board.reproductions.patrini2017",
    "jiang2020": "cnlbench.board.reproductions.jiang2020",
    "thulasidasan2019-dac": "cnlbench.board.reproductions.thulasidasan2019_dac",
    "thulasidasan2019-mixup": "cnlbench.board.reproductions.thulasidasan2019_mixup",
}
#: Modules holding published numbers without a reproduction yet (context for the board).
REFERENCE_MODULES = ("cnlbench.board.reproductions.wei2022_cifarn",)
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
    reference budget (the model's default, :data:`cnlbench.harness.engine.MODEL_DEFAULTS`);
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


# --------------------------------------------------------------------------------------------
# Registry


def reproduction_names() -> list[str]:
    return list(REPRODUCTION_MODULES)


def get_reproduction(name: str) -> Reproduction:
    """The reproduction registered as ``name`` (its module is imported on first use)."""
    if name not in REPRODUCTION_MODULES:
        raise CnlbenchError(f"unknown reproduction {name!r}; valid names: {reproduction_names()} (see `cnlbench reproduce --list`)")
    return importlib.import_module(REPRODUCTION_MODULES[name]).REPRODUCTION


def published_data() -> dict[str, tuple[Published, ...]]:
    """Every stored published number, by module (the reproductions and :data:`REFERENCE_MODULES`)."""
    out = {name: get_reproduction(name).published for name in reproduction_names()}
    for mod in REFERENCE_MODULES:
        out[mod.rsplit(".", 1)[-1]] = importlib.import_module(mod).PUBLISHED
    return out


def list_text() -> str:
    """The ``--list`` text: name, title, citation, scales with their statements."""
    out = []
    for name in reproduction_names():
        r = get_reproduction(name)
        out.append(f"{name}\n  {r.authors}, \"{r.title}\", {r.venue} (arXiv:{r.arxiv})\n  {r.description}")
        by_trust = ", ".join(f"{sum(p.trust == t for p in r.published)} {t}" for t in TRUST_LEVELS)
        out.append(f"  published numbers stored: {len(r.published)} ({by_trust}); checks: {len(r.checks)}")
        for scale in SCALES:
            if scale in r.scales:
                out.append(f"  --scale {scale:<8} {r.scales[scale].statement}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# Datasets


def recipes_dir() -> Path:
    """The repository's ``recipes/`` folder (reproductions need a source checkout)."""
    here = Path(__file__).resolve().parents[2] / "recipes"
    if not here.is_dir():
        raise FileNotFoundError(
            f"recipes folder {str(here)!r} not found; reproductions read the recipes of a cnlbench source "
            "checkout: run from a clone of the repository (pip install -e .)"
        )
    return here


def effective_recipe(plan: ScalePlan, out: Path, data: str | Path | None = None) -> dict[str, Any]:
    """The recipe the reproduction builds: ``recipes/<plan.recipe>`` with the smoke levels and
    the ``--data`` source root applied; relative source paths are rewritten relative to ``out``
    (where the effective recipe is written), so the build records no absolute path."""
    import os

    import yaml

    path = recipes_dir() / plan.recipe
    if not path.is_file():
        raise FileNotFoundError(f"recipe {str(path)!r} is missing; restore it from the repository")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if plan.levels is not None:
        raw["levels"] = [float(x) for x in plan.levels]
    src = dict(raw.get("source", {}))
    if plan.data_key:
        value = Path(data).expanduser() if data is not None else path.parent / str(src.get(plan.data_key, ""))
        src[plan.data_key] = os.path.relpath(value.resolve(), out.resolve())
    raw["source"] = src
    return raw


def data_root(plan: ScalePlan, data: str | Path | None = None) -> Path | None:
    """The source folder the full scale reads (``--data`` or the recipe's), or None."""
    if not plan.data_key:
        return None
    import yaml

    if data is not None:
        return Path(data).expanduser().resolve()
    path = recipes_dir() / plan.recipe
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return (path.parent / str(raw.get("source", {}).get(plan.data_key, ""))).resolve()


def _register_families() -> None:
    import cnlbench.manifest.family_structured  # noqa: F401  (registers `structured`)

    try:
        import cnlbench.manifest.family_web  # noqa: F401  (registers `web`)
    except ImportError:  # pragma: no cover - the web family's optional pieces
        pass


def ensure_dataset(recipe: Mapping[str, Any], out: Path, *, progress: bool = True) -> tuple[Path, bool]:
    """Build ``recipe`` into ``out/data`` unless a build with the same recipe is there.

    Returns (dataset folder, whether it was built now)."""
    import yaml

    from cnlbench.manifest import build_from_recipe
    from cnlbench.manifest.atomic import atomic_write_bytes

    _register_families()
    out.mkdir(parents=True, exist_ok=True)
    dest = out / "data"
    record = dest / "cnlbench-build.json"
    if record.is_file():
        try:
            old = json.loads(record.read_text(encoding="utf-8")).get("recipe")
        except (OSError, json.JSONDecodeError):
            old = None
        if json.dumps(old, sort_keys=True) == json.dumps(json.loads(json.dumps(recipe)), sort_keys=True):
            return dest, False
    recipe_path = out / "recipe.yaml"
    atomic_write_bytes(recipe_path, yaml.safe_dump(dict(recipe), sort_keys=False).encode("utf-8"))
    build_from_recipe(recipe_path, dest, progress=progress)
    return dest, True


# --------------------------------------------------------------------------------------------
# Checks for the full scale


def check_requirements(plan: ScalePlan, *, device: str, allow_cpu: bool, data: str | Path | None) -> str:
    """Refuse a full-scale run without its data or a GPU; returns the device to use."""
    root = data_root(plan, data)
    if root is not None and not root.exists():
        raise FileNotFoundError(
            f"the {plan.dataset} data folder {str(root)!r} does not exist; pass --data PATH "
            f"(e.g. a folder holding the Hub Parquet copy of CIFAR-10) or use --scale reduced"
        )
    if not plan.needs_gpu:
        return device
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        if not allow_cpu:
            why = "--device cpu was asked for" if device == "cpu" else "no CUDA GPU is visible"
            raise CnlbenchError(
                f"--scale {plan.scale} trains on {plan.dataset} and needs a CUDA GPU ({why}); run on a GPU "
                "machine, use --scale reduced, or pass --allow-cpu to train on the CPU anyway (slow)"
            )
        return "cpu"
    return device


# --------------------------------------------------------------------------------------------
# Running


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


def _choose_configs(plan: ScalePlan, available: Sequence[str]) -> tuple[list[str], list[str]]:
    chosen, missing = [], []
    for pat in plan.configs:
        hits = [c for c in available if fnmatch.fnmatchcase(c, pat)]
        if not hits:
            if pat in plan.optional_configs:
                missing.append(pat)
                continue
            raise CnlbenchError(f"config {pat!r} is not in the built dataset (configs: {list(available)}); "
                                f"check recipes/{plan.recipe}")
        chosen += [c for c in hits if c not in chosen]
    return [c for c in available if c in chosen], missing


def train_overrides(repro: Reproduction, plan: ScalePlan) -> dict[str, Any]:
    """The plan's training overrides plus the reproduction's test-time corruption."""
    out = dict(plan.train_overrides)
    if repro.test_corruption:
        out["test_corruption"] = repro.test_corruption
    return out


def run_reproduction(repro: Reproduction, scale: str, out: str | Path, *, seeds: int | None = None,
                     epochs: int | None = None, device: str = "auto", allow_cpu: bool = False,
                     data: str | Path | None = None, progress: bool = True, tuned: str | Path | None = None,
                     tune: bool = False, jobs: int = 1, report_only: bool = False) -> RunOutcome:
    """Build (or reuse) the dataset and run (or resume) every run of ``repro`` at ``scale``
    through :func:`cnlbench.harness.sweep.run_sweep`.

    ``tuned``: a tuned-settings file of ``cnlbench tune`` made on this reproduction's dataset;
    ``tune``: tune the plan's methods on equal terms first (``OUT/tuning``, ``OUT/tuned.json``,
    resumable) and use the result; neither: every method at its reference defaults.
    ``report_only``: train nothing; the outcome holds the planned runs already in the store
    (e.g. of an interrupted or still running reproduction)."""
    from cnlbench.harness.data import open_built
    from cnlbench.harness.sweep import plan_sweep, run_sweep

    t0 = time.perf_counter()
    plan = repro.plan(scale)
    out = Path(out)
    if report_only:
        if not (out / "data" / "cnlbench-build.json").is_file():
            raise CnlbenchError(f"--report-only: {str(out)!r} holds no reproduction yet; run "
                                f"`cnlbench reproduce {repro.name} --scale {scale} --out {out}` first")
        if tune and tuned is None and (out / "tuned.json").is_file():
            tuned = out / "tuned.json"
        tune = False
    else:
        device = check_requirements(plan, device=device, allow_cpu=allow_cpu, data=data)
    recipe = effective_recipe(plan, out, data)
    dataset_dir, built = ensure_dataset(recipe, out, progress=progress)
    configs, missing = _choose_configs(plan, open_built(dataset_dir).configs)
    n_seeds = plan.seeds if seeds is None else int(seeds)
    if n_seeds < 1:
        raise CnlbenchError(f"--seeds {n_seeds} must be >= 1")
    n_epochs = plan.epochs if epochs is None else int(epochs)
    overrides = train_overrides(repro, plan)
    params = {k: dict(v) for k, v in plan.method_params.items() if k in plan.methods}
    if tune and tuned is None:
        from cnlbench.harness.sweep import run_tuning

        tuned = out / "tuned.json"
        run_tuning(dataset_dir, list(plan.methods), out / "tuning", tuned, configs=configs, model=plan.model,
                   epochs=n_epochs, device=device, train_overrides=overrides, progress=progress, jobs=jobs)
    if tuned is not None:  # the protocol's tuned settings replace the paper's method parameters
        params = {}
    if report_only:
        from cnlbench.harness.store import ResultsStore

        _, _, specs = plan_sweep(dataset_dir, list(plan.methods), configs, n_seeds, model=plan.model,
                                 epochs=n_epochs, device="cpu", method_params=params, train_overrides=overrides,
                                 tuned=tuned)
        ids = {s.run_id for s in specs}
        rows = [r for r in ResultsStore(out / "results").read(skip_damaged=True).to_pylist() if r["run_id"] in ids]
        return RunOutcome(rows, dataset_dir, built, configs, missing, len(rows), 0,
                          "" if tuned is None else str(tuned), time.perf_counter() - t0, len(specs))
    res = run_sweep(dataset_dir, list(plan.methods), configs, n_seeds, out / "results", model=plan.model,
                    epochs=n_epochs, device=device, method_params=params, train_overrides=overrides,
                    progress=progress, jobs=jobs, tuned=tuned)
    return RunOutcome(res.rows(), dataset_dir, built, configs, missing, res.skipped, res.written,
                      "" if tuned is None else str(tuned), time.perf_counter() - t0, len(res.run_ids))


# --------------------------------------------------------------------------------------------
# Our numbers


#: A method that reports its accuracy on the noisy-validation examples it does NOT abstain on
#: (DAC: ``val_abstain_acc``) is read at the epoch where that is best, the DAC protocol's own
#: criterion (``dac-protocol``); every other method at the engine's selected epoch.
ABSTAIN_SELECTION = "val_abstain_acc"


def selected_index(curves: Mapping[str, Any], best_epoch: Any) -> int | None:
    """Index into the per-epoch ``curves`` lists of the selected epoch, over the LAST stage:
    the best finite ``val_abstain_acc`` (earliest on ties) when the method reports one, else
    ``best_epoch`` (the engine's: best noisy-validation accuracy). None when absent."""
    epochs = curves.get("epoch") or []
    stages = curves.get("stage") or [0] * len(epochs)
    if not epochs:
        return None
    last = max(stages)
    idx = [i for i, st in enumerate(stages) if st == last]
    kept = curves.get(ABSTAIN_SELECTION) or []
    scored = [(float(kept[i]), -i) for i in idx if i < len(kept) and kept[i] is not None and math.isfinite(kept[i])]
    if scored:
        return -max(scored)[1]
    return next((i for i in idx if epochs[i] == best_epoch), None)


def _selected_point(row: Mapping[str, Any]) -> dict[str, Any]:
    """The curves' point of the selected epoch (:func:`selected_index`), {} if absent."""
    try:
        curves = json.loads(row.get("curves") or "{}")
    except (TypeError, json.JSONDecodeError):
        return {}
    i = selected_index(curves, row.get("best_epoch"))
    if i is None:
        return {}
    return {k: v[i] for k, v in curves.items() if isinstance(v, list) and len(v) > i}


def subset_metric(point: Mapping[str, Any], metric: str) -> float:
    """One of :data:`SUBSET_METRICS` (a fraction) from an epoch's curves point with the engine's
    test-subset keys (``test_affected_*``, ``test_rest_*``; see ``TrainConfig.test_corruption``).

    ``abstain_affected`` / ``abstain_rest``: share of the corrupted / other test images whose
    argmax is the abstain output, ``1 - abstain_coverage`` (NaN without an abstain output, CE);
    ``acc_rest_kept`` / ``acc_affected``: accuracy on the other / corrupted images that were not
    abstained on (plain accuracy without an abstain output)."""
    subset = "affected" if metric.endswith("affected") else "rest"

    def get(key: str) -> float:
        v = point.get(f"test_{subset}_{key}")
        return math.nan if v is None else float(v)

    if metric.startswith("abstain_"):
        return 1.0 - get("abstain_coverage")
    kept = get("abstain_acc")
    return kept if "test_" + subset + "_abstain_coverage" in point else get("acc")


def row_metric(row: Mapping[str, Any], metric: str) -> float:
    """``metric`` of one results row (a fraction for percent metrics): a store column, or one
    of :data:`SUBSET_METRICS` at the selected epoch."""
    if metric in SUBSET_METRICS:
        return subset_metric(_selected_point(row), metric)
    v = row.get(metric)
    return math.nan if v is None else float(v)


def _scale_factor(metric: str) -> float:
    return 100.0 if metric in PERCENT_METRICS else 1.0


def _level_key(config: str) -> str:
    """The level suffix that pairs configs across noise kinds (``web-40`` -> ``40``)."""
    head, sep, tail = config.rpartition("-")
    return tail if sep and tail.isdigit() else config


def metric_values(rows: Sequence[Mapping[str, Any]], method: str, config: str, metric: str,
                  exclude: Sequence[str] = ()) -> dict[tuple[str, int], float]:
    """{(level key, seed): value in display units} of ``method``'s finished runs on the
    configs matching ``config`` (a name or glob) and no pattern of ``exclude``."""
    out: dict[tuple[str, int], float] = {}
    f = _scale_factor(metric)
    for r in rows:
        c = str(r["config"])
        if r["method"] != method or r["status"] != "ok" or not fnmatch.fnmatchcase(c, config):
            continue
        if any(fnmatch.fnmatchcase(c, x) for x in exclude):
            continue
        v = row_metric(r, metric) * f
        if math.isfinite(v):
            out[(_level_key(c), int(r["seed"]))] = v
    return out


# --------------------------------------------------------------------------------------------
# Checks


def direction_verdict(iv: Any, relation: str, margin: float = 0.0, min_n: int = MIN_N) -> tuple[str, str]:
    """(verdict, reason) of a directional claim from the interval ``iv`` of the difference.

    ``above``: PASS when ``iv.low > margin``; ``below``: PASS when ``iv.high < -margin``;
    ``within``: PASS when the interval lies inside ``[-margin, margin]``. FAIL otherwise
    ("reversed" when the whole interval is on the wrong side). NOT TESTABLE when the interval
    rests on fewer than ``min_n`` observations or does not exist."""
    if relation not in ("above", "below", "within"):
        raise CnlbenchError(f"unknown relation {relation!r}; use above, below or within")
    if iv.n < min_n:
        return "NOT TESTABLE", f"{iv.n} paired value(s); a verdict needs at least {min_n}"
    if not iv.has_interval:
        return "NOT TESTABLE", "no interval (no variation to estimate)"
    if relation == "within":
        if -margin <= iv.low and iv.high <= margin:
            return "PASS", f"whole interval within ±{margin:g}"
        return "FAIL", f"interval reaches outside ±{margin:g}"
    bound = (margin if relation == "above" else -margin) + 0.0  # + 0.0: never print "-0"
    sign = 1.0 if relation == "above" else -1.0
    near, far = (iv.low, iv.high) if relation == "above" else (iv.high, iv.low)
    if sign * (near - bound) > 0:
        return "PASS", f"whole interval {relation} {bound:+g}"
    if sign * (far - bound) < 0:
        return "FAIL", f"reversed: whole interval on the other side of {bound:+g}"
    return "FAIL", f"not shown: the interval includes {bound:+g}"


def evaluate_direction(check: Direction, rows: Sequence[Mapping[str, Any]], min_n: int = MIN_N) -> CheckResult:
    """A :class:`Direction` on ``rows``: the paired difference a - b over (level, seed) with a
    95% t interval (:func:`cnlbench.board.stats.paired_difference`), or ``a`` alone (t over
    seeds) when ``b`` is None; verdict by :func:`direction_verdict`."""
    from cnlbench.board.stats import paired_difference, t_interval

    xa = metric_values(rows, check.a[0], check.a[1], check.metric, check.exclude)
    if check.b is None:
        iv = t_interval(list(xa.values()))
    else:
        xb = metric_values(rows, check.b[0], check.b[1], check.metric_b or check.metric, check.exclude)
        if not xb:
            return CheckResult(check.name, check.claim, "direction", "NOT TESTABLE", None,
                               f"no finished run of {check.b[0]} on {check.b[1]} at this scale", check.source)
        iv = paired_difference(xa, xb)
    if not xa:
        return CheckResult(check.name, check.claim, "direction", "NOT TESTABLE", None,
                           f"no finished run of {check.a[0]} on {check.a[1]} at this scale", check.source)
    verdict, why = direction_verdict(iv, check.relation, check.margin, min_n)
    return CheckResult(check.name, check.claim, "direction", verdict, iv, why, check.source)


def ordering_inputs(check: Ordering, rows: Sequence[Mapping[str, Any]], published: Sequence[Published]
                    ) -> tuple[list[str], list[np.ndarray], list[float]]:
    """(methods, per-method seed scores, published values) of the methods with both.

    A method's score for one seed is its value on ``check.config`` or, for a glob, the mean
    over the matching configs of that seed (a seed missing a level is left out)."""
    pubs = {p.method: p.value for p in published
            if (p.dataset, p.setting, p.metric) == (check.dataset, check.setting, check.metric)}
    methods, scores, values = [], [], []
    for method, value in pubs.items():
        vals = metric_values(rows, method, check.config, check.metric, check.exclude)
        levels = sorted({lv for lv, _ in vals})
        per_seed = []
        for seed in sorted({s for _, s in vals}):
            cell = [vals.get((lv, seed)) for lv in levels]
            if all(v is not None for v in cell):
                per_seed.append(float(np.mean(cell)))
        if per_seed:
            methods.append(method)
            scores.append(np.asarray(per_seed))
            values.append(float(value))
    return methods, scores, values


def evaluate_ordering(check: Ordering, rows: Sequence[Mapping[str, Any]], published: Sequence[Published],
                      rng: np.random.Generator, min_n: int = MIN_N) -> CheckResult:
    """An :class:`Ordering`: Spearman's rho between our methods' means and the published
    numbers with a bootstrap interval over seeds (:func:`cnlbench.board.stats.spearman_interval`).
    PASS when the whole interval is above 0; NOT TESTABLE with fewer than ``min_n`` methods or
    a method with fewer than ``min_n`` seeds."""
    from cnlbench.board.stats import spearman_interval

    pubs = [p for p in published if (p.dataset, p.setting, p.metric) == (check.dataset, check.setting, check.metric)]
    trust = sorted({p.trust for p in pubs}, key=TRUST_LEVELS.index)
    source = f"{pubs[0].source} ({'/'.join(trust)})" if pubs else ""
    methods, scores, values = ordering_inputs(check, rows, pubs)
    if len(methods) < min_n:
        return CheckResult(check.name, check.claim, "ordering", "NOT TESTABLE", None,
                           f"{len(methods)} method(s) with our runs and a published number; a rank needs "
                           f"at least {min_n}", source)
    iv = spearman_interval(scores, values, rng)
    ours = " > ".join(m for _, m in sorted(zip([-s.mean() for s in scores], methods)))
    theirs = " > ".join(m for _, m in sorted(zip([-v for v in values], methods)))
    order = f"ours: {ours}; published: {theirs}"
    fewest = min(s.size for s in scores)
    if fewest < min_n:
        return CheckResult(check.name, check.claim, "ordering", "NOT TESTABLE", iv,
                           f"{fewest} seed(s) for some method; an interval needs at least {min_n}. {order}", source)
    if not math.isfinite(iv.estimate) or not iv.has_interval:
        return CheckResult(check.name, check.claim, "ordering", "NOT TESTABLE", iv,
                           f"rho undefined (our means tie). {order}", source)
    if iv.low > 0:
        return CheckResult(check.name, check.claim, "ordering", "PASS", iv, f"whole interval above 0. {order}", source)
    why = "reversed: whole interval below 0" if iv.high < 0 else "not shown: the interval includes 0"
    return CheckResult(check.name, check.claim, "ordering", "FAIL", iv, f"{why}. {order}", source)


def evaluate_checks(repro: Reproduction, rows: Sequence[Mapping[str, Any]], *, seed: int = REPORT_SEED,
                    min_n: int = MIN_N) -> list[CheckResult]:
    """Every check of ``repro`` on ``rows``, in declaration order; a check whose
    ``requires`` did not PASS is NOT TESTABLE. The bootstrap draws from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    done: dict[str, CheckResult] = {}
    out = []
    for check in repro.checks:
        unmet = [(n, done[n].verdict if n in done else "missing") for n in check.requires
                 if n not in done or done[n].verdict != "PASS"]
        if unmet:
            source = check.source if isinstance(check, Direction) else ""
            why = "; ".join(f"precondition {n} is {v}" for n, v in unmet)
            res = CheckResult(check.name, check.claim, "direction" if isinstance(check, Direction) else "ordering",
                              "NOT TESTABLE", None, why, source)
        elif isinstance(check, Direction):
            res = evaluate_direction(check, rows, min_n)
        else:
            res = evaluate_ordering(check, rows, repro.published, rng, min_n)
        done[check.name] = res
        out.append(res)
    return out


# --------------------------------------------------------------------------------------------
# Comparison with the published numbers


def shows_difference(plan: ScalePlan, published: Published | None) -> bool:
    """"ours - published" is meaningful only at full scale on the paper's dataset."""
    return published is not None and plan.scale == "full" and published.dataset == plan.dataset


@dataclass(frozen=True)
class ComparisonRow:
    method: str
    setting: str
    metric: str
    ours: Any  # cnlbench.board.stats.Interval, in the metric's display units
    published: Published | None
    failed: int
    finished: int = 0
    show_difference: bool = False

    @property
    def difference(self) -> float:
        """ours - published; NaN unless the scale and dataset match the paper's."""
        if not self.show_difference or self.published is None or not math.isfinite(self.ours.estimate):
            return math.nan
        return float(self.ours.estimate - self.published.value)


def repro_dataset(repro: Reproduction) -> str:
    """The dataset the published comparison numbers were measured on (the full scale's)."""
    full = repro.scales.get("full")
    return full.dataset if full is not None else "cifar10"


def compare(repro: Reproduction, plan: ScalePlan, rows: Sequence[Mapping[str, Any]]) -> list[ComparisonRow]:
    """One row per (metric, method, config) that was run, in plan order, each beside the
    published number of the paper's dataset for that method and setting (if any)."""
    from cnlbench.board.stats import t_interval

    configs: list[str] = []
    for r in rows:
        if r["config"] not in configs:
            configs.append(r["config"])
    order = {m: i for i, m in enumerate(plan.methods)}
    configs.sort(key=lambda c: (c.rsplit("-", 1)[0], c))
    out = []
    for metric in repro.metrics:
        f = _scale_factor(metric)
        for method in sorted({r["method"] for r in rows}, key=lambda m: order.get(m, 99)):
            for config in configs:
                sel = [r for r in rows if r["method"] == method and r["config"] == config]
                if not sel:
                    continue
                ok = [row_metric(r, metric) * f for r in sel if r["status"] == "ok"]
                iv = t_interval([v for v in ok if math.isfinite(v)], kind="t over seeds")
                pub = repro.published_value(method, config, metric, repro_dataset(repro)) or next(
                    (p for p in repro.published if (p.method, p.setting, p.metric) == (method, config, metric)), None)
                n_ok = sum(r["status"] == "ok" for r in sel)
                out.append(ComparisonRow(method, config, metric, iv, pub, len(sel) - n_ok, n_ok,
                                         shows_difference(plan, pub)))
    return out


def summary_over_levels(plan: ScalePlan, rows: Sequence[Mapping[str, Any]], metric: str) -> list[tuple[str, str, Any]]:
    """(method, noise kind, Interval) of the mean over levels with a 95% t interval across the
    levels (:func:`cnlbench.board.stats.mean_over_levels`; the report prints no interval over
    fewer than :data:`MIN_N` levels)."""
    from cnlbench.board.stats import mean_over_levels

    out = []
    f = _scale_factor(metric)
    kinds = sorted({r["config"].rsplit("-", 1)[0] for r in rows})
    for method in plan.methods:
        for kind in kinds:
            per_level: dict[str, list[float]] = {}
            for r in rows:
                if r["method"] == method and r["config"].rsplit("-", 1)[0] == kind and r["status"] == "ok":
                    v = row_metric(r, metric) * f
                    if math.isfinite(v):
                        per_level.setdefault(r["config"], []).append(v)
            if per_level:
                out.append((method, kind, mean_over_levels([np.asarray(v) for v in per_level.values()])))
    return out


# --------------------------------------------------------------------------------------------
# Rendering


def _num(v: float | None, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:+.2f}" if signed else f"{v:.2f}"


def _interval_text(iv: Any, min_n: int = MIN_N) -> str:
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
        lines.append(f"| {c.name} | {c.claim} | **{c.verdict}** | {est} | {_interval_text(c.interval)} | {n} | "
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
        f"runs: {len(outcome.rows)} ({outcome.written} run now, {outcome.skipped} reused from the results store).",
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
                lines.append(f"| {method} | {kind} | {iv.estimate:.2f} | {_interval_text(iv)} | {iv.n} |")
        lines.append("")
    if repro.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in repro.notes] + [""]
    lines += ["## Citation", "", "```bibtex", repro.citation.strip(), "```", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Plan and cost (--dry-run)


def _recipe_config_names(recipe: Mapping[str, Any], num_classes: int) -> list[str]:
    from cnlbench.manifest.recipe import config_name

    names = []
    for entry in recipe.get("configs", []):
        if entry.get("generator") == "random-classes":
            names.append(config_name(entry["kind"], len(entry.get("classes", [])) / num_classes))
            continue
        for level in entry.get("levels", recipe.get("levels", [0.0])):
            names.append(config_name(entry["kind"], float(level)))
    return names


def plan_text(repro: Reproduction, scale: str, *, seeds: int | None = None, epochs: int | None = None,
              data: str | Path | None = None, tune: bool = False) -> str:
    """What ``reproduce`` would run at ``scale`` and what it costs, without building or
    training: configs (from the recipe), methods, seeds, the budget, runs and training
    image-passes (two-stage methods count twice; tuning adds its grid)."""
    import yaml

    from cnlbench.harness.engine import default_model, default_train_config
    from cnlbench.harness.methods.base import get_method
    from cnlbench.sources import make_source

    plan = repro.plan(scale)
    root = data_root(plan, data)
    raw = yaml.safe_load((recipes_dir() / plan.recipe).read_text(encoding="utf-8"))
    if plan.levels is not None:
        raw["levels"] = list(plan.levels)
    src_opts = dict(raw.get("source", {}))
    if root is not None:
        if not root.exists():
            raise FileNotFoundError(f"the {plan.dataset} data folder {str(root)!r} does not exist; pass --data PATH")
        src_opts[plan.data_key] = str(root)
    source = make_source(src_opts.pop("kind"), **src_opts)
    train_split = source.load_split("train")
    n_train_all = len(train_split.labels)
    val_frac = float(raw.get("splits", {}).get("validation", {}).get("fraction", 0.0))
    n_train = n_train_all - int(round(n_train_all * val_frac))
    n_test = len(source.load_split("test").labels)
    configs, missing = _choose_configs(plan, _recipe_config_names(raw, len(source.class_names)))
    n_seeds = plan.seeds if seeds is None else int(seeds)
    import io

    from PIL import Image

    with Image.open(io.BytesIO(train_split.images.encoded(0))) as im:
        size = int(im.size[1])
    model = plan.model or default_model(size)
    overrides = train_overrides(repro, plan)
    n_epochs = plan.epochs if epochs is None else int(epochs)
    if n_epochs is not None:
        overrides["epochs"] = n_epochs
    train = default_train_config(model, plan.dataset, **overrides)
    ep = train.epochs
    stages = sum(get_method(m).num_stages for m in plan.methods)
    runs = len(configs) * len(plan.methods) * n_seeds
    passes = len(configs) * stages * n_seeds * ep * n_train
    lines = [
        f"# Plan: `{repro.name}` at {scale} scale (dry run: nothing is built or trained)", "",
        f"- {plan.statement}",
        f"- data: {plan.dataset} from `{root if root is not None else plan.recipe}`: {n_train_all} training images "
        f"(≈{n_train} train + ≈{n_train_all - n_train} noisy validation; the build rounds per class), {n_test} test "
        f"images ({size}x{size} px)",
        f"- recipe: recipes/{plan.recipe}; configs ({len(configs)}): {', '.join(configs)}"
        + (f"; missing: {', '.join(missing)}" if missing else ""),
        f"- methods ({len(plan.methods)}): {', '.join(plan.methods)}; seeds: {n_seeds}",
        f"- model: {model}; budget: {ep} epochs per stage (the protocol's reference budget unless --epochs)"
        + f"; training config: {train.to_json()}",
        f"- runs: {runs}; training image-passes: {passes:,} ({stages} method-stages x {len(configs)} configs x "
        f"{n_seeds} seeds x {ep} epochs x {n_train} images), plus one validation and one test pass per epoch",
    ]
    if tune:
        from cnlbench.harness.tuning import method_grid

        trials = sum(len(method_grid(m)) for m in plan.methods)
        kinds = sorted({c.rsplit("-", 1)[0] for c in configs})
        lines.append(f"- tuning (--tune): {trials} settings x {len(kinds)} noise kind(s) = {trials * len(kinds)} "
                     f"more runs of {ep} epochs")
    lines += [
        "- cost: GPU time per epoch of this model is not measured yet (BENCHMARKS.md, 'GPU: TODO'); "
        "multiply the image-passes by the measured seconds per image of `benchmarks/harness_throughput.py "
        "--device cuda` for the wall time",
        f"- checks: {len(repro.checks)} ({', '.join(c.name for c in repro.checks)})",
    ]
    if plan.needs_gpu:
        lines.append("- needs a CUDA GPU (or --allow-cpu)")
    return "\n".join(lines) + "\n"


@dataclass
class ReproduceResult:
    report: str
    report_path: Path
    outcome: RunOutcome
    checks: list[CheckResult] = field(default_factory=list)


def reproduce(name: str, scale: str = "reduced", out: str | Path | None = None, *, seeds: int | None = None,
              epochs: int | None = None, device: str = "auto", allow_cpu: bool = False,
              data: str | Path | None = None, progress: bool = True, tuned: str | Path | None = None,
              tune: bool = False, jobs: int = 1, report_only: bool = False) -> ReproduceResult:
    """Run reproduction ``name`` at ``scale`` into ``out`` (default ``repro/<name>/<scale>``),
    evaluate its checks and write ``OUT/REPORT.md``; see the module docs."""
    from cnlbench.board._io import atomic_write_text

    repro = get_reproduction(name)
    plan = repro.plan(scale)
    out = Path(out) if out is not None else Path("repro") / name / scale
    outcome = run_reproduction(repro, scale, out, seeds=seeds, epochs=epochs, device=device, allow_cpu=allow_cpu,
                               data=data, progress=progress, tuned=tuned, tune=tune, jobs=jobs,
                               report_only=report_only)
    dev = sorted({str(r["device"]) for r in outcome.rows}) or [device]
    n_seeds = plan.seeds if seeds is None else seeds
    n_epochs = plan.epochs if epochs is None else epochs
    checks = evaluate_checks(repro, outcome.rows)
    text = render_report(repro, plan, outcome, seeds=n_seeds, epochs=n_epochs, device=", ".join(dev), checks=checks)
    path = atomic_write_text(out / "REPORT.md", text)
    return ReproduceResult(text, Path(path), outcome, checks)


__all__ = [
    "CheckResult", "ComparisonRow", "Direction", "Ordering", "Published", "ReproduceResult", "Reproduction",
    "RunOutcome", "SCALES", "ScalePlan", "TRUST_LEVELS", "compare", "direction_verdict", "effective_recipe",
    "ensure_dataset", "evaluate_checks", "evaluate_direction", "evaluate_ordering", "get_reproduction", "list_text",
    "metric_values", "plan_text", "published_data", "render_report", "reproduce", "reproduction_names",
    "run_reproduction", "shows_difference", "subset_metric", "summary_over_levels",
]
