"""One heartbeat thread per process for every task this process is running.

Two jobs, one loop:
- refresh each registered task's ``heartbeat`` column every ``watchdog/4`` seconds (at most
  30 s), so the watchdog of another process never mistakes a long step for a dead one;
- every ``ABORT_POLL_SECONDS`` read the tasks' statuses (a cheap WAL read, no write lock) and
  call a task's ``on_abort`` hook once when another process has set it to ``stopped``.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from typing import Callable, Optional

from .. import config
from ..store import TaskStore

ABORT_POLL_SECONDS = 1.0

_lock = threading.Lock()
_tasks: dict[str, tuple[TaskStore, Optional[Callable[[], None]]]] = {}
_thread: Optional[threading.Thread] = None
_wake = threading.Event()
_pid = os.getpid()


def _beat_interval() -> float:
    return max(0.2, min(30.0, config.watchdog_seconds() / 4))


def _loop() -> None:
    last_beat = 0.0
    while True:
        beat_every = _beat_interval()
        _wake.wait(min(ABORT_POLL_SECONDS, beat_every))
        _wake.clear()
        with _lock:
            items = list(_tasks.items())
        if not items:
            continue
        now = time.time()
        beat = now - last_beat >= beat_every
        if beat:
            last_beat = now
        for task_id, (store, on_abort) in items:
            try:
                if beat:
                    store.record_heartbeat(task_id, now)
                row = store.task_state(task_id)
            except Exception:  # a busy or vanished store must not kill the thread
                continue
            if on_abort is not None and row is not None and row["status"] == "stopped":
                with _lock:
                    if task_id in _tasks:
                        _tasks[task_id] = (store, None)
                try:
                    on_abort()
                except Exception:
                    pass


def claim_process(store: TaskStore, task_id: str) -> None:
    """Record this process as the one running ``task_id``: the watchdog judges a task by its own
    process (an agent that started it may die while the task runs on, healthy)."""
    try:
        store.record_task_process(task_id, socket.gethostname(), os.getpid(), time.time())
    except Exception:  # a busy store: the agent's pid stays, the heartbeat still decides
        pass


def register(store: TaskStore, task_id: str, on_abort: Optional[Callable[[], None]] = None) -> None:
    """Keep ``task_id``'s heartbeat fresh; call ``on_abort`` once if another process stops it."""
    global _thread, _pid
    with _lock:
        if _pid != os.getpid():  # forked child: the parent's thread and tasks are not ours
            _tasks.clear()
            _thread, _pid = None, os.getpid()
        if on_abort is None and task_id in _tasks:  # keep a hook registered earlier (the session's)
            on_abort = _tasks[task_id][1]
        _tasks[task_id] = (store, on_abort)
        claim_process(store, task_id)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="pipetrack-heartbeat", daemon=True)
            _thread.start()


def unregister(task_id: str) -> Optional[tuple[TaskStore, Optional[Callable[[], None]]]]:
    """Stop the heartbeat of ``task_id``; returns its registration (for :func:`restore`)."""
    with _lock:
        return _tasks.pop(task_id, None)


def restore(task_id: str, entry: Optional[tuple[TaskStore, Optional[Callable[[], None]]]]) -> None:
    """Undo :func:`unregister` (a status change that did not happen after all)."""
    if entry is not None:
        register(entry[0], task_id, entry[1])
