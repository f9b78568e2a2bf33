"""Readers for annotated web pools: the CNWL release as distributed, and generic pool tables.

One module per concept:

* :mod:`.format`: the release's files (class names, split files, annotation JSON), levels and
  image-name rules;
* :mod:`.pool`: :class:`AnnotatedPool` and the generic pool table (CSV or Parquet);
* :mod:`.stores`: where images named by file name are found (folders, a Parquet archive, the
  recipe's clean source); the store interface and the row view over stores are in
  :mod:`cnlbench.sources.views`;
* :mod:`.release`: :class:`CnwlRelease`, a release folder, and its consistency check;
* :mod:`.split_import`: one split file as manifest rows (:func:`import_split`);
* :mod:`.source`: the clean part of a release as the ``cnwl`` source kind.

Every public name is importable from this package.
"""

from cnlbench.sources.cnwl.format import (
    CLEAN_VALIDATION,
    CNWL_LEVELS,
    COLORS,
    TRAIN_IMAGE_DIR,
    VALIDATION_IMAGE_DIR,
    SplitList,
    image_subdirs,
    is_web_name,
    level_file_name,
    read_annotations,
    read_class_names,
    read_split_file,
    stem,
    write_annotations,
    write_split_file,
)
from cnlbench.sources.cnwl.pool import AnnotatedPool, read_pool_table
from cnlbench.sources.cnwl.release import CnwlRelease, ConsistencyReport
from cnlbench.sources.cnwl.source import CnwlSource
from cnlbench.sources.cnwl.split_import import MISSING_POLICIES, ImportedSplit, import_split
from cnlbench.sources.cnwl.stores import FolderImageStore, ParquetImageStore, SourceImageStore
from cnlbench.sources.views import ImageStore, StoreImages, image_available, resolve_names, searched_folders

__all__ = [
    "CLEAN_VALIDATION",
    "CNWL_LEVELS",
    "COLORS",
    "MISSING_POLICIES",
    "TRAIN_IMAGE_DIR",
    "VALIDATION_IMAGE_DIR",
    "AnnotatedPool",
    "CnwlRelease",
    "CnwlSource",
    "ConsistencyReport",
    "FolderImageStore",
    "ImageStore",
    "ImportedSplit",
    "ParquetImageStore",
    "SourceImageStore",
    "SplitList",
    "StoreImages",
    "image_available",
    "image_subdirs",
    "import_split",
    "is_web_name",
    "level_file_name",
    "read_annotations",
    "read_class_names",
    "read_pool_table",
    "read_split_file",
    "resolve_names",
    "searched_folders",
    "stem",
    "write_annotations",
    "write_split_file",
]
