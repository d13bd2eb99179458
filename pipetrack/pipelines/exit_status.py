"""A script whose pipeline ended failed or aborted exits with status 1.

ClearML leaves ``python pipeline.py && deploy`` exiting 0 after a failed pipeline run by
``start_locally()``/``start()``; CI then carries on. Here, once a pipeline run that this process
started ends ``failed`` or ``stopped``, an exit hook makes a script that would otherwise exit 0
exit 1 instead (after every other exit handler has run: tasks are closed, logs flushed). A
non-zero status the script chose itself (``sys.exit(3)``) is kept, and so is an uncaught
exception's 1; ``sys.exit(0)`` counts as a plain end.
In the script, ``pipe.is_successful()`` still tells the outcome for decisions of its own.
A process that runs pipelines as one part of something larger (a test runner, a service, a
notebook kernel) calls ``keep_exit_status()`` once: its exit status is then its own.

Python has no way to read the exit status an interpreter is about to return, so the hook
records ``sys.exit`` calls; ``raise SystemExit(n)`` written directly is not seen (and ends as 1
after a failed run).
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Any

FAILED_STATUSES = ("failed", "stopped")

_failures: list[str] = []
_requested: list[Any] = []  # arguments of sys.exit() calls
_lock = threading.Lock()
_enabled = [True]


def run_ended(description: str, status: str) -> None:
    """Note how a pipeline run started by this process ended (``description`` names it)."""
    if status not in FAILED_STATUSES or not _enabled[0]:
        return
    with _lock:
        first = not _failures
        _failures.append(f"{description} ended {status}")
    if first:
        _install()


def keep_exit_status() -> None:
    """Never change this process's exit status for a failed pipeline run (see the module doc)."""
    _enabled[0] = False


def _install() -> None:
    previous = sys.exit

    def recording_exit(status: Any = None) -> None:
        _requested.append(status)
        previous(status)

    sys.exit = recording_exit
    # registered after pipetrack's own handlers, so it runs before them (atexit is LIFO) and
    # runs them itself before leaving
    atexit.register(_exit_nonzero)


def _exit_nonzero() -> None:
    if not _failures or not _enabled[0] or (_requested and _requested[-1] not in (None, 0)):
        return
    if getattr(sys, "last_value", None) is not None:  # an uncaught exception: already non-zero
        return
    atexit.unregister(_exit_nonzero)
    atexit._run_exitfuncs()  # everything a normal exit would still do (close tasks, flush logs)
    print(f"pipetrack: {_failures[-1]}: exiting with status 1", file=sys.__stderr__, flush=True)
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream has nothing left to flush
            pass
    os._exit(1)


__all__ = ["run_ended", "keep_exit_status", "FAILED_STATUSES"]
