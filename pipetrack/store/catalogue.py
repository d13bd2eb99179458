"""Store operations that list and search the catalogue: filters, sorting, paging (CLI and UI).

The tasks table is read in SQL so that a page of a 10,000-task store costs one indexed, paged
query and one COUNT, never a decode of every row. Callers pass plain values (sort key names,
filter values, page bounds) and validate them first; an operation still refuses a sort key
or column kind it does not know with ``ValueError`` rather than build SQL from it.
"""
from __future__ import annotations

import json
from typing import Any, Optional, Sequence

from .tasks import decode_task_row

ARCHIVED_TAG = "archived"  # the system tag of an archived task
#: sort keys of the tasks table (``task_table``), each descending or not
TASK_TABLE_SORTS = ("name", "id", "type", "status", "progress", "created", "started", "last_update", "project",
                    "duration")
#: kinds of extra tasks-table columns: a metric's last value, a parameter's value
TASK_TABLE_COLUMN_KINDS = ("metric", "param")
#: task fields ``tasks_matching`` orders by
TASK_ORDER_FIELDS = ("created", "last_update", "name", "started", "completed", "status", "type", "progress",
                     "last_iteration", "id")

_TABLE_COLUMNS = ("t.id, t.name, t.type, t.status, t.status_message, t.progress, t.tags, t.system_tags, t.created, "
                  "t.started, t.completed, t.last_update, t.last_iteration, t.parent, p.name AS project_name")
_TASKS = "FROM tasks t JOIN projects p ON p.id=t.project_id"
# an extra column's value for task t (two ``?``: metric and series, or section and name)
_EXTRA_COLUMNS = {
    # the last value of the chunk with the highest iteration, the latest of those (as ``last_metrics``)
    "metric": "(SELECT s.last_value FROM scalars s WHERE s.task_id=t.id AND s.metric=? AND s.variant=? "
              "ORDER BY s.max_iteration DESC, s.seq DESC LIMIT 1)",
    "param": "(SELECT pa.value FROM params pa WHERE pa.task_id=t.id AND pa.section=? AND pa.name=?)",
}


def escape_like(text: str) -> str:
    """``text`` made literal inside a ``LIKE ... ESCAPE '\\'`` pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def project_clause(name: str, like: str = "LIKE") -> tuple[str, list[str]]:
    """SQL (over ``projects p``) matching project ``name`` and its sub-projects ("name/...");
    ``like`` is the dialect's case-insensitive LIKE."""
    return f"(p.name = ? OR p.name {like} ? ESCAPE '\\')", [name, escape_like(name) + "/%"]


def _any_of(where: list[str], params: list[Any], column: str, values: Sequence[Any]) -> None:
    """Add "``column`` is one of ``values``" to ``where``/``params`` (nothing for no values)."""
    if values:
        where.append(f"{column} IN ({', '.join('?' * len(values))})")
        params += list(values)


def _where(conditions: Sequence[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


class CatalogueOperations:
    """Listings of tasks, projects, pipelines and queues (mixed into ``TaskStore``)."""

    # ----------------------------------------------------------------- filters (SQL fragments)
    def _not_archived(self) -> tuple[str, list[str]]:
        return f"NOT {self.dialect.json_array_contains('t.system_tags')}", [ARCHIVED_TAG]

    def _project_filter(self, name: str) -> tuple[str, list[str]]:
        return project_clause(name, self.dialect.like)

    def _contains(self, column: str) -> str:
        """``column`` contains the ``?`` text (case-insensitive, wildcards taken literally)."""
        return f"{column} {self.dialect.like} ? ESCAPE '\\'"

    def _task_filters(self, project: Optional[str] = None, statuses: Sequence[str] = (), types: Sequence[str] = (),
                      tags: Sequence[str] = (), search: Optional[str] = None, parent: Optional[str] = None,
                      archived: bool = False) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if project:
            clause, values = self._project_filter(project)
            where.append(clause)
            params += values
        for column, values in (("t.status", statuses), ("t.type", types)):
            _any_of(where, params, column, values)
        if tags:
            where.append(self.dialect.json_array_contains("t.tags", len(tags)))
            params += list(tags)
        if search:
            where.append(f"({self._contains('t.name')} OR {self._contains('t.id')} OR {self._contains('t.comment')})")
            params += [f"%{escape_like(search)}%"] * 3
        if parent:
            where.append("t.parent=?")
            params.append(parent)
        if not archived:
            clause, values = self._not_archived()
            where.append(clause)
            params += values
        return where, params

    def _table_order(self, sort: str) -> str:
        if sort == "project":
            return "p.name"
        if sort == "duration":  # as shown: a running task's duration grows with the clock
            return (f"(COALESCE(t.completed, CASE WHEN t.status='in_progress' THEN {self.dialect.now} END, "
                    "t.last_update) - t.started)")
        if sort not in TASK_TABLE_SORTS:
            raise ValueError(f"unknown tasks table sort {sort!r}; one of {TASK_TABLE_SORTS}")
        return f"t.{sort}"

    # ----------------------------------------------------------------- projects
    def project_summaries(self, include_archived: bool = True) -> list[dict[str, Any]]:
        """Every project by name: ``id``, ``name``, its own ``tasks`` count and their latest
        ``last_update`` (archived tasks counted only with ``include_archived``)."""
        join, params = ("", []) if include_archived else self._not_archived()
        return self.query("SELECT p.id, p.name, COUNT(t.id) AS tasks, MAX(t.last_update) AS last_update "
                          f"FROM projects p LEFT JOIN tasks t ON t.project_id=p.id{' AND ' + join if join else ''} "
                          "GROUP BY p.id, p.name ORDER BY p.name", params)

    # ----------------------------------------------------------------- the tasks table
    def task_table(self, *, project: Optional[str] = None, statuses: Sequence[str] = (), types: Sequence[str] = (),
                   tags: Sequence[str] = (), search: Optional[str] = None, parent: Optional[str] = None,
                   archived: bool = False, sort: str = "created", descending: bool = True,
                   columns: Sequence[tuple[str, str, str]] = (), sort_column: Optional[int] = None,
                   limit: int = 50, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """(total, one page) of the tasks table, newest first within equal sort keys.

        ``project`` includes its sub-projects; ``statuses``/``types``/``tags`` are each any-of;
        ``search`` matches name, id or comment (case-insensitive); archived tasks only with
        ``archived``. ``columns`` are ``(kind, a, b)``: ``("metric", title, series)`` (its last
        value) or ``("param", section, name)``; each row then has ``columns`` (a value or None per
        column). ``sort`` is one of ``TASK_TABLE_SORTS``, or ``sort_column`` the index of a column
        to sort by (tasks without a value last either way; parameters that are numbers by value,
        before other text). Rows: task fields, ``tags``/``system_tags`` decoded, ``project_name``."""
        for kind, _, _ in columns:
            if kind not in _EXTRA_COLUMNS:
                raise ValueError(f"unknown tasks table column kind {kind!r}; one of {TASK_TABLE_COLUMN_KINDS}")
        where, params = self._task_filters(project, statuses, types, tags, search, parent, archived)
        total = self.query_one(f"SELECT COUNT(*) AS n {_TASKS}{_where(where)}", params)["n"]
        direction = "DESC" if descending else "ASC"
        join, join_params, order_params = "", [], []
        if sort_column is not None:
            kind, first, second = columns[sort_column]
            if kind == "param":
                join = " LEFT JOIN params sort_pa ON sort_pa.task_id=t.id AND sort_pa.section=? AND sort_pa.name=?"
                join_params = [first, second]
                number = self.dialect.as_number("sort_pa.value")
                # numbers before other text ascending, after it descending (SQLite's order of types)
                order = (f"sort_pa.value IS NULL, ({number} IS NULL) {direction}, {number} {direction}, "
                         f"CASE WHEN {number} IS NULL THEN sort_pa.value END {direction}")
            else:
                key = _EXTRA_COLUMNS[kind]
                order = f"{key} IS NULL, {key} {direction}"
                order_params = [first, second, first, second]
        else:
            order = f"{self._table_order(sort)} {direction}"
        selected = "".join(f", {_EXTRA_COLUMNS[kind]} AS extra_{i}" for i, (kind, _, _) in enumerate(columns))
        rows = self.query(f"SELECT {_TABLE_COLUMNS}{selected} {_TASKS}{join}{_where(where)}"
                          f" ORDER BY {order}, t.created DESC LIMIT ? OFFSET ?",
                          [*[name for _, *names in columns for name in names], *join_params, *params,
                           *order_params, int(limit), int(offset)])
        for row in rows:
            decode_task_row(row)
            if columns:
                row["columns"] = [row.pop(f"extra_{i}") for i in range(len(columns))]
        return total, rows

    def task_table_column_keys(self, project: Optional[str] = None, archived: bool = False,
                               limit: int = 2000) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """What a tasks table may add as columns: (metrics ``{"title", "series"}``, parameters
        ``{"section", "name"}``), each sorted, distinct and at most ``limit``, that the tasks of
        ``project`` (sub-projects included; all when None) reported or set."""
        where, params = self._task_filters(project=project, archived=archived)
        tasks = f"SELECT t.id {_TASKS}{_where(where)}"
        metrics = self.query(f"SELECT DISTINCT metric AS title, variant AS series FROM scalars WHERE task_id IN ({tasks}) "
                             "ORDER BY title, series LIMIT ?", [*params, int(limit)])
        parameters = self.query(f"SELECT DISTINCT section, name FROM params WHERE task_id IN ({tasks}) "
                                "ORDER BY section, name LIMIT ?", [*params, int(limit)])
        return metrics, parameters

    # ----------------------------------------------------------------- task searches (SDK, CLI)
    def tasks_matching(self, task_ids: Optional[Sequence[str]] = None, projects: Sequence[str] = (),
                       exact_project: bool = False, statuses: Sequence[str] = (), types: Sequence[str] = (),
                       name: Optional[str] = None, parent: Optional[str] = None,
                       order: Sequence[tuple[str, bool]] = (("created", True),)) -> list[dict[str, Any]]:
        """Decoded task rows (with ``project_name``) matching every filter given: one of
        ``task_ids``, in one of ``projects`` (sub-projects too unless ``exact_project``), one of
        ``statuses``/``types``, named exactly ``name``, children of ``parent``; sorted by
        ``order``, ``(field of TASK_ORDER_FIELDS, descending)`` pairs."""
        where: list[str] = []
        params: list[Any] = []
        if task_ids is not None:
            if not task_ids:
                return []
            _any_of(where, params, "t.id", task_ids)
        if projects:
            clauses = []
            for project in projects:
                clause, values = ("p.name = ?", [project]) if exact_project else self._project_filter(project)
                clauses.append(clause)
                params += values
            where.append("(" + " OR ".join(clauses) + ")")
        for column, values in (("t.status", statuses), ("t.type", types)):
            _any_of(where, params, column, values)
        if name is not None:
            where.append("t.name = ?")
            params.append(name)
        if parent:
            where.append("t.parent = ?")
            params.append(parent)
        for field, _ in order:
            if field not in TASK_ORDER_FIELDS:
                raise ValueError(f"unknown task order field {field!r}; one of {TASK_ORDER_FIELDS}")
        order_by = ", ".join(f"t.{field} {'DESC' if descending else 'ASC'}" for field, descending in order)
        rows = self.query(f"SELECT t.*, p.name AS project_name {_TASKS}{_where(where)}"
                          + (f" ORDER BY {order_by}" if order_by else ""), params)
        return [decode_task_row(row) for row in rows]

    # ----------------------------------------------------------------- one task's records
    def task_exists(self, task_id: str) -> bool:
        """Whether a task with this id exists (a cheap check before saying "no such task")."""
        return self.query_one("SELECT 1 AS x FROM tasks WHERE id=?", (task_id,)) is not None

    def child_task_count(self, task_id: str) -> int:
        """How many tasks have this one as their parent."""
        return int(self.query_one("SELECT COUNT(*) AS n FROM tasks WHERE parent=?", (task_id,))["n"])

    def task_progress(self, task_id: str) -> Optional[dict[str, Any]]:
        """The few fields a page polls while a task runs (``id, status, status_message, progress,
        last_update, last_iteration, started, completed``, ``system_tags`` decoded); None for no task."""
        row = self.query_one("SELECT id, status, status_message, progress, last_update, last_iteration, started, "
                             "completed, system_tags FROM tasks WHERE id=?", (task_id,))
        return decode_task_row(row) if row else None

    def console_after(self, task_id: str, after: int, limit: int,
                      search: Optional[str] = None) -> list[dict[str, Any]]:
        """Up to ``limit`` console lines (``seq, ts, level, text``) after seq ``after``, oldest first;
        with ``search`` only lines containing it (case-insensitive)."""
        where, params = self._console_filter(task_id, search)
        return self.query(f"SELECT seq, ts, level, text FROM console{_where([*where, 'seq>?'])} ORDER BY seq LIMIT ?",
                          [*params, int(after), int(limit)])

    def console_tail(self, task_id: str, limit: int, before: Optional[int] = None,
                     search: Optional[str] = None) -> list[dict[str, Any]]:
        """The last ``limit`` console lines (before seq ``before``), NEWEST first; with ``search``
        only lines containing it (case-insensitive)."""
        where, params = self._console_filter(task_id, search)
        if before is not None:
            where.append("seq<?")
            params.append(int(before))
        return self.query(f"SELECT seq, ts, level, text FROM console{_where(where)} ORDER BY seq DESC LIMIT ?",
                          [*params, int(limit)])

    def _console_filter(self, task_id: str, search: Optional[str]) -> tuple[list[str], list[Any]]:
        where, params = ["task_id=?"], [task_id]
        if search:
            where.append(self._contains("text"))
            params.append(f"%{escape_like(search)}%")
        return where, params

    def last_console_seq(self, task_id: str) -> int:
        """The seq of the task's newest console line (0 when it has none)."""
        return self.query_one("SELECT MAX(seq) AS s FROM console WHERE task_id=?", (task_id,))["s"] or 0

    def plot_list(self, task_id: str) -> list[dict[str, Any]]:
        """The task's plots in report order: ``seq, metric, variant, iteration, figure`` (decoded)."""
        rows = self.query("SELECT seq, metric, variant, iteration, figure FROM plots WHERE task_id=? ORDER BY seq",
                          (task_id,))
        for row in rows:
            row["figure"] = json.loads(row["figure"])
        return rows

    def debug_sample_list(self, task_id: str) -> list[dict[str, Any]]:
        """The task's debug samples (``seq, metric, variant, iteration, url, ts``) by metric and
        variant, newest first within each."""
        return self.query("SELECT seq, metric, variant, iteration, url, ts FROM debug_samples WHERE task_id=? "
                          "ORDER BY metric, variant, seq DESC", (task_id,))

    def debug_sample(self, task_id: str, seq: int) -> Optional[dict[str, Any]]:
        """The task's debug sample number ``seq`` (its ``url``), None when there is none."""
        return self.query_one("SELECT url FROM debug_samples WHERE task_id=? AND seq=?", (task_id, int(seq)))

    def artifact_location(self, task_id: str, name: str) -> Optional[dict[str, Any]]:
        """Where the task's artifact ``name`` is (``uri, extension, content_type, hash``), None
        when the task has no such artifact."""
        return self.query_one("SELECT uri, extension, content_type, hash FROM artifacts WHERE task_id=? AND name=?",
                              (task_id, name))

    # ----------------------------------------------------------------- queues
    def queue_summaries(self) -> list[dict[str, Any]]:
        """Every known queue by name with its count of ``queued`` tasks."""
        return self.query("SELECT q.name, (SELECT COUNT(*) FROM tasks t WHERE t.queue=q.name AND t.status='queued') "
                          "AS queued FROM queues q ORDER BY q.name")
