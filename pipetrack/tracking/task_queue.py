"""Queues: ``enqueue``/``dequeue``, handing a run to an agent (``execute_remotely``,
``create_function_task``) and counting pending tasks. A mixin of ``Task`` (see ``task.py``)."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from .task_metadata import check_name as _check_name, resolve_task_id as _resolve_task_id


if TYPE_CHECKING:
    from .task import Task


class QueueMixin:
    @classmethod
    def enqueue(cls, task: Any, queue_name: Optional[str] = None, queue_id: Optional[str] = None,
                force: bool = False) -> dict:
        """Put a Draft task on a queue (status queued); ``force`` resets a finished task first."""
        task_obj = task if isinstance(task, cls) else cls.get_task(task_id=_resolve_task_id(task))
        queue = _check_name("queue_name", queue_name or queue_id, allow_none=False)
        if force and task_obj.get_status() not in ("created", "queued"):
            task_obj.reset(force=True)
        task_obj._transition("queued", queue=queue, enqueued=time.time(), status_message="")
        # the queue is listed once something was really enqueued to it (not on a refused enqueue)
        task_obj._store.ensure_queue(queue)
        return {"queued": 1, "updated": 1, "fields": {"status": "queued", "execution.queue": queue}}

    @classmethod
    def dequeue(cls, task: Any) -> dict:
        """Take a pending task off its queue (back to Draft)."""
        task_obj = task if isinstance(task, cls) else cls.get_task(task_id=_resolve_task_id(task))
        task_obj._transition("created", queue=None, enqueued=None)
        return {"dequeued": 1, "updated": 1, "fields": {"status": "created", "execution.queue": None}}

    def execute_remotely(self, queue_name: Optional[str] = None, clone: bool = False,
                         exit_process: bool = True) -> Optional["Task"]:
        """Hand this run to an agent: enqueue this task (or a clone) and (by default) exit; a no-op
        when an agent is already running us (see ``remote_execution.py``)."""
        from .remote_execution import execute_remotely
        return execute_remotely(self, queue_name=queue_name, clone=clone, exit_process=exit_process)

    def create_function_task(self, func: Callable, func_name: Optional[str] = None, task_name: Optional[str] = None,
                             **kwargs: Any) -> Optional["Task"]:
        """A Draft task that runs ``func(**kwargs)`` when enqueued for an agent (see ``remote_execution.py``)."""
        from .remote_execution import create_function_task
        return create_function_task(self, func, func_name=func_name, task_name=task_name, **kwargs)

    @classmethod
    def get_num_enqueued_tasks(cls, queue_name: Optional[str] = None, queue_id: Optional[str] = None) -> int:
        queue = _check_name("queue_name", queue_name or queue_id, allow_none=False)
        return cls._main_store().queued_task_count(queue)
