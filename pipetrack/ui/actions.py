"""State-changing UI actions, each one call into the ``Task`` API.

Nothing here checks states itself: the Task model (``tracking/states.py``, ``_check_editable``)
decides, so the UI can never do what a script could not, and an illegal request answers with
the model's own ``StateError`` message (HTTP 409).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from ..errors import ValidationError
from ..store import TaskStore


def _task(store: TaskStore, task_id: str) -> Any:
    from ..tracking.task import Task
    if store.location != Task._main_store().location:
        raise ValidationError(f"the UI serves store {store}, but Task uses {Task._main_store()}")
    return Task.get_task(task_id=task_id)


def _text(body: dict, key: str, required: bool = False) -> Any:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{key!r} must be a non-empty string, got {value!r}")
    return value.strip()


def clone(store: TaskStore, task_id: str, body: dict) -> dict:
    from ..tracking.task import Task
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise ValidationError(f"'comment' must be a string, got {comment!r}")
    new = Task.clone(source_task=_task(store, task_id), name=_text(body, "name"), comment=comment)
    return {"id": new.id, "status": new.get_status()}


def parameters(store: TaskStore, task_id: str, body: dict) -> dict:
    """Set ``{"parameters": {"Section/name": value, ...}}`` on a Draft task (others: 409)."""
    values = body.get("parameters")
    if not isinstance(values, dict) or not values:
        raise ValidationError(f"'parameters' must be a non-empty object of 'Section/name': value, got {values!r}")
    for key in values:
        if not isinstance(key, str) or "/" not in key.strip("/") or key != key.strip():
            raise ValidationError(f"parameter name {key!r} must look like 'Section/name' (e.g. 'Args/lr'), "
                                  "without surrounding spaces")
    task = _task(store, task_id)
    types = {f"{r['section']}/{r['name']}": r["type"] for r in store.task_params(task.id)}
    task.update_parameters({key: _typed(key, value, types.get(key)) for key, value in values.items()})
    return {"id": task_id, "parameters": task.get_parameters()}


TYPED_PARAMETERS = ("int", "float", "bool", "list", "tuple", "dict")
BOOL_WORDS = ("true", "false", "1", "0", "yes", "no", "y", "n", "on", "off")


def _typed(key: str, value: Any, type_name: Optional[str]) -> Any:
    """A value typed in the page (a string) cast to the parameter's stored type, so an edit keeps
    ``get_parameters(cast=True)`` and ``connect()`` returning a float for a float; text that is
    not a valid value of that type is refused instead of silently becoming a string."""
    from ..tracking.parameters import cast_value
    if not isinstance(value, str) or type_name not in TYPED_PARAMETERS:
        return value
    if type_name == "bool" and value.strip().lower() not in BOOL_WORDS:
        raise ValidationError(f"parameter {key!r} is a bool: {value!r} is not one of {', '.join(BOOL_WORDS)}")
    typed = cast_value(value.strip(), type_name)
    if isinstance(typed, str):
        raise ValidationError(f"parameter {key!r} is {'an' if type_name == 'int' else 'a'} {type_name}: "
                              f"{value!r} is not a valid {type_name} value")
    return typed


def enqueue(store: TaskStore, task_id: str, body: dict) -> dict:
    from ..tracking.task import Task
    return Task.enqueue(_task(store, task_id), queue_name=_text(body, "queue", required=True))


def dequeue(store: TaskStore, task_id: str, body: dict) -> dict:
    from ..tracking.task import Task
    return Task.dequeue(_task(store, task_id))


def abort(store: TaskStore, task_id: str, body: dict) -> dict:
    """Mark the task stopped; its own process (or agent) sees that and ends it (abort callbacks run)."""
    _task(store, task_id).mark_stopped(status_message="aborted from the pipetrack UI")
    return {"id": task_id, "status": "stopped"}


def publish(store: TaskStore, task_id: str, body: dict) -> dict:
    _task(store, task_id).publish(ignore_errors=False)
    return {"id": task_id, "status": "published"}


def reset(store: TaskStore, task_id: str, body: dict) -> dict:
    _task(store, task_id).reset()
    return {"id": task_id, "status": "created"}


def archive(store: TaskStore, task_id: str, body: dict) -> dict:
    """``{"archive": false}`` restores an archived task."""
    flag = body.get("archive", True)
    if not isinstance(flag, bool):
        raise ValidationError(f"'archive' must be true or false, got {flag!r}")
    _task(store, task_id).set_archived(flag)
    return {"id": task_id, "archived": flag}


def delete(store: TaskStore, task_id: str, body: dict) -> dict:
    _task(store, task_id).delete()
    return {"id": task_id, "deleted": True}


ACTIONS: dict[str, Callable[[TaskStore, str, dict], dict]] = {
    "clone": clone, "parameters": parameters, "enqueue": enqueue, "dequeue": dequeue, "abort": abort,
    "publish": publish, "reset": reset, "archive": archive, "delete": delete,
}


def perform(store: TaskStore, action: str, task_id: str, body: dict) -> dict:
    if action not in ACTIONS:
        raise ValidationError.choice("action", action, ACTIONS)
    return ACTIONS[action](store, task_id, body)
