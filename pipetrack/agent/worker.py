"""The agent: serves queues by claiming queued tasks from the store and running them.

Claiming is one conditional UPDATE (``... WHERE id=? AND status='queued'``), so several agents
on one store never run the same task twice. Each task runs as its own subprocess (its script,
or the function-task runner) in its own process group; the agent keeps watching the task's
status and kills the subprocess when the task is aborted from elsewhere. SIGTERM/SIGINT make
the agent stop its running tasks, mark them stopped ("agent terminated") and exit: no task is
left ``in_progress``.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

from ..errors import ValidationError
from ..executors.script import result_from_store, script_command, script_env
from ..tracking.store import Store, default_store


@dataclass
class _Running:
    task_id: str
    proc: subprocess.Popen
    started: float = field(default_factory=time.time)


class Agent:
    """Pull tasks from ``queues`` (priority, then FIFO) and run up to ``concurrency`` at once."""

    def __init__(self, queues: Sequence[str], max_tasks: Optional[int] = None, poll: float = 1.0,
                 concurrency: int = 2, store: Optional[Store] = None, name: Optional[str] = None):
        if not queues or not all(isinstance(q, str) and q for q in queues):
            raise ValidationError(f"the agent needs at least one queue name, got {list(queues)!r}")
        if max_tasks is not None and max_tasks < 1:
            raise ValidationError(f"--max-tasks must be a positive number, got {max_tasks!r}")
        if poll <= 0:
            raise ValidationError(f"--poll must be a positive number of seconds, got {poll!r}")
        if concurrency < 1:
            raise ValidationError(f"--concurrency must be at least 1, got {concurrency!r}")
        self.queues = list(queues)
        self.max_tasks = max_tasks
        self.poll = poll
        self.concurrency = concurrency
        self.store = store or default_store()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.running: dict[str, _Running] = {}
        self.started_count = 0
        self.finished: list[str] = []
        self._stop = threading.Event()

    # ------------------------------------------------------------------ claiming
    def claim(self) -> Optional[dict]:
        """Atomically take the next queued task of our queues, or None."""
        marks = ", ".join("?" * len(self.queues))
        with self.store.write() as conn:
            row = conn.execute(f"SELECT id FROM tasks WHERE status='queued' AND queue IN ({marks}) "
                               "ORDER BY priority DESC, enqueued ASC LIMIT 1", self.queues).fetchone()
            if row is None:
                return None
            now = time.time()
            conn.execute("UPDATE tasks SET status='in_progress', last_worker=?, started=?, heartbeat=?, host=?, pid=?, "
                         "status_message='', last_update=? WHERE id=? AND status='queued'",
                         (self.name, now, now, socket.gethostname(), os.getpid(), now, row["id"]))
        return self.store.task_row(row["id"])

    # ------------------------------------------------------------------ running
    def start_task(self, row: dict) -> None:
        try:
            argv, cwd = script_command(row)
        except ValidationError as exc:
            self.store.update_task(row["id"], status="failed", status_message=str(exc), completed=time.time())
            self.finished.append(row["id"])
            return
        env = script_env(row["id"], str(self.store.path))
        proc = subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True)
        self.running[row["id"]] = _Running(row["id"], proc)
        print(f"pipetrack agent {self.name}: running task {row['id']} ({row['name']}) from queue {row['queue']!r}",
              flush=True)

    def _kill(self, entry: _Running) -> None:
        try:
            os.killpg(entry.proc.pid, signal.SIGTERM)
            entry.proc.wait(timeout=10)
        except (ProcessLookupError, PermissionError):
            pass
        except subprocess.TimeoutExpired:
            os.killpg(entry.proc.pid, signal.SIGKILL)
            entry.proc.wait()

    def reap(self) -> None:
        """Collect finished subprocesses; kill those whose task was aborted elsewhere."""
        for task_id, entry in list(self.running.items()):
            code = entry.proc.poll()
            if code is None:
                row = self.store.query_one("SELECT status FROM tasks WHERE id=?", (task_id,))
                if row is None or row["status"] in ("stopped", "failed", "completed", "published"):
                    self._kill(entry)
                    code = entry.proc.returncode
                else:
                    self.store.execute("UPDATE tasks SET heartbeat=? WHERE id=? AND status='in_progress'",
                                       (time.time(), task_id))
                    continue
            result_from_store(self.store, task_id, code)
            del self.running[task_id]
            self.finished.append(task_id)

    def stop(self, *_args: object) -> None:
        self._stop.set()

    def serve(self) -> int:
        """Run until --max-tasks tasks finished or a stop signal; returns the number of tasks run."""
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self.stop)
        print(f"pipetrack agent {self.name}: serving queues {self.queues} (store {self.store.path})", flush=True)
        try:
            while not self._stop.is_set():
                self.reap()
                if self.max_tasks is not None and len(self.finished) >= self.max_tasks:
                    break
                budget = self.max_tasks - self.started_count if self.max_tasks is not None else None
                while len(self.running) < self.concurrency and (budget is None or budget > 0):
                    row = self.claim()
                    if row is None:
                        break
                    self.started_count += 1
                    budget = None if budget is None else budget - 1
                    self.start_task(row)
                self._stop.wait(self.poll if not self.running else min(self.poll, 0.2))
        finally:
            for task_id, entry in list(self.running.items()):
                self._kill(entry)
                self.store.execute("UPDATE tasks SET status='stopped', status_message=?, completed=? "
                                   "WHERE id=? AND status IN ('in_progress', 'queued')",
                                   (f"agent {self.name} terminated", time.time(), task_id))
                self.finished.append(task_id)
            self.running.clear()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        print(f"pipetrack agent {self.name}: stopped after {len(self.finished)} task(s)", flush=True)
        return len(self.finished)
