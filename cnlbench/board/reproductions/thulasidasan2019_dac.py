"""Thulasidasan et al., ICML 2019 (DAC): abstention under structured, feature-linked noise.

Three structured settings (``cnlbench.manifest.family_structured``): a class with randomised
labels, blurred images with randomised labels, smudged images with randomised labels. The test
split gets the same feature on a known subset; the report gives, per method, abstention on the
affected test images, abstention on the rest, and accuracy on the rest (non-abstained).

Published numbers: NOT transcribed (the paper reports these experiments mostly as figures;
arXiv:1905.10964); every value is ``None`` and prints ``n/a``.
"""

from __future__ import annotations

from cnlbench.board.reproduce import NOT_TRANSCRIBED, Published, Reproduction, ScalePlan

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
PUBLISHED = tuple(
    Published(method="dac", setting=s, metric=m, value=None, source=NOT_TRANSCRIBED,
              note="the paper shows the structured-noise experiments in figures (STL-10 / CIFAR-10)")
    for s in ("randcls-10", "blur-20", "smudge-10") for m in ("abstain_affected", "acc_rest_kept")
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
    runner="structured",
    scales={
        "smoke": ScalePlan(
            scale="smoke", recipe="repro-thulasidasan2019-dac-digits.yaml", configs=("randcls-10", "blur-20"),
            methods=("ce", "dac"), seeds=1, epochs=1,
            statement="smoke: digits on CPU, 1 epoch, 2 configs; a plumbing check, the numbers mean nothing"),
        "reduced": ScalePlan(
            scale="reduced", recipe="repro-thulasidasan2019-dac-digits.yaml",
            configs=("randcls-10", "blur-20", "smudge-10"), methods=("ce", "dac"), seeds=3, epochs=20,
            statement=("reduced: digits default on CPU, digits-cnn, 20 epochs (DAC warm-up 5); not comparable in "
                       "absolute terms, compare the ordering")),
        "full": ScalePlan(
            scale="full", recipe="repro-thulasidasan2019-dac-cifar10.yaml",
            configs=("randcls-10", "blur-20", "smudge-10"), methods=("ce", "dac"), seeds=3, epochs=None,
            dataset="cifar10", needs_gpu=True, data_key="root",
            statement=("full: CIFAR-10, GPU, the harness's default model and epochs; 'cat' is the randomised class "
                       "(the paper randomised STL-10 monkeys)")),
    },
    notes=(
        "abstain_* are NaN for CE (no abstain output); acc_rest_kept for CE is plain accuracy on the unaffected images.",
        "The test feature is applied to the clean test split at evaluation time with a generator derived from "
        "the build seed and the config name (family_structured.test_feature_rng).",
    ),
)
