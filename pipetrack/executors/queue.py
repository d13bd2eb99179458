"""Agent queue executor: a step whose queue maps to no executor is enqueued for agents.

The step task goes on the named queue (status ``queued``); a ``pipetrack agent`` serving that
queue claims and runs it against the shared store. This executor only watches the task's
status and turns its end into a StepResult. Function steps ship their StepSpec through
storage (the task records its URL), so the agent needs nothing but the task id.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any, Optional

from ..steps import StepResult, StepSpec
from .process import time_limit_message, time_limit_passed

POLL_SECONDS = 0.2


class AgentQueueExecutor:
    name = "agent"
    runs_in_caller = False
    records_remotely = False

    def __init__(self, queue: str, poll: float = POLL_SECONDS):
        self.queue = queue
        self.poll = poll
        self._watched: dict[str, tuple[Future, StepSpec, float]] = {}
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()

    def submit(self, spec: StepSpec) -> "Future[StepResult]":
        from ..store import open_store
        from ..steps import store_step_spec
        store = open_store(spec.store_path)
        if spec.function is not None:
            from ..tracking.task import Task
            task = Task._from_row(store, store.task_row(spec.task_id))
            runtime = dict(task._row.get("runtime") or {}, **store_step_spec(spec, task.get_output_destination()))
            store.update_task(spec.task_id, runtime=runtime)
        store.ensure_queue(self.queue)
        store.update_task(spec.task_id, status="queued", queue=self.queue, enqueued=time.time())
        future: Future = Future()
        with self._lock:
            self._watched[spec.task_id] = (future, spec, time.time())
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name=f"pipetrack-queue-{self.queue}", daemon=True)
                self._thread.start()
        return future

    def _watch(self) -> None:
        from ..store import open_store
        from .script import result_from_store
        while not self._stop.wait(self.poll):
            with self._lock:
                items = list(self._watched.items())
            for task_id, (future, spec, submitted) in items:
                store = open_store(spec.store_path)
                row = store.task_state(task_id)
                status = row["status"] if row else "failed"
                if status == "in_progress" and time_limit_passed(row["started"], spec.time_limit, time.time()):
                    status = _stop(store, task_id, "in_progress", time_limit_message(f"step {spec.name!r}",
                                                                                     spec.time_limit))
                if status == "created":  # dequeued (or reset) by someone else: it will not run
                    status = _stop(store, task_id, "created", f"step {spec.name!r} was taken off queue "
                                                              f"{self.queue!r} before an agent ran it")
                if status in ("completed", "failed", "stopped", "published", "closed"):
                    with self._lock:
                        self._watched.pop(task_id, None)
                    future.set_result(result_from_store(store, task_id, None))

    def cancel(self, task_id: str) -> None:
        with self._lock:
            entry = self._watched.get(task_id)
        if entry is None:
            return
        from ..store import open_store
        store = open_store(entry[1].store_path)
        store.end_task(task_id, "stopped", "aborted by the pipeline", only_from=("queued", "in_progress"))

    def shutdown(self) -> None:
        self._stop.set()


def _stop(store: Any, task_id: str, seen: str, message: str) -> str:
    """Close the task stopped if it is still ``seen`` (an agent may have moved it meanwhile);
    its status now."""
    store.end_task(task_id, "stopped", message, only_from=(seen,))
    return store.task_row(task_id)["status"]
