"""Patrini et al., CVPR 2017: the CIFAR-10 table of loss corrections.

Published numbers: NOT transcribed. The table (CIFAR-10, ResNet; no noise, symmetric 0.2,
asymmetric 0.2 and 0.6) could not be traced to a readable copy of arXiv:1609.03683 while this
module was written, so every cell is ``None`` and prints ``n/a``. To add them, copy each value
from the paper's CIFAR-10 table into ``value`` and set ``source`` to the table number and
arXiv version; ``tests/board/test_reproduce_data.py`` checks every non-null value has a source.
"""

from __future__ import annotations

from cnlbench.board.reproduce import NOT_TRANSCRIBED, Published, Reproduction, ScalePlan

METHODS = ("ce", "unhinged", "sigmoid", "savage", "bootstrap-soft", "bootstrap-hard",
           "backward", "forward", "backward-that", "forward-that")
#: our config -> the paper's column
SETTINGS = {"sym-00": "no noise", "sym-20": "symm. N = 0.2", "asym-20": "asymm. N = 0.2", "asym-60": "asymm. N = 0.6"}

CITATION = """@inproceedings{patrini2017making,
  title     = {Making Deep Neural Networks Robust to Label Noise: a Loss Correction Approach},
  author    = {Patrini, Giorgio and Rozza, Alessandro and Krishna Menon, Aditya and Nock, Richard and Qu, Lizhen},
  booktitle = {Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {1944--1952},
  year      = {2017},
  note      = {arXiv:1609.03683}
}"""

PUBLISHED = tuple(
    Published(method=m, setting=s, metric="test_acc_best_val", value=None, source=NOT_TRANSCRIBED,
              note=f"paper column: {SETTINGS[s]}")
    for m in METHODS for s in SETTINGS
)

REPRODUCTION = Reproduction(
    name="patrini2017",
    title="Making Deep Neural Networks Robust to Label Noise: a Loss Correction Approach",
    authors="Patrini, Rozza, Krishna Menon, Nock, Qu",
    venue="CVPR 2017",
    arxiv="1609.03683",
    citation=CITATION,
    description=("CIFAR-10 table: cross-entropy, unhinged, sigmoid, Savage, bootstrap soft/hard, backward and "
                 "forward correction with the true T and with T-hat; no noise, symmetric 0.2, asymmetric "
                 "(CIFAR-10 pairs) 0.2 and 0.6."),
    metrics=("test_acc_best_val",),
    published=PUBLISHED,
    scales={
        "smoke": ScalePlan(
            scale="smoke", recipe="repro-patrini2017-digits.yaml", configs=("sym-00", "asym-20"),
            methods=("ce", "forward"), seeds=1, epochs=1, levels=(0.0, 0.2),
            statement="smoke: digits on CPU, 1 epoch, 2 configs, 2 methods; a plumbing check, the numbers mean nothing"),
        "reduced": ScalePlan(
            scale="reduced", recipe="repro-patrini2017-digits.yaml", configs=tuple(SETTINGS), methods=METHODS,
            seeds=1, epochs=10,
            statement=("reduced: digits default on CPU (digit look-alike pairs stand in for the CIFAR-10 pairs), "
                       "digits-cnn, 10 epochs; not comparable in absolute terms, compare the ordering")),
        "full": ScalePlan(
            scale="full", recipe="repro-patrini2017-cifar10.yaml", configs=tuple(SETTINGS), methods=METHODS,
            seeds=3, epochs=None, dataset="cifar10", needs_gpu=True, data_key="root",
            statement=("full: CIFAR-10, GPU, the harness's default model for 32x32 images and its default "
                       "epochs (the paper used a ResNet; compare with that in mind)")),
    },
    notes=(
        "Asymmetric noise is the CIFAR-10 pairs preset at the paper's flip probability (full scale); the "
        "digits analogue flips look-alike digits (1<->7, 3<->8, 5<->6, 4<->9, 2->7).",
        "forward/backward use the recipe's requested T; forward-that/backward-that estimate T-hat from a "
        "CE model selected on the noisy validation loss (97th-percentile filter).",
        "Model selection uses the noisy validation split only (test_acc_best_val).",
        "Published numbers: not transcribed (see cnlbench/board/reproductions/patrini2017.py).",
    ),
)
