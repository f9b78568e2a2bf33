"""cnlbench: controlled label-noise benchmarks.

Layers, each importing only those listed before it:
``noise`` (pure numpy) -> ``sources`` (clean data) -> ``manifest`` (Parquet + card, recipes,
builds) -> ``harness`` (GPU-first training) -> ``board`` (statistics, leaderboard) -> ``cli``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
