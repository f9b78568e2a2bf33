"""Running a reproduction: build (or reuse) its dataset, run (or resume) its sweep through
:func:`cnlbench.harness.sweep.run_sweep`, optionally tuning first; the dry-run plan and its cost;
and :func:`reproduce`, the whole pipeline ending in ``OUT/REPORT.md``."""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from cnlbench.errors import CnlbenchError, MissingDataError
from cnlbench.reproduce.comparison import evaluate_checks
from cnlbench.reproduce.model import CheckResult, Reproduction, RunOutcome, ScalePlan
from cnlbench.reproduce.papers import get_reproduction
from cnlbench.reproduce.prepare import check_requirements, data_root, effective_recipe, ensure_dataset, recipes_dir
from cnlbench.reproduce.report import render_report


def choose_configs(plan: ScalePlan, available: Sequence[str]) -> tuple[list[str], list[str]]:
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
                     tune: bool = False, jobs: int = 1, report_only: bool = False,
                     reuse: Sequence[str | Path] = ()) -> RunOutcome:
    """Build (or reuse) the dataset and run (or resume) every run of ``repro`` at ``scale``
    through :func:`cnlbench.harness.sweep.run_sweep`.

    ``tuned``: a tuned-settings file of ``cnlbench tune`` made on this reproduction's dataset;
    ``tune``: tune the plan's methods on equal terms first (``OUT/tuning``, ``OUT/tuned.json``,
    resumable) and use the result; neither: every method at its reference defaults.
    ``report_only``: train nothing; the outcome holds the planned runs already in the store
    (e.g. of an interrupted or still running reproduction).
    ``reuse``: exported results files (``eval --export``, e.g. the committed
    ``leaderboard/results/digits.parquet``) whose rows of this plan's runs are imported into
    ``OUT/results`` first (:func:`import_planned`), so only the runs they lack are trained."""
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
    configs, missing = choose_configs(plan, open_built(dataset_dir).configs)
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
    imported = 0
    if report_only or reuse:
        _, _, specs = plan_sweep(dataset_dir, list(plan.methods), configs, n_seeds, model=plan.model,
                                 epochs=n_epochs, device="cpu", method_params=params, train_overrides=overrides,
                                 tuned=tuned)
        ids = {s.run_id for s in specs}
        imported = import_planned(out / "results", reuse, ids, progress=progress)
    if report_only:
        from cnlbench.harness.store import ResultsStore

        rows = [r for r in ResultsStore(out / "results").read(skip_damaged=True).to_pylist() if r["run_id"] in ids]
        return RunOutcome(rows, dataset_dir, built, configs, missing, len(rows), 0,
                          "" if tuned is None else str(tuned), time.perf_counter() - t0, len(specs), imported)
    res = run_sweep(dataset_dir, list(plan.methods), configs, n_seeds, out / "results", model=plan.model,
                    epochs=n_epochs, device=device, method_params=params, train_overrides=overrides,
                    progress=progress, jobs=jobs, tuned=tuned)
    return RunOutcome(res.rows(), dataset_dir, built, configs, missing, res.skipped, res.written,
                      "" if tuned is None else str(tuned), time.perf_counter() - t0, len(res.run_ids), imported)


def import_planned(store: str | Path, files: Sequence[str | Path], run_ids: set[str], *,
                   progress: bool = False) -> int:
    """Import into the results store ``store`` the rows of ``files`` (exported results Parquet
    files) whose ``run_id`` is in ``run_ids`` and that the store lacks; returns how many.

    A row's ``run_id`` hashes everything that changes its numbers (dataset fingerprint, config,
    method, resolved parameters, tuned setting, budget, seed, harness numerics), so a row with a
    planned id is that run; rows of other runs are left out. A missing or unreadable file is a
    :class:`~cnlbench.errors.CnlbenchError` naming it."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from cnlbench.harness.store import ResultsStore, unreadable_reason

    total = 0
    for f in files:
        path = Path(f)
        if not path.is_file():
            raise CnlbenchError(f"--reuse {str(path)!r}: no such file; pass a results Parquet file written by "
                                "`cnlbench eval --export` (e.g. leaderboard/results/digits.parquet)")
        try:
            table = pq.read_table(path, page_checksum_verification=True)
        except Exception as e:  # pyarrow raises several unrelated types for a bad file
            raise CnlbenchError(f"--reuse {str(path)!r} is not a readable Parquet results file "
                                f"({unreadable_reason(e)}); pass a file written by `cnlbench eval --export`") from None
        if "run_id" not in table.column_names:
            raise CnlbenchError(f"--reuse {str(path)!r} has no run_id column: not a cnlbench results file; "
                                "pass a file written by `cnlbench eval --export`")
        mine = table.filter(pc.is_in(table["run_id"], value_set=pa.array(sorted(run_ids), pa.string())))
        n = ResultsStore(store).import_rows(mine) if mine.num_rows else 0
        if progress:
            import sys

            print(f"reuse: {n} of the plan's {len(run_ids)} runs imported from {path} "
                  f"({mine.num_rows} planned runs in the file)", file=sys.stderr)
        total += n
    return total



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

    from cnlbench.harness.train_config import default_model, default_train_config
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
            raise MissingDataError(f"the {plan.dataset} data folder {str(root)!r} does not exist; pass --data PATH")
        src_opts[plan.data_key] = str(root)
    source = make_source(src_opts.pop("kind"), **src_opts)
    train_split = source.load_split("train")
    n_train_all = len(train_split.labels)
    val_frac = float(raw.get("splits", {}).get("validation", {}).get("fraction", 0.0))
    n_train = n_train_all - int(round(n_train_all * val_frac))
    n_test = len(source.load_split("test").labels)
    configs, missing = choose_configs(plan, _recipe_config_names(raw, len(source.class_names)))
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
        from cnlbench.manifest.recipe import parse_config_name

        trials = sum(len(method_grid(m)) for m in plan.methods)
        kinds = sorted({parse_config_name(c)[0] for c in configs})
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
              tune: bool = False, jobs: int = 1, report_only: bool = False,
              reuse: Sequence[str | Path] = ()) -> ReproduceResult:
    """Run reproduction ``name`` at ``scale`` into ``out`` (default ``repro/<name>/<scale>``),
    evaluate its checks and write ``OUT/REPORT.md``; see the module docs."""
    from cnlbench.manifest.atomic import atomic_write_text

    repro = get_reproduction(name)
    plan = repro.plan(scale)
    out = Path(out) if out is not None else Path("repro") / name / scale
    outcome = run_reproduction(repro, scale, out, seeds=seeds, epochs=epochs, device=device, allow_cpu=allow_cpu,
                               data=data, progress=progress, tuned=tuned, tune=tune, jobs=jobs,
                               report_only=report_only, reuse=reuse)
    dev = sorted({str(r["device"]) for r in outcome.rows}) or [device]
    n_seeds = plan.seeds if seeds is None else seeds
    n_epochs = plan.epochs if epochs is None else epochs
    checks = evaluate_checks(repro, outcome.rows)
    text = render_report(repro, plan, outcome, seeds=n_seeds, epochs=n_epochs, device=", ".join(dev), checks=checks)
    path = atomic_write_text(out / "REPORT.md", text)
    return ReproduceResult(text, Path(path), outcome, checks)

