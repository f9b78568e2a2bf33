"""The README's "Bring your own method" file is real code: it registers and computes its loss."""

from __future__ import annotations

import re
from pathlib import Path

import torch


def test_readme_method_file_registers_and_computes_its_loss(repo_root: Path):
    from cnlbench.harness.methods import Batch, MethodSetup, get_method
    from cnlbench.harness.methods.base import METHODS

    text = (repo_root / "README.md").read_text(encoding="utf-8")
    section = text.split("## Bring your own method", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 25
    try:
        exec(compile(code, "my_methods.py", "exec"), {"__name__": "my_methods"})
        cls = get_method("poly1")
        setup = MethodSetup(num_classes=3, num_train=4, epochs=1, steps_per_epoch=1, device=torch.device("cpu"))
        method = cls(setup, epsilon=2.0)
        logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
        y = torch.tensor([0, 2])
        out = method.loss_from_logits(Batch(torch.zeros(2, 1, 2, 2), y, torch.arange(2), 0, 0, 1), logits)
        p = torch.softmax(logits, 1)[torch.arange(2), y]
        assert torch.allclose(out.loss, (-torch.log(p) + 2.0 * (1 - p)).mean())
        assert out.scores.shape == (2,)
    finally:
        if "poly1" in METHODS:
            METHODS.remove("poly1")
