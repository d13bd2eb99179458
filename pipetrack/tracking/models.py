"""Models: files or folders registered on a task as its input or output models.

Only as much of ClearML's ``Model``/``InputModel``/``OutputModel`` as the Task API needs:
upload weights through storage, register, list (``task.models['output'][-1]`` or by name),
fetch a local copy, and connect an existing model as a task's input.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import NotFoundError, ValidationError
from .store import Store, default_store, new_id


class Model:
    """A stored model (read-only view)."""

    def __init__(self, row: dict, store: Store):
        self._row = row
        self._store = store

    id = property(lambda self: self._row["id"])
    name = property(lambda self: self._row["name"])
    url = property(lambda self: self._row["uri"])
    framework = property(lambda self: self._row.get("framework"))
    comment = property(lambda self: self._row.get("comment") or "")
    iteration = property(lambda self: self._row.get("iteration"))
    task = property(lambda self: self._row.get("task_id"))
    published = property(lambda self: bool(self._row.get("published")))

    @property
    def tags(self) -> list[str]:
        import json
        return json.loads(self._row.get("tags") or "[]")

    @property
    def labels(self) -> dict:
        import json
        return json.loads(self._row.get("labels") or "{}")

    @property
    def config_text(self) -> Optional[str]:
        return self._row.get("design")

    def get_local_copy(self, extract_archive: bool = True, raise_on_error: bool = False, force_download: bool = False) -> Optional[str]:
        """A local path of the weights (a zipped folder is extracted unless extract_archive=False)."""
        from ..storage import get_local_copy
        try:
            return get_local_copy(self.url, extract_archive=extract_archive and self.url.endswith(".zip"),
                                  force_download=force_download)
        except Exception:
            if raise_on_error:
                raise
            return None

    def get_weights(self, raise_on_error: bool = False, force_download: bool = False) -> Optional[str]:
        return self.get_local_copy(extract_archive=False, raise_on_error=raise_on_error, force_download=force_download)

    def get_weights_package(self, return_path: bool = False, raise_on_error: bool = False,
                            force_download: bool = False) -> Optional[str]:
        return self.get_local_copy(extract_archive=True, raise_on_error=raise_on_error, force_download=force_download)

    def _connect(self, task: Any) -> "Model":
        InputModel.connect(self, task)  # type: ignore[arg-type]
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id} name={self.name!r} url={self.url!r}>"


class ModelList(list):
    """A list of models that can also be indexed by model name."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            for model in reversed(self):
                if model.name == key:
                    return model
            raise KeyError(f"no model named {key!r}; models: {[m.name for m in self]}")
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return [m.name for m in self]


def task_models(task: Any) -> dict[str, ModelList]:
    rows = task._store.query(
        "SELECT m.*, tm.role AS role, tm.name AS link_name FROM task_models tm JOIN models m ON m.id = tm.model_id "
        "WHERE tm.task_id=? ORDER BY tm.seq", (task.id,))
    out = {"input": ModelList(), "output": ModelList()}
    for row in rows:
        role, link_name = row.pop("role"), row.pop("link_name")
        row["name"] = link_name or row["name"]
        out[role].append(Model(row, task._store))
    return out


def _link(store: Store, task_id: str, model_id: str, role: str, name: str) -> None:
    with store.write() as conn:
        seq = conn.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM task_models WHERE task_id=?", (task_id,)).fetchone()[0]
        conn.execute("INSERT OR REPLACE INTO task_models(task_id, model_id, role, name, seq) VALUES (?,?,?,?,?)",
                     (task_id, model_id, role, name, seq))


class OutputModel(Model):
    """A model produced by a task; ``update_weights`` uploads and registers it."""

    def __init__(self, task: Any = None, config_text: Optional[str] = None, config_dict: Optional[dict] = None,
                 label_enumeration: Optional[dict] = None, name: Optional[str] = None,
                 tags: Optional[Sequence[str]] = None, comment: Optional[str] = None,
                 framework: Optional[str] = None, base_model_id: Optional[str] = None):
        import json
        from .task import Task
        task = task or Task.current_task()
        if task is None:
            raise ValidationError("OutputModel needs a task (pass task= or call Task.init first)")
        name, tags = _check_model_fields(name, tags, comment, config_text)
        if config_dict is not None:
            config_text = json.dumps(config_dict, indent=2, default=str)
        self._task = task
        row = dict(id=new_id(), task_id=task.id, project_id=task.project, name=name or task.name, uri=None,
                   framework=framework, comment=comment or "", tags=json.dumps(tags), iteration=None,
                   design=config_text, labels=json.dumps(label_enumeration or task.get_labels_enumeration()),
                   published=0, created=time.time())
        super().__init__(row, task._store)

    def update_weights(self, weights_filename: Optional[str] = None, upload_uri: Optional[str] = None,
                       target_filename: Optional[str] = None, auto_delete_file: bool = True,
                       register_uri: Optional[str] = None, iteration: Optional[int] = None,
                       update_comment: bool = True, is_package: bool = False, weights_path: Optional[str] = None) -> str:
        """Upload a weights file (or a folder, zipped) and register the model on the task."""
        from ..storage import join_url, upload_file
        from .task import _safe
        self._task._check_editable("output models")
        if register_uri:
            url = register_uri
        else:
            source = weights_path or weights_filename
            if not source or not os.path.exists(source):
                raise ValidationError(f"model weights {source!r} do not exist (give an existing file or folder)")
            base = upload_uri or self._task.get_output_destination("models")
            if os.path.isdir(source):
                import shutil
                tmp = tempfile.mkdtemp(prefix="pipetrack-model-")
                archive = shutil.make_archive(os.path.join(tmp, Path(source).name or "model"), "zip", source)
                url = upload_file(archive, join_url(base, _safe(self.name), target_filename or Path(archive).name))
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                # auto_delete_file: ClearML deletes only temporary snapshots it made itself; a user's
                # weights file is never removed.
                url = upload_file(source, join_url(base, _safe(self.name), target_filename or Path(source).name))
        self._row.update(uri=url, iteration=iteration)
        cols = list(self._row)
        with self._store.write() as conn:
            conn.execute(f"INSERT OR REPLACE INTO models({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                         [self._row[c] for c in cols])
        _link(self._store, self._task.id, self.id, "output", self.name)
        return url

    def update_weights_package(self, weights_path: Optional[str] = None, weights_filenames: Any = None,
                               upload_uri: Optional[str] = None, target_filename: Optional[str] = None,
                               auto_delete_file: bool = True, iteration: Optional[int] = None) -> str:
        return self.update_weights(weights_path=weights_path, upload_uri=upload_uri, target_filename=target_filename,
                                   iteration=iteration)

    def publish(self) -> None:
        self._row["published"] = 1
        self._store.execute("UPDATE models SET published=1 WHERE id=?", (self.id,))


class InputModel(Model):
    """An existing model, found by id or name, to be used as a task's input."""

    def __init__(self, model_id: Optional[str] = None, name: Optional[str] = None, project: Optional[str] = None,
                 tags: Optional[Sequence[str]] = None, only_published: bool = False):
        store = _store()
        if model_id:
            row = store.query_one("SELECT * FROM models WHERE id=?", (model_id,))
            if row is None:
                raise NotFoundError(f"no model with id {model_id!r}")
        elif name:
            sql = "SELECT m.* FROM models m LEFT JOIN projects p ON p.id=m.project_id WHERE m.name=? AND m.uri IS NOT NULL"
            params: list[Any] = [name]
            if project:
                sql += " AND p.name=?"
                params.append(project)
            if only_published:
                sql += " AND m.published=1"
            rows = store.query(sql + " ORDER BY m.created DESC", params)
            if tags:
                import json
                rows = [r for r in rows if set(tags) <= set(json.loads(r["tags"] or "[]"))]
            if not rows:
                raise NotFoundError(f"no model named {name!r}" + (f" in project {project!r}" if project else ""))
            row = rows[0]
        else:
            raise ValidationError("InputModel needs model_id or name")
        super().__init__(row, store)

    def connect(self, task: Any, name: Optional[str] = None, ignore_remote_overrides: bool = False) -> None:
        """Register this model as an input model of ``task``."""
        task._check_editable("input models")
        _link(task._store, task.id, self.id, "input", name or self.name)


def _check_model_fields(name: Any, tags: Any, comment: Any, config_text: Any) -> tuple[Optional[str], list[str]]:
    """(name, tags) of a new OutputModel, or a ValidationError naming the bad value: the name is a
    key (``task.models['output'][name]``) and a folder name, so it must be a non-empty storable
    str (None: the task's name); a non-str name used to fail deep inside as TypeError or
    AttributeError, a lone surrogate as UnicodeEncodeError."""
    from .logger import check_name as storable, shown
    from .task_metadata import check_tags
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"model name must be a non-empty string (or None for the task's name), got {shown(name)}")
        storable("model name", name)
    for what, text in (("comment", comment), ("config_text", config_text)):
        if isinstance(text, str):
            storable(f"model {what}", text)
    return name, check_tags(tags)


def _store() -> Store:
    from .task import Task
    return Task._main_store() if Task._main_task is not None else default_store()
