"""Task queries: the filters of ``Task.get_tasks`` / ``Task.query_tasks``, in the store plus Python.

Cheap, indexed conditions (ids, project, status, type, exact name, parent) are the store's
``tasks_matching``; the archived flag, name regexes, tag expressions and ``_all_``/``_any_``
field patterns are applied in Python to the rows it returns.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Sequence

from ..errors import NotFoundError, ValidationError
from .logger import check_name as _storable
from .states import STATUSES, TASK_TYPES
from ..store import TaskStore
from ..store.catalogue import ARCHIVED_TAG, TASK_ORDER_FIELDS

MIN_ID_PREFIX = 4  # as git: shorter prefixes are ambiguous too soon to be worth accepting
ID_PREFIX = re.compile(r"[0-9a-f]+")
ID_LENGTH = 32
# "user" is accepted and ignored: the embedded store has a single user.
TASK_FILTER_KEYS = ("status", "type", "parent", "search_text", "order_by", "_all_", "_any_", "user",
                    "page", "page_size")
ORDERABLE = TASK_ORDER_FIELDS


def tag_matcher(tags: Sequence[str]):
    """Compile ClearML's tag filter language into ``predicate(task_tags) -> bool``.

    Plain tags are OR-ed by default; ``-tag`` and ``__$not tag`` negate one tag;
    ``__$all``/``__$and`` switch following tags to AND, ``__$or`` back to OR. Groups
    introduced by an operator are AND-ed together, as in the seed's example.
    """
    if isinstance(tags, str):
        tags = [tags]
    groups: list[tuple[str, list[tuple[bool, str]]]] = [("or", [])]
    negate_next = False
    for raw in tags:
        if raw in ("__$all", "__$and"):
            groups.append(("and", []))
        elif raw == "__$or":
            groups.append(("or", []))
        elif raw == "__$not":
            negate_next = True
        else:
            negated = negate_next or raw.startswith("-")
            groups[-1][1].append((negated, raw[1:] if raw.startswith("-") and not negate_next else raw))
            negate_next = False
    groups = [g for g in groups if g[1]]

    def match(task_tags: Iterable[str]) -> bool:
        have = set(task_tags)
        for mode, terms in groups:
            results = [(tag in have) != negated for negated, tag in terms]
            if not (all(results) if mode == "and" else any(results)):
                return False
        return True

    return match


def _field(row: Mapping[str, Any], dotted: str) -> Any:
    value: Any = row
    for part in dotted.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    return [v.value if hasattr(v, "value") else v for v in value]


CHOICES = {"status": STATUSES, "type": TASK_TYPES}


def check_choices(key: str, values: Sequence[str], what: str) -> list[str]:
    """``values`` of the ``status`` or ``type`` filter as a list, refusing one that is not a known
    status / task type (``what`` names the filter in the error)."""
    accepted = CHOICES[key]
    for value in values:
        if value not in accepted:
            raise ValidationError.choice(what, value, accepted)
    return list(values)


def find_tasks(store: TaskStore, task_ids: Sequence[str] | None = None,
               project_name: str | Sequence[str] | None = None, task_name: str | None = None,
               tags: Sequence[str] | None = None, allow_archived: bool = True,
               task_filter: Mapping[str, Any] | None = None, limit: int | None = None,
               exact_project: bool = False, exact_name: str | None = None) -> list[dict[str, Any]]:
    """Rows of tasks matching the filters, most recently created first unless ``order_by``.
    ``exact_name`` is an exact name matched in SQL (indexed), ``task_name`` a regex."""
    task_filter = dict(task_filter or {})
    unknown = set(task_filter) - set(TASK_FILTER_KEYS)
    if unknown:
        raise ValidationError(f"unknown task_filter key(s) {sorted(unknown)}; accepted: {list(TASK_FILTER_KEYS)}")
    ids = _as_list(task_ids) if task_ids is not None else None
    if ids == []:
        return []
    projects = [] if ids is not None else _as_list(project_name)
    for name in projects:
        _storable("project_name", name)  # a lone surrogate failed the query with UnicodeEncodeError
    statuses, types = (check_choices(key, [str(v) for v in _as_list(task_filter.get(key))], f"task_filter {key}")
                       for key in ("status", "type"))
    parent = task_filter.get("parent")
    order = []
    for key in _as_list(task_filter.get("order_by")) or ["-created"]:
        column = key.lstrip("-+").replace("last_updated", "last_update")
        if column not in ORDERABLE:
            raise ValidationError.choice("task_filter order_by field", key, ORDERABLE)
        order.append((column, key.startswith("-")))
    rows = store.tasks_matching(task_ids=ids, projects=projects, exact_project=exact_project, statuses=statuses,
                                types=types, name=exact_name, parent=getattr(parent, "id", parent) if parent else None,
                                order=order)

    name_re = None
    if task_name and task_ids is None:
        try:
            name_re = re.compile(task_name)
        except re.error as exc:
            raise ValidationError(f"task_name {task_name!r} is not a valid regular expression: {exc}") from None
    tag_match = tag_matcher(tags) if tags else None
    search = task_filter.get("search_text")
    patterns = []
    for key, need_all in (("_all_", True), ("_any_", False)):
        spec = task_filter.get(key)
        if spec:
            patterns.append((re.compile(spec.get("pattern", "")), list(spec.get("fields", [])), need_all))
    paged = "page" in task_filter or "page_size" in task_filter
    out = []
    for row in rows:
        if not allow_archived and ARCHIVED_TAG in row["system_tags"]:
            continue
        if name_re and not name_re.search(row["name"]):
            continue
        if tag_match and not tag_match(row["tags"]):
            continue
        if search and not any(search.lower() in str(row.get(f) or "").lower() for f in ("name", "comment", "id")):
            continue
        if patterns and not all(
                (all if need_all else any)(pat.search(str(_field(row, f) or "")) for f in fields)
                for pat, fields, need_all in patterns):
            continue
        out.append(row)
        if limit and not paged and len(out) >= limit:
            break
    if paged:
        page, size = task_filter.get("page") or 0, task_filter.get("page_size") or 500
        if not isinstance(page, int) or not isinstance(size, int) or page < 0 or size < 1:
            raise ValidationError(f"task_filter page/page_size must be ints >= 0 / >= 1, got {page!r}/{size!r}")
        out = out[page * size:(page + 1) * size]
    return out[:limit] if limit else out



def complete_task_id(store: TaskStore, text: str) -> str:
    """The id of the one task whose id is ``text`` or starts with it (a unique prefix, as git
    takes abbreviated commits); ValidationError for a non-hex, too short or ambiguous prefix,
    NotFoundError when no task matches."""
    prefix = text.strip().lower() if isinstance(text, str) else text
    if not isinstance(prefix, str) or not ID_PREFIX.fullmatch(prefix):
        if isinstance(text, str) and text and store.task_row(_storable("task id", text)) is not None:
            return text  # an id made elsewhere (not pipetrack's hex): exact matches only
        raise ValidationError(f"task id {text!r} is not a task id: expected its hexadecimal digits "
                              f"(the whole id, or a unique prefix of at least {MIN_ID_PREFIX})")
    if len(prefix) >= ID_LENGTH:  # a whole id: the caller's lookup says if it names nothing
        return prefix
    if len(prefix) < MIN_ID_PREFIX:
        raise ValidationError(f"task id prefix {text!r} is too short: give at least {MIN_ID_PREFIX} digits")
    matches = store.task_ids_starting_with(prefix, limit=6)
    if not matches:
        raise NotFoundError(f"no task id starts with {prefix!r} in store {store}")
    if len(matches) > 1 and prefix not in matches:
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise ValidationError(f"task id prefix {prefix!r} is ambiguous: it starts {shown}; give more digits")
    return prefix if prefix in matches else matches[0]
