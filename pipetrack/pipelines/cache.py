"""Step caching: the code fingerprint and the cache key, spelled out in two short functions.

``cache_key = sha256(format version, code fingerprint, resolved inputs, return names,
packages, container)`` where an artifact input counts by its *content* hash (not the id of
the task that produced it), so an upstream step that re-ran but produced the same bytes keeps
its children's cache hits.

The code fingerprint covers the function's normalised source (``ast`` round trip: comments
and formatting don't matter), the sources of its helper functions and of the module-level
functions it calls, and the values of closure variables and module-level constants it reads
when they are plain values. It never includes file paths, line numbers or ids, so the same
code in another checkout hits the same cache. A task step (``add_step``) uses the same key:
its fingerprint is its base task's recorded code (``script_fingerprint``), its inputs the
resolved parameter, configuration and task overrides.
"""
from __future__ import annotations

import ast
import hashlib
import inspect
import json
import textwrap
import types
from typing import Any, Callable, Iterable, Optional

CACHE_FORMAT_VERSION = 2
PLAIN = (int, float, bool, str, bytes, type(None))


_SOURCES: dict[Any, tuple[str, str]] = {}  # code object -> (source, normalised source)


def function_source(func: Callable) -> tuple[str, str]:
    """(source text, normalised source) of a function, computed once per code object.

    Normalised: an ``ast`` round trip (comments and layout don't matter) without decorators
    (``@component(...)`` arguments are not the step's code)."""
    code = getattr(func, "__code__", None)
    cached = _SOURCES.get(code) if code is not None else None
    if cached is not None:
        return cached
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        result = ("", "<no source>" + (code.co_code.hex() if code is not None else repr(func)))
    else:
        try:
            tree = ast.parse(source)
        except SyntaxError:  # a lambda inside a longer line
            result = (source, source)
        else:
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    node.decorator_list = []
            result = (source, ast.unparse(tree))
    if code is not None:
        _SOURCES[code] = result
    return result


def _stable_repr(value: Any) -> str:
    """repr, except that sets are sorted (their order changes between processes)."""
    if isinstance(value, (set, frozenset)):
        return f"{type(value).__name__}({sorted(_stable_repr(v) for v in value)})"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}({[_stable_repr(v) for v in value]})"
    if isinstance(value, dict):
        return f"dict({[(_stable_repr(k), _stable_repr(v)) for k, v in value.items()]})"
    return repr(value)


def _plain(value: Any, depth: int = 0) -> bool:
    if isinstance(value, PLAIN):
        return True
    if depth < 3 and isinstance(value, (list, tuple, frozenset, set)):
        return all(_plain(v, depth + 1) for v in value)
    if depth < 3 and isinstance(value, dict):
        return all(isinstance(k, PLAIN) and _plain(v, depth + 1) for k, v in value.items())
    return False


_NAMES: dict[types.CodeType, list[str]] = {}


def _names_read(code: types.CodeType) -> list[str]:
    """Global names a code object (and the code nested in it) reads, sorted; computed once."""
    names = _NAMES.get(code)
    if names is None:
        found = set(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found.update(_names_read(const))
        names = _NAMES[code] = sorted(found)
    return names


def code_fingerprint(func: Callable, helper_functions: Iterable[Callable] = ()) -> str:
    """sha256 of the step's code as described in the module docstring."""
    func = inspect.unwrap(func)
    seen: set[int] = set()
    parts: list[str] = []

    def visit(fn: Callable) -> None:
        fn = inspect.unwrap(fn)
        if id(fn) in seen:
            return
        seen.add(id(fn))
        parts.append(f"def {getattr(fn, '__qualname__', '?')}:{function_source(fn)[1]}")
        code = getattr(fn, "__code__", None)
        if code is None:
            return
        if fn.__closure__:
            for name, cell in zip(code.co_freevars, fn.__closure__):
                try:
                    value = cell.cell_contents
                except ValueError:
                    continue
                _record(name, value, fn)
        module = getattr(fn, "__module__", None)
        for name in _names_read(code):
            if name in fn.__globals__:
                _record(name, fn.__globals__[name], fn, module)

    def _record(name: str, value: Any, owner: Callable, module: Optional[str] = None) -> None:
        if _plain(value):
            parts.append(f"const {name}={_stable_repr(value)}")
        elif isinstance(value, types.FunctionType) and value.__module__ == getattr(owner, "__module__", None):
            visit(value)  # a helper from the same module: its code is part of the step's code
        elif hasattr(value, "__wrapped__") and isinstance(getattr(value, "__wrapped__"), types.FunctionType):
            visit(value.__wrapped__)
        elif isinstance(value, types.ModuleType):
            parts.append(f"module {name}={value.__name__}")

    visit(func)
    for helper in helper_functions:
        visit(helper)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


SCRIPT_CODE_FIELDS = ("repository", "version_num", "entry_point", "diff", "requirements", "module")


def script_fingerprint(script: dict) -> str:
    """The code fingerprint of a task step: its base task's recorded code (script section)."""
    code = {k: script.get(k) for k in SCRIPT_CODE_FIELDS}
    return hashlib.sha256(json.dumps(code, sort_keys=True, default=str).encode()).hexdigest()


def _input_token(value: Any) -> Any:
    """An input's identity: artifacts by content hash (also inside lists/tuples/dicts), values as JSON or pickle."""
    from ..steps import ArtifactInput
    if isinstance(value, ArtifactInput):
        if value.hash is None:  # a large artifact whose hash the upload deferred
            from ..storage import sha256_url
            value.hash = sha256_url(value.url)
        return {"artifact_sha256": value.hash}
    if isinstance(value, (list, tuple)):
        return {type(value).__name__: [_input_token(v) for v in value]}
    if isinstance(value, (set, frozenset)):  # sorted: a set's order changes between processes
        return {"set": sorted((_input_token(v) for v in value), key=lambda t: json.dumps(t, sort_keys=True))}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _input_token(v) for k, v in sorted(value.items())}}
    try:
        return {"json": json.dumps(value, sort_keys=True)}
    except (TypeError, ValueError):
        import cloudpickle
        return {"pickle_sha256": hashlib.sha256(cloudpickle.dumps(value)).hexdigest()}


def cache_key(fingerprint: str, inputs: dict[str, Any], return_names: Iterable[str], packages: Any = None,
              container: Any = None) -> str:
    """The step's cache key (see module docstring)."""
    payload = {"v": CACHE_FORMAT_VERSION, "code": fingerprint,
               "inputs": {k: _input_token(v) for k, v in sorted(inputs.items())},
               "returns": list(return_names), "packages": packages if _plain(packages) else repr(packages),
               "container": container if _plain(container) else repr(container)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def cached_outputs_problem(artifact: dict) -> Optional[str]:
    """Why a cached step's output can't be reused ("missing", "corrupted: ..."), or None when it
    is present and its bytes match the recorded sha256 (remote files are verified by fetching
    them into the download cache, where the next step then finds them)."""
    from ..errors import IntegrityError, StorageError
    from ..storage import exists, verified_local_copy
    if artifact["type"] == "url":
        return None
    if not artifact.get("hash"):
        return "has no recorded sha256"
    try:
        if not exists(artifact["uri"]):
            return "missing"
        verified_local_copy(artifact["uri"], artifact["hash"], f"artifact {artifact['name']!r}")
    except IntegrityError:
        return f"corrupted (its bytes no longer match sha256 {artifact['hash'][:12]}...)"
    except StorageError as err:
        return f"unreadable ({err})"
    return None


def find_cached_task(store: Any, key: str, return_names: Iterable[str],
                     log: Optional[Callable[[str], None]] = None) -> Optional[dict]:
    """Newest completed/published, non-archived task with this key whose outputs (its return
    artifacts, or all its artifacts when none are named) are all present and intact.

    A candidate with a missing or corrupted output is not a hit: ``log`` is told why
    ("cache entry <task> rejected: artifact 'data' missing") and the next candidate is tried."""
    wanted = set(return_names)
    for row in store.cached_step_tasks(key):
        artifacts = {r["name"]: r for r in store.task_artifacts(row["id"])}
        missing = sorted(wanted - set(artifacts))
        problems = [f"artifact {name!r} missing" for name in missing]
        for name in sorted(wanted or artifacts):
            if name in artifacts:
                problem = cached_outputs_problem(artifacts[name])
                if problem:
                    problems.append(f"artifact {name!r} {problem}")
        if not problems:
            return row
        if log is not None:
            log(f"cache entry {row['id']} rejected: {'; '.join(problems)}")
    return None
