"""Steps made from existing tasks (``PipelineController.add_step``).

The base task is cloned (unless ``clone_base_task=False``), the resolved overrides are applied
— parameters, configuration objects and task fields — and the clone runs as a script task:
locally as a subprocess, or on its queue through an agent. Caching keys on the base task's
code (script section) and the resolved overrides, through the same ``cache.cache_key`` as
function steps, and the step launches through the same launcher (``run.py``).
"""
from __future__ import annotations

from typing import Any, Optional

from ..errors import ValidationError
from ..steps import StepSpec
from .cache import cache_key, script_fingerprint
from .node import Node
from .plan import StepPlan
from .references import substitute

TASK_FIELDS = ("name", "comment", "tags", "output_uri")
TASK_SECTIONS = ("script", "container")
# ClearML's dotted names for script fields pipetrack stores under another key
SCRIPT_ALIASES = {"requirements.pip": "requirements", "requirements.conda": "requirements"}


def _apply_task_overrides(task: Any, overrides: dict) -> None:
    """``task_overrides``: top-level fields (name, comment, tags, output_uri) and any
    ``script.<key>`` / ``container.<key>`` (``script.requirements.pip`` sets the requirements)."""
    row = task.data
    fields: dict[str, Any] = {}
    for key, value in overrides.items():
        section, _, sub = key.partition(".")
        if (sub and section not in TASK_SECTIONS) or (not sub and key not in TASK_FIELDS):
            raise ValidationError(f"task_overrides key {key!r} is not supported; accepted: {list(TASK_FIELDS)} and "
                                  f"'<section>.<key>' for sections {list(TASK_SECTIONS)}")
        if sub:
            doc = fields.setdefault(section, dict(row.get(section) or {}))
            doc[SCRIPT_ALIASES.get(sub, sub) if section == "script" else sub] = value
        elif key == "tags":
            fields["tags"] = [value] if isinstance(value, str) else list(value or [])
        else:
            fields[key] = value
    if fields:
        task._store.update_task(task.id, **fields)


def _step_project(run: Any, base: Any) -> Optional[str]:
    """Project id of a step's task: ``target_project`` (a name), the pipeline's project when it is
    True (ClearML's default), else the base task's project."""
    target = run.settings.target_project
    store = base._store
    if isinstance(target, str) and target:
        return store.project_id(target, create=True)
    if target is True:
        return run.task._row["project_id"]
    return None


def plan_task_step(run: Any, node: Node) -> StepPlan:
    """The launch plan of one task step (a StepPlan) in ``run`` (a PipelineRun): overrides resolved, its cache key from
    the base task's code and them; making its task clones (or resets) the base and applies them."""
    from ..tracking.task import Task
    lookup = lambda ref: run.reference_value(ref, node)  # noqa: E731
    params = {k: substitute(v, lookup) for k, v in node.parameters.items()}
    configs = {k: substitute(v, lookup) for k, v in node.configurations.items()}
    overrides = {k: substitute(v, lookup) for k, v in node.task_overrides.items()}
    if node.base_task_factory is not None:
        base = node.base_task_factory(node)
        if not isinstance(base, Task):
            raise ValidationError(f"step {node.name!r}: base_task_factory must return a Task, got {base!r}")
    else:
        base = Task.get_task(task_id=node.base_task_id)
    key = cache_key(script_fingerprint(base.data.get("script") or {}),
                    {"parameters": params, "configurations": configs, "task_overrides": overrides}, ())

    def make_task() -> Any:
        if node.clone_task:
            task = Task.clone(base, name=base.name, parent=run.task.id, project=_step_project(run, base))
        else:  # the base task itself runs; ClearML resets it (with a warning) when it is not a Draft
            task = base
            status = task.get_status()
            if status != "created":
                run.log(f"step '{node.name}': clone_base_task=False and base task {task.id} is {status!r}, "
                              "not a Draft: resetting it (its outputs are deleted)")
                task.reset(force=True)
            task.set_parent(run.task.id)
        output_uri = node.output_uri or run.settings.output_uri  # steps default to the pipeline's output_uri
        if output_uri:
            task._store.update_task(task.id, output_uri=output_uri)
        if params:
            task.update_parameters(params)
        for name, value in configs.items():
            if isinstance(value, (dict, list)):
                task.set_configuration_object(name, config_dict=value)
            else:
                task.set_configuration_object(name, config_text=str(value))
        _apply_task_overrides(task, overrides)
        if run.settings.add_pipeline_tags:
            task.add_tags([f"pipe: {run.task.id}"])
        task._store.update_task(task.id, cache_key=key)
        task.reload()
        return task

    def make_spec() -> StepSpec:
        return StepSpec(task_id=node.executed, name=node.name, script=node.job.task.data.get("script") or {},
                        time_limit=node.timeout)
    return StepPlan(inputs=params, shown_inputs=params, key=key, return_names=[], make_task=make_task,
                    make_spec=make_spec)
