"""The trainer: one run's loop, and the seam through which its networks are trained.

:class:`Trainer` holds one run's device-resident data (:mod:`cnlbench.harness.data`), its
normaliser and augmentation, its generators, its method and the loop (:meth:`Trainer.fit`), and
implements :class:`cnlbench.harness.methods.base.TrainerHooks` for the method. What it does NOT
hold is how its networks are stored, evaluated and stepped: it calls a collaborator, a
:class:`NetworkExecutor`:

* :class:`SingleExecutor` (the default): the run's own networks and SGD optimiser, one step
  per batch;
* :class:`cnlbench.harness.multirun.GroupMember`: the run's slice of a grouped network shared
  by R packed runs, whose epoch is trained in lockstep with its partners.

Both train an epoch with the same pieces of the trainer: :meth:`Trainer.epoch_batches` (data
order), :meth:`Trainer.make_batch` (augmentation), :meth:`Trainer.next_lr` (the schedule), and
record it with one :class:`EpochLog` (loss sum, non-finite check, method stats), so the loop
read here is the loop that runs under ``--pack``.

Fairness rules the trainer enforces:

* model selection uses the NOISY validation split only (:func:`cnlbench.harness.rows.metric_columns`);
  the clean test labels and the train ``clean_label``/``is_noisy`` are measured, never used;
* no label smoothing, TTA, weight averaging or loss-based example dropping: a method that wants
  them implements them (``TrainConfig.label_smoothing`` must stay 0);
* every draw comes from a generator derived from the run seed (init, data order, augmentation,
  method, dropout), never global RNG: the same spec on the same device gives the same row.

A non-finite training loss is checked once per epoch, without a per-step device sync.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from typing import Any, Callable, NamedTuple, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cnlbench.errors import HarnessError
from cnlbench.harness import metrics as M
from cnlbench.harness.augment import Augmenter, Normalizer, channel_stats, pad_images
from cnlbench.harness.data import TaskData, corrupt_test
from cnlbench.harness.identity import derive_seed
from cnlbench.harness.methods.base import Batch, Method, MethodSetup, Network, StepOutput
from cnlbench.harness.models import model_info
from cnlbench.harness.networks import device_generator, make_network
from cnlbench.harness.rows import metric_columns
from cnlbench.harness.store import CURVE_TRAIN_CLEAN, CURVE_TRAIN_NOISY_GIVEN, CURVE_TRAIN_NOISY_TRUE
from cnlbench.harness.train_config import LrSchedule, TrainConfig

#: Per-epoch progress callback of :meth:`Trainer.fit`: receives the epoch's ``curves`` point.
EpochHook = Callable[[dict[str, Any]], None]


class NonFiniteLossError(HarnessError):
    """The training loss became NaN or infinite."""


class EpochPlan(NamedTuple):
    """Which epoch to train: stage, epoch within it, the stage's step count so far and in all."""

    stage: int
    epoch: int
    step0: int
    total_steps: int


class EpochLog:
    """One run's bookkeeping over one training epoch: loss sum, finiteness (on the device, read
    once at the end) and the method's last step statistics."""

    def __init__(self, device: torch.device):
        self.loss_sum = torch.zeros((), device=device)
        self.finite = torch.ones((), dtype=torch.bool, device=device)
        self.stats: dict[str, Any] = {}

    def add(self, out: StepOutput) -> torch.Tensor:
        """Record one step's output; returns its loss (fp32) to backpropagate."""
        loss = out.loss.float()
        self.finite &= torch.isfinite(loss)
        self.loss_sum += loss.detach()
        self.stats = out.stats
        return loss

    def finish(self, plan: EpochPlan, method: str, lr: float, steps: int, batch: int) -> dict[str, Any]:
        """The epoch's ``curves`` fields (``train_loss``, ``lr``, ``steps``, ``examples``,
        ``stat_*``); raises :class:`NonFiniteLossError` when a loss was NaN or infinite."""
        if not bool(self.finite):
            raise NonFiniteLossError(
                f"non-finite training loss in stage {plan.stage} epoch {plan.epoch} (method {method!r}); "
                "lower the learning rate (--param) or check the method's loss"
            )
        info: dict[str, Any] = {"train_loss": float(self.loss_sum) / max(1, steps), "lr": lr, "steps": steps,
                                "examples": steps * batch}
        for k, v in self.stats.items():
            try:
                info[f"stat_{k}"] = float(v)
            except (TypeError, ValueError):
                pass
        return info


class NetworkExecutor(Protocol):
    """How a :class:`Trainer`'s networks are held, evaluated and trained (the trainer's seam)."""

    #: The networks the method's ``training_step`` sees (may be empty when the executor never
    #: calls ``training_step``, e.g. a packed run).
    nets: Sequence[Network]

    def build(self, resets: int) -> None:
        """(Re-)initialise every network from the run seed (``resets``: how many times before)
        and create a fresh optimiser."""

    def new_optimizer(self) -> None:
        """A fresh optimiser (and schedule) for a new stage."""

    def logits(self, network: int, images: torch.Tensor) -> torch.Tensor:
        """Logits (N, K + E) of network ``network`` in eval mode on uint8 images (N, C, H, W)."""

    def train_logits(self, network: int) -> torch.Tensor:
        """:meth:`logits` on the un-augmented training set, cached until the weights change."""

    def train_epoch(self, plan: EpochPlan) -> tuple[int, dict[str, Any]]:
        """Train one epoch; returns (the stage's step count after it, :meth:`EpochLog.finish`)."""

    def snapshot(self) -> Any:
        """An in-memory copy of the networks' state."""

    def restore(self, snap: Any) -> None:
        """Load a :meth:`snapshot` back."""


class SingleExecutor:
    """One run's own networks and SGD optimiser (over every network and the method's own
    parameters), stepped once per batch."""

    def __init__(self, trainer: "Trainer"):
        self.trainer = trainer
        self.nets: list[nn.Module] = []
        self.opt: torch.optim.Optimizer | None = None
        self.version = 0  # bumps whenever network weights change (invalidates the cache)
        self._train_cache: dict[int, tuple[int, torch.Tensor]] = {}

    def build(self, resets: int) -> None:
        t = self.trainer
        init_images = None
        if model_info(t.model_name).uses_init_images:
            init_images = t.normalize(t.task.train.images[:5000]).float()
        self.nets = [
            make_network(t.model_name, t.outputs, t.task.input_shape, t.cfg, derive_seed(t.seed, "init", resets, k),
                         t.device, init_images)
            for k in range(t.method.num_networks)
        ]
        self.new_optimizer()
        self.version += 1

    def new_optimizer(self) -> None:
        t = self.trainer
        params = [p for net in self.nets for p in net.parameters() if p.requires_grad]
        params += [p for p in t.method.extra_parameters() if p.requires_grad]
        self.opt = torch.optim.SGD(params, lr=t.cfg.lr, momentum=t.cfg.momentum, nesterov=t.cfg.nesterov,
                                   weight_decay=t.cfg.weight_decay)
        t.schedule.restart()

    @torch.no_grad()
    def logits(self, network: int, images: torch.Tensor) -> torch.Tensor:
        t = self.trainer
        net = self.nets[network]
        was = net.training
        net.eval()
        out = []
        bs = t.cfg.eval_batch_size
        with t.autocast():
            for s in range(0, images.shape[0], bs):
                out.append(net(t.normalize(images[s:s + bs])).float())
        net.train(was)
        if not out:
            return torch.empty((0, t.outputs), device=t.device)
        return torch.cat(out)

    def train_logits(self, network: int) -> torch.Tensor:
        hit = self._train_cache.get(network)
        if hit is not None and hit[0] == self.version:
            return hit[1]
        logits = self.logits(network, self.trainer.task.train.images)
        self._train_cache[network] = (self.version, logits)
        return logits

    def train_epoch(self, plan: EpochPlan) -> tuple[int, dict[str, Any]]:
        t, opt = self.trainer, self.opt
        assert opt is not None
        for net in self.nets:
            net.train()
        log = EpochLog(t.device)
        step, lr = plan.step0, t.cfg.lr
        batches = t.epoch_batches()
        for index in batches:
            batch = t.make_batch(index, plan, step)
            lr = t.next_lr(plan.total_steps)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            with t.autocast():
                out = t.method.training_step(batch, self.nets)
            log.add(out).backward()
            opt.step()
            t.schedule.advance()
            step += 1
        self.version += 1
        return step, log.finish(plan, t.method.name, lr, len(batches), len(batches[0]) if batches else 0)

    def snapshot(self) -> Any:
        return [copy.deepcopy(net.state_dict()) for net in self.nets]

    def restore(self, snap: Any) -> None:
        for net, state in zip(self.nets, snap):
            net.load_state_dict(state)
        self.version += 1


class Trainer:
    """One run's state and loop; implements ``TrainerHooks`` for the method. Its networks are
    held and stepped by :attr:`executor` (a :class:`SingleExecutor` unless one is given with
    :meth:`use_executor`)."""

    def __init__(self, task: TaskData, method_cls: type[Method], method_params: dict[str, Any],
                 model: str, cfg: TrainConfig, seed: int):
        overrides = dict(method_cls.engine_overrides)
        self.cfg = cfg.replace(**overrides) if overrides else cfg
        task = corrupt_test(task, self.cfg.test_corruption)
        self.task, self.model_name, self.seed = task, model, int(seed)
        self.device = task.device
        self.num_classes = task.num_classes
        self.outputs = self.num_classes + method_cls.extra_outputs
        self.n_train = len(task.train)
        cfg = self.cfg
        if self.n_train == 0:
            raise HarnessError(f"{task.dataset}/{task.config}: the training split is empty")
        cuda = self.device.type == "cuda"
        self.amp = (cfg.precision == "bf16") or (cfg.precision == "auto" and cuda)
        mean, std = channel_stats(task.train.images)
        self.normalize = Normalizer(mean, std, channels_last=cuda)
        _, h, w = task.input_shape
        self.augment = Augmenter(pad_images(task.train.images, cfg.crop_padding, cfg.pad_mode), (h, w),
                                 self.normalize, cfg.hflip)
        self.order_gen = device_generator(self.device, derive_seed(seed, "order"))
        self.aug_gen = device_generator(self.device, derive_seed(seed, "augment"))
        self.steps_per_epoch = max(1, self.n_train // cfg.batch_size)
        self.schedule = LrSchedule(cfg)
        setup = MethodSetup(
            num_classes=self.num_classes, num_train=self.n_train, epochs=cfg.epochs,
            steps_per_epoch=self.steps_per_epoch, device=self.device,
            noise_matrix=task.noise_matrix, noise_level=task.noise_level,
            seed=derive_seed(seed, "method"),
        )
        self.method = method_cls(setup, **method_params)
        self.active: torch.Tensor | None = None  # positions trained on (None: all)
        self.resets = 0  # times the networks were re-initialised
        self.last_val: dict[str, float] = {}
        self.executor: NetworkExecutor = SingleExecutor(self)
        self.executor.build(self.resets)

    def use_executor(self, executor: NetworkExecutor) -> None:
        """Hand the networks to another executor (e.g. a packed group's member)."""
        self.executor = executor

    @property
    def nets(self) -> Sequence[Network]:
        """The networks as the executor holds them."""
        return self.executor.nets

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on this run's device when its precision asks for it, else a no-op."""
        if self.amp:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- TrainerHooks -------------------------------------------------------------------
    def logits(self, images: torch.Tensor, network: int = 0) -> torch.Tensor:
        """Logits (N, K + E) of network ``network`` in eval mode on un-normalised uint8 images
        (N, C, H, W) held on the training device, e.g. a test set carrying a structured feature."""
        return self.executor.logits(network, images)

    def train_logits(self, network: int = 0) -> torch.Tensor:
        """Logits (N, K + E) of network ``network`` on the un-augmented train set (cached until
        the weights change)."""
        return self.executor.train_logits(network)

    def predict_train(self, network: int = 0) -> torch.Tensor:
        """Softmax over all K + E outputs (N, K + E) on the un-augmented training set."""
        return torch.softmax(self.train_logits(network), dim=1)

    def train_losses(self, network: int = 0) -> torch.Tensor:
        """Per-example CE (N,) against the NOISY training label, softmax over all K + E outputs."""
        return F.cross_entropy(self.train_logits(network), self.task.train.label, reduction="none")

    def set_train_mask(self, mask: torch.Tensor | None) -> None:
        if mask is None:
            self.active = None
            return
        mask = torch.as_tensor(mask, device=self.device).bool()
        if mask.shape != (self.n_train,):
            raise HarnessError(f"train mask has shape {tuple(mask.shape)}; expected ({self.n_train},)")
        idx = torch.nonzero(mask).flatten()
        if idx.numel() == 0:
            raise HarnessError("train mask selects no example; keep at least one training example")
        self.active = idx

    def reset_networks(self) -> None:
        self.resets += 1
        self.executor.build(self.resets)

    def snapshot(self) -> Any:
        return self.executor.snapshot()

    def restore(self, snap: Any) -> None:
        self.executor.restore(snap)

    @property
    def last_validation(self) -> dict[str, float]:
        return dict(self.last_val)

    # -- the pieces of a training epoch (used by every executor) ------------------------------
    def steps_this_epoch(self) -> int:
        """Optimiser steps per epoch on the examples trained now (the train mask)."""
        n = self.n_train if self.active is None else int(self.active.numel())
        return max(1, n // self.cfg.batch_size)

    def epoch_batches(self) -> list[torch.Tensor]:
        """This epoch's batches (training-set positions), drawn from the run's order generator;
        the last partial batch is dropped."""
        pool = self.active
        n = self.n_train if pool is None else int(pool.numel())
        perm = torch.randperm(n, generator=self.order_gen, device=self.device)
        if pool is not None:
            perm = pool[perm]
        bs = min(self.cfg.batch_size, n)
        return [perm[i * bs:(i + 1) * bs] for i in range(n // bs)]

    def make_batch(self, index: torch.Tensor, plan: EpochPlan, step: int) -> Batch:
        """The augmented batch of positions ``index`` (draws from the run's augmentation generator)."""
        return Batch(x=self.augment(index, self.aug_gen), y=self.task.train.label[index], index=index,
                     epoch=plan.epoch, step=step, total_steps=plan.total_steps, stage=plan.stage)

    def next_lr(self, total_steps: int) -> float:
        """The learning rate of the next optimiser step (advance with ``schedule.advance()``)."""
        return self.schedule.lr(total_steps, self.steps_this_epoch())

    def train_epoch(self, stage: int, epoch: int, step0: int, total_steps: int) -> tuple[int, dict[str, Any]]:
        """Train one epoch through the executor; returns (steps so far in the stage, epoch info)."""
        return self.executor.train_epoch(EpochPlan(stage, epoch, step0, total_steps))

    # -- evaluation -----------------------------------------------------------------------
    def split_eval(self, split: str) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        """(logits, class probabilities (N, K), accuracy, mean NLL) of network 0 on ``split``."""
        sp = getattr(self.task, split)
        logits = self.executor.logits(0, sp.images)
        probs = self.method.class_probabilities(logits).float()
        if len(sp) == 0:
            return logits, probs, math.nan, math.nan
        acc = (probs.argmax(1) == sp.label).float().mean()
        nll = -torch.log(probs.gather(1, sp.label[:, None]).clamp_min(1e-12)).mean()
        return logits, probs, float(acc), float(nll)

    def _train_curve(self) -> dict[str, float]:
        tr = self.task.train
        probs = self.method.class_probabilities(self.train_logits(0))
        pred = probs.argmax(1)
        clean, noisy = ~tr.is_noisy, tr.is_noisy

        def frac(sel: torch.Tensor, target: torch.Tensor) -> float:
            n = int(sel.sum())
            return float(((pred == target) & sel).sum()) / n if n else math.nan

        return {
            CURVE_TRAIN_CLEAN: frac(clean, tr.label),
            CURVE_TRAIN_NOISY_GIVEN: frac(noisy, tr.label),  # memorisation of the wrong label
            CURVE_TRAIN_NOISY_TRUE: frac(noisy & (tr.clean_label >= 0), tr.clean_label),
        }

    def _epoch_metrics(self, test_logits: torch.Tensor, test_probs: torch.Tensor) -> dict[str, float]:
        """Test calibration (ECE, OE), the method's extra test metrics (e.g. DAC abstention) and
        the train-set noise-detection AUROC of the networks as they are now: the metrics that
        the row reports at the selected epoch and at the final one."""
        probs_np = test_probs.cpu().numpy()
        labels_np = self.task.test.label.cpu().numpy()
        scores = self.method.noise_scores(self)
        if scores is None:
            scores = self.method.label_losses(self.train_logits(0), self.task.train.label)
        extra = self.method.eval_metrics(test_logits, self.task.test.label)
        out = {
            "ece": M.expected_calibration_error(probs_np, labels_np, self.cfg.ece_bins),
            "overconfidence": M.overconfidence_error(probs_np, labels_np, self.cfg.ece_bins),
            "auroc_noise": M.auroc(torch.as_tensor(scores).float().cpu().numpy(),
                                   self.task.train.is_noisy.cpu().numpy()),
        }
        out.update({k: float(v) for k, v in extra.items()})
        if self.cfg.test_corruption:
            out.update(self._subset_metrics(test_logits, test_probs))
        return out

    def _subset_metrics(self, test_logits: torch.Tensor, test_probs: torch.Tensor) -> dict[str, float]:
        """With a test-time corruption: accuracy and the method's extra metrics on the corrupted
        test images (``affected_*``, marked by the test split's ``is_noisy``) and on the rest
        (``rest_*``); a subset with no image is left out."""
        labels, marked = self.task.test.label, self.task.test.is_noisy
        out: dict[str, float] = {}
        for name, sel in (("affected", marked), ("rest", ~marked)):
            if not bool(sel.any()):
                continue
            out[f"{name}_acc"] = float((test_probs[sel].argmax(1) == labels[sel]).float().mean())
            extra = self.method.eval_metrics(test_logits[sel], labels[sel])
            out.update({f"{name}_{k}": float(v) for k, v in extra.items()})
        return out

    def fit(self, on_epoch: EpochHook | None = None) -> dict[str, Any]:
        """Train every stage; returns the metrics of the run (row columns + ``curves``).

        ``on_epoch``, when given, is called once after every epoch with that epoch's ``curves``
        point plus ``epochs`` (per stage) and ``stages`` (progress reporting; it must not block).

        Every metric of the row is reported at the SELECTED epoch (best noisy-validation
        accuracy of the last stage, earliest on ties) and, in its ``*_final`` column, at the end
        of training (:func:`cnlbench.harness.rows.metric_columns`); per-epoch values are in
        ``curves``."""
        cfg, method = self.cfg, self.method
        curves: list[dict[str, Any]] = []
        for stage in range(method.num_stages):
            if stage > 0:
                self.executor.new_optimizer()
            method.begin_stage(stage, self)
            total = cfg.epochs * self.steps_this_epoch()
            step = 0
            for epoch in range(cfg.epochs):
                t0 = time.perf_counter()
                method.begin_epoch(epoch, self)
                step, info = self.train_epoch(stage, epoch, step, total)
                val_logits, _, val_acc, val_loss = self.split_eval("validation")
                val_extra = method.eval_metrics(val_logits, self.task.validation.label)
                self.last_val = {**{k: float(v) for k, v in val_extra.items()}, "acc": val_acc, "loss": val_loss}
                test_logits, test_probs, test_acc, _ = self.split_eval("test")
                point = {"stage": stage, "epoch": epoch, **info, "val_acc": val_acc, "val_loss": val_loss,
                         "test_acc": test_acc, **{f"val_{k}": float(v) for k, v in val_extra.items()},
                         **{f"test_{k}": v for k, v in self._epoch_metrics(test_logits, test_probs).items()}}
                if cfg.train_curves:
                    point.update(self._train_curve())
                method.end_epoch(epoch, self)
                point["epoch_time_s"] = time.perf_counter() - t0
                curves.append(point)
                if on_epoch is not None:
                    on_epoch({**point, "epochs": cfg.epochs, "stages": method.num_stages})
        # the networks may have changed in end_epoch (e.g. a restore): evaluate the final state
        test_logits, test_probs, test_acc_final, _ = self.split_eval("test")
        final = self._epoch_metrics(test_logits, test_probs)
        return metric_columns(curves, final, test_acc_final, num_stages=method.num_stages, ece_bins=cfg.ece_bins)


__all__ = [
    "EpochHook",
    "EpochLog",
    "EpochPlan",
    "NetworkExecutor",
    "NonFiniteLossError",
    "SingleExecutor",
    "Trainer",
]
