"""Store operations that move records between stores: one task's bundle, or a whole catalogue.

A *task bundle* (:meth:`ExchangeOperations.export_task`) is everything stored about one task, as
plain data independent of any table layout::

    {"format": "pipetrack.records", "version": 1, "project_name": "a/b",
     "task": {task fields; JSON fields decoded}, "params": [...], "configs": [...],
     "artifacts": [...], "models": [...], "task_models": [...], "scalars": [...],
     "single_values": [...], "console": [...], "plots": [...], "debug_samples": [...]}

Each record is a dict of named fields (:data:`RECORD_FIELDS`), without its owner's id or the
exporting store's ``seq`` (list order is report order; the importing store numbers them anew).
Scalars travel as one dict of columns per series (``metric, variant, iterations, values,
timestamps``): JSON-able, and tens of MB rather than hundreds for a million points. A bundle is
JSON-able and picklable: it is how offline sessions, Dask workers and agents hand a task's
records back. Artifact and model *files* are not inside it: they are in storage, by URL.

A *catalogue* (:meth:`ExchangeOperations.export_catalogue`) is a header followed by one record
per project, queue, model (with its own metadata and reports) and task (a task bundle), so that
a whole store can be copied into another one (``pipetrack store copy``).
"""
from __future__ import annotations

import json
import time
from typing import Any, Iterable, Iterator, Mapping, Optional

from ..errors import ValidationError
from .models import MODEL_FIELDS
from .records import upsert
from .tasks import TASK_OUTPUT_TABLES, TASK_RECORD_TABLES, decode_task_row

BUNDLE_FORMAT = "pipetrack.records"
BUNDLE_VERSION = 1
CATALOGUE_FORMAT = "pipetrack.catalogue"
CATALOGUE_VERSION = 1

# The fields of a bundle's task (every task field but the store's own project id: the project
# travels by name).
TASK_FIELDS = ("id", "name", "type", "status", "status_message", "status_reason", "comment", "parent", "created",
               "started", "completed", "last_update", "last_iteration", "initial_iteration", "progress", "tags",
               "system_tags", "user_properties", "script", "runtime", "labels", "container", "output_uri",
               "last_worker", "host", "pid", "heartbeat", "queue", "priority", "enqueued", "cache_key",
               "publish_on_completion")
# kind -> (fields of one record, the order records are listed in); scalars are columns per series
RECORD_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "params": (("section", "name", "value", "type", "description"), "section, name"),
    "configs": (("name", "value", "type", "description"), "name"),
    "artifacts": (("name", "mode", "type", "uri", "size", "hash", "content_type", "extension", "metadata",
                   "preview", "created"), "created, name"),
    "task_models": (("model_id", "role", "name"), "seq"),
    "single_values": (("name", "value", "ts"), "name"),
    "console": (("ts", "level", "text"), "seq"),
    "plots": (("metric", "variant", "iteration", "figure", "ts"), "seq"),
    "debug_samples": (("metric", "variant", "iteration", "url", "ts"), "seq"),
}
BUNDLE_MODEL_FIELDS = tuple(f for f in MODEL_FIELDS if f != "project_id") + ("project_name",)
PROJECT_FIELDS = ("id", "name", "created", "description", "system_tags")
QUEUE_FIELDS = ("name", "id", "created")
_ITERATION_KINDS = ("plots", "debug_samples")  # records whose iteration an import may shift


class ExchangeOperations:
    """Task bundles and whole catalogues, out of and into a store (mixed into ``TaskStore``)."""

    # ----------------------------------------------------------------- one task
    def export_task(self, task_id: str, records: bool = True) -> dict[str, Any]:
        """Everything stored about one task (its fields, records and models) as a task bundle; with
        ``records=False`` only its fields (e.g. a pipeline task seeded into a step's private store)."""
        row = self.stored_task_row(task_id)
        if row is None:
            from ..errors import NotFoundError
            raise NotFoundError(f"no task with id {task_id!r} in {self}")
        task = decode_task_row({f: row[f] for f in TASK_FIELDS})
        bundle: dict[str, Any] = {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION,
                                  "project_name": self.project_name(row["project_id"]), "task": task}
        if not records:
            return dict(bundle, models=[], **{kind: [] for kind in TASK_RECORD_TABLES})
        bundle.update(self._owner_records(task_id))
        model_ids = list(dict.fromkeys(link["model_id"] for link in bundle["task_models"]))
        bundle["models"] = [self._bundle_model(m) for m in self.query(
            f"SELECT * FROM models WHERE id IN ({', '.join('?' * len(model_ids))}) ORDER BY id",
            model_ids)] if model_ids else []
        return bundle

    def import_task(self, bundle: Mapping[str, Any], target_id: Optional[str] = None, iteration_offset: int = 0,
                    replace: bool = True, replace_outputs: bool = False) -> str:
        """Write a task bundle as ``target_id`` (default: the bundle's own task id); returns the id.

        A new target gets the bundle's fields and records. An existing target has its fields updated
        (not its id, creation time, project, name or parent; its last iteration only grows) and the
        records appended (iterations shifted by ``iteration_offset``); ``replace`` first removes its
        parameters and configurations so the bundle's win, ``replace_outputs`` also its outputs
        (console, scalars, plots, samples, single values, artifacts): the bundle is then the whole
        truth, as for a remote step's live snapshots and final records. Refuses (ValidationError) a
        bundle of another format or a newer version."""
        _check_format(bundle, BUNDLE_FORMAT, BUNDLE_VERSION, "task records bundle")
        source = {f: v for f, v in bundle["task"].items() if f in TASK_FIELDS}
        source_id = source["id"]
        target_id = target_id or source_id
        project_id = self.project_id(bundle.get("project_name") or "default", create=True)
        source["id"] = target_id
        source["last_iteration"] = (source.get("last_iteration") or 0) + iteration_offset
        with self.write() as conn:
            existing = conn.execute("SELECT last_iteration FROM tasks WHERE id=?", (target_id,)).fetchone()
            if existing is None:
                self.insert_task(dict(source, project_id=project_id))
            else:
                keep = {k: v for k, v in source.items() if k not in ("id", "created", "name", "parent")}
                keep["last_iteration"] = max(existing[0] or 0, source["last_iteration"])
                self.update_task(target_id, **keep)
                if replace_outputs:
                    self.delete_task_records(target_id, TASK_OUTPUT_TABLES)
            for model in bundle.get("models") or []:
                model = dict(model)
                if model.get("task_id") == source_id:
                    model["task_id"] = target_id
                self._put_bundle_model(model, project_id)
            self.put_task_inputs(target_id, bundle.get("params") or [], bundle.get("configs") or [],
                                 replace=existing is not None and replace)
            self._put_owner_records(target_id, bundle, iteration_offset)
        return target_id

    def put_task_inputs(self, task_id: str, params: Optional[Iterable[Mapping[str, Any]]] = None,
                        configs: Optional[Iterable[Mapping[str, Any]]] = None, replace: bool = True) -> None:
        """Store a task's parameters (dicts of section, name, value, type, description) and
        configurations (name, value, type, description) in one transaction; ``replace`` first
        removes the task's previous ones of each kind given (None leaves that kind alone)."""
        with self.write():
            if params is not None:
                if replace:
                    self.delete_task_records(task_id, ("params",))
                self.put_params([(task_id, p["section"], p["name"], p.get("value"), p.get("type"),
                                  p.get("description")) for p in params])
            if configs is not None:
                if replace:
                    self.delete_task_records(task_id, ("configs",))
                self.put_configs([(task_id, c["name"], c.get("value"), c.get("type"), c.get("description"))
                                  for c in configs])

    # ----------------------------------------------------------------- a whole catalogue
    def task_ids(self) -> list[str]:
        """Every task's id, oldest first."""
        return [row["id"] for row in self.query("SELECT id FROM tasks ORDER BY created, id")]

    def export_catalogue(self) -> Iterator[dict[str, Any]]:
        """Everything in this store as records: a header, then each project, queue, model (with its
        metadata and reports) and task (a task bundle), parents before what refers to them."""
        yield {"kind": "catalogue", "format": CATALOGUE_FORMAT, "version": CATALOGUE_VERSION}
        for project in self.query(f"SELECT {', '.join(PROJECT_FIELDS)} FROM projects ORDER BY name"):
            project["system_tags"] = json.loads(project["system_tags"] or "[]")
            yield {"kind": "project", **project}
        for queue in self.query(f"SELECT {', '.join(QUEUE_FIELDS)} FROM queues ORDER BY name"):
            yield {"kind": "queue", **queue}
        for model in self.query("SELECT * FROM models ORDER BY created, id"):
            yield {"kind": "model", "model": self._bundle_model(model), **self._owner_records(model["id"])}
        for task_id in self.task_ids():
            yield {"kind": "task", **self.export_task(task_id)}

    def import_catalogue(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Copy records of :meth:`export_catalogue` (of any store) into this one, keeping ids; a
        thing already here is replaced by the copy (a project of the same name keeps its id)."""
        records = iter(records)
        header = next(records, None)
        if header is None or header.get("kind") != "catalogue":
            raise ValidationError("a catalogue starts with its header record {'kind': 'catalogue', 'format': "
                                  f"{CATALOGUE_FORMAT!r}, 'version': ...}}, got {header!r}")
        _check_format(header, CATALOGUE_FORMAT, CATALOGUE_VERSION, "catalogue")
        for record in records:
            kind = record.get("kind")
            if kind == "project":
                self._put_project(record)
            elif kind == "queue":
                with self.write() as conn:
                    conn.execute(f"INSERT INTO queues({', '.join(QUEUE_FIELDS)}) VALUES (?,?,?) "
                                 "ON CONFLICT (name) DO NOTHING", [record[f] for f in QUEUE_FIELDS])
            elif kind == "model":
                with self.write():
                    model = record["model"]
                    self._put_bundle_model(model, None)
                    self.delete_task_records(model["id"], TASK_RECORD_TABLES)
                    self.put_task_inputs(model["id"], record.get("params") or [], record.get("configs") or [],
                                         replace=False)
                    self._put_owner_records(model["id"], record, 0)
            elif kind == "task":
                self.import_task(record, replace=True, replace_outputs=True)
            else:
                raise ValidationError(f"unknown catalogue record kind {kind!r}; accepted: project, queue, model, "
                                      "task")

    # ----------------------------------------------------------------- helpers
    def _owner_records(self, owner_id: str) -> dict[str, list]:
        """The records of a task (or model) by kind, as a bundle carries them."""
        out: dict[str, list] = {}
        for kind in TASK_RECORD_TABLES:
            if kind == "scalars":
                out[kind] = [{"metric": metric, "variant": variant, "iterations": iters.tolist(),
                              "values": vals.tolist(), "timestamps": stamps.tolist()}
                             for (metric, variant), (iters, vals, stamps) in self.scalar_series(owner_id).items()]
            else:
                fields, order = RECORD_FIELDS[kind]
                out[kind] = self.query(f"SELECT {', '.join(fields)} FROM {kind} WHERE task_id=? ORDER BY {order}",
                                       (owner_id,))
        return out

    def _put_owner_records(self, owner_id: str, bundle: Mapping[str, Any], iteration_offset: int) -> None:
        """Append a bundle's outputs and model links to a task (or model), in one transaction
        (parameters and configurations: :meth:`put_task_inputs`)."""
        series = _scalar_columns(bundle.get("scalars") or [], iteration_offset)
        with self.write() as conn:
            self.add_scalar_series(owner_id, series)
            artifacts = bundle.get("artifacts") or []
            if artifacts:
                fields = RECORD_FIELDS["artifacts"][0]
                self.put_artifacts([dict({f: a[f] for f in fields if f in a}, task_id=owner_id) for a in artifacts])
            links = bundle.get("task_models") or []
            if links:
                seq = conn.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM task_models WHERE task_id=?",
                                   (owner_id,)).fetchone()[0]
                conn.executemany(
                    "INSERT INTO task_models(task_id, model_id, role, name, seq) VALUES (?,?,?,?,?) "
                    "ON CONFLICT (task_id, role, name) DO UPDATE SET model_id=excluded.model_id",
                    [(owner_id, link["model_id"], link["role"], link["name"], seq + i) for i, link in enumerate(links)])
            singles = bundle.get("single_values") or []
            if singles:
                conn.executemany(upsert("single_values", ("task_id", "name", "value", "ts"), ("task_id", "name")),
                                 [(owner_id, s["name"], s.get("value"), s.get("ts")) for s in singles])
            for kind in ("console", "plots", "debug_samples"):
                rows = bundle.get(kind) or []
                if not rows:
                    continue
                fields = RECORD_FIELDS[kind][0]
                values = []
                for row in rows:
                    row = {f: row.get(f) for f in fields}
                    if kind in _ITERATION_KINDS and row["iteration"] is not None:
                        row["iteration"] += iteration_offset
                    values.append((owner_id, *row.values()))
                conn.executemany(f"INSERT INTO {kind}(task_id, {', '.join(fields)}) "
                                 f"VALUES ({', '.join('?' * (len(fields) + 1))})", values)

    def _bundle_model(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A stored model row as a bundle carries it: its project by name."""
        model = {f: row[f] for f in MODEL_FIELDS if f != "project_id"}
        model["project_name"] = self.project_name(row["project_id"]) if row.get("project_id") else None
        return model

    def _put_bundle_model(self, model: Mapping[str, Any], default_project_id: Optional[str]) -> None:
        """Store a bundle's model, in the project it names (else ``default_project_id``)."""
        row = {f: model[f] for f in MODEL_FIELDS if f in model}
        name = model.get("project_name")
        if name:
            row["project_id"] = self.project_id(name, create=True)
        elif "project_name" in model or default_project_id is not None:
            row["project_id"] = default_project_id
        self.put_model(row)

    def _put_project(self, record: Mapping[str, Any]) -> None:
        tags = record.get("system_tags")
        values = {"id": record["id"], "name": record["name"], "created": record.get("created") or time.time(),
                  "description": record.get("description") or "",
                  "system_tags": tags if isinstance(tags, str) else json.dumps(tags or [])}
        with self.write() as conn:
            same_name = conn.execute("SELECT id FROM projects WHERE name=?", (values["name"],)).fetchone()
            if same_name is not None:
                conn.execute("UPDATE projects SET description=?, system_tags=? WHERE id=?",
                             (values["description"], values["system_tags"], same_name[0]))
            else:
                conn.execute(upsert("projects", PROJECT_FIELDS, ("id",)), [values[f] for f in PROJECT_FIELDS])


def _check_format(bundle: Any, expected: str, version: int, what: str) -> None:
    """Refuse what is not ``expected`` at ``version`` (a ValidationError naming both). A task bundle
    without a format name is one of the first layout (version 1 too): its rows import alike."""
    if not isinstance(bundle, Mapping):
        raise ValidationError(f"a {what} must be a dict, got {type(bundle).__name__}")
    found = bundle.get("format", BUNDLE_FORMAT if expected == BUNDLE_FORMAT else None)
    if found != expected or bundle.get("version") != version:
        raise ValidationError(f"unsupported {what}: format {found!r} version {bundle.get('version')!r} "
                              f"(this pipetrack reads format {expected!r} version {version})")


def _scalar_columns(items: Iterable[Mapping[str, Any]],
                    iteration_offset: int) -> list[tuple[Any, Any, list, list, list]]:
    """Bundle scalars as ``(metric, variant, iterations, values, timestamps)`` series, iterations
    shifted; accepts the column form and, for the first bundles, one dict per point
    (``metric, variant, iteration, value, ts``)."""
    series: list[tuple[Any, Any, list, list, list]] = []
    points: dict[tuple, tuple[list, list, list]] = {}
    for item in items:
        if "iterations" in item:
            series.append((item["metric"], item["variant"], [int(i) + iteration_offset for i in item["iterations"]],
                           [_value(v) for v in item["values"]], [float(t or 0.0) for t in item["timestamps"]]))
        else:
            iters, vals, stamps = points.setdefault((item["metric"], item["variant"]), ([], [], []))
            iters.append(int(item["iteration"]) + iteration_offset)
            vals.append(_value(item["value"]))
            stamps.append(float(item.get("ts") or 0.0))
    return series + [(metric, variant, *columns) for (metric, variant), columns in points.items()]


def _value(value: Any) -> float:
    return float("nan") if value is None else float(value)
