"""Steps made from existing tasks (``PipelineController.add_step``).

The base task is cloned (unless ``clone_base_task=False``), the resolved overrides are applied
— parameters, configuration objects and task fields — and the clone runs as a script task:
locally as a subprocess, or on its queue through an agent. Caching keys on the base task's
code (script section) and the resolved overrides.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

from ..errors import ValidationError
from ..executors.base import StepSpec
from .cache import find_cached_task
from .node import Job, Node
from .references import substitute

TASK_OVERRIDE_FIELDS = ("name", "comment", "tags", "output_uri", "script.repository", "script.branch",
                        "script.version_num", "script.entry_point", "script.working_dir", "script.requirements",
                        "script.diff", "container.image", "container.arguments")


def _task_cache_key(script: dict, params: dict, configs: dict, overrides: dict) -> str:
    code = {k: script.get(k) for k in ("repository", "version_num", "entry_point", "diff", "requirements", "module")}
    payload = {"v": 1, "code": code, "params": params, "configs": configs, "overrides": overrides}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _apply_task_overrides(task: Any, overrides: dict) -> None:
    row = task.data
    fields: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in TASK_OVERRIDE_FIELDS:
            raise ValidationError(f"task_overrides key {key!r} is not supported; accepted: {list(TASK_OVERRIDE_FIELDS)}")
        section, _, sub = key.partition(".")
        if sub:
            doc = fields.setdefault(section, dict(row.get(section) or {}))
            doc[sub] = value
        else:
            fields[section] = list(value) if section == "tags" and not isinstance(value, str) else value
    if fields:
        task._store.update_task(task.id, **fields)


def launch_task_node(pipeline: Any, node: Node):
    """Clone/override/run one task step; returns a Future, or None when cached or skipped."""
    from ..tracking.task import Task
    lookup = lambda ref: pipeline._reference_value(ref, node)  # noqa: E731
    params = {k: substitute(v, lookup) for k, v in node.parameters.items()}
    configs = {k: substitute(v, lookup) for k, v in node.configurations.items()}
    overrides = {k: substitute(v, lookup) for k, v in node.task_overrides.items()}
    node.resolved_kwargs = params
    if node.base_task_factory is not None:
        base = node.base_task_factory(node)
        if not isinstance(base, Task):
            raise ValidationError(f"step {node.name!r}: base_task_factory must return a Task, got {base!r}")
    else:
        base = Task.get_task(task_id=node.base_task_id)
    key = _task_cache_key(base.data.get("script") or {}, params, configs, overrides)
    node.cache_key = key
    if node.cache_executed_step and os.environ.get("PIPETRACK_IGNORE_CACHE", "") not in ("1", "true", "yes"):
        hit = find_cached_task(pipeline._task._store, key, ())
        if hit is not None:
            return pipeline._use_cached(node, hit["id"], params)
    if node.job is None or node.retries == 0:
        project = pipeline._target_project if isinstance(pipeline._target_project, str) else None
        if node.clone_task:
            task = Task.clone(base, name=base.name, parent=pipeline._task.id,
                              project=base._store.project_id(project, create=True) if project else None)
        else:
            task = base
            if task.get_status() != "created":
                task.reset(force=True)
            task.set_parent(pipeline._task.id)
        if params:
            task.update_parameters(params)
        for name, value in configs.items():
            if isinstance(value, (dict, list)):
                task.set_configuration_object(name, config_dict=value)
            else:
                task.set_configuration_object(name, config_text=str(value))
        _apply_task_overrides(task, overrides)
        if pipeline._add_pipeline_tags:
            task.add_tags([f"pipe: {pipeline._task.id}"])
        task._store.update_task(task.id, cache_key=key)
        task.reload()
        node.job = Job(task)
        node.executed = task.id
    if not pipeline._call_pre_execute(node, params):
        return None
    spec = StepSpec(task_id=node.executed, name=node.name, script=node.job.task.data.get("script") or {},
                    time_limit=node.timeout)
    return pipeline._submit(node, spec)
