"""Exceptions shared by every layer.

Every error names the bad value and says how to fix it. They subclass ``ValueError`` (or
``FileNotFoundError``) so callers that already catch those keep working.
"""

from __future__ import annotations


class CnlbenchError(ValueError):
    """Base class: bad input to cnlbench. The message names the value and the fix."""


class NoiseSpecError(CnlbenchError):
    """An infeasible or malformed noise request (level, matrix, labels)."""


class SourceError(CnlbenchError):
    """A dataset source is malformed, hostile or inconsistent."""


class MissingDataError(FileNotFoundError):
    """A file or folder cnlbench was given or needs is not on disk (a recipe, its data, a
    submission, a results store, a dataset folder); the message names the path and says what
    to pass, download or restore."""


class ManifestError(CnlbenchError):
    """A manifest or dataset folder is malformed, tampered with, or does not match."""


class RecipeError(CnlbenchError):
    """A recipe YAML is malformed."""


class HarnessError(CnlbenchError):
    """Bad harness input: unknown method/model/config, mismatched results store."""


class SubmissionError(CnlbenchError):
    """A leaderboard submission failed validation; the message names the field."""


class StoreLockedError(HarnessError):
    """Another live process is writing into the same results store; the message names it."""


class DamagedPartError(HarnessError):
    """Part files of a results store cannot be read; the message names each file and the fix."""


class DeviceError(HarnessError):
    """A requested training device is unknown or not present on this machine."""


class UnreadableResultsError(CnlbenchError):
    """A results file cannot be read (truncated, corrupt, not Parquet/CSV); ``path`` and
    ``reason`` say which and why."""

    def __init__(self, message: str, path: str = "", reason: str = ""):
        super().__init__(message)
        self.path, self.reason = path, reason
