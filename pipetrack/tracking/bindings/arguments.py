"""What the argument-parser bindings (click, fire, jsonargparse, hydra) share: a recorder of the
values one parser saw (written to the task at once, or kept until ``Task.init`` when parsed
before it) and the stored parameters an agent run applies instead of the parsed ones."""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from .options import argument_allowed

SECTION = "Args"


class ArgsRecorder:
    """Arguments one parser binding saw: written to the current task at once, or kept until
    ``Task.init`` when they were parsed before it. ``auto_connect_arg_parser`` dict rules
    (``filter``) apply to each argument's own name."""

    def __init__(self) -> None:
        self.filter: Any = True
        self._values: dict[str, tuple[str, Any, Optional[str]]] = {}  # key -> (argument name, value, type)

    def add(self, key: str, argument: str, value: Any, type_name: Optional[str] = None) -> None:
        self._values[key] = (argument, value, type_name)

    def flush(self) -> None:
        """Write what was collected to the current task (nothing without one)."""
        from ..task import Task
        task = Task.current_task()
        if task is None or task._closed or not self._values:
            return
        chosen = {k: v for k, v in self._values.items() if argument_allowed(self.filter, v[0])}
        self._values = {}
        if chosen:
            task._write_params({k: plain(v[1]) for k, v in chosen.items()},
                               types={k: v[2] for k, v in chosen.items() if v[2]}, check=False)


_stored_cache: dict[tuple[str, str], dict[str, dict]] = {}


def stored_rows(section: str = SECTION) -> Optional[dict[str, dict]]:
    """``{name: row}`` of the stored parameters of ``section`` when this process runs a task for
    an agent (also before its ``Task.init``: the agent names the task in the environment); None
    when it runs locally. Read once: what the process records later must not change what it applies."""
    from ..task import Task
    from ..task_lookup import TASK_ID_ENV
    task = Task.current_task()
    task_id = task.id if task is not None else os.environ.get(TASK_ID_ENV)
    if not task_id or (task is not None and not task._remote):
        return None
    if (task_id, section) not in _stored_cache:
        try:
            task = task or Task.get_task(task_id=task_id)
        except Exception:  # noqa: BLE001 - no readable task: run with the parsed values
            return None
        _stored_cache[(task_id, section)] = {r["name"]: r for r in task._param_rows() if r["section"] == section}
    return dict(_stored_cache[(task_id, section)])


def truthy(text: Any) -> bool:
    return str(text).strip().lower() in ("true", "1", "yes", "y", "on")


def plain(value: Any) -> Any:
    """A value as a parameter can hold it: basic values and lists of them; anything else as text."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)
