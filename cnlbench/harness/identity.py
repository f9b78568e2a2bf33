"""Run identity: the :class:`RunSpec` of one run, its ``run_id``, its resolution against the
loaded data, and the per-purpose seeds derived from the run seed.

:data:`HARNESS_NUMERICS_VERSION` is part of every ``run_id``: bump it whenever a change to the
engine, a method or a model can change a run's numbers, so that a store never silently reuses
rows computed by the old code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnlbench.errors import HarnessError
from cnlbench.harness.data import TaskData
from cnlbench.harness.methods.base import get_method
from cnlbench.harness.train_config import TrainConfig, default_model, default_train_config

#: Version of the harness numerics (2: output BatchNorm of the bounded losses, ProSelfLC's
#: gradient, schedules by meaning, metrics at the selected epoch).
HARNESS_NUMERICS_VERSION = 2


@dataclass(frozen=True)
class RunSpec:
    """Everything one run depends on. Picklable (plain values only) for process pools and Ray.

    ``model``/``train`` may be left None (resolved from the data by :func:`resolve_spec`); a
    sweep resolves them up front so ``run_id`` is known before training. ``fingerprint``, when
    set, must equal the manifest fingerprint of ``config`` (a dataset changed under a sweep fails)."""

    dataset_dir: str
    config: str
    method: str
    seed: int
    model: str | None = None
    method_params: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig | None = None
    device: str = "auto"
    image_root: str | None = None
    fingerprint: str = ""
    #: The tuned setting applied to this run (JSON from :mod:`cnlbench.harness.tuning`, already
    #: folded into ``method_params`` and ``train``), "" when untuned; recorded in the row.
    tuning: str = ""

    @property
    def run_id(self) -> str:
        if self.model is None or self.train is None:
            raise HarnessError("run_id needs a resolved spec (model and train config); use resolve_spec()")
        return run_id(self.fingerprint, self.config, self.method, self.method_params, self.model,
                      self.seed, self.train, tuning=self.tuning)


def resolved_method_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The method's defaults overlaid with ``params``: what the run actually uses, so that a
    changed default changes the run id."""
    return {**get_method(method).defaults, **params}


def run_id(fingerprint: str, config: str, method: str, method_params: dict[str, Any], model: str,
           seed: int, train: TrainConfig, *, tuning: str = "") -> str:
    """sha256 over everything that changes a run's numbers: the harness numerics version
    (:data:`HARNESS_NUMERICS_VERSION`), dataset fingerprint, config, method, the RESOLVED
    method parameters (defaults included), model, seed, the full training config and the tuned
    setting."""
    payload = json.dumps(
        [HARNESS_NUMERICS_VERSION, fingerprint, config, method, resolved_method_params(method, method_params),
         model, int(seed), int(train.epochs), json.loads(train.to_json()), tuning],
        sort_keys=True, default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def resolve_spec(spec: RunSpec, task: TaskData | None = None, *, image_size: int | None = None,
                 dataset: str = "", train_overrides: dict[str, Any] | None = None) -> RunSpec:
    """Fill ``model`` (from the image size) and ``train`` (the model's defaults + overrides)."""
    if task is not None:
        image_size, dataset = task.input_shape[1], task.dataset
    model = spec.model
    if model is None:
        if image_size is None:
            raise HarnessError("cannot choose a default model without the image size; pass --model")
        model = default_model(image_size)
    train = spec.train or default_train_config(model, dataset, **(train_overrides or {}))
    return dataclasses.replace(spec, model=model, train=train)


def spec_for_task(spec: RunSpec, task: TaskData) -> RunSpec:
    """``spec`` bound to its loaded data: the planned fingerprint checked against the data's
    (a dataset changed under a sweep is an error), then the fingerprint recorded and the model
    and training config resolved (:func:`resolve_spec`)."""
    if spec.fingerprint and task.fingerprint != spec.fingerprint:
        raise HarnessError(
            f"config {spec.config!r}: manifest fingerprint is {task.fingerprint} but the sweep was "
            f"planned on {spec.fingerprint}; the dataset changed during the sweep — re-run it"
        )
    return resolve_spec(dataclasses.replace(spec, fingerprint=task.fingerprint), task)


_TAGS = {"init": 1, "order": 2, "augment": 3, "method": 4, "dropout": 5}


def derive_seed(seed: int, tag: str, *extra: int) -> int:
    """A 63-bit seed for one purpose (``init``, ``order``, ``augment``, ``method``, ``dropout``)
    of a run; ``extra`` integers make further independent streams (e.g. reset and network)."""
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(_TAGS[tag], *map(int, extra)))
    return int(ss.generate_state(1, dtype=np.uint64)[0] & np.uint64(2**63 - 1))


__all__ = [
    "HARNESS_NUMERICS_VERSION",
    "RunSpec",
    "derive_seed",
    "resolve_spec",
    "resolved_method_params",
    "run_id",
    "spec_for_task",
]
