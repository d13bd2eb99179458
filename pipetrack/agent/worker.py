"""The agent: serves queues by claiming queued tasks from the store and running them.

Order: the agent's queues in the order given (the first queue is served first, as
``clearml-agent --queue a b``), then task priority (higher first), then FIFO by enqueue time.
Claiming is one compare-and-swap in the store (``claim_next_task``: the pick and the move from
``queued`` in one transaction), so several agents on one store never run the same task twice. The claimed task becomes
``in_progress`` with the agent as ``last_worker``.

Where a task runs (``executor``):

- ``local`` (default): its own subprocess on this machine, in its own process group, against
  the shared store (its script, or the function-task runner);
- ``dask`` / ``dask://host:port``: the same subprocess, started on a Dask worker by
  :class:`~pipetrack.executors.dask.DaskExecutor` against a throw-away store; its records come
  back when it ends and the agent imports them. Controller tasks (pipelines) always run
  locally: they orchestrate other tasks and need the shared store.

A task that names a container image (``docker=``) runs in that image through this machine's
``docker`` (:mod:`~pipetrack.agent.containers`), whatever the executor, or fails with the
reason when docker is missing or its daemon does not answer: never on the host instead.

A claimed task first records the agent's pid (the agent is what runs it until its process
exists); a local run then records its subprocess's pid, and the task's own heartbeat thread does
too once ``Task.init`` attached to it. So the dead-task watchdog judges a running task by its own
process: a SIGKILLed agent leaves its healthy tasks running (they run in their own process
groups) and they end on their own; a Dask run keeps the agent's pid, since the agent is what
brings its records back.

The agent watches each running task: a task aborted elsewhere (set to ``stopped``) gets
SIGTERM (SIGKILL after a grace period). SIGTERM/SIGINT to the agent stop its running tasks the
same way, record them stopped ("agent terminated") and exit: no task is left ``in_progress``.
"""
from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import SetupError, StoreError, ValidationError
from ..executors.process import KILL_GRACE_SECONDS, TaskProcess, store_stop_request
from ..executors.script import result_from_store, start_task_process
from ..tracking.reporting import buffer_for
from ..store import TaskStore, default_store
from . import containers

HEARTBEAT_SECONDS = 5.0


class _LocalRun:
    """A claimed task running as a subprocess of the agent, against the shared store.

    Its code (``executors/checkout.py``) and environment (``agent/environments.py``) are prepared on a
    thread first, so a slow checkout or install never holds up the agent's other tasks; the
    preparation's log goes to the task's console, and it does not count towards a time limit.
    A preparation that fails fails the task with the reason."""

    where = "local"

    def __init__(self, store: TaskStore, row: dict, agent_home: Path, use_venv: bool = True):
        self.task_id = row["id"]
        self.process: Optional[TaskProcess] = None
        self.error = ""
        self.reason = ""
        self._store, self._row, self._home, self._use_venv = store, row, agent_home, use_venv
        self._checkout: Any = None
        self._container = False  # started with docker run: its container is removed when it ends
        self._lock = threading.Lock()
        self._prepared = threading.Event()
        threading.Thread(target=self._prepare, name=f"pipetrack-prepare-{self.task_id[:8]}", daemon=True).start()

    def _log(self, text: str) -> None:
        buffer_for(self._store).add_console(self.task_id, f"pipetrack agent: {text}")

    def _prepare(self) -> None:
        from ..executors.checkout import checkout_for
        from .environments import environment_requirements, python_for
        try:
            in_container = bool(containers.container_of(self._row))
            if in_container:
                containers.check_docker(self._row)
            self._checkout = checkout_for(self._row, self._home, self._log)
            row, location = dict(self._row, script=self._checkout.script), self._store.location
            # the environment is built here, outside the lock: a stop meanwhile must not wait for it
            if in_container:
                image = containers.build_environment(self.task_id, containers.container_of(row),
                                                     environment_requirements(self._requirements()), self._log)
                start = lambda: containers.start_in_container(row, image, location, self._log)  # noqa: E731
            else:
                python = python_for(self._requirements(), self._home, self._log) if self._use_venv else None
                start = lambda: start_task_process(row, location, python=python)  # noqa: E731
            with self._lock:
                if not self.reason:
                    self.process = start()
                    self._container = in_container
            if self.process is not None:  # from now on its own process, not the agent, is what the watchdog checks
                try:
                    self._store.hand_task_to_process(self.task_id, self.process.pid, from_pid=os.getpid())
                except StoreError:  # the task's heartbeat records its own pid once it attaches
                    pass
        except Exception as exc:  # noqa: BLE001 - the task fails with the reason, the agent goes on
            self.error = str(exc) if isinstance(exc, (SetupError, ValidationError)) else \
                f"could not start: {type(exc).__name__}: {exc}"
            self._log(self.error)
        finally:
            buffer_for(self._store).flush()
            self._prepared.set()

    def _requirements(self) -> str:
        """The task's recorded requirements, else its checkout's ``requirements.txt``."""
        script = self._checkout.script
        requirements = script.get("requirements") or ""
        root = script.get("repository") or ""
        if not requirements.strip() and os.path.isfile(os.path.join(root, "requirements.txt")):
            requirements = Path(root, "requirements.txt").read_text()
            self._log("environment: requirements from the checkout's requirements.txt")
        return requirements

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process is not None else None

    def done(self) -> bool:
        if not self._prepared.is_set():
            return False
        return self.process is None or self.process.poll() is not None

    def stop(self, reason: str) -> None:
        with self._lock:
            self.reason = self.reason or reason
            if self.process is not None:
                self.process.stop(reason)

    def finish(self, store: TaskStore) -> str:
        if self._container:
            containers.remove_container(self.task_id)
        if self._checkout is not None:
            self._checkout.remove()
        if self.process is None:  # never started: the preparation failed, or we were stopped first
            store.end_task(self.task_id, "stopped" if self.reason else "failed", self.reason or self.error)
            return store.task_row(self.task_id)["status"]
        code = self.process.returncode
        if self.process.reason:  # we stopped it: a process that didn't record that is closed as stopped
            store.end_task(self.task_id, "stopped", self.process.reason)
        return result_from_store(store, self.task_id, code).status


class _DaskRun:
    """A claimed task running on a Dask worker (a DaskExecutor step made of the task)."""

    where = "dask"

    def __init__(self, executor: Any, store: TaskStore, row: dict):
        from ..steps import StepSpec
        from ..tracking.records import export_records
        self.task_id = row["id"]
        self.executor = executor
        self.reason = ""
        self.error = ""  # set when the task failed for the agent's own reason (its cluster), not the task's
        spec = StepSpec(task_id=row["id"], name=row["name"], script=row.get("script") or {},
                        task_bundle=export_records(store, row["id"]), records_store=store.location)
        self.future = executor.submit(spec)

    def done(self) -> bool:
        return self.future.done()

    def stop(self, reason: str) -> None:
        if not self.reason:
            self.reason = reason
            self.executor.cancel(self.task_id)

    def finish(self, store: TaskStore) -> str:
        from ..tracking.records import import_records
        result = self.future.result()
        if result.records is not None:
            import_records(store, result.records, replace_outputs=True)  # replaces the live snapshots
        elif result.status != "completed" and not self.reason:  # nothing came back: the cluster failed, not the task
            self.error = result.error or "the task's records did not come back from the Dask cluster"
        message = result.error or self.reason or "the task did not record its end"
        store.end_task(self.task_id, "stopped" if result.status == "stopped" or self.reason else "failed", message)
        return store.task_row(self.task_id)["status"]


class Agent:
    """Pull tasks from ``queues`` and run up to ``concurrency`` at once (see module docstring)."""

    def __init__(self, queues: Sequence[str], max_tasks: Optional[int] = None, poll: float = 1.0,
                 concurrency: int = 2, store: Optional[TaskStore] = None, name: Optional[str] = None,
                 executor: Optional[str] = None, use_venv: bool = True):
        if isinstance(queues, str) or not queues or not all(isinstance(q, str) and q.strip() for q in queues):
            raise ValidationError(f"the agent needs a list of queue names, got {queues!r}")
        if max_tasks is not None and (not isinstance(max_tasks, int) or max_tasks < 1):
            raise ValidationError(f"--max-tasks must be a positive number, got {max_tasks!r}")
        if not isinstance(poll, (int, float)) or poll <= 0:
            raise ValidationError(f"--poll must be a positive number of seconds, got {poll!r}")
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValidationError(f"--concurrency must be at least 1, got {concurrency!r}")
        if executor not in (None, "local", "dask") and not str(executor).startswith(("dask://", "tcp://")):
            raise ValidationError.choice("agent executor", executor, ("local", "dask", "dask://host:port",
                                                                      "tcp://host:port"))
        self.queues = list(dict.fromkeys(queues))
        self.max_tasks = max_tasks
        self.poll = float(poll)
        self.concurrency = concurrency
        self.store = store or default_store()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.executor_spec = executor or "local"
        self.use_venv = use_venv
        self.home = self.store.home / "agent"  # git mirrors, run folders, environments
        self._executor: Any = None
        self.running: dict[str, Any] = {}
        self.started_count = 0
        self.finished: list[str] = []
        self.own_failures: list[str] = []  # tasks that failed for the agent's reasons (lost cluster, ...)
        self._stop = threading.Event()
        self._last_beat = 0.0

    # ------------------------------------------------------------------ claiming
    def claim(self) -> Optional[dict]:
        """Atomically take the next queued task of our queues, or None."""
        return self.store.claim_next_task(self.queues, self.name, socket.gethostname(), os.getpid())

    # ------------------------------------------------------------------ running
    def _dask(self) -> Any:
        if self._executor is None:
            from ..executors.base import get_executor
            self._executor = get_executor(self.executor_spec)
        return self._executor

    def start_task(self, row: dict) -> None:
        """Start a claimed task; one that can't run here is marked failed with the reason."""
        try:
            if self.executor_spec != "local" and row.get("type") != "controller" and not containers.container_of(row):
                run: Any = _DaskRun(self._dask(), self.store, row)
            else:
                run = _LocalRun(self.store, row, self.home, self.use_venv)
        except Exception as exc:  # one task that can't start (bad script, missing dir) must not stop the agent
            message = str(exc) if isinstance(exc, ValidationError) else f"could not start: {type(exc).__name__}: {exc}"
            self.store.end_task(row["id"], "failed", message)
            self.finished.append(row["id"])
            print(f"pipetrack agent {self.name}: task {row['id']} failed: {exc}", flush=True)
            return
        self.running[row["id"]] = run
        print(f"pipetrack agent {self.name}: running task {row['id']} ({row['name']}) from queue {row['queue']!r}"
              f" [{run.where}]", flush=True)

    def reap(self) -> None:
        """Collect finished tasks; stop those aborted elsewhere; keep the others' heartbeat fresh."""
        beat = time.time() - self._last_beat >= HEARTBEAT_SECONDS
        for task_id, run in list(self.running.items()):
            if not run.done():
                reason = store_stop_request(self.store, task_id)
                if reason:
                    run.stop(reason)
                elif beat:
                    self.store.record_heartbeat(task_id, time.time())
                continue
            try:
                status = run.finish(self.store)
                if isinstance(run, _DaskRun) and run.error:
                    self.own_failures.append(task_id)
            except Exception as exc:  # e.g. a lost Dask future: the task fails, the agent goes on
                status = f"failed ({type(exc).__name__}: {exc})"
                self.store.end_task(task_id, "failed", status, only_from=("in_progress", "queued"))
                self.own_failures.append(task_id)
            self.store.update_task(task_id, last_worker=self.name)  # a step runner may have put its pid there
            del self.running[task_id]
            self.finished.append(task_id)
            why = getattr(run, "error", "")
            print(f"pipetrack agent {self.name}: task {task_id} {status}" + (f": {why}" if why else ""), flush=True)
        if beat:
            self._last_beat = time.time()

    def stop(self, *_args: object) -> None:
        """Ask the serve loop to end."""
        self._stop.set()

    def _on_signal(self, *_args: object) -> None:
        """SIGTERM/SIGINT: stop. A handler runs in the main thread between two bytecodes, possibly
        while that thread holds the stop event's lock (inside ``Event.wait``): setting the event
        here would wait for that lock forever, so a new thread sets it."""
        threading.Thread(target=self._stop.set, name="pipetrack-agent-stop", daemon=True).start()

    def serve(self) -> int:
        """Run until --max-tasks tasks finished or a stop signal; returns the number of tasks run."""
        if self.executor_spec != "local":
            self._dask()  # a missing dependency or an unreachable scheduler fails now, not per task
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        print(f"pipetrack agent {self.name}: serving queues {self.queues} with executor {self.executor_spec!r} "
              f"(store {self.store})", flush=True)
        try:
            while not self._stop.is_set():
                self.reap()
                if self.max_tasks is not None and len(self.finished) >= self.max_tasks:
                    break
                budget = self.max_tasks - self.started_count if self.max_tasks is not None else None
                while len(self.running) < self.concurrency and (budget is None or budget > 0) \
                        and not self._stop.is_set():
                    row = self.claim()
                    if row is None:
                        break
                    self.started_count += 1
                    budget = None if budget is None else budget - 1
                    self.start_task(row)
                self._stop.wait(self.poll if not self.running else min(self.poll, 0.2))
        finally:
            self._shutdown(previous)
        print(f"pipetrack agent {self.name}: stopped after {len(self.finished)} task(s)", flush=True)
        return len(self.finished)

    def _shutdown(self, previous: dict) -> None:
        """Stop what still runs, wait for it (bounded), record it stopped."""
        reason = f"agent {self.name} terminated"
        for run in self.running.values():
            run.stop(reason)
        deadline = time.monotonic() + KILL_GRACE_SECONDS + 10
        while self.running and time.monotonic() < deadline:
            for task_id, run in list(self.running.items()):
                if run.done():
                    try:
                        run.finish(self.store)
                    except Exception as exc:  # a lost Dask future: recorded below
                        print(f"pipetrack agent {self.name}: task {task_id}: {exc}", flush=True)
                    del self.running[task_id]
                    self.finished.append(task_id)
            time.sleep(0.1)
        for task_id in list(self.running):
            self.finished.append(task_id)
        self.running.clear()
        self.store.stop_worker_tasks(self.name, reason)
        if self._executor is not None:
            self._executor.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
