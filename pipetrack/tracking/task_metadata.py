"""Metadata edits of a Task: name, comment, parent, type, project, tags, archive flag, user
properties and container (a mixin of ``Task``).

Tags, comment, archive flag and user properties are metadata that may be changed on any
non-published task, as in ClearML; the rest follows the Draft-only editing rule of ``task.py``.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from ..errors import NotFoundError, ValidationError
from . import query as _query
from .logger import check_name as storable, shown
from .states import normalise_task_type


def resolve_task_id(task: Any) -> str:
    """The id of a Task object or an id string (a ValidationError for anything else)."""
    task_id = getattr(task, "id", task)
    if not isinstance(task_id, str) or not task_id:
        raise ValidationError(f"expected a Task or a task id string, got {shown(task)}")
    return storable("task id", task_id)  # a lone surrogate failed the lookup with UnicodeEncodeError


def check_name(kind: str, value: Any, allow_none: bool = True) -> Optional[str]:
    """A stripped non-empty name the store can hold (None passes when ``allow_none``); else a
    ValidationError (also for a lone surrogate, which SQLite would refuse with a UnicodeEncodeError)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{kind} must be a non-empty string, got {shown(value)}")
    return storable(kind, value.strip())


def check_storable_data(what: str, value: Any) -> Any:
    """``value`` (data kept as JSON) if all its text is valid Unicode, else a ValidationError: a
    lone surrogate survives ``json.dumps`` as an escape, but the UI (UTF-8 JSON) then can't send
    the task (every page showing it answered 500)."""
    import json
    text = json.dumps(value, ensure_ascii=False, default=str)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(f"{what} {shown(value)} holds a lone surrogate ({text[exc.start]!r}), which can't "
                                  "be stored; use valid Unicode text") from None
    return value


def check_tags(tags: Any) -> list[str]:
    """Tags are a list (tuple, set) of storable strings: a bare string (which would become one tag
    per letter), a non-str tag (read back as its str(), not itself) or a lone surrogate (which
    the UI could not send) is refused. None is no tags."""
    if tags is None:
        return []
    if isinstance(tags, str):
        raise ValidationError(f"tags must be a list of strings, got {tags!r}; e.g. tags=[{tags!r}]")
    if not isinstance(tags, (list, tuple, set, frozenset)) or not all(isinstance(t, str) for t in tags):
        raise ValidationError(f"tags must be a list of strings, got {shown(tags)}")
    return [storable("tag", tag) for tag in tags]


class MetadataMixin:
    """Editing of a task's descriptive fields."""

    def set_name(self, name: str) -> None:
        self._set_fields("name", metadata=True, name=check_name("name", name, allow_none=False))

    def rename(self, new_name: str) -> None:
        self.set_name(new_name)

    def set_comment(self, comment: str) -> None:
        self._set_fields("comment", metadata=True, comment=storable("comment", str(comment)))

    def set_parent(self, parent: Any) -> None:
        parent_id = None if parent is None else resolve_task_id(parent)
        if parent_id == self._id:
            raise ValidationError(f"task {self._id} cannot be its own parent")
        self._set_fields("parent", parent=parent_id)

    def set_task_type(self, task_type: Any) -> None:
        self._set_fields("task type", type=normalise_task_type(task_type))

    def move_to_project(self, new_project_id: Optional[str] = None, new_project_name: Optional[str] = None,
                        system_tags: Optional[Sequence[str]] = None) -> bool:
        if new_project_id is None and new_project_name is None:
            raise ValidationError("move_to_project needs new_project_id or new_project_name")
        if new_project_id is not None and self._store.project_name(new_project_id) is None:
            raise NotFoundError(f"no project with id {new_project_id!r}")
        project_id = new_project_id or self._store.project_id(
            check_name("new_project_name", new_project_name, allow_none=False), create=True)
        self._set_fields("project", metadata=True, project_id=project_id)
        return True

    def set_project(self, project_id: Optional[str] = None, project_name: Optional[str] = None) -> None:
        self.move_to_project(new_project_id=project_id, new_project_name=project_name)

    def add_tags(self, tags: str | Sequence[str]) -> None:
        tags = check_tags([tags] if isinstance(tags, str) else tags)
        self.reload()
        self._set_fields("tags", metadata=True, tags=list(dict.fromkeys([*self._row["tags"], *tags])))

    def set_tags(self, tags: Sequence[str]) -> None:
        self._set_fields("tags", metadata=True, tags=check_tags(tags))

    def get_tags(self) -> list[str]:
        return list(self.data["tags"])

    def set_system_tags(self, tags: Sequence[str]) -> None:
        self._set_fields("system tags", metadata=True, system_tags=list(tags))

    def get_system_tags(self) -> list[str]:
        return list(self.data["system_tags"])

    def set_archived(self, archive: bool) -> None:
        tags = [t for t in self.get_system_tags() if t != _query.ARCHIVED_TAG]
        self._set_fields("archive flag", metadata=True, system_tags=tags + ([_query.ARCHIVED_TAG] if archive else []))

    def get_archived(self) -> bool:
        return _query.ARCHIVED_TAG in self.get_system_tags()

    def set_user_properties(self, *iterables: Any, **properties: Any) -> bool:
        props = dict(self.data["user_properties"])
        items: list[tuple[str, Any]] = []
        for iterable in iterables:
            if isinstance(iterable, Mapping):
                items += list(iterable.items())
            else:
                for entry in iterable:
                    if not isinstance(entry, Mapping) or "name" not in entry:
                        raise ValidationError(f"user property {entry!r} must be a dict with a 'name' field")
                    items.append((entry["name"], entry))
        items += list(properties.items())
        for name, value in items:
            if isinstance(value, Mapping):
                if "value" not in value:
                    raise ValidationError(f"user property {name!r} details must contain 'value', got {value!r}")
                detail = {"name": name, "value": str(value["value"]),
                          "description": str(value.get("description", "")),
                          "type": getattr(value.get("type"), "__name__", value.get("type") or "")}
            else:
                detail = {"name": name, "value": str(value), "description": "", "type": ""}
            props[name] = detail
        self._set_fields("user properties", metadata=True, user_properties=props)
        return True

    def get_user_properties(self, value_only: bool = False) -> dict:
        props = self.data["user_properties"]
        return {k: v["value"] for k, v in props.items()} if value_only else dict(props)

    def delete_user_properties(self, *iterables: Any) -> bool:
        props = dict(self.data["user_properties"])
        for iterable in iterables:
            for entry in ([iterable] if isinstance(iterable, str) else iterable):
                props.pop(entry["name"] if isinstance(entry, Mapping) else entry, None)
        self._set_fields("user properties", metadata=True, user_properties=props)
        return True

    def set_base_docker(self, docker_cmd: Optional[str] = None, docker_image: Optional[str] = None,
                        docker_arguments: Optional[str | Sequence[str]] = None,
                        docker_setup_bash_script: Optional[str | Sequence[str]] = None) -> None:
        image, _, args = (docker_cmd or "").partition(" ")
        self._set_fields("container", container={"image": docker_image or image or "",
                                                 "arguments": docker_arguments or args or "",
                                                 "setup_shell_script": docker_setup_bash_script or ""})

    def get_base_docker(self) -> str:
        container = self.data["container"] or {}
        return " ".join(p for p in (container.get("image"), container.get("arguments")) if p)
