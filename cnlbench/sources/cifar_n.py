"""CIFAR-10N / CIFAR-100N real human noisy labels (Wei et al., ICLR 2022), read safely.

The published files (``CIFAR-10_human.pt``, ``CIFAR-100_human.pt``) are torch ZIP archives
whose ``<prefix>/data.pkl`` pickles a dict of int64 numpy arrays (CIFAR-10N: ``clean_label``,
``aggre_label``, ``random_label1/2/3``, ``worse_label``; CIFAR-100N: ``clean_label``,
``noisy_label``, ``noisy_coarse_label``, ``clean_coarse_label``). ``torch.load(weights_only=True)``
refuses them (numpy globals), so this module opens the zip with :mod:`zipfile` and unpickles
``data.pkl`` with :mod:`cnlbench.sources.safe_pickle`: no pickled code ever runs. A legacy
(non-zip) torch pickle is read the same way.

Rows follow the original CIFAR training order (row ``i`` = CIFAR training index ``i``).
Licence: CC BY-NC 4.0 (carried into every card built from these labels).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnlbench.errors import MissingDataError, SourceError
from cnlbench.sources.safe_pickle import loads_restricted

__all__ = [
    "CIFAR_N_LICENSE",
    "CIFAR_N_CITATION",
    "CIFAR_N_ROWS",
    "CIFAR_N_SETS",
    "CifarNSet",
    "cifar_n_labels",
    "read_cifar_n",
]

CIFAR_N_LICENSE = "CC BY-NC 4.0 (CIFAR-10N/CIFAR-100N labels, Wei et al. 2022; non-commercial use)"
CIFAR_N_CITATION = (
    "@inproceedings{wei2022learning, title={Learning with Noisy Labels Revisited: A Study Using "
    "Real-World Human Annotations}, author={Wei, Jiaheng and Zhu, Zhaowei and Cheng, Hao and Liu, "
    "Tongliang and Niu, Gang and Liu, Yang}, booktitle={ICLR}, year={2022}}"
)
_URL = "https://github.com/UCSC-REAL/cifar-10-100n (folder data/)"


@dataclass(frozen=True)
class CifarNSet:
    """One named human label set: which file, which key, which CIFAR variant."""

    config: str
    variant: str  # "cifar10" | "cifar100"
    filename: str
    key: str
    num_classes: int


CIFAR_N_SETS: dict[str, CifarNSet] = {
    s.config: s
    for s in (
        CifarNSet("cifar10n-aggre", "cifar10", "CIFAR-10_human.pt", "aggre_label", 10),
        CifarNSet("cifar10n-random1", "cifar10", "CIFAR-10_human.pt", "random_label1", 10),
        CifarNSet("cifar10n-random2", "cifar10", "CIFAR-10_human.pt", "random_label2", 10),
        CifarNSet("cifar10n-random3", "cifar10", "CIFAR-10_human.pt", "random_label3", 10),
        CifarNSet("cifar10n-worst", "cifar10", "CIFAR-10_human.pt", "worse_label", 10),
        CifarNSet("cifar100n-noisy", "cifar100", "CIFAR-100_human.pt", "noisy_label", 100),
    )
}

#: Rows of every CIFAR-N label array: one per CIFAR training image, in CIFAR order.
CIFAR_N_ROWS = 50_000


def read_cifar_n(path: str | Path) -> dict[str, np.ndarray]:
    """The dict of label arrays stored in a CIFAR-N ``.pt`` file, read without running code.

    Returns ``{key: (N,) int64}``. Raises :class:`MissingDataError` when the file is absent
    and :class:`SourceError` when it is not a zip/pickle of numpy arrays.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(
            f"CIFAR-N label file {path} not found; download it from {_URL} and put it there "
            "(or point the recipe's `file`/`root` option at it)"
        )
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise SourceError(f"{path} is a numpy .npy array, not a torch .pt archive of label arrays; give it to a "
                          "`noise: external` entry (file: ...npy) instead")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            pkls = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(pkls) != 1:
                raise SourceError(
                    f"{path}: expected exactly one data.pkl inside the torch archive, found "
                    f"{pkls}; the file is not a CIFAR-N label file"
                )
            info = z.getinfo(pkls[0])
            if info.file_size > 64 * 2**20:
                raise SourceError(f"{path}: {pkls[0]} is {info.file_size} bytes, far too large for label arrays")
            payload = z.read(pkls[0])
        obj = loads_restricted(payload, name=f"{path}:{pkls[0]}")
    else:
        obj = loads_restricted(path.read_bytes(), name=str(path))
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise SourceError(
            f"{path}: expected a dict of label arrays, got {type(obj).__name__}; not a CIFAR-N file"
        )
    from cnlbench.noise.external import hard_labels

    out: dict[str, np.ndarray] = {}
    for k, v in obj.items():
        arr = np.asarray(v)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            out[k] = hard_labels(arr, f"{path}: entry {k!r}")  # names soft labels and what is expected
            continue
        out[k] = arr.astype(np.int64)
    return out


def cifar_n_labels(
    config: str,
    path: str | Path,
    clean_labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(clean, noisy)`` (N,) int64 label arrays of the human set named ``config``.

    ``path``: the ``.pt`` file, or the folder holding it under its published name.
    Validates lengths (50,000) and ranges, and, when ``clean_labels`` (the CIFAR training
    labels in source order) is given, that the file's ``clean_label`` equals it exactly.
    """
    try:
        spec = CIFAR_N_SETS[config]
    except KeyError:
        raise SourceError(f"unknown CIFAR-N set {config!r}; valid: {sorted(CIFAR_N_SETS)}") from None
    path = Path(path)
    if path.is_dir():
        path = path / spec.filename
    arrays = read_cifar_n(path)
    for key in ("clean_label", spec.key):
        if key not in arrays:
            raise SourceError(
                f"{path}: no {key!r} array (keys: {sorted(arrays)}); {config} needs "
                f"{spec.filename} from {_URL}"
            )
    clean, noisy = arrays["clean_label"], arrays[spec.key]
    for key, arr in (("clean_label", clean), (spec.key, noisy)):
        if len(arr) != CIFAR_N_ROWS:
            raise SourceError(
                f"{path}: {key!r} has {len(arr)} labels, expected {CIFAR_N_ROWS} (one per "
                f"{spec.variant} training image); the file is truncated or not {spec.filename}"
            )
        if arr.min() < 0 or arr.max() >= spec.num_classes:
            raise SourceError(
                f"{path}: {key!r} spans {arr.min()}..{arr.max()}, outside 0..{spec.num_classes - 1}"
            )
    if clean_labels is not None:
        ref = np.asarray(clean_labels, dtype=np.int64)
        if ref.shape != clean.shape or not np.array_equal(ref, clean):
            n_bad = int((ref != clean).sum()) if ref.shape == clean.shape else -1
            raise SourceError(
                f"{path}: clean_label does not match the {spec.variant} training labels in source "
                f"order ({'length ' + str(len(ref)) if n_bad < 0 else str(n_bad) + ' differ'}); the "
                "source must keep the original CIFAR order (the Hub Parquet copy and the python "
                "release both do)"
            )
    return clean, noisy
