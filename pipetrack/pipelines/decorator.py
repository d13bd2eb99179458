"""``PipelineDecorator``: ``@component`` functions called from a ``@pipeline`` function.

The graph is discovered while the pipeline function runs: each component call adds a node
(named after the component; a second call of the same component is ``name_1``, then
``name_2``, ...) and returns :class:`LazyResult` objects at once; lazy results passed to other
components become edges. Nodes run as soon as their parents finish — through the same
scheduler and executors as PipelineController — so independent components run concurrently.

Run modes: ``debug_pipeline()`` runs components inline as plain calls; ``run_locally()`` runs
each as a local subprocess; otherwise steps go through their queues and, unless
``pipeline_execution_queue`` is None or ``start_controller_locally``, the pipeline logic itself
is enqueued for an agent.
"""
from __future__ import annotations

import functools
import inspect
import threading
from typing import Any, Callable, Optional, Sequence

from ..errors import ValidationError
from .handle import PipelineHandle, check_callback, check_retry, check_step_bindings
from .lazy import LazyResult, resolve_all
from .node import Node
from .run import current_run


class _CallAdapter:
    """Calls ``func`` with keyword arguments rebuilt into its real signature (``*args``, ``**kw``)."""

    def __init__(self, func: Callable, var_positional: Optional[str], var_keyword: Optional[str],
                 positional_only: Sequence[str]):
        self.func = func
        self.var_positional = var_positional
        self.var_keyword = var_keyword
        self.positional_only = tuple(positional_only)
        functools.update_wrapper(self, func)

    def __call__(self, **kwargs: Any) -> Any:
        args = [kwargs.pop(name) for name in self.positional_only]
        if self.var_positional:
            args += list(kwargs.pop(self.var_positional, ()) or ())
        extra = kwargs.pop(self.var_keyword, None) or {} if self.var_keyword else {}
        return self.func(*args, **kwargs, **extra)


class Component:
    """A decorated component: a plain function outside a pipeline, a lazy step inside one."""

    def __init__(self, func: Callable, options: dict):
        self.func = func
        self.options = options
        functools.update_wrapper(self, func)
        self._signature = inspect.signature(func)

    def __reduce__(self):  # ship just the function and its options to step workers
        return (Component, (self.func, self.options))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        pipeline = PipelineDecorator._current_pipeline()
        from ..tracking.task import Task
        if pipeline is None or Task._current_task_override is not None:
            # outside a pipeline, or inside a running step (as in a step subprocess): a plain call
            return self.func(*resolve_all(args), **resolve_all(kwargs))
        return pipeline._add_component_call(self, args, kwargs)

    def _bind(self, args: tuple, kwargs: dict) -> tuple[Callable, dict]:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ValidationError(f"component {self.func.__name__}(): {exc}") from None
        bound.apply_defaults()
        params = self._signature.parameters
        var_pos = next((n for n, p in params.items() if p.kind == p.VAR_POSITIONAL), None)
        var_kw = next((n for n, p in params.items() if p.kind == p.VAR_KEYWORD), None)
        pos_only = [n for n, p in params.items() if p.kind == p.POSITIONAL_ONLY]
        call = _CallAdapter(self.func, var_pos, var_kw, pos_only) if (var_pos or var_kw or pos_only) else self.func
        return call, dict(bound.arguments)


def _to_references(value: Any, parents: list[str], seen: set) -> Any:
    """LazyResults (also nested) become ``${step.return}`` references; their steps become parents
    (``seen``: the names already in ``parents``, so a join of 10,000 inputs stays linear)."""
    from ..steps import map_nested

    def leaf(item: Any) -> Any:
        if type(item) is not LazyResult:  # type(): a LazyResult reports its value's class
            return item
        node = object.__getattribute__(item, "_pt_node")
        if node not in seen:
            seen.add(node)
            parents.append(node)
        return item.reference

    return map_nested(value, leaf, stop=lambda item: type(item) is LazyResult)


class DecoratedPipeline(PipelineHandle):
    """The pipeline behind one call of a ``@PipelineDecorator.pipeline`` function: its run gets a
    node per component call while the function runs (no graph is known in advance)."""

    def __init__(self, standalone_task: bool = False, **options: Any):
        super().__init__(**options, standalone_task=standalone_task)
        self._call_counts: dict[str, int] = {}  # component name -> index of its next call's node

    def _use_mode(self, mode: Optional[str], default_queue: Optional[str]) -> None:
        """Where components run: ``mode`` ('inline' for debug_pipeline, 'local' for run_locally, None:
        through their queues, ``default_queue`` for those naming none)."""
        run = self._run
        run.settings.default_queue = default_queue
        if mode is not None:
            from ..executors.base import get_executor
            run.executor_override = get_executor(mode)
            run.executors["<mode>"] = run.executor_override  # ours: shut down at the end
            run.propagate_step_errors = mode == "inline"

    def _pipeline_argument(self, key: str, value: Any) -> Any:
        """Record a pipeline-function argument as a parameter; an agent re-run uses the stored value."""
        task = self._run.task
        if task._remote:
            stored = task.get_parameter(key, cast=True)
            value = stored if stored is not None else value
        self._run.pipeline_args[key.split("/", 1)[1]] = value
        task._write_params({key: value}, check=False)
        return value

    def _run_function(self, func: Callable, arguments: dict, return_value: Optional[str]) -> Any:
        """Run the pipeline logic as this thread's current run, then wait, store the result, finish."""
        run = self._run
        run.begin()
        try:
            result = func(**arguments)
            run.scheduler.wait()
            result = resolve_all(result)
            if return_value:
                run.task.upload_artifact(return_value, result)
        except BaseException as exc:
            run.finish(exc)
            raise
        run.finish()
        return result

    def _add_component_call(self, component: Component, args: tuple, kwargs: dict) -> Any:
        options = component.options
        call, arguments = component._bind(args, kwargs)
        parents: list[str] = list(options.get("parents") or [])
        seen = set(parents)
        arguments = {k: _to_references(v, parents, seen) for k, v in arguments.items()}
        base = options.get("name") or component.func.__name__
        run = self._run
        with run.scheduler.lock:
            # the n-th call of a component is base_n; the next index is remembered per base, so
            # naming stays O(1) per call in a 10,000-call pipeline
            index = self._call_counts.get(base, 0)
            name = base if index == 0 else f"{base}_{index}"
            while name in run.nodes:
                index += 1
                name = f"{base}_{index}"
            self._call_counts[base] = index + 1
            returns = list(options["return_values"])
            node = Node(name=name, function=call, function_kwargs=arguments, return_names=returns,
                        parents=parents, explicit_parents=list(options.get("parents") or []),
                        cache_executed_step=options["cache"],
                        packages=options.get("packages") or run.settings.packages,
                        queue=options.get("execution_queue"), task_type=options.get("task_type"),
                        helper_functions=tuple(options.get("helper_functions") or ()),
                        docker=options.get("docker") or run.settings.docker, docker_args=options.get("docker_args"),
                        docker_bash_setup_script=options.get("docker_bash_setup_script"),
                        monitor_metrics=list(options.get("monitor_metrics") or []),
                        monitor_artifacts=list(options.get("monitor_artifacts") or []),
                        monitor_models=list(options.get("monitor_models") or []),
                        retry_on_failure=options.get("retry_on_failure"),
                        pre_execute_callback=options.get("pre_execute_callback"),
                        post_execute_callback=options.get("post_execute_callback"),
                        status_change_callback=options.get("status_change_callback"),
                        tags=list(options.get("tags") or []), output_uri=options.get("output_uri"),
                        working_dir=options.get("working_dir"), continue_behaviour=options["continue_behaviour"],
                        draft=options.get("draft", False), repo=options.get("repo"),
                        repo_branch=options.get("repo_branch"), repo_commit=options.get("repo_commit"))
            for parent in parents:
                if parent not in run.nodes:
                    raise ValidationError(f"component {name!r} depends on unknown step {parent!r}")
            run.nodes[name] = node
            run.step_bindings[name] = options.get("bindings") or {}
        run.add_node(node)
        results = tuple(LazyResult(run, name, r) for r in returns)
        if not results:
            return None
        return results[0] if len(results) == 1 else results


class PipelineDecorator:
    """ClearML's decorator interface: ``@PipelineDecorator.component`` / ``@PipelineDecorator.pipeline``."""

    _mode: Optional[str] = None            # None (queues/remote) | "inline" | "local"
    _default_queue: Optional[str] = None
    _multi_threads: list = []

    @classmethod
    def _current_pipeline(cls) -> Optional[DecoratedPipeline]:
        """The decorated pipeline this thread (else this process) is running, if any."""
        run = current_run()
        return run.owner if run is not None and isinstance(run.owner, DecoratedPipeline) else None

    @classmethod
    def get_current_pipeline(cls) -> Optional[DecoratedPipeline]:
        return cls._current_pipeline()

    @classmethod
    def debug_pipeline(cls) -> None:
        """Run components inline, as plain function calls (for debuggers)."""
        cls._mode = "inline"

    @classmethod
    def run_locally(cls) -> None:
        """Run the pipeline here and every component as its own local subprocess."""
        cls._mode = "local"

    @classmethod
    def set_default_execution_queue(cls, default_execution_queue: Optional[str]) -> None:
        cls._default_queue = default_execution_queue

    # ------------------------------------------------------------------ decorators
    @classmethod
    def component(cls, _func: Optional[Callable] = None, *, return_values: Any = ("return_object",),
                  name: Optional[str] = None, cache: bool = False, packages: Any = None,
                  parents: Optional[Sequence[str]] = None, execution_queue: Optional[str] = None,
                  continue_on_fail: bool = False, docker: Optional[str] = None, docker_args: Optional[str] = None,
                  docker_bash_setup_script: Optional[str] = None, task_type: Optional[str] = None,
                  auto_connect_frameworks: Any = None, auto_connect_arg_parser: Any = None,
                  repo: Optional[str] = None, repo_branch: Optional[str] = None, repo_commit: Optional[str] = None,
                  helper_functions: Optional[Sequence[Callable]] = None, monitor_metrics: Any = None,
                  monitor_artifacts: Any = None, monitor_models: Any = None, retry_on_failure: Any = None,
                  pre_execute_callback: Optional[Callable] = None, post_execute_callback: Optional[Callable] = None,
                  status_change_callback: Optional[Callable] = None, tags: Any = None, output_uri: Any = None,
                  draft: bool = False, working_dir: Optional[str] = None,
                  continue_behaviour: Optional[dict] = None) -> Callable:
        """Turn a function into a pipeline component (see the seeds for every argument)."""
        from ..tracking.states import normalise_task_type
        from .node import normalise_continue_behaviour
        if isinstance(return_values, str):
            return_values = [return_values]
        if return_values is None:
            return_values = []
        if not all(isinstance(r, str) and r for r in return_values):
            raise ValidationError(f"return_values must be a name or a list of names, got {return_values!r}")
        if task_type is not None:
            task_type = normalise_task_type(task_type)
        check_retry(retry_on_failure)
        if not isinstance(draft, bool):
            raise ValidationError(f"component {name or getattr(_func, '__name__', '')!r}: draft must be True or "
                                  f"False, got {draft!r}")
        bindings = check_step_bindings(name or getattr(_func, "__name__", "component"), auto_connect_frameworks,
                                        auto_connect_arg_parser)
        for label, fn in (("pre_execute_callback", pre_execute_callback),
                          ("post_execute_callback", post_execute_callback),
                          ("status_change_callback", status_change_callback)):
            check_callback(label, fn)
        options = dict(return_values=list(return_values), name=name, cache=bool(cache), packages=packages,
                       parents=list(parents or []), execution_queue=execution_queue, docker=docker,
                       docker_args=docker_args, docker_bash_setup_script=docker_bash_setup_script,
                       task_type=task_type, helper_functions=list(helper_functions or []),
                       monitor_metrics=monitor_metrics, monitor_artifacts=monitor_artifacts,
                       monitor_models=monitor_models, retry_on_failure=retry_on_failure,
                       pre_execute_callback=pre_execute_callback, post_execute_callback=post_execute_callback,
                       status_change_callback=status_change_callback, tags=tags,
                       output_uri=output_uri if isinstance(output_uri, str) else None, working_dir=working_dir,
                       continue_behaviour=normalise_continue_behaviour(continue_on_fail, continue_behaviour),
                       draft=draft, bindings=bindings, repo=repo, repo_branch=repo_branch, repo_commit=repo_commit)

        def wrap(func: Callable) -> Component:
            if not callable(func):
                raise ValidationError(f"@PipelineDecorator.component decorates functions, got {func!r}")
            return Component(func, options)

        return wrap(_func) if _func is not None else wrap

    @classmethod
    def pipeline(cls, _func: Optional[Callable] = None, *, name: str, project: str, version: Optional[str] = None,
                 return_value: Optional[str] = None, default_queue: Optional[str] = None, pool_frequency: float = 0.2,
                 add_pipeline_tags: bool = False, target_project: Optional[str] = None, abort_on_failure: bool = False,
                 pipeline_execution_queue: Optional[str] = "services", multi_instance_support: Any = False,
                 add_run_number: bool = True, args_map: Optional[dict] = None, start_controller_locally: bool = False,
                 retry_on_failure: Any = None, docker: Optional[str] = None, docker_args: Optional[str] = None,
                 docker_bash_setup_script: Optional[str] = None, packages: Any = None, repo: Optional[str] = None,
                 repo_branch: Optional[str] = None, repo_commit: Optional[str] = None,
                 artifact_serialization_function: Optional[Callable] = None,
                 artifact_deserialization_function: Optional[Callable] = None, output_uri: Any = None,
                 skip_global_imports: bool = False, working_dir: Optional[str] = None) -> Callable:
        """Turn a function into a pipeline whose arguments are pipeline parameters."""
        if multi_instance_support not in (False, True, "parallel"):
            raise ValidationError.choice("multi_instance_support", multi_instance_support, (False, True, "parallel"))
        if args_map is not None and (not isinstance(args_map, dict) or
                                     not all(isinstance(v, (list, tuple)) for v in args_map.values())):
            raise ValidationError(f"args_map must map section names to lists of argument names, got {args_map!r}")
        controller_options = dict(name=name, project=project, version=version, add_pipeline_tags=add_pipeline_tags,
                                  target_project=target_project or True, abort_on_failure=abort_on_failure,
                                  add_run_number=add_run_number, retry_on_failure=retry_on_failure, docker=docker,
                                  docker_args=docker_args, docker_bash_setup_script=docker_bash_setup_script,
                                  packages=packages, repo=repo, repo_branch=repo_branch, repo_commit=repo_commit,
                                  artifact_serialization_function=artifact_serialization_function,
                                  artifact_deserialization_function=artifact_deserialization_function,
                                  output_uri=output_uri, working_dir=working_dir)

        def wrap(func: Callable) -> Callable:
            signature = inspect.signature(func)
            section_of = {arg: section for section, args in (args_map or {}).items() for arg in args}

            @functools.wraps(func)
            def run(*args: Any, **kwargs: Any) -> Any:
                if multi_instance_support == "parallel":
                    holder: dict = {}

                    def target() -> None:
                        try:
                            holder["result"] = run_once(args, kwargs)
                        except BaseException as exc:  # re-raised by wait_for_multi_pipelines
                            holder["error"] = exc

                    thread = threading.Thread(target=target, name=f"pipeline {name}")
                    thread.start()
                    cls._multi_threads.append((thread, holder))
                    return None
                return run_once(args, kwargs)

            def run_once(args: tuple, kwargs: dict) -> Any:
                from .remote import enqueue_decorated_pipeline
                from ..tracking.task import Task
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                if cls._mode is None and Task.running_locally() and pipeline_execution_queue \
                        and not start_controller_locally:
                    return enqueue_decorated_pipeline(
                        func, controller_options,
                        {f"{section_of.get(arg, 'Args')}/{arg}": value for arg, value in bound.arguments.items()},
                        pipeline_execution_queue)
                pipeline = DecoratedPipeline(standalone_task=bool(multi_instance_support), **controller_options)
                pipeline._use_mode(cls._mode, default_queue or cls._default_queue)
                arguments = {arg: pipeline._pipeline_argument(f"{section_of.get(arg, 'Args')}/{arg}", value)
                             for arg, value in bound.arguments.items()}
                return pipeline._run_function(func, arguments, return_value)

            run.component = None  # marker: this is a pipeline function
            return run

        return wrap(_func) if _func is not None else wrap

    @classmethod
    def wait_for_multi_pipelines(cls) -> list:
        """Wait for every pipeline started with multi_instance_support='parallel'; their results in call
        order. The first pipeline that raised re-raises its exception here (after all have ended)."""
        threads, cls._multi_threads = cls._multi_threads, []
        for thread, _ in threads:
            thread.join()
        for _, holder in threads:
            if "error" in holder:
                raise holder["error"]
        return [holder.get("result") for _, holder in threads]

    get_logger = PipelineHandle.get_logger
    upload_artifact = PipelineHandle.upload_artifact
    upload_model = PipelineHandle.upload_model
    get = PipelineHandle.get
    enqueue = PipelineHandle.enqueue


