"""The rest of ClearML's Task API (a mixin of ``Task``): ``get_all`` and the project object,
credentials and GCS/Azure destinations, model labels and design, ``set_artifacts``, the
metrics manager, resource-monitor timeout, ``launch_multi_node`` and the deprecated
model-config aliases.

Model design: as in ClearML, a task's model design is a configuration object, the one named
"General" (the default configuration name) when there is one, else the first by name.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from ..errors import StateError, StorageError, ValidationError
from .parameters import DEFAULT_SECTION

if TYPE_CHECKING:
    from .task import Task

MULTI_NODE_SECTION = "multi_node_instance"
NODE_RANK_ENV = "PIPETRACK_MULTI_NODE_RANK"  # set in the node processes launch_multi_node starts
GET_ALL_KEYS = ("id", "name", "project", "status", "type", "tags", "parent", "search_text", "order_by",
                "page", "page_size", "user", "system_tags", "only_fields")
_INSTALL = {"gcs": ("gcsfs", "pip install gcsfs"), "azure": ("adlfs", "pip install adlfs")}


class ExtrasMixin:
    """Seed Task methods not covered by the other mixins."""

    # ------------------------------------------------------------------ lookup
    @classmethod
    def get_all(cls, session: Any = None, log: Any = None, **kwargs: Any) -> list["Task"]:
        """Tasks matching ClearML's ``tasks.get_all`` fields: id, name (regex), project (id or
        ids), status, type, tags, system_tags, parent, search_text, order_by, page, page_size.
        ``session`` and ``log`` (ClearML's API session), ``user`` and ``only_fields`` have no
        meaning here and are ignored."""
        from . import query as _query
        unknown = sorted(set(kwargs) - set(GET_ALL_KEYS))
        if unknown:
            raise ValidationError(f"Task.get_all does not take {unknown}; accepted: {list(GET_ALL_KEYS)}")
        store = cls._main_store()
        project_names = None
        if kwargs.get("project"):
            ids = _as_list(kwargs["project"])
            project_names = [name for name in (store.project_name(str(i)) for i in ids) if name]
            if not project_names:
                return []
        task_filter = {k: kwargs[k] for k in ("status", "type", "parent", "search_text", "order_by", "page",
                                              "page_size") if kwargs.get(k) is not None}
        rows = _query.find_tasks(store, task_ids=_as_list(kwargs["id"]) if kwargs.get("id") else None,
                                 project_name=project_names, exact_project=True, task_name=kwargs.get("name"),
                                 tags=kwargs.get("tags"), task_filter=task_filter)
        if kwargs.get("system_tags"):
            wanted = set(_as_list(kwargs["system_tags"]))
            rows = [r for r in rows if wanted <= set(r["system_tags"])]
        return [cls._from_row(store, row) for row in rows]

    def get_project_object(self) -> dict:
        """The task's project: ``{'id', 'name', 'basename', 'description', 'created', 'system_tags'}``."""
        row = self._store.project_row(self.project)
        if row is None:
            return {}
        row["basename"] = row["name"].rsplit("/", 1)[-1]
        return row

    # ------------------------------------------------------------------ credentials / destinations
    @classmethod
    def set_credentials(cls, api_host: Optional[str] = None, web_host: Optional[str] = None,
                        files_host: Optional[str] = None, key: Optional[str] = None, secret: Optional[str] = None,
                        store_conf_file: bool = False) -> None:
        """Default credentials for this process; ``store_conf_file=True`` also writes them as the
        ``[credentials]`` table of ``$PIPETRACK_HOME/config.toml`` (unless it has one: as ClearML
        with clearml.conf, an existing one is left alone, with a warning). ``files_host`` is a
        destination URL; with an ``s3://bucket/...`` one, key/secret become that bucket's S3
        credentials. The config file overrides these values (``pipetrack.config.credentials()``)."""
        from .. import config
        values = {"api_host": api_host, "web_host": web_host, "files_host": files_host, "key": key,
                  "secret": secret}
        for name, value in values.items():
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValidationError(f"set_credentials {name} must be a non-empty string or None, got {value!r}")
        config.set_process_credentials(values)
        if files_host and files_host.startswith("s3://") and (key or secret):
            from ..storage import configure_s3
            configure_s3(files_host[5:].split("/", 1)[0], key=key, secret=secret)
        if store_conf_file and not os.environ.get("PIPETRACK_TASK_ID"):  # not applicable under an agent
            if not config.store_credentials(values):
                import warnings
                warnings.warn(f"{config.config_toml_path()} already has a [credentials] table; it was not changed",
                              stacklevel=2)

    def setup_gcp_upload(self, bucket: str, subdir: str = "", project: Optional[str] = None,
                         credentials_json: Optional[str] = None, pool_connections: Optional[int] = None,
                         pool_maxsize: Optional[int] = None) -> None:
        """Google Cloud Storage options for ``gs://bucket`` (through fsspec's gcsfs)."""
        from .. import config
        bucket = _bucket_name(bucket, "gs://", "GCS bucket")
        if credentials_json is not None and not Path(credentials_json).is_file():
            raise ValidationError(f"credentials_json {credentials_json!r} is not a file (give the path of the "
                                  "service-account JSON file)")
        _require_backend("gcs", f"gs://{bucket}")
        options: dict[str, Any] = {"bucket": bucket, "subdir": subdir or ""}
        if project:
            options["project"] = project
        if credentials_json:
            options["token"] = str(credentials_json)
        config.configure_storage("gcs", bucket, options)

    def setup_azure_upload(self, account_name: str, account_key: str, container_name: Optional[str] = None) -> None:
        """Azure Blob Storage account for ``az://container`` / ``abfs://`` URLs (through fsspec's adlfs)."""
        from .. import config
        for name, value in (("account_name", account_name), ("account_key", account_key)):
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(f"setup_azure_upload {name} must be a non-empty string, got {value!r}")
        _require_backend("azure", f"az://{container_name or ''}")
        options = {"account_name": account_name, "account_key": account_key, "container_name": container_name}
        config.configure_storage("azure", account_name, options)

    # ------------------------------------------------------------------ model labels and design
    def set_model_label_enumeration(self, enumeration: Optional[Mapping[str, int]] = None) -> None:
        """Set the labels ({label: int}) the task's output models inherit."""
        from .models import _check_labels
        enumeration = dict(enumeration or {})
        _check_labels(enumeration)
        self._set_fields("labels", labels=enumeration)

    def get_label_num_description(self) -> dict[int, str]:
        """``{number: label}`` of the label enumeration (ClearML's inverse view)."""
        labels = self.get_labels_enumeration()
        import itertools
        by_num = itertools.groupby(sorted(labels.items(), key=lambda kv: kv[1]), key=lambda kv: kv[1])
        out = {}
        for num, group in by_num:
            names = [label for label, _ in group]
            if len(names) > 1:
                raise ValidationError(f"labels {names} are mapped to the same number {num}; "
                                      "a number must name one label")
            out[num] = names[0]
        return out

    @property
    def labels_stats(self) -> dict:
        """Accumulated label statistics of the current/last frames iteration ({label: count})."""
        return dict(getattr(self, "_label_stats", {}))

    def _accumulate_label_stats(self, roi_stats: Mapping[str, int], reset: bool = False) -> None:
        stats = {} if reset else dict(getattr(self, "_label_stats", {}))
        for label, count in roi_stats.items():
            stats[label] = stats.get(label, 0) + count
        self._label_stats = stats

    def _model_design_name(self) -> Optional[str]:
        names = sorted(self.get_configuration_objects())
        if DEFAULT_SECTION in names:
            return DEFAULT_SECTION
        return names[0] if names else None

    def get_model_design(self) -> str:
        """The model configuration as a blob of text ('' when the task has none)."""
        name = self._model_design_name()
        return (self.get_configuration_object(name) or "") if name else ""

    def update_model_desc(self, new_model_desc_file: Optional[str] = None) -> None:
        """Replace the model design by the content of a file."""
        path = Path(new_model_desc_file) if new_model_desc_file else None
        if path is None or not path.is_file():
            raise ValidationError(f"model description file {new_model_desc_file!r} does not exist")
        self.set_configuration_object(self._model_design_name() or DEFAULT_SECTION, config_text=path.read_text())

    def save_exec_model_design_file(self, filename: str = "model_design.txt", use_cache: bool = False) -> str:
        """Write the model design to ``<cache_dir>/<filename>`` and return that path (with
        ``use_cache``, an existing file is returned as is)."""
        path = Path(self.cache_dir) / filename
        if use_cache and path.is_file():
            return str(path)
        design = self.get_model_design()
        if not design:
            raise ValidationError(f"task {self.id} has no model design to save")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(design)
        return str(path)

    def set_model_config(self, config_text: Optional[str] = None, config_dict: Optional[Mapping] = None) -> None:
        """Deprecated (ClearML 0.14.1): use connect_configuration. Sets the model design."""
        import json
        if config_text is not None and config_dict is not None:
            raise ValidationError("set_model_config takes config_text or config_dict, not both")
        text = json.dumps(dict(config_dict), indent=2, default=str) if config_dict is not None else config_text
        self.set_configuration_object(self._model_design_name() or DEFAULT_SECTION, config_text=text or "")

    def get_model_config_text(self) -> str:
        """Deprecated (ClearML 0.14.1): use connect_configuration. The model design text."""
        return self.get_model_design()

    def get_model_config_dict(self) -> dict:
        """Deprecated (ClearML 0.14.1): use connect_configuration. The model design as a dict."""
        from .models import _text_to_config_dict
        return _text_to_config_dict(self.get_model_design())

    # ------------------------------------------------------------------ artifacts / metrics
    def set_artifacts(self, artifacts_list: Optional[Sequence[Any]] = None) -> list:
        """Add (or replace, by name) artifact records, e.g. another task's ``Artifact`` objects:
        the record points at the same stored file. Returns this task's artifacts."""
        from .task_artifacts import Artifact
        if not isinstance(artifacts_list, (list, tuple)) or not all(isinstance(a, Artifact) for a in artifacts_list):
            raise ValidationError(f"set_artifacts expects a list of Artifact objects, got {artifacts_list!r}")
        self._check_editable("artifacts")
        rows = []
        for artifact in artifacts_list:
            row = {k: v for k, v in artifact._row.items() if k != "task_id"}
            row.update(task_id=self.id, created=row.get("created") or time.time())
            rows.append(row)
        self._store.put_artifacts(rows)
        return list(self.artifacts.values())

    @property
    def metrics_manager(self) -> "TaskMetrics":
        """The manager of this task's reported metrics (flush and read back)."""
        return TaskMetrics(self)

    @classmethod
    def set_resource_monitor_iteration_timeout(cls, seconds_from_start: float = 1800) -> bool:
        """ClearML's wait for a first report before the resource monitor plots against seconds.
        pipetrack's monitor always plots against seconds from the task start, so the value is only
        checked and kept (``Task._resource_monitor_iteration_timeout``); returns True."""
        if isinstance(seconds_from_start, bool) or not isinstance(seconds_from_start, (int, float)) \
                or seconds_from_start < 0:
            raise ValidationError(f"seconds_from_start must be a number of seconds >= 0, got {seconds_from_start!r}")
        cls._resource_monitor_iteration_timeout = float(seconds_from_start)
        return True

    # ------------------------------------------------------------------ multi node
    def launch_multi_node(self, total_num_nodes: int, port: Optional[int] = 29500, queue: Optional[str] = None,
                          wait: bool = False, addr: Optional[str] = None, devices: Any = None,
                          hide_children: bool = False) -> dict:
        """Run this script as ``total_num_nodes`` nodes: the calling process is rank 0, each
        other node runs a clone of this task (child of it). Without ``queue`` the nodes are local
        processes re-running this script; with one, the clones are enqueued there. Sets
        MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK in every node, and returns ``{'master_addr',
        'master_port', 'node_rank', 'wait', 'devices', 'total_num_nodes', 'queue'}``."""
        if isinstance(total_num_nodes, bool) or not isinstance(total_num_nodes, int) or total_num_nodes < 1:
            raise ValidationError(f"total_num_nodes must be an int >= 1, got {total_num_nodes!r}")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
            raise ValidationError(f"port must be a TCP port number (1-65535), got {port!r}")
        editable = self.connect({"total_num_nodes": total_num_nodes, "queue": queue or ""}, name=MULTI_NODE_SECTION)
        total, queue = int(editable["total_num_nodes"]), editable["queue"] or None
        conf = {"master_addr": os.environ.get("MASTER_ADDR", addr or "127.0.0.1"),
                "master_port": int(os.environ.get("MASTER_PORT", port or 29500)),
                "node_rank": 0, "wait": wait, "devices": devices, "total_num_nodes": total, "queue": queue}
        rank = os.environ.get(NODE_RANK_ENV)
        if rank is None and self._remote:
            stored = self.get_parameter(f"{MULTI_NODE_SECTION}/node_rank")
            rank = None if stored in (None, "") else stored
            if rank is not None:
                stored_addr = self.get_parameter(f"{MULTI_NODE_SECTION}/master_addr")
                stored_port = self.get_parameter(f"{MULTI_NODE_SECTION}/master_port")
                conf["master_addr"] = stored_addr or conf["master_addr"]
                conf["master_port"] = int(stored_port or conf["master_port"])
        if rank is not None:  # this process is one of the other nodes
            conf["node_rank"] = int(rank)
            _set_node_env(conf)
            return conf
        _set_node_env(conf)
        nodes = []
        for node_rank in range(1, total):
            node = type(self).clone(self, name=f"{self.name} (node {node_rank})", parent=self.id)
            node.set_parameters({f"{MULTI_NODE_SECTION}/node_rank": node_rank,
                                 f"{MULTI_NODE_SECTION}/master_addr": conf["master_addr"],
                                 f"{MULTI_NODE_SECTION}/master_port": conf["master_port"]})
            if queue:
                type(self).enqueue(node, queue_name=queue)
            else:
                self._start_local_node(node, dict(conf, node_rank=node_rank))
            nodes.append(node)
        if wait:
            _wait_started(nodes, getattr(self, "_multi_node_procs", []))
        return conf

    def _start_local_node(self, node: "Task", conf: dict) -> None:
        from .session import MASTER_ENV
        from .task_lookup import TASK_ID_ENV
        argv = list(getattr(sys, "orig_argv", [])[1:]) or list(sys.argv)
        if not argv or argv[0] in ("", "-"):
            raise StateError("launch_multi_node without a queue re-runs this script in new processes, but this "
                             "process has no script to re-run (interactive or stdin); give queue= instead")
        env = {k: v for k, v in os.environ.items() if k != MASTER_ENV}  # a node is not a child process of ours
        env.update({TASK_ID_ENV: node.id, NODE_RANK_ENV: str(conf["node_rank"]), "RANK": str(conf["node_rank"]),
                    "WORLD_SIZE": str(conf["total_num_nodes"]), "MASTER_ADDR": str(conf["master_addr"]),
                    "MASTER_PORT": str(conf["master_port"])})
        import atexit
        import subprocess
        proc = subprocess.Popen([sys.executable, *argv], env=env)
        procs = self.__dict__.setdefault("_multi_node_procs", [])
        if not procs:
            atexit.register(_join_nodes, procs)  # the master outlives its nodes: no orphans
        procs.append(proc)


class TaskMetrics:
    """``task.metrics_manager``: flush a task's buffered reports and read its metrics back."""

    def __init__(self, task: Any):
        self._task = task

    def flush(self) -> bool:
        """Write every buffered report of the task to the store now."""
        return self._task.flush()

    def get_scalars(self, x_axis: str = "iter") -> dict:
        return self._task.get_all_reported_scalars(x_axis=x_axis)

    def get_last_metrics(self) -> dict:
        return self._task.get_last_scalar_metrics()

    def get_single_values(self) -> dict:
        return self._task.get_reported_single_values()

    def get_plots(self) -> list[dict]:
        return self._task.get_reported_plots()


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def _bucket_name(bucket: Any, scheme: str, what: str) -> str:
    name = bucket[len(scheme):] if isinstance(bucket, str) and bucket.startswith(scheme) else bucket
    if not isinstance(name, str) or not name.strip("/") or "/" in name.strip("/"):
        raise ValidationError(f"invalid {what} {bucket!r}; expected a bare bucket name such as 'my-bucket'")
    return name.strip("/")


def _require_backend(kind: str, url: str) -> None:
    module, hint = _INSTALL[kind]
    import importlib.util
    if importlib.util.find_spec(module) is None:
        raise StorageError(f"cannot use {url}: the fsspec backend {module} is not installed; install it with: {hint}")


def _set_node_env(conf: dict) -> None:
    os.environ.update({"MASTER_ADDR": str(conf["master_addr"]), "MASTER_PORT": str(conf["master_port"]),
                       "WORLD_SIZE": str(conf["total_num_nodes"]), "RANK": str(conf["node_rank"])})


def _wait_started(nodes: Sequence[Any], procs: Sequence[Any], timeout: float = 600.0) -> None:
    """Until every node task left created/queued (or its local process ended)."""
    deadline = time.monotonic() + timeout
    pending = list(nodes)
    while pending and time.monotonic() < deadline:
        if procs and all(p.poll() is not None for p in procs):
            return
        pending = [n for n in pending if n.get_status() in ("created", "queued")]
        if pending:
            time.sleep(0.2)


def _join_nodes(procs: list) -> None:
    for proc in procs:
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
