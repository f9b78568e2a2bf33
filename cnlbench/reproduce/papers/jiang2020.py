"""Jiang et al., ICML 2020 (CNWL): methods across the noise levels, synthetic ("blue")
against web ("red") noise, each method summarised by its mean over the levels.

Published numbers (each with its source and trust level): the CIFAR-10 symmetric-noise table
(MentorNet, Mixup, MentorMix at 20/40/60/80%; **corroborated**: the SAM paper, Foret et al.
ICLR 2021, Table 4, quotes them "per Jiang et al." and an independent summary agrees), MentorMix
on CIFAR-100 (20%: corroborated; 40/60/80%: **secondary**), MentorMix on WebVision
(corroborated) and the CNWL main table's means over the ten levels (**secondary**, except
MentorMix on Stanford Cars red, corroborated).

Checks: web noise hurts less than synthetic noise at the same level; MentorMix above CE on
both kinds (the talk's directions, primary); the order of the methods against the CIFAR-10
table per level and against the CNWL summaries (Spearman's rho with a bootstrap interval).
"""

from __future__ import annotations

from cnlbench.reproduce.model import Direction, Ordering, Published, Reproduction, ScalePlan
from cnlbench.reproduce.papers.registry import register_reproduction

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

_ACC = "test_acc_best_val"
SOURCE_C10 = ("Jiang et al. 2020 (arXiv:1911.09781), CIFAR-10 symmetric noise, ResNet-32; quoted per Jiang et al. "
              "in Foret et al. ICLR 2021 (SAM), Table 4, and by an independent summary")
SOURCE_C100 = "Jiang et al. 2020 (arXiv:1911.09781), CIFAR-100 symmetric noise, ResNet-32, MentorMix"
SOURCE_WEBVISION = "Jiang et al. 2020 (arXiv:1911.09781), WebVision 1.0, Inception-ResNet-v2, MentorMix"
SOURCE_CNWL = ("Jiang et al. 2020 (arXiv:1911.09781), CNWL main table, mean over the ten noise levels "
               "(one secondary transcription; whether '±' is a 95% interval is not confirmed)")
SOURCE_TALK = "primary: Jiang et al. 2020 (arXiv:1911.09781), the authors' ICML talk"

#: CIFAR-10, symmetric noise (%): method -> {config: accuracy}; corroborated.
CIFAR10 = {
    "mentornet": {"sym-20": 92.0, "sym-40": 91.2, "sym-60": 74.2, "sym-80": 60.0},
    "mixup": {"sym-20": 94.0, "sym-40": 91.5, "sym-60": 86.8, "sym-80": 76.9},
    "mentormix": {"sym-20": 95.6, "sym-40": 94.2, "sym-60": 91.3, "sym-80": 81.0},
}
#: CNWL summaries (mean over levels ± the published spread): (dataset, setting) -> method -> (mean, ±).
CNWL = {
    ("mini-imagenet", "blue, fine-tuned"): {"ce": (82.3, 1.9), "mentornet": (82.9, 1.7), "mixup": (81.7, 1.8),
                                            "mentormix": (84.2, 0.7)},
    ("mini-imagenet", "blue, from scratch"): {"ce": (58.3, 10.3), "mentornet": (61.8, 10.3), "mixup": (60.7, 9.8),
                                              "mentormix": (70.9, 3.4)},
    ("stanford-cars", "red, fine-tuned"): {"ce": (82.4, 6.9), "mentornet": (82.6, 6.6), "mixup": (85.0, 6.2),
                                           "mentormix": (86.9, 5.5)},
}

PUBLISHED = tuple(
    Published(m, s, _ACC, v, SOURCE_C10, "corroborated", "cifar10") for m, cells in CIFAR10.items()
    for s, v in cells.items()
) + (
    Published("mentormix", "sym-20", _ACC, 78.6, SOURCE_C100, "corroborated", "cifar100"),
    Published("mentormix", "sym-40", _ACC, 71.3, SOURCE_C100, "secondary", "cifar100"),
    Published("mentormix", "sym-60", _ACC, 64.6, SOURCE_C100, "secondary", "cifar100"),
    Published("mentormix", "sym-80", _ACC, 41.2, SOURCE_C100, "secondary", "cifar100"),
    Published("mentormix", "mini-webvision", "top1 (WebVision val)", 76.0, SOURCE_WEBVISION, "corroborated",
              "webvision"),
    Published("mentormix", "mini-webvision", "top1 (ImageNet val)", 72.9, SOURCE_WEBVISION, "corroborated",
              "webvision"),
    Published("mentormix", "full webvision", "top1 (WebVision val)", 74.3, SOURCE_WEBVISION, "corroborated",
              "webvision"),
    Published("mentormix", "full webvision", "top1 (ImageNet val)", 67.5, SOURCE_WEBVISION, "corroborated",
              "webvision"),
) + tuple(
    Published(m, f"{setting}, mean over levels", _ACC, v, SOURCE_CNWL,
              "corroborated" if (ds, m) == ("stanford-cars", "mentormix") else "secondary", ds, spread=pm,
              note="the paper's 'Vanilla'" if m == "ce" else "")
    for (ds, setting), cells in CNWL.items() for m, (v, pm) in cells.items()
)

_NONZERO = ("*-00",)
CHECKS = (
    Direction("web>sym(ce)", "cross-entropy: web (red) noise hurts less than synthetic (blue) noise at the same level",
              _ACC, ("ce", "web-*"), ("ce", "sym-*"), exclude=_NONZERO, source=SOURCE_TALK),
    Direction("web>sym(mentormix)", "MentorMix: web (red) noise hurts less than synthetic (blue) noise at the same level",
              _ACC, ("mentormix", "web-*"), ("mentormix", "sym-*"), exclude=_NONZERO, source=SOURCE_TALK),
    Direction("mentormix>ce(sym)", "MentorMix above cross-entropy on synthetic (blue) noise", _ACC,
              ("mentormix", "sym-*"), ("ce", "sym-*"), exclude=_NONZERO, source=SOURCE_TALK),
    Direction("mentormix>ce(web)", "MentorMix above cross-entropy on web (red) noise", _ACC,
              ("mentormix", "web-*"), ("ce", "web-*"), exclude=_NONZERO, source=SOURCE_TALK),
) + tuple(
    Ordering(f"order@{s}", f"the order of MentorNet, Mixup, MentorMix at symmetric {s[-2:]}% (CIFAR-10 table)",
             _ACC, s, s, "cifar10")
    for s in ("sym-20", "sym-40", "sym-60", "sym-80")
) + (
    Ordering("order(blue)", "the order of the methods' mean over levels on synthetic (blue) noise (CNWL, "
             "Mini-ImageNet blue, from scratch)", _ACC, "sym-*", "blue, from scratch, mean over levels",
             "mini-imagenet", exclude=_NONZERO),
    Ordering("order(red)", "the order of the methods' mean over levels on web (red) noise (CNWL, Stanford Cars "
             "red, fine-tuned)", _ACC, "web-*", "red, fine-tuned, mean over levels", "stanford-cars",
             exclude=_NONZERO),
)

REDUCED_METHODS = ("ce", "mixup", "mentornet", "mentormix")
FULL_METHODS = ("ce", "ce-wd", "ce-dropout", "s-model", "bootstrap-hard", "mixup", "mentornet", "mentormix")
#: the levels of the CIFAR-10 table (the reduced scale runs these of the ten; the full scale all ten)
TABLE_LEVELS = ("sym-20", "sym-40", "sym-60", "sym-80", "web-20", "web-40", "web-60", "web-80")

REPRODUCTION = Reproduction(
    name="jiang2020",
    title="Beyond Synthetic Noise: Deep Learning on Controlled Noisy Labels",
    authors="Jiang, Huang, Liu, Yang",
    venue="ICML 2020",
    arxiv="1911.09781",
    citation=CITATION,
    description=("CNWL study: methods across the levels, synthetic (blue, sym-*) against web (red, web-*) "
                 "noise; mean over levels per method; the CIFAR-10 table, CNWL summaries and WebVision figures."),
    metrics=(_ACC,),
    published=PUBLISHED,
    checks=CHECKS,
    summary_over_levels=True,
    scales={
        "smoke": ScalePlan(
            scale="smoke", recipe="digits.yaml", configs=("sym-00", "sym-20", "web-20"), optional_configs=("web-20",),
            methods=("ce", "mentormix"), seeds=1, epochs=1, levels=(0.0, 0.2),
            statement="smoke: digits on CPU, 1 epoch, levels 0 and 20%; a plumbing check, the numbers mean nothing"),
        "reduced": ScalePlan(
            scale="reduced", recipe="digits.yaml", configs=TABLE_LEVELS, optional_configs=TABLE_LEVELS[4:],
            methods=REDUCED_METHODS, seeds=3, epochs=None,
            statement=("reduced: digits default on CPU (sym-* blue, web-* red from the packaged digits web pool) at "
                       "the CIFAR-10 table's levels 20/40/60/80%, digits-cnn at the protocol's reference budget; "
                       "not comparable in absolute terms, compare the ordering and the directions")),
        "full": ScalePlan(
            scale="full", recipe="repro-jiang2020-cifar10.yaml", configs=("sym-*",), methods=FULL_METHODS,
            seeds=3, epochs=None, dataset="cifar10", needs_gpu=True, data_key="root",
            statement=("full: CIFAR-10, GPU, symmetric noise at the ten CNWL levels, the harness's default model "
                       "at the protocol's reference budget (CIFAR-10 has no web pool: red noise needs a CNWL "
                       "build, so the web checks are not testable at this scale)")),
    },
    notes=(
        "MentorMix uses the official per-level settings (gamma_p percentile, mixup alpha, second reweight; "
        "mentormix/code/training_mentormix_command.sh), chosen by the harness from the noise level.",
        "The CIFAR-100, WebVision and CNWL (Mini-ImageNet, Stanford Cars) figures are context: no scale runs "
        "those datasets; the CNWL summaries enter only through the order of the methods.",
    ),
)

register_reproduction(REPRODUCTION)
