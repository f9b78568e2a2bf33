"""Many runs on one device: R compatible runs trained in lockstep through ONE grouped network.

Small networks leave a GPU mostly idle; the runs of a sweep (seeds x levels x methods) share the
images, the model and the schedule and differ in labels, seeds and losses.
``run_group(specs)`` packs compatible runs and trains them together:

* every run keeps its OWN :class:`~cnlbench.harness.trainer.Trainer` (data order,
  augmentation generator, labels, normaliser, method object and state, hooks, curves, result
  assembly): only the network is shared. The R single networks are built by their trainers
  from their own seeds and then copied into one :class:`~cnlbench.harness.models.grouped.
  GroupedNetwork` (grouped convolutions, per-channel batch norm, a batched linear head);
* a training step gathers each run's batch and ``method.prepare_inputs(batch)``, stacks the R
  inputs along channels (B, R*C, H, W), does one forward (B, R, K), hands run r the slice
  ``logits[:, r]`` for ``method.loss_from_logits``, and backpropagates the SUM of the R losses:
  the parameter slices are disjoint, so each run's gradient is exactly its own loss's gradient;
* one SGD step over the grouped parameters (and every method's own parameters) is
  elementwise, hence the same update each run would make alone (same lr schedule, momentum,
  weight decay: packing requires the same effective training config);
* evaluation (validation/test each epoch, the train-set passes of the curves and of the hooks
  ``predict_train``/``train_losses``) is one grouped forward per split, cached until weights
  change, each run reading its slice; ``snapshot``/``restore`` act on the run's slice only.

Each run's ``Trainer.fit`` runs unchanged in its own Python thread. The group gives each trainer
its :class:`GroupMember` as network executor (the trainer's seam,
:class:`~cnlbench.harness.trainer.NetworkExecutor`), whose training epoch is a barrier: when
every live run has arrived at its epoch, the last one to arrive trains that epoch for all of
them (:meth:`TrainingGroup.lockstep_epoch`, from the same trainer pieces and
:class:`~cnlbench.harness.trainer.EpochLog` as a single run's epoch). Threads never run training concurrently, and each
run's arithmetic reads only its own tensors, so the result of a run does not depend on its
partners beyond float rounding: a grouped convolution may sum products in a different order
than the single one (fp64 is bit-identical on CPU, fp32 differs at ~1e-7 relative), and a
difference at a ReLU/max-pool kink or an argmax tie can then grow during training. Accuracies
therefore match run_one's exactly or within an example or two, not bit for bit.

Packable runs: the method is two-phase (``Method.two_phase``) with one network and one stage,
and the runs agree on device, model, effective :class:`TrainConfig` (after the method's
``engine_overrides``), number of outputs, image shape and split sizes. Everything else —
and any run whose method calls ``reset_networks`` or trains on a mask that changes the number
of steps — is run by :func:`~cnlbench.harness.engine.run_one`, transparently: the rows are
the same columns either way.

Rows: exactly :func:`run_one`'s columns, built by the same
:func:`~cnlbench.harness.rows.result_row`. ``curves`` (JSON) gains ``packed_runs`` (R, 1 when
run alone) and ``group_wall_time_s``; ``wall_time_s`` is the group's wall time divided by R
(the device time attributable to the run, so summing ``wall_time_s`` over a sweep still gives
its cost).
"""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.backends import epoch_callback
from cnlbench.harness.data import TaskData, load_task, open_built, resolve_device
from cnlbench.harness.engine import run_one
from cnlbench.harness.identity import RunSpec, spec_for_task
from cnlbench.harness.methods.base import Method, get_method
from cnlbench.harness.models.grouped import load_run_state, ungroup
from cnlbench.harness.networks import make_grouped_network
from cnlbench.harness.rows import device_label, result_row, with_packing
from cnlbench.harness.train_config import TrainConfig
from cnlbench.harness.trainer import EpochLog, EpochPlan, NonFiniteLossError, Trainer
from cnlbench.manifest.schema import SPLITS

#: Default largest number of runs packed into one grouped network.
DEFAULT_MAX_RUNS = 16


class PackingError(HarnessError):
    """A run cannot continue packed (it will be re-run on its own by :func:`run_one`)."""


def packable_method(method: type[Method]) -> bool:
    """True when a method's step can share a grouped forward: two-phase, one network, one stage."""
    return bool(method.two_phase and method.num_networks == 1 and method.num_stages == 1)


def packing_key(spec: RunSpec, task: TaskData) -> tuple | None:
    """Runs with equal keys can be packed; None for a run that cannot be packed at all.

    ``spec`` must be resolved (model and train config set)."""
    cls = get_method(spec.method)
    if not packable_method(cls) or spec.model is None or spec.train is None:
        return None
    overrides = dict(cls.engine_overrides)
    cfg = spec.train.replace(**overrides) if overrides else spec.train
    return (str(task.device), spec.model, cfg, task.num_classes + cls.extra_outputs, task.input_shape,
            len(task.train), len(task.validation), len(task.test))


# --------------------------------------------------------------------------------------------
# The shared network and the lockstep barrier


class GroupMember:
    """Run r's :class:`~cnlbench.harness.trainer.NetworkExecutor` in a :class:`TrainingGroup`:
    its network is its slice of the grouped network, its epoch the group's lockstep epoch."""

    nets: Sequence[Any] = ()  # the method's training_step is never called for a packed run

    def __init__(self, group: "TrainingGroup", r: int):
        self.group, self.r = group, r

    def build(self, resets: int) -> None:
        raise PackingError(f"method {self.group.trainers[self.r].method.name!r} re-initialises its network; "
                           "packed runs cannot, so this run is trained on its own")

    def new_optimizer(self) -> None:
        raise PackingError("a packed run has one stage; a method with several is trained on its own")

    def logits(self, network: int, images: torch.Tensor) -> torch.Tensor:
        return self.group.logits(self.r, images)

    def train_logits(self, network: int) -> torch.Tensor:
        return self.group.logits(self.r, self.group.trainers[self.r].task.train.images)

    def train_epoch(self, plan: EpochPlan) -> tuple[int, dict[str, Any]]:
        return self.group.train_epoch(self.r, plan)

    def snapshot(self) -> Any:
        with self.group.lock:
            return [ungroup(self.group.net, self.r)]

    def restore(self, snap: Any) -> None:
        with self.group.lock:
            load_run_state(self.group.net, self.r, dict(snap[0]))
            self.group.version += 1


class TrainingGroup:
    """R trainers sharing one grouped network, an optimiser, and an epoch barrier. Each trainer's
    executor becomes its :class:`GroupMember`; :meth:`close` releases them."""

    def __init__(self, trainers: list[Trainer], impl: str = "auto"):
        self.trainers = trainers
        self.runs = len(trainers)
        t0 = trainers[0]
        self.cfg: TrainConfig = t0.cfg
        self.device = t0.device
        self.cuda = self.device.type == "cuda"
        self.net = make_grouped_network([t.nets[0] for t in trainers], self.cfg, self.device, impl)
        params = [p for p in self.net.parameters() if p.requires_grad]
        for t in trainers:
            params += [p for p in t.method.extra_parameters() if p.requires_grad]
        cfg = self.cfg
        self.opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                                   weight_decay=cfg.weight_decay)
        self.lock = threading.RLock()  # guards the network (eval, restore)
        self.version = 0  # bumps whenever any run's weights change
        self.cache: dict[tuple[str, int], list[torch.Tensor]] = {}  # (split, version) -> logits per run
        self.cond = threading.Condition()
        self.live = set(range(self.runs))  # runs whose fit() is still going
        self.arrived: dict[int, EpochPlan] = {}
        self.results: dict[int, Any] = {}
        for r, t in enumerate(trainers):
            t.use_executor(GroupMember(self, r))

    def close(self) -> None:
        """Release the trainers and drop the network, optimiser and caches: the trainers (through
        their members) and the group refer to each other, and a cycle waits for the garbage
        collector, so without this a finished group's device memory (grouped network,
        momentum, each run's padded images) stayed allocated while later groups ran."""
        self.trainers = []
        self.cache.clear()
        self.results.clear()
        self.net = None  # type: ignore[assignment]
        self.opt = None  # type: ignore[assignment]

    # -- evaluation ---------------------------------------------------------------------
    def _split_of(self, r: int, images: torch.Tensor) -> str | None:
        task = self.trainers[r].task
        for name in SPLITS:
            if getattr(task, name).images is images:
                return name
        return None

    @torch.no_grad()
    def _forward_eval(self, per_run: list[torch.Tensor]) -> list[torch.Tensor]:
        """Logits (N, K) float of every run, run s evaluated on ``per_run[s]`` (N, C, H, W) uint8."""
        n = per_run[0].shape[0]
        bs = self.cfg.eval_batch_size
        outs: list[list[torch.Tensor]] = [[] for _ in range(self.runs)]
        was = self.net.training
        self.net.eval()
        try:
            with self.trainers[0].autocast():
                for s in range(0, n, bs):
                    logits = self.forward([t.normalize(im[s:s + bs]) for t, im in zip(self.trainers, per_run)]).float()
                    for r in range(self.runs):
                        outs[r].append(logits[:, r])
        finally:
            self.net.train(was)
        k = self.trainers[0].outputs
        return [torch.cat(o) if o else torch.empty((0, k), device=self.device) for o in outs]

    def logits(self, r: int, images: torch.Tensor) -> torch.Tensor:
        """Run r's logits (N, K + E) on ``images`` (uint8, one of its splits or any tensor); a
        split is evaluated for every run at once and cached until any run's weights change."""
        split = self._split_of(r, images)
        with self.lock:
            if split is None:  # not a split: evaluate it for run r alone (every slot gets it)
                return self._forward_eval([images] * self.runs)[r]
            key = (split, self.version)
            if key not in self.cache:
                self.cache = {k: v for k, v in self.cache.items() if k[1] == self.version}
                self.cache[key] = self._forward_eval([getattr(t.task, split).images for t in self.trainers])
            return self.cache[key][r]

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """Logits (B, R, K): run r on ``xs[r]``; channels_last on CUDA as the engine does."""
        return self.net.forward_runs(xs, torch.channels_last if self.cuda else None)

    # -- training: the barrier --------------------------------------------------------------
    def train_epoch(self, r: int, plan: EpochPlan) -> tuple[int, dict[str, Any]]:
        """Called by run r's ``fit`` in its thread; returns when the lockstep epoch is done."""
        with self.cond:
            self.arrived[r] = EpochPlan(*plan)
            self._maybe_train()
            self.cond.wait_for(lambda: r in self.results)
            res = self.results.pop(r)
        if isinstance(res, BaseException):
            raise res
        return res

    def leave(self, r: int) -> None:
        """Run r's ``fit`` ended (finished or raised): the barrier no longer waits for it."""
        with self.cond:
            self.live.discard(r)
            self.arrived.pop(r, None)
            self._maybe_train()

    def _maybe_train(self) -> None:
        if not self.arrived or set(self.arrived) != self.live:
            return
        arrived, self.arrived = dict(self.arrived), {}
        try:
            self.results.update(self.lockstep_epoch(arrived))
        except Exception as exc:  # the shared part failed (e.g. out of memory): every run alone
            err = PackingError(f"packed training failed ({type(exc).__name__}: {exc}); the run is "
                               "trained on its own")
            self.results.update({r: err for r in arrived})
        self.cond.notify_all()

    def lockstep_epoch(self, arrived: Mapping[int, tuple[int, int, int, int]]) -> dict[int, Any]:
        """Train one epoch of the runs in ``arrived`` (run -> :class:`EpochPlan`, equal for all)
        together; returns run -> (steps so far, epoch info) or the exception that ended the run."""
        live = sorted(arrived)
        plans = {EpochPlan(*p) for p in arrived.values()}
        if len(plans) != 1:
            raise PackingError(f"runs reached different (stage, epoch, step, total) {sorted(plans)}")
        plan = plans.pop()
        trainers = [self.trainers[r] for r in live]
        orders = [t.epoch_batches() for t in trainers]
        if len({tuple(len(b) for b in o) for o in orders}) != 1:
            raise PackingError("runs have different numbers or sizes of batches per epoch (a train mask)")
        self.net.train()
        failed: dict[int, BaseException] = {}
        logs = {r: EpochLog(self.device) for r in live}
        lr, step = self.cfg.lr, plan.step0
        for i in range(len(orders[0])):
            lrs = {t.next_lr(plan.total_steps) for t in trainers}
            if len(lrs) != 1:
                raise PackingError(f"runs disagree on the learning rate at step {step}: {sorted(lrs)}")
            lr = lrs.pop()
            for g in self.opt.param_groups:
                g["lr"] = lr
            self.opt.zero_grad(set_to_none=True)
            batches = {r: t.make_batch(o[i], plan, step) for r, t, o in zip(live, trainers, orders) if r not in failed}
            losses: list[torch.Tensor] = []
            with trainers[0].autocast():
                xs: dict[int, torch.Tensor] = {}
                for r, batch in batches.items():
                    try:
                        xs[r] = self.trainers[r].method.prepare_inputs(batch)
                    except Exception as exc:  # this run's method failed: only this run fails
                        failed[r] = exc
                if not xs:
                    break
                # a slot whose run has ended or failed gets zeros: it is computed, never used
                fill = torch.zeros_like(next(iter(xs.values())))
                logits = self.forward([xs.get(r, fill) for r in range(self.runs)])
                for r in xs:
                    try:
                        out = self.trainers[r].method.loss_from_logits(batches[r], logits[:, r])
                    except Exception as exc:
                        failed[r] = exc
                        continue
                    losses.append(logs[r].add(out))
            if losses:  # disjoint parameters: d(sum)/d(theta_r) = d(loss_r)/d(theta_r)
                torch.stack(losses).sum().backward()
                self.opt.step()
            for t in trainers:
                t.schedule.advance()
            step += 1
        with self.lock:
            self.version += 1
        out: dict[int, Any] = {}
        steps = len(orders[0])
        batch = len(orders[0][0]) if orders[0] else 0
        for r, t in zip(live, trainers):
            if r in failed:
                out[r] = failed[r]
                continue
            try:
                out[r] = (step, logs[r].finish(plan, t.method.name, lr, steps, batch))
            except NonFiniteLossError as exc:
                out[r] = exc
        return out


# --------------------------------------------------------------------------------------------
# Runs -> rows


@dataclass
class _Run:
    index: int  # position in the caller's list
    spec: RunSpec  # resolved
    task: TaskData
    device_name: str
    trainer: Trainer | None = None
    result: dict[str, Any] | None = None
    error: BaseException | None = None


@dataclass
class _Loader:
    """Opens each dataset once and loads each (dataset, config, device) once."""

    tasks: Mapping[str, TaskData] = field(default_factory=dict)
    datasets: dict[tuple, Any] = field(default_factory=dict)
    loaded: dict[tuple, TaskData] = field(default_factory=dict)

    def __call__(self, spec: RunSpec, device: torch.device) -> TaskData:
        if spec.config in self.tasks:
            return self.tasks[spec.config]
        key = (spec.dataset_dir, spec.image_root, spec.config, str(device))
        if key not in self.loaded:
            dkey = (spec.dataset_dir, spec.image_root)
            if dkey not in self.datasets:
                self.datasets[dkey] = open_built(spec.dataset_dir, spec.image_root)
            self.loaded[key] = load_task(spec.dataset_dir, spec.config, device, spec.image_root,
                                         dataset=self.datasets[dkey])
        return self.loaded[key]


def _prepare(index: int, spec: RunSpec, loader: _Loader) -> _Run:
    """Load and bind one spec exactly as :func:`run_one` does (raises what it would catch)."""
    device = resolve_device(spec.device)
    task = loader(spec, device)
    return _Run(index, spec_for_task(spec, task), task, device_label(device))


def _fit_in_thread(group: TrainingGroup, r: int, run: _Run, on_epoch: Callable | None = None) -> None:
    try:
        assert run.trainer is not None
        run.result = run.trainer.fit(None if on_epoch is None else functools.partial(on_epoch, run.spec))
    except BaseException as exc:  # recorded; the row says failed (or the run is re-run alone)
        run.error = exc
    finally:
        group.leave(r)


def _train_packed(runs: list[_Run], impl: str, on_epoch: Callable | None = None,
                  ) -> tuple[dict[int, dict[str, Any]], list[_Run]]:
    """Train ``runs`` (compatible, >= 2) together. Returns (rows by index, runs to re-run alone).

    On return no trainer, group or error of these runs is referenced any more (their device
    memory is free for the next group)."""
    t0 = time.perf_counter()
    alone: list[_Run] = []
    ready: list[_Run] = []
    group: TrainingGroup | None = None
    try:
        for run in runs:
            try:
                run.trainer = Trainer(run.task, get_method(run.spec.method), dict(run.spec.method_params),
                                      run.spec.model, run.spec.train, run.spec.seed)  # type: ignore[arg-type]
                ready.append(run)
            except Exception:  # run_one gives this run its (failed) row
                alone.append(run)
        if len(ready) < 2:
            return {}, alone + ready
        try:
            group = TrainingGroup([run.trainer for run in ready], impl)  # type: ignore[misc]
        except Exception:
            return {}, alone + ready
        threads = [threading.Thread(target=_fit_in_thread, args=(group, r, run, on_epoch), name=f"cnlbench-run-{r}",
                                    daemon=True) for r, run in enumerate(ready)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
        rows: dict[int, dict[str, Any]] = {}
        for run in ready:
            if isinstance(run.error, PackingError):
                alone.append(run)
            else:
                rows[run.index] = with_packing(result_row(run.spec, run.task, run.device_name, result=run.result,
                                                          error=run.error), len(ready), wall)
        return rows, alone
    finally:
        if group is not None:
            group.close()
        for run in runs:  # the error's traceback holds the trainer's frames
            run.trainer = run.result = run.error = None


def plan_groups(specs: Sequence[RunSpec], *, max_runs: int = DEFAULT_MAX_RUNS,
                tasks: Mapping[str, TaskData] | None = None) -> tuple[list[list[_Run]], list[int]]:
    """(groups of packable runs, indices of specs to run alone), in input order."""
    if max_runs < 1:
        raise HarnessError(f"max_runs={max_runs!r} must be >= 1 (1 disables packing)")
    loader = _Loader(tasks or {})
    by_key: dict[tuple, list[_Run]] = defaultdict(list)
    alone: list[int] = []
    for i, spec in enumerate(specs):
        try:
            run = _prepare(i, spec, loader)
            key = packing_key(run.spec, run.task)
        except Exception:  # run_one reports it in the row
            alone.append(i)
            continue
        if key is None or max_runs == 1:
            alone.append(i)
        else:
            by_key[key].append(run)
    groups: list[list[_Run]] = []
    for members in by_key.values():
        for s in range(0, len(members), max_runs):
            chunk = members[s:s + max_runs]
            if len(chunk) == 1:
                alone.append(chunk[0].index)
            else:
                groups.append(chunk)
    return groups, sorted(alone)


def iter_group_rows(specs: Sequence[RunSpec], *, max_runs: int = DEFAULT_MAX_RUNS,
                    tasks: Mapping[str, TaskData] | None = None, impl: str = "auto",
                    on_epoch: Callable | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index into ``specs``, row) for every spec, yielded as soon as each group finishes.
    ``on_epoch(spec, point)``: the engine's per-epoch callback (``run_one(on_epoch=)``)."""
    specs = list(specs)
    groups, alone = plan_groups(specs, max_runs=max_runs, tasks=tasks)
    for group in groups:
        rows, rerun = _train_packed(group, impl, on_epoch)
        yield from rows.items()
        alone.extend(run.index for run in rerun)
    for i in sorted(alone):
        task = None if tasks is None else tasks.get(specs[i].config)
        row = run_one(specs[i], task=task, on_epoch=on_epoch)
        yield i, with_packing(row, 1, row["wall_time_s"])


def run_group(specs: Sequence[RunSpec], *, max_runs: int = DEFAULT_MAX_RUNS,
              tasks: Mapping[str, TaskData] | None = None, impl: str = "auto") -> list[dict[str, Any]]:
    """Train ``specs`` with compatible runs packed onto one device; rows in the order of ``specs``.

    ``max_runs`` caps the runs per grouped network (device memory grows ~linearly with it);
    ``tasks`` maps config names to already-loaded :class:`TaskData` (tests, notebooks), like
    ``run_one(spec, task=...)``; ``impl`` picks the grouped network's implementation
    (:func:`~cnlbench.harness.models.grouped.group_models`: ``auto`` = fused kernels on CUDA,
    the bit-exact split form elsewhere). Never raises for a failing run (a ``failed`` row)."""
    rows: list[dict[str, Any] | None] = [None] * len(specs)
    for i, row in iter_group_rows(specs, max_runs=max_runs, tasks=tasks, impl=impl):
        rows[i] = row
    return [r for r in rows if r is not None]


class PackedBackend:
    """A sweep backend (``Backend.map``) that packs compatible runs onto this process's device."""

    def __init__(self, max_runs: int = DEFAULT_MAX_RUNS, impl: str = "auto"):
        if max_runs < 1:
            raise HarnessError(f"--pack {max_runs} must be >= 1")
        self.max_runs, self.impl = max_runs, impl

    def map(self, specs: Iterable[RunSpec], fn: Callable[[RunSpec], dict[str, Any]] = run_one,
            ) -> Iterator[dict[str, Any]]:
        on_epoch = epoch_callback(fn)  # run_one with a progress callback: functools.partial(run_one, on_epoch=cb)
        if on_epoch is None and fn is not run_one:
            raise HarnessError("the packed backend trains with the engine's own run function only")
        for _, row in iter_group_rows(list(specs), max_runs=self.max_runs, impl=self.impl, on_epoch=on_epoch):
            yield row


__all__ = [
    "DEFAULT_MAX_RUNS",
    "PackedBackend",
    "GroupMember",
    "PackingError",
    "TrainingGroup",
    "iter_group_rows",
    "packable_method",
    "packing_key",
    "plan_groups",
    "run_group",
]
