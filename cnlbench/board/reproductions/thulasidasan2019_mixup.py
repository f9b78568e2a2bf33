"""Thulasidasan et al., NeurIPS 2019: calibration of mixup against cross-entropy.

Metrics: test accuracy, ECE (equal-width bins, the bin count is recorded in every row and
printed) and overconfidence error (OE). Published numbers: NOT transcribed (the paper shows
calibration mostly in figures; arXiv:1905.11001); every value is ``None`` and prints ``n/a``.
"""

from __future__ import annotations

from cnlbench.board.reproduce import NOT_TRANSCRIBED, Published, Reproduction, ScalePlan

CITATION = """@inproceedings{thulasidasan2019mixup,
  title     = {On Mixup Training: Improved Calibration and Predictive Uncertainty for Deep Neural Networks},
  author    = {Thulasidasan, Sunil and Chennupati, Gopinath and Bilmes, Jeff and Bhattacharya, Tanmoy and Michalak, Sarah},
  booktitle = {Advances in Neural Information Processing Systems 32 (NeurIPS)},
  year      = {2019},
  note      = {arXiv:1905.11001}
}"""

METHODS = ("ce", "mixup")
PUBLISHED = tuple(
    Published(method=m, setting="sym-00", metric=k, value=None, source=NOT_TRANSCRIBED,
              note="the paper reports calibration on CIFAR-10 mostly as figures")
    for m in METHODS for k in ("ece", "overconfidence")
)

REPRODUCTION = Reproduction(
    name="thulasidasan2019-mixup",
    title="On Mixup Training: Improved Calibration and Predictive Uncertainty for Deep Neural Networks",
    authors="Thulasidasan, Chennupati, Bilmes, Bhattacharya, Michalak",
    venue="NeurIPS 2019",
    arxiv="1905.11001",
    citation=CITATION,
    description="Calibration (ECE with its bin count, overconfidence error) and accuracy of CE against mixup.",
    metrics=("test_acc_final", "ece", "overconfidence"),
    published=PUBLISHED,
    scales={
        "smoke": ScalePlan(
            scale="smoke", recipe="repro-patrini2017-digits.yaml", configs=("sym-00",), methods=METHODS,
            seeds=1, epochs=1, levels=(0.0,), train_overrides={"ece_bins": 15},
            statement="smoke: digits on CPU, 1 epoch; a plumbing check, the numbers mean nothing"),
        "reduced": ScalePlan(
            scale="reduced", recipe="repro-patrini2017-digits.yaml", configs=("sym-00", "sym-20"), methods=METHODS,
            seeds=3, epochs=15, train_overrides={"ece_bins": 15},
            statement=("reduced: digits default on CPU, digits-cnn, 15 epochs, ECE/OE with 15 bins (360 test "
                       "images); not comparable in absolute terms, compare the ordering")),
        "full": ScalePlan(
            scale="full", recipe="repro-patrini2017-cifar10.yaml", configs=("sym-00",), methods=METHODS,
            seeds=3, epochs=None, dataset="cifar10", needs_gpu=True, data_key="root",
            train_overrides={"ece_bins": 100},
            statement="full: CIFAR-10, GPU, the harness's default model and epochs, ECE/OE with 100 bins"),
    },
    notes=(
        "ECE = sum over equal-width confidence bins of |B|/n |acc(B) - conf(B)|; OE weights the positive part of "
        "conf - acc by conf (cnlbench.harness.metrics).",
        "Mixup uses alpha = 1.0 (the harness default); the paper swept alpha.",
    ),
)
