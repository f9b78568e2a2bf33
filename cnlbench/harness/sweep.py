"""Sweeps: methods x configs x seeds over one built dataset, resumable.

``run_sweep`` plans every run up front (resolving model, training config and the manifest
fingerprint, hence each ``run_id``), skips the runs the results store already holds, and hands
the rest to a backend, writing each row the moment it arrives. Killing a sweep and re-running
the same call resumes it: finished runs are skipped, none is duplicated (a part file is named
by its ``run_id``) and none is lost except those in flight.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from cnlbench.errors import HarnessError
from cnlbench.harness.backends import Backend, make_backend
from cnlbench.harness.data import open_built
from cnlbench.harness.engine import RunSpec, default_model, default_train_config
from cnlbench.harness.methods.base import get_method
from cnlbench.harness.models import model_info
from cnlbench.harness.store import ResultsStore


def match_configs(patterns: Sequence[str], available: Sequence[str]) -> list[str]:
    """Config names matching ``patterns`` (exact names or globs like ``sym-*``), in the
    dataset's order; a pattern matching nothing is an error listing the valid names."""
    chosen: list[str] = []
    for pat in patterns:
        hits = [c for c in available if fnmatch.fnmatchcase(c, pat)]
        if not hits:
            raise HarnessError(f"config {pat!r} matches no config of this dataset; valid configs: {list(available)}")
        chosen += [c for c in hits if c not in chosen]
    return [c for c in available if c in chosen]


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
    """Unknown methods, parameters for methods not in the sweep, and unknown parameter names
    are errors naming the valid choices."""
    for m in methods:
        get_method(m)
    for m, kv in params.items():
        if m not in methods:
            raise HarnessError(f"--param names method {m!r}, which is not in --methods {list(methods)}")
        valid = get_method(m).defaults
        unknown = set(kv) - set(valid)
        if unknown:
            raise HarnessError(f"method {m!r} has no parameter(s) {sorted(unknown)}; valid parameters: {sorted(valid)}")


@dataclass
class SweepResult:
    """What a sweep did: planned run_ids, how many were skipped (already in the store),
    written now, and failed now."""

    store: ResultsStore
    run_ids: list[str]
    skipped: int = 0
    written: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """The store's rows for this sweep's runs."""
        wanted = set(self.run_ids)
        return [r for r in self.store.read().to_pylist() if r["run_id"] in wanted]


def plan_sweep(dataset_dir: str | Path, methods: Sequence[str], configs: Sequence[str],
               seeds: int | Iterable[int], *, model: str | None = None, epochs: int | None = None,
               device: str = "auto", method_params: dict[str, dict[str, Any]] | None = None,
               train_overrides: dict[str, Any] | None = None, image_root: str | Path | None = None,
               ) -> tuple[str, dict[str, str], list[RunSpec]]:
    """(dataset name, config -> fingerprint, resolved specs) for the cross product."""
    ds = open_built(dataset_dir, image_root)
    chosen = match_configs(configs, ds.configs)
    method_params = method_params or {}
    check_method_params(list(methods), method_params)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise HarnessError("no seeds to run; pass --seeds N (N >= 1) or a list of seeds")
    if model is None:
        h = ds.split(chosen[0], "test").images_uint8().shape[1]
        model = default_model(int(h))
    model_info(model)
    overrides = dict(train_overrides or {})
    if epochs is not None:
        overrides["epochs"] = int(epochs)
    train = default_train_config(model, str(ds.name), **overrides)
    fingerprints = {c: str(ds.fingerprint(c)) for c in chosen}
    specs = [
        RunSpec(dataset_dir=str(dataset_dir), config=c, method=m, seed=s, model=model,
                method_params=dict(method_params.get(m, {})), train=train, device=device,
                image_root=None if image_root is None else str(image_root), fingerprint=fingerprints[c])
        for c in chosen for m in methods for s in seed_list
    ]
    return str(ds.name), fingerprints, specs


def run_sweep(dataset_dir: str | Path, methods: Sequence[str], configs: Sequence[str],
              seeds: int | Iterable[int], out: str | Path, *, backend: str | Backend = "local",
              jobs: int = 1, address: str | None = None, model: str | None = None,
              epochs: int | None = None, device: str = "auto",
              method_params: dict[str, dict[str, Any]] | None = None,
              train_overrides: dict[str, Any] | None = None, image_root: str | Path | None = None,
              retry_failed: bool = False, progress: bool = True, pack: int = 1) -> SweepResult:
    """Run every (config, method, seed) not yet in the store at ``out``; see module docs.

    ``seeds``: a count (seeds 0..n-1) or explicit seeds. ``retry_failed`` re-runs runs whose
    stored row failed (their row is replaced). ``pack``: train up to that many compatible runs
    together on one device (local backend; see :mod:`cnlbench.harness.multirun`)."""
    name, fingerprints, specs = plan_sweep(
        dataset_dir, methods, configs, seeds, model=model, epochs=epochs, device=device,
        method_params=method_params, train_overrides=train_overrides, image_root=image_root)
    store = ResultsStore(out)
    store.clean_temporaries()
    store.check_fingerprints(name, fingerprints)
    done = store.finished(include_failed=not retry_failed)
    todo = [s for s in specs if s.run_id not in done]
    result = SweepResult(store, [s.run_id for s in specs], skipped=len(specs) - len(todo))
    runner = (make_backend(backend, jobs=jobs, address=address, pack=pack)
              if isinstance(backend, str) else backend)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(specs), initial=result.skipped, unit="run", desc=f"{name} sweep")
    try:
        for row in runner.map(todo):
            store.write(row)
            result.written += 1
            if row["status"] != "ok":
                result.failed.append(row)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(failed=len(result.failed))
    finally:
        if bar is not None:
            bar.close()
    return result


__all__ = ["SweepResult", "check_method_params", "match_configs", "parse_param", "plan_sweep", "run_sweep"]
