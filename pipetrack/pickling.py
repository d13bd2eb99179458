"""cloudpickle for shipping a step's function by value, keeping where its code came from.

cloudpickle replaces every pickled code object's file name with ``<dynamic-code>`` (so that
payloads do not depend on where a function was defined), which leaves a failing step's
traceback reading ``File "<dynamic-code>", line 7``. Shipped functions are never hashed by
their pickle (cache keys hash the source, see pipelines/cache.py), so here the file name is
kept: each code object is pickled by cloudpickle's own reducer and renamed back on load, and
the traceback names the user's file and line (with its text, where that file exists).

The user's own modules travel by value too (``cloudpickle.register_pickle_by_value``, for the
duration of one dump): a step function or helper defined in a module of the user's project (not
an installed package, not the standard library) must run on a Dask worker that does not have
that file. Installed packages stay by reference: the workers have them. A function whose module
can't be pickled by value (it holds a lock, a connection) is sent by reference, as before.
"""
from __future__ import annotations

import functools
import io
import os
import site
import sys
import sysconfig
import types
from collections import ChainMap
from typing import Any, Iterable

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


@functools.lru_cache(maxsize=1)
def _installed_roots() -> tuple[str, ...]:
    """Folders of the standard library, installed packages and pipetrack (computed once: sysconfig is slow)."""
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    paths.add(site.getusersitepackages())
    paths.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # pipetrack itself
    return tuple(os.path.join(os.path.abspath(p), "") for p in paths if p)


def _functions_in(obj: Any) -> Iterable[Any]:
    """``obj`` and the functions it holds one level down (a step callable's function and helpers)."""
    yield obj
    for value in getattr(obj, "__dict__", {}).values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if callable(item):
                yield item


def user_modules_of(obj: Any) -> set[str]:
    """The user's own top-level packages/modules that ``obj``'s functions live in (see the module docstring)."""
    found, roots = set(), None
    for item in _functions_in(obj):
        name = getattr(item, "__module__", None)
        if not name or name == "__main__":
            continue
        top = sys.modules.get(name.split(".")[0])
        path = getattr(top, "__file__", None)
        if top is None or not path:
            continue
        roots = roots or _installed_roots()
        if not os.path.abspath(path).startswith(roots):
            found.add(top.__name__)
    return found


def _dump(obj: Any) -> bytes:
    with io.BytesIO() as buffer:
        _Pickler(buffer).dump(obj)
        return buffer.getvalue()


def dumps_keeping_source(obj: Any) -> bytes:
    """``cloudpickle.dumps(obj)``, but functions pickled by value keep their source file name
    and the user's own modules travel by value."""
    ours = user_modules_of(obj) - cloudpickle.list_registry_pickle_by_value()
    for name in ours:
        cloudpickle.register_pickle_by_value(sys.modules[name])
    try:
        return _dump(obj)
    except Exception:  # noqa: BLE001 - by value failed: by reference still works where the module exists
        if not ours:
            raise
    finally:
        for name in ours:
            cloudpickle.unregister_pickle_by_value(sys.modules[name])
    return _dump(obj)
