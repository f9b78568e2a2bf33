"""Thulasidasan et al., ICML 2019 (DAC): abstention under structured, feature-linked noise.

Three structured settings (``cnlbench.manifest.family_structured``): a class with randomised
labels, blurred images with randomised labels, smudged images with randomised labels. The runs
go through the harness's sweep with the test-time corruption option (``test_corruption =
"structured"``): the clean test split gets the config's feature on a known subset, and the
engine records per-epoch metrics on the affected and unaffected test images. Everything is
read at the selected epoch (best NOISY-validation accuracy), where the abstention is measured.

Published numbers: the structured experiments exist only as figures (directions, primary: the
talk; two figures read by eye from the authors' repository, stored as **secondary**,
approximate). The CIFAR-10 symmetric-noise table of DAC as a data cleaner is stored as context:
the cells two sources agree on (**corroborated**) and the rest of one transcription
(**secondary**).
"""

from __future__ import annotations

from cnlbench.reproduce.model import Direction, Published, Reproduction, ScalePlan
from cnlbench.reproduce.papers.registry import register_reproduction

CITATION = """@inproceedings{thulasidasan2019combating,
  title     = {Combating Label Noise in Deep Learning Using Abstention},
  author    = {Thulasidasan, Sunil and Bhattacharya, Tanmoy and Bilmes, Jeff and Chennupati, Gopinath and Mohd-Yusof, Jamal},
  booktitle = {Proceedings of the 36th International Conference on Machine Learning (ICML)},
  series    = {Proceedings of Machine Learning Research},
  volume    = {97},
  pages     = {6234--6243},
  year      = {2019},
  note      = {arXiv:1905.10964}
}"""

METRICS = ("abstain_affected", "abstain_rest", "acc_rest_kept", "acc_affected")
SOURCE_TALK = "primary: Thulasidasan et al. 2019 (arXiv:1905.10964), the authors' ICML talk"
SOURCE_FIG = ("Thulasidasan et al. 2019 (arXiv:1905.10964), figure in the authors' repository, read by eye "
              "(approximate)")
SOURCE_TABLE = ("Thulasidasan et al. 2019 (arXiv:1905.10964), CIFAR-10 ResNet-34 symmetric noise, DAC as a data "
                "cleaner then retrained: the authors' README bar charts and a secondary transcription agree")
SOURCE_TRANSCRIPTION = ("Thulasidasan et al. 2019 (arXiv:1905.10964), CIFAR-10 ResNet-34 symmetric noise table, "
                        "one secondary transcription")
_CLEANER = "DAC as a data cleaner (abstain, drop, retrain); symmetric noise drawn from ALL classes"

PUBLISHED = (
    Published("dac", "randcls-10", "abstain_affected", 80.0, SOURCE_FIG, "secondary", "stl10",
              note="≈80% of the test monkey images (the label-randomised class) abstained; read by eye"),
    Published("dac", "blur-20", "val_acc (by eye)", 77.5, SOURCE_FIG, "secondary", "stl10", upper=78.0,
              note="blurred experiment: validation accuracy DAC ≈77-78; read by eye"),
    Published("ce", "blur-20", "val_acc (by eye)", 63.0, SOURCE_FIG, "secondary", "stl10",
              note="blurred experiment: validation accuracy plain DNN ≈63; read by eye"),
    Published("dac-protocol", "sym-60", "test_acc_best_val", 86.3, SOURCE_TABLE, "corroborated", "cifar10",
              note=_CLEANER),
    Published("gce", "sym-60", "test_acc_best_val", 82.5, SOURCE_TABLE, "corroborated", "cifar10", upper=82.7,
              note="GCE (L_q); the two sources give 82.5-82.7"),
    Published("dac-protocol", "sym-80", "remaining noise (%)", 16.0, SOURCE_TABLE, "corroborated", "cifar10",
              note="remaining label noise after cleaning, 0.16"),
) + tuple(
    Published("ce", f"sym-{pp}", "test_acc_best_val", v, SOURCE_TRANSCRIPTION, "secondary", "cifar10",
              note="the paper's 'Baseline'")
    for pp, v in (("20", 88.94), ("40", 85.35), ("60", 79.74), ("80", 67.17))
) + tuple(
    Published("dac-protocol", f"sym-{pp}", "test_acc_best_val", v, SOURCE_TRANSCRIPTION, "secondary", "cifar10",
              note=_CLEANER)
    for pp, v in (("20", 92.91), ("40", 90.71), ("80", 74.84))
)

#: "far above": the abstention on the affected test images must exceed that on the rest by this
#: many points (lower end of the 95% interval).
FAR_ABOVE = 20.0
_FEATURES = {"randcls-10": "the label-randomised class", "blur-20": "blurred images", "smudge-10": "smudged images"}
CHECKS = tuple(
    Direction(f"abstain({c})", f"DAC abstains on {what} far more (> {FAR_ABOVE:g} points) than on the rest",
              "abstain_affected", ("dac", c), ("dac", c), metric_b="abstain_rest", margin=FAR_ABOVE,
              source=SOURCE_TALK)
    for c, what in _FEATURES.items()
) + tuple(
    Direction(f"kept-acc({c})", f"{c}: DAC's accuracy on the unaffected test images it keeps above CE's on them",
              "acc_rest_kept", ("dac", c), ("ce", c), source=SOURCE_TALK)
    for c in _FEATURES
)

REPRODUCTION = Reproduction(
    name="thulasidasan2019-dac",
    title="Combating Label Noise in Deep Learning Using Abstention",
    authors="Thulasidasan, Bhattacharya, Bilmes, Chennupati, Mohd-Yusof",
    venue="ICML 2019",
    arxiv="1905.10964",
    citation=CITATION,
    description=("DAC under structured noise: a class with random labels, blurred and smudged images with random "
                 "labels; abstention on the affected test images, accuracy on the rest; CE as the baseline."),
    metrics=METRICS,
    published=PUBLISHED,
    checks=CHECKS,
    test_corruption="structured",
    scales={
        "smoke": ScalePlan(
            scale="smoke", recipe="repro-thulasidasan2019-dac-digits.yaml", configs=("randcls-10", "blur-20"),
            methods=("ce", "dac"), seeds=1, epochs=1,
            statement="smoke: digits on CPU, 1 epoch, 2 configs; a plumbing check, the numbers mean nothing"),
        "reduced": ScalePlan(
            scale="reduced", recipe="repro-thulasidasan2019-dac-digits.yaml",
            configs=("randcls-10", "blur-20", "smudge-10"), methods=("ce", "dac"), seeds=3, epochs=None,
            statement=("reduced: digits default on CPU, digits-cnn at the protocol's reference budget (DAC "
                       "warm-up: the method's default); not comparable in absolute terms, compare the directions")),
        "full": ScalePlan(
            scale="full", recipe="repro-thulasidasan2019-dac-cifar10.yaml",
            configs=("randcls-10", "blur-20", "smudge-10"), methods=("ce", "dac"), seeds=3, epochs=None,
            dataset="cifar10", needs_gpu=True, data_key="root",
            statement=("full: CIFAR-10, GPU, the harness's default model at the protocol's reference budget; 'cat' "
                       "is the randomised class (the paper randomised STL-10 monkeys)")),
    },
    notes=(
        "abstain_* are n/a for CE (no abstain output); acc_rest_kept for CE is plain accuracy on the unaffected images.",
        "All four metrics are read at the selected epoch (best noisy-validation accuracy), not the last one.",
        "The test feature is applied to the clean test split at load time with a generator derived from the build "
        "seed and the config name (family_structured.structured_test_rng); the labels stay clean.",
        "The CIFAR-10 cleaner table (dac-protocol, symmetric noise) is context: no scale of this reproduction runs it.",
    ),
)

register_reproduction(REPRODUCTION)
