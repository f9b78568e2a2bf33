"""Jiang et al., ICML 2020 (CNWL): methods across the ten noise levels, synthetic ("blue")
against web ("red") noise, each method summarised by its mean over the levels with a 95%
interval.

Published numbers stored: MentorMix on CIFAR-10 and CIFAR-100 with symmetric noise at
20/40/60/80% (the anchors recorded in the project's CNWL notes, ``../shared/notes/cnwl.md``,
from arXiv:1911.09781). The paper's Mini-ImageNet / Stanford Cars per-method summaries were not
transcribed (the report prints our summaries only).
"""

from __future__ import annotations

from cnlbench.board.reproduce import Published, Reproduction, ScalePlan

CITATION = """@inproceedings{jiang2020beyond,
  title     = {Beyond Synthetic Noise: Deep Learning on Controlled Noisy Labels},
  author    = {Jiang, Lu and Huang, Di and Liu, Mason and Yang, Weilong},
  booktitle = {Proceedings of the 37th International Conference on Machine Learning (ICML)},
  series    = {Proceedings of Machine Learning Research},
  volume    = {119},
  pages     = {4804--4815},
  year      = {2020},
  note      = {arXiv:1911.09781}
}"""

_SOURCE = ("Jiang et al. 2020, arXiv:1911.09781, MentorMix symmetric-noise results on {ds} "
           "(as recorded in the project's notes/cnwl.md; table number not re-checked)")
_ANCHORS = {
    "cifar10": {"sym-20": 95.6, "sym-40": 94.2, "sym-60": 91.3, "sym-80": 81.0},
    "cifar100": {"sym-20": 78.6, "sym-40": 71.3, "sym-60": 64.6, "sym-80": 41.2},
}
PUBLISHED = tuple(
    Published(method="mentormix", setting=s, metric="test_acc_best_val", value=v,
              source=_SOURCE.format(ds="CIFAR-10" if ds == "cifar10" else "CIFAR-100"), dataset=ds)
    for ds, cells in _ANCHORS.items() for s, v in cells.items()
)

REDUCED_METHODS = ("ce", "mixup", "mentormix")
FULL_METHODS = ("ce", "ce-wd", "ce-dropout", "s-model", "bootstrap-hard", "mixup", "mentornet", "mentormix")

REPRODUCTION = Reproduction(
    name="jiang2020",
    title="Beyond Synthetic Noise: Deep Learning on Controlled Noisy Labels",
    authors="Jiang, Huang, Liu, Yang",
    venue="ICML 2020",
    arxiv="1911.09781",
    citation=CITATION,
    description=("CNWL study: methods across the ten levels, synthetic (blue, sym-*) against web (red, web-*) "
                 "noise; mean over levels with a 95% interval per method; MentorMix CIFAR anchors."),
    metrics=("test_acc_best_val",),
    published=PUBLISHED,
    summary_over_levels=True,
    scales={
        "smoke": ScalePlan(
            scale="smoke", recipe="digits.yaml", configs=("sym-00", "sym-20", "web-20"), optional_configs=("web-20",),
            methods=("ce", "mentormix"), seeds=1, epochs=1, levels=(0.0, 0.2),
            statement="smoke: digits on CPU, 1 epoch, levels 0 and 20%; a plumbing check, the numbers mean nothing"),
        "reduced": ScalePlan(
            scale="reduced", recipe="digits.yaml", configs=("sym-*", "web-*"), optional_configs=("web-*",),
            methods=REDUCED_METHODS, seeds=1, epochs=8,
            statement=("reduced: digits default on CPU (sym-* blue, web-* red from the packaged digits web pool), "
                       "digits-cnn, 8 epochs; not comparable in absolute terms, compare the ordering")),
        "full": ScalePlan(
            scale="full", recipe="repro-jiang2020-cifar10.yaml", configs=("sym-*",), methods=FULL_METHODS,
            seeds=3, epochs=None, dataset="cifar10", needs_gpu=True, data_key="root",
            statement=("full: CIFAR-10, GPU, symmetric noise at the ten CNWL levels, the harness's default model "
                       "and epochs (CIFAR-10 has no web pool: red noise needs a CNWL build)")),
    },
    notes=(
        "The paper's key finding to check: accuracy degrades much less under web (red) noise than under "
        "synthetic (blue) noise at the same level; compare the two noise kinds' summaries.",
        "MentorMix uses the harness defaults; the official per-level alpha/gamma settings are in notes/cnwl.md.",
        "Published CIFAR-100 anchors are stored (dataset cifar100) but no scale runs CIFAR-100.",
    ),
)
