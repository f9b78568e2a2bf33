"""Networks as the engine runs them: built from the run seed, placed on the device (channels_last
on CUDA), dropout seeded, and compiled when ``TrainConfig.compile`` asks for it. One run's
networks (:func:`make_network`) and R packed runs' grouped network (:func:`make_grouped_network`)
are built here, so the compile settings live in one place.

Compiled graphs are shared: dynamo treats parameters as graph inputs, so every network of one
class and shapes reuses the graphs compiled for the first (a fresh network per run compiles
nothing new).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cnlbench.harness.identity import derive_seed
from cnlbench.harness.models import build_model
from cnlbench.harness.models.grouped import GroupedNetwork, group_models
from cnlbench.harness.models.layers import seed_dropout
from cnlbench.harness.train_config import TrainConfig

#: dynamo's limit on compiled variants per code object. Every network of a class shares ONE
#: code object (its ``forward``) and each variant (train/eval mode, parameter shapes: a grouped
#: network per R) is one entry, so the default 8 silently ran the 9th variant eager. Raised
#: (never lowered) by :func:`compile_network`.
COMPILE_RECOMPILE_LIMIT = 64
#: dynamo's limit on compiled variants summed over all code objects (default 256).
COMPILE_ACCUMULATED_LIMIT = 1024


def device_generator(device: torch.device, seed: int) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (every draw of a run comes from one)."""
    return torch.Generator(device=device).manual_seed(seed)


def compile_network(net: nn.Module) -> nn.Module:
    """``net`` (returned, changed in place) with its ``forward`` wrapped by ``torch.compile``.

    The wrapper is an instance attribute bound to ``net``;
    :func:`~cnlbench.harness.models.grouped.group_models` drops it from its copies. Raises
    dynamo's recompile limits to :data:`COMPILE_RECOMPILE_LIMIT` and
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


def make_network(name: str, outputs: int, shape: tuple[int, int, int], cfg: TrainConfig, seed: int,
                 device: torch.device, init_images: torch.Tensor | None) -> nn.Module:
    """One network of a run, freshly initialised from ``seed`` (the run's per-network init seed).
    Never shared: packed runs hold their networks at once."""
    gen = torch.Generator().manual_seed(seed)
    fresh = build_model(name, outputs, shape, generator=gen, dropout=cfg.dropout,
                        init_images=init_images, pretrained=cfg.pretrained)
    fresh = fresh.to(device)
    if device.type == "cuda":
        fresh = fresh.to(memory_format=torch.channels_last)
    # dropout masks from the run's own generator, never the global one
    seed_dropout(fresh, device_generator(device, derive_seed(seed, "dropout")))
    return compile_network(fresh) if cfg.compile else fresh


def make_grouped_network(nets: Sequence[nn.Module], cfg: TrainConfig, device: torch.device,
                         impl: str) -> GroupedNetwork:
    """R runs' single networks as one grouped network on ``device`` (channels_last on CUDA).
    With ``cfg.compile`` the network that computes is compiled: the fused network, or each of
    the split form's R networks (they share one set of graphs); the single networks are never
    called (nor compiled) once grouped."""
    net = group_models(nets, impl)
    if device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
    if cfg.compile:
        for part in (net.nets if net.impl == "split" else [net]):
            compile_network(part)
    return net


__all__ = [
    "COMPILE_ACCUMULATED_LIMIT",
    "COMPILE_RECOMPILE_LIMIT",
    "compile_network",
    "device_generator",
    "make_grouped_network",
    "make_network",
]
