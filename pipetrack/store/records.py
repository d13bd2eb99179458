"""Store operations on a task's inputs and files: parameters, configurations, artifacts."""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

PARAM_COLUMNS = ("task_id", "section", "name", "value", "type", "description")
CONFIG_COLUMNS = ("task_id", "name", "value", "type", "description")


def upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` of ``columns``: a row replaces the one with its key."""
    updates = [c for c in columns if c not in key]
    action = (f"DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in updates)}" if updates else "DO NOTHING")
    return (f"INSERT INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(key)}) {action}")


class RecordOperations:
    """Parameters, configurations and artifact rows (mixed into ``TaskStore``)."""

    def put_params(self, rows: Iterable[Sequence[Any]]) -> None:
        """Store parameter rows ``(task_id, section, name, value, type, description)``; a row replaces
        the parameter of the same task, section and name."""
        self.executemany(upsert("params", PARAM_COLUMNS, PARAM_COLUMNS[:3]), rows)

    def put_configs(self, rows: Iterable[Sequence[Any]]) -> None:
        """Store configuration rows ``(task_id, name, value, type, description)``; a row replaces the
        configuration of the same task and name."""
        self.executemany(upsert("configs", CONFIG_COLUMNS, CONFIG_COLUMNS[:2]), rows)

    def put_artifacts(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Store artifact rows (dicts of artifact columns, ``task_id`` and ``name`` included) in one
        transaction; a row replaces the artifact of the same task and name."""
        with self.write() as conn:
            for row in rows:
                cols = list(row)
                conn.execute(upsert("artifacts", cols, ("task_id", "name")), [row[c] for c in cols])
