"""Clean datasets behind one small interface (see :mod:`cnlbench.sources.base`)."""

from cnlbench.sources.base import (
    ImageAccess,
    Source,
    SplitData,
    make_source,
    register_source,
    source_kinds,
)
from cnlbench.sources.views import BytesImages

__all__ = [
    "BytesImages",
    "ImageAccess",
    "Source",
    "SplitData",
    "make_source",
    "register_source",
    "source_kinds",
]
