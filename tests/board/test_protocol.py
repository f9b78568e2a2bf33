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


# -- the board's memorisation and tuning notes (fair protocol, issue 9) ----------------------
def _memo_row(config, level, best, final, fit, method="ce", seed=0):
    import json

    return {"dataset": "digits", "noise_kind": "sym", "config": config, "level": level, "method": method,
            "seed": seed, "status": "ok", "epochs": 60, "test_acc_best_val": best, "test_acc_final": final,
            "curves": json.dumps({"train_acc_noisy_given": [0.1, fit]})}


def test_memorisation_note_reports_ce_fit_and_gap_per_config():
    from cnlbench.board.protocol import memorisation_note

    rows = [_memo_row("sym-40", 0.4, 0.92, 0.78, 0.30), _memo_row("sym-40", 0.4, 0.90, 0.80, 0.34, seed=1),
            _memo_row("sym-00", 0.0, 0.99, 0.99, float("nan")), _memo_row("sym-40", 0.4, 0.5, 0.1, 0.9, method="gce")]
    note = memorisation_note(rows, "digits", "sym")
    assert "CE at 60 epochs" in note
    assert "sym-40 fits 32% of the wrong labels, best-vs-final gap +12.0" in note
    assert "sym-00" not in note  # level 0 has no wrong labels
    assert memorisation_note(rows, "digits", "web") == ""


def test_tuned_settings_note_reads_the_rows_tuning_column():
    import json

    from cnlbench.board.protocol import tuned_settings_note

    t = lambda kind, lr, params: json.dumps({"file_sha256": "abcdef0123456789", "kind": kind, "config": f"{kind}-40",
                                             "lr_mult": lr, "params": params})
    rows = [{"method": "gce", "status": "ok", "tuning": t("sym", 3.0, {"q": 0.4})},
            {"method": "ce", "status": "ok", "tuning": t("sym", 0.32, {})},
            {"method": "ce", "status": "ok", "tuning": t("web", 1.0, {})},
            {"method": "mae", "status": "ok", "tuning": ""}]
    assert tuned_settings_note(rows) == "chosen settings: ce: sym lr x0.32, web lr x1; gce: sym lr x3 q=0.4"
    assert tuned_settings_note([{"method": "ce", "status": "ok", "tuning": ""}]) == ""


def test_a_method_whose_mechanism_never_engaged_is_flagged_with_its_numbers():
    import json

    def run(method, level, rates, acc=0.9, **kw):
        return {**_row(method, level, acc, **kw), "curves": json.dumps({"stat_abstain_rate": rates})}

    rows = [_row("ce", 0.0, 0.96), _row("ce", 0.4, 0.9),
            run("dac", 0.0, [math.nan, 0.0], acc=0.96),          # 0% noise never counts
            run("dac", 0.4, [math.nan, 0.0, 0.0]), run("dac", 0.6, [0.0, 0.0]),
            run("dac", 0.4, [0.0, 0.3], kind="web"),              # abstained on web: engaged there
            run("dac", 0.2, [0.0, 0.0], status="failed"),         # failed runs never count
            _row("gce", 0.4, 0.9)]                                # no such curve: never flagged
    flags = protocol_flags(rows)
    assert set(flags) == {"dac"}
    assert flags["dac"] == ("mechanism never engaged: abstained on 0% of the training batches in every epoch of its "
                            "2 runs at noisy levels (toy/sym): it trained as CE")
    rows.append(run("dac", 0.8, [0.0, 0.01]))  # one run that abstained at all: engaged
    assert protocol_flags(rows) == {}
