"""Many copies of one architecture as ONE network: grouped convolutions, wide batch norms.

``group_models([net_0, ..., net_{R-1}])`` takes R independently initialised networks of the
same architecture (same module tree, same shapes) and returns a :class:`GroupedNetwork` that
computes all R of them in one forward pass:

* ``Conv2d(in, out, groups=g)`` -> ``Conv2d(R*in, R*out, groups=R*g)``; run r owns output
  channels ``r*out:(r+1)*out`` (and reads input channels ``r*in:(r+1)*in``);
* ``BatchNorm2d(C)`` -> ``BatchNorm2d(R*C)``: batch norm is per channel, so each run's batch
  statistics and running statistics are exactly its own;
* ``Linear(in, out)`` -> :class:`GroupedLinear`, weights (R, out, in): input (B, R*in) (a
  flattened run-major feature map) or (B, R, in), output (B, R, out), one ``baddbmm``;
* parameter-free channel-wise modules (activations, pooling, dropout, ``Flatten(1)``) and the
  container modules a model declares channel-wise when it registers (``register_model(...,
  channelwise=...)``: their ``forward`` only adds, scales, pools and flattens channel-wise)
  are kept as they are.

Any other module type is refused (:class:`GroupingError`) instead of silently mixing runs.

Layouts: input (B, R*C, H, W) float with run r's images in channels ``r*C:(r+1)*C`` (see
:meth:`GroupedNetwork.stack_inputs`, or pass the R inputs to :meth:`GroupedNetwork.forward_runs`);
output (B, R, K) logits. Weights are COPIED from the R source networks, so the grouped network
starts exactly where the R single networks start; :func:`ungroup` extracts run r's
``state_dict`` under the single network's names (snapshot, restore, verification) and
:func:`load_run_state` writes one back.

Two implementations (``impl``):

* ``"grouped"`` (the default on CUDA): the fused layers above, one kernel per layer for all
  runs. Every run's arithmetic is its own (parameters are disjoint slices and no operation
  mixes channels of different runs), but a grouped convolution or a batched matmul may sum
  its products in another order than the single layer does, so a run agrees with its single
  network to float rounding (~1e-7 relative in fp32 on CPU; fp64 is bit-identical there), and
  a rounding difference at a ReLU/max-pool kink can move a gradient further;
* ``"split"`` (the default elsewhere): the R networks kept as they are and called one after
  another on their own inputs. On a CPU grouped kernels are no faster than R single ones
  (``benchmarks/multirun_throughput.py``), and this way each run computes bit for bit what
  its single network computes, whatever its partners (memory formats and gradient layouts
  included), which makes packing on a CPU exactly neutral.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Sequence

import torch
from torch import nn

from cnlbench.errors import HarnessError
from cnlbench.harness.models.layers import SeededDropout
from cnlbench.harness.models.registry import channelwise_containers


class GroupingError(HarnessError):
    """The networks cannot be stacked into one grouped network."""


#: Where run r's values sit in a tensor of a grouped leaf: a slice or an index into the fused
#: tensor, ``...`` (the whole tensor belongs to run r) or None (shared by every run).
Index = Any


# --------------------------------------------------------------------------------------------
# Grouped leaves


class GroupedConv2d(nn.Conv2d):
    """R convolutions ``Conv2d(in, out, groups=g)`` as one ``Conv2d(R*in, R*out, groups=R*g)``."""

    runs: int

    @classmethod
    def from_runs(cls, convs: Sequence[nn.Conv2d]) -> "GroupedConv2d":
        c0, r = convs[0], len(convs)
        p = c0.weight
        out = cls(c0.in_channels * r, c0.out_channels * r, c0.kernel_size, c0.stride, c0.padding,
                  c0.dilation, c0.groups * r, c0.bias is not None, c0.padding_mode,
                  device=p.device, dtype=p.dtype)
        out.runs = r
        with torch.no_grad():
            out.weight.copy_(torch.cat([c.weight for c in convs]))
            out.weight.requires_grad_(p.requires_grad)
            if c0.bias is not None:
                out.bias.copy_(torch.cat([c.bias for c in convs]))
                out.bias.requires_grad_(c0.bias.requires_grad)
        return out

    def run_slices(self, r: int) -> dict[str, tuple[torch.Tensor, Index]]:
        n = self.out_channels // self.runs
        sl = slice(r * n, (r + 1) * n)
        out: dict[str, tuple[torch.Tensor, Index]] = {"weight": (self.weight, sl)}
        if self.bias is not None:
            out["bias"] = (self.bias, sl)
        return out


class GroupedBatchNorm2d(nn.BatchNorm2d):
    """R ``BatchNorm2d(C)`` as one ``BatchNorm2d(R*C)`` (per-channel, hence exact per run)."""

    runs: int

    @classmethod
    def from_runs(cls, norms: Sequence[nn.BatchNorm2d]) -> "GroupedBatchNorm2d":
        b0, r = norms[0], len(norms)
        ref = b0.weight if b0.weight is not None else b0.running_mean
        out = cls(b0.num_features * r, b0.eps, b0.momentum, b0.affine, b0.track_running_stats,
                  device=None if ref is None else ref.device, dtype=None if ref is None else ref.dtype)
        out.runs = r
        with torch.no_grad():
            for name in ("weight", "bias", "running_mean", "running_var"):
                t = getattr(out, name)
                if t is not None:
                    t.copy_(torch.cat([getattr(b, name) for b in norms]))
            for name in ("weight", "bias"):
                if getattr(out, name) is not None:
                    getattr(out, name).requires_grad_(getattr(b0, name).requires_grad)
            if b0.num_batches_tracked is not None:
                counts = {int(b.num_batches_tracked) for b in norms}
                if len(counts) != 1:
                    raise GroupingError(
                        f"batch norms have seen different numbers of batches {sorted(counts)}; group "
                        "networks at the same point of training (e.g. freshly initialised)"
                    )
                out.num_batches_tracked.copy_(b0.num_batches_tracked)
        return out

    def run_slices(self, r: int) -> dict[str, tuple[torch.Tensor, Index]]:
        n = self.num_features // self.runs
        sl = slice(r * n, (r + 1) * n)
        out: dict[str, tuple[torch.Tensor, Index]] = {}
        for name in ("weight", "bias", "running_mean", "running_var"):
            t = getattr(self, name)
            if t is not None:
                out[name] = (t, sl)
        if self.num_batches_tracked is not None:
            out["num_batches_tracked"] = (self.num_batches_tracked, None)  # shared by every run
        return out


class GroupedLinear(nn.Module):
    """R ``Linear(in, out)`` layers: weight (R, out, in), bias (R, out) or None.

    Input (B, R*in) (run-major, e.g. a flattened grouped feature map) or (B, R, in); output
    (B, R, out). Computed as one batched matrix product over runs (``torch.baddbmm``)."""

    def __init__(self, runs: int, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None):
        super().__init__()
        self.runs, self.in_features, self.out_features = runs, in_features, out_features
        self.weight = nn.Parameter(torch.empty((runs, out_features, in_features), device=device, dtype=dtype))
        self.bias = (nn.Parameter(torch.empty((runs, out_features), device=device, dtype=dtype))
                     if bias else None)

    @classmethod
    def from_runs(cls, linears: Sequence[nn.Linear]) -> "GroupedLinear":
        l0 = linears[0]
        out = cls(len(linears), l0.in_features, l0.out_features, l0.bias is not None,
                  device=l0.weight.device, dtype=l0.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(torch.stack([m.weight for m in linears]))
            out.weight.requires_grad_(l0.weight.requires_grad)
            if l0.bias is not None:
                out.bias.copy_(torch.stack([m.bias for m in linears]))
                out.bias.requires_grad_(l0.bias.requires_grad)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        if x.dim() == 2:
            if x.shape[1] != self.runs * self.in_features:
                raise GroupingError(
                    f"grouped linear expects {self.runs} x {self.in_features} features per example, got "
                    f"{x.shape[1]}; a module before it is not channel-wise"
                )
            x = x.reshape(b, self.runs, self.in_features)
        xr = x.transpose(0, 1)  # (R, B, in)
        wt = self.weight.transpose(1, 2)  # (R, in, out)
        if self.bias is None:
            y = torch.bmm(xr, wt)
        else:
            y = torch.baddbmm(self.bias[:, None, :], xr, wt)
        return y.transpose(0, 1)  # (B, R, out)

    def run_slices(self, r: int) -> dict[str, tuple[torch.Tensor, Index]]:
        out: dict[str, tuple[torch.Tensor, Index]] = {"weight": (self.weight, r)}
        if self.bias is not None:
            out["bias"] = (self.bias, r)
        return out

    def extra_repr(self) -> str:
        return f"runs={self.runs}, in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """The memory format PyTorch's kernels read from ``x``'s strides (a port of c10's
    ``is_channels_last_strides_2d``): ``channels_last`` for NHWC-like 4-D strides, including
    the ambiguous C = 1 case PyTorch resolves from the stride of the size-1 channel dim."""
    if x.dim() != 4:
        return torch.contiguous_format
    sizes, strides = x.shape, x.stride()
    if strides[1] == 0:
        return torch.contiguous_format
    lo = 0
    for d in (1, 3, 2, 0):
        if sizes[d] == 0 or strides[d] < lo:
            return torch.contiguous_format
        if d == 0 and lo == strides[1]:
            return torch.contiguous_format
        lo = strides[d] * (sizes[d] if sizes[d] > 1 else 1)
    return torch.channels_last


class _DenseGrad(torch.autograd.Function):
    """Identity whose backward makes the incoming gradient dense in the memory format of the
    forward output: a run's slice of the stacked output's gradient is strided, and a
    matmul/convolution/norm backward may pick another kernel (another summation order) for it
    than the single network, whose gradient has its output's layout, gets."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.fmt = memory_format_of(x)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous(memory_format=ctx.fmt)


#: Modules with parameters and their grouped replacement.
_GROUPED: dict[type, Any] = {
    nn.Conv2d: GroupedConv2d.from_runs,
    nn.BatchNorm2d: GroupedBatchNorm2d.from_runs,
    nn.Linear: GroupedLinear.from_runs,
}
#: Parameter-free modules that act on each channel (or each example) separately.
CHANNELWISE: tuple[type, ...] = (
    nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.Hardswish,
    nn.Identity, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
    nn.Dropout, nn.Dropout2d, nn.Flatten,
)
_CONTAINERS: set[type] = {nn.Sequential, nn.ModuleList, nn.ModuleDict}


def register_channelwise_container(cls: type[nn.Module]) -> type[nn.Module]:
    """Declare that ``cls.forward`` only combines its children channel-wise (adds, scales,
    pools, flattens from dim 1), so a grouped copy of it computes every run separately."""
    _CONTAINERS.add(cls)
    return cls


def _registered_containers() -> None:
    """Add the channel-wise containers the registered models declare (``register_model``)."""
    _CONTAINERS.update(channelwise_containers())


def _grouped_kind(mod: nn.Module, fused: bool = True) -> str:
    """``"group"`` (replace), ``"keep"`` (parameter-free channel-wise) or ``"container"``."""
    if type(mod) in _GROUPED:  # exact types: a subclass may compute something else
        return "group"
    if isinstance(mod, SeededDropout):
        if mod.p > 0.0 and fused:
            # one fused layer would draw one mask stream for all runs: each run's numbers would
            # depend on its partners. Dropout runs are packed in the "split" form only.
            raise GroupingError(f"SeededDropout(p={mod.p}) cannot be fused across runs; use impl='split' "
                                "(each run keeps its own dropout generator) or train these runs one by one")
        return "keep"
    if isinstance(mod, CHANNELWISE):
        if isinstance(mod, nn.Flatten) and (mod.start_dim != 1 or mod.end_dim != -1):
            raise GroupingError(f"Flatten(start_dim={mod.start_dim}, end_dim={mod.end_dim}) mixes runs; only "
                                "Flatten(1) (the default) can be grouped")
        return "keep"
    if type(mod) in _CONTAINERS:
        if any(True for _ in mod.parameters(recurse=False)) or any(True for _ in mod.buffers(recurse=False)):
            raise GroupingError(f"container {type(mod).__name__} holds its own parameters or buffers; "
                                "move them into a supported layer")
        return "container"
    supported = sorted(t.__name__ for t in (*_GROUPED, *CHANNELWISE, *_CONTAINERS))
    raise GroupingError(
        f"module type {type(mod).__qualname__} cannot be grouped across runs (supported: {supported}); "
        "train these runs one by one with run_one, or register a channel-wise container with "
        "register_channelwise_container"
    )


def _structure(net: nn.Module) -> list[tuple[str, str, tuple]]:
    return [(n, type(m).__qualname__,
             tuple((k, tuple(v.shape), v.requires_grad if isinstance(v, nn.Parameter) else None)
                   for k, v in [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)]))
            for n, m in net.named_modules()]


# --------------------------------------------------------------------------------------------
# The grouped network


class GroupedNetwork(nn.Module):
    """R networks of one architecture computed as one. ``forward``: (B, R*C, H, W) -> (B, R, K).

    ``impl == "grouped"``: ``self.net`` is the fused network; ``impl == "split"``:
    ``self.nets`` holds the R networks."""

    def __init__(self, runs: int, in_channels: int, *, net: nn.Module | None = None,
                 nets: Sequence[nn.Module] | None = None):
        super().__init__()
        if (net is None) == (nets is None):
            raise GroupingError("GroupedNetwork takes either a fused net or the R split nets")
        self.runs = runs
        self.in_channels = in_channels  # C of ONE run
        self.impl = "grouped" if net is not None else "split"
        if net is not None:
            self.net = net
        else:
            self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.runs * self.in_channels:
            raise GroupingError(
                f"grouped input has {x.shape[1]} channels; expected runs x channels = {self.runs} x "
                f"{self.in_channels} (stack per-run inputs with stack_inputs)"
            )
        if self.impl == "split":
            c, fmt = self.in_channels, memory_format_of(x)
            return self.forward_runs([x[:, r * c:(r + 1) * c].contiguous(memory_format=fmt)
                                      for r in range(self.runs)])
        out = self.net(x)
        if out.dim() != 3 or out.shape[1] != self.runs:
            raise GroupingError(f"grouped output has shape {tuple(out.shape)}; expected (B, {self.runs}, K)")
        return out

    def forward_runs(self, xs: Sequence[torch.Tensor],
                     memory_format: torch.memory_format | None = None) -> torch.Tensor:
        """Logits (B, R, K) of run r on ``xs[r]`` (B, C, H, W) each.

        ``grouped``: the inputs are stacked with ``memory_format`` (default: that of
        ``xs[0]``). ``split``: run r's network gets ``xs[r]`` itself, and the gradient of its
        output slice arrives dense, as its single network would see both."""
        if len(xs) != self.runs:
            raise GroupingError(f"{len(xs)} inputs for a group of {self.runs} runs; pass one per run")
        if self.impl == "split":
            return torch.stack([_DenseGrad.apply(net(x)) for net, x in zip(self.nets, xs)], dim=1)
        x = self.stack_inputs(xs).contiguous(memory_format=memory_format or memory_format_of(xs[0]))
        return self(x)

    @staticmethod
    def stack_inputs(xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """R inputs (B, C, H, W) -> one grouped input (B, R*C, H, W)."""
        return torch.cat(list(xs), dim=1)

    def run_tensors(self, r: int) -> Iterable[tuple[str, torch.Tensor, Index]]:
        """(single-network name, tensor holding it, where run r's values sit) for run r."""
        if not 0 <= r < self.runs:
            raise GroupingError(f"run index {r} is outside 0..{self.runs - 1}")
        if self.impl == "split":
            net = self.nets[r]
            for k, t in [*net.named_parameters(), *net.named_buffers()]:
                yield k, t, ...
            return
        for name, mod in self.net.named_modules():
            if isinstance(mod, (GroupedConv2d, GroupedBatchNorm2d, GroupedLinear)):
                for key, (t, sl) in mod.run_slices(r).items():
                    yield (f"{name}.{key}" if name else key), t, sl


#: Instance attributes that override how a module is called: ``torch.compile`` wrappers
#: (``net.forward = torch.compile(net.forward)``, ``Module.compile()``) bound to the SOURCE
#: network. ``copy.deepcopy`` copies the reference, not the binding, so a copy keeping one
#: would still call its source's weights (or the single network on grouped inputs).
_CALL_OVERRIDES = ("forward", "_compiled_call_impl")


def plain_copy(net: nn.Module) -> nn.Module:
    """A deep copy of ``net`` whose modules compute with their class's ``forward`` and the
    copy's own tensors (compile wrappers of the source dropped; compile the copy if wanted)."""
    out = copy.deepcopy(net)
    for mod in out.modules():
        for attr in _CALL_OVERRIDES:
            mod.__dict__.pop(attr, None)
    return out


def _find_in_channels(net: nn.Module) -> int:
    for mod in net.modules():
        if type(mod) is nn.Conv2d:
            return int(mod.in_channels)
    raise GroupingError(f"{type(net).__qualname__} has no Conv2d layer; grouped networks take images")


IMPLS = ("auto", "grouped", "split")


def group_models(models: Sequence[nn.Module], impl: str = "auto") -> GroupedNetwork:
    """One :class:`GroupedNetwork` computing ``models`` (R >= 1 networks of identical structure).

    Weights, buffers and ``requires_grad`` flags are copied (the sources are not modified and
    not shared; a compiled source is copied uncompiled, see :func:`plain_copy`). Train/eval mode follows ``models[0]``. ``impl``: ``"grouped"`` (fused
    layers), ``"split"`` (the R networks called in turn: bit-identical to single runs) or
    ``"auto"`` (``grouped`` on CUDA, ``split`` elsewhere); see the module docstring."""
    models = list(models)
    if not models:
        raise GroupingError("group_models needs at least one network")
    if impl not in IMPLS:
        raise GroupingError(f"unknown grouped implementation {impl!r}; use one of {IMPLS}")
    if impl == "auto":
        first = next(iter(models[0].parameters()), None)
        dropout = any(isinstance(m, SeededDropout) and m.p > 0 for m in models[0].modules())
        impl = "grouped" if first is not None and first.device.type == "cuda" and not dropout else "split"
    _registered_containers()
    ref = _structure(models[0])
    for i, m in enumerate(models[1:], start=1):
        if _structure(m) != ref:
            raise GroupingError(
                f"network {i} differs from network 0 in its modules or parameter shapes; only copies "
                "of one architecture (same model, outputs, input channels) can be grouped"
            )
    in_channels = _find_in_channels(models[0])
    if impl == "split":
        for name, mod in models[0].named_modules():
            _grouped_kind(mod, fused=False)  # the modules the grouped form accepts, name errors alike
        out = GroupedNetwork(len(models), in_channels, nets=[plain_copy(m) for m in models])
        out.train(models[0].training)
        return out
    tables = [dict(m.named_modules()) for m in models]
    grouped = plain_copy(models[0])
    replacements: list[tuple[str, nn.Module]] = []
    for name, mod in grouped.named_modules():
        if _grouped_kind(mod) == "group":
            replacements.append((name, _GROUPED[type(mod)]([t[name] for t in tables])))
    for name, new in replacements:
        parent_name, _, child = name.rpartition(".")
        parent = grouped.get_submodule(parent_name) if parent_name else grouped
        setattr(parent, child, new)
    out = GroupedNetwork(len(models), in_channels, net=grouped)
    out.train(models[0].training)
    return out


# --------------------------------------------------------------------------------------------
# Per-run views


def ungroup(grouped: GroupedNetwork, r: int) -> dict[str, torch.Tensor]:
    """Run r's ``state_dict`` (copies) under the names of the single source network."""
    return {k: (t if sl is None else t[sl]).detach().clone() for k, t, sl in grouped.run_tensors(r)}


def ungroup_grads(grouped: GroupedNetwork, r: int) -> dict[str, torch.Tensor | None]:
    """Run r's parameter gradients (copies; None where there is none) under single-network names."""
    out: dict[str, torch.Tensor | None] = {}
    for k, t, sl in grouped.run_tensors(r):
        if isinstance(t, nn.Parameter):
            out[k] = None if t.grad is None else (t.grad if sl is None else t.grad[sl]).detach().clone()
    return out


@torch.no_grad()
def load_run_state(grouped: GroupedNetwork, r: int, state: dict[str, torch.Tensor]) -> None:
    """Write a single network's ``state_dict`` into run r's slice (other runs untouched).

    Every key of run r must be present; in the ``grouped`` form ``num_batches_tracked`` is
    shared by all runs and is left as it is."""
    for k, t, sl in grouped.run_tensors(r):
        if sl is None:
            continue
        if k not in state:
            raise GroupingError(f"state for run {r} lacks {k!r}; pass a state_dict of the same architecture")
        t[sl].copy_(state[k])


__all__ = [
    "CHANNELWISE",
    "IMPLS",
    "Index",
    "GroupedBatchNorm2d",
    "GroupedConv2d",
    "GroupedLinear",
    "GroupedNetwork",
    "GroupingError",
    "group_models",
    "load_run_state",
    "memory_format_of",
    "plain_copy",
    "register_channelwise_container",
    "ungroup",
    "ungroup_grads",
]
