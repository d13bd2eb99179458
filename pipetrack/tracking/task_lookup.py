"""Finding tasks: the current and main task, ``get_task``/``get_tasks``/``query_tasks`` and
projects. A mixin of ``Task`` (see ``task.py``); the filters themselves are in ``query.py``."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from ..errors import NotFoundError, ValidationError
from . import query as _query
from .task_metadata import resolve_task_id as _resolve_task_id

TASK_ID_ENV = "PIPETRACK_TASK_ID"  # set by agents/executors: the task a process was handed


if TYPE_CHECKING:
    from .task import Task


class LookupMixin:
    @classmethod
    def current_task(cls) -> Optional["Task"]:
        """The task this code runs under: the step task inside a pipeline step, else the main task."""
        if cls._current_task_override is not None:
            return cls._current_task_override
        if cls._main_task is not None and not cls._main_task._closed:
            return cls._main_task
        return None

    def is_main_task(self) -> bool:
        main = type(self)._main_task
        return main is not None and main._id == self._id

    def is_current_task(self) -> bool:
        current = type(self).current_task()
        return current is not None and current._id == self._id

    @classmethod
    def get_task(cls, task_id: Optional[str] = None, project_name: Optional[str] = None,
                 task_name: Optional[str] = None, tags: Optional[Sequence[str]] = None,
                 allow_archived: bool = True, task_filter: Optional[Mapping] = None) -> "Task":
        """A task by id, or the most recent one matching project + name (+ tags/filter)."""
        store = cls._main_store()
        if task_id is not None:
            task_id = _resolve_task_id(task_id)
            row = store.task_row(task_id)
            if row is None:
                raise NotFoundError(f"no task with id {task_id!r}")
            return cls._from_row(store, row)
        if project_name is None and task_name is None:
            raise ValidationError("Task.get_task needs task_id, or project_name and/or task_name")
        rows = _query.find_tasks(store, project_name=project_name, exact_name=task_name, tags=tags,
                                 allow_archived=allow_archived, task_filter=task_filter, limit=1,
                                 exact_project=True)
        if not rows:
            raise NotFoundError(f"no task named {task_name!r} in project {project_name!r}")
        return cls._from_row(store, rows[0])

    @classmethod
    def get_tasks(cls, task_ids: Optional[Sequence[str]] = None, project_name: Optional[str | Sequence[str]] = None,
                  task_name: Optional[str] = None, tags: Optional[Sequence[str]] = None,
                  allow_archived: bool = True, task_filter: Optional[Mapping] = None) -> list["Task"]:
        """Tasks matching the filters (name is a regex; ``^name$`` for exact); at most 500."""
        store = cls._main_store()
        rows = _query.find_tasks(store, task_ids=[_resolve_task_id(t) for t in task_ids] if task_ids else None,
                                 project_name=project_name, task_name=task_name, tags=tags,
                                 allow_archived=allow_archived, task_filter=task_filter, limit=500)
        return [cls._from_row(store, row) for row in rows]

    @classmethod
    def get_by_name(cls, task_name: str) -> "Task":
        return cls.get_task(task_name=task_name)

    @classmethod
    def query_tasks(cls, project_name: Optional[str | Sequence[str]] = None, task_name: Optional[str] = None,
                    tags: Optional[Sequence[str]] = None, additional_return_fields: Optional[Sequence[str]] = None,
                    task_filter: Optional[Mapping] = None) -> list:
        """Ids of matching tasks, or dicts with ``id`` plus the requested (dotted) fields."""
        rows = _query.find_tasks(cls._main_store(), project_name=project_name, task_name=task_name,
                                 tags=tags, task_filter=task_filter)
        if not additional_return_fields:
            return [row["id"] for row in rows]
        return [{"id": row["id"], **{f: _query._field(row, f) for f in additional_return_fields}} for row in rows]

    @classmethod
    def get_projects(cls, **kwargs: Any) -> list:
        """All projects, most recently updated first (objects with id, name, created)."""
        from types import SimpleNamespace
        return [SimpleNamespace(**row) for row in cls._main_store().projects_by_activity()]

    @classmethod
    def get_project_id(cls, project_name: str, search_hidden: bool = True) -> Optional[str]:
        from .logger import check_name as storable
        return cls._main_store().project_id(storable("project_name", project_name))  # (not UnicodeEncodeError)

    @staticmethod
    def running_locally() -> bool:
        """False when an agent or executor is running this process for a stored task."""
        return not os.environ.get(TASK_ID_ENV)
