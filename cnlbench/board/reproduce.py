"""Paper reproductions: build the paper's datasets, run its methods through the harness, and
print OUR numbers beside the PUBLISHED ones with their difference.

A :class:`Reproduction` (one module per paper in :mod:`cnlbench.board.reproductions`) holds the
full citation, the published numbers (:class:`Published`; ``None`` where a value could not be
traced to the paper, printed ``n/a``) and one :class:`ScalePlan` per scale:

* ``smoke``: a plumbing check (digits, 1 epoch, 1 seed, two configs); numbers are meaningless;
* ``reduced``: the digits default on 2 CPU cores in minutes; not comparable in absolute terms,
  compare the ordering (the report gives Spearman's rank correlation where it can);
* ``full``: CIFAR-10 on a GPU; refuses without the data or a GPU (``allow_cpu`` overrides).

:func:`reproduce` is resumable end to end: the dataset is built once into ``OUT/data`` (reused
while its recorded recipe equals the effective one) and every run is a row in the results store
``OUT/results`` (finished runs are skipped). The comparison is written to ``OUT/REPORT.md``.

Two runners: ``sweep`` (methods x configs x seeds through :func:`cnlbench.harness.sweep.run_sweep`)
and ``structured`` (the DAC study: the run is trained with :class:`cnlbench.harness.engine.Trainer`
on a test split that carries the config's feature on a known subset, then evaluated per example
on the affected and unaffected test images; the row goes to the same results store with those
metrics under ``curves["extra_metrics"]["structured_test"]``).
"""

from __future__ import annotations

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
#: Metrics shown in percent (ours are fractions in the store; published numbers are percent).
PERCENT_METRICS = ("test_acc_best_val", "test_acc_final", "ece", "overconfidence", "abstain_affected",
                   "abstain_rest", "acc_rest_kept", "acc_affected")
NOT_TRANSCRIBED = "not transcribed"


@dataclass(frozen=True)
class Published:
    """One published number: ``value`` in percent (None: not traced to the paper, shown n/a).

    ``method`` is our registry name; ``setting`` our config name (``sym-20``) or a summary
    column; ``dataset`` the dataset the paper measured it on; ``source`` where it was read
    (table/figure and arXiv id), or ``"not transcribed"`` when ``value`` is None.
    """

    method: str
    setting: str
    metric: str
    value: float | None
    source: str
    dataset: str = "cifar10"
    note: str = ""


@dataclass(frozen=True)
class ScalePlan:
    """What one scale builds and runs.

    ``recipe``: file name under the repository's ``recipes/``; ``configs``: config names or
    globs (``sym-*``), missing optional ones are reported, not fatal when ``optional``;
    ``levels``: overrides the recipe's levels (smoke); ``needs_gpu``/``data_key``: the full
    scale's requirements (``data_key`` is the ``source`` option ``--data`` replaces).
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
class Reproduction:
    """One paper: citation, published numbers, scales and how to compare.

    ``metrics``: the metrics the comparison shows (row columns, or the structured runner's
    test metrics); ``summary_over_levels``: also print each method's mean over the levels of
    each noise kind with a 95% t interval (the CNWL summary).
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
    runner: str = "sweep"
    summary_over_levels: bool = False
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


def list_text() -> str:
    """The ``--list`` text: name, title, citation, scales with their statements."""
    out = []
    for name in reproduction_names():
        r = get_reproduction(name)
        out.append(f"{name}\n  {r.authors}, \"{r.title}\", {r.venue} (arXiv:{r.arxiv})\n  {r.description}")
        n_pub = sum(p.value is not None for p in r.published)
        out.append(f"  published numbers stored: {n_pub} of {len(r.published)} (the rest: n/a, not transcribed)")
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
            f"(e.g. the Hub Parquet copy of CIFAR-10, such as ../shared/data/cifar10) or use --scale reduced"
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


def _choose_configs(plan: ScalePlan, available: Sequence[str]) -> tuple[list[str], list[str]]:
    import fnmatch

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


def run_reproduction(repro: Reproduction, scale: str, out: str | Path, *, seeds: int | None = None,
                     epochs: int | None = None, device: str = "auto", allow_cpu: bool = False,
                     data: str | Path | None = None, progress: bool = True) -> RunOutcome:
    """Build (or reuse) the dataset and run (or resume) every run of ``repro`` at ``scale``."""
    plan = repro.plan(scale)
    out = Path(out)
    device = check_requirements(plan, device=device, allow_cpu=allow_cpu, data=data)
    recipe = effective_recipe(plan, out, data)
    dataset_dir, built = ensure_dataset(recipe, out, progress=progress)
    from cnlbench.harness.data import open_built

    ds = open_built(dataset_dir)
    configs, missing = _choose_configs(plan, ds.configs)
    n_seeds = plan.seeds if seeds is None else int(seeds)
    n_epochs = plan.epochs if epochs is None else int(epochs)
    if n_seeds < 1:
        raise CnlbenchError(f"--seeds {n_seeds} must be >= 1")
    results = out / "results"
    if repro.runner == "structured":
        rows, skipped, written = run_structured(dataset_dir, plan, configs, n_seeds, n_epochs, device, results,
                                                progress=progress)
    else:
        from cnlbench.harness.sweep import run_sweep

        res = run_sweep(dataset_dir, list(plan.methods), configs, n_seeds, results, model=plan.model,
                        epochs=n_epochs, device=device,
                        method_params={k: dict(v) for k, v in plan.method_params.items() if k in plan.methods},
                        train_overrides=dict(plan.train_overrides), progress=progress)
        rows, skipped, written = res.rows(), res.skipped, res.written
    return RunOutcome(rows, dataset_dir, built, configs, missing, skipped, written)


def structured_test_metrics(logits: np.ndarray, labels: np.ndarray, affected: np.ndarray,
                            num_classes: int) -> dict[str, float]:
    """Per-subset test metrics of one trained network (fractions; NaN where undefined).

    ``logits``: (N, K) or (N, K + 1) with the last column the abstain output (DAC);
    ``labels``: (N,) clean labels; ``affected``: (N,) bool, the images carrying the feature.

    * ``abstain_affected`` / ``abstain_rest``: share of affected / unaffected images whose
      argmax is the abstain output (NaN without one);
    * ``acc_rest_kept``: accuracy on the unaffected images that were not abstained on;
    * ``acc_affected``: accuracy (true label) on the affected images not abstained on.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    affected = np.asarray(affected, dtype=bool)
    pred = logits.argmax(axis=1)
    has_abstain = logits.shape[1] == num_classes + 1
    abstained = pred == num_classes if has_abstain else np.zeros(len(pred), dtype=bool)

    def share(mask: np.ndarray, sel: np.ndarray) -> float:
        return float(mask[sel].mean()) if sel.any() else math.nan

    rest = ~affected
    return {
        "abstain_affected": share(abstained, affected) if has_abstain else math.nan,
        "abstain_rest": share(abstained, rest) if has_abstain else math.nan,
        "acc_rest_kept": share(pred == labels, rest & ~abstained),
        "acc_affected": share(pred == labels, affected & ~abstained),
        "n_affected": float(affected.sum()),
        "n_rest": float(rest.sum()),
    }


def _feature_test(dataset_dir: Path, config: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any], int]:
    from cnlbench.harness.data import open_built
    from cnlbench.manifest.family_structured import apply_test_feature, structured_test_rng

    ds = open_built(dataset_dir)
    meta = ds.split(config, "train").metadata or {}
    spec = dict(meta.get("noise_spec") or {})
    if spec.get("family") != "structured":
        raise CnlbenchError(f"config {config!r} is not a structured-noise config (noise_spec {spec}); "
                            "the structured runner needs configs built by the `structured` family")
    test = ds.split(config, "test")
    seed = int(meta.get("seed", 0))
    images, affected = apply_test_feature(spec, test.images_uint8(), np.asarray(test.label), structured_test_rng(seed, config))
    return images, np.asarray(test.label, dtype=np.int64), affected, spec, seed


def run_structured(dataset_dir: Path, plan: ScalePlan, configs: Sequence[str], seeds: int, epochs: int | None,
                   device: str, results: Path, *, progress: bool = True) -> tuple[list[dict[str, Any]], int, int]:
    """Train ``plan.methods`` x ``configs`` x seeds on the feature-carrying test split; resumable
    through the results store (a run whose row is stored is skipped)."""
    import torch

    from cnlbench import __version__
    from cnlbench.harness.data import SplitTensors, load_task, resolve_device
    from cnlbench.harness.engine import Trainer, default_model, default_train_config, run_id
    from cnlbench.harness.methods.base import get_method
    from cnlbench.harness.store import ResultsStore, empty_row

    store = ResultsStore(results)
    store.clean_temporaries()
    done = store.finished(include_failed=True)
    dev = resolve_device(device)
    device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    wanted, skipped, written = [], 0, 0
    for config in configs:
        images, labels, affected, spec, _ = _feature_test(dataset_dir, config)
        task = None
        for method in plan.methods:
            params = dict(plan.method_params.get(method, {}))
            for seed in range(seeds):
                if task is None:
                    task = load_task(dataset_dir, config, dev)
                    x = torch.as_tensor(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(dev)
                    y = torch.as_tensor(labels).to(dev)
                    task.test = SplitTensors(images=x, label=y, clean_label=y.clone(),
                                             is_noisy=torch.as_tensor(affected).to(dev))
                model = plan.model or default_model(task.input_shape[1])
                overrides = dict(plan.train_overrides)
                if epochs is not None:
                    overrides["epochs"] = int(epochs)
                train = default_train_config(model, task.dataset, **overrides)
                rid = run_id(task.fingerprint, config + "+test-feature", method, params, model, seed, train)
                wanted.append(rid)
                if rid in done:
                    skipped += 1
                    continue
                row = empty_row()
                row.update(run_id=rid, dataset=task.dataset, config=config, noise_kind=task.noise_kind,
                           level=math.nan if task.noise_level is None else float(task.noise_level),
                           method=method, model=model, method_params=json.dumps(params, sort_keys=True),
                           seed=seed, epochs=int(train.epochs), train_config=train.to_json(), device=device_name,
                           cnlbench_version=__version__, manifest_fingerprint=task.fingerprint)
                t0 = time.perf_counter()
                try:
                    trainer = Trainer(task, get_method(method), params, model, train, seed)
                    row.update(trainer.fit())
                    logits = trainer.logits(task.test.images).cpu().numpy()
                    extra = structured_test_metrics(logits, labels, affected, task.num_classes)
                    curves = json.loads(row["curves"])
                    curves.setdefault("extra_metrics", {})["structured_test"] = {**extra, "spec": spec}
                    row["curves"] = json.dumps(curves, allow_nan=True)
                    row["status"] = "ok"
                except Exception as exc:  # a failed run is a row, as in the harness
                    row["status"], row["error"] = "failed", f"{type(exc).__name__}: {exc}"
                row["wall_time_s"] = time.perf_counter() - t0
                store.write(row)
                written += 1
                if progress:
                    print(f"  {config} {method} seed {seed}: {row['status']} ({row['wall_time_s']:.1f} s)", flush=True)
    want = set(wanted)
    rows = [r for r in store.read().to_pylist() if r["run_id"] in want]
    return rows, skipped, written


# --------------------------------------------------------------------------------------------
# Comparison


def row_metric(row: Mapping[str, Any], metric: str) -> float:
    """``metric`` of one results row: a store column, or a structured test metric."""
    if metric in row and metric != "curves":
        v = row[metric]
        return math.nan if v is None else float(v)
    try:
        extra = json.loads(row.get("curves") or "{}").get("extra_metrics", {}).get("structured_test", {})
    except (TypeError, json.JSONDecodeError):
        return math.nan
    v = extra.get(metric)
    return math.nan if v is None else float(v)


@dataclass(frozen=True)
class ComparisonRow:
    method: str
    setting: str
    metric: str
    ours: Any  # cnlbench.board.stats.Interval, in the metric's display units
    published: Published | None
    failed: int
    finished: int = 0

    @property
    def difference(self) -> float:
        if self.published is None or self.published.value is None or not math.isfinite(self.ours.estimate):
            return math.nan
        return float(self.ours.estimate - self.published.value)


def _scale_factor(metric: str) -> float:
    return 100.0 if metric in PERCENT_METRICS else 1.0


def compare(repro: Reproduction, plan: ScalePlan, rows: Sequence[Mapping[str, Any]]) -> list[ComparisonRow]:
    """One comparison row per (method, config, metric) that was run, in plan order."""
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
                ok = [v for v in ok if math.isfinite(v)]
                iv = t_interval(ok, kind="t over seeds")
                pub = repro.published_value(method, config, metric, repro_dataset(repro))
                n_ok = sum(r["status"] == "ok" for r in sel)
                out.append(ComparisonRow(method, config, metric, iv, pub, len(sel) - n_ok, n_ok))
    return out


def repro_dataset(repro: Reproduction) -> str:
    """The dataset the published comparison numbers were measured on (the full scale's)."""
    full = repro.scales.get("full")
    return full.dataset if full is not None else "cifar10"


def summary_over_levels(plan: ScalePlan, rows: Sequence[Mapping[str, Any]], metric: str) -> list[tuple[str, str, Any]]:
    """(method, noise kind, Interval) of the mean over levels with a 95% t interval across levels."""
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


def rank_agreement(comparison: Sequence[ComparisonRow]) -> list[tuple[str, str, float, int]]:
    """(setting, metric, Spearman rho, n methods) between our and the published numbers, per
    setting with at least 3 methods having both."""
    from scipy.stats import spearmanr

    groups: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for c in comparison:
        if c.published is not None and c.published.value is not None and math.isfinite(c.ours.estimate):
            groups.setdefault((c.setting, c.metric), []).append((c.ours.estimate, c.published.value))
    out = []
    for (setting, metric), pairs in groups.items():
        if len(pairs) >= 3:
            a, b = zip(*pairs)
            out.append((setting, metric, float(spearmanr(a, b).statistic), len(pairs)))
    return out


# --------------------------------------------------------------------------------------------
# Rendering


def _num(v: float | None, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:+.2f}" if signed else f"{v:.2f}"


def _ours_text(iv: Any, n_ok: int) -> str:
    if iv.n == 0:
        return "n/a (undefined for this method)" if n_ok else "n/a (no finished run)"
    if not iv.has_interval:
        return f"{iv.estimate:.2f} (1 seed, no interval)"
    return f"{iv.estimate:.2f} ± {iv.half_width:.2f} (n={iv.n})"


def scale_statement(plan: ScalePlan, seeds: int, epochs: int | None, device: str) -> str:
    ep = "model default" if epochs is None else str(epochs)
    return f"{plan.statement} [this run: {seeds} seed(s), {ep} epoch(s), device {device}]"


def render_report(repro: Reproduction, plan: ScalePlan, outcome: RunOutcome, *, seeds: int, epochs: int | None,
                  device: str) -> str:
    """The Markdown report: scale statement, comparison table(s), summaries, citation."""
    comparison = compare(repro, plan, outcome.rows)
    lines = [
        f"# Reproduction `{repro.name}` ({plan.scale} scale)",
        "",
        f"**{repro.title}**, {repro.authors}, {repro.venue} (arXiv:{repro.arxiv}).",
        "",
        f"**Scale**: {scale_statement(plan, seeds, epochs, device)}",
        "",
        f"Dataset: `{outcome.dataset_dir}` ({'built now' if outcome.built else 'cached build reused'}); "
        f"runs: {len(outcome.rows)} ({outcome.written} run now, {outcome.skipped} reused from the results store).",
        "",
        "Ours: mean over seeds ± 95% t half-width. Published: the paper's number where it could be traced "
        f"to the text (source in the last column), `n/a` where it was not transcribed. Published numbers were "
        f"measured on {repro_dataset(repro)}.",
        "",
    ]
    if outcome.missing_configs:
        lines += [f"Missing from the built dataset (skipped): {', '.join(outcome.missing_configs)}.", ""]
    for metric in repro.metrics:
        rows = [c for c in comparison if c.metric == metric]
        if not rows:
            continue
        unit = " (%)" if metric in PERCENT_METRICS else ""
        lines += [f"## {metric}{unit}", "",
                  "| method | config | ours | published | ours − published | source |",
                  "|---|---|---|---|---|---|"]
        for c in rows:
            pub = c.published
            src = pub.source if pub is not None else "not in the paper's table"
            failed = f" ({c.failed} failed)" if c.failed else ""
            lines.append(f"| {c.method} | {c.setting} | {_ours_text(c.ours, c.finished)}{failed} | "
                         f"{_num(None if pub is None else pub.value)} | {_num(c.difference, signed=True)} | {src} |")
        lines.append("")
    bins = sorted({int(r["ece_bins"]) for r in outcome.rows if r.get("ece_bins") not in (None, -1)})
    if any(m in ("ece", "overconfidence") for m in repro.metrics) and bins:
        lines += [f"ECE and OE use {', '.join(map(str, bins))} equal-width confidence bins.", ""]
    if repro.summary_over_levels:
        lines += ["## Mean over levels (CNWL summary)", "",
                  "Mean of the per-level means with a 95% t interval across the levels; it reflects spread "
                  "BETWEEN levels, not seed uncertainty.", "",
                  "| method | noise kind | mean over levels | 95% interval | levels |", "|---|---|---|---|---|"]
        for metric in repro.metrics[:1]:
            for method, kind, iv in summary_over_levels(plan, outcome.rows, metric):
                ivt = f"[{iv.low:.2f}, {iv.high:.2f}]" if iv.has_interval else "n/a"
                lines.append(f"| {method} | {kind} | {iv.estimate:.2f} | {ivt} | {iv.n} |")
        lines.append("")
    ranks = rank_agreement(comparison)
    if ranks:
        lines += ["## Ordering", "", "Spearman rank correlation between our and the published numbers across methods:", ""]
        for setting, metric, rho, n in ranks:
            lines.append(f"- {setting} / {metric}: rho = {rho:+.2f} over {n} methods")
        lines.append("")
    if repro.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in repro.notes] + [""]
    lines += ["## Citation", "", "```bibtex", repro.citation.strip(), "```", ""]
    return "\n".join(lines)


@dataclass
class ReproduceResult:
    report: str
    report_path: Path
    outcome: RunOutcome


def reproduce(name: str, scale: str = "reduced", out: str | Path | None = None, *, seeds: int | None = None,
              epochs: int | None = None, device: str = "auto", allow_cpu: bool = False,
              data: str | Path | None = None, progress: bool = True) -> ReproduceResult:
    """Run reproduction ``name`` at ``scale`` into ``out`` (default ``repro/<name>/<scale>``) and
    write ``OUT/REPORT.md``; see the module docs."""
    from cnlbench.board._io import atomic_write_text

    repro = get_reproduction(name)
    plan = repro.plan(scale)
    out = Path(out) if out is not None else Path("repro") / name / scale
    outcome = run_reproduction(repro, scale, out, seeds=seeds, epochs=epochs, device=device,
                               allow_cpu=allow_cpu, data=data, progress=progress)
    dev = sorted({str(r["device"]) for r in outcome.rows}) or [device]
    n_seeds = plan.seeds if seeds is None else seeds
    n_epochs = plan.epochs if epochs is None else epochs
    text = render_report(repro, plan, outcome, seeds=n_seeds, epochs=n_epochs, device=", ".join(dev))
    path = atomic_write_text(out / "REPORT.md", text)
    return ReproduceResult(text, Path(path), outcome)


__all__ = [
    "ComparisonRow", "Published", "ReproduceResult", "Reproduction", "RunOutcome", "SCALES", "ScalePlan",
    "compare", "effective_recipe", "ensure_dataset", "get_reproduction", "list_text", "rank_agreement",
    "render_report", "reproduce", "reproduction_names", "run_reproduction", "structured_test_metrics",
    "summary_over_levels",
]
