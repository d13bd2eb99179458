"""How the step worker turns inputs into values: artifact references are loaded by type, and
large ``.npy`` arrays are memory-mapped copy-on-write instead of copied."""
from __future__ import annotations

import pytest

from pipetrack import steps
from pipetrack.executors import worker
from pipetrack.executors.base import ArtifactInput
from pipetrack.storage import sha256_file


def test_large_arrays_are_mapped_copy_on_write(tmp_path, monkeypatch):
    np = pytest.importorskip("numpy")
    path = tmp_path / "array.npy"
    np.save(path, np.arange(1000, dtype="float64"))
    ref = ArtifactInput(url=str(path), type="numpy", extension=".npy", hash=sha256_file(str(path)))
    monkeypatch.setattr(steps, "MAP_ARRAYS_FROM_BYTES", 1024)
    mapped = steps.load_input(ref, None)
    assert isinstance(mapped, np.ndarray) and isinstance(mapped, np.memmap)
    mapped[0] = 42.0  # writable, and private to this step
    assert np.load(path)[0] == 0.0
    monkeypatch.setattr(steps, "MAP_ARRAYS_FROM_BYTES", 10 ** 9)
    loaded = steps.load_input([ref, {"k": ref}, 3], None)
    assert type(loaded[0]) is np.ndarray and loaded[1]["k"][999] == 999.0 and loaded[2] == 3


def test_output_extensions_keep_values_exact():
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    assert worker._output_extension(np.zeros(3)) == ".npy"
    assert worker._output_extension(np.array([object()])) is None  # object arrays: the default (pickle)
    assert worker._output_extension(pd.DataFrame({"a": [1]})) == ".pkl"
    assert worker._output_extension({"a": 1}) is None
