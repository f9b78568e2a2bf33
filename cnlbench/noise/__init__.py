"""Layer 1: pure numpy label-noise models (no I/O).

Orientation everywhere: row-stochastic ``T[i, j] = P(noisy = j | clean = i)``.
"""

from cnlbench.noise.apportion import apportion_monotone, largest_remainder
from cnlbench.noise.matrices import (
    DEFAULT_LEVELS,
    from_cleanlab,
    pair_flip_matrix,
    symmetric_matrix,
    validate_transition_matrix,
)
from cnlbench.noise.presets import (
    CIFAR100_FINE_TO_COARSE,
    FAMILY_NAMES,
    NoiseFamily,
    cifar10_asymmetric_matrix,
    cifar100_superclass_matrix,
    make_family,
)
from cnlbench.noise.external import from_external_labels
from cnlbench.noise.instance import confusion_noise, part_dependent_noise
from cnlbench.noise.result import ORIENTATION, NoiseResult
from cnlbench.noise.sampling import apply_transition, noise_levels
from cnlbench.noise.structured import (
    StructuredNoise,
    blur_and_randomize,
    blur_images,
    randomize_classes,
    smudge_and_randomize,
    smudge_images,
)
from cnlbench.noise.web import WebNoiseResult, WebPool, web_class_counts, web_noise, web_noise_levels

__all__ = [
    "CIFAR100_FINE_TO_COARSE",
    "DEFAULT_LEVELS",
    "FAMILY_NAMES",
    "NoiseFamily",
    "NoiseResult",
    "ORIENTATION",
    "StructuredNoise",
    "apply_transition",
    "apportion_monotone",
    "blur_and_randomize",
    "blur_images",
    "cifar100_superclass_matrix",
    "cifar10_asymmetric_matrix",
    "confusion_noise",
    "from_cleanlab",
    "from_external_labels",
    "largest_remainder",
    "make_family",
    "noise_levels",
    "pair_flip_matrix",
    "part_dependent_noise",
    "randomize_classes",
    "smudge_and_randomize",
    "smudge_images",
    "symmetric_matrix",
    "validate_transition_matrix",
    "WebNoiseResult",
    "WebPool",
    "web_class_counts",
    "web_noise",
    "web_noise_levels",
]
