"""Running a task's process and waiting for it: the one loop every runner shares.

:class:`TaskProcess` wraps a started child (a ``subprocess.Popen``, or a step forked by the local
executor's template) that leads its own process group. :meth:`TaskProcess.wait` is the blocking
loop: it watches for the process's exit, a stop request (``should_stop()``: cancellation, a Dask
event, an abort recorded in the store, see :func:`store_stop_request`) and the time limit, stops the
process (SIGTERM, SIGKILL once the grace period is over; at once with no grace) and returns its exit
code, with :attr:`TaskProcess.reason` saying why we stopped it ('' when it ended on its own).

Who uses what:

- the local executor and :func:`~pipetrack.executors.script.run_task_in_private_store` (a Dask
  worker) block in :meth:`TaskProcess.wait`;
- the agent runs many tasks from one loop, so it can't block on one: each of its turns calls
  :meth:`TaskProcess.poll` (which does the grace-period escalation) and
  :meth:`TaskProcess.stop` when :func:`store_stop_request` reports an abort;
- the agent queue executor waits for a task that *another* process (an agent) runs: there is
  no child to signal or reap, so it only shares the time-limit test (:func:`time_limit_passed`,
  :func:`time_limit_message`) and stops the task by recording that in the store, which the
  agent running it then sees through :func:`store_stop_request`.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any, Callable, Optional

KILL_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.05


def exit_message(returncode: Optional[int]) -> str:
    """'exited with code 3' / 'was killed by signal SIGKILL'."""
    if returncode is None:
        return "did not finish"
    if returncode < 0:
        try:
            return f"was killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


def time_limit_passed(started: Optional[float], limit: Optional[float], now: float) -> bool:
    """Whether a run begun at ``started`` has gone past ``limit`` seconds at ``now`` (never without both)."""
    return bool(limit and started and now - started > limit)


def time_limit_message(what: str, limit: Optional[float], suffix: str = "") -> str:
    """'time limit exceeded: step 'a' ran longer than 3.0s' (the wording every runner reports)."""
    return f"time limit exceeded: {what} ran longer than {limit}s{suffix}"


def store_stop_request(store: Any, task_id: str) -> Optional[str]:
    """Why a running task must stop, as recorded on it in the store (aborted elsewhere, deleted,
    reset or re-enqueued while running), or None while it may go on."""
    row = store.task_state(task_id)
    if row is None or row["status"] == "stopped":
        return "aborted"
    if row["status"] in ("created", "queued"):
        return "reset while running"
    return None


class TaskProcess:
    """A task's process in its own process group, stoppable without blocking the caller:
    :meth:`stop` sends SIGTERM (the task marks itself stopped), :meth:`poll` sends SIGKILL once
    the grace period is over. ``proc`` needs ``pid``, ``poll()``, ``wait(timeout)`` and
    ``returncode``, as ``subprocess.Popen`` has."""

    def __init__(self, proc: Any, task_id: str = ""):
        self.proc = proc
        self.task_id = task_id
        self.kill_at: Optional[float] = None
        self.reason = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> Optional[int]:
        return self.proc.returncode

    def poll(self) -> Optional[int]:
        """The exit code, or None while it runs (killing it once a stop's grace period is over)."""
        code = self.proc.poll()
        if code is None and self.kill_at is not None and time.monotonic() >= self.kill_at:
            self._signal(signal.SIGKILL)
        return code

    def stop(self, reason: str = "", grace: float = KILL_GRACE_SECONDS) -> None:
        """Ask it to end (SIGTERM; SIGKILL at once when ``grace`` is 0); the first reason is kept."""
        if self.kill_at is None and self.proc.poll() is None:
            self.reason = reason
            self.kill_at = time.monotonic() + grace
            self._signal(signal.SIGKILL if grace <= 0 else signal.SIGTERM)

    def kill(self, reason: str = "") -> int:
        """SIGKILL it now and wait for its end; its exit code."""
        self.stop(reason, grace=0)
        return self.proc.wait()

    def _signal(self, sig: int) -> None:
        """Signal the whole process group (or the process, if it has no group of its own yet)."""
        for send in (os.killpg, os.kill):
            try:
                send(self.proc.pid, sig)
                return
            except (ProcessLookupError, PermissionError):
                continue

    def wait(self, should_stop: Optional[Callable[[], Optional[str]]] = None, time_limit: Optional[float] = None,
             time_limit_reason: str = "time limit", started: Optional[float] = None,
             grace: float = KILL_GRACE_SECONDS, poll: float = POLL_SECONDS,
             on_poll: Optional[Callable[[], None]] = None) -> int:
        """Block until the process ends (it notices at once); its exit code. Every ``poll`` seconds
        while it runs, it calls ``on_poll()``, then stops the process with the reason ``should_stop()``
        gives, or with ``time_limit_reason`` once ``time_limit`` seconds have passed since
        ``started`` (``time.monotonic()``; default now). :attr:`reason` is why it was stopped."""
        started = time.monotonic() if started is None else started
        while True:
            code = self.poll()
            if code is not None:
                return code
            if on_poll is not None:
                on_poll()
            if not self.reason:
                reason = should_stop() if should_stop is not None else None
                if not reason and time_limit_passed(started, time_limit, time.monotonic()):
                    reason = time_limit_reason
                if reason:
                    self.stop(reason, grace)
                    self.reason = self.reason or reason  # it may have ended just now: still our reason
            timeout = poll
            if time_limit and not self.reason:
                timeout = max(0.0, min(poll, started + time_limit - time.monotonic()) + 0.001)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
