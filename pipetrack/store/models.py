"""Store operations on models: register, link to tasks, look up.

A model's extras are kept in the tables of a task's records, keyed by the model's id (model and
task ids never collide): its metadata as ``params`` rows of section ``__model_metadata__``, its
own reports (scalars, single values, plots) as a task's are.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from .records import upsert

MODEL_FIELDS = ("id", "task_id", "project_id", "name", "uri", "framework", "comment", "tags", "iteration",
                "design", "labels", "published", "created")
MODEL_METADATA_SECTION = "__model_metadata__"
MODEL_ROLES = ("input", "output")


class ModelOperations:
    """Models and a task's input/output model links (mixed into ``TaskStore``)."""

    # ----------------------------------------------------------------- model rows
    def put_model(self, row: Mapping[str, Any]) -> None:
        """Store a model row (a dict of model fields, ``id`` included); it replaces the stored fields of
        a model with that id."""
        fields = _model_fields(row)
        with self.write() as conn:
            conn.execute(upsert("models", fields, ("id",)), [row[f] for f in fields])

    def update_model(self, model_id: str, **fields: Any) -> bool:
        """Change some fields of a stored model; False when there is no such model."""
        names = _model_fields(fields)
        if not names:
            return self.model_row(model_id) is not None
        return self.execute(f"UPDATE models SET {', '.join(f'{n}=?' for n in names)} WHERE id=?",
                            [*(fields[n] for n in names), model_id]) > 0

    def model_row(self, model_id: str) -> dict[str, Any] | None:
        """The stored model with that id (None when there is none)."""
        return self.query_one("SELECT * FROM models WHERE id=?", (model_id,))

    def find_models(self, name: str, project: str | None = None, only_published: bool = False) -> list[dict[str, Any]]:
        """Registered models (with a uri) named ``name``, newest first; optionally only those of the
        project named ``project`` and only published ones."""
        sql = ("SELECT m.* FROM models m LEFT JOIN projects p ON p.id=m.project_id "
               "WHERE m.name=? AND m.uri IS NOT NULL")
        params: list[Any] = [name]
        if project:
            sql += " AND p.name=?"
            params.append(project)
        if only_published:
            sql += " AND m.published=1"
        return self.query(sql + " ORDER BY m.created DESC", params)

    # ----------------------------------------------------------------- a task's models
    def link_model(self, task_id: str, model_id: str, role: str, name: str) -> None:
        """List a model as an ``input``/``output`` model of a task under ``name``, after the task's
        other models; it replaces the task's model of that role and name."""
        _check_role(role)
        with self.write() as conn:
            seq = conn.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM task_models WHERE task_id=?",
                               (task_id,)).fetchone()[0]
            conn.execute(upsert("task_models", ("task_id", "model_id", "role", "name", "seq"),
                                ("task_id", "role", "name")), (task_id, model_id, role, name, seq))

    def unlink_model(self, task_id: str, model_id: str, role: str) -> None:
        """Remove every listing of a model as an ``input``/``output`` model of a task (not the model)."""
        _check_role(role)
        self.execute("DELETE FROM task_models WHERE task_id=? AND model_id=? AND role=?", (task_id, model_id, role))

    def task_model_rows(self, task_id: str) -> list[dict[str, Any]]:
        """The models of a task in the order they were listed: model rows plus ``role`` and
        ``link_name`` (the name the task lists the model under)."""
        return self.query("SELECT m.*, tm.role AS role, tm.name AS link_name FROM task_models tm "
                          "JOIN models m ON m.id = tm.model_id WHERE tm.task_id=? ORDER BY tm.seq", (task_id,))

    # ----------------------------------------------------------------- metadata
    def put_model_metadata(self, model_id: str, entries: Iterable[Sequence[Any]], replace: bool = False) -> None:
        """Store metadata entries ``(key, value text, type name or None)`` of a model; an entry replaces
        the one with its key, ``replace`` first drops the model's other entries."""
        rows = [(model_id, MODEL_METADATA_SECTION, key, value, v_type) for key, value, v_type in entries]
        with self.write() as conn:
            if replace:
                conn.execute("DELETE FROM params WHERE task_id=? AND section=?", (model_id, MODEL_METADATA_SECTION))
            conn.executemany(upsert("params", ("task_id", "section", "name", "value", "type"),
                                    ("task_id", "section", "name")), rows)

    def model_metadata(self, model_id: str) -> list[dict[str, Any]]:
        """A model's metadata entries (name, value, type), by name."""
        return self.query("SELECT name, value, type FROM params WHERE task_id=? AND section=? ORDER BY name",
                          (model_id, MODEL_METADATA_SECTION))


def _model_fields(row: Mapping[str, Any]) -> list[str]:
    unknown = [f for f in row if f not in MODEL_FIELDS]
    if unknown:
        raise ValueError(f"not model fields: {unknown}; model fields are {MODEL_FIELDS}")
    return list(row)


def _check_role(role: str) -> None:
    if role not in MODEL_ROLES:
        raise ValueError(f"model role must be one of {MODEL_ROLES}, got {role!r}")
