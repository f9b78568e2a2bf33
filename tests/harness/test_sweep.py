"""Sweeps: planning, name checks, resume after an interruption without duplicates, backends."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnlbench.errors import HarnessError
from cnlbench.harness.backends import LocalBackend
from cnlbench.harness.engine import run_one
from cnlbench.harness.store import ResultsStore
from cnlbench.harness.sweep import match_configs, parse_param, plan_sweep, run_sweep

CONFIGS = ["sym-00", "sym-40", "asym-40"]


def test_match_configs_globs_and_errors() -> None:
    assert match_configs(["sym-*"], ["sym-00", "asym-40", "sym-40"]) == ["sym-00", "sym-40"]
    assert match_configs(["asym-40", "sym-00"], CONFIGS) == ["sym-00", "asym-40"]
    with pytest.raises(HarnessError, match="valid configs: .*sym-00"):
        match_configs(["web-80"], CONFIGS)


@pytest.mark.parametrize("text,expected", [("gce.q=0.7", ("gce", "q", 0.7)), ("mixup.alpha=1", ("mixup", "alpha", 1)),
                                           ("x.flag=true", ("x", "flag", True)), ("x.mode=hard", ("x", "mode", "hard"))])
def test_parse_param(text, expected) -> None:
    assert parse_param(text) == expected


@pytest.mark.parametrize("bad", ["q=0.7", "gce.q", ".q=1"])
def test_parse_param_errors(bad) -> None:
    with pytest.raises(HarnessError, match="METHOD.KEY=VALUE"):
        parse_param(bad)


def test_plan_checks_names(digits_dir) -> None:
    with pytest.raises(HarnessError, match="valid methods"):
        plan_sweep(digits_dir, ["nope"], ["sym-00"], 1)
    with pytest.raises(HarnessError, match="valid models"):
        plan_sweep(digits_dir, ["ce"], ["sym-00"], 1, model="vgg")
    with pytest.raises(HarnessError, match="valid parameters"):
        plan_sweep(digits_dir, ["gce"], ["sym-00"], 1, method_params={"gce": {"qq": 1}})
    with pytest.raises(HarnessError, match="not in --methods"):
        plan_sweep(digits_dir, ["ce"], ["sym-00"], 1, method_params={"gce": {"q": 1}})


def test_true_t_methods_run_only_where_the_config_has_a_t(digits_dir) -> None:
    _, _, specs = plan_sweep(digits_dir, ["ce", "forward"], ["sym-40", "web-40"], 1, epochs=1)
    assert sorted((s.config, s.method) for s in specs) == [("sym-40", "ce"), ("sym-40", "forward"),
                                                          ("web-40", "ce")]
    with pytest.raises(HarnessError, match="'forward' needs the config's transition matrix"):
        plan_sweep(digits_dir, ["forward"], ["web-40"], 1, epochs=1)


def test_plan_cross_product(digits_dir) -> None:
    name, fps, specs = plan_sweep(digits_dir, ["ce", "mixup"], ["sym-00", "sym-40"], [0, 5], epochs=1)
    assert name == "digits" and set(fps) == {"sym-00", "sym-40"}
    assert len(specs) == 8 and len({s.run_id for s in specs}) == 8
    assert {s.model for s in specs} == {"digits-cnn"} and {s.train.epochs for s in specs} == {1}
    assert not specs[0].train.hflip  # digits: flips change the class


class _Interrupting(LocalBackend):
    """Yields ``n`` rows, then behaves like Ctrl-C in the middle of the next run."""

    def __init__(self, n: int):
        super().__init__(1)
        self.n = n

    def map(self, specs, fn=run_one):
        for i, row in enumerate(super().map(specs, fn)):
            if i == self.n:
                raise KeyboardInterrupt
            yield row


class _Counting(LocalBackend):
    def __init__(self):
        super().__init__(1)
        self.ran: list[str] = []

    def map(self, specs, fn=run_one):
        for row in super().map(specs, fn):
            self.ran.append(row["run_id"])
            yield row


def test_resume_after_interruption_without_duplicates(digits_dir, tmp_path) -> None:
    out = tmp_path / "results"
    args = (digits_dir, ["ce", "mae"], ["sym-40"], 2, out)
    kw = dict(epochs=1, device="cpu", progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(*args, backend=_Interrupting(2), **kw)
    first = set(ResultsStore(out).finished())
    assert len(first) == 2
    counting = _Counting()
    res = run_sweep(*args, backend=counting, **kw)
    assert res.skipped == 2 and res.written == 2 and len(counting.ran) == 2
    assert not first & set(counting.ran)  # finished runs were not retrained
    t = ResultsStore(out).read()
    ids = t["run_id"].to_pylist()
    assert t.num_rows == 4 and len(set(ids)) == 4 and set(ids) == set(res.run_ids)
    assert set(t["status"].to_pylist()) == {"ok"}
    again = run_sweep(*args, backend=_Counting(), **kw)
    assert again.skipped == 4 and again.written == 0 and ResultsStore(out).read().num_rows == 4


def test_changed_dataset_is_refused(digits_dir, tmp_path) -> None:
    out = tmp_path / "results"
    store = ResultsStore(out)
    store.check_fingerprints("digits", {"sym-40": "0" * 64})
    with pytest.raises(HarnessError, match="'sym-40'.*0{64}"):
        run_sweep(digits_dir, ["ce"], ["sym-40"], 1, out, epochs=1, device="cpu", progress=False)


def test_local_process_pool(digits_dir, tmp_path) -> None:
    res = run_sweep(digits_dir, ["ce"], ["sym-00"], 2, tmp_path / "r", jobs=2, epochs=1, device="cpu",
                    progress=False)
    rows = res.rows()
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)
    assert sorted(r["seed"] for r in rows) == [0, 1]


def test_ray_backend_tiny_sweep(digits_dir, tmp_path) -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra (cnlbench[ray])")
    res = run_sweep(digits_dir, ["ce"], ["sym-40"], 2, tmp_path / "r", backend="ray", epochs=1,
                    device="cpu", progress=False)
    rows = res.rows()
    assert res.written == 2 and len(rows) == 2
    assert all(r["status"] == "ok" and r["device"] == "cpu" for r in rows), [r["error"] for r in rows]


def test_packed_sweep_gives_the_rows_of_single_runs(tmp_path, digits_dir):
    """`--pack R` is a backend like any other: the same run_ids and, on CPU (split form), the
    same numbers as the unpacked sweep."""
    from cnlbench.harness.sweep import run_sweep

    kw = dict(epochs=1, device="cpu", progress=False)
    single = run_sweep(digits_dir, ["ce", "gce"], ["sym-00", "sym-40"], 1, tmp_path / "a", **kw)
    packed = run_sweep(digits_dir, ["ce", "gce"], ["sym-00", "sym-40"], 1, tmp_path / "b", pack=4, **kw)
    a = {r["run_id"]: r for r in single.rows()}
    b = {r["run_id"]: r for r in packed.rows()}
    assert set(a) == set(b) and len(a) == 4
    for rid in a:
        for key in ("test_acc_final", "test_acc_best_val", "ece", "auroc_noise"):
            x, y = a[rid][key], b[rid][key]
            assert x == y or (math.isnan(x) and math.isnan(y)), (a[rid]["method"], a[rid]["config"], key)


@pytest.mark.parametrize("kw", [dict(backend="ray"), dict(jobs=2), dict(pack=0)])
def test_pack_refuses_other_backends(kw):
    from cnlbench.errors import HarnessError
    from cnlbench.harness.backends import make_backend

    pack = kw.pop("pack", 2)
    with pytest.raises(HarnessError, match="pack"):
        make_backend(kw.pop("backend", "local"), pack=pack, **kw)


def _children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (Linux /proc)."""
    from pathlib import Path

    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    from pathlib import Path

    try:  # a zombie (exited, not yet reaped by its new parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the worker processes")
def test_workers_of_a_killed_sweep_end_with_it(digits_dir, tmp_path) -> None:
    """SIGKILL of `cnlbench eval --jobs 2` (no cleanup can run in it) leaves no worker training on."""
    cmd = [sys.executable, "-c", "import sys; from cnlbench.cli import main; sys.exit(main())", "eval", str(digits_dir),
           "--methods", "ce", "--configs", "sym-40", "--seeds", "4", "--epochs", "200", "--jobs", "2",
           "--device", "cpu", "--out", str(tmp_path / "runs"), "--no-progress"]
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and len(workers) < 2:
        workers = [c for c in _children(proc.pid)
                   if "spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]
        time.sleep(0.1)
    assert len(workers) == 2, "the sweep did not start its two workers"
    time.sleep(2.0)  # the workers are importing / training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    left = [w for w in workers if _alive(w)]
    for w in left:  # never leave a stray process behind, even when the test fails
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed sweep"
