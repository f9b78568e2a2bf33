"""Wei et al., ICLR 2022 (CIFAR-N): the cross-entropy baseline, published numbers only.

No reproduction runs these yet (they are context for the CIFAR-10N configs of the board).
**Corroborated**: two peer-reviewed papers quote them. Setup (primary, the authors' code):
ResNet-34, SGD lr 0.1 -> 0.01 at epoch 60, momentum 0.9, weight decay 5e-4, batch 128, 100
epochs, trained on all 50k, BEST test accuracy over the epochs (no validation-based selection:
not the board's protocol).
"""

from __future__ import annotations

from cnlbench.reproduce.model import Published
from cnlbench.reproduce.papers.registry import register_reference

SOURCE = ("Wei et al. 2022 (ICLR), CIFAR-N cross-entropy baseline, ResNet-34; quoted by two "
          "peer-reviewed papers")
_NOTE = "best test accuracy over 100 epochs, no validation-based selection; ± as published"

PUBLISHED = tuple(
    Published("ce", setting, "test_acc_best_epoch", value, SOURCE, "corroborated", dataset, spread=spread, note=_NOTE)
    for dataset, setting, value, spread in (
        ("cifar10n", "cifar10n-aggre", 87.77, 0.38),
        ("cifar10n", "cifar10n-random1", 85.02, 0.65),
        ("cifar10n", "cifar10n-random2", 86.46, 1.79),
        ("cifar10n", "cifar10n-random3", 85.16, 0.61),
        ("cifar10n", "cifar10n-worst", 77.69, 1.55),
        ("cifar100n", "cifar100n-noisy", 55.50, 0.66),
    )
)

register_reference("wei2022_cifarn", PUBLISHED)
