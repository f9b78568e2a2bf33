"""Progress of long jobs that run in named phases (a build, an export), on stderr.

    phases = Phases("build cifar10", enabled=True)     # live bars on a terminal, else plain lines
    with phases.phase("loading the source"):
        ...
    with phases.phase("writing images", total=60_000, unit="img") as tick:
        tick(10_000)                                    # work done so far, any granularity
    phases.close()                                      # prints the total time

On a terminal each phase is a tqdm bar (with a count and rate when it has a total); elsewhere
(SLURM, nohup, a pipe) a phase prints a start line, at most one progress line every
``interval_s`` seconds, and a line with its duration when it ends. Disabled, it prints nothing.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Callable, Iterator, TextIO

__all__ = ["Phases"]


class Phases:
    """Named phases with progress; see the module docstring."""

    def __init__(self, title: str, *, enabled: bool = True, live: bool | None = None,
                 stream: TextIO | None = None, interval_s: float = 15.0):
        self.title, self.enabled, self.interval_s = title, bool(enabled), float(interval_s)
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)()) if live is None else bool(live)
        self._t0 = time.perf_counter()
        self.durations: dict[str, float] = {}

    def _line(self, text: str) -> None:
        print(f"[{self.title}] {text}", file=self.stream, flush=True)

    @contextlib.contextmanager
    def phase(self, name: str, total: int | None = None, unit: str = "") -> Iterator[Callable[[int], None]]:
        """A phase; yields ``tick(n)`` to report ``n`` more units of work done."""
        t0 = time.perf_counter()
        done = 0
        if not self.enabled:
            yield lambda n=1: None
            self.durations[name] = time.perf_counter() - t0
            return
        bar: Any = None
        if self.live:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=f"{self.title}: {name}", unit=unit or "it", file=self.stream,
                       dynamic_ncols=True, leave=True, unit_scale=bool(total and total >= 10_000))
        else:
            size = f" ({total:,} {unit})" if total else ""
            self._line(f"{name}{size} ...")
        last = [t0]

        def tick(n: int = 1) -> None:
            nonlocal done
            done += int(n)
            if bar is not None:
                bar.update(int(n))
                return
            now = time.perf_counter()
            if total and now - last[0] >= self.interval_s:
                last[0] = now
                self._line(f"{name}: {done:,}/{total:,} {unit} ({100 * done / total:.0f}%), {now - t0:.0f} s")

        outcome = "done in"
        try:
            yield tick
        except BaseException:
            outcome = "stopped after"
            raise
        finally:
            elapsed = time.perf_counter() - t0
            self.durations[name] = elapsed
            if bar is not None:
                bar.close()
            if bar is None or outcome != "done in":
                self._line(f"{name}: {outcome} {elapsed:.1f} s")

    def close(self) -> float:
        """Print the total time (when enabled); return it in seconds."""
        elapsed = time.perf_counter() - self._t0
        if self.enabled:
            self._line(f"finished in {elapsed:.1f} s")
        return elapsed
