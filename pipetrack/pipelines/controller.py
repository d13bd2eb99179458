"""``PipelineController``: build a DAG of function steps and task steps, then run it.

Graph building and validation live here; the pipeline's task and what is shared with decorated
pipelines is ``handle.py``, one run's state and its nodes' launch and completion ``run.py``, the
scheduling loop ``scheduler.py``, executors ``pipetrack.executors``.
The pipeline itself is a task of type ``controller``; each executed step is a task whose
parent is the pipeline task.
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from ..errors import NotFoundError, StateError, ValidationError
from ..tracking.logger import check_name as _storable, shown as _shown
from ..tracking.parameters import encode_value
from ..tracking.states import normalise_task_type
from ..tracking.task_artifacts import validate_artifact_name
from ..tracking.task_metadata import check_name as _check_name, check_tags as _check_tags
from .handle import PARAM_SECTION, PipelineHandle, check_callback, check_retry, check_step_bindings
from .node import Node, normalise_continue_behaviour
from .references import embedded_returns, find_references, referenced_steps
from .versions import pipeline_fingerprint, settle_version

if TYPE_CHECKING:  # imported where a graph is built: ~80 ms that `import pipetrack` need not pay
    import networkx as nx


class PipelineController(PipelineHandle):
    """A pipeline: a controller task plus a DAG of steps (see the seeds' PipelineController).
    Steps are added first; ``start``/``start_locally`` validate the whole DAG, then its run
    (:class:`~pipetrack.pipelines.run.PipelineRun`) runs it."""

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
        if auto_version_bump is not None and not isinstance(auto_version_bump, bool):
            raise ValidationError(f"auto_version_bump must be None, True or False, got {auto_version_bump!r}")
        self._auto_version_bump = bool(auto_version_bump)
        super().__init__(name, project, version=version, add_pipeline_tags=add_pipeline_tags,
                         target_project=target_project, abort_on_failure=abort_on_failure,
                         add_run_number=add_run_number, retry_on_failure=retry_on_failure, docker=docker,
                         docker_args=docker_args, docker_bash_setup_script=docker_bash_setup_script, packages=packages,
                         repo=repo, repo_branch=repo_branch, repo_commit=repo_commit,
                         artifact_serialization_function=artifact_serialization_function,
                         artifact_deserialization_function=artifact_deserialization_function,
                         output_uri=output_uri, working_dir=working_dir, standalone_task=_standalone_task)

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
        for node in self._run.nodes.values():
            steps[node.name] = {
                "parents": sorted(node.parents), "returns": list(node.return_names),
                "code": code_fingerprint(node.function, node.helper_functions) if node.function is not None else None,
                "kwargs": node.function_kwargs, "base_task_id": node.base_task_id,
                "base_task_factory": code_fingerprint(node.base_task_factory) if node.base_task_factory else None,
                "parameters": node.parameters, "configurations": node.configurations,
                "task_overrides": node.task_overrides, "clone": node.clone_task, "queue": node.queue,
                "task_type": node.task_type, "packages": node.packages, "docker": node.docker,
                "cache": node.cache_executed_step, "draft": node.draft,
                "bindings": self._run.step_bindings.get(node.name)}
        return pipeline_fingerprint(code, dict(self._run.pipeline_args), steps)

    def _settle_version(self) -> None:
        """Record this run's fingerprint; with auto_version_bump, keep the last run's version
        when neither code nor steps changed since (bump it when they did)."""
        if self._run.task._remote:  # an agent re-runs a stored run: its version was decided then
            return
        task = self._run.task
        changed = settle_version(task._store, task.id, self._project, self._name, self._fingerprint(),
                                 self._version_given, self._auto_version_bump)
        if changed is not None:
            self._version = changed
            self._run.task.reload()

    # ------------------------------------------------------------------ building
    def add_parameter(self, name: str, default: Any = None, description: Optional[str] = None,
                      param_type: Optional[str] = None) -> None:
        """A pipeline parameter, stored under ``Pipeline/<name>``; steps use ``${pipeline.<name>}``."""
        if not isinstance(name, str) or not name or "/" in name:
            raise ValidationError(f"pipeline parameter name must be a non-empty string without '/', got {name!r}")
        _storable("pipeline parameter name", name)
        value = default
        if self._run.task._remote:  # an agent re-runs us: the stored (possibly edited) value wins
            stored = self._run.task.get_parameter(f"{PARAM_SECTION}/{name}", cast=True)
            if stored is not None:
                value = stored
        types = {f"{PARAM_SECTION}/{name}": param_type} if param_type else None
        # stored first: a value the store refuses (ValidationError) must not leave a parameter behind
        self._run.task._write_params({f"{PARAM_SECTION}/{name}": value},
                                 descriptions={f"{PARAM_SECTION}/{name}": description} if description else None,
                                 types=types, check=False)
        self._run.pipeline_args[name] = value

    def _check_new_node(self, name: str, parents: Optional[Sequence[str]]) -> None:
        if not isinstance(name, str) or not name.strip() or name == "pipeline" or "." in name or "/" in name:
            raise ValidationError(f"step name must be a non-empty string without '.' or '/' (and not 'pipeline'), "
                                  f"got {name!r}")
        _storable("step name", name)  # it becomes the step task's name: refused now, not when the step runs
        if name in self._run.nodes:
            raise ValidationError(f"duplicate step name {name!r}: each step needs a unique name")
        if parents is not None and (not isinstance(parents, (list, tuple)) or not all(isinstance(p, str) for p in parents)):
            raise ValidationError(f"parents of step {name!r} must be a list of step names, got {parents!r}")
        if parents is not None and name in parents:  # named here, not as the anonymous cycle "b -> b"
            raise ValidationError(f"step {name!r} can't be its own parent (parents={list(parents)!r})")

    def _common_node_options(self, name: str, execution_queue, time_limit, continue_on_fail, continue_behaviour,
                             retry_on_failure, pre_execute_callback, post_execute_callback,
                             status_change_callback, monitor_metrics, monitor_artifacts, monitor_models,
                             cache_executed_step) -> dict:
        check_retry(retry_on_failure)
        for label, fn in (("pre_execute_callback", pre_execute_callback),
                          ("post_execute_callback", post_execute_callback),
                          ("status_change_callback", status_change_callback)):
            check_callback(label, fn)
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
        bindings = check_step_bindings(name, auto_connect_frameworks, auto_connect_arg_parser)
        options = self._common_node_options(name, execution_queue, time_limit, continue_on_fail, continue_behaviour,
                                            retry_on_failure, pre_execute_callback, post_execute_callback,
                                            status_change_callback, monitor_metrics, monitor_artifacts,
                                            monitor_models, cache_executed_step)
        node = Node(name=name, function=function, function_kwargs=kwargs, return_names=list(function_return or []),
                    explicit_parents=list(parents or []), task_type=task_type, task_name=task_name,
                    project_name=project_name,
                    packages=packages if packages is not None else self._run.settings.packages,
                    repo=repo, repo_branch=repo_branch, repo_commit=repo_commit,
                    docker=docker or self._run.settings.docker, docker_args=docker_args,
                    docker_bash_setup_script=docker_bash_setup_script, helper_functions=tuple(helper_functions or ()),
                    tags=tags,
                    output_uri=output_uri if isinstance(output_uri, str) else None, draft=draft,
                    working_dir=working_dir, **options)
        node.parents = _merge_parents(node.explicit_parents, referenced_steps(kwargs.values()))
        self._run.nodes[name] = node
        self._run.step_bindings[name] = bindings
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
            check_callback("base_task_factory", base_task_factory)
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
        self._run.nodes[name] = node
        return True

    # ------------------------------------------------------------------ validation
    def _build_graph(self) -> nx.DiGraph:
        """The DAG; ValidationError on unknown parents, bad references or cycles (before anything runs)."""
        import networkx as nx
        graph = nx.DiGraph()
        for node in self._run.nodes.values():
            graph.add_node(node.name)
            values = [*node.function_kwargs.values(), *node.parameters.values(), *node.configurations.values(),
                      *node.task_overrides.values()]
            for value in values:  # references first: their message names the reference
                for ref in find_references(value):
                    self._check_reference(node, ref)
            for parent in node.parents:
                if parent not in self._run.nodes:
                    raise ValidationError(f"step {node.name!r} depends on unknown step {parent!r}; "
                                          f"steps: {sorted(self._run.nodes)}")
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
            if ref.key not in self._run.pipeline_args:
                raise ValidationError(f"step {node.name!r} references unknown pipeline parameter ${{{ref.text}}}; "
                                      f"parameters: {sorted(self._run.pipeline_args)}")
            return
        upstream = self._run.nodes.get(ref.step)
        if upstream is None:
            raise ValidationError(f"step {node.name!r} references unknown step {ref.step!r} in ${{{ref.text}}}; "
                                  f"steps: {sorted(self._run.nodes)}")
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
        self._run.settings.default_queue = default_execution_queue

    def set_pipeline_execution_time_limit(self, max_execution_minutes: Optional[float]) -> None:
        if max_execution_minutes is not None and (not isinstance(max_execution_minutes, (int, float))
                                                  or max_execution_minutes < 0):
            raise ValidationError(f"max_execution_minutes must be a non-negative number, got {max_execution_minutes!r}")
        self._run.settings.time_limit = max_execution_minutes * 60.0 if max_execution_minutes else None

    def start(self, queue: Optional[str] = "services", step_task_created_callback: Optional[Callable] = None,
              step_task_completed_callback: Optional[Callable] = None, wait: bool = True) -> bool:
        """Run the pipeline: on ``queue`` through an agent, or here when ``queue`` is None or an agent runs us."""
        check_callback("step_task_created_callback", step_task_created_callback)
        check_callback("step_task_completed_callback", step_task_completed_callback)
        self._run.step_task_created_callback = step_task_created_callback
        self._run.step_task_completed_callback = step_task_completed_callback
        if queue is not None and not self._run.task._remote:
            from .remote import enqueue_task
            if not self._run.owns_task:
                raise StateError("PipelineController.start(queue=...) needs the pipeline to own its task; "
                                 "do not call Task.init before creating the PipelineController, or use start_locally()")
            self._prepare_definition()
            return enqueue_task(self._run.task, queue, self._repo, wait=wait)
        return self._start(wait=wait or self._run.task._remote)  # run by an agent: the process must not end first

    def start_locally(self, run_pipeline_steps_locally: bool = False, executor: Any = None) -> bool:
        """Run the controller in this process; steps as local subprocesses when
        ``run_pipeline_steps_locally``, else through their queues. ``executor`` (a pipetrack
        extension: 'inline', 'local', 'dask', an Executor) overrides where every step runs."""
        from ..executors.base import get_executor
        run = self._run
        if executor is not None:
            run.executor_override = get_executor(executor)
        elif run_pipeline_steps_locally:
            run.executor_override = get_executor("local")
        if run.executor_override is not None and (executor is None or isinstance(executor, str)):
            run.executors["<start_locally>"] = run.executor_override  # ours: shut down at the end
        return self._start(wait=True)

    def _start(self, wait: bool = True) -> bool:
        """Validate the whole DAG (a bad one ends the run failed, saying why, before any step), then run it."""
        if self._run.start_time is not None:
            raise StateError(f"pipeline {self._name!r} was already started; create a new PipelineController to run again")
        try:
            self._run.graph = self._build_graph()
        except ValidationError as exc:  # nothing ran: the run ends here, failed, saying why
            self._run.conclude(failed=True, message=f"pipeline failed before any step ran: {exc}")
            raise
        self._settle_version()
        return self._run.start(wait=wait)

    def _prepare_definition(self) -> None:
        """The DAG validated, the version settled and the definition stored on the task (to be run later)."""
        self._run.graph = self._build_graph()
        self._settle_version()
        self._run.store_dag()

    def create_draft(self) -> None:
        """Store the pipeline definition on its task and leave the task as a Draft (to enqueue later)."""
        self._prepare_definition()
        from ..tracking.session import back_to_draft
        back_to_draft(self._run.task)


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
