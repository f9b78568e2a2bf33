"""The one small interface every noisy-label method implements, and the method registry.

The engine (``cnlbench.harness.engine``) owns the data, the networks, the optimiser and the
loop; a method only says how one training step turns a batch into a loss, plus optional hooks
at stage and epoch boundaries. One file per method under ``cnlbench/harness/methods/``.

Shapes: ``B`` batch size, ``K`` number of classes, ``E`` extra outputs (``extra_outputs``, e.g.
1 abstention output for DAC), ``N`` training-set size. Transition matrices are row-stochastic,
``T[i, j] = P(noisy = j | clean = i)``, shape (K, K).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Protocol, Sequence

import numpy as np
import torch

from cnlbench.errors import HarnessError
from cnlbench.registry import Registry

Network = Callable[[torch.Tensor], torch.Tensor]  # (B, C, H, W) float -> (B, K + E) logits


@dataclass(frozen=True)
class MethodSetup:
    """What a method may know about the run when it is created."""

    num_classes: int  # K
    num_train: int  # N
    epochs: int  # epochs per stage
    steps_per_epoch: int
    device: torch.device
    #: Requested transition matrix (K, K) read from the manifest, or None when unknown
    #: (web noise, human noise). Methods "with the true T" require it.
    noise_matrix: np.ndarray | None = None
    #: Requested noise level (fraction) of the config, or None when unknown.
    noise_level: float | None = None
    #: Seed for the method's own draws (mixing partners, lambdas, ...); use
    #: ``torch.Generator(device).manual_seed(setup.seed)``, never global RNG.
    seed: int = 0


@dataclass
class Batch:
    """One training batch, already on the device and augmented."""

    x: torch.Tensor  # (B, C, H, W) float, normalised
    y: torch.Tensor  # (B,) int64 noisy training labels
    index: torch.Tensor  # (B,) int64 positions in the training set
    epoch: int  # 0-based epoch within the current stage
    step: int  # 0-based global step within the current stage
    total_steps: int  # steps in the current stage
    stage: int = 0

    @property
    def progress(self) -> float:
        """Fraction of the current stage completed before this step, in [0, 1)."""
        return self.step / max(1, self.total_steps)


@dataclass
class StepOutput:
    """What :meth:`Method.training_step` returns."""

    loss: torch.Tensor  # scalar, to be minimised
    #: (B, K + E) logits of network 0 on the (unmixed) batch, for train-accuracy curves; None
    #: when the method only saw mixed inputs.
    logits: torch.Tensor | None = None
    #: (B,) detached per-example noise score (higher = more likely mislabelled), or None.
    scores: torch.Tensor | None = None
    #: Scalars to log (detached floats or 0-d tensors).
    stats: dict[str, Any] = field(default_factory=dict)


class TrainerHooks(Protocol):
    """What the engine offers methods at stage and epoch boundaries."""

    def predict_train(self, network: int = 0) -> torch.Tensor:
        """Softmax outputs (N, K + E) of the current network on the un-augmented training set."""

    def train_losses(self, network: int = 0) -> torch.Tensor:
        """Per-example CE (N,) of the current network on the un-augmented training set."""

    def set_train_mask(self, mask: torch.Tensor | None) -> None:
        """Train only on examples where ``mask`` (N,) bool is True (None: all)."""

    def reset_networks(self) -> None:
        """Re-initialise every network and optimiser (deterministically from the run seed)."""

    def snapshot(self) -> Any:
        """An in-memory copy of the networks' state (to restore later)."""

    def restore(self, snap: Any) -> None:
        """Restore a :meth:`snapshot`."""

    @property
    def last_validation(self) -> dict[str, float]:
        """Metrics of the last epoch on the NOISY validation split: ``acc``, ``loss``."""


class Method(abc.ABC):
    """Base class. Subclasses set ``name`` and implement :meth:`training_step`."""

    name: ClassVar[str] = ""
    #: Extra network outputs beyond the K classes (DAC: 1, the abstention output).
    extra_outputs: ClassVar[int] = 0
    #: Networks trained together (co-teaching: 2).
    num_networks: ClassVar[int] = 1
    #: Training stages (T-hat correction and the DAC protocol: 2).
    num_stages: ClassVar[int] = 1
    #: Default hyperparameters (the reference code's, see docs/methods.md).
    defaults: ClassVar[dict[str, Any]] = {}
    #: Methods whose definition includes regularisation the engine must apply (e.g. the CNWL
    #: paper's WeDecay/Dropout baselines): ``{"weight_decay": 5e-4}``, ``{"dropout": 0.5}``.
    engine_overrides: ClassVar[dict[str, Any]] = {}
    #: True when the method needs the manifest's transition matrix.
    needs_noise_matrix: ClassVar[bool] = False

    # -- what the board says about the method, and its tuning grid -----------------------
    # Declared in the method's own class body and never inherited (see ``OWN_ATTRIBUTES``):
    # a subclass of CE is not CE's baseline, and a variant does not silently take its parent's
    # grid. A method that declares none of them is family ``other``, without links or grid.
    #: Board family: one of ``cnlbench.board.references.METHOD_FAMILIES`` ("baseline",
    #: "regularisation", "robust loss", "loss correction", "sample selection", "other").
    family: ClassVar[str] = "other"
    #: One-line description (the board, ``eval --list-methods``).
    summary: ClassVar[str] = ""
    #: The paper, and the repository whose computation we follow (see docs/methods.md).
    paper: ClassVar[str] = ""
    code: ClassVar[str] = ""
    #: False where the authors released no code and a widely used reimplementation is cited.
    code_official: ClassVar[bool] = True
    #: Tuning grid ``{parameter: [values]}``, the default value first, at most two parameters
    #: (``cnlbench.harness.tuning.method_grid``); empty: the learning-rate-only axis.
    tuning_grid: ClassVar[dict[str, list[Any]]] = {}
    #: The class attributes above, which each class declares for itself.
    OWN_ATTRIBUTES: ClassVar[tuple[str, ...]] = ("family", "summary", "paper", "code", "code_official", "tuning_grid")

    def __init__(self, setup: MethodSetup, **params: Any):
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise HarnessError(
                f"method {self.name!r} got unknown parameter(s) {sorted(unknown)}; "
                f"valid parameters: {sorted(self.defaults)}"
            )
        if self.needs_noise_matrix and setup.noise_matrix is None:
            raise HarnessError(
                f"method {self.name!r} needs the true transition matrix, but this config has "
                "none (web or human noise); use the T-hat variant instead"
            )
        self.setup = setup
        self.params: dict[str, Any] = {**self.defaults, **params}

    # -- hooks (optional) ---------------------------------------------------------------
    def begin_stage(self, stage: int, hooks: TrainerHooks) -> None:
        """Called before each stage's first epoch (stage 0 included)."""

    def begin_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        """Called before each epoch."""

    def end_epoch(self, epoch: int, hooks: TrainerHooks) -> None:
        """Called after each epoch (after validation)."""

    # -- the step ----------------------------------------------------------------------
    # Two ways to define a step. Methods with ONE network and ONE forward pass per step should
    # implement the two-phase form, ``prepare_inputs`` + ``loss_from_logits``: the engine can
    # then stack many runs into one batched forward (issue 5, ``harness/multirun.py``) while
    # each run's numbers stay its own. Methods that need several forwards or networks
    # (co-teaching, ...) override ``training_step`` instead.
    #: True when the method defines ``loss_from_logits`` (set automatically).
    two_phase: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.two_phase = cls.loss_from_logits is not Method.loss_from_logits
        for attr in Method.OWN_ATTRIBUTES:  # not inherited: undeclared means Method's value
            if attr not in cls.__dict__:
                setattr(cls, attr, getattr(Method, attr))

    def prepare_inputs(self, batch: Batch) -> torch.Tensor:
        """(B, C, H, W) inputs of the single forward pass; default ``batch.x`` (mixup mixes here
        and keeps what it needs for the loss on ``self``)."""
        return batch.x

    def loss_from_logits(self, batch: Batch, logits: torch.Tensor) -> StepOutput:
        """Loss of one batch from the logits (B, K + E) of ``prepare_inputs(batch)``."""
        raise NotImplementedError(
            f"method {self.name!r} defines neither loss_from_logits nor training_step"
        )

    def training_step(self, batch: Batch, nets: Sequence[Network]) -> StepOutput:
        """Loss of one batch. ``nets[k]`` maps (B, C, H, W) -> (B, K + E) logits.

        Default: the two-phase form (``prepare_inputs``, one forward of ``nets[0]``,
        ``loss_from_logits``)."""
        return self.loss_from_logits(batch, nets[0](self.prepare_inputs(batch)))

    # -- parameters the method owns -------------------------------------------------------
    def extra_parameters(self) -> list[torch.nn.Parameter]:
        """Trainable tensors owned by the method, not by a network (e.g. the S-model's
        noise-adaptation matrix W). The engine adds them to the optimiser of network 0 (and
        to the optimiser it re-creates on ``reset_networks``); default: none."""
        return []

    # -- evaluation ----------------------------------------------------------------------
    def class_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, K) class probabilities from network outputs (B, K + E); default softmax over K."""
        return torch.softmax(logits[:, : self.setup.num_classes].float(), dim=1)

    def eval_metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Extra test metrics (e.g. DAC abstention coverage); logits (B, K + E), targets (B,)."""
        return {}

    def noise_scores(self, hooks: TrainerHooks) -> torch.Tensor | None:
        """(N,) per-example noise scores over the training set at the end of training, for
        the noise-detection AUROC; None means the engine uses the final per-example loss."""
        return None

    def label_losses(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(N,) -log of the probability :meth:`class_probabilities` gives ``labels`` (N,) under
        ``logits`` (N, K + E): the per-example loss behind the default noise score, so a method
        whose predictions pass through its own layer (e.g. an output BatchNorm) is scored
        through that layer too."""
        probs = self.class_probabilities(logits).float()
        return -torch.log(probs.gather(1, labels.to(probs.device)[:, None]).squeeze(1).clamp_min(1e-12))


# --------------------------------------------------------------------------------------------
# Registry: a method is one file of this package whose class is decorated ``@register_method``
# (found by :class:`cnlbench.registry.Registry`; a method defined elsewhere registers when its
# module is imported).

METHODS: Registry[type[Method]] = Registry("method", "cnlbench.harness.methods", error=HarnessError, skip=("base",))


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: register ``cls`` under ``cls.name``."""
    if not cls.name:
        raise HarnessError(f"{cls.__qualname__} has no name; set the class attribute `name`")
    return METHODS.add(cls.name, cls)


def method_names() -> list[str]:
    """All registered method names, sorted."""
    return METHODS.names()


def get_method(name: str) -> type[Method]:
    """The method class registered as ``name``; the error lists the valid names."""
    return METHODS.get(name)
