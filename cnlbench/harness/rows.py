"""Run -> results row: the ONE place that turns a run (its spec, its data, what training
returned or raised) into a row of the store's columns (:data:`cnlbench.harness.store.COLUMNS`).

* :func:`metric_columns` turns a finished run's per-epoch ``curves`` points into the row's metric
  columns: every metric at the SELECTED epoch (best noisy-validation accuracy of the last stage,
  earliest on ties) and, as ``*_final``, at the end of training;
* :func:`result_row` is the builder every caller uses (``run_one``, packed runs in
  :mod:`cnlbench.harness.multirun`, reproductions): identity columns from the spec and the
  data, then either the metrics (``status = "ok"``) or the failure (``status = "failed"``,
  ``error`` = the exception's type and message, plus the last frames of the traceback for an
  exception that is not a :class:`~cnlbench.errors.HarnessError`).

Callers bind a spec to its data with :func:`cnlbench.harness.identity.spec_for_task` (which
checks the planned manifest fingerprint) before training.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import traceback
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from cnlbench import __version__
from cnlbench.errors import HarnessError
from cnlbench.harness import metrics as M
from cnlbench.harness.data import TaskData
from cnlbench.harness.identity import HARNESS_NUMERICS_VERSION, RunSpec
from cnlbench.harness.store import empty_row

#: Row metrics reported at the selected epoch (best noisy validation) and, as ``<name>_final``,
#: at the end of training.
SELECTED_METRICS = ("ece", "overconfidence", "auroc_noise", "abstain_coverage", "abstain_acc")


def device_label(device: torch.device) -> str:
    """The row's ``device`` column: the CUDA device's name, or ``cpu``."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def json_default(v: Any) -> Any:
    """``json.dumps`` fallback for the curves: numpy and 0-d torch scalars as numbers."""
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, torch.Tensor):
        return v.item()
    return str(v)


def metric_columns(curves: Sequence[Mapping[str, Any]], final: Mapping[str, float], test_acc_final: float,
                   *, num_stages: int, ece_bins: int) -> dict[str, Any]:
    """The metric columns of a finished run (row columns + ``curves`` JSON).

    ``curves``: one point per epoch (``stage``, ``epoch``, ``val_acc``, ``test_acc``,
    ``test_<metric>``, ...); ``final``: the metrics of the networks as training left them;
    the selected epoch is the best ``val_acc`` of the last stage (earliest on ties)."""
    last = [p for p in curves if p["stage"] == num_stages - 1]
    best = last[M.select_best_epoch([p["val_acc"] for p in last])]
    result: dict[str, Any] = {
        "test_acc_final": test_acc_final,
        "test_acc_best_val": best["test_acc"],
        "val_acc_best": best["val_acc"],
        "best_epoch": int(best["epoch"]),
        "ece_bins": int(ece_bins),
    }
    for key in SELECTED_METRICS:
        result[key] = float(best.get(f"test_{key}", math.nan))
        result[f"{key}_final"] = float(final.get(key, math.nan))
    curve_cols: dict[str, list] = {}
    for p in curves:
        for k in p:
            curve_cols.setdefault(k, [])
    for p in curves:
        for k in curve_cols:
            curve_cols[k].append(p.get(k, math.nan))
    other = {k: float(v) for k, v in final.items() if k not in SELECTED_METRICS}
    curve_cols["extra_metrics"] = other  # type: ignore[assignment]
    result["curves"] = json.dumps(curve_cols, default=json_default, allow_nan=True)
    return result


def base_row(spec: RunSpec, task: TaskData | None, device: str) -> dict[str, Any]:
    """The identity columns of a run (everything but the metrics, status and wall time)."""
    row = empty_row()
    row.update(
        dataset="" if task is None else task.dataset,
        config=spec.config,
        noise_kind="" if task is None else task.noise_kind,
        level=math.nan if task is None or task.noise_level is None else float(task.noise_level),
        method=spec.method,
        model=spec.model or "",
        method_params=json.dumps(spec.method_params, sort_keys=True, default=str),
        seed=int(spec.seed),
        epochs=-1 if spec.train is None else int(spec.train.epochs),
        train_config="" if spec.train is None else spec.train.to_json(),
        device=device,
        cnlbench_version=__version__,
        manifest_fingerprint=spec.fingerprint if task is None else task.fingerprint,
        tuning=spec.tuning,
        harness_version=HARNESS_NUMERICS_VERSION,
    )
    if spec.model is not None and spec.train is not None:
        with contextlib.suppress(HarnessError):  # an unknown method: the fallback id below
            row["run_id"] = spec.run_id
    return row


def failure_message(exc: BaseException) -> str:
    """The ``error`` column of a failed run: type and message; for an exception that is not a
    :class:`HarnessError` (a bug or a crash rather than bad input) also the last traceback frames."""
    msg = f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, HarnessError):
        msg += "\n" + "".join(traceback.format_exception(exc)[-3:])
    return msg


def result_row(spec: RunSpec, task: TaskData | None, device: str, *, result: Mapping[str, Any] | None = None,
               error: BaseException | None = None, wall_time_s: float = math.nan) -> dict[str, Any]:
    """THE results row of one run (a dict with exactly the store's columns).

    ``spec``: the run as far as it was resolved (:func:`~cnlbench.harness.identity.spec_for_task`
    once the data is loaded; the spec as given when loading failed); ``task``: its data, or None
    when loading failed; ``device``: :func:`device_label` of the device (or the requested name);
    ``result``: what training returned (``Trainer.fit``: metric columns + ``curves``);
    ``error``: what training or preparation raised. With ``error`` set, or no ``result``, the
    row is ``failed`` with :func:`failure_message`; else ``ok`` with the metrics. A run whose id
    cannot be computed (unknown method, unresolved spec) gets a stable fallback id."""
    row = base_row(spec, task, device)
    if error is None and result is not None:
        row.update(result)
        row["status"] = "ok"
    else:
        row["status"] = "failed"
        row["error"] = failure_message(error or HarnessError("the run produced no result"))
    row["wall_time_s"] = wall_time_s
    if not row["run_id"]:
        row["run_id"] = hashlib.sha256(json.dumps([spec.fingerprint, spec.config, spec.method, spec.seed,
                                                   row["method_params"]]).encode()).hexdigest()
    return row


def with_packing(row: dict[str, Any], packed: int, group_wall_s: float) -> dict[str, Any]:
    """``row`` (changed in place and returned) marked as trained in a group of ``packed`` runs
    that took ``group_wall_s``: ``curves`` gains ``packed_runs`` and ``group_wall_time_s`` (a
    failed row's empty curves become just those two) and ``wall_time_s`` is the run's share."""
    try:
        curves = json.loads(row["curves"]) if row["curves"] else {}
    except json.JSONDecodeError:
        return row
    curves["packed_runs"] = packed
    curves["group_wall_time_s"] = group_wall_s
    row["curves"] = json.dumps(curves, allow_nan=True)
    row["wall_time_s"] = group_wall_s / max(1, packed)
    return row


__all__ = [
    "SELECTED_METRICS",
    "base_row",
    "device_label",
    "failure_message",
    "json_default",
    "metric_columns",
    "result_row",
    "with_packing",
]
