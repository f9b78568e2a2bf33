"""Sweeps: methods x configs x seeds over one built dataset, resumable.

``run_sweep`` plans every run up front (resolving model, training config and the manifest
fingerprint, hence each ``run_id``), skips the runs the results store already holds, and hands
the rest to a backend, writing each row the moment it arrives. Killing a sweep and re-running
the same call resumes it: finished runs are skipped, none is duplicated (a part file is named
by its ``run_id``) and none is lost except those in flight.
"""

from __future__ import annotations

import json
import math
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from cnlbench.errors import HarnessError
from cnlbench.harness.backends import Backend, make_backend
from cnlbench.harness.data import noise_kind_and_level, open_built, resolve_device
from cnlbench.harness.identity import RunSpec
from cnlbench.harness.methods.base import get_method
from cnlbench.harness.models import model_info
from cnlbench.harness.progress import SweepProgress, start_reporter
from cnlbench.harness.store import ResultsStore
from cnlbench.harness.train_config import default_model, default_train_config
from cnlbench.harness.tuning import (
    TUNING_SEED,
    TunedSettings,
    load_tuned,
    method_grid,
    summarise,
    tuning_config,
    write_tuned,
)


def match_configs(patterns: Sequence[str], available: Sequence[str]) -> list[str]:
    """Config names matching ``patterns`` (exact names or globs like ``sym-*``), in the
    dataset's order; a pattern matching nothing is a :class:`HarnessError` listing the valid
    names (:func:`cnlbench.manifest.reader.match_configs`)."""
    from cnlbench.manifest.reader import match_configs as match

    return match(patterns, available, error=HarnessError)


def parse_param(text: str) -> tuple[str, str, Any]:
    """``method.key=value`` -> (method, key, value); the value is parsed as JSON when it can
    be (``0.7``, ``true``, ``[1, 2]``) and kept as a string otherwise."""
    lhs, sep, raw = text.partition("=")
    method, dot, key = lhs.partition(".")
    if not sep or not dot or not method or not key:
        raise HarnessError(f"--param {text!r} is not METHOD.KEY=VALUE; e.g. --param gce.q=0.7")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return method, key, value


def check_method_params(methods: Sequence[str], params: dict[str, dict[str, Any]]) -> None:
    """No methods, a repeated method, unknown methods, parameters for methods not in the sweep,
    unknown parameter names and values of the wrong type (:func:`check_param_value`) are errors
    naming the valid choices."""
    if not methods:
        raise HarnessError("no methods given; pass --methods names, e.g. --methods ce,gce")
    for i, m in enumerate(methods):
        if m in methods[:i]:
            raise HarnessError(f"method {m!r} is given twice in --methods {list(methods)}; each run would be "
                               "trained twice. Name each method once")
        get_method(m)
    for m, kv in params.items():
        if m not in methods:
            raise HarnessError(f"--param names method {m!r}, which is not in --methods {list(methods)}")
        valid = get_method(m).defaults
        unknown = set(kv) - set(valid)
        if unknown:
            raise HarnessError(f"method {m!r} has no parameter(s) {sorted(unknown)}; valid parameters: {sorted(valid)}")
        for k, v in kv.items():
            check_param_value(m, k, v, valid[k])


def check_param_value(method: str, key: str, value: Any, default: Any) -> None:
    """A method parameter's value must have the type of its default (a finite number for a
    number, an integer for an integer, true/false, a string, a list); a default of None takes
    any JSON value. Catches ``--param gce.q=abc`` before any run trains."""
    where = f"--param {method}.{key}={json.dumps(value, allow_nan=True)[:60]}"
    if default is None:
        return
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        want = "a finite number"
        if ok and isinstance(default, int) and not float(value).is_integer():
            ok, want = False, "an integer"
    elif isinstance(default, str):
        ok, want = isinstance(value, str), "a string"
    elif isinstance(default, (list, tuple)):
        ok, want = isinstance(value, list), "a JSON list"
    else:  # pragma: no cover - every default today is one of the above
        return
    if not ok:
        raise HarnessError(f"{where}: {method}.{key} takes {want} (default {default!r}); got {type(value).__name__} "
                           f"{value!r:.60}")


@dataclass
class SweepResult:
    """What a sweep did: planned run_ids, how many were skipped (already in the store),
    written now, and failed now; damaged parts set aside (their new path, why) and trained
    again; runs skipped because their stored row failed (``--retry-failed`` re-runs them)."""

    store: ResultsStore
    run_ids: list[str]
    skipped: int = 0
    written: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    damaged: list[tuple[Path, str]] = field(default_factory=list)
    failed_kept: int = 0

    def rows(self) -> list[dict[str, Any]]:
        """The store's rows for this sweep's runs."""
        wanted = set(self.run_ids)
        return [r for r in self.store.read().to_pylist() if r["run_id"] in wanted]


#: Seeds are stored as int64; a seed count above this is surely a mistake.
MAX_SEED = 2**63 - 1
MAX_SEED_COUNT = 10_000


def _seed_list(seeds: int | Iterable[int]) -> list[int]:
    """A count (seeds 0..n-1) or explicit seeds, checked: each an integer in [0, 2**63 - 1], no
    seed twice (it would train the same run twice), a count of at most 10,000."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if not 1 <= seeds <= MAX_SEED_COUNT:
            raise HarnessError(f"--seeds {seeds} is a count of seeds (0..N-1) and must be in 1..{MAX_SEED_COUNT}; "
                               "pass explicit seeds as a list, e.g. --seeds 5,17")
        return list(range(seeds))
    seed_list = []
    for s in seeds:
        try:
            if isinstance(s, bool):
                raise TypeError
            seed_list.append(operator.index(s))
        except TypeError:
            raise HarnessError(f"seed {s!r:.40} is not an integer; seeds are integers in [0, 2**63 - 1]") from None
        if not 0 <= seed_list[-1] <= MAX_SEED:
            raise HarnessError(f"seed {s!r:.40} must be an integer in [0, 2**63 - 1] (results stores keep seeds as int64)")
    if not seed_list:
        raise HarnessError("no seeds to run; pass --seeds N (N >= 1) or a list of seeds")
    dup = sorted({s for i, s in enumerate(seed_list) if s in seed_list[:i]})
    if dup:
        raise HarnessError(f"seed(s) {dup} given twice in {seed_list[:20]}; each would train the same run twice. "
                           "Name each seed once")
    return seed_list


def _base_train(ds: Any, chosen: Sequence[str], model: str | None, epochs: int | None,
                train_overrides: dict[str, Any] | None) -> tuple[str, Any]:
    """(model, training config): the model by image size unless given, its reference budget
    (the ``train_defaults`` its model file registers) and the overrides."""
    if model is None:
        h = ds.split(chosen[0], "test").images_uint8().shape[1]
        model = default_model(int(h))
    model_info(model)
    overrides = dict(train_overrides or {})
    if epochs is not None:
        overrides["epochs"] = int(epochs)
    train = default_train_config(model, str(ds.name), **overrides)
    if not (isinstance(train.lr, (int, float)) and math.isfinite(train.lr) and train.lr > 0):
        raise HarnessError(f"learning rate --lr {train.lr!r} must be a finite number > 0, e.g. --lr 0.05")
    return model, train


def plan_sweep(dataset_dir: str | Path, methods: Sequence[str], configs: Sequence[str],
               seeds: int | Iterable[int], *, model: str | None = None, epochs: int | None = None,
               device: str = "auto", method_params: dict[str, dict[str, Any]] | None = None,
               train_overrides: dict[str, Any] | None = None, image_root: str | Path | None = None,
               tuned: TunedSettings | str | Path | None = None,
               ) -> tuple[str, dict[str, str], list[RunSpec]]:
    """(dataset name, config -> fingerprint, resolved specs) for the cross product.

    ``tuned`` (a :class:`~cnlbench.harness.tuning.TunedSettings` or its file): each run takes
    its method's frozen setting for the config's noise kind (method parameters and a learning-
    rate multiplier), recorded in the row's ``tuning`` column."""
    ds = open_built(dataset_dir, image_root)
    chosen = match_configs(configs, ds.configs)
    method_params = method_params or {}
    check_method_params(list(methods), method_params)
    seed_list = _seed_list(seeds)
    model, train = _base_train(ds, chosen, model, epochs, train_overrides)
    fingerprints = {c: str(ds.fingerprint(c)) for c in chosen}
    if tuned is not None and not isinstance(tuned, TunedSettings):
        tuned = load_tuned(tuned)
    if tuned is not None:
        tuned.check(str(ds.name), methods, model)
    specs = []
    has_t = {c: ds.transition_matrix(c) is not None for c in chosen}
    for m in methods:
        if get_method(m).needs_noise_matrix and not any(has_t.values()):
            raise HarnessError(f"method {m!r} needs the config's transition matrix T and none of {chosen} has one "
                               "(web and external-label configs have none); pick configs with a T, e.g. sym-* or "
                               "asym-*, or a method that estimates T (forward-that, backward-that)")
    for c in chosen:
        kind = noise_kind_and_level(c, ds.split(c, "train").metadata)[0]
        for m in methods:
            if get_method(m).needs_noise_matrix and not has_t[c]:
                continue  # true-T methods run only where the config has a T (as in plan_tuning)
            params, cfg, tuning = dict(method_params.get(m, {})), train, ""
            if tuned is not None:
                params, lr, tuning = tuned.apply(m, kind, train.lr, params)
                cfg = train.replace(lr=lr)
            specs += [RunSpec(dataset_dir=str(dataset_dir), config=c, method=m, seed=s, model=model,
                              method_params=params, train=cfg, device=device,
                              image_root=None if image_root is None else str(image_root),
                              fingerprint=fingerprints[c], tuning=tuning)
                      for s in seed_list]
    return str(ds.name), fingerprints, specs


def plan_tuning(dataset_dir: str | Path, methods: Sequence[str], configs: Sequence[str] | None = None, *,
                seeds: int | Iterable[int] = (TUNING_SEED,), model: str | None = None,
                epochs: int | None = None, device: str = "auto",
                grids: dict[str, dict[str, list[Any]]] | None = None,
                train_overrides: dict[str, Any] | None = None, image_root: str | Path | None = None,
                ) -> tuple[dict[str, Any], list[RunSpec]]:
    """(plan, specs) of a tuning sweep: every method's grid (:func:`~cnlbench.harness.tuning.method_grid`)
    on one mid-level config per noise kind (``configs``: names or globs to choose among,
    default all), each setting run once per seed. ``plan`` is what
    :func:`~cnlbench.harness.tuning.summarise` needs."""
    ds = open_built(dataset_dir, image_root)
    pool = match_configs(list(configs) if configs else ["*"], ds.configs)
    check_method_params(list(methods), {})
    grids = grids or {}
    unknown = sorted(set(grids) - set(methods))
    if unknown:
        raise HarnessError(f"tuning grid names method(s) {unknown} that are not in --methods {list(methods)}")
    settings = {m: method_grid(m, grids.get(m)) for m in methods}
    seed_list = _seed_list(seeds)
    kind_of = {c: noise_kind_and_level(c, ds.split(c, "train").metadata) for c in pool}
    kinds = tuning_config(pool, kind_of)
    if not kinds:
        raise HarnessError(f"no config to tune on among {pool}: tuning needs a noisy config (level > 0) per noise kind")
    model, train = _base_train(ds, [kinds[sorted(kinds)[0]]], model, epochs, train_overrides)
    fingerprints = {c: str(ds.fingerprint(c)) for c in kinds.values()}
    specs, trials = [], {}
    for kind, c in sorted(kinds.items()):
        for m in methods:
            if get_method(m).needs_noise_matrix and ds.transition_matrix(c) is None:
                continue  # true-T methods exist only where the config has a matrix
            for st in settings[m]:
                cfg = train.replace(lr=train.lr * st.lr_mult)
                for s in seed_list:
                    spec = RunSpec(dataset_dir=str(dataset_dir), config=c, method=m, seed=s, model=model,
                                   method_params=dict(st.params), train=cfg, device=device,
                                   image_root=None if image_root is None else str(image_root),
                                   fingerprint=fingerprints[c], tuning=json.dumps({"trial": st.to_json()}, sort_keys=True))
                    specs.append(spec)
                    trials[spec.run_id] = (kind, m, st.to_json())
    plan = {"dataset": str(ds.name), "model": model, "train": json.loads(train.to_json()), "kinds": kinds,
            "n_val": {k: len(ds.split(c, "validation").ids) for k, c in kinds.items()}, "fingerprints": fingerprints, "seeds": seed_list, "trials": trials}
    return plan, specs


def run_sweep(dataset_dir: str | Path, methods: Sequence[str], configs: Sequence[str],
              seeds: int | Iterable[int], out: str | Path, *, backend: str | Backend = "local",
              jobs: int = 1, address: str | None = None, model: str | None = None,
              epochs: int | None = None, device: str = "auto",
              method_params: dict[str, dict[str, Any]] | None = None,
              train_overrides: dict[str, Any] | None = None, image_root: str | Path | None = None,
              retry_failed: bool = False, progress: bool = True, pack: int = 1,
              tuned: TunedSettings | str | Path | None = None) -> SweepResult:
    """Run every (config, method, seed) not yet in the store at ``out``; see module docs.

    ``seeds``: a count (seeds 0..n-1) or explicit seeds. ``retry_failed`` re-runs runs whose
    stored row failed (their row is replaced). ``pack``: train up to that many compatible runs
    together on one device (local backend; see :mod:`cnlbench.harness.multirun`). ``tuned``:
    the frozen settings of ``cnlbench tune`` (see :func:`plan_sweep`)."""
    name, fingerprints, specs = plan_sweep(
        dataset_dir, methods, configs, seeds, model=model, epochs=epochs, device=device,
        method_params=method_params, train_overrides=train_overrides, image_root=image_root, tuned=tuned)
    return execute(name, fingerprints, specs, out, backend=backend, jobs=jobs, address=address,
                   retry_failed=retry_failed, progress=progress, pack=pack)


def execute(name: str, fingerprints: dict[str, str], specs: Sequence[RunSpec], out: str | Path, *,
            backend: str | Backend = "local", jobs: int = 1, address: str | None = None,
            retry_failed: bool = False, progress: "bool | SweepProgress" = True, pack: int = 1,
            desc: str = "sweep") -> SweepResult:
    """Run the planned ``specs`` not yet in the store at ``out`` (resumable), writing each row
    as it arrives; shared by :func:`run_sweep` and :func:`run_tuning`.

    ``progress``: a :class:`~cnlbench.harness.progress.SweepProgress` to report to, True for a
    default one (live bars on a terminal, plain lines elsewhere, on stderr), False for silence."""
    runner = (make_backend(backend, jobs=jobs, address=address, pack=pack)
              if isinstance(backend, str) else backend)
    if not (backend == "ray" and address):  # a remote cluster's devices are not visible here
        for device in sorted({s.device for s in specs}):
            resolve_device(device)
    store = ResultsStore(out)
    with store.locked():  # one writer per store: a second is refused, naming this process
        store.clean_temporaries()
        damaged = store.set_aside_damaged()
        store.check_fingerprints(name, fingerprints)
        done = store.finished(include_failed=not retry_failed)
        todo = [s for s in specs if s.run_id not in done]
        result = SweepResult(store, [s.run_id for s in specs], skipped=len(specs) - len(todo), damaged=damaged)
        if not retry_failed:
            ok = store.finished(include_failed=False)
            result.failed_kept = sum(1 for s in specs if s.run_id in done and s.run_id not in ok)
        reporter = start_reporter(progress, name, todo, runner, skipped=result.skipped,
                                  verb="eval" if desc == "sweep" else desc)
        try:
            rows = runner.map(todo) if reporter is None else reporter.map(runner, todo)
            for row in rows:
                store.write(row)
                result.written += 1
                if row["status"] != "ok":
                    result.failed.append(row)
                if reporter is not None:
                    reporter.on_run(row)
        finally:
            if reporter is not None:
                reporter.close()
    return result


def run_tuning(dataset_dir: str | Path, methods: Sequence[str], out: str | Path, write: str | Path, *,
               configs: Sequence[str] | None = None, seeds: int | Iterable[int] = (TUNING_SEED,),
               grids: dict[str, dict[str, list[Any]]] | None = None, backend: str | Backend = "local",
               jobs: int = 1, address: str | None = None, model: str | None = None,
               epochs: int | None = None, device: str = "auto", train_overrides: dict[str, Any] | None = None,
               image_root: str | Path | None = None, retry_failed: bool = False,
               progress: "bool | SweepProgress" = True, pack: int = 1) -> tuple[SweepResult, dict[str, Any]]:
    """Tune every method on equal terms (:mod:`cnlbench.harness.tuning`): run the grids into
    the results store ``out`` (resumable), select on the noisy validation split and write the
    tuned-settings file ``write``. Returns (sweep result, tuned-settings document)."""
    plan, specs = plan_tuning(dataset_dir, methods, configs, seeds=seeds, model=model, epochs=epochs,
                              device=device, grids=grids, train_overrides=train_overrides, image_root=image_root)
    result = execute(plan["dataset"], plan["fingerprints"], specs, out, backend=backend, jobs=jobs,
                     address=address, retry_failed=retry_failed, progress=progress, pack=pack, desc="tuning")
    doc = summarise(result.rows(), plan)
    write_tuned(doc, write)
    return result, doc


__all__ = ["SweepResult", "check_method_params", "execute", "match_configs", "parse_param", "plan_sweep",
           "plan_tuning", "run_sweep", "run_tuning"]
