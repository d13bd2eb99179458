"""Local executor: every step in a fresh Python subprocess, several at once.

This is ClearML's "local mode". Functions and arguments travel with cloudpickle, so functions
defined in ``__main__``, closures and decorated functions work. The step process gets the
pipeline's ``sys.path``, working directory and environment, so the user's own modules import.
Its stdout and stderr go to the parent's (the user sees step output) and are also teed into
the step task.

Why a *template* process: starting an interpreter and importing the step worker costs ~90 ms
of CPU, five times a bare ``python -c pass``. So on Linux the executor starts one template
interpreter (``python -m pipetrack.executors.local --template FD``) that imports the worker
once and never runs user code; each step is a ``fork()`` of it — a new process that has run
nothing yet, like multiprocessing's forkserver, but without re-importing the user's script.
It gets the step's exact environment, working directory and ``sys.path``, runs the step and
exits. Elsewhere, or with ``PIPETRACK_LOCAL_FORK=0``, each step is a plain new interpreter.

A step that exceeds its time limit is killed with its whole process group and marked stopped;
a process that dies without writing a result (segfault, SIGKILL, os._exit) becomes a failed
step with the exit code or signal in the message — never a hung pipeline.
"""
from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from ..steps import StepResult, StepSpec
from .base import default_workers
from .process import TaskProcess, exit_message, time_limit_message

FORK_ENV = "PIPETRACK_LOCAL_FORK"
TIME_LIMIT, ABORTED = "time limit", "aborted"  # why a step's process was killed (TaskProcess.reason)


class LocalExecutor:
    name = "local"
    runs_in_caller = False
    records_remotely = False

    def __init__(self, max_workers: Optional[int] = None, python: Optional[str] = None, fork: Optional[bool] = None):
        self.max_workers = max_workers or default_workers()
        self.python = python or sys.executable
        self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="pipetrack-local")
        self._procs: dict[str, TaskProcess] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._tmp = tempfile.mkdtemp(prefix="pipetrack-local-")
        if fork is None:
            fork = sys.platform.startswith("linux") and os.environ.get(FORK_ENV, "1") != "0"
        self._fork = fork
        self._template: Optional[_Template] = None
        self._closing = False

    def submit(self, spec: StepSpec):
        import cloudpickle
        if not spec.sys_path:
            spec.sys_path = [p for p in sys.path if p]
        if not spec.working_dir:
            spec.working_dir = os.getcwd()
        spec_path = os.path.join(self._tmp, f"{spec.task_id}.spec")
        with open(spec_path, "wb") as fh:
            cloudpickle.dump(spec, fh)
        env = {**os.environ, **spec.env, "PIPETRACK_TASK_ID": spec.task_id,
               "PYTHONPATH": os.pathsep.join(spec.sys_path)}
        return self._pool.submit(self._run, spec, spec_path, env)

    def _start(self, spec: StepSpec, spec_path: str, result_path: str, env: dict) -> TaskProcess:
        """The step's process: a fork of the template, or a new interpreter (script steps, no fork)."""
        if spec.script is not None:  # a script task: run its own entry point, it records itself
            from ..store import open_store
            from .script import start_task_process
            return start_task_process(open_store(spec.store_path).task_row(spec.task_id), spec.store_path,
                                      self.python, spec.env)
        if self._fork:
            with self._lock:
                if self._template is None or not self._template.alive:
                    self._template = _Template(self.python, env)
                template = self._template
            try:
                return TaskProcess(template.fork(spec_path, result_path, env, spec.working_dir), spec.task_id)
            except OSError:  # the template died meanwhile: this step starts the classic way
                pass
        argv = [self.python, "-m", "pipetrack.executors.child", spec_path, result_path]
        return TaskProcess(subprocess.Popen(argv, cwd=spec.working_dir, env=env, start_new_session=True), spec.task_id)

    def _run(self, spec: StepSpec, spec_path: str, env: dict) -> StepResult:
        result_path = os.path.join(self._tmp, f"{spec.task_id}.result")
        for stale in (result_path, result_path + ".tmp"):
            if os.path.exists(stale):
                os.remove(stale)
        started = time.time()
        with self._lock:  # cancelled (or shut down) while it waited for a free worker: it never starts
            cancelled = spec.task_id in self._cancelled or self._closing
        if cancelled:
            message = f"step {spec.name!r} was aborted before it started"
            _mark_dead_step(spec, "stopped", message)
            return StepResult(task_id=spec.task_id, status="stopped", error=message)
        proc = self._start(spec, spec_path, result_path, env)
        with self._lock:
            self._procs[spec.task_id] = proc
        try:  # killed at once (no grace) on its time limit, or when cancelled (even while it was being started)
            code = proc.wait(lambda: ABORTED if spec.task_id in self._cancelled else None, spec.time_limit,
                             TIME_LIMIT, grace=0)
        finally:
            with self._lock:
                self._procs.pop(spec.task_id, None)
        timed_out = proc.reason == TIME_LIMIT
        if spec.script is not None and not timed_out and spec.task_id not in self._cancelled:
            from ..store import open_store
            from .script import result_from_store
            os.remove(spec_path)
            return result_from_store(open_store(spec.store_path), spec.task_id, code)
        if os.path.exists(result_path) and not timed_out:
            import cloudpickle
            with open(result_path, "rb") as fh:
                result = cloudpickle.load(fh)
            os.remove(result_path)
            os.remove(spec_path)
            return result
        if timed_out:
            message, status = time_limit_message(f"step {spec.name!r}", spec.time_limit, " and was killed"), "stopped"
        elif spec.task_id in self._cancelled:
            message, status = f"step {spec.name!r} was aborted", "stopped"
        else:
            message = f"step {spec.name!r}: its process {exit_message(code)}{'' if code < 0 else ' without a result'}"
            status = "failed"
        _mark_dead_step(spec, status, message)
        return StepResult(task_id=spec.task_id, status=status, error=message, worker=f"pid {proc.pid}",
                          duration=time.time() - started)

    def cancel(self, task_id: str) -> None:
        with self._lock:
            proc = self._procs.get(task_id)
            self._cancelled.add(task_id)
        if proc is not None:
            proc.kill(ABORTED)

    def shutdown(self) -> None:
        with self._lock:
            self._closing = True
            procs = list(self._procs.values())
        for proc in procs:
            proc.kill("executor shut down")
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._template is not None:
            self._template.close()
        import shutil
        shutil.rmtree(self._tmp, ignore_errors=True)


def _mark_dead_step(spec: StepSpec, status: str, message: str) -> None:
    """The child could not record its own end: do it for it (it ran against the shared store)."""
    from ..store import open_store
    if not spec.store_path:
        return
    open_store(spec.store_path).end_task(spec.task_id, status, message)


# ------------------------------------------------------------------------------ the template
class _ForkedStep:
    """A step process forked by the template; waits like a ``subprocess.Popen``."""

    def __init__(self) -> None:
        self.pid = 0
        self.returncode: Optional[int] = None
        self.started = threading.Event()
        self.ended = threading.Event()
        self.error = ""

    def poll(self) -> Optional[int]:
        return self.returncode if self.ended.is_set() else None

    def wait(self, timeout: Optional[float] = None) -> int:
        if not self.ended.wait(timeout):
            raise subprocess.TimeoutExpired("step", timeout)
        return self.returncode  # type: ignore[return-value]


class _Template:
    """Client side of the template process: one request line per step, replies read by a thread."""

    def __init__(self, python: str, env: dict):
        mine, theirs = socket.socketpair()
        self._proc = subprocess.Popen([python, "-m", "pipetrack.executors.local", "--template", str(theirs.fileno())],
                                      pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        theirs.close()
        self._sock = mine
        self._ids = itertools.count(1)
        self._jobs: dict[int, _ForkedStep] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self.alive = True
        threading.Thread(target=self._read, name="pipetrack-template", daemon=True).start()

    def fork(self, spec_path: str, result_path: str, env: dict, cwd: Optional[str]) -> _ForkedStep:
        job, job_id = _ForkedStep(), next(self._ids)
        with self._lock:
            if not self.alive:
                raise OSError("the step template process is gone")
            self._jobs[job_id] = job
        line = json.dumps({"id": job_id, "spec": spec_path, "result": result_path, "env": env, "cwd": cwd})
        with self._send_lock:  # one whole line at a time from the executor's threads
            self._sock.sendall(line.encode() + b"\n")
        job.started.wait()
        if job.error:
            raise OSError(job.error)
        return job

    def _read(self) -> None:
        for message in _lines(self._sock):
            with self._lock:
                job = self._jobs.get(message["id"])
            if job is None:
                continue
            if "pid" in message:
                job.pid = message["pid"]
                job.started.set()
            else:
                with self._lock:
                    self._jobs.pop(message["id"], None)
                job.returncode = message.get("exit", 255)
                job.error = message.get("error", "")
                job.started.set()
                job.ended.set()
        with self._lock:  # the template is gone: its steps' ends can't be known any more
            self.alive = False
            jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            job.returncode, job.error = job.returncode if job.returncode is not None else 255, "template died"
            job.started.set()
            job.ended.set()

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()


def _lines(sock: socket.socket):
    """JSON messages, one per line, until the peer closes."""
    buffer = b""
    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            return
        if not data:
            return
        buffer += data
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield json.loads(line)


def _template_main(fd: int) -> None:
    """The template: import the step worker once, then fork one process per requested step."""
    import select
    import cloudpickle  # noqa: F401  (what every step needs, imported once here)
    from . import child, worker  # noqa: F401
    from .. import storage  # noqa: F401  (artifact upload/download)
    from ..store import sqlite  # noqa: F401  (every step opens its store: sqlite3 costs ~4 ms a step otherwise)
    from ..tracking import capture, heartbeat, reporting, task  # noqa: F401
    from ..tracking.bindings import preload
    preload()  # every step connects the framework bindings: their modules (no framework) are imported once
    if threading.active_count() != 1:  # forking is only safe from a single-threaded process
        sys.exit("pipetrack: the step template started threads while importing; steps start without it")
    sock = socket.socket(fileno=fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    running: dict[int, int] = {}  # pid -> request id
    buffer = b""

    def send(message: dict) -> None:
        sock.sendall(json.dumps(message).encode() + b"\n")

    while True:
        ready, _, _ = select.select([sock, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            while running:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                send({"id": running.pop(pid), "exit": os.waitstatus_to_exitcode(status)})
        if sock in ready:
            data = sock.recv(65536)
            if not data:
                return
            buffer += data
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                request = json.loads(line)
                try:
                    pid = os.fork()
                except OSError as exc:
                    send({"id": request["id"], "exit": 255, "error": f"fork failed: {exc}"})
                    continue
                if pid == 0:
                    _step_process(request, closing=(sock.fileno(), wake_r, wake_w))
                running[pid] = request["id"]
                send({"id": request["id"], "pid": pid})


def _step_process(request: dict, closing: tuple) -> None:
    """In the forked step process: become the step's own process, run it, exit (never returns)."""
    import atexit
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in closing:
        os.close(fd)
    code = 1
    try:
        os.setsid()
        os.environ.clear()
        os.environ.update(request["env"])
        if request.get("cwd"):
            os.chdir(request["cwd"])
        sys.argv = [sys.argv[0], request["spec"], request["result"]]
        from .child import main
        code = main(request["spec"], request["result"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported like an uncaught exception, then the process ends
        import traceback
        traceback.print_exc()
    finally:
        try:  # what a normal interpreter exit does: wait for non-daemon threads, run atexit, flush
            threading._shutdown()  # type: ignore[attr-defined]  (as multiprocessing's children do)
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--template":
    _template_main(int(sys.argv[2]))
