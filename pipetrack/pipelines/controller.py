"""``PipelineController``: build a DAG of function steps and task steps, then run it.

Graph building and validation live here; launching and completing nodes is ``run.py``
(a mixin), the scheduling loop is ``scheduler.py``, executors are in ``pipetrack.executors``.
The pipeline itself is a task of type ``controller``; each executed step is a task whose
parent is the pipeline task.
"""
from __future__ import annotations

import inspect
import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence


from ..errors import NotFoundError, StateError, ValidationError
from ..tracking.logger import check_name as _storable, shown as _shown
from ..tracking.parameters import encode_value
from ..tracking.states import normalise_task_type
from ..tracking.task_artifacts import validate_artifact_name
from ..tracking.task_metadata import check_name as _check_name, check_tags as _check_tags
from .node import Node, normalise_continue_behaviour
from .references import embedded_returns, find_references, referenced_steps
from .run import RunMixin
from .scheduler import Scheduler
from .versions import (DEFAULT_VERSION, PIPELINE_TAG, claim_run, pick_run, pipeline_fingerprint, pipeline_runs,
                       settle_version)

if TYPE_CHECKING:  # imported where a graph is built: ~80 ms that `import pipetrack` need not pay
    import networkx as nx

PARAM_SECTION = "Pipeline"


def _check_callback(name: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise ValidationError(f"{name} must be callable, got {value!r}")


def _check_step_bindings(step: str, frameworks: Any, arg_parser: Any) -> dict:
    """A step's auto_connect_frameworks / auto_connect_arg_parser, checked now (as Task.init would
    check them) so a bad value is refused when the step is added, not when it runs."""
    from ..tracking.bindings.options import framework_option
    for label, value in (("auto_connect_frameworks", frameworks), ("auto_connect_arg_parser", arg_parser)):
        if value is not None and not isinstance(value, (bool, Mapping)):
            raise ValidationError(f"step {step!r}: {label} must be None, a bool or a dict, got {value!r}")
    if isinstance(frameworks, Mapping):
        try:
            for key in frameworks:
                framework_option(frameworks, key)
        except ValidationError as exc:
            raise ValidationError(f"step {step!r}: {exc}") from None
    return {"auto_connect_frameworks": frameworks, "auto_connect_arg_parser": arg_parser}


def _check_retry(value: Any) -> None:
    if value is None or callable(value) or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return
    raise ValidationError(f"retry_on_failure must be a non-negative int or a callable(pipeline, node, retries), "
                          f"got {value!r}")


class PipelineController(RunMixin):
    """A pipeline: a controller task plus a DAG of steps (see the seeds' PipelineController)."""

    Node = Node
    _current: Optional["PipelineController"] = None  # the pipeline running in this process

    def __init__(self, name: str, project: str, version: Optional[str] = None, pool_frequency: float = 0.2,
                 add_pipeline_tags: bool = False, target_project: Any = True, auto_version_bump: Optional[bool] = None,
                 abort_on_failure: bool = False, add_run_number: bool = True,
                 retry_on_failure: Any = None, docker: Optional[str] = None, docker_args: Optional[str] = None,
                 docker_bash_setup_script: Optional[str] = None, packages: Any = None, repo: Optional[str] = None,
                 repo_branch: Optional[str] = None, repo_commit: Optional[str] = None,
                 always_create_from_code: bool = True,
                 artifact_serialization_function: Optional[Callable[[Any], bytes]] = None,
                 artifact_deserialization_function: Optional[Callable[[bytes], Any]] = None,
                 output_uri: Any = None, skip_global_imports: bool = False, working_dir: Optional[str] = None,
                 enable_local_imports: bool = True, _standalone_task: bool = False):
        for label, value in (("name", name), ("project", project)):
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(f"pipeline {label} must be a non-empty string, got {value!r}")
        if version is not None and (not isinstance(version, str) or not version.strip()):
            raise ValidationError(f"pipeline version must be a string such as '1.0.0', got {version!r}")
        if auto_version_bump is not None and not isinstance(auto_version_bump, bool):
            raise ValidationError(f"auto_version_bump must be None, True or False, got {auto_version_bump!r}")
        self._auto_version_bump = bool(auto_version_bump)
        self._version_given = version
        self._step_bindings: dict[str, dict] = {}  # step name -> its auto_connect_* options (for the worker)
        _check_retry(retry_on_failure)
        for label, fn in (("artifact_serialization_function", artifact_serialization_function),
                          ("artifact_deserialization_function", artifact_deserialization_function)):
            _check_callback(label, fn)
        self._name = name
        self._project = project
        self._abort_on_failure = bool(abort_on_failure)
        self._retry_on_failure = retry_on_failure
        self._add_pipeline_tags = bool(add_pipeline_tags)
        self._target_project = target_project
        self._packages = packages
        self._repo = (repo, repo_branch, repo_commit)  # where an agent checks the controller out (remote.py)
        self._docker = docker
        self._working_dir = working_dir
        self._default_queue: Optional[str] = None
        self._time_limit: Optional[float] = None
        self._nodes: dict[str, Node] = {}
        self._pipeline_args: dict[str, Any] = {}
        self._executors: dict[str, Any] = {}
        self._executor_override = None
        self._failed_nodes: list[str] = []
        self._abort_reason: Optional[str] = None
        self._start_time: Optional[float] = None
        self._end_time: Optional[float] = None
        self._plot_dirty = False
        self._plot_time = 0.0
        self._dag_dirty = False
        self._dag_time = 0.0
        self._progress_stored = 0  # the whole percent last stored as the run's progress (run.py)
        self._progress = None  # TerminalProgress, made when the run starts (run.py _start_progress)
        self._step_task_created_callback = None
        self._step_task_completed_callback = None
        self._propagate_step_errors = False
        self._project_cache: Optional[str] = None
        self._serialization_function = self._pickle(artifact_serialization_function) \
            if artifact_serialization_function else None
        self._deserialization_function = self._pickle(artifact_deserialization_function) \
            if artifact_deserialization_function else None
        self._scheduler = Scheduler(self._run_hooks(), self._nodes)
        self._task, self._owns_task = self._create_pipeline_task(version, add_run_number, output_uri,
                                                                 standalone=_standalone_task)
        self._output_uri = self._task._row.get("output_uri")

    # ------------------------------------------------------------------ pipeline task
    def _create_pipeline_task(self, version: Optional[str], add_run_number: bool, output_uri: Any,
                              standalone: bool = False):
        """The pipeline's ``controller`` task: this process's main task (Task.init, or the task an
        agent runs us for), or — ``standalone``, for multi-instance pipelines — a task of its own."""
        from ..tracking.task import Task, _insert_task
        existing = None if standalone else Task.current_task()
        owns = existing is None
        if existing is not None:
            task = existing
        elif not standalone:
            task = Task.init(project_name=self._project, task_name=self._name, task_type="controller",
                             reuse_last_task_id=False, output_uri=output_uri, auto_connect_arg_parser=False,
                             auto_resource_monitoring=False)
        else:
            from ..store import default_store
            from ..tracking.task import _normalise_output_uri
            store = default_store()
            task_id = _insert_task(store, self._project, self._name, "controller", created_by="pipeline",
                                   output_uri=_normalise_output_uri(output_uri) if output_uri else None)
            task = Task._from_row(store, store.task_row(task_id), owner=True)
            task.mark_started()
        if task._remote:  # an agent runs an enqueued run: it already has its name, number and version
            runtime = dict(task.data.get("runtime") or {}, pipeline_name=self._name)
            system_tags = list(dict.fromkeys([*task.data["system_tags"], PIPELINE_TAG]))
            task._store.update_task(task.id, type="controller", runtime=runtime, system_tags=system_tags)
            version = runtime.get("version") or version or DEFAULT_VERSION
        else:
            _number, version = claim_run(task._store, task.id, self._project, self._name, version, add_run_number)
        task.reload()
        self._version = version
        return task, owns

    def _fingerprint(self) -> str:
        """What auto_version_bump compares between runs: controller code, parameters and steps."""
        from .cache import code_fingerprint
        from ..tracking.environment import entry_script
        script = entry_script()
        try:
            with open(script, "rb") as fh:
                code = fh.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            code = ""
        steps = {}
        for node in self._nodes.values():
            steps[node.name] = {
                "parents": sorted(node.parents), "returns": list(node.return_names),
                "code": code_fingerprint(node.function, node.helper_functions) if node.function is not None else None,
                "kwargs": node.function_kwargs, "base_task_id": node.base_task_id,
                "base_task_factory": code_fingerprint(node.base_task_factory) if node.base_task_factory else None,
                "parameters": node.parameters, "configurations": node.configurations,
                "task_overrides": node.task_overrides, "clone": node.clone_task, "queue": node.queue,
                "task_type": node.task_type, "packages": node.packages, "docker": node.docker,
                "cache": node.cache_executed_step, "draft": node.draft,
                "bindings": self._step_bindings.get(node.name)}
        return pipeline_fingerprint(code, dict(self._pipeline_args), steps)

    def _settle_version(self) -> None:
        """Record this run's fingerprint; with auto_version_bump, keep the last run's version
        when neither code nor steps changed since (bump it when they did)."""
        if self._task._remote:  # an agent re-runs a stored run: its version was decided then
            return
        changed = settle_version(self._task._store, self._task.id, self._project, self._name, self._fingerprint(),
                                 self._version_given, self._auto_version_bump)
        if changed is not None:
            self._version = changed
            self._task.reload()

    @property
    def id(self) -> str:
        return self._task.id

    @property
    def task(self):
        return self._task

    @property
    def version(self) -> str:
        return self._version

    # ------------------------------------------------------------------ building
    def add_parameter(self, name: str, default: Any = None, description: Optional[str] = None,
                      param_type: Optional[str] = None) -> None:
        """A pipeline parameter, stored under ``Pipeline/<name>``; steps use ``${pipeline.<name>}``."""
        if not isinstance(name, str) or not name or "/" in name:
            raise ValidationError(f"pipeline parameter name must be a non-empty string without '/', got {name!r}")
        _storable("pipeline parameter name", name)
        value = default
        if self._task._remote:  # an agent re-runs us: the stored (possibly edited) value wins
            stored = self._task.get_parameter(f"{PARAM_SECTION}/{name}", cast=True)
            if stored is not None:
                value = stored
        types = {f"{PARAM_SECTION}/{name}": param_type} if param_type else None
        # stored first: a value the store refuses (ValidationError) must not leave a parameter behind
        self._task._write_params({f"{PARAM_SECTION}/{name}": value},
                                 descriptions={f"{PARAM_SECTION}/{name}": description} if description else None,
                                 types=types, check=False)
        self._pipeline_args[name] = value

    def get_parameters(self) -> dict[str, Any]:
        return dict(self._pipeline_args)

    def _check_new_node(self, name: str, parents: Optional[Sequence[str]]) -> None:
        if not isinstance(name, str) or not name.strip() or name == "pipeline" or "." in name or "/" in name:
            raise ValidationError(f"step name must be a non-empty string without '.' or '/' (and not 'pipeline'), "
                                  f"got {name!r}")
        _storable("step name", name)  # it becomes the step task's name: refused now, not when the step runs
        if name in self._nodes:
            raise ValidationError(f"duplicate step name {name!r}: each step needs a unique name")
        if parents is not None and (not isinstance(parents, (list, tuple)) or not all(isinstance(p, str) for p in parents)):
            raise ValidationError(f"parents of step {name!r} must be a list of step names, got {parents!r}")
        if parents is not None and name in parents:  # named here, not as the anonymous cycle "b -> b"
            raise ValidationError(f"step {name!r} can't be its own parent (parents={list(parents)!r})")

    def _common_node_options(self, name: str, execution_queue, time_limit, continue_on_fail, continue_behaviour,
                             retry_on_failure, pre_execute_callback, post_execute_callback,
                             status_change_callback, monitor_metrics, monitor_artifacts, monitor_models,
                             cache_executed_step) -> dict:
        _check_retry(retry_on_failure)
        for label, fn in (("pre_execute_callback", pre_execute_callback),
                          ("post_execute_callback", post_execute_callback),
                          ("status_change_callback", status_change_callback)):
            _check_callback(label, fn)
        # (not "<= 0": NaN passed that test; a bool is not a number of seconds)
        if time_limit is not None and (not isinstance(time_limit, (int, float)) or isinstance(time_limit, bool)
                                       or not time_limit > 0):
            raise ValidationError(f"time_limit of step {name!r} must be a positive number of seconds, got {time_limit!r}")
        if execution_queue is not None and not isinstance(execution_queue, str):
            raise ValidationError(f"execution_queue of step {name!r} must be a queue name, got {execution_queue!r}")
        if execution_queue:
            _storable(f"execution_queue of step {name!r}", execution_queue)
        _check_monitors(name, monitor_metrics, monitor_artifacts, monitor_models)
        return dict(queue=execution_queue, timeout=float(time_limit) if time_limit else None,
                    continue_behaviour=normalise_continue_behaviour(continue_on_fail, continue_behaviour),
                    retry_on_failure=retry_on_failure, pre_execute_callback=pre_execute_callback,
                    post_execute_callback=post_execute_callback, status_change_callback=status_change_callback,
                    monitor_metrics=list(monitor_metrics or []), monitor_artifacts=list(monitor_artifacts or []),
                    monitor_models=list(monitor_models or []), cache_executed_step=bool(cache_executed_step))

    def add_function_step(self, name: str, function: Callable, function_kwargs: Optional[dict] = None,
                          function_return: Optional[Sequence[str]] = None, project_name: Optional[str] = None,
                          task_name: Optional[str] = None, task_type: Optional[str] = None,
                          auto_connect_frameworks: Any = None, auto_connect_arg_parser: Any = None,
                          packages: Any = None, repo: Optional[str] = None, repo_branch: Optional[str] = None,
                          repo_commit: Optional[str] = None, helper_functions: Optional[Sequence[Callable]] = None,
                          docker: Optional[str] = None, docker_args: Optional[str] = None,
                          docker_bash_setup_script: Optional[str] = None, parents: Optional[Sequence[str]] = None,
                          execution_queue: Optional[str] = None, monitor_metrics: Any = None,
                          monitor_artifacts: Any = None, monitor_models: Any = None, time_limit: Optional[float] = None,
                          continue_on_fail: bool = False, pre_execute_callback: Optional[Callable] = None,
                          post_execute_callback: Optional[Callable] = None, cache_executed_step: bool = False,
                          retry_on_failure: Any = None, status_change_callback: Optional[Callable] = None,
                          tags: Any = None, output_uri: Any = None, draft: bool = False,
                          working_dir: Optional[str] = None, continue_behaviour: Optional[dict] = None) -> bool:
        """Add a step that calls ``function``; each name in ``function_return`` becomes an artifact."""
        self._check_new_node(name, parents)
        if not callable(function):
            raise ValidationError(f"step {name!r}: function must be callable, got {function!r}")
        if function_kwargs is not None and not isinstance(function_kwargs, Mapping):
            raise ValidationError(f"step {name!r}: function_kwargs must be a dict, got {_shown(function_kwargs)}")
        if isinstance(function_return, str):
            function_return = [function_return]
        if function_return is not None and (not isinstance(function_return, (list, tuple))
                                            or not all(isinstance(r, str) and r for r in function_return)):
            raise ValidationError(f"step {name!r}: function_return must be a list of names, got {function_return!r}")
        if function_return is not None and len(set(function_return)) != len(function_return):
            raise ValidationError(f"step {name!r}: function_return names must be unique, got {function_return!r} "
                                  "(a repeated name would keep only its last value)")
        for returned in function_return or ():  # each becomes an artifact: refused now, not when the step ends
            try:
                validate_artifact_name(returned)
            except ValidationError as exc:
                raise ValidationError(f"step {name!r}: function_return name {returned!r} can't name an artifact: "
                                      f"{exc}") from None
        for helper in helper_functions or ():
            if not callable(helper):
                raise ValidationError(f"step {name!r}: helper function {helper!r} is not callable")
        kwargs = _default_kwargs(function) if function_kwargs is None else dict(function_kwargs)
        _check_kwargs(name, kwargs)
        _check_embedded_returns(name, kwargs.values())
        _check_signature(name, function, kwargs)
        if task_type is not None:
            task_type = normalise_task_type(task_type)
        task_name = _check_name(f"task_name of step {name!r}", task_name)
        project_name = _check_name(f"project_name of step {name!r}", project_name)
        tags = [tags] if isinstance(tags, str) else tags
        tags = _check_tags(tags)
        if not isinstance(draft, bool):
            raise ValidationError(f"step {name!r}: draft must be True or False, got {draft!r}")
        bindings = _check_step_bindings(name, auto_connect_frameworks, auto_connect_arg_parser)
        options = self._common_node_options(name, execution_queue, time_limit, continue_on_fail, continue_behaviour,
                                            retry_on_failure, pre_execute_callback, post_execute_callback,
                                            status_change_callback, monitor_metrics, monitor_artifacts,
                                            monitor_models, cache_executed_step)
        node = Node(name=name, function=function, function_kwargs=kwargs, return_names=list(function_return or []),
                    explicit_parents=list(parents or []), task_type=task_type, task_name=task_name,
                    project_name=project_name, packages=packages if packages is not None else self._packages,
                    repo=repo, repo_branch=repo_branch, repo_commit=repo_commit,
                    docker=docker or self._docker, docker_args=docker_args,
                    docker_bash_setup_script=docker_bash_setup_script, helper_functions=tuple(helper_functions or ()),
                    tags=tags,
                    output_uri=output_uri if isinstance(output_uri, str) else None, draft=draft,
                    working_dir=working_dir, **options)
        node.parents = _merge_parents(node.explicit_parents, referenced_steps(kwargs.values()))
        self._nodes[name] = node
        self._step_bindings[name] = bindings
        return True

    def add_step(self, name: str, base_task_id: Optional[str] = None, parents: Optional[Sequence[str]] = None,
                 parameter_override: Optional[Mapping[str, Any]] = None,
                 configuration_overrides: Optional[Mapping[str, Any]] = None,
                 task_overrides: Optional[Mapping[str, Any]] = None, execution_queue: Optional[str] = None,
                 monitor_metrics: Any = None, monitor_artifacts: Any = None, monitor_models: Any = None,
                 time_limit: Optional[float] = None, base_task_project: Optional[str] = None,
                 base_task_name: Optional[str] = None, clone_base_task: bool = True, continue_on_fail: bool = False,
                 pre_execute_callback: Optional[Callable] = None, post_execute_callback: Optional[Callable] = None,
                 cache_executed_step: bool = False, base_task_factory: Optional[Callable] = None,
                 retry_on_failure: Any = None, status_change_callback: Optional[Callable] = None,
                 recursively_parse_parameters: bool = False, output_uri: Any = None,
                 continue_behaviour: Optional[dict] = None, draft: bool = False) -> bool:
        """Add a step that clones an existing task, applies overrides and runs it. ``draft``
        (as on add_function_step): the clone is made and left a Draft, not run."""
        from ..tracking.task import Task
        self._check_new_node(name, parents)
        if not isinstance(draft, bool):
            raise ValidationError(f"step {name!r}: draft must be True or False, got {draft!r}")
        if base_task_factory is not None:
            _check_callback("base_task_factory", base_task_factory)
        elif base_task_id is None:
            if not base_task_project or not base_task_name:
                raise ValidationError(f"step {name!r} needs base_task_id, base_task_project + base_task_name, "
                                      "or base_task_factory")
            try:
                base_task_id = Task.get_task(project_name=base_task_project, task_name=base_task_name).id
            except NotFoundError:
                raise ValidationError(f"step {name!r}: no task named {base_task_name!r} in project "
                                      f"{base_task_project!r}") from None
        else:
            try:
                Task.get_task(task_id=base_task_id)
            except NotFoundError:
                raise ValidationError(f"step {name!r}: base_task_id {base_task_id!r} names no task") from None
        for label, value in (("parameter_override", parameter_override),
                             ("configuration_overrides", configuration_overrides), ("task_overrides", task_overrides)):
            if value is not None and not isinstance(value, Mapping):
                raise ValidationError(f"step {name!r}: {label} must be a dict, got {_shown(value)}")
        params = dict(parameter_override or {})
        _check_kwargs(name, params, "parameter_override")
        _check_embedded_returns(name, [*params.values(), *(configuration_overrides or {}).values(),
                                       *(task_overrides or {}).values()])
        if not recursively_parse_parameters:
            for key, value in params.items():
                if isinstance(value, (list, tuple, dict)) and find_references(value):
                    raise ValidationError(f"step {name!r}: parameter {key!r} holds references inside a "
                                          f"{type(value).__name__}; pass recursively_parse_parameters=True")
        options = self._common_node_options(name, execution_queue, time_limit, continue_on_fail, continue_behaviour,
                                            retry_on_failure, pre_execute_callback, post_execute_callback,
                                            status_change_callback, monitor_metrics, monitor_artifacts,
                                            monitor_models, cache_executed_step)
        node = Node(name=name, base_task_id=base_task_id, base_task_factory=base_task_factory, parameters=params,
                    configurations=dict(configuration_overrides or {}), task_overrides=dict(task_overrides or {}),
                    clone_task=clone_base_task, explicit_parents=list(parents or []),
                    output_uri=output_uri if isinstance(output_uri, str) else None, draft=draft, **options)
        node.parents = _merge_parents(node.explicit_parents, referenced_steps(
            [*params.values(), *node.configurations.values(), *node.task_overrides.values()]))
        self._nodes[name] = node
        return True

    # ------------------------------------------------------------------ validation
    def _build_graph(self) -> nx.DiGraph:
        """The DAG; ValidationError on unknown parents, bad references or cycles (before anything runs)."""
        import networkx as nx
        graph = nx.DiGraph()
        for node in self._nodes.values():
            graph.add_node(node.name)
            values = [*node.function_kwargs.values(), *node.parameters.values(), *node.configurations.values(),
                      *node.task_overrides.values()]
            for value in values:  # references first: their message names the reference
                for ref in find_references(value):
                    self._check_reference(node, ref)
            for parent in node.parents:
                if parent not in self._nodes:
                    raise ValidationError(f"step {node.name!r} depends on unknown step {parent!r}; "
                                          f"steps: {sorted(self._nodes)}")
                graph.add_edge(parent, node.name)
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            return graph
        raise ValidationError("the pipeline has a cycle: " + " -> ".join([a for a, _ in cycle] + [cycle[0][0]]))

    def _check_reference(self, node: Node, ref: Any) -> None:
        if ref.step == node.name:  # named here, not as the anonymous cycle "b -> b"
            raise ValidationError(f"step {node.name!r} references itself in ${{{ref.text}}}: a step can only use "
                                  "the outputs of other steps")
        if ref.step == "pipeline":
            if ref.key not in self._pipeline_args:
                raise ValidationError(f"step {node.name!r} references unknown pipeline parameter ${{{ref.text}}}; "
                                      f"parameters: {sorted(self._pipeline_args)}")
            return
        upstream = self._nodes.get(ref.step)
        if upstream is None:
            raise ValidationError(f"step {node.name!r} references unknown step {ref.step!r} in ${{{ref.text}}}; "
                                  f"steps: {sorted(self._nodes)}")
        if ref.kind == "return" and upstream.function is not None and ref.key not in upstream.return_names:
            raise ValidationError(f"step {node.name!r} references ${{{ref.text}}} but step {ref.step!r} returns "
                                  f"{list(upstream.return_names)}")
        if ref.kind == "parameter" and upstream.function is not None:
            section, _, key = ref.key.partition("/")
            if section not in ("kwargs", "return") or (section == "kwargs" and key not in upstream.function_kwargs) \
                    or (section == "return" and key not in upstream.return_names):
                raise ValidationError(f"step {node.name!r} references ${{{ref.text}}} but step {ref.step!r} has "
                                      f"parameters {['kwargs/' + k for k in upstream.function_kwargs]}")

    # ------------------------------------------------------------------ running
    def set_default_execution_queue(self, default_execution_queue: Optional[str]) -> None:
        if default_execution_queue is not None and not isinstance(default_execution_queue, str):
            raise ValidationError(f"default execution queue must be a queue name, got {default_execution_queue!r}")
        self._default_queue = default_execution_queue

    def set_pipeline_execution_time_limit(self, max_execution_minutes: Optional[float]) -> None:
        if max_execution_minutes is not None and (not isinstance(max_execution_minutes, (int, float))
                                                  or max_execution_minutes < 0):
            raise ValidationError(f"max_execution_minutes must be a non-negative number, got {max_execution_minutes!r}")
        self._time_limit = max_execution_minutes * 60.0 if max_execution_minutes else None

    def start(self, queue: Optional[str] = "services", step_task_created_callback: Optional[Callable] = None,
              step_task_completed_callback: Optional[Callable] = None, wait: bool = True) -> bool:
        """Run the pipeline: on ``queue`` through an agent, or here when ``queue`` is None or an agent runs us."""
        _check_callback("step_task_created_callback", step_task_created_callback)
        _check_callback("step_task_completed_callback", step_task_completed_callback)
        self._step_task_created_callback = step_task_created_callback
        self._step_task_completed_callback = step_task_completed_callback
        if queue is not None and not self._task._remote:
            from .remote import enqueue_controller
            return enqueue_controller(self, queue, wait=wait)
        return self._run(wait=wait or self._task._remote)  # run by an agent: the process must not end first

    def start_locally(self, run_pipeline_steps_locally: bool = False, executor: Any = None) -> bool:
        """Run the controller in this process; steps as local subprocesses when
        ``run_pipeline_steps_locally``, else through their queues. ``executor`` (a pipetrack
        extension: 'inline', 'local', 'dask', an Executor) overrides where every step runs."""
        from ..executors.base import get_executor
        if executor is not None:
            self._executor_override = get_executor(executor)
        elif run_pipeline_steps_locally:
            self._executor_override = get_executor("local")
        if self._executor_override is not None and (executor is None or isinstance(executor, str)):
            self._executors["<start_locally>"] = self._executor_override  # ours: shut down at the end
        return self._run(wait=True)

    def _run(self, wait: bool = True) -> bool:
        if self._start_time is not None:
            raise StateError(f"pipeline {self._name!r} was already started; create a new PipelineController to run again")
        try:
            self._graph = self._build_graph()
        except ValidationError as exc:  # nothing ran: the run ends here, failed, saying why
            self._conclude(failed=True, message=f"pipeline failed before any step ran: {exc}")
            raise
        self._settle_version()
        self._store_dag()
        self._start_time = time.time()
        self._start_progress()
        PipelineController._current = self
        try:
            self._scheduler.register(self._nodes.values())
            self._scheduler.schedule()
        except BaseException as exc:
            self._finish(exc)
            raise
        if wait:
            self.wait()
        else:
            # The script may end before the run: finish it at exit. Registered with threading's
            # exit hooks, which run before concurrent.futures refuses new work at shutdown (an
            # atexit handler would run too late to launch the remaining steps) and in reverse
            # order of registration, so before the executors' own hooks.
            threading._register_atexit(self._wait_at_exit)  # type: ignore[attr-defined]
        return True

    def _wait_at_exit(self) -> None:
        if self._end_time is None:
            try:
                self.wait()
            except BaseException as exc:  # the run's failure is recorded on its task; don't mask the exit
                self._log(f"pipeline ended at interpreter exit: {type(exc).__name__}: {exc}")

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for the pipeline to finish (``timeout`` in minutes); False if it timed out."""
        if self._start_time is None:
            return False
        try:
            finished = self._scheduler.wait(timeout=None if timeout is None else timeout * 60.0)
        except BaseException as exc:
            self._finish(exc)
            raise
        if finished:
            self._finish()
        return finished

    def _finish(self, error: Optional[BaseException] = None, stopped: Optional[tuple[bool, bool]] = None) -> None:
        """End the run once: stop what still runs, store the DAG and plot, set the final status.

        ``error``: the exception that ended the run (the pipeline failed, or was stopped for a
        KeyboardInterrupt); ``stopped``: ``stop(mark_failed, mark_aborted)`` was called."""
        if self._end_time is not None:
            return
        if error is not None:  # kill running steps first: closing waits for them
            self._scheduler.stop(f"pipeline ended: {type(error).__name__}")
        self._scheduler.close()
        self._end_time = time.time()
        self._shutdown_executors()
        for node in self._nodes.values():
            if node.status == "pending":
                self._set_node_status(node, "skipped", "pipeline ended before the step could run")
        self._store_dag()
        if self._progress is not None:  # end the terminal progress line with the final counts
            self._progress.close(self._nodes)
        self.update_execution_plot()
        aborted = isinstance(error, KeyboardInterrupt)
        if error is not None:
            message = f"pipeline {'stopped' if aborted else 'failed'}: {type(error).__name__}: {error}"
        elif stopped is not None:  # ClearML: completed unless a step failed or a mark_* flag says otherwise
            mark_failed, aborted = stopped
            failed = mark_failed or aborted or bool(self._failed_nodes)
            message = f"pipeline stopped: {self._abort_reason}" if failed else ""
        elif self._abort_reason:
            message = f"pipeline aborted: {self._abort_reason}"
        elif self._failed_nodes:
            parts = [f"step '{n}' {self._nodes[n].status}: {self._nodes[n].error}" for n in self._failed_nodes]
            message = "pipeline failed: " + "; ".join(parts)
        else:
            message = ""
        self._conclude(failed=bool(message), message=message, aborted=aborted)
        self._summarise("stopped" if aborted else "failed" if message else "completed")
        if PipelineController._current is self:
            PipelineController._current = None

    def _summarise(self, outcome: str) -> None:
        from .. import config
        from ..terminal import notice
        from .progress import render_summary
        notice(render_summary(self._task.name, self._nodes, self._end_time - self._start_time, outcome,
                              f"{config.ui_url()}/#/pipeline/{self._task.id}"))

    def _conclude(self, failed: bool, message: str, aborted: bool = False) -> None:
        from ..tracking.session import current_session
        self._task.flush()
        if message:
            self._log(message)
        session = current_session()
        if session is not None and session.task.id == self._task.id:
            session.outcome = ("stopped" if aborted else "failed", message) if failed else None
        if self._owns_task:
            if self._task.get_status() == "in_progress":
                if not failed:
                    if not self._task.is_main_task():  # the main task is completed by its session
                        self._task.mark_completed()
                elif aborted:
                    self._task.mark_stopped(force=True, status_message=message)
                else:
                    self._task.mark_failed(status_message=message, status_reason=message)
            self._task.close()
        elif failed:
            self._task._store.update_task(self._task.id, status_message=message)
        if failed:
            from .exit_status import run_ended
            run_ended(f"pipeline {self._task.name!r} (task {self._task.id})", "stopped" if aborted else "failed")

    def stop(self, timeout: Optional[float] = None, mark_failed: bool = False, mark_aborted: bool = False) -> None:
        """Stop the pipeline: running steps are aborted, pending ones skipped; the run ends completed
        unless a step failed or ``mark_failed`` / ``mark_aborted`` say otherwise."""
        self._abort_reason = self._abort_reason or "stopped by user"
        self._scheduler.stop("pipeline stopped")
        if self._end_time is None and self._start_time is not None:
            self._scheduler.wait(timeout=None if timeout is None else timeout * 60.0)
            self._finish(stopped=(mark_failed, mark_aborted))

    # ------------------------------------------------------------------ state
    def is_running(self) -> bool:
        return self._start_time is not None and self._end_time is None

    def is_successful(self, fail_on_step_fail: bool = True, fail_condition: str = "all") -> bool:
        """False while running; else judged on the pipeline task and, with ``fail_on_step_fail``, on
        every step too (a step that failed with continue_on_fail makes the run unsuccessful)."""
        if fail_condition not in ("all", "failed", "aborted"):
            raise ValidationError.choice("fail_condition", fail_condition, ("all", "failed", "aborted"))
        if self._end_time is None:
            return False
        failing = {"all": ("failed", "stopped"), "failed": ("failed",), "aborted": ("stopped",)}[fail_condition]
        if self._task.get_status() in failing:
            return False
        if fail_on_step_fail:
            node_failing = {"failed": ("failed",), "stopped": ("aborted",)}
            bad = {s for f in failing for s in node_failing[f]}
            return not any(node.status in bad for node in self._nodes.values())
        return True

    def elapsed(self) -> float:
        if self._start_time is None:
            return -1.0
        return ((self._end_time or time.time()) - self._start_time) / 60.0

    def get_pipeline_dag(self) -> dict[str, Node]:
        return dict(self._nodes)

    def get_processed_nodes(self) -> list[Node]:
        return [n for n in self._nodes.values() if n.is_finished]

    def get_running_nodes(self) -> list[Node]:
        return [n for n in self._nodes.values() if n.status == "running"]

    def add_tags(self, tags: Any) -> None:
        self._task.add_tags(tags)

    def connect_configuration(self, configuration: Any, name: Optional[str] = None,
                              description: Optional[str] = None) -> Any:
        return self._task.connect_configuration(configuration, name=name, description=description)

    def create_draft(self) -> None:
        """Store the pipeline definition on its task and leave the task as a Draft (to enqueue later)."""
        self._graph = self._build_graph()
        self._settle_version()
        self._store_dag()
        from ..tracking.session import back_to_draft
        back_to_draft(self._task)

    def _store_dag(self) -> None:
        self._dag_dirty, self._dag_time = False, time.time()
        dag = {n.name: {"parents": n.parents, "status": n.status, "executed": n.executed, "queue": n.queue,
                        "return_names": n.return_names, "base_task_id": n.base_task_id,
                        "cache": n.cache_executed_step, "job_started": n.job_started, "job_ended": n.job_ended,
                        "error": n.error, "retries": n.retries}
               for n in self._nodes.values()}
        self._task._store.put_configs([(self._task.id, "Pipeline", json.dumps(dag, indent=1, default=str), "json",
                                        "pipeline DAG and step status")])

    def update_execution_plot(self) -> None:
        """Store the DAG coloured by step status as a plot on the pipeline task."""
        from .plot import dag_graph, execution_figure
        graph = getattr(self, "_graph", None)
        if graph is None or len(graph) != len(self._nodes):
            graph = dag_graph({node.name: node.parents for node in self._nodes.values()})
        self._plot_dirty = False
        self._plot_time = time.time()
        figure = execution_figure(graph, self._nodes, f"{self._task.name} - execution flow")
        self._task._reports.add_plot(self._task.id, "Pipeline", "Execution Flow", 0, figure, replace=True)

    # ------------------------------------------------------------------ from inside steps
    @classmethod
    def _pipeline_task(cls):
        """The running pipeline's task: the parent of the step running here, else this thread's
        (or this process's) running pipeline, else a controller main task."""
        from ..tracking.task import Task
        from .decorator import PipelineDecorator
        task = Task._current_task_override
        if task is None:
            pipeline = PipelineDecorator._current_pipeline() or cls._current
            if pipeline is not None:
                return pipeline._task
            task = Task.current_task()
        if task is None:
            raise ValidationError("no running pipeline: call this from a pipeline step or the pipeline controller")
        if task.task_type == "controller":
            return task
        row = task._store.task_row(task.parent) if task.parent else None
        if row is None:
            raise ValidationError(f"task {task.id} is not part of a pipeline (it has no parent pipeline task)")
        # a step writes to its running pipeline's task as part of that run (not as an outside edit)
        return Task._from_row(task._store, row, owner=True)

    @classmethod
    def get_logger(cls):
        return cls._pipeline_task().get_logger()

    @classmethod
    def upload_artifact(cls, name: str, artifact_object: Any, metadata: Optional[Mapping] = None,
                        delete_after_upload: bool = False, auto_pickle: bool = True, preview: Any = None,
                        wait_on_upload: bool = False, serialization_function: Optional[Callable] = None) -> bool:
        return cls._pipeline_task().upload_artifact(name, artifact_object, metadata=metadata,
                                                    delete_after_upload=delete_after_upload, auto_pickle=auto_pickle,
                                                    preview=preview, serialization_function=serialization_function)

    @classmethod
    def upload_model(cls, model_name: str, model_local_path: str, upload_uri: Optional[str] = None):
        from ..tracking.models import OutputModel
        model = OutputModel(task=cls._pipeline_task(), name=model_name)
        path = model_local_path
        model.update_weights(weights_filename=path if os.path.isfile(path) else None,
                             weights_path=path if os.path.isdir(path) else None, upload_uri=upload_uri)
        return model

    @classmethod
    def get(cls, pipeline_id: Optional[str] = None, pipeline_project: Optional[str] = None,
            pipeline_name: Optional[str] = None, pipeline_version: Optional[str] = None,
            pipeline_tags: Optional[Sequence[str]] = None, shallow_search: bool = False) -> "PipelineRunView":
        """A stored pipeline run: by id, else the highest semantic version (else the newest) matching."""
        from ..tracking.task import Task
        if pipeline_id is not None:
            task = Task.get_task(task_id=pipeline_id)
            if PIPELINE_TAG not in task.get_system_tags():
                raise NotFoundError(f"task {pipeline_id} is not a pipeline")
            return PipelineRunView(task)
        rows = pipeline_runs(Task._main_store(), pipeline_project, pipeline_name)
        if shallow_search:
            rows = rows[:500]
        row = pick_run(rows, pipeline_version, pipeline_tags)
        if row is None:
            raise NotFoundError(f"no pipeline named {pipeline_name!r} in project {pipeline_project!r}"
                                + (f" with version {pipeline_version!r}" if pipeline_version else ""))
        return PipelineRunView(Task.get_task(task_id=row["id"]))

    @classmethod
    def enqueue(cls, pipeline_controller: Any, queue_name: Optional[str] = None, queue_id: Optional[str] = None,
                force: bool = False) -> Any:
        from ..tracking.task import Task
        task_id = pipeline_controller if isinstance(pipeline_controller, str) else pipeline_controller.id
        return Task.enqueue(task_id, queue_name=queue_name, queue_id=queue_id, force=force)


class PipelineRunView:
    """A stored pipeline run, as returned by ``PipelineController.get``."""

    def __init__(self, task: Any):
        self._task = task

    id = property(lambda self: self._task.id)
    task = property(lambda self: self._task)

    @property
    def version(self) -> Optional[str]:
        return (self._task.data.get("runtime") or {}).get("version")

    def get_pipeline_dag(self) -> dict[str, dict]:
        return self._task.get_configuration_object_as_dict("Pipeline") or {}

    def get_parameters(self) -> dict[str, Any]:
        return {k.split("/", 1)[1]: v for k, v in self._task.get_parameters(cast=True).items()
                if k.startswith(PARAM_SECTION + "/")}

    def is_successful(self) -> bool:
        return self._task.get_status() in ("completed", "published")

    def __repr__(self) -> str:
        return f"<Pipeline run {self._task.name!r} id={self.id} version={self.version}>"


def _default_kwargs(function: Callable) -> dict[str, Any]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return {}
    return {n: p.default for n, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _check_monitors(step: str, metrics: Any, artifacts: Any, models: Any) -> None:
    """monitor_* entries are read when the step ends: a malformed one is refused when the step is
    added, not after the step ran (where it failed the pipeline with no step to blame)."""
    from .run import metric_pair
    for label, entries in (("monitor_metrics", metrics), ("monitor_artifacts", artifacts), ("monitor_models", models)):
        if entries is None:
            continue
        if isinstance(entries, (str, bytes)) or not isinstance(entries, (list, tuple)):
            raise ValidationError(f"step {step!r}: {label} must be a list, got {entries!r}")
        for entry in entries:
            names = [n for pair in metric_pair(entry) for n in pair] if label == "monitor_metrics" else \
                [entry] if isinstance(entry, str) else list(entry) if isinstance(entry, (list, tuple)) and \
                len(entry) == 2 else None
            if names is None or not all(isinstance(n, str) for n in names):
                raise ValidationError(f"step {step!r}: {label} entries are names or (source, target) pairs of "
                                      f"names, got {_shown(entry)}")
            for monitored in names:  # they become this pipeline's scalar/artifact/model names
                _storable(f"step {step!r}: {label} name", monitored)


def _check_embedded_returns(step: str, values: Any) -> None:
    """A step's return value is an object: it can be a whole argument, not part of a text."""
    for value in values:
        for ref, text in embedded_returns(value):
            raise ValidationError(f"step {step!r}: ${{{ref.text}}} in {text!r} is the return value {ref.key!r} of "
                                  f"step {ref.step!r}, an object that can't be part of a text; pass it as a whole "
                                  f"argument value (\"${{{ref.text}}}\"), or use ${{{ref.step}.artifacts.{ref.key}.url}} "
                                  "for its URL")


def _check_kwargs(step: str, kwargs: Mapping, what: str = "function_kwargs") -> None:
    """function_kwargs (parameter_override) names are str (Python's ``f(**kwargs)`` needs that)
    and, like text values, storable: the step task records them as parameters, so a lone
    surrogate is refused here rather than failing the step when it is launched."""
    for key, value in kwargs.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"step {step!r}: {what} names must be non-empty strings, got {key!r}")
        _storable(f"step {step!r}: {what} name", key)
        try:
            text, _ = encode_value(value)  # the form the step task stores (a reference is a str)
        except ValidationError as exc:
            raise ValidationError(f"step {step!r}: {what} {key!r}: {exc}") from None
        _storable(f"step {step!r}: {what} {key!r} value", text)


def _check_signature(step: str, function: Callable, kwargs: dict) -> None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return
    params = signature.parameters
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    unknown = [k for k in kwargs if k not in params and not accepts_any]
    if unknown:
        raise ValidationError(f"step {step!r}: {function.__name__}() has no argument(s) {unknown}; "
                              f"it takes {list(params)}")
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in kwargs]
    if missing:
        raise ValidationError(f"step {step!r}: no value for required argument(s) {missing} of {function.__name__}(); "
                              "give them in function_kwargs")


def _merge_parents(explicit: Sequence[str], referenced: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*explicit, *referenced]))
