"""Where runs execute: in this process, in local worker processes, or on a Ray cluster.

Every backend maps the SAME :func:`cnlbench.harness.engine.run_one` over picklable
:class:`~cnlbench.harness.engine.RunSpec` s and yields rows as runs finish (any order), so the
sweep writes each row the moment it exists and an interrupted sweep loses only runs in flight.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import queue
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol

from cnlbench.errors import HarnessError
from cnlbench.harness.engine import RunSpec, run_one

BACKENDS = ("local", "ray")
RunFn = Callable[[RunSpec], dict[str, Any]]


class Backend(Protocol):
    def map(self, specs: Iterable[RunSpec], fn: RunFn = run_one) -> Iterator[dict[str, Any]]:
        """Rows of ``fn(spec)`` for every spec, as they finish."""


#: How often (seconds) a local worker checks that the sweep that started it is still alive.
PARENT_POLL_S = 1.0

#: How often (seconds) the sweep process passes the workers' epoch events to its callback.
EPOCH_POLL_S = 0.25

#: How long (seconds) a finished run's row waits for the rest of its epoch events (a worker that
#: died mid-run never sends its end marker).
END_MARKER_WAIT_S = 5.0

#: A worker's queue for epoch events (set by :func:`_init_worker` when the sweep asked for them).
_EPOCH_QUEUE: Any = None


def epoch_callback(fn: Callable[..., Any]) -> Callable[[RunSpec, Mapping[str, Any]], None] | None:
    """The ``on_epoch`` callback of ``fn`` when it is ``functools.partial(run_one, on_epoch=cb)``
    (how a progress reporter asks a backend for per-epoch events), else None."""
    if isinstance(fn, functools.partial) and fn.func is run_one and not fn.args and set(fn.keywords) == {"on_epoch"}:
        return fn.keywords["on_epoch"]
    return None


def _scalars(point: Mapping[str, Any]) -> dict[str, Any]:
    """The plain (str, int, float) entries of an epoch point: what crosses the process boundary."""
    return {k: v for k, v in point.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


def _run_reporting_epochs(index: int, spec: RunSpec) -> dict[str, Any]:
    """A worker's run: :func:`run_one` with each epoch sent to the sweep process as
    ``(index, resolved spec, point)``, then ``(index, None, None)`` once the run has ended. One
    process's puts arrive in order, so the end marker follows every epoch of its run."""

    def put(item: tuple[int, Any, Any]) -> None:
        try:
            _EPOCH_QUEUE.put(item)
        except Exception:  # reporting never breaks training
            pass

    try:
        return run_one(spec, on_epoch=lambda resolved, point: put((index, resolved, _scalars(point))))
    finally:
        put((index, None, None))


def _exit_with_parent(parent: int) -> None:
    """Loop of a worker's daemon thread: end the worker (and its run in flight, which the next
    sweep trains again: its row was never written) once the sweep process that started it is
    gone, e.g. killed with SIGKILL or SIGTERM, which no ``finally`` in that process outlives."""

    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _init_worker(threads: int, parent: int, epochs: Any = None) -> None:
    """Initializer of a local worker process: its torch thread budget, a watch on its parent, and
    the queue for epoch events (None: the sweep reports whole runs)."""
    import threading

    global _EPOCH_QUEUE
    _EPOCH_QUEUE = epochs
    threading.Thread(target=_exit_with_parent, args=(parent,), name="cnlbench-parent-watch", daemon=True).start()
    _limit_threads(threads)


def _limit_threads(threads: int) -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


class LocalBackend:
    """``jobs == 1``: sequential, in this process (data stays cached between runs).
    ``jobs > 1``: that many worker processes (``spawn`` context; each worker gets
    ``cpu_count // jobs`` torch threads and keeps its own data cache, and ends itself within
    :data:`PARENT_POLL_S` seconds once the sweep process is gone, so a killed sweep leaves no
    worker training on). With ``fn = functools.partial(run_one, on_epoch=cb)`` the workers send
    every epoch back (a queue) and ``cb(spec, point)`` is called in this process, every
    :data:`EPOCH_POLL_S` seconds and for all of a run's epochs before its row is yielded; the
    point then holds its plain (str, int, float) entries."""

    def __init__(self, jobs: int = 1):
        if jobs < 1:
            raise HarnessError(f"--jobs {jobs} must be >= 1")
        self.jobs = jobs

    def map(self, specs: Iterable[RunSpec], fn: RunFn = run_one) -> Iterator[dict[str, Any]]:
        specs = list(specs)
        if self.jobs == 1 or len(specs) <= 1:
            for spec in specs:
                yield fn(spec)
            return
        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        ctx = multiprocessing.get_context("spawn")
        on_epoch = epoch_callback(fn)
        events = None if on_epoch is None else ctx.Queue()
        ended: set[int] = set()

        def deliver(wait_for: set[int]) -> None:
            """Pass queued epochs to ``on_epoch``; until the runs ``wait_for`` have ended (their
            end markers, at most :data:`END_MARKER_WAIT_S`), then what is queued."""
            deadline = time.monotonic() + END_MARKER_WAIT_S
            while events is not None:
                need = not wait_for <= ended and time.monotonic() < deadline
                try:
                    index, spec, point = events.get(timeout=0.05) if need else events.get_nowait()
                except queue.Empty:
                    if need:
                        continue
                    return
                except Exception:  # a torn queue: no more events
                    return
                if point is None:
                    ended.add(index)
                    continue
                try:
                    on_epoch(spec, point)
                except Exception:  # reporting never breaks training
                    pass

        try:
            with ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx, initializer=_init_worker,
                                     initargs=(threads, os.getpid(), events)) as pool:
                if events is None:
                    index_of = {pool.submit(fn, s): i for i, s in enumerate(specs)}
                else:
                    index_of = {pool.submit(_run_reporting_epochs, i, s): i for i, s in enumerate(specs)}
                pending = set(index_of)
                try:
                    while pending:
                        done, pending = wait(pending, timeout=EPOCH_POLL_S if events is not None else None,
                                             return_when=FIRST_COMPLETED)
                        deliver({index_of[f] for f in done})
                        for fut in done:
                            yield fut.result()
                finally:
                    for fut in pending:
                        fut.cancel()
        finally:
            if events is not None:
                events.close()


def ray_task_options(gpus_per_run: float) -> dict[str, Any]:
    """Options of the Ray task that wraps each run: one CPU, ``gpus_per_run`` GPUs (a fraction
    shares a GPU), no retries (a failed run is a ``failed`` row), and ``max_calls=0``: a worker
    process serves any number of runs. Ray's default for a task with ``num_gpus > 0`` is ONE
    call per process, so every GPU run re-imported torch and the harness (~3 s) and decoded
    its images again (CIFAR-10: 14-17 s); a reused worker keeps them, its image cache bounded
    in bytes (:data:`cnlbench.harness.data.IMAGE_CACHE_BYTES`)."""
    return {"num_cpus": 1, "num_gpus": gpus_per_run, "max_retries": 0, "max_calls": 0}


class RayBackend:
    """Ray tasks wrapping the same ``run_one`` (:func:`ray_task_options`: ``num_cpus=1`` and
    ``num_gpus=gpus_per_run`` each, a fraction packs several runs on one GPU; worker processes
    are reused). Without ``address`` a local Ray instance is started (``num_cpus`` CPUs, no
    dashboard) and shut down afterwards."""

    def __init__(self, address: str | None = None, gpus_per_run: float = 0.0, num_cpus: int | None = None):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise HarnessError("--backend ray needs Ray: `pip install 'cnlbench[ray]'`") from None
        if gpus_per_run < 0:
            raise HarnessError(f"gpus per run {gpus_per_run!r} must be >= 0 (a fraction shares a GPU)")
        self.address, self.gpus_per_run = address, gpus_per_run
        # a local instance gets every core (Ray limits each task's threads to its num_cpus=1)
        self.num_cpus = num_cpus or (os.cpu_count() or 1)

    def map(self, specs: Iterable[RunSpec], fn: RunFn = run_one) -> Iterator[dict[str, Any]]:
        import ray

        started = False
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                # offline-friendly: no usage-stats reporting unless the user asked for it
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            started = True
        try:
            remote = ray.remote(**ray_task_options(self.gpus_per_run))(fn)
            refs = [remote.remote(s) for s in specs]
            try:
                while refs:
                    done, refs = ray.wait(refs, num_returns=1)
                    yield ray.get(done[0])
            finally:
                for r in refs:
                    ray.cancel(r, force=True)
        finally:
            if started:
                ray.shutdown()


def make_backend(name: str = "local", *, jobs: int = 1, address: str | None = None,
                 gpus_per_run: float | None = None, pack: int = 1) -> Backend:
    """``local`` (``jobs`` processes) or ``ray`` (``address``; default GPUs per run: 1/jobs
    when CUDA is visible here, else 0). ``pack > 1`` (local only): up to ``pack`` compatible
    runs trained together on this process's device (:mod:`cnlbench.harness.multirun`), each
    run's numbers unchanged by its partners."""
    if pack < 1:
        raise HarnessError(f"--pack {pack} must be >= 1 (1: no packing)")
    if pack > 1:
        if name != "local" or jobs != 1:
            raise HarnessError(
                f"--pack {pack} packs runs onto this process's device; use it with --backend local "
                f"--jobs 1 (got --backend {name} --jobs {jobs}), or drop --pack")
        from cnlbench.harness.multirun import PackedBackend

        return PackedBackend(pack)
    if name == "local":
        return LocalBackend(jobs)
    if name == "ray":
        if gpus_per_run is None:
            import torch

            gpus_per_run = (1.0 / max(1, jobs)) if torch.cuda.is_available() else 0.0
        return RayBackend(address, gpus_per_run)
    raise HarnessError(f"unknown backend {name!r}; valid backends: {list(BACKENDS)}")
