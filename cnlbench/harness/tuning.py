"""Tuning on equal terms: one small grid per method, selected on the NOISY validation split.

The fair protocol (docs/methods.md, "Protocol") tunes every method, CE included, with the SAME
budget: :data:`TRIALS_PER_METHOD` settings, each one run (seed :data:`TUNING_SEED`, which no
evaluation sweep uses by default) on ONE mid-level config per noise kind (``sym-40``,
``asym-40``, ``web-40``, ...). A setting is a learning-rate multiplier (applied to the model's
reference learning rate) and at most two method parameters. The setting with the best noisy-
validation accuracy (``val_acc_best``; clean test labels are never read) is frozen for every
level and seed of that noise kind. The chosen settings, every trial and the tuning cost go to a
JSON file (:func:`write_tuned`) that ``cnlbench eval --tuned FILE`` consumes
(:meth:`TunedSettings.apply`), and every results row records the setting it ran with.

A method's grid: learning-rate multipliers :data:`LR_AXIS` x up to three values of its own
parameters (the method's ``tuning_grid``, declared in its own file, defaults first; with two
parameters the grid is the defaults plus one change at a time); a method without one gets
:data:`LR_ONLY_AXIS` (as many learning rates as the others have settings), so that every
method gets exactly the same number of trials.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from cnlbench import __version__
from cnlbench.errors import HarnessError

#: Format tag of a tuned-settings file.
TUNED_FORMAT = "cnlbench-tuned/1"
#: Most settings one grid may have (the issue's budget cap).
MAX_SETTINGS = 12
#: Trials every method gets by default (the equal budget).
TRIALS_PER_METHOD = 9
#: Learning-rate multipliers of a method with its own parameters (x 3 parameter values = 9).
LR_AXIS: tuple[float, ...] = (0.3, 1.0, 3.0)
#: Learning-rate multipliers of a method without tunable parameters (9, log-spaced 0.1..10).
LR_ONLY_AXIS: tuple[float, ...] = (0.1, 0.18, 0.32, 0.56, 1.0, 1.8, 3.2, 5.6, 10.0)
#: The level a noise kind is tuned at (the config ``<kind>-40`` when present).
TUNING_LEVEL = 0.40
#: Seed of tuning runs (evaluation sweeps use seeds 0..n-1 by default).
TUNING_SEED = 1000

#: How :func:`summarise` chooses a setting (written into every tuned-settings file).
SELECTION_RULE = ("one-standard-error rule on the NOISY validation split: a setting's score is its val_acc_best "
                  "(mean over tuning seeds); the grid's reference point (the method's defaults at lr x1) is kept "
                  "unless the best setting beats it by more than one binomial standard error of the best score on "
                  "the n_val validation examples, in which case the best is chosen (ties: earlier grid point)")

@dataclass(frozen=True)
class Setting:
    """One point of a grid: a learning-rate multiplier and method parameters."""

    lr_mult: float
    params: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"lr_mult": self.lr_mult, "params": dict(self.params)}

    @property
    def key(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


def _check_grid(method: str, grid: Mapping[str, Sequence[Any]], defaults: Mapping[str, Any]) -> None:
    if not isinstance(grid, Mapping):
        raise HarnessError(f"tuning grid of {method!r} is {type(grid).__name__}; expected {{parameter: [values]}}")
    unknown = sorted(set(grid) - set(defaults) - {"lr_mult"})
    if unknown:
        raise HarnessError(f"tuning grid of {method!r} names unknown parameter(s) {unknown}; "
                           f"valid parameters: {sorted(defaults)} (and lr_mult)")
    params = [k for k in grid if k != "lr_mult"]
    if len(params) > 2:
        raise HarnessError(f"tuning grid of {method!r} tunes {len(params)} parameters {params}; "
                           "the protocol allows at most two per method")
    for k, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise HarnessError(f"tuning grid of {method!r}: {k} = {values!r} is empty or not a list; "
                               f"give a non-empty list of values, e.g. {k}: [{defaults.get(k, 1.0)!r}]")
    for v in grid.get("lr_mult", []):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
            raise HarnessError(f"tuning grid of {method!r}: lr_mult {v!r} must be a positive number")


def method_grid(method: str, grid: Mapping[str, Sequence[Any]] | None = None) -> list[Setting]:
    """The settings (defaults first) of ``method``'s grid: ``grid`` (``{param: values}``, an
    optional ``lr_mult`` list) or the method's own ``tuning_grid``; errors name unknown parameters, empty
    grids and grids over :data:`MAX_SETTINGS`."""
    from cnlbench.harness.methods.base import get_method

    cls = get_method(method)
    defaults = cls.defaults
    grid = dict(cls.tuning_grid if grid is None else grid)
    _check_grid(method, grid, defaults)
    params = {k: list(v) for k, v in grid.items() if k != "lr_mult"}
    lrs = [float(v) for v in grid.get("lr_mult", LR_AXIS if params else LR_ONLY_AXIS)]
    if len(params) <= 1:
        points = [dict(zip(params, combo)) for combo in itertools.product(*params.values())] or [{}]
    else:  # two parameters: the defaults, then one change at a time
        base = {k: v[0] for k, v in params.items()}
        points = [base] + [{**base, k: val} for k, vals in params.items() for val in vals[1:]]
    settings = [Setting(lr, p) for p in points for lr in lrs]
    settings.sort(key=lambda s: (s.params != points[0], abs(math.log(s.lr_mult))))  # defaults first
    if len(settings) > MAX_SETTINGS:
        raise HarnessError(f"tuning grid of {method!r} has {len(settings)} settings; the protocol allows at "
                           f"most {MAX_SETTINGS} (learning-rate multipliers x parameter values)")
    return settings


def load_grid_file(path: str | Path) -> dict[str, dict[str, list[Any]]]:
    """A user grid: JSON or YAML ``{method: {param: [values], lr_mult: [...]}}``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read tuning grid {str(p)!r}: {exc}") from None
    try:
        import yaml

        data = yaml.safe_load(text)
    except Exception as exc:  # yaml's own error types
        raise HarnessError(f"tuning grid {str(p)!r} is not valid YAML/JSON: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise HarnessError(f"tuning grid {str(p)!r} is empty or not a mapping; expected "
                           "{method: {parameter: [values]}}, e.g. {gce: {q: [0.4, 0.7]}}")
    return data


def tuning_config(configs: Sequence[str], kind_of: Mapping[str, tuple[str, float | None]],
                  level: float = TUNING_LEVEL) -> dict[str, str]:
    """noise kind -> the config it is tuned on: the one at ``level``, else the nearest level
    to it above 0 (a named label set with no level is its own kind)."""
    chosen: dict[str, tuple[float, str]] = {}
    for c in configs:
        kind, lv = kind_of[c]
        dist = 0.0 if lv is None else (abs(lv - level) if lv > 0 else math.inf)
        if kind not in chosen or dist < chosen[kind][0]:
            chosen[kind] = (dist, c)
    return {k: c for k, (d, c) in chosen.items() if math.isfinite(d)}


def standard_error(acc: float, n: int) -> float:
    """Binomial standard error ``sqrt(acc (1 - acc) / n)`` of an accuracy ``acc`` measured on
    ``n`` examples (a fraction, not points)."""
    return math.sqrt(max(acc * (1.0 - acc), 0.0) / n) if n > 0 else math.inf


def select_best(trials: Sequence[Mapping[str, Any]], n_val: int | None = None) -> Mapping[str, Any] | None:
    """The chosen trial among ``trials`` (grid order: the grid's reference point, the method's
    defaults at lr x1, first), judged on noisy-validation accuracy (``val_acc_best``) of ``ok``
    trials only. None when all failed.

    With ``n_val`` (the size of the noisy validation split) this is the one-standard-error rule
    (Breiman et al. 1984; Hastie, Tibshirani & Friedman, ESL 2nd ed., section 7.10): the
    reference point is kept unless the best trial beats it by more than one binomial standard
    error of the best accuracy on ``n_val`` examples, so tuning moves a method away from its
    authors' defaults only where the validation split can tell the settings apart. Without
    ``n_val``: the plain arg-max, ties to the earlier trial."""
    ok = [t for t in trials if t.get("status") == "ok" and isinstance(t.get("val_acc_best"), float)
          and math.isfinite(t["val_acc_best"])]
    if not ok:
        return None
    best = ok[0]
    for t in ok[1:]:
        if t["val_acc_best"] > best["val_acc_best"]:
            best = t
    if n_val is None or not trials or trials[0] not in ok:
        return best
    reference = trials[0]
    if reference["val_acc_best"] >= best["val_acc_best"] - standard_error(best["val_acc_best"], n_val):
        return reference
    return best


@dataclass
class TunedSettings:
    """A tuned-settings file: per noise kind and method, the frozen setting."""

    data: dict[str, Any]
    path: str = ""

    @property
    def dataset(self) -> str:
        return str(self.data["dataset"])

    def setting(self, method: str, kind: str) -> dict[str, Any]:
        """The chosen ``{"lr_mult", "params"}`` of ``method`` under noise ``kind``."""
        kinds = self.data["kinds"]
        if kind not in kinds:
            raise HarnessError(f"tuned settings {self.path!r} have no noise kind {kind!r} (tuned kinds: "
                               f"{sorted(kinds)}); run `cnlbench tune` on a config of that kind")
        methods = kinds[kind]["methods"]
        if method not in methods:
            raise HarnessError(f"tuned settings {self.path!r} have no method {method!r} for noise kind {kind!r} "
                               f"(tuned methods: {sorted(methods)}); tune it with `cnlbench tune --methods {method}`")
        chosen = methods[method].get("chosen")
        if chosen is None:
            raise HarnessError(f"tuning of {method!r} on {kind!r} failed on every setting ({self.path!r}); "
                               "fix the method or its grid and re-run `cnlbench tune`")
        return chosen

    def check(self, dataset: str, methods: Sequence[str], model: str) -> None:
        """Refuse a file made for another dataset or model, or lacking one of ``methods``."""
        if self.dataset != dataset:
            raise HarnessError(f"tuned settings {self.path!r} were made for dataset {self.dataset!r}, not "
                               f"{dataset!r}; tune on this dataset with `cnlbench tune`")
        if self.data.get("model") and self.data["model"] != model:
            raise HarnessError(f"tuned settings {self.path!r} were made for model {self.data['model']!r}, not "
                               f"{model!r}; pass --model {self.data['model']} or re-tune")
        tuned = set().union(*(set(k["methods"]) for k in self.data["kinds"].values())) if self.data["kinds"] else set()
        missing = sorted(set(methods) - tuned)
        if missing:
            raise HarnessError(f"tuned settings {self.path!r} have no method(s) {missing} (tuned: {sorted(tuned)}); "
                               "tune them with `cnlbench tune` or drop --tuned")

    def apply(self, method: str, kind: str, base_lr: float, params: Mapping[str, Any]
              ) -> tuple[dict[str, Any], float, str]:
        """(method params, learning rate, tuning JSON for the row) of ``method`` under ``kind``.
        Explicit ``params`` that contradict the tuned ones are an error."""
        s = self.setting(method, kind)
        clash = {k: (v, s["params"][k]) for k, v in params.items() if k in s["params"] and s["params"][k] != v}
        if clash:
            raise HarnessError(f"--param {method}.{next(iter(clash))} contradicts the tuned setting "
                               f"(given, tuned) {clash}; drop --param or --tuned")
        merged = {**s["params"], **params}
        # the setting itself, not the file's bytes: re-writing the same choice (a resumed
        # `tune`) keeps every run id, while a different choice changes them
        record = json.dumps({"kind": kind, "config": self.data["kinds"][kind]["config"], "dataset": self.dataset,
                             **s}, sort_keys=True)
        return merged, base_lr * float(s["lr_mult"]), record


def load_tuned(path: str | Path) -> TunedSettings:
    """Read and check a tuned-settings file written by :func:`write_tuned`."""
    p = Path(path)
    try:
        raw = p.read_bytes()
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"tuned-settings file {str(p)!r} does not exist; write one with `cnlbench tune ... "
                           f"--write {p}`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarnessError(f"tuned-settings file {str(p)!r} is not valid JSON ({exc}); re-run `cnlbench tune`") from None
    if not isinstance(data, dict) or data.get("format") != TUNED_FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise HarnessError(f"{str(p)!r} is not a cnlbench tuned-settings file (format {got!r}, expected "
                           f"{TUNED_FORMAT!r}); write one with `cnlbench tune`")
    for key in ("dataset", "kinds"):
        if key not in data:
            raise HarnessError(f"tuned-settings file {str(p)!r} lacks {key!r}; re-run `cnlbench tune`")
    if not isinstance(data["kinds"], dict):
        raise HarnessError(f"tuned-settings file {str(p)!r}: 'kinds' must be a mapping; re-run `cnlbench tune`")
    return TunedSettings(data, str(p))


def summarise(rows: Sequence[Mapping[str, Any]], plan: Mapping[str, Any]) -> dict[str, Any]:
    """The tuned-settings document from the tuning store's ``rows`` and the ``plan`` made by
    :func:`cnlbench.harness.sweep.plan_tuning` (``dataset``, ``model``, ``train``, ``kinds``:
    kind -> config, ``n_val``: kind -> noisy-validation size, ``trials``: run_id -> (kind,
    method, setting)). A setting run under several seeds scores the mean of their
    ``val_acc_best``; the choice is :func:`select_best` with the kind's ``n_val``."""
    by_id = {r["run_id"]: r for r in rows}
    kinds: dict[str, Any] = {k: {"config": c, "methods": {}} for k, c in plan["kinds"].items()}
    n_val = {k: int(v) for k, v in plan.get("n_val", {}).items()}
    cost: dict[str, dict[str, float]] = {}
    trials: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, method, setting) -> its seeds' runs
    for rid, (kind, method, setting) in plan["trials"].items():
        row = by_id.get(rid, {})
        entry = kinds[kind]["methods"].setdefault(method, {"trials": []})
        key = (kind, method, json.dumps(setting, sort_keys=True))
        if key not in trials:
            trials[key] = {**setting, "runs": []}
            entry["trials"].append(trials[key])
        trial = trials[key]
        trial["runs"].append({"status": row.get("status", "missing"),
                              "val_acc_best": float(row.get("val_acc_best", math.nan)),
                              "wall_time_s": float(row.get("wall_time_s", math.nan))})
        c = cost.setdefault(method, {"runs": 0, "wall_time_s": 0.0})
        c["runs"] += 1
        wt = float(row.get("wall_time_s", math.nan))
        c["wall_time_s"] += wt if math.isfinite(wt) else 0.0
    for kind_name, kind in kinds.items():
        for entry in kind["methods"].values():
            for t in entry["trials"]:  # a setting is ok when every seed ran; its score is their mean
                runs = t.pop("runs")
                ok = all(r["status"] == "ok" and math.isfinite(r["val_acc_best"]) for r in runs)
                t["status"] = "ok" if ok else next((r["status"] for r in runs if r["status"] != "ok"), "failed")
                t["val_acc_best"] = float(sum(r["val_acc_best"] for r in runs) / len(runs)) if ok else math.nan
                t["val_acc_seeds"] = [r["val_acc_best"] for r in runs]
                t["wall_time_s"] = float(sum(r["wall_time_s"] for r in runs if math.isfinite(r["wall_time_s"])))
            best = select_best(entry["trials"], n_val.get(kind_name))
            entry["chosen"] = None if best is None else {"lr_mult": best["lr_mult"], "params": best["params"]}
            entry["val_acc_best"] = math.nan if best is None else best["val_acc_best"]
        kind["n_val"] = n_val.get(kind_name)
    ce = cost.get("ce", {}).get("wall_time_s", 0.0)
    for c in cost.values():
        c["relative_to_ce"] = c["wall_time_s"] / ce if ce > 0 else math.nan
    return {
        "format": TUNED_FORMAT,
        "dataset": plan["dataset"],
        "model": plan["model"],
        "train": plan["train"],
        "fingerprints": plan["fingerprints"],
        "seeds": plan["seeds"],
        "selection": SELECTION_RULE,
        "budget": {"trials_per_method_per_kind": TRIALS_PER_METHOD, "max_settings": MAX_SETTINGS,
                   "lr_axis": list(LR_AXIS), "lr_only_axis": list(LR_ONLY_AXIS)},
        "kinds": kinds,
        "cost": {"runs": sum(int(c["runs"]) for c in cost.values()),
                 "wall_time_s": sum(c["wall_time_s"] for c in cost.values()), "per_method": cost},
        "cnlbench_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write_tuned(doc: Mapping[str, Any], path: str | Path) -> Path:
    """Write a tuned-settings document atomically (NaN written as null)."""
    from cnlbench.manifest.atomic import atomic_write_bytes

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    p = Path(path)
    atomic_write_bytes(p, (json.dumps(clean(doc), indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return p


__all__ = [
    "LR_AXIS", "LR_ONLY_AXIS", "MAX_SETTINGS", "TRIALS_PER_METHOD", "SELECTION_RULE", "TUNED_FORMAT", "TUNING_LEVEL",
    "TUNING_SEED", "Setting", "TunedSettings", "load_grid_file", "load_tuned", "method_grid", "select_best",
    "standard_error", "summarise", "tuning_config", "write_tuned",
]
