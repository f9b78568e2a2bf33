"""Thulasidasan et al., NeurIPS 2019: calibration of mixup against cross-entropy.

The paper publishes its calibration results as figures only: no number is stored. Its claims
are directions (primary: the talk): mixup-trained networks are better calibrated (lower ECE)
and less over-confident than networks trained on hard labels, in the regime where the latter
are over-confident (VGG-16 on CIFAR-100). The reduced scale reproduces that regime on digits:
the network is trained to near-zero training loss (no weight decay, no augmentation) on
labels with symmetric noise, so cross-entropy memorises the wrong labels and becomes
over-confident on the clean test set; a precondition check states whether it did. Without
noise, digits-cnn reaches ~99% test accuracy and cannot be over-confident by more than ~1
point, so the sym-00 checks are printed but depend on the same precondition.

Metrics: test accuracy, ECE (equal-width bins, the bin count is recorded in every row and
printed) and overconfidence error (OE), of the network at the end of training.
"""

from __future__ import annotations

from cnlbench.reproduce.model import Direction, Reproduction, ScalePlan
from cnlbench.reproduce.papers.registry import register_reproduction

CITATION = """@inproceedings{thulasidasan2019mixup,
  title     = {On Mixup Training: Improved Calibration and Predictive Uncertainty for Deep Neural Networks},
  author    = {Thulasidasan, Sunil and Chennupati, Gopinath and Bilmes, Jeff and Bhattacharya, Tanmoy and Michalak, Sarah},
  booktitle = {Advances in Neural Information Processing Systems 32 (NeurIPS)},
  year      = {2019},
  note      = {arXiv:1905.11001}
}"""

METHODS = ("ce", "mixup")
SOURCE_TALK = "primary: Thulasidasan et al. 2019 (arXiv:1905.11001), the authors' NeurIPS talk (VGG-16, CIFAR-100)"
#: CE counts as over-confident when its OE exceeds this (points, lower end of the interval).
OVERCONFIDENT = 1.0
#: The memorisation regime: no weight decay and no augmentation, so training loss goes to ~0.
MEMORISE = {"weight_decay": 0.0, "crop_padding": 0, "train_curves": False}
#: The paper's mixup alpha (it reports alpha in [0.2, 0.4]); tuned settings, when given, replace it.
PAPER_PARAMS = {"mixup": {"alpha": 0.4}}

CHECKS = (
    Direction("ce-overconfident(sym-40)", f"precondition: CE is over-confident at 40% noise (OE > {OVERCONFIDENT:g} "
              "points); the paper's claims are about this regime", "overconfidence_final", ("ce", "sym-40"), None,
              margin=OVERCONFIDENT, source="the regime of the paper's figures (CE over-confident)"),
    Direction("ece(sym-40)", "mixup has lower ECE than CE at 40% noise", "ece_final", ("mixup", "sym-40"), ("ce", "sym-40"),
              relation="below", source=SOURCE_TALK, requires=("ce-overconfident(sym-40)",)),
    Direction("oe(sym-40)", "mixup is less over-confident (lower OE) than CE at 40% noise", "overconfidence_final",
              ("mixup", "sym-40"), ("ce", "sym-40"), relation="below", source=SOURCE_TALK,
              requires=("ce-overconfident(sym-40)",)),
    Direction("ce-overconfident(sym-00)", f"precondition: CE is over-confident without noise (OE > {OVERCONFIDENT:g} "
              "points)", "overconfidence_final", ("ce", "sym-00"), None, margin=OVERCONFIDENT,
              source="the regime of the paper's figures (CE over-confident)"),
    Direction("ece(sym-00)", "mixup has lower ECE than CE without noise", "ece_final", ("mixup", "sym-00"),
              ("ce", "sym-00"), relation="below", source=SOURCE_TALK, requires=("ce-overconfident(sym-00)",)),
)

REPRODUCTION = Reproduction(
    name="thulasidasan2019-mixup",
    title="On Mixup Training: Improved Calibration and Predictive Uncertainty for Deep Neural Networks",
    authors="Thulasidasan, Chennupati, Bilmes, Bhattacharya, Michalak",
    venue="NeurIPS 2019",
    arxiv="1905.11001",
    citation=CITATION,
    description="Calibration (ECE with its bin count, overconfidence error) and accuracy of CE against mixup.",
    metrics=("test_acc_final", "ece_final", "overconfidence_final"),
    published=(),
    checks=CHECKS,
    scales={
        "smoke": ScalePlan(
            scale="smoke", recipe="repro-thulasidasan2019-mixup-digits.yaml", configs=("sym-00",), methods=METHODS,
            seeds=1, epochs=1, levels=(0.0,), train_overrides={"ece_bins": 15, **MEMORISE},
            statement="smoke: digits on CPU, 1 epoch; a plumbing check, the numbers mean nothing"),
        "reduced": ScalePlan(
            scale="reduced", recipe="repro-thulasidasan2019-mixup-digits.yaml", configs=("sym-00", "sym-40"),
            methods=METHODS, seeds=3, epochs=None, train_overrides={"ece_bins": 15, **MEMORISE},
            method_params=PAPER_PARAMS,
            statement=("reduced: digits default on CPU, digits-cnn trained to near-zero training loss (no weight "
                       "decay, no augmentation) at the protocol's reference budget, ECE/OE with 15 bins (355 test "
                       "images); not comparable in absolute terms, compare the directions")),
        "full": ScalePlan(
            scale="full", recipe="repro-thulasidasan2019-mixup-cifar10.yaml", configs=("sym-00", "sym-40"),
            methods=METHODS, seeds=3, epochs=None, dataset="cifar10", needs_gpu=True, data_key="root",
            train_overrides={"ece_bins": 100, **MEMORISE}, method_params=PAPER_PARAMS,
            statement=("full: CIFAR-10, GPU, the harness's default model at the protocol's reference budget, "
                       "trained to near-zero training loss (no weight decay, no augmentation), ECE/OE with 100 bins (the "
                       "paper's bin count)")),
    },
    notes=(
        "ECE = sum over equal-width confidence bins of |B|/n |acc(B) - conf(B)|; OE weights the positive part of "
        "conf - acc by conf (cnlbench.harness.metrics).",
        "Mixup uses alpha = 0.4 (the paper reports alpha in [0.2, 0.4]); with --tune/--tuned the tuned alpha.",
        "ECE and OE are those of the network at the END of training (`*_final`): the paper measures trained "
        "networks, and the regime is training to near-zero loss; the selected-epoch values are in the store.",
        "A check whose precondition is not met prints NOT TESTABLE: mixup is known to be UNDER-confident where "
        "cross-entropy is already calibrated, which is not what the paper claims about.",
    ),
)

register_reproduction(REPRODUCTION)
