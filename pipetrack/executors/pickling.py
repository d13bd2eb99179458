"""cloudpickle for shipping a step's function by value, keeping where its code came from.

cloudpickle replaces every pickled code object's file name with ``<dynamic-code>`` (so that
payloads do not depend on where a function was defined), which leaves a failing step's
traceback reading ``File "<dynamic-code>", line 7``. Shipped functions are never hashed by
their pickle (cache keys hash the source, see pipelines/cache.py), so here the file name is
kept: each code object is pickled by cloudpickle's own reducer and renamed back on load, and
the traceback names the user's file and line (with its text, where that file exists).
"""
from __future__ import annotations

import io
import types
from collections import ChainMap
from typing import Any

import cloudpickle

_STRIPPED = "<dynamic-code>"


def _code_with_filename(code: types.CodeType, filename: str) -> types.CodeType:
    return code.replace(co_filename=filename)


def _reduce_code(code: types.CodeType) -> Any:
    if code.co_filename == _STRIPPED:
        return cloudpickle.Pickler.dispatch_table[types.CodeType](code)
    return _code_with_filename, (code.replace(co_filename=_STRIPPED), code.co_filename)


class _Pickler(cloudpickle.Pickler):
    dispatch_table = ChainMap({types.CodeType: _reduce_code}, cloudpickle.Pickler.dispatch_table)


def dumps_keeping_source(obj: Any) -> bytes:
    """``cloudpickle.dumps(obj)``, but functions pickled by value keep their source file name."""
    with io.BytesIO() as buffer:
        _Pickler(buffer).dump(obj)
        return buffer.getvalue()
