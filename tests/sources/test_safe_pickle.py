"""The restricted unpickler rebuilds dataset pickles and refuses (without running) anything else."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from cnlbench.errors import SourceError
from cnlbench.sources.safe_pickle import load_restricted, loads_restricted


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize(
    "arr",
    [np.arange(7, dtype=np.int64), np.zeros((3, 3072), np.uint8), np.array([1.5, -2.0]), np.array(["a", "bc"])],
    ids=["int64", "uint8-2d", "float64", "unicode"],
)
def test_roundtrips_plain_containers_and_arrays(protocol, arr):
    obj = {"x": arr, b"labels": [1, 2, 3], "t": (1, "s", b"b"), "n": None, "f": 1.5, "scalar": np.int64(4)}
    out = loads_restricted(pickle.dumps(obj, protocol=protocol))
    np.testing.assert_array_equal(out["x"], arr)
    assert out["x"].dtype == arr.dtype
    assert out[b"labels"] == [1, 2, 3] and out["t"] == (1, "s", b"b") and out["scalar"] == 4


def test_python2_style_bytes_with_encoding_bytes(tmp_path):
    # CIFAR batches are Python 2 pickles read with encoding="bytes"; protocol-2 bytes written by
    # Python 3 use _codecs.encode, which is allowed for latin-1 only.
    p = tmp_path / "batch"
    p.write_bytes(pickle.dumps({b"data": np.ones((2, 4), np.uint8), b"filenames": [b"a.png"]}, protocol=2))
    out = load_restricted(p, encoding="bytes")
    assert out[b"filenames"] == [b"a.png"]
    assert out[b"data"].shape == (2, 4)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_refuses_code_execution_and_does_not_run_it(tmp_path, protocol):
    marker = tmp_path / "pwned"
    data = pickle.dumps({"labels": np.arange(3), "evil": _Evil(marker)}, protocol=protocol)
    with pytest.raises(SourceError, match=r"(posix|os|nt)\.system"):
        loads_restricted(data, name="evil.pkl")
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload, refused",
    [
        (_EvalEvil(), "(__builtin__|builtins).eval"),
        (np.array([object()], dtype=object), "object dtype"),
        (np.ma.masked_array([1, 2]), "numpy.ma"),
    ],
    ids=["eval", "object-array", "ndarray-subclass"],
)
def test_refuses_other_globals_naming_them(payload, refused):
    with pytest.raises(SourceError, match=refused.replace(".", r"\.")):
        loads_restricted(pickle.dumps(payload, protocol=2), name="f.pkl")


def test_refuses_non_latin1_codecs():
    import _codecs  # noqa: F401

    class Enc:
        def __reduce__(self):
            return (_codecs.encode, ("abc", "rot13"))

    with pytest.raises(SourceError, match="rot13"):
        loads_restricted(pickle.dumps(Enc(), protocol=2))


def test_refuses_persistent_ids_and_garbage():
    import io

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage" if isinstance(obj, bytearray) else None

    buf = io.BytesIO()
    P(buf, protocol=2).dump({"t": bytearray(b"x")})
    with pytest.raises(SourceError, match="persistent id"):
        loads_restricted(buf.getvalue())
    with pytest.raises(SourceError, match="truncated or corrupt"):
        loads_restricted(pickle.dumps({"a": np.arange(5)}, protocol=2)[:-10])
