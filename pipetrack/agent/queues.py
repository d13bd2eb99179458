"""Queue contents and order: what an agent serving a queue will run next.

An agent takes a queue's tasks by priority (higher first), then in the order they were
enqueued. ``Task.enqueue`` gives priority 0; :func:`set_priority` / :func:`move_to_front`
reorder pending tasks (ClearML does this by dragging tasks in the queue's UI).
"""
from __future__ import annotations

from typing import Any, Optional

from ..errors import StateError, ValidationError
from ..store import TaskStore, default_store
from ..tracking.task_metadata import resolve_task_id


def set_priority(task: Any, priority: int, store: Optional[TaskStore] = None) -> None:
    """Set the queue priority of a Draft or pending task (higher runs first)."""
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ValidationError(f"priority must be an int, got {priority!r}")
    store = store or default_store()
    task_id = resolve_task_id(task)
    if not store.update_task(task_id, where_status=("created", "queued"), priority=priority):
        row = store.task_row(task_id)
        raise StateError(f"cannot set the priority of task {task_id}: " +
                         ("no such task" if row is None else f"it is {row['status']!r}, not Draft or pending"))


def move_to_front(task: Any, store: Optional[TaskStore] = None) -> None:
    """Make a pending task the next one its queue's agents take."""
    store = store or default_store()
    task_id = resolve_task_id(task)
    row = store.task_row(task_id)
    if row is None or row["status"] != "queued":
        raise StateError(f"task {task_id} is not pending in a queue")
    set_priority(task_id, (store.top_queued_priority(row["queue"]) or 0) + 1, store)


def queue_entries(queue: str, store: Optional[TaskStore] = None) -> list[dict]:
    """The pending tasks of ``queue`` in the order an agent takes them."""
    store = store or default_store()
    return store.queued_tasks(queue)
