"""One home for what the leaderboard and ``eval --list-methods`` say about each built-in method:
its family, a one-line description, the paper and the code it follows.

Methods not listed here (a user's own, see the README's "Bring your own method") get
family ``other`` and no links; :func:`method_info` never fails. ``code`` is the repository
whose computation we follow (see docs/methods.md for each departure); ``code_official`` is
False where the authors released none and a widely used reimplementation is cited instead.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAMILIES", "MethodInfo", "METHOD_INFO", "method_info"]

#: Family display order (the summary and the plots' small multiples follow it).
FAMILIES = ("baseline", "regularisation", "robust loss", "loss correction", "sample selection", "other")


@dataclass(frozen=True)
class MethodInfo:
    family: str
    summary: str
    paper: str = ""
    code: str = ""
    code_official: bool = True


_CNWL = "https://arxiv.org/abs/1911.09781"
_CNWL_CODE = "https://github.com/google-research/google-research/tree/master/mentormix"
_PATRINI = "https://arxiv.org/abs/1609.03683"
_PATRINI_CODE = "https://github.com/giorgiop/loss-correction"
_GCE = "https://arxiv.org/abs/1805.07836"
_GCE_CODE = "https://github.com/AlanChou/Truncated-Loss"
_DAC = "https://arxiv.org/abs/1905.10964"
_DAC_CODE = "https://github.com/thulas/dac-label-noise"

METHOD_INFO: dict[str, MethodInfo] = {
    "ce": MethodInfo("baseline", "cross-entropy on the noisy labels"),
    "ce-wd": MethodInfo("baseline", "CE with strong weight decay (CNWL's WeDecay baseline)", _CNWL, _CNWL_CODE),
    "ce-dropout": MethodInfo("baseline", "CE with dropout 0.5 before the classifier (CNWL's Dropout baseline)",
                             _CNWL, _CNWL_CODE),
    "label-smoothing": MethodInfo("regularisation", "CE against smoothed targets (Szegedy et al. 2016)",
                                  "https://arxiv.org/abs/1512.00567"),
    "confidence-penalty": MethodInfo("regularisation", "CE minus an entropy bonus (Pereyra et al. 2017)",
                                     "https://arxiv.org/abs/1701.06548"),
    "bootstrap-soft": MethodInfo("regularisation", "soft bootstrapping: targets mixed with the prediction (Reed et al. 2014)",
                                 "https://arxiv.org/abs/1412.6596", _PATRINI_CODE),
    "bootstrap-hard": MethodInfo("regularisation", "hard bootstrapping: targets mixed with the argmax (Reed et al. 2014)",
                                 "https://arxiv.org/abs/1412.6596", _PATRINI_CODE),
    "proselflc": MethodInfo("regularisation", "progressive self label correction (Wang et al. 2021)",
                            "https://arxiv.org/abs/2005.03788", "https://github.com/XinshaoAmosWang/ProSelfLC-AT"),
    "proselflc-detached": MethodInfo("regularisation", "ProSelfLC with the whole target detached (a variant, not the reference)",
                                     "https://arxiv.org/abs/2005.03788",
                                     "https://github.com/XinshaoAmosWang/ProSelfLC-AT"),
    "mixup": MethodInfo("regularisation", "mixup of inputs and labels (Zhang et al. 2018)",
                        "https://arxiv.org/abs/1710.09412", "https://github.com/facebookresearch/mixup-cifar10"),
    "mae": MethodInfo("robust loss", "mean absolute error, a bounded loss (Ghosh et al. 2017)",
                      "https://arxiv.org/abs/1712.09482"),
    "gce": MethodInfo("robust loss", "generalized cross-entropy, the Lq loss (Zhang & Sabuncu 2018)",
                      _GCE, _GCE_CODE, code_official=False),
    "gce-truncated": MethodInfo("robust loss", "truncated Lq loss (Zhang & Sabuncu 2018)",
                                _GCE, _GCE_CODE, code_official=False),
    "sce": MethodInfo("robust loss", "symmetric cross-entropy: CE plus reverse CE (Wang et al. 2019)",
                      "https://arxiv.org/abs/1908.06112",
                      "https://github.com/YisenWang/symmetric_cross_entropy_for_noisy_labels"),
    "derivative-manipulation": MethodInfo("robust loss", "example weighting through the gradient (Wang et al. 2019)",
                                          "https://arxiv.org/abs/1905.11233",
                                          "https://github.com/XinshaoAmosWang/DerivativeManipulation"),
    "unhinged": MethodInfo("robust loss", "unhinged loss, as in Patrini et al.'s table", _PATRINI, _PATRINI_CODE),
    "sigmoid": MethodInfo("robust loss", "sigmoid loss, as in Patrini et al.'s table", _PATRINI, _PATRINI_CODE),
    "savage": MethodInfo("robust loss", "Savage loss, as in Patrini et al.'s table", _PATRINI, _PATRINI_CODE),
    "forward": MethodInfo("loss correction", "forward correction with the true transition matrix (Patrini et al. 2017)",
                          _PATRINI, _PATRINI_CODE),
    "backward": MethodInfo("loss correction", "backward correction with the true transition matrix (Patrini et al. 2017)",
                           _PATRINI, _PATRINI_CODE),
    "forward-that": MethodInfo("loss correction", "forward correction with an estimated matrix (Patrini et al. 2017)",
                               _PATRINI, _PATRINI_CODE),
    "backward-that": MethodInfo("loss correction", "backward correction with an estimated matrix (Patrini et al. 2017)",
                                _PATRINI, _PATRINI_CODE),
    "s-model": MethodInfo("loss correction", "noise adaptation layer (Goldberger & Ben-Reuven 2017)",
                          "https://openreview.net/forum?id=H12GRgcxg", "https://github.com/udibr/noise"),
    "coteaching": MethodInfo("sample selection", "two networks teach each other on small-loss examples (Han et al. 2018)",
                             "https://arxiv.org/abs/1804.06872", "https://github.com/bhanML/Co-teaching"),
    "mentornet": MethodInfo("sample selection", "small-loss thresholding curriculum (Jiang et al. 2018)",
                            "https://arxiv.org/abs/1712.05055", "https://github.com/google/mentornet"),
    "mentormix": MethodInfo("sample selection", "MentorNet weights plus mixup (Jiang et al. 2020, CNWL)",
                            _CNWL, _CNWL_CODE),
    "dac": MethodInfo("sample selection", "deep abstaining classifier (Thulasidasan et al. 2019)", _DAC, _DAC_CODE),
    "dac-protocol": MethodInfo("sample selection", "DAC, then CE on the examples it does not abstain on",
                               _DAC, _DAC_CODE),
}

_OTHER = MethodInfo("other", "")


def method_info(name: str) -> MethodInfo:
    """The entry of ``name`` (case-insensitive; a ``" v2"``/``" / model"`` suffix is ignored),
    or family ``other`` without links for a method this table does not know."""
    return METHOD_INFO.get(name.strip().lower().split(" ")[0], _OTHER)
