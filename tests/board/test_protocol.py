"""The 0%-noise sanity gate on hand-made result rows."""

from __future__ import annotations

import math

import pandas as pd

from cnlbench.board.protocol import protocol_flags


def _row(method: str, level: float, acc: float, *, kind: str = "sym", status: str = "ok", dataset: str = "toy"):
    return {"dataset": dataset, "noise_kind": kind, "level": level, "method": method,
            "status": status, "test_acc_best_val": acc}


def _rows():
    return [
        _row("ce", 0.0, 0.97), _row("ce", 0.0, 0.95),            # CE mean 96.0
        _row("gce", 0.0, 0.945), _row("gce", 0.0, 0.955),        # 95.0: 1 point below, kept
        _row("mae", 0.0, 0.60), _row("mae", 0.0, 0.62),          # 61.0: 35 points below, flagged
        _row("edge", 0.0, 0.94),                                  # exactly 2 points below: kept
        _row("mae", 0.4, 0.99),                                   # other levels never gate
        _row("late", 0.4, 0.10),                                  # no level-0 run: not gated
    ]


def test_flags_only_methods_more_than_two_points_below_ce():
    flags = protocol_flags(_rows())
    assert set(flags) == {"mae"}
    assert flags["mae"] == "not converged: at 0% noise 61.0% vs CE 96.0% (-35.0 points; toy/sym)"


def test_accepts_a_dataframe_and_gives_the_same_flags():
    assert protocol_flags(pd.DataFrame(_rows())) == protocol_flags(_rows())


def test_failed_runs_and_missing_values_never_count():
    rows = _rows() + [_row("gce", 0.0, 0.10, status="failed"), _row("gce", 0.0, math.nan)]
    assert "gce" not in protocol_flags(rows)
    # a failed CE run cannot lower the bar either
    rows.append(_row("ce", 0.0, 0.0, status="failed"))
    assert set(protocol_flags(rows)) == {"mae"}


def test_each_noise_kind_compares_with_its_own_ce_and_reasons_join():
    rows = _rows() + [_row("ce", 0.0, 0.80, kind="web"), _row("mae", 0.0, 0.70, kind="web"),
                      _row("gce", 0.0, 0.50, kind="web")]
    flags = protocol_flags(rows)
    assert set(flags) == {"mae", "gce"}
    assert flags["gce"] == "not converged: at 0% noise 50.0% vs CE 80.0% (-30.0 points; toy/web)"
    assert flags["mae"].count("points;") == 2 and "toy/sym" in flags["mae"] and "toy/web" in flags["mae"]


def test_no_baseline_no_flags_and_threshold_is_a_parameter():
    assert protocol_flags([r for r in _rows() if r["method"] != "ce"]) == {}
    assert set(protocol_flags(_rows(), gap=0.005)) == {"gce", "mae", "edge"}
    assert protocol_flags(_rows(), baseline="gce", gap=0.5) == {}
