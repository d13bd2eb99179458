"""Store operations on projects and task rows: create, read, transition, delete."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable, Iterable

# Columns of ``tasks`` that hold JSON documents (encoded/decoded transparently).
TASK_JSON_COLUMNS = ("tags", "system_tags", "user_properties", "script", "runtime", "labels", "container")

# Tables holding one task's records, keyed by task_id (export/import/reset/delete use them).
TASK_RECORD_TABLES = ("params", "configs", "artifacts", "task_models", "scalars", "single_values",
                      "console", "plots", "debug_samples")
# Output tables cleared by Task.reset (inputs such as params/configs survive a reset).
TASK_OUTPUT_TABLES = ("artifacts", "scalars", "single_values", "console", "plots", "debug_samples")


def encode_task_value(column: str, value: Any) -> Any:
    """A task field as stored: JSON columns hold JSON text, booleans are stored as 0/1."""
    if column in TASK_JSON_COLUMNS and not isinstance(value, str) and value is not None:
        return json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


def decode_task_row(row: dict[str, Any]) -> dict[str, Any]:
    """Decode the JSON columns of a ``tasks`` row in place."""
    for column in TASK_JSON_COLUMNS:
        if column in row and isinstance(row[column], str):
            row[column] = json.loads(row[column] or "null") or ([] if column.endswith("tags") else {})
    return row


class TaskOperations:
    """Projects and task rows (mixed into :class:`~pipetrack.store.base.TaskStore`)."""

    # ----------------------------------------------------------------- projects
    def project_id(self, name: str, create: bool = False) -> str | None:
        """Id of the project named ``name`` (full path "a/b/c"); parents are created too."""
        row = self.query_one("SELECT id FROM projects WHERE name=?", (name,))
        if row or not create:
            return row["id"] if row else None
        parts = name.split("/")
        if not all(part.strip() for part in parts):
            from ..errors import ValidationError
            raise ValidationError(f"project name {name!r} has an empty part; use 'a', 'a/b' or 'a/b/c'")
        with self.write() as conn:
            for i in range(1, len(parts) + 1):
                conn.execute("INSERT INTO projects(id, name, created) VALUES (?,?,?) ON CONFLICT DO NOTHING",
                             (uuid.uuid4().hex, "/".join(parts[:i]), time.time()))
        return self.query_one("SELECT id FROM projects WHERE name=?", (name,))["id"]

    def project_name(self, project_id: str) -> str | None:
        """A project's name. Remembered per store object: a project is never renamed nor its id
        reused, and every artifact of every step asks (its folder is named after the project)."""
        names = self.__dict__.setdefault("_project_names", {})
        name = names.get(project_id)
        if name is None:
            row = self.query_one("SELECT name FROM projects WHERE id=?", (project_id,))
            if row is None:
                return None
            name = names[project_id] = row["name"]
        return name

    def project_row(self, project_id: str) -> dict[str, Any] | None:
        """A project's row (id, name, created, description, system_tags as a list); None if unknown."""
        row = self.query_one("SELECT * FROM projects WHERE id=?", (project_id,))
        if row is not None:
            row["system_tags"] = json.loads(row.get("system_tags") or "[]")
        return row

    def projects_by_activity(self) -> list[dict[str, Any]]:
        """Every project row with ``last_update`` (its tasks' latest), most recently updated first."""
        return self.query(
            "SELECT * FROM (SELECT p.*, (SELECT MAX(t.last_update) FROM tasks t WHERE t.project_id=p.id) "
            "AS last_update FROM projects p) AS ranked ORDER BY COALESCE(last_update, created) DESC")

    # ----------------------------------------------------------------- tasks
    def insert_task(self, row: dict[str, Any]) -> None:
        cols = list(row)
        with self.write() as conn:
            conn.execute(f"INSERT INTO tasks({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                         [encode_task_value(c, row[c]) for c in cols])

    def update_task(self, task_id: str, where_status: Iterable[str] | None = None, **fields: Any) -> bool:
        """Update task columns; with ``where_status`` only if its status is one of those."""
        fields.setdefault("last_update", time.time())
        sets = ", ".join(f"{c}=?" for c in fields)
        params = [encode_task_value(c, v) for c, v in fields.items()] + [task_id]
        sql = f"UPDATE tasks SET {sets} WHERE id=?"
        if where_status is not None:
            statuses = list(where_status)
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            params += statuses
        return self.execute(sql, params) > 0

    def task_row(self, task_id: str) -> dict[str, Any] | None:
        row = self.query_one(
            "SELECT t.*, p.name AS project_name FROM tasks t JOIN projects p ON p.id=t.project_id "
            "WHERE t.id=?", (task_id,))
        return decode_task_row(row) if row else None

    def stored_task_row(self, task_id: str) -> dict[str, Any] | None:
        """A task's row exactly as stored (JSON columns as text, no project name): what a record
        bundle carries (``tracking.records``); None when there is no such task."""
        return self.query_one("SELECT * FROM tasks WHERE id=?", (task_id,))

    def task_state(self, task_id: str) -> dict[str, Any] | None:
        """The fields of a task that other processes change while it runs (status, status_message,
        started, progress, last_iteration, initial_iteration, publish_on_completion): one cheap read
        for whoever polls a running or queued task, no JSON columns; None when there is no such task."""
        return self.query_one("SELECT status, status_message, started, progress, last_iteration, initial_iteration, "
                              "publish_on_completion FROM tasks WHERE id=?", (task_id,))

    def latest_task_id(self, project_id: str, name: str, created_by: str) -> str | None:
        """Id of the newest task of a project with that name created by ``created_by`` ('init', 'create')."""
        row = self.query_one(f"SELECT id FROM tasks WHERE project_id=? AND name=? AND "
                             f"{self.dialect.json_text('runtime', 'created_by')}=? ORDER BY created DESC LIMIT 1",
                             (project_id, name, created_by))
        return row["id"] if row else None

    def task_has_outputs(self, task_id: str) -> bool:
        """Whether a task holds artifacts or output models (Task.init never reuses such a task)."""
        return self.query_one("SELECT 1 AS found FROM artifacts WHERE task_id=? UNION ALL "
                              "SELECT 1 AS found FROM task_models WHERE task_id=? AND role='output' LIMIT 1",
                              (task_id, task_id)) is not None

    def task_count(self) -> int:
        """How many tasks the store holds (all projects, archived included)."""
        return int(self.query_one("SELECT COUNT(*) AS n FROM tasks")["n"])

    def queued_task_count(self, queue: str) -> int:
        """How many tasks wait on ``queue``."""
        return int(self.query_one("SELECT COUNT(*) AS n FROM tasks WHERE queue=? AND status='queued'",
                                  (queue,))["n"])

    def task_ids_starting_with(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids of tasks whose id starts with ``prefix`` (hex digits only: no LIKE wildcards), sorted."""
        rows = self.query("SELECT id FROM tasks WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                          (prefix, prefix + "g", limit))  # an index range scan: ids are lowercase hex
        return [row["id"] for row in rows]

    # ----------------------------------------------------------------- lifecycle
    def transition_task(self, task_id: str, target: str, check: Callable[[str], bool], **fields: Any) -> bool | None:
        """Set a task's status to ``target`` (and ``fields``) if ``check(current status)`` allows it (it
        may raise instead), in one transaction: the status can't change between check and write.
        False when ``check`` refused, None when there is no such task."""
        with self.write() as conn:
            row = conn.execute("SELECT status FROM tasks WHERE id=?", (task_id,)).fetchone()
            if row is None:
                return None
            if not check(row["status"]):
                return False
            self.update_task(task_id, status=target, **fields)
        return True

    def claim_task_for_run(self, task_id: str, from_status: Iterable[str] | None, fresh: bool,
                           **fields: Any) -> bool:
        """Claim a task for a new run of its script (Task.init reusing it): set ``fields`` only while
        its status is one of ``from_status`` (any if None), so two processes can't both claim it;
        ``fresh`` also deletes its outputs, parameters, configurations and model links. False when
        the claim lost."""
        with self.write():
            if not self.update_task(task_id, where_status=from_status, **fields):
                return False
            if fresh:
                self.delete_task_records(task_id, TASK_OUTPUT_TABLES + ("params", "configs", "task_models"))
        return True

    def reset_task(self, task_id: str, from_status: str) -> bool:
        """Make a task a Draft again while its status is still ``from_status``: its run fields,
        outputs and output-model links are cleared in one transaction (inputs stay). False when
        its status changed meanwhile."""
        with self.write() as conn:
            if not self.update_task(task_id, where_status=[from_status], status="created", started=None,
                                    completed=None, last_iteration=0, progress=0, status_message="",
                                    status_reason="", queue=None, enqueued=None, last_worker=None,
                                    cache_key=None, pid=None, heartbeat=None):
                return False
            self.delete_task_records(task_id, TASK_OUTPUT_TABLES)
            conn.execute("DELETE FROM task_models WHERE task_id=? AND role='output'", (task_id,))
        return True

    def clone_task(self, source_id: str, row: dict[str, Any]) -> None:
        """Insert the task ``row`` with the parameters, configurations and input-model links of task
        ``source_id``, in one transaction: nobody sees a clone without its parameters."""
        new = row["id"]
        with self.write() as conn:
            self.insert_task(row)
            conn.execute("INSERT INTO params(task_id, section, name, value, type, description) "
                         "SELECT ?, section, name, value, type, description FROM params WHERE task_id=?",
                         (new, source_id))
            conn.execute("INSERT INTO configs(task_id, name, value, type, description) "
                         "SELECT ?, name, value, type, description FROM configs WHERE task_id=?", (new, source_id))
            conn.execute("INSERT INTO task_models(task_id, model_id, role, name, seq) "
                         "SELECT ?, model_id, role, name, seq FROM task_models WHERE task_id=? AND role='input'",
                         (new, source_id))

    def remove_input_models(self, task_id: str, models: Iterable[str]) -> None:
        """Unlink input models from a task, each given by model id or by its link name."""
        with self.write() as conn:
            for model in models:
                conn.execute("DELETE FROM task_models WHERE task_id=? AND role='input' AND (model_id=? OR name=?)",
                             (task_id, model, model))

    # ----------------------------------------------------------------- heartbeat and watchdog
    def record_heartbeat(self, task_id: str, at: float) -> bool:
        """Refresh a running task's heartbeat (the watchdog judges a task by its age)."""
        return self.execute("UPDATE tasks SET heartbeat=? WHERE id=? AND status='in_progress'", (at, task_id)) > 0

    def record_task_process(self, task_id: str, host: str, pid: int, at: float) -> bool:
        """Record the process running a task (host, pid) with a fresh heartbeat, while it is running."""
        return self.execute("UPDATE tasks SET host=?, pid=?, heartbeat=? WHERE id=? AND status='in_progress'",
                            (host, pid, at, task_id)) > 0

    def running_tasks(self) -> list[dict[str, Any]]:
        """id, host, pid and heartbeat of every running task (what the watchdog judges)."""
        return self.query("SELECT id, host, pid, heartbeat FROM tasks WHERE status='in_progress'")

    def stop_dead_task(self, task_id: str, message: str, pid: int | None, heartbeat: float | None,
                       at: float) -> bool:
        """Mark a running task stopped by the watchdog, only if it still has the ``pid`` and
        ``heartbeat`` the verdict was made from (a compare-and-swap); True when it was stopped."""
        same = [("pid", pid), ("heartbeat", heartbeat)]
        return self.execute(
            "UPDATE tasks SET status='stopped', status_message=?, status_reason='watchdog', completed=?, "
            "last_update=? WHERE id=? AND status='in_progress' AND "
            + " AND ".join(f"{column} IS NULL" if value is None else f"{column}=?" for column, value in same),
            [message, at, at, task_id, *(value for _, value in same if value is not None)]) > 0

    def end_task(self, task_id: str, status: str, message: str,
                 only_from: Iterable[str] = ("created", "queued", "in_progress")) -> bool:
        """Close a task whose own process could not (killed, lost worker, time limit, aborted):
        set ``status`` with ``message``, but only while it is still unfinished (``only_from``), so a
        status the task recorded itself is never overwritten."""
        now = time.time()
        return self.update_task(task_id, where_status=only_from, status=status, status_message=message,
                                status_reason=message, completed=now, last_update=now)

    def delete_task(self, task_id: str, with_models: bool = False) -> None:
        """Remove a task row and every record of it (and the models it produced) in one transaction."""
        with self.write() as conn:
            self.delete_task_records(task_id, TASK_RECORD_TABLES)
            if with_models:
                conn.execute("DELETE FROM models WHERE task_id=?", (task_id,))
            conn.execute("DELETE FROM tasks WHERE id=?", (task_id,))

    def delete_task_records(self, task_id: str, tables: Iterable[str]) -> None:
        with self.write() as conn:
            for table in tables:
                if table not in TASK_RECORD_TABLES:
                    raise ValueError(f"{table!r} is not a task record table; one of {TASK_RECORD_TABLES}")
                conn.execute(f"DELETE FROM {table} WHERE task_id=?", (task_id,))
