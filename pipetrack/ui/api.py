"""What the web UI shows, as JSON-ready dicts read from the store (no HTTP here).

Reads are the store's catalogue operations (``store/catalogue.py``), so that a page of a
10,000-task store costs one indexed, paged query and one COUNT, never a decode of every row
(``tracking/query.find_tasks`` serves the SDK's richer filters in Python and is too slow for
that); this module checks the request's values and shapes the answers. Actions go through the
``Task`` API, so the UI obeys exactly the state rules of the SDK (a ``StateError`` becomes a 409).
"""
from __future__ import annotations

import json
from typing import Any, Optional, Sequence

from ..errors import NotFoundError, ValidationError
from ..store import TaskStore
from ..store.catalogue import ARCHIVED_TAG, TASK_TABLE_COLUMN_KINDS, TASK_TABLE_SORTS
from ..tracking.query import check_choices
from ..tracking.states import duration_seconds

MAX_PAGE_SIZE = 500
MAX_EXTRA_COLUMNS = 20  # metric / parameter columns a tasks table may ask for
MAX_COLUMN_KEYS = 2000  # metric and parameter names offered for them, each
MAX_SCALAR_POINTS = 2000  # per series by default: window averages beyond that (as ClearML's charts)
MODEL_FIELDS = ("id", "name", "uri", "framework", "iteration", "published", "comment")  # of a model the task page lists
COMPARED_FIELDS = ("id", "name", "status", "type", "project_name")  # of each task compared


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
                and column[0] in TASK_TABLE_COLUMN_KINDS):
            raise ValidationError(f"a column must be a JSON array [\"metric\", title, series] or "
                                  f"[\"param\", section, name], got {spec!r}")
        columns.append(tuple(column))
    return columns


def _sort_column(index: str, columns: list[tuple[str, str, str]]) -> int:
    """The extra column number ``index`` (text, from ``col:N``) of ``columns`` to sort by."""
    if not columns or not index:
        raise ValidationError(f"sort by extra column {index!r}, but {len(columns)} extra columns were given (col=)")
    return _int_arg("sort column index", index, 0, 0, len(columns) - 1)


def _derive(row: dict, system_tags: list) -> dict:
    """The fields a task row shows but does not store: archived, duration."""
    row["archived"] = ARCHIVED_TAG in system_tags
    row["duration"] = duration_seconds(row)
    return row


def _table_row(row: dict) -> dict:
    return _derive(row, row.pop("system_tags"))


# ---------------------------------------------------------------------------------- projects
def list_projects(store: TaskStore) -> list[dict]:
    """Every project with its own and its sub-projects' (non-archived, as the table shows them)
    task counts, as a tree (``children``)."""
    rows = store.project_summaries(include_archived=False)
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
    ``TASK_TABLE_SORTS`` or ``col:N``, ``-`` for descending; archived tasks are shown only with
    ``archived``. ``columns`` (see ``parse_columns``) add ``"columns": [value per column]`` to
    each row, a metric's last value or a parameter's value (None: the task has none)."""
    extra = parse_columns(columns)
    page = _int_arg("page", page, 0, 0, 10 ** 9)
    page_size = _int_arg("page_size", page_size, 50, 1, MAX_PAGE_SIZE)
    statuses = check_choices("status", list(status), "status filter")
    types = check_choices("type", list(type), "type filter")
    column = sort[1:] if sort[:1] in ("-", "+") else sort
    sort_column = None
    if column.startswith("col:"):
        sort_column = _sort_column(column[4:], extra)
    elif column not in TASK_TABLE_SORTS:
        sorts = sorted(TASK_TABLE_SORTS)
        raise ValidationError.choice("sort column", sort, sorts + [f"-{c}" for c in sorts] + ["col:N", "-col:N"])
    total, rows = store.task_table(project=project, statuses=statuses, types=types, tags=list(tag), search=search,
                                   parent=parent, archived=archived, sort=column, descending=sort.startswith("-"),
                                   columns=extra, sort_column=sort_column, limit=page_size, offset=page * page_size)
    return {"total": total, "page": page, "page_size": page_size, "rows": [_table_row(r) for r in rows]}


def task_columns(store: TaskStore, project: Optional[str] = None, archived: bool = False) -> dict:
    """What the tasks table of ``project`` (with its sub-projects; all tasks when None) can add as
    columns: ``{"metrics": [{"title", "series"}], "parameters": [{"section", "name"}]}``, sorted,
    the names its tasks reported or set (at most ``MAX_COLUMN_KEYS`` of each)."""
    metrics, parameters = store.task_table_column_keys(project=project, archived=archived, limit=MAX_COLUMN_KEYS)
    return {"metrics": metrics, "parameters": parameters}


# ---------------------------------------------------------------------------------- one task
def _one_task(row: Optional[dict], task_id: str) -> dict:
    """``row``, what the store read for the task; NotFoundError if there is none."""
    if row is None:
        raise NotFoundError(f"no task with id {task_id!r}")
    return row


def _check_task(store: TaskStore, task_id: str) -> None:
    if not store.task_exists(task_id):
        raise NotFoundError(f"no task with id {task_id!r}")


def _or_missing(store: TaskStore, task_id: str, result: Any) -> Any:
    """``result``, unless it is empty because there is no such task: the existence check costs a
    query only for an empty answer (pages poll these while a task runs)."""
    if not result:
        _check_task(store, task_id)
    return result


def task_detail(store: TaskStore, task_id: str) -> dict:
    """Everything the task page shows except the long series (console, scalars, plots, samples)."""
    row = _one_task(store.task_row(task_id), task_id)
    _derive(row, row["system_tags"])
    if row.get("parent"):
        parent = store.task_row(row["parent"])
        row["parent_task"] = {key: parent[key] for key in ("id", "name", "type")} if parent else None
    sections: dict[str, list[dict]] = {}
    for p in store.task_params(task_id):
        sections.setdefault(p.pop("section"), []).append(p)
    row["parameters"] = sections
    row["configurations"] = store.task_configs(task_id)
    row["artifacts"] = []
    for a in store.task_artifacts(task_id):
        a.pop("task_id")
        a["metadata"] = json.loads(a["metadata"] or "{}")
        row["artifacts"].append(a)
    row["models"] = [{"role": m["role"], "task_name": m["link_name"], **{key: m[key] for key in MODEL_FIELDS}}
                     for m in sorted(store.task_model_rows(task_id), key=lambda m: m["role"])]
    row["single_values"] = [{"name": name, "value": value} for name, value in sorted(store.single_values(task_id).items())]
    row["last_metrics"] = store.last_scalar_metrics(task_id)
    row["children"] = store.child_task_count(task_id)
    row["allowed_actions"] = allowed_actions(row["status"], row["archived"])
    return row


def task_status(store: TaskStore, task_id: str) -> dict:
    """The few fields a page polls while a task runs (the whole detail is re-read on a change)."""
    row = _one_task(store.task_progress(task_id), task_id)
    _derive(row, row.pop("system_tags"))
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
    return {"store": str(store), "actions": list(ACTIONS), "statuses": list(STATUSES),
            "task_types": list(TASK_TYPES), "node_statuses": list(NODE_STATUSES), "sorts": sorted(TASK_TABLE_SORTS)}


def task_console(store: TaskStore, task_id: str, tail: Any = 500, after: Any = None, search: Optional[str] = None,
                 before: Any = None) -> dict:
    """Console lines, oldest first, ``{"lines", "last_seq", "more"}``.

    - default: the last ``tail`` lines (matching ``search``), or those before seq ``before``
      (to page back); ``more`` says older lines exist;
    - ``after``: the first ``tail`` lines after that seq, oldest first, so a page following a
      running task with ``after=last_seq`` never skips one; ``more`` says it should ask again
      at once. ``last_seq`` is the last line returned (or ``after`` when none)."""
    tail = _int_arg("tail", tail, 500, 1, 100_000)
    if after not in (None, ""):
        after = _int_arg("after", after, 0, 0, 2 ** 62)
        rows = _or_missing(store, task_id, store.console_after(task_id, after, tail + 1, search=search))
        more = len(rows) > tail
        rows = rows[:tail]
        return {"lines": rows, "last_seq": rows[-1]["seq"] if rows else after, "more": more}
    before = None if before in (None, "") else _int_arg("before", before, 0, 0, 2 ** 62)
    rows = _or_missing(store, task_id, store.console_tail(task_id, tail + 1, before=before, search=search))
    more = len(rows) > tail
    rows = rows[:tail]
    rows.reverse()
    # last_seq: the newest line shown; when the tail is cut by `before`, following is not meaningful
    last = rows[-1]["seq"] if rows else store.last_console_seq(task_id)
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
    return _or_missing(store, task_id, store.plot_list(task_id))


def task_debug_samples(store: TaskStore, task_id: str) -> list[dict]:
    return _or_missing(store, task_id, store.debug_sample_list(task_id))


def debug_sample_url(store: TaskStore, task_id: str, seq: int) -> str:
    row = store.debug_sample(task_id, seq)
    if row is None:
        raise NotFoundError(f"task {task_id!r} has no debug sample #{seq}")
    return row["url"]


def artifact_url(store: TaskStore, task_id: str, name: str) -> tuple[str, dict]:
    row = store.artifact_location(task_id, name)
    if row is None:
        _check_task(store, task_id)
        raise NotFoundError(f"task {task_id!r} has no artifact named {name!r}")
    return row["uri"], row


def model_source(store: TaskStore, task_id: str, model_id: str) -> tuple[str, str, Optional[str]]:
    """(URI, name, id of the task that created it) of a model the task uses or produced."""
    row = next((m for m in store.task_model_rows(task_id) if m["id"] == model_id), None)
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
            row = store.task_row(task_id)
            if row and row["output_uri"]:
                destinations.append(str(row["output_uri"]))
    return destinations


# ---------------------------------------------------------------------------------- compare
def compare_tasks(store: TaskStore, task_ids: Sequence[str]) -> dict:
    """2–5 tasks side by side: their rows, parameters and last metrics (with ``differs``: the
    tasks having it disagree, and ``missing``: some task lacks it) and scalars."""
    from ..tracking.compare import check_compare_count, compare_parameters, compare_scalars
    ids = [i for i in task_ids if i]
    check_compare_count(ids)
    if len(set(ids)) != len(ids):
        raise ValidationError(f"compare needs distinct task ids, got {ids!r}")
    tasks, params = [], []
    for task_id in ids:
        row = _one_task(store.task_row(task_id), task_id)
        tasks.append({key: row[key] for key in COMPARED_FIELDS})
        params.append({f"{p['section']}/{p['name']}": p["value"] for p in store.task_params(task_id)})
    return {"tasks": tasks, "parameters": compare_parameters(params, split_missing=True),
            "metrics": compare_scalars([store.last_scalar_metrics(task_id) for task_id in ids], split_missing=True),
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
    return store.queue_summaries()
