"""What the web UI shows, as JSON-ready dicts read from the store (no HTTP here).

Reads go straight to SQL so that a page of a 10,000-task store costs one indexed, paged
query and one COUNT, never a decode of every row (``tracking/query.find_tasks`` serves the
SDK's richer filters in Python and is too slow for that). Actions go through the ``Task``
API, so the UI obeys exactly the state rules of the SDK (a ``StateError`` becomes a 409).
"""
from __future__ import annotations

import json
from typing import Any, Optional, Sequence

from ..errors import NotFoundError, ValidationError
from ..tracking.query import ARCHIVED_TAG, choice_clause, escape_like, project_clause
from ..tracking.states import duration_seconds
from ..store import TaskStore, decode_task_row

# sortable columns of the tasks table -> SQL expression
TASK_SORTS = {
    "name": "t.name", "id": "t.id", "type": "t.type", "status": "t.status", "progress": "t.progress", "created": "t.created",
    "started": "t.started", "last_update": "t.last_update", "project": "p.name",
    # as shown: a running task's duration grows with the clock (julianday: now in SQLite)
    "duration": "(COALESCE(t.completed, CASE WHEN t.status='in_progress' THEN (julianday('now') - 2440587.5) * 86400.0 "
                "END, t.last_update) - t.started)",
}
MAX_PAGE_SIZE = 500
MAX_EXTRA_COLUMNS = 20  # metric / parameter columns a tasks table may ask for
MAX_COLUMN_KEYS = 2000  # metric and parameter names offered for them, each
# an extra column's value for task t: a metric's last value (as ``last_metrics``), a parameter's value
EXTRA_COLUMNS = {
    "metric": "(SELECT s.last_value FROM scalars s WHERE s.task_id=t.id AND s.metric=? AND s.variant=? "
              "ORDER BY s.max_iteration DESC, s.rowid DESC LIMIT 1)",
    "param": "(SELECT pa.value FROM params pa WHERE pa.task_id=t.id AND pa.section=? AND pa.name=?)",
}
# sorting by a parameter: numbers by value before other text (SQLite orders REAL before TEXT)
PARAM_SORT_KEY = ("(SELECT CASE WHEN json_valid(pa.value) THEN CASE WHEN json_type(pa.value) IN ('integer', 'real') "
                  "THEN CAST(pa.value AS REAL) ELSE pa.value END ELSE pa.value END FROM params pa "
                  "WHERE pa.task_id=t.id AND pa.section=? AND pa.name=?)")
MAX_SCALAR_POINTS = 2000  # per series by default: window averages beyond that (as ClearML's charts)
NOT_ARCHIVED = f"NOT EXISTS (SELECT 1 FROM json_each(t.system_tags) WHERE value='{ARCHIVED_TAG}')"
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


def _is_text(value: Any) -> bool:
    """A str SQLite can take (JSON's ``"\\ud800"`` escape makes a lone surrogate, which it can't)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_columns(specs: Sequence[str]) -> list[tuple[str, str, str]]:
    """Extra columns of the tasks table, each given as JSON: ``["metric", title, series]`` (its
    last value) or ``["param", section, name]``."""
    if len(specs) > MAX_EXTRA_COLUMNS:
        raise ValidationError(f"at most {MAX_EXTRA_COLUMNS} extra columns, got {len(specs)}")
    columns = []
    for spec in specs:
        try:
            column = json.loads(spec)
        except (ValueError, RecursionError):
            column = None
        if not (isinstance(column, list) and len(column) == 3 and all(map(_is_text, column))
                and column[0] in EXTRA_COLUMNS):
            raise ValidationError(f"a column must be a JSON array [\"metric\", title, series] or "
                                  f"[\"param\", section, name], got {spec!r}")
        columns.append(tuple(column))
    return columns


def _column_order(index: str, descending: bool, columns: list[tuple[str, str, str]]) -> tuple[str, list[str]]:
    """ORDER BY extra column number ``index`` of ``columns``: tasks without a value last either way."""
    if not columns or not index:
        raise ValidationError(f"sort by extra column {index!r}, but {len(columns)} extra columns were given (col=)")
    kind, first, second = columns[_int_arg("sort column index", index, 0, 0, len(columns) - 1)]
    key = PARAM_SORT_KEY if kind == "param" else EXTRA_COLUMNS[kind]
    return f"{key} IS NULL, {key} {'DESC' if descending else 'ASC'}", [first, second, first, second]


def _derive(row: dict, system_tags: list) -> dict:
    """The fields a task row shows but does not store: archived, duration."""
    row["archived"] = ARCHIVED_TAG in system_tags
    row["duration"] = duration_seconds(row)
    return row


def _table_row(row: dict) -> dict:
    row["tags"] = json.loads(row["tags"] or "[]")
    return _derive(row, json.loads(row.pop("system_tags") or "[]"))


# ---------------------------------------------------------------------------------- projects
def list_projects(store: TaskStore) -> list[dict]:
    """Every project with its own and its sub-projects' (non-archived, as the table shows them)
    task counts, as a tree (``children``)."""
    rows = store.query("SELECT p.id, p.name, COUNT(t.id) AS tasks, MAX(t.last_update) AS last_update "
                       f"FROM projects p LEFT JOIN tasks t ON t.project_id=p.id AND {NOT_ARCHIVED} "
                       "GROUP BY p.id ORDER BY p.name")
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
def list_tasks(store: TaskStore, project: Optional[str] = None, status: Sequence[str] = (), type: Sequence[str] = (),
               tag: Sequence[str] = (), search: Optional[str] = None, sort: str = "-created", page: Any = 0,
               page_size: Any = 50, archived: bool = False, parent: Optional[str] = None,
               columns: Sequence[str] = ()) -> dict:
    """One page of the tasks table: ``{"total", "page", "page_size", "rows"}``.

    ``status``/``type``/``tag`` values are OR-ed within a key and AND-ed across keys;
    ``search`` matches name, id or comment (case-insensitive); ``sort`` is a column of
    ``TASK_SORTS`` or ``col:N``, ``-`` for descending; archived tasks are shown only with
    ``archived``. ``columns`` (see ``parse_columns``) add ``"columns": [value per column]`` to
    each row, a metric's last value or a parameter's value (None: the task has none)."""
    extra = parse_columns(columns)
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
        where.append(NOT_ARCHIVED)
    column = sort[1:] if sort[:1] in ("-", "+") else sort
    order_params: list[str] = []
    if column.startswith("col:"):
        order, order_params = _column_order(column[4:], sort.startswith("-"), extra)
    elif column in TASK_SORTS:
        order = f"{TASK_SORTS[column]} {'DESC' if sort.startswith('-') else 'ASC'}"
    else:
        raise ValidationError.choice("sort column", sort, sorted(TASK_SORTS) + [f"-{c}" for c in sorted(TASK_SORTS)]
                                     + ["col:N", "-col:N"])
    sql_from = "FROM tasks t JOIN projects p ON p.id=t.project_id" + (" WHERE " + " AND ".join(where) if where else "")
    total = store.query_one(f"SELECT COUNT(*) AS n {sql_from}", params)["n"]
    selected = "".join(f", {EXTRA_COLUMNS[kind]} AS extra_{i}" for i, (kind, _, _) in enumerate(extra))
    rows = store.query(f"SELECT {TABLE_COLUMNS}{selected} {sql_from} ORDER BY {order}, t.created DESC LIMIT ? OFFSET ?",
                       [*[name for _, *names in extra for name in names], *params, *order_params, page_size,
                        page * page_size])
    if extra:
        for row in rows:
            row["columns"] = [row.pop(f"extra_{i}") for i in range(len(extra))]
    return {"total": total, "page": page, "page_size": page_size, "rows": [_table_row(r) for r in rows]}


def task_columns(store: TaskStore, project: Optional[str] = None, archived: bool = False) -> dict:
    """What the tasks table of ``project`` (with its sub-projects; all tasks when None) can add as
    columns: ``{"metrics": [{"title", "series"}], "parameters": [{"section", "name"}]}``, sorted,
    the names its tasks reported or set (at most ``MAX_COLUMN_KEYS`` of each)."""
    where, params = [], []
    if project:
        clause, params = project_clause(project)
        where.append(clause)
    if not archived:
        where.append(NOT_ARCHIVED)
    tasks = ("SELECT t.id FROM tasks t JOIN projects p ON p.id=t.project_id"
             + (" WHERE " + " AND ".join(where) if where else ""))
    metrics = store.query(f"SELECT DISTINCT metric AS title, variant AS series FROM scalars WHERE task_id IN ({tasks}) "
                          "ORDER BY metric, variant LIMIT ?", [*params, MAX_COLUMN_KEYS])
    parameters = store.query(f"SELECT DISTINCT section, name FROM params WHERE task_id IN ({tasks}) "
                             "ORDER BY section, name LIMIT ?", [*params, MAX_COLUMN_KEYS])
    return {"metrics": metrics, "parameters": parameters}


# ---------------------------------------------------------------------------------- one task
def _one_task(store: TaskStore, sql: str, task_id: str) -> dict:
    """The row ``sql`` (one ``?`` for the id) reads for the task; NotFoundError if there is none."""
    row = store.query_one(sql, (task_id,))
    if row is None:
        raise NotFoundError(f"no task with id {task_id!r}")
    return row


def _check_task(store: TaskStore, task_id: str) -> None:
    _one_task(store, "SELECT 1 AS x FROM tasks WHERE id=?", task_id)


def _or_missing(store: TaskStore, task_id: str, result: Any) -> Any:
    """``result``, unless it is empty because there is no such task: the existence check costs a
    query only for an empty answer (pages poll these while a task runs)."""
    if not result:
        _check_task(store, task_id)
    return result


def _task_row(store: TaskStore, task_id: str) -> dict:
    return decode_task_row(_one_task(store, "SELECT t.*, p.name AS project_name FROM tasks t JOIN projects p "
                                            "ON p.id=t.project_id WHERE t.id=?", task_id))


def task_detail(store: TaskStore, task_id: str) -> dict:
    """Everything the task page shows except the long series (console, scalars, plots, samples)."""
    from ..tracking.scalars import last_metrics
    row = _task_row(store, task_id)
    _derive(row, row["system_tags"])
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
    row["allowed_actions"] = allowed_actions(row["status"], row["archived"])
    return row


def task_status(store: TaskStore, task_id: str) -> dict:
    """The few fields a page polls while a task runs (the whole detail is re-read on a change)."""
    row = _one_task(store, "SELECT id, status, status_message, progress, last_update, last_iteration, started, "
                           "completed, system_tags FROM tasks WHERE id=?", task_id)
    _derive(row, json.loads(row.pop("system_tags") or "[]"))
    row["allowed_actions"] = allowed_actions(row["status"], row["archived"])
    return row


def allowed_actions(status: str, archived: bool) -> list[str]:
    """The UI actions the Task model allows from ``status`` (from ``states.TRANSITIONS``, so the
    page never keeps its own copy of the rules). The server still checks every request."""
    from ..tracking.states import TRANSITIONS
    reachable = TRANSITIONS.get(status, set())
    allowed = ["clone", "archive"]
    if status == "created":
        allowed.append("parameters")
    if "queued" in reachable:
        allowed.append("enqueue")
    if status == "queued":
        allowed.append("dequeue")
    if "stopped" in reachable and status in ("created", "queued", "in_progress"):
        allowed.append("abort")
    if "published" in reachable:
        allowed.append("publish")
    if "created" in reachable and status != "queued":
        allowed.append("reset")
    if status not in ("in_progress", "published"):  # the SDK deletes a published task; the UI keeps it
        allowed.append("delete")
    return allowed


def session_info(store: TaskStore) -> dict:
    """What the page needs to know once: the store, the actions, and the vocabularies."""
    from ..pipelines.node import NODE_STATUSES
    from ..tracking.states import STATUSES, TASK_TYPES
    from .actions import ACTIONS
    return {"store": str(store.path), "actions": list(ACTIONS), "statuses": list(STATUSES),
            "task_types": list(TASK_TYPES), "node_statuses": list(NODE_STATUSES), "sorts": sorted(TASK_SORTS)}


def task_console(store: TaskStore, task_id: str, tail: Any = 500, after: Any = None, search: Optional[str] = None,
                 before: Any = None) -> dict:
    """Console lines, oldest first, ``{"lines", "last_seq", "more"}``.

    - default: the last ``tail`` lines (matching ``search``), or those before seq ``before``
      (to page back); ``more`` says older lines exist;
    - ``after``: the first ``tail`` lines after that seq, oldest first, so a page following a
      running task with ``after=last_seq`` never skips one; ``more`` says it should ask again
      at once. ``last_seq`` is the last line returned (or ``after`` when none)."""
    tail = _int_arg("tail", tail, 500, 1, 100_000)
    where, params = ["task_id=?"], [task_id]
    if search:
        where.append("text LIKE ? ESCAPE '\\'")
        params.append(f"%{escape_like(search)}%")
    columns = "SELECT seq, ts, level, text FROM console WHERE "
    if after not in (None, ""):
        after = _int_arg("after", after, 0, 0, 2 ** 62)
        rows = _or_missing(store, task_id, store.query(columns + " AND ".join(where) + " AND seq>? ORDER BY seq "
                                                      "LIMIT ?", [*params, after, tail + 1]))
        more = len(rows) > tail
        rows = rows[:tail]
        return {"lines": rows, "last_seq": rows[-1]["seq"] if rows else after, "more": more}
    if before not in (None, ""):
        where.append("seq<?")
        params.append(_int_arg("before", before, 0, 0, 2 ** 62))
    rows = _or_missing(store, task_id, store.query(columns + " AND ".join(where) + " ORDER BY seq DESC LIMIT ?",
                                                  [*params, tail + 1]))
    more = len(rows) > tail
    rows = rows[:tail]
    rows.reverse()
    # last_seq: the newest line shown; when the tail is cut by `before`, following is not meaningful
    last = rows[-1]["seq"] if rows else (store.query_one("SELECT MAX(seq) AS s FROM console WHERE task_id=?",
                                                         (task_id,))["s"] or 0)
    return {"lines": rows, "last_seq": last, "more": more}


def task_scalars(store: TaskStore, task_id: str, x_axis: str = "iter", max_points: Any = None) -> dict:
    """``{title: {series: {"x": [...], "y": [...]}}}`` with iterations or epoch seconds on x;
    a series longer than ``max_points`` (default 2000) is window-averaged down to it."""
    from ..tracking.scalars import all_scalars, downsample
    if x_axis not in ("iter", "time"):
        raise ValidationError.choice("x_axis", x_axis, ("iter", "time"))
    limit = _int_arg("max_points", max_points, MAX_SCALAR_POINTS, 10, 1_000_000)
    graphs = _or_missing(store, task_id, all_scalars(store, task_id, "iter" if x_axis == "iter" else "timestamp"))
    for series in graphs.values():
        for name, graph in series.items():
            if x_axis == "time":
                graph["x"] = [ms / 1000.0 for ms in graph["x"]]
            if len(graph["y"]) > limit:
                series[name] = downsample(graph, limit, averaged_x=True)
    return graphs


def task_plots(store: TaskStore, task_id: str) -> list[dict]:
    return _or_missing(store, task_id, [{"seq": r["seq"], "metric": r["metric"], "variant": r["variant"], "iteration": r["iteration"],
             "figure": json.loads(r["figure"])}
            for r in store.query("SELECT seq, metric, variant, iteration, figure FROM plots WHERE task_id=? "
                                 "ORDER BY seq", (task_id,))])


def task_debug_samples(store: TaskStore, task_id: str) -> list[dict]:
    return _or_missing(store, task_id, store.query(
        "SELECT seq, metric, variant, iteration, url, ts FROM debug_samples WHERE task_id=? "
        "ORDER BY metric, variant, seq DESC", (task_id,)))


def debug_sample_url(store: TaskStore, task_id: str, seq: int) -> str:
    row = store.query_one("SELECT url FROM debug_samples WHERE task_id=? AND seq=?", (task_id, seq))
    if row is None:
        raise NotFoundError(f"task {task_id!r} has no debug sample #{seq}")
    return row["url"]


def artifact_url(store: TaskStore, task_id: str, name: str) -> tuple[str, dict]:
    row = store.query_one("SELECT uri, extension, content_type, hash FROM artifacts WHERE task_id=? AND name=?",
                          (task_id, name))
    if row is None:
        _check_task(store, task_id)
        raise NotFoundError(f"task {task_id!r} has no artifact named {name!r}")
    return row["uri"], row


def model_source(store: TaskStore, task_id: str, model_id: str) -> tuple[str, str, Optional[str]]:
    """(URI, name, id of the task that created it) of a model the task uses or produced."""
    row = store.query_one("SELECT m.uri, m.name, m.task_id FROM task_models tm JOIN models m ON m.id=tm.model_id "
                          "WHERE tm.task_id=? AND m.id=?", (task_id, model_id))
    if row is None:
        _check_task(store, task_id)
        raise NotFoundError(f"task {task_id!r} has no model with id {model_id!r}")
    if not row["uri"]:
        raise NotFoundError(f"model {model_id!r} has no file (no weights were uploaded)")
    return row["uri"], row["name"] or model_id, row["task_id"]


def output_destinations(store: TaskStore, *task_ids: Optional[str]) -> list[str]:
    """The destinations pipetrack itself writes files of these tasks to: the default output
    URI and each task's own ``output_uri``. Downloads are served only from under these."""
    from .. import config
    destinations = [config.default_output_uri()]
    for task_id in task_ids:
        if task_id:
            row = store.query_one("SELECT output_uri FROM tasks WHERE id=?", (task_id,))
            if row and row["output_uri"]:
                destinations.append(str(row["output_uri"]))
    return destinations


# ---------------------------------------------------------------------------------- compare
def compare_tasks(store: TaskStore, task_ids: Sequence[str]) -> dict:
    """2–5 tasks side by side: their rows, parameters and last metrics (with ``differs``: the
    tasks having it disagree, and ``missing``: some task lacks it) and scalars."""
    from ..tracking.compare import check_compare_count, compare_parameters, compare_scalars
    from ..tracking.scalars import last_metrics
    ids = [i for i in task_ids if i]
    check_compare_count(ids)
    if len(set(ids)) != len(ids):
        raise ValidationError(f"compare needs distinct task ids, got {ids!r}")
    tasks, params = [], []
    for task_id in ids:
        tasks.append(_one_task(store, "SELECT t.id, t.name, t.status, t.type, p.name AS project_name FROM tasks t "
                                      "JOIN projects p ON p.id=t.project_id WHERE t.id=?", task_id))
        params.append({f"{p['section']}/{p['name']}": p["value"] for p in
                       store.query("SELECT section, name, value FROM params WHERE task_id=?", (task_id,))})
    return {"tasks": tasks, "parameters": compare_parameters(params, split_missing=True),
            "metrics": compare_scalars([last_metrics(store, task_id) for task_id in ids], split_missing=True),
            "scalars": [task_scalars(store, task_id) for task_id in ids]}


# ---------------------------------------------------------------------------------- pipelines
def list_pipelines(store: TaskStore, project: Optional[str] = None, name: Optional[str] = None, page: Any = 0,
                   page_size: Any = 50) -> dict:
    from ..pipelines.runs import list_runs
    page = _int_arg("page", page, 0, 0, 10 ** 9)
    page_size = _int_arg("page_size", page_size, 50, 1, MAX_PAGE_SIZE)
    total, rows = list_runs(store, project=project, name=name, limit=page_size, offset=page * page_size)
    return {"total": total, "page": page, "page_size": page_size, "rows": rows}


def pipeline_run(store: TaskStore, run_id: str) -> dict:
    from ..pipelines.runs import load_run
    return load_run(store, run_id)


def list_queues(store: TaskStore) -> list[dict]:
    """Known queues with their pending-task counts (a queue exists once something was enqueued to it)."""
    return store.query("SELECT q.name, (SELECT COUNT(*) FROM tasks t WHERE t.queue=q.name AND t.status='queued') "
                       "AS queued FROM queues q ORDER BY q.name")
