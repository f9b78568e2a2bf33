"""Externally given noisy labels (e.g. CIFAR-10N human label sets): validate and describe."""

from __future__ import annotations


from cnlbench.errors import NoiseSpecError
from cnlbench.noise.matrices import validate_labels, validate_num_classes
from cnlbench.noise.result import NoiseResult, make_result


def from_external_labels(
    clean_labels: object,
    noisy_labels: object,
    *,
    source: str = "human",
    num_classes: int | None = None,
    name: str | None = None,
) -> NoiseResult:
    """Describe an externally given noisy label array against the clean labels.

    Args:
        clean_labels, noisy_labels: (N,) integer class ids in 0..K-1, same length, same order.
        source: where the labels come from (``"human"`` for CIFAR-10N style sets).
        num_classes: K (default: ``max(clean, noisy) + 1``).
        name: optional label-set name to record (e.g. ``"cifar10n-worst"``).
    Returns:
        NoiseResult with ``mode="external"``, ``requested_matrix=None``, ``level`` equal to the
        realised rate, and the realised (K, K) counts and row-normalised matrix (a class with no
        examples has an all-zero row).
    """
    if not isinstance(source, str) or not source:
        raise NoiseSpecError(f"source={source!r} must be a non-empty string such as 'human'")
    k = None if num_classes is None else validate_num_classes(num_classes)
    clean = validate_labels(clean_labels, k, name="clean_labels")
    noisy = validate_labels(noisy_labels, k, name="noisy_labels")
    if clean.shape != noisy.shape:
        raise NoiseSpecError(
            f"noisy_labels has {noisy.shape[0]} entries but clean_labels has {clean.shape[0]}; "
            "pass one noisy label per clean example, in the same order"
        )
    if clean.shape[0] == 0:
        raise NoiseSpecError("clean_labels is empty; pass at least one example")
    if k is None:
        k = int(max(clean.max(), noisy.max())) + 1
    is_noisy = noisy != clean
    rate = float(is_noisy.mean())
    spec = {"kind": "external", "source": source, "num_classes": k}
    if name is not None:
        spec["name"] = str(name)
    return make_result(clean, noisy, num_classes=k, level=rate, requested_matrix=None, nested=False,
                       mode="external", spec=spec, is_noisy=is_noisy)
