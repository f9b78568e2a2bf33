"""A restricted unpickler for the pickles real datasets ship (never executes pickled code).

The CIFAR python release (``data_batch_1``, ``batches.meta``, ``cifar-100-python/train``) and
the CIFAR-N ``.pt`` files (a torch ZIP archive whose ``archive/data.pkl`` pickles a dict of
numpy arrays) contain only dicts, lists, tuples, str/bytes, ints, floats and numpy arrays.
:class:`RestrictedUnpickler` rebuilds exactly that and refuses every other global with a
:class:`~cnlbench.errors.SourceError` naming it, so a hostile file (a ``__reduce__`` calling
``os.system``) fails before any of its code runs.

Allowed globals (and why):

* ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct``: numpy's
  array pickling; wrapped so the subtype must be exactly ``numpy.ndarray``.
* ``numpy.ndarray``, ``numpy.dtype``: the array type and its dtype (object dtypes refused).
* ``numpy.core.multiarray.scalar`` / ``numpy._core.multiarray.scalar``: numpy scalars
  (non-object dtypes only).
* ``numpy.core.numeric._frombuffer`` / ``numpy._core.numeric._frombuffer``: arrays in
  protocol-5 pickles (non-object dtypes only; the data is copied).
* ``_codecs.encode``: protocol-2 pickles written by Python 3 store ``bytes`` as
  ``_codecs.encode(str, "latin1")``; wrapped so only the latin-1 codec is accepted.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnlbench.errors import SourceError

__all__ = ["RestrictedUnpickler", "loads_restricted", "load_restricted"]


def _np_multiarray() -> Any:
    return np._core.multiarray  # numpy >= 2 (numpy.core is a deprecated alias)


def _refuse_object_dtype(dtype: np.dtype, what: str) -> None:
    if dtype.hasobject:
        raise SourceError(
            f"refusing {what} with object dtype {dtype}: only plain numeric/string arrays are "
            "allowed in dataset pickles; re-save the file with a non-object dtype"
        )


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise SourceError(
            f"refusing numpy _reconstruct of subtype {subtype!r}: only numpy.ndarray is allowed; "
            "the file is not a plain dataset pickle"
        )
    return _np_multiarray()._reconstruct(np.ndarray, shape, dtype)


def _dtype(*args: Any) -> np.dtype:
    dt = np.dtype(*args)
    _refuse_object_dtype(dt, "numpy.dtype")
    return dt


def _scalar(dtype: np.dtype, *args: Any) -> Any:
    if not isinstance(dtype, np.dtype):
        raise SourceError(f"refusing numpy scalar with dtype argument {dtype!r}")
    _refuse_object_dtype(dtype, "numpy scalar")
    return _np_multiarray().scalar(dtype, *args)


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
    dt = np.dtype(dtype) if not isinstance(dtype, np.dtype) else dtype
    _refuse_object_dtype(dt, "numpy _frombuffer")
    return _np_core_numeric()._frombuffer(bytes(buf), dt, tuple(shape), order)


def _np_core_numeric() -> Any:
    return np._core.numeric


def _codecs_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    if not isinstance(obj, str) or encoding.lower().replace("-", "") not in ("latin1", "iso88591"):
        raise SourceError(
            f"refusing _codecs.encode({type(obj).__name__}, {encoding!r}): only latin-1 "
            "encoding of str (how protocol-2 pickles store bytes) is allowed"
        )
    return obj.encode("latin1", errors)


_ALLOWED: dict[tuple[str, str], Callable[..., Any] | type] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _codecs_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only the globals listed in this module's docstring.

    Persistent ids (torch tensor storages) are refused as well: the CIFAR-N files hold numpy
    arrays, not tensors.
    """

    def __init__(self, file: io.BufferedIOBase, *, name: str = "<pickle>", encoding: str = "ASCII"):
        super().__init__(file, encoding=encoding)
        self._name = name

    def find_class(self, module: str, name: str) -> Any:  # noqa: D401 - pickle API
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise SourceError(
                f"{self._name}: refusing to load global {module}.{name}; dataset pickles may "
                "only contain dicts, lists, strings and numpy arrays. The file is not the "
                "expected dataset file (or was tampered with): re-download it from its source"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise SourceError(
            f"{self._name}: refusing persistent id {str(pid)[:80]!r} (a torch tensor storage); "
            "only numpy arrays are supported; re-save the labels as numpy arrays"
        )


def _check_no_objects(obj: Any, name: str, depth: int = 0) -> None:
    """Refuse object arrays anywhere in the result (they could only hold allowed types, but
    nothing a dataset file needs is stored that way)."""
    if depth > 50:
        raise SourceError(f"{name}: pickle nests deeper than 50 levels; not a dataset file")
    if isinstance(obj, np.ndarray):
        _refuse_object_dtype(obj.dtype, f"{name}: array")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_no_objects(k, name, depth + 1)
            _check_no_objects(v, name, depth + 1)
    elif isinstance(obj, (list, tuple)) and obj and not isinstance(obj[0], (int, float, bytes, str)):
        for v in obj:
            _check_no_objects(v, name, depth + 1)


def loads_restricted(data: bytes, *, name: str = "<pickle>", encoding: str = "ASCII") -> Any:
    """Unpickle ``data`` allowing only plain containers and numpy arrays.

    ``encoding`` is passed to :class:`pickle.Unpickler`: use ``"bytes"`` for Python 2 pickles
    (the CIFAR python release), which keeps their ``str`` objects as ``bytes``.
    Raises :class:`SourceError` naming the refused global, or when the data is not a pickle.
    """
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), name=name, encoding=encoding).load()
    except SourceError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError) as e:
        raise SourceError(
            f"{name}: not a readable dataset pickle ({type(e).__name__}: {e}); the file is "
            "truncated or corrupt: re-download it"
        ) from e
    _check_no_objects(obj, name)
    return obj


def load_restricted(path: str | Path, *, encoding: str = "ASCII") -> Any:
    """:func:`loads_restricted` on the content of the file at ``path``."""
    path = Path(path)
    return loads_restricted(path.read_bytes(), name=str(path), encoding=encoding)
