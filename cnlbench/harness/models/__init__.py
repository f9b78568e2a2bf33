"""Network registry: every model the harness trains, by name.

A model builder takes the number of outputs (``K + E``), the input shape ``(C, H, W)`` and a
dropout probability, and returns an ``nn.Module`` mapping float images (B, C, H, W) to logits
(B, K + E). Parameters are created on the ``meta`` device and initialised by
:func:`cnlbench.harness.models.init.init_parameters` from an explicit ``torch.Generator``, so
building a model never touches global RNG state and the same seed gives the same weights on any
device.

Built-in names: ``digits-cnn`` (8x8), ``fastnet`` (32x32, airbench-style without robustness
tricks), ``preact-resnet18`` (32x32), ``resnet18`` and ``resnet34`` (ImageNet-style, adapted
stem for 84x84). torchvision is never imported. A model is one file here that registers itself
with its training defaults (:mod:`cnlbench.harness.models.registry`); the registry finds it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnlbench.errors import HarnessError
from cnlbench.harness.models.init import init_parameters
from cnlbench.harness.models.registry import Builder, ModelInfo, model_info, model_names, register_model


def build_model(
    name: str,
    num_outputs: int,
    input_shape: tuple[int, int, int],
    *,
    generator: torch.Generator,
    dropout: float = 0.0,
    init_images: torch.Tensor | None = None,
    pretrained: str | Path | None = None,
) -> nn.Module:
    """A freshly initialised network on the CPU.

    ``input_shape`` is ``(C, H, W)``; ``generator`` (a CPU ``torch.Generator``) drives every
    random initial weight; ``init_images`` (M, C, H, W) float, normalised, feeds data-dependent
    initialisation (fastnet's frozen whitening layer) and is ignored by other models;
    ``pretrained`` names a local weights file (never fetched) loaded over the initialisation.
    """
    info = model_info(name)
    if not 0.0 <= dropout < 1.0:
        raise HarnessError(f"dropout {dropout!r} is not a probability in [0, 1); use e.g. 0.5")
    c, h, w = input_shape
    with torch.device("meta"):
        net = info.builder(num_outputs=num_outputs, in_channels=c, image_size=h, dropout=dropout)
    net = net.to_empty(device="cpu")
    init_parameters(net, generator)
    data_init = getattr(net, "data_init", None)
    if data_init is not None and init_images is not None:
        data_init(init_images.to("cpu", torch.float32))
    if pretrained is not None:
        load_pretrained(net, pretrained)
    return net


def load_pretrained(net: nn.Module, path: str | Path) -> None:
    """Load weights from a local ``.safetensors`` (when ``safetensors`` is installed) or a
    ``torch.save`` state dict (read with ``weights_only=True``). Tensors whose name or shape do
    not match (e.g. a classifier for another class count) keep their initialisation."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(
            f"pretrained weights file {str(path)!r} does not exist; pass the path of a local "
            ".safetensors or .pt state dict (weights are never downloaded)"
        )
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise HarnessError(
                f"{str(path)!r} is a .safetensors file but the `safetensors` package is not "
                "installed; `pip install safetensors` or convert it to a torch state dict"
            ) from None
        state = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
    if not isinstance(state, dict):
        raise HarnessError(f"{str(path)!r} does not hold a state dict (name -> tensor)")
    own = net.state_dict()
    usable = {
        k: v for k, v in state.items()
        if k in own and isinstance(v, torch.Tensor) and tuple(v.shape) == tuple(own[k].shape)
    }
    if not usable:
        raise HarnessError(
            f"no tensor in {str(path)!r} matches the model's parameter names and shapes "
            f"(first expected names: {list(own)[:4]}); use weights saved from the same model"
        )
    net.load_state_dict(usable, strict=False)


def count_parameters(net: nn.Module) -> int:
    """Number of scalar parameters (trainable or frozen)."""
    return int(sum(np.prod(p.shape) for p in net.parameters()))


__all__ = [
    "Builder",
    "ModelInfo",
    "build_model",
    "count_parameters",
    "load_pretrained",
    "model_info",
    "model_names",
    "register_model",
]
