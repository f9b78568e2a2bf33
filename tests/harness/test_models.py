"""Model registry: forward shapes, seeded construction, dropout, whitening init, weights files."""

from __future__ import annotations

import json

import pytest
import torch

from cnlbench.errors import HarnessError
from cnlbench.harness.models import build_model, count_parameters, model_info, model_names
from cnlbench.harness.models.layers import SeededDropout

CASES = [("digits-cnn", 1, 8), ("fastnet", 3, 32), ("preact-resnet18", 3, 32), ("resnet18", 3, 84), ("resnet34", 3, 84)]


def _build(name: str, c: int, s: int, seed: int = 0, outputs: int = 11, **kw) -> torch.nn.Module:
    return build_model(name, outputs, (c, s, s), generator=torch.Generator().manual_seed(seed), **kw)


def test_registry_lists_the_models() -> None:
    assert model_names() == sorted(name for name, _, _ in CASES)
    with pytest.raises(HarnessError, match="valid models: .*fastnet"):
        model_info("resnet-9000")


@pytest.mark.parametrize("name,c,s", CASES)
def test_forward_shape(name: str, c: int, s: int) -> None:
    net = _build(name, c, s).eval()
    with torch.no_grad():
        out = net(torch.randn(2, c, s, s, generator=torch.Generator().manual_seed(1)))
    assert out.shape == (2, 11) and torch.isfinite(out).all()


@pytest.mark.parametrize("name,c,s", CASES[:3])
def test_seeded_construction(name: str, c: int, s: int) -> None:
    a, b, d = _build(name, c, s, 5), _build(name, c, s, 5), _build(name, c, s, 6)
    sa, sb, sd = a.state_dict(), b.state_dict(), d.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sd[k]) for k in sa if sa[k].is_floating_point())


def test_construction_leaves_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    _build("digits-cnn", 1, 8)
    assert torch.equal(state, torch.random.get_rng_state())


def test_parameter_counts() -> None:
    assert 1.8e6 < count_parameters(_build("fastnet", 3, 32, outputs=10)) < 2.2e6
    assert 11.0e6 < count_parameters(_build("preact-resnet18", 3, 32, outputs=10)) < 11.3e6


def test_fastnet_whitening_is_data_initialised_and_frozen() -> None:
    imgs = torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    net = _build("fastnet", 3, 32, init_images=imgs)
    w = net.whiten.weight
    assert not w.requires_grad and w.shape == (24, 3, 2, 2)
    assert torch.allclose(w[:12], -w[12:])
    # whitened patches are decorrelated: covariance of the first 12 filter responses ~ identity
    patches = imgs.unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 12)
    z = patches @ w[:12].reshape(12, 12).T
    cov = z.T @ z / len(z)
    assert torch.allclose(cov, torch.eye(12), atol=0.05)


def test_dropout_option_inserts_dropout() -> None:
    net = _build("digits-cnn", 1, 8, dropout=0.5)
    assert any(isinstance(m, SeededDropout) and m.p == 0.5 for m in net.modules())
    with pytest.raises(HarnessError, match="dropout"):
        _build("digits-cnn", 1, 8, dropout=1.5)


def test_pretrained_weights_from_a_local_file(tmp_path) -> None:
    src = _build("digits-cnn", 1, 8, seed=1, outputs=7)  # other class count: head keeps its init
    path = tmp_path / "w.pt"
    torch.save(src.state_dict(), path)
    net = _build("digits-cnn", 1, 8, seed=2, outputs=11, pretrained=path)
    s_src, s_net = src.state_dict(), net.state_dict()
    assert torch.equal(s_src["0.weight"], s_net["0.weight"])
    assert s_net["13.weight"].shape == (11, 64) and not torch.equal(s_net["7.weight"], _build("digits-cnn", 1, 8, seed=2).state_dict()["7.weight"])
    with pytest.raises(HarnessError, match="does not exist"):
        _build("digits-cnn", 1, 8, pretrained=tmp_path / "missing.pt")


def test_dropout_is_seeded_per_run_and_leaves_global_rng_alone(repo_root):
    """A dropout run (the CNWL `ce-dropout` baseline) is reproducible from its seed and never
    draws from torch's global generator."""
    import torch

    from cnlbench.harness.engine import RunSpec, run_one

    spec = RunSpec(str(repo_root / "manifests" / "digits"), "sym-20", "ce-dropout", seed=3, device="cpu",
                   train=None)
    before = torch.random.get_rng_state()
    a, b = run_one(spec), run_one(spec)
    assert torch.equal(before, torch.random.get_rng_state())
    assert a["status"] == b["status"] == "ok"
    import json

    for key in ("test_acc_final", "test_acc_best_val", "ece"):
        assert a[key] == b[key], key
    ca, cb = json.loads(a["curves"]), json.loads(b["curves"])
    for key in ("train_loss", "val_acc", "test_acc", "train_acc_noisy_given"):
        assert ca[key] == cb[key], key


def test_seeded_dropout_masks_follow_the_generator():
    import torch

    from cnlbench.harness.models.layers import SeededDropout, seed_dropout

    layer = SeededDropout(0.5).train()
    x = torch.ones(4, 64)
    seed_dropout(layer, torch.Generator().manual_seed(0))
    m1 = layer(x)
    seed_dropout(layer, torch.Generator().manual_seed(0))
    assert torch.equal(m1, layer(x))
    assert set(m1.unique().tolist()) <= {0.0, 2.0}  # inverted scaling 1 / (1 - p)
    assert torch.equal(layer.eval()(x), x)
    unseeded = SeededDropout(0.5).train()
    import pytest

    with pytest.raises(HarnessError, match="seed_dropout"):
        unseeded(x)


def test_a_new_model_is_one_registration(make_digits_task) -> None:
    """Everything the harness needs about a model comes from its registration: defaults reach
    ``default_train_config`` and the run, its channel-wise container packs."""
    from torch import nn

    from cnlbench.harness.engine import RunSpec, default_train_config, run_one
    from cnlbench.harness.models.registry import MODELS, register_model
    from cnlbench.harness.multirun import run_group

    class TinyNet(nn.Module):
        def __init__(self, num_outputs: int, in_channels: int):
            super().__init__()
            self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
            self.head = nn.Linear(8, num_outputs)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(torch.relu(self.conv(x)).mean((2, 3)))

    @register_model("test-tiny", image_size=8, description="a test model", channelwise=(TinyNet,),
                    train_defaults=dict(epochs=2, batch_size=64, lr=0.1, warmup_epochs=0.0, eval_batch_size=256))
    def tiny(num_outputs: int, in_channels: int = 1, image_size: int = 8, dropout: float = 0.0) -> nn.Module:
        return TinyNet(num_outputs, in_channels)

    try:
        cfg = default_train_config("test-tiny", "digits")
        assert (cfg.epochs, cfg.batch_size, cfg.lr) == (2, 64, 0.1)
        task = make_digits_task(noise=0.2, seed=0, n_train=256)
        specs = [RunSpec("mem", task.config, "ce", s, model="test-tiny", device="cpu") for s in (0, 1)]
        single = run_one(specs[0], task=task)
        packed = run_group(specs, tasks={task.config: task})
        assert single["status"] == "ok" and single["epochs"] == 2, single["error"]
        assert [r["status"] for r in packed] == ["ok", "ok"]
        assert json.loads(packed[0]["curves"])["packed_runs"] == 2
        assert packed[0]["test_acc_final"] == single["test_acc_final"]  # the split form is exact
    finally:
        MODELS.remove("test-tiny")
    assert "test-tiny" not in model_names()
