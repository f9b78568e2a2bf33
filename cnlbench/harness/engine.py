"""The run engine: one (dataset config, method, model, seed) training run -> one results row.

``run_one(spec)`` is a pure function of a picklable :class:`RunSpec`, so the local process pool
and Ray ship the same call. Inside, :class:`Trainer` holds the device-resident data
(:mod:`cnlbench.harness.data`), the networks, one SGD optimiser over all of them and the loop,
and implements :class:`cnlbench.harness.methods.base.TrainerHooks` for the method.

Fairness rules the engine enforces:

* model selection uses the NOISY validation split only: the row's ``test_acc_best_val`` is
  the clean-test accuracy at the epoch of best noisy-validation accuracy (ties: earliest);
  the clean test labels and the train ``clean_label``/``is_noisy`` are measured, never used;
* no label smoothing, TTA, weight averaging or loss-based example dropping in the engine: a
  method that wants them implements them (``TrainConfig.label_smoothing`` must stay 0);
* every draw comes from a generator derived from the run seed (init, data order, augmentation,
  method), never global RNG: the same spec on the same device gives the same row.

A non-finite training loss (checked once per epoch, without a per-step device sync) or any
exception ends the run with a ``status = "failed"`` row carrying the message.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import hashlib
import json
import math
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnlbench import __version__
from cnlbench.errors import HarnessError
from cnlbench.harness import metrics as M
from cnlbench.harness.augment import PAD_MODES, Augmenter, Normalizer, channel_stats, pad_images
from cnlbench.harness.data import TEST_CORRUPTIONS, TaskData, corrupt_test, load_task, resolve_device
from cnlbench.harness.methods.base import Batch, Method, MethodSetup, get_method
from cnlbench.harness.models import build_model, model_info
from cnlbench.harness.models.layers import seed_dropout
from cnlbench.harness.store import (
    CURVE_TRAIN_CLEAN,
    CURVE_TRAIN_NOISY_GIVEN,
    CURVE_TRAIN_NOISY_TRUE,
    empty_row,
)

SCHEDULES = ("cosine", "triangle", "constant")
#: Per-epoch progress callback of :meth:`Trainer.fit`: receives the epoch's ``curves`` point.
EpochHook = Callable[[dict[str, Any]], None]

#: Version of the harness numerics: bump whenever a change to the engine, a method or a model
#: can change a run's numbers, so that ``run_id`` changes and a store never silently reuses
#: rows computed by the old code (2: output BatchNorm of the bounded losses, ProSelfLC's
#: gradient, schedules by meaning, metrics at the selected epoch).
HARNESS_NUMERICS_VERSION = 2

#: Row metrics reported at the selected epoch (best noisy validation) and, as ``<name>_final``,
#: at the end of training.
SELECTED_METRICS = ("ece", "overconfidence", "auroc_noise", "abstain_coverage", "abstain_acc")


@dataclass(frozen=True)
class TrainConfig:
    """Every training hyperparameter, with units. Defaults per model: :func:`default_train_config`."""

    epochs: int = 20  # passes over the (masked) training set, per stage
    batch_size: int = 128  # examples per optimiser step; the last partial batch is dropped
    lr: float = 0.05  # peak learning rate of SGD (per optimiser step on a mean-reduced loss)
    momentum: float = 0.9  # SGD momentum (dimensionless)
    nesterov: bool = True
    weight_decay: float = 5e-4  # L2 coefficient added to every trainable parameter's gradient
    warmup_epochs: float = 1.0  # linear warm-up from 0 to ``lr``, in epochs
    schedule: str = "cosine"  # after warm-up: "cosine" (to 0), "triangle" (linear to 0), "constant"
    label_smoothing: float = 0.0  # ALWAYS 0: smoothing is a method (``label-smoothing``), not the engine's
    dropout: float = 0.0  # dropout probability before the classifier (the CNWL "Dropout" baseline)
    crop_padding: int = 1  # pixels of padding for random-translation crops (0: no crop)
    pad_mode: str = "zeros"  # "zeros" or "reflect"
    hflip: bool = False  # random horizontal flips (off for digits: a flip changes a digit)
    eval_batch_size: int = 1024  # examples per evaluation forward pass
    train_curves: bool = True  # per-epoch pass over the un-augmented train set for the curves
    compile: bool = False  # torch.compile the networks (CUDA; a compiled net is reused across runs)
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "fp32", "bf16"
    pretrained: str | None = None  # local weights file loaded after initialisation (never fetched)
    ece_bins: int = M.DEFAULT_ECE_BINS  # equal-width confidence bins for ECE and OE
    # evaluation option: corrupt the clean test split at load time (data.TEST_CORRUPTIONS; ""
    # none, "structured" the DAC study's feature on a known subset), metrics per subset
    test_corruption: str = ""

    def __post_init__(self) -> None:
        if self.label_smoothing != 0.0:
            raise HarnessError(
                f"label_smoothing={self.label_smoothing!r}: the engine never smooths labels (it is a "
                "noise-robustness method in its own right); run the `label-smoothing` method instead"
            )
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise HarnessError(f"epochs ({self.epochs}), batch_size ({self.batch_size}) and eval_batch_size "
                               f"({self.eval_batch_size}) must be >= 1")
        if self.schedule not in SCHEDULES:
            raise HarnessError(f"unknown schedule {self.schedule!r}; use one of {SCHEDULES}")
        if self.pad_mode not in PAD_MODES:
            raise HarnessError(f"unknown pad_mode {self.pad_mode!r}; use one of {PAD_MODES}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise HarnessError(f"unknown precision {self.precision!r}; use auto, fp32 or bf16")
        if self.test_corruption not in TEST_CORRUPTIONS:
            raise HarnessError(f"unknown test_corruption {self.test_corruption!r}; use one of {list(TEST_CORRUPTIONS)}")

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        if not d["test_corruption"]:  # the default leaves run ids of clean-test runs unchanged
            del d["test_corruption"]
        return json.dumps(d, sort_keys=True)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes``; unknown field names are an error listing the valid ones."""
        valid = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - valid
        if unknown:
            raise HarnessError(f"unknown training option(s) {sorted(unknown)}; valid options: {sorted(valid)}")
        return dataclasses.replace(self, **changes)


#: Per-model defaults (fields of :class:`TrainConfig`).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    # digits: the reference budget in which CE memorises the noise: 60 epochs at weight decay 1e-4
    # (sym-40, seed 0: 92.4% clean test accuracy at the best noisy-validation epoch, 78.3% at the
    # last); at 20 epochs it fits ~1% of the wrong labels and no method has anything to fix, and at
    # 5e-4 the best-vs-final gap is 5-8 points (docs/methods.md, "Protocol").
    "digits-cnn": dict(epochs=60, batch_size=128, lr=0.05, weight_decay=1e-4, warmup_epochs=1.0, crop_padding=1,
                       pad_mode="zeros", hflip=False, eval_batch_size=2048),
    "fastnet": dict(epochs=30, batch_size=512, lr=0.2, warmup_epochs=2.0, crop_padding=2,
                    pad_mode="reflect", hflip=True, eval_batch_size=2048),
    "preact-resnet18": dict(epochs=120, batch_size=128, lr=0.02, warmup_epochs=1.0, crop_padding=4,
                            pad_mode="zeros", hflip=True, eval_batch_size=1024),
    "resnet18": dict(epochs=100, batch_size=128, lr=0.05, warmup_epochs=2.0, crop_padding=8,
                     pad_mode="zeros", hflip=True, eval_batch_size=512),
    "resnet34": dict(epochs=100, batch_size=128, lr=0.05, warmup_epochs=2.0, crop_padding=8,
                     pad_mode="zeros", hflip=True, eval_batch_size=512),
}
#: Datasets whose classes change under a horizontal flip.
NO_FLIP_DATASETS = ("digits", "mnist", "svhn")


def default_model(image_size: int) -> str:
    """digits-size images (<= 16 px) -> ``digits-cnn``; <= 48 px -> ``fastnet``; else ``resnet18``."""
    if image_size <= 16:
        return "digits-cnn"
    if image_size <= 48:
        return "fastnet"
    return "resnet18"


def default_train_config(model: str, dataset: str = "", **overrides: Any) -> TrainConfig:
    """The model's defaults (:data:`MODEL_DEFAULTS`), flips off for digit-like datasets, then
    ``overrides``."""
    model_info(model)  # unknown names list the valid ones
    cfg = TrainConfig(**MODEL_DEFAULTS.get(model, {}))
    if any(dataset.lower().startswith(d) for d in NO_FLIP_DATASETS):
        cfg = cfg.replace(hflip=False)
    return cfg.replace(**overrides)


# --------------------------------------------------------------------------------------------
# Run specification


@dataclass(frozen=True)
class RunSpec:
    """Everything one run depends on. Picklable (plain values only) for process pools and Ray.

    ``model``/``train`` may be left None (resolved from the data by :func:`run_one`); a sweep
    resolves them up front so ``run_id`` is known before training. ``fingerprint``, when set,
    must equal the manifest fingerprint of ``config`` (a dataset changed under a sweep fails)."""

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


# --------------------------------------------------------------------------------------------
# Seeds

_TAGS = {"init": 1, "order": 2, "augment": 3, "method": 4, "dropout": 5}


def derive_seed(seed: int, tag: str, *extra: int) -> int:
    """A 63-bit seed for one purpose (``init``, ``order``, ``augment``, ``method``) of a run."""
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(_TAGS[tag], *map(int, extra)))
    return int(ss.generate_state(1, dtype=np.uint64)[0] & np.uint64(2**63 - 1))


def _device_generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


class NonFiniteLossError(HarnessError):
    """The training loss became NaN or infinite."""


# --------------------------------------------------------------------------------------------
# Networks (compiled per network; the compiled graphs are shared by every network of a class)

#: dynamo's limit on compiled variants per code object. Every network of a class shares ONE
#: code object (its ``forward``) and each variant (train/eval mode, parameter shapes: a grouped
#: network per R) is one entry, so the default 8 silently ran the 9th variant eager. Raised
#: (never lowered) by :func:`compile_network`.
COMPILE_RECOMPILE_LIMIT = 64
#: dynamo's limit on compiled variants summed over all code objects (default 256).
COMPILE_ACCUMULATED_LIMIT = 1024


def compile_network(net: nn.Module) -> nn.Module:
    """``net`` (returned, changed in place) with its ``forward`` wrapped by ``torch.compile``.

    dynamo treats parameters as graph inputs, so networks of one class and shapes share the
    compiled graphs: a fresh network per run compiles nothing new. The wrapper is an instance
    attribute bound to ``net``; :func:`~cnlbench.harness.models.grouped.group_models` drops it
    from its copies. Raises dynamo's recompile limits to :data:`COMPILE_RECOMPILE_LIMIT` and
    :data:`COMPILE_ACCUMULATED_LIMIT` (never lowers them)."""
    import torch._dynamo.config as dynamo_config

    per_code = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"
    total = ("accumulated_recompile_limit" if hasattr(dynamo_config, "accumulated_recompile_limit")
             else "accumulated_cache_size_limit")
    for key, limit in ((per_code, COMPILE_RECOMPILE_LIMIT), (total, COMPILE_ACCUMULATED_LIMIT)):
        if hasattr(dynamo_config, key):
            setattr(dynamo_config, key, max(int(getattr(dynamo_config, key)), limit))
    net.forward = torch.compile(net.forward)  # type: ignore[method-assign]
    return net


def _make_network(name: str, outputs: int, shape: tuple[int, int, int], cfg: TrainConfig,
                  seed: int, device: torch.device, init_images: torch.Tensor | None, slot: int) -> nn.Module:
    """Network ``slot`` of a run, freshly initialised from ``seed`` (``slot`` only names it:
    the seed already differs per slot). Never shared: packed runs hold their networks at once."""
    gen = torch.Generator().manual_seed(seed)
    fresh = build_model(name, outputs, shape, generator=gen, dropout=cfg.dropout,
                        init_images=init_images, pretrained=cfg.pretrained)
    fresh = fresh.to(device)
    if device.type == "cuda":
        fresh = fresh.to(memory_format=torch.channels_last)
    # dropout masks from the run's own generator, never the global one
    seed_dropout(fresh, _device_generator(device, derive_seed(seed, "dropout")))
    return compile_network(fresh) if cfg.compile else fresh


def _lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    rest = max(1, total - warmup)
    t = min(1.0, (step - warmup) / rest)
    if schedule == "triangle":
        return max(0.0, 1.0 - t)
    return 0.5 * (1.0 + math.cos(math.pi * t))


# --------------------------------------------------------------------------------------------
# The trainer


class Trainer:
    """One run's state and loop; implements ``TrainerHooks`` for the method."""

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
        self.order_gen = _device_generator(self.device, derive_seed(seed, "order"))
        self.aug_gen = _device_generator(self.device, derive_seed(seed, "augment"))
        self.steps_per_epoch = max(1, self.n_train // cfg.batch_size)
        setup = MethodSetup(
            num_classes=self.num_classes, num_train=self.n_train, epochs=cfg.epochs,
            steps_per_epoch=self.steps_per_epoch, device=self.device,
            noise_matrix=task.noise_matrix, noise_level=task.noise_level,
            seed=derive_seed(seed, "method"),
        )
        self.method = method_cls(setup, **method_params)
        self.active: torch.Tensor | None = None  # positions trained on (None: all)
        self._resets = 0
        self._version = 0  # bumps whenever network weights change (invalidates the cache)
        self._train_cache: dict[int, tuple[int, torch.Tensor]] = {}
        self._last_val: dict[str, float] = {}
        self.nets: list[nn.Module] = []
        self._build_networks()

    # -- networks and optimiser ---------------------------------------------------------
    def _build_networks(self) -> None:
        init_images = None
        if model_info(self.model_name).uses_init_images:
            init_images = self.normalize(self.task.train.images[:5000]).float()
        self.nets = [
            _make_network(self.model_name, self.outputs, self.task.input_shape, self.cfg,
                          derive_seed(self.seed, "init", self._resets, k), self.device, init_images, k)
            for k in range(self.method.num_networks)
        ]
        self._new_optimizer()
        self._version += 1

    def _new_optimizer(self) -> None:
        params = [p for net in self.nets for p in net.parameters() if p.requires_grad]
        params += [p for p in self.method.extra_parameters() if p.requires_grad]
        self.opt = torch.optim.SGD(params, lr=self.cfg.lr, momentum=self.cfg.momentum,
                                   nesterov=self.cfg.nesterov, weight_decay=self.cfg.weight_decay)
        self._sched_step = 0

    def _set_lr(self, total_steps: int) -> float:
        warm = int(round(self.cfg.warmup_epochs * self._steps_now()))
        lr = self.cfg.lr * _lr_factor(self._sched_step, total_steps, warm, self.cfg.schedule)
        for g in self.opt.param_groups:
            g["lr"] = lr
        return lr

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- TrainerHooks -------------------------------------------------------------------
    @torch.no_grad()
    def _logits(self, net: nn.Module, images: torch.Tensor) -> torch.Tensor:
        was = net.training
        net.eval()
        out = []
        bs = self.cfg.eval_batch_size
        with self._autocast():
            for s in range(0, images.shape[0], bs):
                out.append(net(self.normalize(images[s:s + bs])).float())
        net.train(was)
        if not out:
            return torch.empty((0, self.outputs), device=self.device)
        return torch.cat(out)

    def logits(self, images: torch.Tensor, network: int = 0) -> torch.Tensor:
        """Logits (N, K + E) of network ``network`` in eval mode on un-normalised uint8 images
        (N, C, H, W) held on the training device, e.g. a test set carrying a structured feature."""
        return self._logits(self.nets[network], images)

    def train_logits(self, network: int = 0) -> torch.Tensor:
        """Logits (N, K + E) of network ``network`` on the un-augmented train set (cached until
        the weights change)."""
        hit = self._train_cache.get(network)
        if hit is not None and hit[0] == self._version:
            return hit[1]
        logits = self._logits(self.nets[network], self.task.train.images)
        self._train_cache[network] = (self._version, logits)
        return logits

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
        self._resets += 1
        self._build_networks()

    def snapshot(self) -> Any:
        return [copy.deepcopy(net.state_dict()) for net in self.nets]

    def restore(self, snap: Any) -> None:
        for net, state in zip(self.nets, snap):
            net.load_state_dict(state)
        self._version += 1

    @property
    def last_validation(self) -> dict[str, float]:
        return dict(self._last_val)

    # -- evaluation -----------------------------------------------------------------------
    def _split_eval(self, split: str) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        """(logits, class probabilities (N, K), accuracy, mean NLL) of network 0 on ``split``."""
        sp = getattr(self.task, split)
        logits = self._logits(self.nets[0], sp.images)
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

    # -- training -------------------------------------------------------------------------
    def _steps_now(self) -> int:
        n = self.n_train if self.active is None else int(self.active.numel())
        return max(1, n // self.cfg.batch_size)

    def _epoch_order(self) -> list[torch.Tensor]:
        pool = self.active
        n = self.n_train if pool is None else int(pool.numel())
        perm = torch.randperm(n, generator=self.order_gen, device=self.device)
        if pool is not None:
            perm = pool[perm]
        bs = min(self.cfg.batch_size, n)
        return [perm[i * bs:(i + 1) * bs] for i in range(n // bs)]

    def _train_epoch(self, stage: int, epoch: int, step0: int, total_steps: int) -> tuple[int, dict[str, Any]]:
        for net in self.nets:
            net.train()
        loss_sum = torch.zeros((), device=self.device)
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        step = step0
        stats: dict[str, Any] = {}
        lr = self.cfg.lr
        batches = self._epoch_order()
        for index in batches:
            batch = Batch(x=self.augment(index, self.aug_gen), y=self.task.train.label[index], index=index,
                          epoch=epoch, step=step, total_steps=total_steps, stage=stage)
            lr = self._set_lr(total_steps)
            self.opt.zero_grad(set_to_none=True)
            with self._autocast():
                out = self.method.training_step(batch, self.nets)
            loss = out.loss.float()
            finite &= torch.isfinite(loss)
            loss_sum += loss.detach()
            loss.backward()
            self.opt.step()
            self._sched_step += 1
            step += 1
            stats = out.stats
        self._version += 1
        if not bool(finite):
            raise NonFiniteLossError(
                f"non-finite training loss in stage {stage} epoch {epoch} (method {self.method.name!r}); "
                "lower the learning rate (--param) or check the method's loss"
            )
        info = {"train_loss": float(loss_sum) / max(1, len(batches)), "lr": lr, "steps": len(batches),
                "examples": len(batches) * (len(batches[0]) if batches else 0)}
        for k, v in stats.items():
            try:
                info[f"stat_{k}"] = float(v)
            except (TypeError, ValueError):
                pass
        return step, info

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
        of training; per-epoch values are in ``curves``."""
        cfg, method = self.cfg, self.method
        curves: list[dict[str, Any]] = []
        for stage in range(method.num_stages):
            if stage > 0:
                self._new_optimizer()
            method.begin_stage(stage, self)
            total = cfg.epochs * self._steps_now()
            step = 0
            for epoch in range(cfg.epochs):
                t0 = time.perf_counter()
                method.begin_epoch(epoch, self)
                step, info = self._train_epoch(stage, epoch, step, total)
                val_logits, _, val_acc, val_loss = self._split_eval("validation")
                val_extra = method.eval_metrics(val_logits, self.task.validation.label)
                self._last_val = {**{k: float(v) for k, v in val_extra.items()}, "acc": val_acc, "loss": val_loss}
                test_logits, test_probs, test_acc, _ = self._split_eval("test")
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
        test_logits, test_probs, test_acc_final, _ = self._split_eval("test")
        final = self._epoch_metrics(test_logits, test_probs)
        last = [p for p in curves if p["stage"] == method.num_stages - 1]
        best = last[M.select_best_epoch([p["val_acc"] for p in last])]
        result: dict[str, Any] = {
            "test_acc_final": test_acc_final,
            "test_acc_best_val": best["test_acc"],
            "val_acc_best": best["val_acc"],
            "best_epoch": int(best["epoch"]),
            "ece_bins": int(cfg.ece_bins),
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
        result["curves"] = json.dumps(curve_cols, default=_json_default, allow_nan=True)
        return result


def _json_default(v: Any) -> Any:
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, torch.Tensor):
        return v.item()
    return str(v)


# --------------------------------------------------------------------------------------------
# One run -> one row


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


def _base_row(spec: RunSpec, task: TaskData | None, device: str) -> dict[str, Any]:
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
        with contextlib.suppress(HarnessError):  # an unknown method: the fallback id of run_one
            row["run_id"] = spec.run_id
    return row


def run_one(spec: RunSpec, task: TaskData | None = None, *,
            on_epoch: Callable[[RunSpec, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train one run and return its results row (a dict of the store columns).

    Never raises for a failing run: a NaN loss or an exception gives ``status = "failed"`` with
    the message in ``error``. ``task`` passes already-loaded data (tests, notebooks).
    ``on_epoch(resolved_spec, point)`` is called after every epoch (see :meth:`Trainer.fit`)."""
    t0 = time.perf_counter()
    device_name = str(spec.device)
    row: dict[str, Any] | None = None
    try:
        device = resolve_device(spec.device)
        device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        if task is None:
            task = load_task(spec.dataset_dir, spec.config, device, spec.image_root)
        if spec.fingerprint and task.fingerprint != spec.fingerprint:
            raise HarnessError(
                f"config {spec.config!r}: manifest fingerprint is {task.fingerprint} but the sweep was "
                f"planned on {spec.fingerprint}; the dataset changed during the sweep — re-run it"
            )
        spec = resolve_spec(dataclasses.replace(spec, fingerprint=task.fingerprint), task)
        row = _base_row(spec, task, device_name)
        hook = None if on_epoch is None else functools.partial(on_epoch, spec)
        row.update(train_task(task, spec.method, seed=spec.seed, model=spec.model,
                              method_params=spec.method_params, train=spec.train, on_epoch=hook))
        row["status"] = "ok"
    except Exception as exc:  # a failed run is a row, never a crashed sweep
        if row is None:
            row = _base_row(spec, task, device_name)
        row["status"] = "failed"
        msg = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, HarnessError):
            msg += "\n" + "".join(traceback.format_exception(exc)[-3:])
        row["error"] = msg
    row["wall_time_s"] = time.perf_counter() - t0
    if not row["run_id"]:
        row["run_id"] = hashlib.sha256(json.dumps([spec.fingerprint, spec.config, spec.method, spec.seed,
                                                   row["method_params"]]).encode()).hexdigest()
    return row


__all__ = [
    "EpochHook",
    "HARNESS_NUMERICS_VERSION",
    "MODEL_DEFAULTS",
    "SELECTED_METRICS",
    "NonFiniteLossError",
    "RunSpec",
    "TrainConfig",
    "Trainer",
    "default_model",
    "default_train_config",
    "derive_seed",
    "resolve_spec",
    "resolved_method_params",
    "run_id",
    "run_one",
    "train_task",
]
