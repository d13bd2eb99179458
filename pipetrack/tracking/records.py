"""Moving a task between stores: configuration export/import and full record bundles.

Two formats:

- *configuration* (``Task.export_task`` / ``Task.import_task``): the inputs of a task —
  name, type, project, tags, script, parameters, configuration objects, labels, container —
  as a JSON-able dict. Outputs are not included, as in ClearML.
- *records bundle* (:func:`export_records` / :func:`import_records`): one task's row and every
  record (parameters, configs, console, scalars, plots, debug samples, single values,
  artifacts and models). This is the recording format of offline sessions (a session folder
  is a store of its own; importing copies its bundle into the main store) and of steps that ran
  on a remote Dask worker (the worker records into a private store and returns the bundle;
  the controller imports it). Artifact/model files are not inside the bundle: they are already
  in storage, addressed by URL. Scalars travel as one dict of columns per series
  (``metric, variant, iterations, values, timestamps``); every other table as its rows.
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Optional

from ..errors import ValidationError
from . import scalars
from .parameters import encode_value
from ..store import TASK_OUTPUT_TABLES, TASK_RECORD_TABLES, TaskStore, new_id

CONFIG_FIELDS = ("name", "type", "comment", "tags", "script", "labels", "container", "output_uri", "parent")
BUNDLE_VERSION = 1


def export_config(store: TaskStore, task_id: str) -> dict:
    row = store.task_row(task_id)
    if row is None:
        from ..errors import NotFoundError
        raise NotFoundError(f"no task with id {task_id!r}")
    hyper: dict[str, dict] = {}
    for p in store.query("SELECT section, name, value, type, description FROM params WHERE task_id=?", (task_id,)):
        hyper.setdefault(p["section"], {})[p["name"]] = {
            "section": p["section"], "name": p["name"], "value": p["value"], "type": p["type"],
            "description": p["description"]}
    configs = {c["name"]: {"name": c["name"], "value": c["value"], "type": c["type"], "description": c["description"]}
               for c in store.query("SELECT name, value, type, description FROM configs WHERE task_id=?", (task_id,))}
    data = {k: row[k] for k in CONFIG_FIELDS}
    data.update(id=row["id"], project_name=row["project_name"], status=row["status"], hyperparams=hyper,
                configuration=configs)
    return data


def import_config(store: TaskStore, data: Mapping[str, Any], target_id: Optional[str], update: bool = False) -> str:
    """Write exported configuration into ``target_id`` (or a new Draft task); returns the id."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"task_data must be a dict as returned by export_task(), got {type(data).__name__}")
    fields = {k: data[k] for k in CONFIG_FIELDS if k in data}
    if "type" in fields:
        from .states import normalise_task_type
        fields["type"] = normalise_task_type(fields["type"])
    if target_id is None:
        target_id = new_id()
        now = time.time()
        store.insert_task(dict(
            id=target_id, project_id=store.project_id(data.get("project_name") or "default", create=True),
            name=fields.pop("name", None) or "imported task", type=fields.pop("type", "training"),
            status="created", created=now, last_update=now, runtime={"created_by": "import"}, **fields))
    elif fields:
        if "project_name" in data:
            fields["project_id"] = store.project_id(data["project_name"], create=True)
        store.update_task(target_id, **fields)
    hyper = data.get("hyperparams")
    configs = data.get("configuration")
    with store.write() as conn:
        if hyper is not None:
            if not update:
                conn.execute("DELETE FROM params WHERE task_id=?", (target_id,))
            for section, items in hyper.items():
                for name, item in items.items():
                    if isinstance(item, Mapping):
                        value, type_name = item.get("value"), item.get("type")
                    else:
                        value, type_name = encode_value(item)
                    conn.execute("INSERT OR REPLACE INTO params VALUES (?,?,?,?,?,?)",
                                 (target_id, section, name, value, type_name,
                                  item.get("description") if isinstance(item, Mapping) else None))
        if configs is not None:
            if not update:
                conn.execute("DELETE FROM configs WHERE task_id=?", (target_id,))
            for name, item in configs.items():
                item = item if isinstance(item, Mapping) else {"value": str(item)}
                conn.execute("INSERT OR REPLACE INTO configs VALUES (?,?,?,?,?)",
                             (target_id, name, item.get("value"), item.get("type"), item.get("description")))
    return target_id


# --------------------------------------------------------------------- full bundles
def export_records(store: TaskStore, task_id: str) -> dict:
    """Everything stored about one task (row, records, its models, project name), JSON-able."""
    from .reporting import flush_all
    flush_all()
    row = store.query_one("SELECT * FROM tasks WHERE id=?", (task_id,))
    if row is None:
        from ..errors import NotFoundError
        raise NotFoundError(f"no task with id {task_id!r}")
    bundle: dict[str, Any] = {"version": BUNDLE_VERSION, "task": row,
                              "project_name": store.project_name(row["project_id"])}
    for table in TASK_RECORD_TABLES:
        if table == "scalars":  # chunks are a storage detail: the bundle carries plain columns
            bundle[table] = scalars.export_series(store, task_id)
        else:
            bundle[table] = store.query(f"SELECT * FROM {table} WHERE task_id=?", (task_id,))
    model_ids = [m["model_id"] for m in bundle["task_models"]]
    bundle["models"] = store.query(
        f"SELECT * FROM models WHERE id IN ({', '.join('?' * len(model_ids))})", model_ids) if model_ids else []
    return bundle


def import_records(store: TaskStore, bundle: Mapping[str, Any], target_id: Optional[str] = None,
                   iteration_offset: int = 0, replace: bool = True, replace_outputs: bool = False) -> str:
    """Write a bundle into ``store`` as ``target_id`` (default: the bundle's own id); returns the id.

    With an existing ``target_id`` the task row is updated (status, times, ...) and records are
    appended (scalar iterations shifted by ``iteration_offset``); ``replace`` first removes the
    target's previous parameters/configuration so the bundle's values win; ``replace_outputs``
    also its outputs (console, scalars, plots, samples, single values, artifacts): the bundle is
    then the whole truth, as for a remote step's live snapshots and its final records.
    """
    if bundle.get("version") != BUNDLE_VERSION:
        raise ValidationError(f"unsupported task record bundle version {bundle.get('version')!r} "
                              f"(this pipetrack reads version {BUNDLE_VERSION})")
    source = dict(bundle["task"])
    source_id = source["id"]
    target_id = target_id or source_id
    project_id = store.project_id(bundle.get("project_name") or "default", create=True)
    source["project_id"] = project_id
    source["id"] = target_id
    existing = store.query_one("SELECT id, last_iteration FROM tasks WHERE id=?", (target_id,))
    source["last_iteration"] = (source.get("last_iteration") or 0) + iteration_offset
    with store.write() as conn:
        if existing is None:
            cols = list(source)
            conn.execute(f"INSERT INTO tasks({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                         [source[c] for c in cols])
        else:
            keep = {k: v for k, v in source.items() if k not in ("id", "created", "project_id", "name", "parent")}
            keep["last_iteration"] = max(existing["last_iteration"] or 0, source["last_iteration"])
            conn.execute(f"UPDATE tasks SET {', '.join(f'{k}=?' for k in keep)} WHERE id=?", [*keep.values(), target_id])
            if replace:
                conn.execute("DELETE FROM params WHERE task_id=?", (target_id,))
                conn.execute("DELETE FROM configs WHERE task_id=?", (target_id,))
            if replace_outputs:
                for table in TASK_OUTPUT_TABLES:
                    conn.execute(f"DELETE FROM {table} WHERE task_id=?", (target_id,))
        for model in bundle.get("models", []):
            model = dict(model)
            if model.get("task_id") == source_id:
                model["task_id"] = target_id
            model["project_id"] = project_id
            cols = list(model)
            conn.execute(f"INSERT OR REPLACE INTO models({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                         [model[c] for c in cols])
        scalars.import_series(conn, target_id, bundle.get("scalars") or [], iteration_offset)
        for table in TASK_RECORD_TABLES:
            if table == "scalars":
                continue
            rows = bundle.get(table) or []
            for row in rows:
                row = dict(row)
                row["task_id"] = target_id
                row.pop("seq", None) if table in ("console", "plots", "debug_samples") else None
                if table in ("plots", "debug_samples") and row.get("iteration") is not None:
                    row["iteration"] += iteration_offset
                cols = list(row)
                conn.execute(f"INSERT OR REPLACE INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                             [row[c] for c in cols])
    return target_id
