"""Moving a task between stores: configuration export/import and full record bundles.

Two formats:

- *configuration* (``Task.export_task`` / ``Task.import_task``): the inputs of a task —
  name, type, project, tags, script, parameters, configuration objects, labels, container —
  as a JSON-able dict. Outputs are not included, as in ClearML.
- *records bundle* (:func:`export_records` / :func:`import_records`): one task's fields and every
  record (parameters, configs, console, scalars, plots, debug samples, single values,
  artifacts and models), in the store's versioned bundle format (``store/exchange.py``). This
  is the recording format of offline sessions (a session folder is a store of its own;
  importing copies its bundle into the main store) and of steps that ran on a remote Dask
  worker or an agent (the worker records into a private store and returns the bundle; the
  controller imports it).
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Optional

from ..errors import ValidationError
from .parameters import encode_value
from ..store import TaskStore, new_id
from ..store.exchange import BUNDLE_FORMAT, BUNDLE_VERSION

__all__ = ["BUNDLE_FORMAT", "BUNDLE_VERSION", "export_config", "import_config", "export_records", "import_records"]

CONFIG_FIELDS = ("name", "type", "comment", "tags", "script", "labels", "container", "output_uri", "parent")


def export_config(store: TaskStore, task_id: str) -> dict:
    row = store.task_row(task_id)
    if row is None:
        from ..errors import NotFoundError
        raise NotFoundError(f"no task with id {task_id!r}")
    hyper: dict[str, dict] = {}
    for p in store.task_params(task_id):
        hyper.setdefault(p["section"], {})[p["name"]] = {
            "section": p["section"], "name": p["name"], "value": p["value"], "type": p["type"],
            "description": p["description"]}
    configs = {c["name"]: {"name": c["name"], "value": c["value"], "type": c["type"], "description": c["description"]}
               for c in store.task_configs(task_id)}
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
    params = None
    if hyper is not None:
        params = []
        for section, items in hyper.items():
            for name, item in items.items():
                if isinstance(item, Mapping):
                    value, type_name, description = item.get("value"), item.get("type"), item.get("description")
                else:
                    (value, type_name), description = encode_value(item), None
                params.append({"section": section, "name": name, "value": value, "type": type_name,
                               "description": description})
    config_rows = None if configs is None else [
        dict(item if isinstance(item, Mapping) else {"value": str(item)}, name=name) for name, item in configs.items()]
    store.put_task_inputs(target_id, params, config_rows, replace=not update)
    return target_id


# --------------------------------------------------------------------- full bundles
def export_records(store: TaskStore, task_id: str) -> dict:
    """Everything stored about one task (fields, records, its models, project name), JSON-able;
    what this process still buffers is written first."""
    from .reporting import flush_all
    flush_all()
    return store.export_task(task_id)


def import_records(store: TaskStore, bundle: Mapping[str, Any], target_id: Optional[str] = None,
                   iteration_offset: int = 0, replace: bool = True, replace_outputs: bool = False) -> str:
    """Write a bundle into ``store`` as ``target_id`` (default: the bundle's own id); returns the id
    (see :meth:`~pipetrack.store.TaskStore.import_task` for ``replace`` and ``replace_outputs``)."""
    return store.import_task(bundle, target_id=target_id, iteration_offset=iteration_offset, replace=replace,
                             replace_outputs=replace_outputs)
