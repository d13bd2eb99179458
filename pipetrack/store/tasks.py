"""Store operations on projects and task rows: create, read, transition, delete."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterable

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
        row = self.query_one("SELECT name FROM projects WHERE id=?", (project_id,))
        return row["name"] if row else None

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

    def task_ids_starting_with(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids of tasks whose id starts with ``prefix`` (hex digits only: no LIKE wildcards), sorted."""
        rows = self.query("SELECT id FROM tasks WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                          (prefix, prefix + "g", limit))  # an index range scan: ids are lowercase hex
        return [row["id"] for row in rows]

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
