"""The model registry: a model is ONE file under ``cnlbench/harness/models/`` that calls
:func:`register_model` and so declares everything the harness needs to know about it.

A registration names the builder, the image size it was designed for, its training defaults
(fields of :class:`~cnlbench.harness.train_config.TrainConfig`: the budget and augmentation the
model is trained with unless a run overrides them) and the container modules whose ``forward``
only combines children channel-wise (so :func:`~cnlbench.harness.models.grouped.group_models`
may pack runs of the model; a model with none packs when it is built of standard layers only).
The registry discovers the model files itself (:class:`cnlbench.registry.Registry`): adding a
model touches no other file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from torch import nn

from cnlbench.errors import HarnessError
from cnlbench.registry import Registry

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: its builder, the input it was designed for and its training defaults."""

    name: str
    builder: Builder
    image_size: int  # the H = W it was designed for (other sizes work where the net allows)
    description: str
    #: True when the model initialises a layer from training images (``init_images``).
    uses_init_images: bool = False
    #: The model's training defaults (``TrainConfig`` field -> value).
    train_defaults: Mapping[str, Any] = field(default_factory=dict)
    #: Module classes of the model whose ``forward`` only adds, scales, pools and flattens its
    #: children channel-wise: a grouped copy of them computes every packed run separately.
    channelwise: tuple[type[nn.Module], ...] = ()


MODELS: Registry[ModelInfo] = Registry(
    "model", "cnlbench.harness.models", error=HarnessError, skip=("grouped", "init", "layers", "registry"))


def register_model(name: str, image_size: int, description: str, *, uses_init_images: bool = False,
                   train_defaults: Mapping[str, Any] | None = None,
                   channelwise: tuple[type[nn.Module], ...] = ()) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder(num_outputs, in_channels, image_size, dropout)`` as ``name``
    with its training defaults and its channel-wise containers (see :class:`ModelInfo`)."""

    def deco(fn: Builder) -> Builder:
        MODELS.add(name, ModelInfo(name, fn, image_size, description, uses_init_images,
                                   dict(train_defaults or {}), tuple(channelwise)))
        return fn

    return deco


def model_names() -> list[str]:
    """All registered model names, sorted."""
    return MODELS.names()


def model_info(name: str) -> ModelInfo:
    """The registered model ``name``; the error lists the valid names."""
    return MODELS.get(name)


def channelwise_containers() -> set[type[nn.Module]]:
    """The channel-wise container classes every registered model declares."""
    return {cls for _, info in MODELS.items() for cls in info.channelwise}


__all__ = ["Builder", "MODELS", "ModelInfo", "channelwise_containers", "model_info", "model_names", "register_model"]
