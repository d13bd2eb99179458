"""Local executor: every step in a fresh Python subprocess, several at once.

This is ClearML's "local mode". Functions and arguments travel with cloudpickle, so functions
defined in ``__main__``, closures and decorated functions work. The child gets the parent's
``sys.path``, working directory and environment, so the user's own modules import. Its stdout
and stderr go to the parent's (the user sees step output) and are also teed into the step task.

A step that exceeds its time limit is killed with its whole process group and marked stopped;
a child that dies without writing a result (segfault, SIGKILL, os._exit) becomes a failed step
with the exit code or signal in the message — never a hung pipeline.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional

from .base import StepResult, StepSpec, default_workers


class LocalExecutor:
    name = "local"
    runs_in_caller = False
    records_remotely = False

    def __init__(self, max_workers: Optional[int] = None, python: Optional[str] = None):
        self.max_workers = max_workers or default_workers()
        self.python = python or sys.executable
        self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="pipetrack-local")
        self._procs: dict[str, subprocess.Popen] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._tmp = tempfile.mkdtemp(prefix="pipetrack-local-")

    def submit(self, spec: StepSpec) -> "Future[StepResult]":
        import cloudpickle
        if not spec.sys_path:
            spec.sys_path = [p for p in sys.path if p]
        if not spec.working_dir:
            spec.working_dir = os.getcwd()
        spec_path = os.path.join(self._tmp, f"{spec.task_id}.spec")
        with open(spec_path, "wb") as fh:
            cloudpickle.dump(spec, fh)
        return self._pool.submit(self._run, spec, spec_path)

    def _run(self, spec: StepSpec, spec_path: str) -> StepResult:
        result_path = os.path.join(self._tmp, f"{spec.task_id}.result")
        for stale in (result_path, result_path + ".tmp"):
            if os.path.exists(stale):
                os.remove(stale)
        started = time.time()
        if spec.script is not None:  # a script task: run its own entry point, it records itself
            from ..tracking.store import open_store
            from .script import script_command, script_env
            argv, cwd = script_command(open_store(spec.store_path).task_row(spec.task_id), self.python)
            env = script_env(spec.task_id, spec.store_path, spec.env)
        else:
            argv = [self.python, "-m", "pipetrack.executors.child", spec_path, result_path]
            cwd = spec.working_dir
            env = {**os.environ, **spec.env, "PIPETRACK_TASK_ID": spec.task_id,
                   "PYTHONPATH": os.pathsep.join(spec.sys_path)}
        proc = subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True)
        with self._lock:
            self._procs[spec.task_id] = proc
        timed_out = False
        try:
            proc.wait(timeout=spec.time_limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._kill(proc)
        finally:
            with self._lock:
                self._procs.pop(spec.task_id, None)
        if spec.script is not None and not timed_out and spec.task_id not in self._cancelled:
            from ..tracking.store import open_store
            from .script import result_from_store
            os.remove(spec_path)
            return result_from_store(open_store(spec.store_path), spec.task_id, proc.returncode)
        if os.path.exists(result_path) and not timed_out:
            import cloudpickle
            with open(result_path, "rb") as fh:
                result = cloudpickle.load(fh)
            os.remove(result_path)
            os.remove(spec_path)
            return result
        if timed_out:
            message = f"time limit exceeded: step {spec.name!r} ran longer than {spec.time_limit}s and was killed"
            status = "stopped"
        elif spec.task_id in self._cancelled:
            message, status = f"step {spec.name!r} was aborted", "stopped"
        elif proc.returncode and proc.returncode < 0:
            message = f"step {spec.name!r}: its process was killed by signal {signal.Signals(-proc.returncode).name}"
            status = "failed"
        else:
            message = f"step {spec.name!r}: its process exited with code {proc.returncode} without a result"
            status = "failed"
        _mark_dead_step(spec, status, message)
        return StepResult(task_id=spec.task_id, status=status, error=message, worker=f"pid {proc.pid}",
                          duration=time.time() - started)

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()

    def cancel(self, task_id: str) -> None:
        with self._lock:
            proc = self._procs.get(task_id)
            self._cancelled.add(task_id)
        if proc is not None:
            self._kill(proc)

    def shutdown(self) -> None:
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            self._kill(proc)
        self._pool.shutdown(wait=True)
        import shutil
        shutil.rmtree(self._tmp, ignore_errors=True)


def _mark_dead_step(spec: StepSpec, status: str, message: str) -> None:
    """The child could not record its own end: do it for it (it ran against the shared store)."""
    from ..tracking.store import open_store
    if not spec.store_path:
        return
    store = open_store(spec.store_path)
    now = time.time()
    store.execute("UPDATE tasks SET status=?, status_message=?, status_reason=?, completed=?, last_update=? "
                  "WHERE id=? AND status NOT IN ('completed', 'published')",
                  (status, message, message, now, now, spec.task_id))
