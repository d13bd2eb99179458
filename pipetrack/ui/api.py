"""What the web UI shows, as JSON-ready dicts read from the store (no HTTP here).

Reads go straight to SQL so that a page of a 10,000-task store costs one indexed, paged
query and one COUNT, never a decode of every row (``tracking/query.find_tasks`` serves the
SDK's richer filters in Python and is too slow for that). Actions go through the ``Task``
API, so the UI obeys exactly the state rules of the SDK (a ``StateError`` becomes a 409).
"""
from __future__ import annotations

import json
import time
from typing import Any, Optional, Sequence

from ..errors import NotFoundError, ValidationError
from ..tracking.query import ARCHIVED_TAG, choice_clause, escape_like, project_clause
from ..tracking.store import Store, decode_task_row

# sortable columns of the tasks table -> SQL expression
TASK_SORTS = {
    "name": "t.name", "type": "t.type", "status": "t.status", "progress": "t.progress", "created": "t.created",
    "started": "t.started", "last_update": "t.last_update", "project": "p.name",
    "duration": "(COALESCE(t.completed, t.last_update) - t.started)",
}
MAX_PAGE_SIZE = 500
TABLE_COLUMNS = ("t.id, t.name, t.type, t.status, t.status_message, t.progress, t.tags, t.system_tags, t.created, "
                 "t.started, t.completed, t.last_update, t.last_iteration, t.parent, p.name AS project_name")


def _int_arg(name: str, value: Any, default: int, low: int, high: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be an integer between {low} and {high}, got {value!r}") from None
    if not low <= number <= high:
        raise ValidationError(f"{name} must be an integer between {low} and {high}, got {value!r}")
    return number


def _duration(row: dict) -> Optional[float]:
    if not row.get("started"):
        return None
    end = row.get("completed") or (time.time() if row["status"] == "in_progress" else row["last_update"])
    return max(0.0, end - row["started"])


def _table_row(row: dict) -> dict:
    row["tags"] = json.loads(row["tags"] or "[]")
    row["archived"] = ARCHIVED_TAG in json.loads(row.pop("system_tags") or "[]")
    row["duration"] = _duration(row)
    return row


# ---------------------------------------------------------------------------------- projects
def list_projects(store: Store) -> list[dict]:
    """Every project with its own and its sub-projects' task counts, as a tree (``children``)."""
    rows = store.query("SELECT p.id, p.name, COUNT(t.id) AS tasks, MAX(t.last_update) AS last_update "
                       "FROM projects p LEFT JOIN tasks t ON t.project_id=p.id GROUP BY p.id ORDER BY p.name")
    by_name: dict[str, dict] = {}
    roots: list[dict] = []
    for row in rows:
        parts = row["name"].split("/")
        for depth in range(1, len(parts) + 1):  # "a/b/c" needs "a" and "a/b" even if they hold no task
            name = "/".join(parts[:depth])
            if name not in by_name:
                node = {"name": name, "basename": parts[depth - 1], "id": None, "tasks": 0, "total_tasks": 0,
                        "last_update": None, "children": []}
                by_name[name] = node
                (by_name["/".join(parts[:depth - 1])]["children"] if depth > 1 else roots).append(node)
        node = by_name[row["name"]]
        node.update(id=row["id"], tasks=row["tasks"], last_update=row["last_update"])
        for depth in range(1, len(parts) + 1):
            by_name["/".join(parts[:depth])]["total_tasks"] += row["tasks"]
    return roots


# ---------------------------------------------------------------------------------- tasks table
def list_tasks(store: Store, project: Optional[str] = None, status: Sequence[str] = (), type: Sequence[str] = (),
               tag: Sequence[str] = (), search: Optional[str] = None, sort: str = "-created", page: Any = 0,
               page_size: Any = 50, archived: bool = False, parent: Optional[str] = None) -> dict:
    """One page of the tasks table: ``{"total", "page", "page_size", "rows"}``.

    ``status``/``type``/``tag`` values are OR-ed within a key and AND-ed across keys;
    ``search`` matches name, id or comment (case-insensitive); ``sort`` is a column of
    ``TASK_SORTS``, ``-`` for descending; archived tasks are shown only with ``archived``."""
    page = _int_arg("page", page, 0, 0, 10 ** 9)
    page_size = _int_arg("page_size", page_size, 50, 1, MAX_PAGE_SIZE)
    where: list[str] = []
    params: list[Any] = []
    if project:
        clause, values = project_clause(project)
        where.append(clause)
        params += values
    choice_clause(where, params, "status", list(status), "status filter")
    choice_clause(where, params, "type", list(type), "type filter")
    if tag:
        where.append(f"EXISTS (SELECT 1 FROM json_each(t.tags) WHERE value IN ({', '.join('?' * len(tag))}))")
        params += list(tag)
    if search:
        pattern = f"%{escape_like(search)}%"
        where.append("(t.name LIKE ? ESCAPE '\\' OR t.id LIKE ? ESCAPE '\\' OR t.comment LIKE ? ESCAPE '\\')")
        params += [pattern] * 3
    if parent:
        where.append("t.parent=?")
        params.append(parent)
    if not archived:
        where.append(f"NOT EXISTS (SELECT 1 FROM json_each(t.system_tags) WHERE value='{ARCHIVED_TAG}')")
    column = sort[1:] if sort[:1] in ("-", "+") else sort
    if column not in TASK_SORTS:
        raise ValidationError.choice("sort column", sort, sorted(TASK_SORTS) + [f"-{c}" for c in sorted(TASK_SORTS)])
    order = f"{TASK_SORTS[column]} {'DESC' if sort.startswith('-') else 'ASC'}, t.created DESC"
    sql_from = "FROM tasks t JOIN projects p ON p.id=t.project_id" + (" WHERE " + " AND ".join(where) if where else "")
    total = store.query_one(f"SELECT COUNT(*) AS n {sql_from}", params)["n"]
    rows = store.query(f"SELECT {TABLE_COLUMNS} {sql_from} ORDER BY {order} LIMIT ? OFFSET ?",
                       [*params, page_size, page * page_size])
    return {"total": total, "page": page, "page_size": page_size, "rows": [_table_row(r) for r in rows]}


# ---------------------------------------------------------------------------------- one task
def _task_row(store: Store, task_id: str) -> dict:
    row = store.query_one("SELECT t.*, p.name AS project_name FROM tasks t JOIN projects p ON p.id=t.project_id "
                          "WHERE t.id=?", (task_id,))
    if row is None:
        raise NotFoundError(f"no task with id {task_id!r}")
    return decode_task_row(row)


def task_detail(store: Store, task_id: str) -> dict:
    """Everything the task page shows except the long series (console, scalars, plots, samples)."""
    from ..tracking.scalars import last_metrics
    row = _task_row(store, task_id)
    row["archived"] = ARCHIVED_TAG in row["system_tags"]
    row["duration"] = _duration(row)
    if row.get("parent"):
        parent = store.query_one("SELECT id, name, type FROM tasks WHERE id=?", (row["parent"],))
        row["parent_task"] = parent
    sections: dict[str, list[dict]] = {}
    for p in store.query("SELECT section, name, value, type, description FROM params WHERE task_id=? "
                         "ORDER BY section, name", (task_id,)):
        sections.setdefault(p.pop("section"), []).append(p)
    row["parameters"] = sections
    row["configurations"] = store.query("SELECT name, value, type, description FROM configs WHERE task_id=? "
                                        "ORDER BY name", (task_id,))
    row["artifacts"] = []
    for a in store.query("SELECT name, mode, type, uri, size, hash, content_type, extension, metadata, preview, "
                         "created FROM artifacts WHERE task_id=? ORDER BY created", (task_id,)):
        a["metadata"] = json.loads(a["metadata"] or "{}")
        row["artifacts"].append(a)
    row["models"] = store.query(
        "SELECT tm.role, tm.name AS task_name, m.id, m.name, m.uri, m.framework, m.iteration, m.published, m.comment "
        "FROM task_models tm JOIN models m ON m.id=tm.model_id WHERE tm.task_id=? ORDER BY tm.role, tm.seq", (task_id,))
    row["single_values"] = store.query("SELECT name, value FROM single_values WHERE task_id=? ORDER BY name",
                                       (task_id,))
    row["last_metrics"] = last_metrics(store, task_id)
    row["children"] = store.query("SELECT COUNT(*) AS n FROM tasks WHERE parent=?", (task_id,))[0]["n"]
    return row


def task_console(store: Store, task_id: str, tail: Any = 500, after: Any = None, search: Optional[str] = None) -> dict:
    """Console lines, oldest first: the last ``tail`` lines (matching ``search``), or with
    ``after`` every line after that sequence number (the page follows a running task so)."""
    _task_row(store, task_id)
    tail = _int_arg("tail", tail, 500, 1, 100_000)
    # last_seq first, and no line after it: a line written between two queries would otherwise be
    # past last_seq without being in "lines", and a reader polling with after=last_seq would skip it
    last = store.query_one("SELECT MAX(seq) AS s FROM console WHERE task_id=?", (task_id,))["s"] or 0
    where, params = ["task_id=?", "seq<=?"], [task_id, last]
    if after not in (None, ""):
        where.append("seq>?")
        params.append(_int_arg("after", after, 0, 0, 2 ** 62))
    if search:
        where.append("text LIKE ? ESCAPE '\\'")
        params.append(f"%{escape_like(search)}%")
    rows = store.query(f"SELECT seq, ts, level, text FROM console WHERE {' AND '.join(where)} ORDER BY seq DESC "
                       "LIMIT ?", [*params, tail])
    rows.reverse()
    return {"lines": rows, "last_seq": last}


def task_scalars(store: Store, task_id: str, x_axis: str = "iter") -> dict:
    """``{title: {series: {"x": [...], "y": [...]}}}`` with iterations or epoch seconds on x."""
    from ..tracking.scalars import all_scalars
    _task_row(store, task_id)
    if x_axis not in ("iter", "time"):
        raise ValidationError.choice("x_axis", x_axis, ("iter", "time"))
    graphs = all_scalars(store, task_id, "iter" if x_axis == "iter" else "timestamp")
    if x_axis == "time":
        for series in graphs.values():
            for graph in series.values():
                graph["x"] = [ms / 1000.0 for ms in graph["x"]]
    return graphs


def task_plots(store: Store, task_id: str) -> list[dict]:
    _task_row(store, task_id)
    return [{"seq": r["seq"], "metric": r["metric"], "variant": r["variant"], "iteration": r["iteration"],
             "figure": json.loads(r["figure"])}
            for r in store.query("SELECT seq, metric, variant, iteration, figure FROM plots WHERE task_id=? "
                                 "ORDER BY seq", (task_id,))]


def task_debug_samples(store: Store, task_id: str) -> list[dict]:
    _task_row(store, task_id)
    return store.query("SELECT seq, metric, variant, iteration, url, ts FROM debug_samples WHERE task_id=? "
                       "ORDER BY metric, variant, seq DESC", (task_id,))


def debug_sample_url(store: Store, task_id: str, seq: int) -> str:
    row = store.query_one("SELECT url FROM debug_samples WHERE task_id=? AND seq=?", (task_id, seq))
    if row is None:
        raise NotFoundError(f"task {task_id!r} has no debug sample #{seq}")
    return row["url"]


def artifact_url(store: Store, task_id: str, name: str) -> tuple[str, dict]:
    row = store.query_one("SELECT uri, extension, content_type FROM artifacts WHERE task_id=? AND name=?",
                          (task_id, name))
    if row is None:
        _task_row(store, task_id)
        raise NotFoundError(f"task {task_id!r} has no artifact named {name!r}")
    return row["uri"], row


# ---------------------------------------------------------------------------------- compare
def compare_tasks(store: Store, task_ids: Sequence[str]) -> dict:
    """2–5 tasks side by side: their rows, parameters (with a ``differs`` flag) and scalars."""
    from ..tracking.compare import check_compare_count, compare_parameters
    ids = [i for i in task_ids if i]
    check_compare_count(ids)
    tasks, params = [], []
    for task_id in ids:
        row = _task_row(store, task_id)
        tasks.append({k: row[k] for k in ("id", "name", "status", "type", "project_name")})
        params.append({f"{p['section']}/{p['name']}": p["value"] for p in
                       store.query("SELECT section, name, value FROM params WHERE task_id=?", (task_id,))})
    return {"tasks": tasks, "parameters": compare_parameters(params),
            "scalars": [task_scalars(store, task_id) for task_id in ids]}


# ---------------------------------------------------------------------------------- pipelines
def list_pipelines(store: Store, project: Optional[str] = None, name: Optional[str] = None, page: Any = 0,
                   page_size: Any = 50) -> dict:
    from ..pipelines.runs import list_runs
    page = _int_arg("page", page, 0, 0, 10 ** 9)
    page_size = _int_arg("page_size", page_size, 50, 1, MAX_PAGE_SIZE)
    total, rows = list_runs(store, project=project, name=name, limit=page_size, offset=page * page_size)
    return {"total": total, "page": page, "page_size": page_size, "rows": rows}


def pipeline_run(store: Store, run_id: str) -> dict:
    from ..pipelines.runs import load_run
    return load_run(store, run_id)


def list_queues(store: Store) -> list[dict]:
    """Known queues with their pending-task counts (a queue exists once something was enqueued to it)."""
    return store.query("SELECT q.name, (SELECT COUNT(*) FROM tasks t WHERE t.queue=q.name AND t.status='queued') "
                       "AS queued FROM queues q ORDER BY q.name")
