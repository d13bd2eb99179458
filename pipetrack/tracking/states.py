"""Task statuses, task types and the legal status transitions (ClearML's state table)."""
from __future__ import annotations

from enum import Enum

from ..errors import StateError, ValidationError


class TaskStatusEnum(str, Enum):
    """Task statuses as ClearML names them (UI names in comments)."""

    created = "created"          # Draft
    queued = "queued"            # Pending
    in_progress = "in_progress"  # Running
    stopped = "stopped"          # Aborted
    published = "published"
    publishing = "publishing"
    closed = "closed"
    failed = "failed"
    completed = "completed"
    unknown = "unknown"

    def __str__(self) -> str:
        return self.value


class TaskTypes(str, Enum):
    """Valid task types (``Task.TaskTypes``)."""

    training = "training"
    testing = "testing"
    inference = "inference"
    data_processing = "data_processing"
    application = "application"
    monitor = "monitor"
    controller = "controller"
    optimizer = "optimizer"
    service = "service"
    qc = "qc"
    custom = "custom"

    def __str__(self) -> str:
        return self.value


STATUSES = tuple(s.value for s in TaskStatusEnum)
TASK_TYPES = tuple(t.value for t in TaskTypes)
FINISHED = ("completed", "failed", "stopped", "published", "closed")

# status -> statuses reachable from it without force.
TRANSITIONS: dict[str, set[str]] = {
    # a Draft goes to Pending or Running; finishing it needs force=True (as ClearML's mark_* force)
    "created": {"queued", "in_progress", "stopped"},
    "queued": {"created", "in_progress", "stopped", "failed"},
    "in_progress": {"completed", "failed", "stopped", "closed"},
    # Completed/Failed/Aborted: reset (-> Draft), continue (-> Running), publish; an abort is never
    # overwritten by a late completion, and re-queueing goes through a reset (enqueue(force=True))
    "completed": {"published", "created", "in_progress", "closed"},
    "failed": {"created", "in_progress"},
    "stopped": {"created", "in_progress", "published"},
    "closed": {"published", "created"},
    "published": set(),
}


def normalise_task_type(task_type: object) -> str:
    """Accept a TaskTypes member or its string value; anything else is a ValidationError."""
    value = task_type.value if isinstance(task_type, Enum) else task_type
    if value not in TASK_TYPES:
        raise ValidationError.choice("task type", task_type, TASK_TYPES)
    return str(value)


def normalise_status(status: object) -> str:
    value = status.value if isinstance(status, Enum) else status
    if value not in STATUSES:
        raise ValidationError.choice("task status", status, STATUSES)
    return str(value)


def check_transition(task_id: str, current: str, target: str, force: bool = False) -> None:
    """Raise StateError unless ``current -> target`` is legal (``force`` allows all but published)."""
    if current == "published":
        raise StateError(f"task {task_id} is published (read-only); cannot change its status to {target!r}")
    if force or target in TRANSITIONS.get(current, set()):
        return
    allowed = ", ".join(sorted(TRANSITIONS.get(current, set()))) or "none"
    raise StateError(f"task {task_id}: illegal status change {current!r} -> {target!r} "
                     f"(from {current!r} allowed: {allowed}; use force=True to override)")


def duration_seconds(row: dict, now: float | None = None) -> float | None:
    """How long a task (row with status/started/completed/last_update) ran: until it completed,
    until now while it runs, else until its last update; None if it never started."""
    import time
    if not row.get("started"):
        return None
    end = row.get("completed") or ((now or time.time()) if row.get("status") == "in_progress"
                                    else row.get("last_update") or (now or time.time()))
    return max(0.0, end - row["started"])
