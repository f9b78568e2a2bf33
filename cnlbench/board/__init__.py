"""The board layer: statistics with 95% intervals, validated submissions, the leaderboard.

Submodules: ``stats`` (pure numpy/scipy), ``results`` (tolerant results-store reader),
``table`` (every number of a table, computed once), ``grid``/``markdown``/``html``/``plots``
(renderers), ``leaderboard`` (writes the folder), ``submission`` (schema v1, validation).
Plotting imports matplotlib lazily.
"""

from cnlbench.board.results import read_results
from cnlbench.board.stats import Interval
from cnlbench.board.submission import make_submission, validate_submission
from cnlbench.board.table import build_tables

__all__ = ["Interval", "build_tables", "make_submission", "read_results", "validate_submission", "write_leaderboard"]


def __getattr__(name: str):
    if name == "write_leaderboard":  # pulls in the renderers; keep `import cnlbench.board` light
        from cnlbench.board.leaderboard import write_leaderboard

        return write_leaderboard
    raise AttributeError(name)
