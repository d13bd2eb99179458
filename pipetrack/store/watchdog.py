"""The dead-task watchdog (ClearML's "non-responsive task monitor", here without a server).

A running task records its host, pid and a heartbeat (refreshed by ``heartbeat.py``). A process
sweeps the store when it first opens it, and periodically after (``store.default_store``): a
task still ``in_progress`` whose pid is gone on this host, or whose heartbeat is older than
``PIPETRACK_WATCHDOG_SECONDS`` (default 300 s), is marked ``stopped`` with a status message
saying why. Tasks without a pid (e.g. being run by a remote Dask worker, where the controller
keeps the heartbeat) are judged by heartbeat age alone.

The pid is the task's own process (``Task.init``/``mark_started`` and the heartbeat thread record
it; an agent records its task subprocess's), never a parent that merely started it, so a killed
agent does not take its healthy tasks with it. Each verdict is written as a compare-and-swap on
the pid and heartbeat it was made from: a task that recorded a new pid or a fresh heartbeat
since the sweep read it is left alone.
"""
from __future__ import annotations

import os
import socket
import time

from .. import config
from ..errors import StoreError
from .base import TaskStore


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def sweep(store: TaskStore) -> list[str]:
    """Mark dead running tasks stopped; returns their ids."""
    now = time.time()
    limit = config.watchdog_seconds()
    host = socket.gethostname()
    try:
        rows = store.running_tasks()
    except StoreError:  # unreadable right now: the next sweep will try again
        return []
    dead: list[tuple[dict, str]] = []
    for row in rows:
        if row["host"] == host and row["pid"] and row["pid"] != os.getpid() and not _pid_alive(row["pid"]):
            dead.append((row, f"aborted by watchdog: process {row['pid']} on {host} is gone"))
        elif row["heartbeat"] is not None and now - row["heartbeat"] > limit:
            dead.append((row, f"aborted by watchdog: no heartbeat for {now - row['heartbeat']:.0f}s "
                              f"(limit {limit:.0f}s, PIPETRACK_WATCHDOG_SECONDS)"))
    stopped: list[str] = []
    for row, message in dead:
        try:
            changed = store.stop_dead_task(row["id"], message, row["pid"], row["heartbeat"], at=now)
        except StoreError:  # not writable right now: the next sweep will try again
            break
        if changed:
            stopped.append(row["id"])
    return stopped
