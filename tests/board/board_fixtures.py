"""Helpers for the board tests: realistic results stores written with pyarrow (no harness)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# Every column of the Layer-4 results schema (docs/architecture.md), with its Arrow type.
SCHEMA = pa.schema([
    ("run_id", pa.string()), ("dataset", pa.string()), ("config", pa.string()), ("noise_kind", pa.string()),
    ("level", pa.float64()), ("method", pa.string()), ("model", pa.string()), ("method_params", pa.string()),
    ("seed", pa.int64()), ("epochs", pa.int64()), ("test_acc_final", pa.float64()),
    ("test_acc_best_val", pa.float64()), ("val_acc_best", pa.float64()), ("best_epoch", pa.int64()),
    ("ece", pa.float64()), ("ece_bins", pa.int64()), ("overconfidence", pa.float64()),
    ("auroc_noise", pa.float64()), ("abstain_coverage", pa.float64()), ("abstain_acc", pa.float64()),
    ("curves", pa.string()), ("wall_time_s", pa.float64()), ("device", pa.string()),
    ("cnlbench_version", pa.string()), ("manifest_fingerprint", pa.string()), ("status", pa.string()),
    ("error", pa.string()),
])


def fingerprint(dataset: str, config: str) -> str:
    return hashlib.sha256(f"{dataset}/{config}".encode()).hexdigest()


def make_row(dataset: str, kind: str, level: float, method: str, seed: int, acc: float, *,
             status: str = "ok", auroc: float = math.nan, epochs: int = 4) -> dict[str, Any]:
    config = f"{kind}-{round(100 * level):02d}"
    rid = hashlib.sha256(f"{dataset}|{config}|{method}|{seed}".encode()).hexdigest()
    clean = [min(1.0, 0.3 + 0.2 * e) for e in range(epochs)]
    noisy = [0.1 * e * (1.5 if method == "ce" else 0.5) for e in range(epochs)]
    ok = status == "ok"
    return {
        "run_id": rid, "dataset": dataset, "config": config, "noise_kind": kind, "level": level,
        "method": method, "model": "resnet18", "method_params": json.dumps({"lr": 0.1}), "seed": seed,
        "epochs": epochs, "test_acc_final": acc - 0.01 if ok else math.nan,
        "test_acc_best_val": acc if ok else math.nan, "val_acc_best": acc - 0.02 if ok else math.nan,
        "best_epoch": epochs - 1, "ece": 0.05 + level / 10 if ok else math.nan, "ece_bins": 15,
        "overconfidence": 0.02, "auroc_noise": auroc, "abstain_coverage": math.nan, "abstain_acc": math.nan,
        "curves": json.dumps({"train_acc_clean": clean, "train_acc_noisy_given": noisy, "val_acc": clean, "loss": noisy}),
        "wall_time_s": 12.5, "device": "cpu", "cnlbench_version": "0.1.0",
        "manifest_fingerprint": fingerprint(dataset, config), "status": status,
        "error": "" if ok else "NaN loss at epoch 2",
    }


def toy_rows() -> list[dict[str, Any]]:
    """3 methods x 2 kinds x 4 levels x 3 seeds, with one n=1 cell, one missing cell, 2 failed runs.

    Accuracies are fixed numbers so tests can check cells by hand:
    ce on sym-40 is 0.60, 0.62, 0.64 (mean 62.0, half-width 4.303 * 0.02 / sqrt(3) = 4.97 points).
    """
    levels = (0.0, 0.2, 0.4, 0.8)
    base = {"ce": 0.90, "gce": 0.91, "coteaching": 0.89}
    drop = {"sym": 0.70, "web": 0.25}
    rows = []
    for kind in ("sym", "web"):
        for method, b in base.items():
            for level in levels:
                seeds = (0, 1, 2)
                if method == "coteaching" and kind == "sym" and level == 0.8:
                    continue  # a missing cell
                if method == "gce" and kind == "sym" and level == 0.8:
                    seeds = (0,)  # an n=1 cell
                for seed in seeds:
                    acc = round(b - drop[kind] * level + 0.02 * (seed - 1), 6)
                    if method == "gce":
                        acc = round(acc + 0.3 * level * drop[kind], 6)
                    auroc = 0.5 + 0.4 * level if method == "coteaching" and level > 0 else math.nan
                    rows.append(make_row("toy", kind, level, method, seed, acc, auroc=auroc))
    # Failed runs that still carry a (bad) accuracy: they must not enter any statistic.
    for level, seed in ((0.4, 3), (0.8, 0)):
        failed = make_row("toy", "sym", level, "coteaching", seed, 0.0, status="failed")
        failed["test_acc_best_val"] = 0.10
        rows.append(failed)
    return rows


def write_store(folder: Path, rows: list[dict[str, Any]], per_file: int = 7) -> Path:
    """A results-store folder: Parquet part files of ``per_file`` rows plus store.json."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(rows), per_file):
        pq.write_table(pa.Table.from_pylist(rows[i:i + per_file], schema=SCHEMA), folder / f"part-{i:05d}.parquet")
    (folder / "store.json").write_text(json.dumps({"cnlbench_version": "0.1.0", "schema_version": 1}))
    return folder
