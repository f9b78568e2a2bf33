"""Grouped networks: R copies of one architecture computed as one network.

``split`` must be bit-identical to the R single networks (forward, gradients, states);
``grouped`` (fused kernels, the CUDA path) must agree to fp32 rounding in the forward pass and
exactly in fp64, where CPU convolutions sum in the same order: fp32 gradients are compared in
fp64 because a 1e-7 rounding difference at a ReLU/max-pool kink legitimately moves a gradient
element by far more than rounding (seen on preact-resnet18), which says nothing about grouping.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnlbench.harness.models import build_model
from cnlbench.harness.models.grouped import (
    GroupedNetwork,
    GroupingError,
    group_models,
    load_run_state,
    memory_format_of,
    ungroup,
    ungroup_grads,
)

R = 3
MODELS = [
    ("digits-cnn", (1, 8, 8)),
    ("fastnet", (3, 16, 16)),
    ("preact-resnet18", (3, 16, 16)),
    ("resnet18", (3, 20, 20)),
    ("resnet34", (3, 32, 32)),  # deep: small maps make train-mode BN ill-conditioned
]


def _nets(name: str, shape: tuple[int, int, int], dtype: torch.dtype = torch.float32, outputs: int = 10,
          dropout: float = 0.0) -> list[nn.Module]:
    nets = []
    for s in range(R):
        init = torch.randn(20, *shape, generator=torch.Generator().manual_seed(50 + s))
        net = build_model(name, outputs, shape, generator=torch.Generator().manual_seed(s), init_images=init,
                          dropout=dropout)
        nets.append(net.to(dtype))
    return nets


def _inputs(shape: tuple[int, int, int], batch: int = 4, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    return [torch.randn(batch, *shape, generator=torch.Generator().manual_seed(100 + s)).to(dtype) for s in range(R)]


def _labels(batch: int = 4) -> list[torch.Tensor]:
    return [torch.randint(0, 10, (batch,), generator=torch.Generator().manual_seed(200 + s)) for s in range(R)]


@pytest.mark.parametrize("impl", ["grouped", "split"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name,shape", MODELS, ids=[m[0] for m in MODELS])
def test_forward_equals_separate_forwards(name, shape, train, impl) -> None:
    nets = _nets(name, shape)
    g = group_models(nets, impl)
    assert g.impl == impl and g.runs == R
    for n in nets:
        n.train(train)
    g.train(train)
    xs = _inputs(shape)
    out = g.forward_runs(xs)
    ref = torch.stack([n(x) for n, x in zip(nets, xs)], dim=1)
    assert out.shape == (4, R, 10)
    if train:  # batch-norm running statistics were updated per run, from that run's batch only
        for r, n in enumerate(nets):
            state = ungroup(g, r)
            for k, v in n.state_dict().items():
                torch.testing.assert_close(state[k], v, rtol=1e-5, atol=1e-6, msg=k)
    stacked = g(g.stack_inputs(xs))  # the (B, R*C, H, W) entry point computes the same
    if impl == "split":
        assert torch.equal(out, ref) and torch.equal(stacked, ref)
    else:
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(stacked, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("impl,dtype", [("grouped", torch.float64), ("split", torch.float32)])
@pytest.mark.parametrize("name,shape", MODELS, ids=[m[0] for m in MODELS])
def test_gradients_are_per_run(name, shape, impl, dtype) -> None:
    nets = _nets(name, shape, dtype)
    g = group_models(nets, impl)
    xs, ys = _inputs(shape, dtype=dtype), _labels()
    out = g.forward_runs(xs)
    torch.stack([F.cross_entropy(out[:, r], ys[r]) for r in range(R)]).sum().backward()
    for r, (n, x, y) in enumerate(zip(nets, xs, ys)):
        F.cross_entropy(n(x), y).backward()
        grads = ungroup_grads(g, r)
        for k, p in n.named_parameters():
            if p.grad is None:  # frozen (fastnet's whitening filters)
                assert grads[k] is None, k
            elif impl == "split":
                assert torch.equal(grads[k], p.grad), k
            else:
                torch.testing.assert_close(grads[k], p.grad, rtol=1e-9, atol=1e-12, msg=k)


@pytest.mark.parametrize("impl", ["grouped", "split"])
def test_one_run_loss_moves_only_that_run(impl) -> None:
    nets = _nets("digits-cnn", (1, 8, 8))
    g = group_models(nets, impl)
    out = g.forward_runs(_inputs((1, 8, 8)))
    F.cross_entropy(out[:, 1], _labels()[1]).backward()
    for r in range(R):
        grads = [v for v in ungroup_grads(g, r).values() if v is not None]
        moved = any(bool(v.abs().sum() > 0) for v in grads)
        assert moved == (r == 1), r


@pytest.mark.parametrize("impl", ["grouped", "split"])
@pytest.mark.parametrize("name,shape", MODELS[:3], ids=[m[0] for m in MODELS[:3]])
def test_ungroup_restores_each_single_state_and_load_touches_one_run(name, shape, impl) -> None:
    nets = _nets(name, shape)
    g = group_models(nets, impl)
    for r, n in enumerate(nets):
        state = ungroup(g, r)
        ref = n.state_dict()
        assert set(state) == set(ref)
        for k in ref:
            assert torch.equal(state[k], ref[k]), k
    # copies: changing the grouped network leaves the sources alone, and vice versa
    before = [ungroup(g, r) for r in range(R)]
    load_run_state(g, 1, nets[2].state_dict())
    for k, v in ungroup(g, 1).items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(v, nets[2].state_dict()[k]), k
    for r in (0, 2):
        after = ungroup(g, r)
        assert all(torch.equal(after[k], before[r][k]) for k in after)
    assert torch.equal(nets[1].state_dict()[next(iter(before[1]))], before[1][next(iter(before[1]))])


@pytest.mark.parametrize("impl", ["grouped", "split"])
def test_trainable_flags_and_frozen_whitening_are_copied(impl) -> None:
    g = group_models(_nets("fastnet", (3, 16, 16)), impl)
    frozen = [k for k, t, _ in g.run_tensors(0) if isinstance(t, nn.Parameter) and not t.requires_grad]
    assert frozen == ["whiten.weight"]


def test_unsupported_module_is_refused_with_its_name() -> None:
    def net() -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.LayerNorm([4, 6, 6]), nn.Flatten(), nn.Linear(144, 2))

    with pytest.raises(GroupingError, match="LayerNorm.*cannot be grouped"):
        group_models([net(), net()], "grouped")
    with pytest.raises(GroupingError, match="LayerNorm"):
        group_models([net(), net()], "split")


def test_flatten_that_mixes_runs_is_refused() -> None:
    def net() -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(start_dim=2), nn.Linear(36, 2))

    with pytest.raises(GroupingError, match="Flatten"):
        group_models([net(), net()])


def test_different_architectures_and_wrong_inputs_are_refused() -> None:
    a = build_model("digits-cnn", 10, (1, 8, 8), generator=torch.Generator().manual_seed(0))
    b = build_model("digits-cnn", 11, (1, 8, 8), generator=torch.Generator().manual_seed(0))
    with pytest.raises(GroupingError, match="differs from network 0"):
        group_models([a, b])
    with pytest.raises(GroupingError, match="at least one"):
        group_models([])
    with pytest.raises(GroupingError, match="unknown grouped implementation"):
        group_models([a, a], "vmap")
    g = group_models([a, a], "grouped")
    with pytest.raises(GroupingError, match="expected runs x channels = 2 x 1"):
        g(torch.zeros(2, 3, 8, 8))
    with pytest.raises(GroupingError, match="3 inputs for a group of 2"):
        g.forward_runs([torch.zeros(2, 1, 8, 8)] * 3)
    with pytest.raises(GroupingError, match="outside 0..1"):
        ungroup(g, 2)


def test_dropout_model_is_not_fused_but_splits_and_is_identity_in_eval() -> None:
    """Fusing dropout would make each run's masks depend on its partners: refused; the split
    form keeps each run's own seeded dropout layer."""
    from cnlbench.harness.models.grouped import GroupingError

    nets = _nets("digits-cnn", (1, 8, 8), dropout=0.5)
    with pytest.raises(GroupingError, match="cannot be fused"):
        group_models(nets, "grouped")
    g = group_models(nets, "split").eval()
    xs = _inputs((1, 8, 8))
    ref = torch.stack([n.eval()(x) for n, x in zip(nets, xs)], dim=1)
    torch.testing.assert_close(g.forward_runs(xs), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "strides_from,expected",
    [
        ("contiguous", torch.contiguous_format),
        ("channels_last", torch.channels_last),
        ("permuted_c1", torch.channels_last),  # (B, H, W, 1) permuted: PyTorch reads it as NHWC
        ("vector", torch.contiguous_format),
    ],
)
def test_memory_format_of_follows_pytorch(strides_from, expected) -> None:
    if strides_from == "contiguous":
        x = torch.zeros(2, 3, 4, 4)
    elif strides_from == "channels_last":
        x = torch.zeros(2, 3, 4, 4).contiguous(memory_format=torch.channels_last)
    elif strides_from == "permuted_c1":
        x = torch.zeros(2, 4, 4, 1).permute(0, 3, 1, 2)
    else:
        x = torch.zeros(2, 3)
    assert memory_format_of(x) == expected
    if x.dim() == 4:  # the same answer PyTorch's own kernels give: a conv output keeps the format
        out = F.conv2d(x, torch.zeros(2, x.shape[1], 1, 1))
        assert out.is_contiguous(memory_format=expected)


def test_grouped_network_holds_one_tensor_per_layer() -> None:
    g = group_models(_nets("digits-cnn", (1, 8, 8)), "grouped")
    single = build_model("digits-cnn", 10, (1, 8, 8), generator=torch.Generator().manual_seed(0))
    assert len(list(g.parameters())) == len(list(single.parameters()))
    assert sum(p.numel() for p in g.parameters()) == R * sum(p.numel() for p in single.parameters())
    assert isinstance(g, GroupedNetwork)
