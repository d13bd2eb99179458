"""The two mechanisms every binding uses: run code right after a module is imported, and
replace an attribute in a way that can be undone.

``when_imported(name, callback)`` calls ``callback(module)`` now when ``name`` is already
imported, else once, right after its first import finishes (a ``sys.meta_path`` finder that
wraps the module's loader). So a binding costs nothing until the user imports its framework.

``patch(owner, attr, replacement)`` swaps ``owner.attr`` and remembers the original;
``restore_all()`` (on the main task's close) puts every original back and drops the pending
import hooks, leaving the process as it was before ``Task.init``.
"""
from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any, Callable

_lock = threading.RLock()
_pending: dict[str, list[Callable[[Any], None]]] = {}
_patches: list[tuple[Any, str, Any, bool]] = []  # (owner, attr, original, owner had it in its own __dict__)
PATCHED_MARK = "_pipetrack_original"


class _ImportWatcher:
    """A meta-path finder that never finds anything itself: it wraps the real loader of a
    watched module so the callbacks run after the module's code has run."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        with _lock:
            if fullname not in _pending:
                return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module: Any) -> None:
            original_exec(module)
            loader.exec_module = original_exec  # type: ignore[method-assign]
            _run_callbacks(fullname, module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_watcher = _ImportWatcher()


def _run_callbacks(name: str, module: Any) -> None:
    with _lock:
        callbacks = _pending.pop(name, [])
        if not _pending and _watcher in sys.meta_path:
            sys.meta_path.remove(_watcher)
    for callback in callbacks:
        _safely(callback, module)


def _safely(callback: Callable[[Any], None], module: Any) -> None:
    """A binding that fails must never break the user's import: warn and go on."""
    try:
        callback(module)
    except Exception as exc:  # noqa: BLE001 - a broken hook is reported, the user's program goes on
        import warnings
        warnings.warn(f"pipetrack: could not bind to {getattr(module, '__name__', module)}: "
                      f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)


def when_imported(name: str, callback: Callable[[Any], None]) -> None:
    """Call ``callback(module)`` for module ``name``: now if it is imported, else right after its import."""
    module = sys.modules.get(name)
    if module is not None:
        _safely(callback, module)
        return
    with _lock:
        waiting = _pending.setdefault(name, [])
        if callback not in waiting:  # armed at import and connected at Task.init: one hook
            waiting.append(callback)
        if _watcher not in sys.meta_path:
            sys.meta_path.insert(0, _watcher)


def patch(owner: Any, attr: str, make: Callable[[Any], Any]) -> bool:
    """Replace ``owner.attr`` with ``make(original)`` once (False if it is already patched)."""
    with _lock:
        original = getattr(owner, attr)
        if getattr(original, PATCHED_MARK, None) is not None:
            return False
        replacement = make(original)
        try:
            setattr(replacement, PATCHED_MARK, original)
        except (AttributeError, TypeError):
            pass
        own = attr in getattr(owner, "__dict__", {})
        raw = owner.__dict__[attr] if own else original  # staticmethod/classmethod objects stay as they were
        setattr(owner, attr, replacement)
        _patches.append((owner, attr, raw, own))
        return True


def original_of(function: Any) -> Any:
    """The function a patch replaced (``function`` itself when it is not a patch)."""
    return getattr(function, PATCHED_MARK, None) or function


def restore_all() -> None:
    """Undo every patch (newest first) and forget pending import hooks."""
    with _lock:
        while _patches:
            owner, attr, raw, own = _patches.pop()
            if own:
                setattr(owner, attr, raw)
            else:
                try:
                    delattr(owner, attr)  # it was inherited: let the base class's show through again
                except AttributeError:
                    setattr(owner, attr, raw)
        _pending.clear()
        if _watcher in sys.meta_path:
            sys.meta_path.remove(_watcher)
