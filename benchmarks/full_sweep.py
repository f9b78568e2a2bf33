"""Wall time of the full CIFAR-10 sweep on one device, extrapolated from measured runs, and the
clean accuracy the harness reaches.

The sweep: every registered method x ten symmetric levels + CIFAR-10N's five label sets x 3
seeds, on the default model for 32x32 images (fastnet) with its default epoch budget.

Measured: one short run per method (``--measure ce`` or ``all``) on ``--train-size`` training
images for ``--measure-epochs`` epochs (engine ``run_one``: training, validation and test passes
and the per-epoch curves), and the same for 3 packed CE runs (``run_group``). Extrapolated:

    run time(m)  = t_epoch(m) x epochs x stages(m) x (45,000 / train size)
    t_epoch(m)   = measured wall / (measure epochs x stages(m))      (measured methods)
                 = t_epoch(ce) x networks(m)                          (others, --measure ce)
    sweep time   = sum over methods of run time(m) x configs x seeds
    packed sweep = packable methods at the packed per-run time of CE (x their t_epoch / CE's),
                   the rest at their single-run time

Accuracy: CE on the clean config ``sym-00`` for ``--acc-epochs`` epochs on ``--acc-train-size``
images (the full budget on a GPU; a tiny smoke test with ``--quick`` on a CPU) against the
published anchor: airbench94 reaches 94.0% on CIFAR-10 in ~10 epochs WITH label smoothing, TTA
and lookahead averaging, which fastnet deliberately leaves out (they are robustness methods).

The built dataset: ``--dataset DIR`` (``cnlbench build recipes/cifar10.yaml --out DIR``), or
``--data ../shared/data`` to build the ``sym`` and ``cifar10n`` configs once into ``--cache``.

    python benchmarks/full_sweep.py --quick --data ../shared/data --cache /tmp/cnlbench-cifar10   # CPU smoke
    python benchmarks/full_sweep.py --dataset DIR --measure all --device cuda                     # GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FULL_TRAIN = 45_000  # CIFAR-10 train rows after the 10% noisy validation split
SEEDS = 3
AIRBENCH94 = "94.0% in ~10 epochs (airbench94, A100, with label smoothing 0.2, TTA and lookahead)"


def ensure_dataset(args: argparse.Namespace) -> Path:
    if args.dataset is not None:
        return args.dataset
    if args.data is None:
        raise SystemExit("pass --dataset DIR (a built cifar10 dataset) or --data FOLDER to build one")
    out = args.cache
    if (out / "cnlbench-build.json").is_file():
        return out
    sys.path.insert(0, str(REPO / "benchmarks"))
    from build_cifar10 import load_recipe_with_data  # the CIFAR-10 build benchmark's recipe loader

    import cnlbench.manifest.family_human  # noqa: F401  (registers the human/external families)
    from cnlbench.manifest import build_from_recipe

    t0 = time.perf_counter()
    build_from_recipe(load_recipe_with_data(args.data, ["sym", "cifar10n"]), out)
    print(f"built {out} in {time.perf_counter() - t0:.0f} s")
    return out


def subset(task, n_train: int, n_eval: int):
    """The first ``n_train`` train / ``n_eval`` validation and test rows of ``task``."""
    from cnlbench.harness.data import HostSplit, TaskData

    def host(sp, n):
        return HostSplit(sp.images[:n].permute(0, 2, 3, 1).cpu().numpy(), sp.label[:n].cpu().numpy(),
                         sp.clean_label[:n].cpu().numpy(), sp.is_noisy[:n].cpu().numpy())

    return TaskData.from_host(dataset=task.dataset, config=task.config, class_names=task.class_names,
                              train=host(task.train, n_train), validation=host(task.validation, n_eval),
                              test=host(task.test, n_eval), device=task.device, noise_kind=task.noise_kind,
                              noise_level=task.noise_level, noise_matrix=task.noise_matrix,
                              fingerprint=task.fingerprint)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=None, help="folder with cifar10/ and cifar10n/ to build from")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/cnlbench-cifar10"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="CPU smoke: tiny subsets, one measured epoch")
    ap.add_argument("--measure", choices=["ce", "all"], default=None)
    ap.add_argument("--train-size", type=int, default=None)
    ap.add_argument("--measure-epochs", type=int, default=None)
    ap.add_argument("--acc-train-size", type=int, default=None)
    ap.add_argument("--acc-epochs", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None, help="the sweep's epoch budget (default: the model's)")
    args = ap.parse_args(argv)
    q = args.quick
    args.measure = args.measure or ("ce" if q else "all")
    args.train_size = args.train_size or (1024 if q else FULL_TRAIN)
    args.measure_epochs = args.measure_epochs or 1
    args.acc_train_size = args.acc_train_size or (4096 if q else FULL_TRAIN)

    from cnlbench.harness.data import load_task, open_built, resolve_device
    from cnlbench.harness.engine import RunSpec, default_train_config, run_one
    from cnlbench.harness.methods.base import get_method, method_names
    from cnlbench.harness.multirun import packable_method, run_group

    path = ensure_dataset(args)
    ds = open_built(path)
    configs = [c for c in ds.configs if c.startswith("sym-") or c.startswith("cifar10n-")]
    methods = method_names()
    model = "fastnet"
    budget = default_train_config(model, "cifar10")
    epochs = args.epochs or budget.epochs
    args.acc_epochs = args.acc_epochs or (2 if q else epochs)
    n_runs = len(methods) * len(configs) * SEEDS
    device = resolve_device(args.device)
    print(f"device: {device}{' (quick CPU smoke)' if q else ''}")
    print(f"sweep: {len(methods)} methods x {len(configs)} configs x {SEEDS} seeds = {n_runs} runs; "
          f"model {model}, {epochs} epochs per stage, batch {budget.batch_size}")

    t0 = time.perf_counter()
    full = load_task(path, "sym-40", device, dataset=ds)
    print(f"loaded sym-40 onto {device} in {time.perf_counter() - t0:.1f} s")
    n_eval = 1000 if q else len(full.validation)
    task = subset(full, args.train_size, n_eval) if args.train_size < len(full.train) else full
    scale = FULL_TRAIN / len(task.train)
    me = args.measure_epochs

    def spec(method: str, seed: int, n_epochs: int, config: str = "sym-40") -> RunSpec:
        return RunSpec(dataset_dir=str(path), config=config, method=method, seed=seed, model=model,
                       train=default_train_config(model, "cifar10", epochs=n_epochs), device=str(device))

    t_epoch: dict[str, float] = {}
    for m in (methods if args.measure == "all" else ["ce"]):
        row = run_one(spec(m, 0, me), task=task)
        stages = get_method(m).num_stages
        if row["status"] != "ok":
            print(f"  {m}: measurement failed ({row['error'].splitlines()[0]}); counted at CE's rate")
            continue
        t_epoch[m] = row["wall_time_s"] / (me * stages)
    ce = t_epoch["ce"]
    packed_rows = run_group([spec("ce", s, me) for s in range(SEEDS)], tasks={"sym-40": task})
    t_packed_ce = float(np.mean([r["wall_time_s"] for r in packed_rows])) / me
    print(f"measured on {len(task.train)} train images, {me} epoch(s): time per epoch (s, incl. evaluation)")
    for m, t in sorted(t_epoch.items()):
        print(f"  {m:24s} {t:8.3f} s/epoch  -> {t * scale:8.1f} s/epoch at 45,000 images")
    print(f"  ce packed x{SEEDS} (per run)      {t_packed_ce:8.3f} s/epoch  -> {t_packed_ce * scale:8.1f} s/epoch")

    total = packed_total = 0.0
    for m in methods:
        cls = get_method(m)
        t = t_epoch.get(m, ce * cls.num_networks)
        run_s = t * scale * epochs * cls.num_stages
        total += run_s * len(configs) * SEEDS
        p = (t_packed_ce * t / ce) * scale * epochs * cls.num_stages if packable_method(cls) else run_s
        packed_total += p * len(configs) * SEEDS
    print("formula: sweep = sum_m t_epoch(m) x (45,000 / train size) x epochs x stages(m) x configs x seeds"
          + ("; unmeasured t_epoch(m) = t_epoch(ce) x networks(m)" if args.measure == "ce" else ""))
    print(f"extrapolated sweep, runs one after another: {total / 3600:,.1f} h on {device}")
    print(f"extrapolated sweep, packable runs packed {SEEDS} at a time: {packed_total / 3600:,.1f} h on {device}")

    acc_task = subset(load_task(path, "sym-00", device, dataset=ds), args.acc_train_size, n_eval) \
        if args.acc_train_size < FULL_TRAIN else load_task(path, "sym-00", device, dataset=ds)
    t0 = time.perf_counter()
    row = run_one(spec("ce", 0, args.acc_epochs, "sym-00"), task=acc_task)
    print(f"accuracy: CE on sym-00, {len(acc_task.train)} train images, {args.acc_epochs} epochs: "
          f"test {row['test_acc_final']:.4f} (final), {row['test_acc_best_val']:.4f} (best noisy-val epoch) "
          f"on {len(acc_task.test)} test images in {time.perf_counter() - t0:.0f} s; status {row['status']}")
    print(f"published anchor: {AIRBENCH94}; fastnet here has none of those robustness tricks")
    print(json.dumps({"runs": n_runs, "sweep_h": total / 3600, "packed_sweep_h": packed_total / 3600,
                      "t_epoch_s": t_epoch, "t_epoch_packed_ce_s": t_packed_ce, "scale": scale,
                      "acc": row["test_acc_final"], "device": str(device),
                      "train": dataclasses.asdict(budget)}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
