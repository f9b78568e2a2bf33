"""The run engine's entry points: one (dataset config, method, model, seed) run -> one results row.

``run_one(spec)`` is a pure function of a picklable :class:`RunSpec`, so the local process pool
and Ray ship the same call. The engine is four modules, re-exported here:

* :mod:`cnlbench.harness.train_config`: :class:`TrainConfig`, the model's defaults, schedules;
* :mod:`cnlbench.harness.identity`: :class:`RunSpec`, ``run_id``, spec resolution, seeds;
* :mod:`cnlbench.harness.trainer`: :class:`Trainer` (the loop) and its network executors;
* :mod:`cnlbench.harness.rows`: run -> results row (:func:`~cnlbench.harness.rows.result_row`).

A non-finite training loss or any exception ends the run with a ``status = "failed"`` row
carrying the message.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable

from cnlbench.harness.data import TaskData, load_task, resolve_device
from cnlbench.harness.identity import (
    HARNESS_NUMERICS_VERSION,
    RunSpec,
    derive_seed,
    resolve_spec,
    resolved_method_params,
    run_id,
    spec_for_task,
)
from cnlbench.harness.methods.base import get_method
from cnlbench.harness.networks import compile_network
from cnlbench.harness.rows import SELECTED_METRICS, device_label, result_row
from cnlbench.harness.train_config import TrainConfig, default_model, default_train_config
from cnlbench.harness.trainer import EpochHook, NonFiniteLossError, Trainer


def train_task(task: TaskData, method: str, *, seed: int, model: str | None = None,
               method_params: dict[str, Any] | None = None, train: TrainConfig | None = None,
               on_epoch: EpochHook | None = None) -> dict[str, Any]:
    """Train on already-loaded data; returns the metric columns and ``curves`` (no bookkeeping).
    Raises on failure (see :func:`run_one` for the failure row). ``on_epoch``: see
    :meth:`Trainer.fit`."""
    cls = get_method(method)
    model = model or default_model(task.input_shape[1])
    train = train or default_train_config(model, task.dataset)
    return Trainer(task, cls, dict(method_params or {}), model, train, seed).fit(on_epoch)


def run_one(spec: RunSpec, task: TaskData | None = None, *,
            on_epoch: Callable[[RunSpec, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train one run and return its results row (a dict of the store columns).

    Never raises for a failing run: a NaN loss or an exception gives ``status = "failed"`` with
    the message in ``error`` (:func:`~cnlbench.harness.rows.result_row`). ``task`` passes
    already-loaded data (tests, notebooks). ``on_epoch(resolved_spec, point)`` is called after
    every epoch (see :meth:`Trainer.fit`)."""
    t0 = time.perf_counter()
    device_name = str(spec.device)
    result: dict[str, Any] | None = None
    error: Exception | None = None
    try:
        device = resolve_device(spec.device)
        device_name = device_label(device)
        if task is None:
            task = load_task(spec.dataset_dir, spec.config, device, spec.image_root)
        spec = spec_for_task(spec, task)
        hook = None if on_epoch is None else functools.partial(on_epoch, spec)
        result = train_task(task, spec.method, seed=spec.seed, model=spec.model,
                            method_params=spec.method_params, train=spec.train, on_epoch=hook)
    except Exception as exc:  # a failed run is a row, never a crashed sweep
        error = exc
    return result_row(spec, task, device_name, result=result, error=error, wall_time_s=time.perf_counter() - t0)


__all__ = [
    "EpochHook",
    "HARNESS_NUMERICS_VERSION",
    "SELECTED_METRICS",
    "NonFiniteLossError",
    "RunSpec",
    "TrainConfig",
    "Trainer",
    "compile_network",
    "default_model",
    "default_train_config",
    "derive_seed",
    "resolve_spec",
    "resolved_method_params",
    "run_id",
    "run_one",
    "train_task",
]
