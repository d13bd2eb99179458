"""Models: files or folders registered on a task as its input or output models.

ClearML's ``Model``/``InputModel``/``OutputModel``: upload weights through storage, register,
list (``task.models['output'][-1]`` or by name), fetch a local copy, connect an existing model
as a task's input, labels and design, metadata, and the model's own reports.

A model's metadata and its own reports (scalars, single values, plots) are kept by the store
beside its row (``store/models.py``); the reports are written through the same report buffer
as a task's, keyed by the model's id, so ``get_reported_*`` reads them back.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import NotFoundError, ValidationError
from ..store import TaskStore, default_store, new_id


class Model:
    """A stored model (read-only view)."""

    def __init__(self, model_id: Optional[str] = None, *, _row: Optional[dict] = None,
                 _store: Optional[TaskStore] = None):
        """``Model(model_id)``: the stored model with that id (NotFoundError if there is none)."""
        if isinstance(model_id, dict):  # Model(row, store): the internal form
            model_id, _row = None, model_id
        store = _store or _store_for_lookup()
        if _row is None:
            if not isinstance(model_id, str) or not model_id:
                raise ValidationError(f"Model needs a model id string, got {model_id!r}")
            _row = store.model_row(model_id)
            if _row is None:
                raise NotFoundError(f"no model with id {model_id!r} in store {store}")
        self._row = _row
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

    @property
    def config_dict(self) -> dict:
        """The design parsed as JSON/YAML/HOCON-like text ({} when there is none)."""
        return _text_to_config_dict(self.config_text)

    @property
    def project(self) -> Optional[str]:
        return self._row.get("project_id")

    # ------------------------------------------------------------------ metadata
    def set_metadata(self, key: str, value: Any, v_type: Optional[str] = None) -> bool:
        """Set one metadata entry (stored as strings, with its type name when it is a basic one)."""
        return self.set_all_metadata({key: {"value": value, "type": v_type}}, replace=False)

    def set_all_metadata(self, metadata: dict, replace: bool = True) -> bool:
        """Set entries ``{key: {'value': ..., 'type': ...}}``; ``replace`` drops the other entries."""
        if not isinstance(metadata, dict) or not all(isinstance(v, dict) for v in metadata.values()):
            raise ValidationError(f"metadata must be a dict of key -> {{'value': ..., 'type': ...}}, got {metadata!r}")
        from .logger import check_name
        rows = []
        for key, entry in metadata.items():
            v_type = entry.get("type")
            v_type = str(v_type) if str(v_type) in _METADATA_TYPES else None
            rows.append((check_name("metadata key", str(key)), check_name("metadata value", str(entry.get("value"))),
                         v_type))
        self._ensure_stored()
        self._store.put_model_metadata(self.id, rows, replace=replace)
        return True

    def get_all_metadata(self) -> dict[str, dict[str, Optional[str]]]:
        """``{key: {'key': key, 'value': str, 'type': str or None}}``."""
        rows = self._store.model_metadata(self.id)
        return {r["name"]: {"key": r["name"], "value": r["value"], "type": r["type"]} for r in rows}

    def get_metadata(self, key: str) -> Optional[str]:
        """One entry's value as a string (None if missing); see :meth:`get_metadata_casted`."""
        return self.get_all_metadata().get(str(key), {}).get("value")

    def get_metadata_type(self, key: str) -> Optional[str]:
        return self.get_all_metadata().get(str(key), {}).get("type")

    def get_metadata_casted(self, key: str) -> Any:
        """One entry's value cast to its recorded type (its string when it can't be)."""
        entry = self.get_all_metadata().get(str(key))
        return None if entry is None else _cast_metadata(entry["value"], entry["type"])

    def get_all_metadata_casted(self) -> dict[str, Any]:
        return {k: _cast_metadata(e["value"], e["type"]) for k, e in self.get_all_metadata().items()}

    # ------------------------------------------------------------------ the model's own reports
    def _logger(self) -> Any:
        logger = getattr(self, "_model_logger", None)
        if logger is None:
            from .logger import Logger
            from .reporting import buffer_for
            logger = self._model_logger = Logger(_ReportTarget(self.id, buffer_for(self._store)))
        return logger

    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """A scalar point of the model (e.g. its evaluation), read back by :meth:`get_reported_scalars`."""
        self._ensure_stored()
        self._logger().report_scalar(title, series, value, iteration)

    def report_single_value(self, name: str, value: float) -> None:
        self._ensure_stored()
        self._logger().report_single_value(name, value)

    def report_table(self, title: str, series: str, iteration: Optional[int] = None, table_plot: Any = None,
                     csv: Optional[str] = None, url: Optional[str] = None, extra_layout: Optional[dict] = None,
                     extra_data: Optional[dict] = None) -> None:
        self._ensure_stored()
        self._logger().report_table(title, series, iteration=iteration, table_plot=table_plot, csv=csv, url=url,
                                    extra_layout=extra_layout, extra_data=extra_data)

    def report_line_plot(self, title: str, series: Sequence[Any], xaxis: str, yaxis: str, mode: str = "lines",
                         iteration: Optional[int] = None, reverse_xaxis: bool = False, comment: Optional[str] = None,
                         extra_layout: Optional[dict] = None) -> None:
        self._ensure_stored()
        self._logger().report_line_plot(title, series, xaxis, yaxis, mode=mode, iteration=iteration,
                                        reverse_xaxis=reverse_xaxis, comment=comment, extra_layout=extra_layout)

    def report_plotly(self, title: str, series: str, figure: Any, iteration: Optional[int] = None) -> None:
        self._ensure_stored()
        self._logger().report_plotly(title, series, figure, iteration=iteration)

    def get_reported_scalars(self, x_axis: str = "iter") -> dict:
        """``{title: {series: {'x': [...], 'y': [...]}}}`` of the model's own scalars."""
        from .scalars import X_AXES, all_scalars
        if x_axis not in X_AXES:
            raise ValidationError.choice("x_axis", x_axis, X_AXES)
        self._flush_reports()
        return all_scalars(self._store, self.id, x_axis)

    def get_reported_single_values(self) -> dict[str, float]:
        self._flush_reports()
        return {name: float("nan") if value is None else value
                for name, value in self._store.single_values(self.id).items()}

    def get_reported_plots(self) -> list[dict]:
        """The model's plots (tables, line plots, plotly figures), oldest first."""
        import json
        self._flush_reports()
        rows = self._store.task_plots(self.id)
        return [{"metric": r["metric"], "variant": r["variant"], "iter": r["iteration"],
                 "plot": json.loads(r["figure"])} for r in rows]

    def _flush_reports(self) -> None:
        from .reporting import buffer_for
        buffer_for(self._store).flush()

    def _ensure_stored(self) -> None:
        """Models are rows of the store once they have anything to keep (Model(model_id) finds them)."""
        if self._store.model_row(self.id) is None:
            self._save_row()

    def _save_row(self) -> None:
        self._store.put_model(self._row)

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
    rows = task._store.task_model_rows(task.id)
    out = {"input": ModelList(), "output": ModelList()}
    for row in rows:
        role, link_name = row.pop("role"), row.pop("link_name")
        row["name"] = link_name or row["name"]
        out[role].append(Model(_row=row, _store=task._store))
    return out


def _link(store: TaskStore, task_id: str, model_id: str, role: str, name: str) -> None:
    store.link_model(task_id, model_id, role, name)


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
        self._link_name: Optional[str] = None
        row = dict(id=new_id(), task_id=task.id, project_id=task.project, name=name or task.name, uri=None,
                   framework=framework, comment=comment or "", tags=json.dumps(tags), iteration=None,
                   design=config_text, labels=json.dumps(label_enumeration or task.get_labels_enumeration()),
                   published=0, created=time.time())
        super().__init__(_row=row, _store=task._store)

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
        self._save_row()
        _link(self._store, self._task.id, self.id, "output", self._link_name or self.name)
        return url

    def update_weights_package(self, weights_path: Optional[str] = None, weights_filenames: Any = None,
                               upload_uri: Optional[str] = None, target_filename: Optional[str] = None,
                               auto_delete_file: bool = True, iteration: Optional[int] = None) -> str:
        return self.update_weights(weights_path=weights_path, upload_uri=upload_uri, target_filename=target_filename,
                                   iteration=iteration)

    def publish(self) -> None:
        self._row["published"] = 1
        self._store.update_model(self.id, published=1)

    def connect(self, task: Any, name: Optional[str] = None, **kwargs: Any) -> None:
        """Register this model as an output model of its task, under ``name`` (default: the model's
        name), so one task can hold several models (a GAN's two networks, an ensemble). The task's
        design and labels are filled from the model's when the task has none (as ClearML does)."""
        if task is not self._task and getattr(task, "id", None) != self._task.id:
            raise ValidationError(f"OutputModel {self.name!r} belongs to task {self._task.id}; it can only be "
                                  f"connected to that task, not to {getattr(task, 'id', task)!r}")
        from .logger import check_name
        if name is not None:
            self._link_name = check_name("model name", name)
        if self.config_text and not task.get_model_design():
            task.set_model_config(config_text=self.config_text)
        if self.labels and not task.get_labels_enumeration():
            task.set_model_label_enumeration(self.labels)
        if self._row.get("uri"):  # already registered: the task lists it under the new name only
            self._store.unlink_model(task.id, self.id, "output")
            _link(self._store, task.id, self.id, "output", self._link_name or self.name)

    def update_labels(self, labels: dict) -> None:
        """Set the model's label enumeration ({label: int}); the task's labels follow."""
        _check_labels(labels)
        import json
        self._task.set_model_label_enumeration(labels)
        self._row["labels"] = json.dumps(dict(labels))
        self._update_stored(labels=self._row["labels"])

    def update_design(self, config_text: Optional[str] = None, config_dict: Optional[dict] = None) -> bool:
        """Set the model's design (a text blob or a dict stored as JSON); a task without a model
        design gets it too."""
        import json
        if config_text is not None and config_dict is not None:
            raise ValidationError("update_design takes config_text or config_dict, not both")
        if config_dict is not None:
            if not isinstance(config_dict, dict):
                raise ValidationError(f"config_dict must be a dict, got {type(config_dict).__name__}")
            config_text = json.dumps(config_dict, indent=2, default=str)
        if config_text is not None and not isinstance(config_text, str):
            raise ValidationError(f"config_text must be a string, got {type(config_text).__name__}")
        _check_model_fields(None, None, None, config_text)
        if config_text and not self._task.get_model_design():
            self._task.set_model_config(config_text=config_text)
        self._row["design"] = config_text
        self._update_stored(design=config_text)
        return True

    def _update_stored(self, **fields: Any) -> None:
        self._store.update_model(self.id, **fields)


class InputModel(Model):
    """An existing model, found by id or name, to be used as a task's input."""

    def __init__(self, model_id: Optional[str] = None, name: Optional[str] = None, project: Optional[str] = None,
                 tags: Optional[Sequence[str]] = None, only_published: bool = False):
        store = _store()
        if model_id:
            row = store.model_row(model_id)
            if row is None:
                raise NotFoundError(f"no model with id {model_id!r}")
        elif name:
            rows = store.find_models(name, project=project, only_published=only_published)
            if tags:
                import json
                rows = [r for r in rows if set(tags) <= set(json.loads(r["tags"] or "[]"))]
            if not rows:
                raise NotFoundError(f"no model named {name!r}" + (f" in project {project!r}" if project else ""))
            row = rows[0]
        else:
            raise ValidationError("InputModel needs model_id or name")
        super().__init__(_row=row, _store=store)

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


def _store() -> TaskStore:
    from .task import Task
    return Task._main_store() if Task._main_task is not None else default_store()


_store_for_lookup = _store

_METADATA_TYPES = ("float", "int", "bool", "str", "basestring", "list", "tuple", "dict")


def _cast_metadata(value: Optional[str], v_type: Optional[str]) -> Any:
    """``value`` (a string) as its recorded type; the string itself when it can't be cast."""
    import ast
    if value is None or v_type in (None, "str", "basestring"):
        return value
    try:
        if v_type == "bool":
            return value.strip().lower() in ("true", "1", "yes")
        if v_type == "int":
            return int(value)
        if v_type == "float":
            return float(value)
        parsed = ast.literal_eval(value)
        return {"list": list, "tuple": tuple, "dict": dict}[v_type](parsed)
    except (ValueError, SyntaxError, TypeError, KeyError):
        return value


def _check_labels(labels: Any) -> None:
    if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in labels.items()):
        raise ValidationError(f"label enumeration must be a dict of str label -> int id, got {labels!r}")


def _text_to_config_dict(text: Optional[str]) -> dict:
    """A design text as a dict: JSON first, then YAML; {} for none or anything else."""
    import json
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        try:
            import yaml
            value = yaml.safe_load(text)
        except Exception:
            return {}
    return value if isinstance(value, dict) else {}


class _ReportTarget:
    """What a Logger needs of a task, for a model: reports are keyed by the model's id."""

    def __init__(self, model_id: str, reports: Any):
        self.id = model_id
        self._reports = reports
        self._row = {"initial_iteration": 0}


def _forwarded(name: str) -> Any:
    def method(self: Model, *args: Any, **kwargs: Any) -> None:
        self._ensure_stored()
        getattr(self._logger(), name)(*args, **kwargs)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``Logger.{name}``, reported on the model itself (read back with get_reported_plots)."
    return method


for _name in ("report_histogram", "report_vector", "report_scatter2d", "report_scatter3d",
              "report_confusion_matrix", "report_matrix", "report_surface"):
    setattr(Model, _name, _forwarded(_name))
