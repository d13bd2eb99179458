"""One pipeline run (:class:`PipelineRun`): its state, and what happens to one node when it
runs: resolve inputs, check the cache, create the step task, hand a StepSpec to an executor,
and interpret the result (retry, skip, fail, abort, monitors, callbacks, progress).

The run owns everything that changes while a pipeline runs (nodes and statuses, the pipeline
task, executors, callbacks, the outcome); ``PipelineController`` and ``@PipelineDecorator.pipeline``
only build one and hold it. The loop deciding *when* a node runs is ``scheduler.py``, which
drives the run through :meth:`PipelineRun.hooks` and never looks inside it.
"""
from __future__ import annotations

import inspect
import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from .. import config
from ..errors import StepTraceback, ValidationError
from ..terminal import notice
from ..executors.base import get_executor
from ..steps import ArtifactInput, StepResult, StepSpec
from .cache import cache_key, code_fingerprint, find_cached_task, function_source
from .node import SUCCESS_STATUSES, Job, Node
from .plan import StepPlan
from .references import Reference, substitute, whole_reference
from .scheduler import RunHooks, Scheduler

LEGACY_ARTIFACT_REF = re.compile(r"^([0-9a-f]{32})\.([^\s/]+)$")
DAG_REFRESH_SECONDS = 0.5  # how stale the stored DAG (statuses) may get while a run goes on
TIME_LIMIT_GRACE_SECONDS = 5.0  # how long past its time limit a step may run before the controller cancels it


class _StepCallable:
    """The function a worker calls: the user's function plus its helper functions.

    Helper functions are put into the function's globals before the call, so a step can call
    them even where cloudpickle shipped the function by reference.
    """

    def __init__(self, func: Any, helpers: tuple = ()):
        self.func = func
        self.helpers = tuple(helpers)

    def __call__(self, **kwargs: Any) -> Any:
        target = inspect.unwrap(self.func)
        namespace = getattr(target, "__globals__", None)
        if namespace is not None:
            for helper in self.helpers:
                namespace.setdefault(helper.__name__, helper)
        return self.func(**kwargs)


@dataclass
class RunSettings:
    """The options of a pipeline that its run reads (given to PipelineController or
    ``@PipelineDecorator.pipeline``; ``default_queue`` and ``time_limit`` may change until it starts)."""

    abort_on_failure: bool = False
    retry_on_failure: Any = None
    add_pipeline_tags: bool = False
    target_project: Any = True
    packages: Any = None
    docker: Optional[str] = None
    working_dir: Optional[str] = None
    output_uri: Optional[str] = None
    serialization_function: Optional[bytes] = None  # pickled, as it travels to step workers
    deserialization_function: Optional[bytes] = None
    default_queue: Optional[str] = None
    time_limit: Optional[float] = None  # seconds


# the run going on in this process (the newest started), and per thread (parallel decorated pipelines)
_process_run: list["PipelineRun"] = []
_thread_run = threading.local()


def current_run() -> Optional["PipelineRun"]:
    """The pipeline run this thread (else this process) is running, or None."""
    run = getattr(_thread_run, "run", None)
    if run is not None and run.end_time is None:
        return run
    return _process_run[-1] if _process_run else None


class PipelineRun:
    """One run of a pipeline: its nodes and their statuses, the pipeline task, executors and
    callbacks, and what happens to a node when it runs (see the module docstring).

    ``PipelineController`` and a ``@PipelineDecorator.pipeline`` call each build one and hold it;
    the scheduler drives it through :meth:`hooks` (launch, complete, status changed, cancel,
    tick). ``owner`` is the object user callbacks receive as their ``pipeline`` argument.
    """

    def __init__(self, task: Any, owns_task: bool, settings: RunSettings, owner: Any):
        self.task = task
        self.owns_task = owns_task
        self.settings = settings
        self.owner = owner
        self.nodes: dict[str, Node] = {}
        self.pipeline_args: dict[str, Any] = {}
        self.step_bindings: dict[str, dict] = {}  # step name -> its auto_connect_* options (for the worker)
        self.executors: dict[str, Any] = {}
        self.executor_override: Any = None
        self.step_task_created_callback: Optional[Callable] = None
        self.step_task_completed_callback: Optional[Callable] = None
        self.propagate_step_errors = False  # debug mode: a failed component call raises in the caller
        self.failed_nodes: list[str] = []
        self.abort_reason: Optional[str] = None
        self.start_time: Optional[float] = None
        self.end_time: Optional[float] = None
        self.graph: Any = None  # the networkx DAG a controller validated (None: built as nodes come)
        self._plot_dirty = False
        self._plot_time = 0.0
        self._dag_dirty = False
        self._dag_time = 0.0
        self._progress_stored = 0  # the whole percent last stored as the run's progress
        self._progress: Any = None  # TerminalProgress, made when the run starts
        self._project_cache: Optional[str] = None
        self.scheduler = Scheduler(self.hooks(), self.nodes)

    # --------------------------------------------------------------- lifecycle
    def begin(self) -> None:
        """The run starts: its clock, its progress line, and it becomes this thread's current run."""
        self.start_time = time.time()
        self._start_progress()
        _process_run.append(self)
        _thread_run.run = self

    def start(self, wait: bool = True) -> bool:
        """Run the nodes added so far (a controller's whole DAG): launch what is ready, then wait
        for the end, or (``wait=False``) finish the run at interpreter exit."""
        self.store_dag()
        self.begin()
        try:
            self.scheduler.register(self.nodes.values())
            self.scheduler.schedule()
        except BaseException as exc:
            self.finish(exc)
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

    def add_node(self, node: Node) -> None:
        """A node added while the run goes on (a component call): registered and launched when ready."""
        self._dag_dirty = True
        self.scheduler.add(node)

    def _wait_at_exit(self) -> None:
        if self.end_time is None:
            try:
                self.wait()
            except BaseException as exc:  # the run's failure is recorded on its task; don't mask the exit
                self.log(f"pipeline ended at interpreter exit: {type(exc).__name__}: {exc}")

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for every node to finish (``timeout`` in seconds), then finish the run; False if
        it timed out (or never started)."""
        if self.start_time is None:
            return False
        try:
            finished = self.scheduler.wait(timeout=timeout)
        except BaseException as exc:
            self.finish(exc)
            raise
        if finished:
            self.finish()
        return finished

    def wait_for(self, names: Sequence[str]) -> None:
        """Wait until these nodes have finished (a lazy result's value is asked for)."""
        self.scheduler.wait(list(names))

    def finish(self, error: Optional[BaseException] = None, stopped: Optional[tuple[bool, bool]] = None) -> None:
        """End the run once: stop what still runs, store the DAG and plot, set the final status.

        ``error``: the exception that ended the run (the pipeline failed, or was stopped for a
        KeyboardInterrupt); ``stopped``: ``stop(mark_failed, mark_aborted)`` was called."""
        if self.end_time is not None:
            return
        if error is not None:  # kill running steps first: closing waits for them
            self.scheduler.stop(f"pipeline ended: {type(error).__name__}")
        self.scheduler.close()
        self.end_time = time.time()
        self._shutdown_executors()
        for node in self.nodes.values():
            if node.status == "pending":
                self.set_node_status(node, "skipped", "pipeline ended before the step could run")
        self.store_dag()
        if self._progress is not None:  # end the terminal progress line with the final counts
            self._progress.close(self.nodes)
        self.update_execution_plot()
        aborted = isinstance(error, KeyboardInterrupt)
        if error is not None:
            message = f"pipeline {'stopped' if aborted else 'failed'}: {type(error).__name__}: {error}"
        elif stopped is not None:  # ClearML: completed unless a step failed or a mark_* flag says otherwise
            mark_failed, aborted = stopped
            failed = mark_failed or aborted or bool(self.failed_nodes)
            message = f"pipeline stopped: {self.abort_reason}" if failed else ""
        elif self.abort_reason:
            message = f"pipeline aborted: {self.abort_reason}"
        elif self.failed_nodes:
            parts = [f"step '{n}' {self.nodes[n].status}: {self.nodes[n].error}" for n in self.failed_nodes]
            message = "pipeline failed: " + "; ".join(parts)
        else:
            message = ""
        try:
            self.conclude(failed=bool(message), message=message, aborted=aborted)
            self._summarise("stopped" if aborted else "failed" if message else "completed")
        finally:
            if self in _process_run:
                _process_run.remove(self)
            if getattr(_thread_run, "run", None) is self:
                _thread_run.run = None

    def _summarise(self, outcome: str) -> None:
        from ..terminal import notice
        from .progress import render_summary
        notice(render_summary(self.task.name, self.nodes, self.end_time - self.start_time, outcome,
                              f"{config.ui_url()}/#/pipeline/{self.task.id}"))

    def conclude(self, failed: bool, message: str, aborted: bool = False) -> None:
        """Record the run's outcome on its task (and close the task when the run owns it)."""
        from ..tracking.session import current_session
        self.task.flush()
        if message:
            self.log(message)
        session = current_session()
        if session is not None and session.task.id == self.task.id:
            session.outcome = ("stopped" if aborted else "failed", message) if failed else None
        if self.owns_task:
            if self.task.get_status() == "in_progress":
                if not failed:
                    if not self.task.is_main_task():  # the main task is completed by its session
                        self.task.mark_completed()
                elif aborted:
                    self.task.mark_stopped(force=True, status_message=message)
                else:
                    self.task.mark_failed(status_message=message, status_reason=message)
            self.task.close()
        elif failed:
            self.task._store.update_task(self.task.id, status_message=message)
        if failed:
            from .exit_status import run_ended
            run_ended(f"pipeline {self.task.name!r} (task {self.task.id})", "stopped" if aborted else "failed")

    def stop(self, timeout: Optional[float] = None, mark_failed: bool = False, mark_aborted: bool = False) -> None:
        """Stop the run: running steps are aborted, pending ones skipped (``timeout`` in seconds)."""
        self.abort_reason = self.abort_reason or "stopped by user"
        self.scheduler.stop("pipeline stopped")
        if self.end_time is None and self.start_time is not None:
            self.scheduler.wait(timeout=timeout)
            self.finish(stopped=(mark_failed, mark_aborted))

    # --------------------------------------------------------------- state
    def is_running(self) -> bool:
        return self.start_time is not None and self.end_time is None

    def is_successful(self, fail_on_step_fail: bool = True, fail_condition: str = "all") -> bool:
        """False while running; else judged on the pipeline task and, with ``fail_on_step_fail``, on
        every step too (a step that failed with continue_on_fail makes the run unsuccessful)."""
        if fail_condition not in ("all", "failed", "aborted"):
            raise ValidationError.choice("fail_condition", fail_condition, ("all", "failed", "aborted"))
        if self.end_time is None:
            return False
        failing = {"all": ("failed", "stopped"), "failed": ("failed",), "aborted": ("stopped",)}[fail_condition]
        if self.task.get_status() in failing:
            return False
        if fail_on_step_fail:
            node_failing = {"failed": ("failed",), "stopped": ("aborted",)}
            bad = {s for f in failing for s in node_failing[f]}
            return not any(node.status in bad for node in self.nodes.values())
        return True

    def elapsed(self) -> float:
        """Minutes since the run started (-1 before)."""
        if self.start_time is None:
            return -1.0
        return ((self.end_time or time.time()) - self.start_time) / 60.0

    def store_dag(self) -> None:
        """The DAG with each step's status on the pipeline task (what `pipetrack pipelines show` and
        the UI's live DAG read)."""
        self._dag_dirty, self._dag_time = False, time.time()
        dag = {n.name: {"parents": n.parents, "status": n.status, "executed": n.executed, "queue": n.queue,
                        "return_names": n.return_names, "base_task_id": n.base_task_id,
                        "cache": n.cache_executed_step, "job_started": n.job_started, "job_ended": n.job_ended,
                        "error": n.error, "retries": n.retries}
               for n in self.nodes.values()}
        self.task._store.put_configs([(self.task.id, "Pipeline", json.dumps(dag, indent=1, default=str), "json",
                                       "pipeline DAG and step status")])

    def update_execution_plot(self) -> None:
        """Store the DAG coloured by step status as a plot on the pipeline task."""
        from .plot import dag_graph, execution_figure
        graph = self.graph
        if graph is None or len(graph) != len(self.nodes):
            graph = dag_graph({node.name: node.parents for node in self.nodes.values()})
        self._plot_dirty = False
        self._plot_time = time.time()
        figure = execution_figure(graph, self.nodes, f"{self.task.name} - execution flow")
        self.task._reports.add_plot(self.task.id, "Pipeline", "Execution Flow", 0, figure, replace=True)

    # --------------------------------------------------------------- executors
    def executor_for(self, node: Node):
        if self.executor_override is not None:
            return self.executor_override
        queue = node.queue or self.settings.default_queue
        spec = config.queue_map().get(queue) if queue else None
        if spec is None and queue is not None:
            from ..executors.queue import AgentQueueExecutor
            key = f"agent:{queue}"
            if key not in self.executors:
                self.executors[key] = AgentQueueExecutor(queue)
            return self.executors[key]
        spec = spec or "local"
        if spec not in self.executors:
            self.executors[spec] = get_executor(spec)
        return self.executors[spec]

    def _shutdown_executors(self) -> None:
        for executor in self.executors.values():
            executor.shutdown()
        self.executors.clear()

    # --------------------------------------------------------------- inputs
    def reference_value(self, ref: Reference, node: Node) -> Any:
        if ref.step == "pipeline":
            if ref.key not in self.pipeline_args:
                raise ValidationError(f"step {node.name!r}: unknown pipeline parameter ${{{ref.text}}}; "
                                      f"parameters: {sorted(self.pipeline_args)}")
            return self.pipeline_args[ref.key]
        upstream = self.nodes.get(ref.step)
        if upstream is None:
            raise ValidationError(f"step {node.name!r} references unknown step {ref.step!r} in ${{{ref.text}}}")
        if upstream.status not in SUCCESS_STATUSES:
            return None  # a failed parent whose children still run: its outputs default to None
        task = upstream.job.task if upstream.job else None
        if ref.kind == "id":
            return upstream.executed
        if ref.kind == "return":
            if ref.key not in upstream.outputs:
                if ref.key in (task.artifacts if task else {}):
                    return _artifact_input(task.artifacts[ref.key], upstream.name)
                raise ValidationError(f"step {node.name!r}: step {ref.step!r} has no return value {ref.key!r} "
                                      f"(it returns {list(upstream.return_names)})")
            return upstream.outputs[ref.key]
        if ref.kind == "artifact_url":
            artifact = task.artifacts.get(ref.key)
            if artifact is None:
                raise ValidationError(f"step {node.name!r}: step {ref.step!r} has no artifact {ref.key!r}")
            return artifact.url
        if ref.kind == "parameter":
            return task.get_parameter(ref.key)
        if ref.kind == "model_url":
            models = task.get_models()[ref.role]
            try:
                return models[ref.index].url
            except IndexError:
                raise ValidationError(f"step {node.name!r}: step {ref.step!r} has no {ref.role} model "
                                      f"#{ref.index}") from None
        raise ValidationError(f"unsupported reference ${{{ref.text}}}")

    def _resolve_kwargs(self, node: Node) -> dict[str, Any]:
        from ..tracking.task import Task
        resolved = {}
        for key, value in node.function_kwargs.items():
            if isinstance(value, str) and whole_reference(value) is None:
                legacy = LEGACY_ARTIFACT_REF.match(value)
                if legacy:
                    source = Task.get_task(task_id=legacy.group(1))
                    artifact = source.artifacts.get(legacy.group(2))
                    if artifact is not None:
                        resolved[key] = _artifact_input(artifact, source.name)
                        continue
            resolved[key] = substitute(value, lambda ref: self.reference_value(ref, node))
        return resolved

    # --------------------------------------------------------------- launch
    def _launch_node(self, node: Node):
        """The one launcher of both kinds of step: plan (inputs, cache key), reuse a cached task,
        else make the step's task, ask the callbacks, and submit its spec."""
        plan = self._plan_function_step(node) if node.function is not None else self._plan_task_step(node)
        node.resolved_kwargs = plan.inputs
        node.cache_key = plan.key
        if node.cache_executed_step and os.environ.get("PIPETRACK_IGNORE_CACHE", "") not in ("1", "true", "yes"):
            hit = find_cached_task(self.task._store, plan.key, plan.return_names, log=self.log)
            if hit is not None:
                return self._use_cached(node, hit["id"], plan.shown_inputs)
        if node.job is None or node.retries == 0:
            task = plan.make_task()
            node.job = Job(task)
            node.executed = task.id
        elif plan.key is not None:  # a retry reuses the (reset) task: give it its cache key back
            self.task._store.update_task(node.executed, cache_key=plan.key)
        if not self._call_pre_execute(node, plan.shown_inputs):
            return None
        return self._submit(node, plan.make_spec())

    def _plan_function_step(self, node: Node) -> StepPlan:
        kwargs = self._resolve_kwargs(node)
        # the key is computed (and recorded on the step task) only for cached steps: it may need
        # the content hash of a large upstream artifact, which uploads leave for later
        key = cache_key(code_fingerprint(node.function, node.helper_functions), kwargs, node.return_names,
                        node.packages, node.docker) if node.cache_executed_step else None

        def make_spec() -> StepSpec:
            call = _StepCallable(node.function, tuple(node.helper_functions))
            in_caller = self.executor_for(node).runs_in_caller and not node.draft  # a draft's spec is stored
            return StepSpec(task_id=node.executed, name=node.name,
                            function=None if in_caller else pickle_for_worker(call),
                            local_function=call if in_caller else None, kwargs=kwargs,
                            return_names=list(node.return_names), output_uri=node.output_uri,
                            serialization_function=self.settings.serialization_function,
                            deserialization_function=self.settings.deserialization_function,
                            working_dir=node.working_dir or self.settings.working_dir, time_limit=node.timeout,
                            **self.step_bindings.get(node.name, {}))
        return StepPlan(inputs=kwargs, shown_inputs=_display_params(kwargs), key=key,
                        return_names=list(node.return_names),
                        make_task=lambda: self._create_step_task(node, kwargs, key), make_spec=make_spec)

    def _plan_task_step(self, node: Node) -> StepPlan:
        from .task_steps import plan_task_step
        return plan_task_step(self, node)

    def _submit(self, node: Node, spec: StepSpec):
        if node.draft:
            return self._leave_draft(node, spec)
        executor = self.executor_for(node)
        if executor.records_remotely:
            from ..tracking.records import BUNDLE_VERSION, export_records
            store = self.task._store
            spec.task_bundle = export_records(store, spec.task_id)
            spec.parent_bundle = {"version": BUNDLE_VERSION, "project_name": self.project_name(),
                                  "task": store.stored_task_row(self.task.id)}
            spec.records_store = store.location
        else:
            spec.store_path = self.task._store.location
        if not executor.runs_in_caller:  # waiting for a worker (inline: it starts right now)
            self.task._store.update_task(spec.task_id, status="queued")
        node.job_started = time.time()
        self.set_node_status(node, "running")
        return executor.submit(spec)

    def _leave_draft(self, node: Node, spec: StepSpec) -> None:
        """``draft=True``: the step's task stays a Draft with its inputs (to edit and enqueue
        later); it does not run, so the node ends skipped and its children are skipped too."""
        task = node.job.task
        if spec.function is not None:  # what an agent needs to run it once enqueued (see executors/queue.py)
            from ..steps import store_step_spec
            spec.store_path = self.task._store.location
            runtime = dict(task.data.get("runtime") or {}, **store_step_spec(spec, task.get_output_destination()))
            self.task._store.update_task(task.id, runtime=runtime)
        self.log(f"step '{node.name}' is a draft: task {task.id} was created as a Draft and not run")
        node.job_started = node.job_ended = time.time()
        self.set_node_status(node, "skipped", f"draft step: task {task.id} created as a Draft, not run")
        return None

    def _call_pre_execute(self, node: Node, params: dict) -> bool:
        for callback in (self.step_task_created_callback, node.pre_execute_callback):
            if callback is not None and callback(self.owner, node, params) is False:
                if node.job is not None and not node.job.cached:
                    node.job.task._store.end_task(node.executed, "stopped", "skipped by pre_execute_callback")
                self.set_node_status(node, "skipped", "skipped by pre_execute_callback")
                return False
        return True

    def _use_cached(self, node: Node, task_id: str, kwargs: dict):
        from ..tracking.task import Task
        task = Task.get_task(task_id=task_id)
        node.job = Job(task, cached=True)
        node.executed = task.id
        if not self._call_pre_execute(node, _display_params(kwargs)):
            return None
        artifacts = task.artifacts
        node.outputs = {name: _artifact_input(artifacts[name], node.name) for name in node.return_names}
        self.log(f"cache hit: step '{node.name}' reuses task {task.id}")
        notice(f"step '{node.name}' cached: reusing the outputs of task {task.id}")
        node.job_started = node.job_ended = time.time()
        self.set_node_status(node, "cached")
        self._after_success(node)
        return None

    def _create_step_task(self, node: Node, kwargs: dict, key: Optional[str]) -> Any:
        from ..tracking.task import Task
        store = self.task._store
        project = node.project_name or (self.settings.target_project if isinstance(self.settings.target_project, str)
                                        else self.project_name())
        func = inspect.unwrap(node.function)
        source = function_source(func)[0]
        tags = list(node.tags) + ([f"pipe: {self.task.id}"] if self.settings.add_pipeline_tags else [])
        script = {"entry_point": f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}",
                  "diff": source, "working_dir": node.working_dir or self.settings.working_dir or os.getcwd(),
                  "binary": os.path.basename(sys.executable), "requirements": _packages_text(node.packages)}
        if node.repo:  # an agent runs the step in a checkout of that repository (its modules importable)
            script.update(repository=node.repo, branch=node.repo_branch or "", version_num=node.repo_commit or "",
                          working_dir=".")
        task_id = self._insert_step_task(store, project, node, tags, script, key, kwargs)
        return Task._from_row(store, store.task_row(task_id))

    def _insert_step_task(self, store: Any, project: str, node: Node, tags: list, script: dict, key: Optional[str],
                          kwargs: dict) -> str:
        """Store the step's Draft task and its ``kwargs``/``kwargs_artifacts`` parameters (one transaction)."""
        from ..tracking.parameters import encode_value
        from ..tracking.task import _insert_task
        container = ({"image": node.docker, "arguments": node.docker_args or "",
                      "setup_shell_script": node.docker_bash_setup_script or ""} if node.docker else {})
        with store.atomic():
            task_id = _insert_task(store, project, node.task_name or node.name, node.task_type or "training",
                                   tags=tags, created_by="pipeline", parent=self.task.id, script=script,
                                   cache_key=key, output_uri=node.output_uri or self.settings.output_uri, container=container,
                                   runtime={"created_by": "pipeline", "pipeline_step": node.name,
                                            "pipeline_id": self.task.id})
            params = []
            for name, value in kwargs.items():
                if isinstance(value, ArtifactInput):
                    producer = self.nodes.get(value.producer)
                    params.append((task_id, "kwargs_artifacts", name,
                                   f"{producer.executed if producer else ''}.{_artifact_name(value)}", "str", None))
                else:
                    text, type_name = encode_value(value)
                    params.append((task_id, "kwargs", name, text, type_name, None))
            store.put_params(params)
        return task_id

    def project_name(self) -> str:
        if self._project_cache is None:
            self._project_cache = self.task.get_project_name()
        return self._project_cache

    # --------------------------------------------------------------- completion
    def _complete_node(self, node: Node, result: Any) -> bool:
        """Interpret a finished job; True means 'launch it again' (a retry)."""
        if isinstance(result, BaseException):  # the executor (or the launch) failed, not the step's code
            result = StepResult(task_id=node.executed, status="failed", error=f"{type(result).__name__}: {result}")
        if result.records is not None:
            from ..tracking.records import import_records
            store = self.task._store
            import_records(store, result.records, replace_outputs=True)  # replaces what live snapshots wrote
            if result.parent_records:  # what the step reported to this pipeline task: records only
                live = store.stored_task_row(self.task.id)
                import_records(store, dict(result.parent_records, task=live), replace=False)
        node.job_ended = time.time()
        if result.attempts:
            self._record_attempts(node, result.attempts)
        if result.status == "completed":
            node.outputs = {name: ArtifactInput(url=a["uri"], type=a["type"], extension=a.get("extension"),
                                                hash=a.get("hash"), producer=node.name,
                                                value=result.values.get(name), has_value=name in result.values)
                            for name, a in result.artifacts.items()}
            self.set_node_status(node, "completed")
            self._after_success(node)
            return False
        node.error = result.error
        node.exception = result.original_exception()
        if node.exception is not None and result.raised is None and result.traceback \
                and node.exception.__cause__ is None:  # its frames stayed in the worker: their text travels
            node.exception.__cause__ = StepTraceback(f"step '{node.name}' (task {node.executed}) failed on "
                                                     f"{result.worker or 'its worker'}:\n{result.traceback}")
        # a step that could not record its own end (lost worker, time limit, cancelled) is closed here
        self.task._store.end_task(node.executed, "stopped" if result.status == "stopped" else "failed",
                                   result.error)
        if result.status == "failed" and node.job is not None and self._should_retry(node):
            node.retries += 1
            self.log(f"step '{node.name}' failed ({result.error}); retry {node.retries}")
            node.job.task.reset(force=True)
            return True
        status = "failed" if result.status == "failed" else "aborted"
        self.log(f"step '{node.name}' {status}: {result.error}")
        self.set_node_status(node, status, result.error)
        if node.post_execute_callback is not None:
            node.post_execute_callback(self.owner, node)
        behaviour = node.continue_behaviour["continue_on_fail" if status == "failed" else "continue_on_abort"]
        if result.raised is not None and (isinstance(result.raised, KeyboardInterrupt)
                                          or (self.propagate_step_errors and not behaviour)):
            self.scheduler.propagate = result.raised  # debug mode: the component call raises it
        if not behaviour:
            self.failed_nodes.append(node.name)
            if self.settings.abort_on_failure and not self.scheduler.stopping:  # the first failure is the reason
                self.abort_reason = f"step '{node.name}' {status}: {result.error}"
                self.scheduler.stop(f"pipeline aborted: step '{node.name}' {status}")
        return False

    def _record_attempts(self, node: Node, attempts: list) -> None:
        """A step the cluster ran more than once: every run in its task's runtime (``attempts``) and a
        line per run on its console and the pipeline's."""
        store = self.task._store
        row = store.task_row(node.executed)
        store.update_task(node.executed, runtime=dict(row.get("runtime") or {}, attempts=attempts))
        for number, run in enumerate(attempts, 1):
            line = (f"attempt {number} of step '{node.name}' on {run['worker']}: {run.get('outcome', '?')} "
                    f"after {run.get('ended', run['started']) - run['started']:.1f}s ({run.get('why', '')})")
            self.task._reports.add_console(node.executed, f"pipetrack: {line}")
            self.log(line)

    def _after_success(self, node: Node) -> None:
        self._copy_monitored(node)
        if node.post_execute_callback is not None:
            node.post_execute_callback(self.owner, node)
        if self.step_task_completed_callback is not None:
            self.step_task_completed_callback(self.owner, node)

    def _should_retry(self, node: Node) -> bool:
        policy = node.retry_on_failure if node.retry_on_failure is not None else self.settings.retry_on_failure
        if policy is None or self.scheduler.stopping:
            return False
        if callable(policy):
            return bool(policy(self.owner, node, node.retries))
        return node.retries < int(policy)

    def set_node_status(self, node: Node, status: str, message: str = "") -> None:
        self.scheduler.set_status(node, status, message)

    def _status_changed(self, node: Node, previous: str) -> None:
        """Bookkeeping of a status change (told by the scheduler, which keeps the counts)."""
        self._dag_dirty = True
        if node.is_finished:
            node.job_ended = node.job_ended or time.time()
            total, finished = len(self.nodes), self.scheduler.finished_count
            # stored when the whole percent changes (ClearML's progress is 0-100): a write per step
            # made a 10,000-step run pay 10,000 transactions for one number
            percent = int(100 * finished / total) if total else 0
            if total and percent != self._progress_stored:
                self._progress_stored = percent
                self.task._store.update_task(self.task.id, progress=100.0 * finished / total)
            self._plot_dirty = True
        if previous != node.status and node.status_change_callback is not None:
            node.status_change_callback(self.owner, node, previous)

    def hooks(self) -> RunHooks:
        """What the scheduler drives this run through (see scheduler.RunHooks)."""
        return RunHooks(launch=self._launch_node, complete=self._complete_node, status_changed=self._status_changed,
                        cancel=self._cancel_node, tick=self._on_tick, log=self.log,
                        propagate_step_errors=lambda: self.propagate_step_errors)

    def _cancel_node(self, node: Node) -> None:
        if node.executed:
            self.executor_for(node).cancel(node.executed)

    def _on_tick(self) -> None:
        """Driver-thread housekeeping: pipeline time limit, step time limits, plot/DAG refresh, progress line."""
        now = time.time()
        if self.settings.time_limit and self.start_time and now - self.start_time > self.settings.time_limit \
                and not self.scheduler.stopping:
            self.abort_reason = f"pipeline execution time limit of {self.settings.time_limit:.0f}s exceeded"
            self.log(self.abort_reason)
            self.scheduler.stop(self.abort_reason)
        for name in list(self.scheduler.running):  # executors enforce time limits; this is the backstop
            node = self.nodes[name]
            limit = node.timeout + TIME_LIMIT_GRACE_SECONDS if node.timeout else None
            # job_started (submit time) is never after the real start: no query until it could be late
            if limit and node.executed and now - (node.job_started or now) > limit:
                row = self.task._store.task_state(node.executed)  # from its real start, not its queueing
                if row and row["status"] == "in_progress" and row["started"] and now - row["started"] > limit:
                    self._cancel_node(node)
        if self._plot_dirty and now - self._plot_time > 2.0:
            self.update_execution_plot()
        if self._dag_dirty and now - self._dag_time > DAG_REFRESH_SECONDS:
            self.store_dag()  # what `pipetrack pipelines show` and the UI's live DAG read
        if self._progress is not None:
            self._progress.update(self.nodes)

    def _start_progress(self) -> None:
        """The terminal progress line (draws nothing unless stdout is a TTY), before any step starts:
        step processes must see that a line is drawn on their terminal (pipetrack.terminal)."""
        from .progress import TerminalProgress
        self._progress = TerminalProgress()

    # --------------------------------------------------------------- monitors
    def _copy_monitored(self, node: Node) -> None:
        if not (node.monitor_metrics or node.monitor_artifacts or node.monitor_models):
            return
        step_task = node.job.task
        logger = self.task.get_logger()
        if node.monitor_metrics:
            scalars = step_task.get_all_reported_scalars()
            for entry in node.monitor_metrics:
                (title, series), (to_title, to_series) = metric_pair(entry)
                graph = scalars.get(title, {}).get(series)
                if graph:
                    for x, y in zip(graph["x"], graph["y"]):
                        logger.report_scalar(to_title, to_series, y, x)
        if node.monitor_artifacts:
            artifacts = step_task.artifacts
            for entry in node.monitor_artifacts:
                source, target = (entry, entry) if isinstance(entry, str) else tuple(entry)
                artifact = artifacts.get(source)
                if artifact is not None:
                    self._link_artifact(artifact, target)
        if node.monitor_models:
            from ..tracking.models import _link
            outputs = step_task.get_models()["output"]
            for entry in node.monitor_models:
                source, target = (entry, entry) if isinstance(entry, str) else tuple(entry)
                if source == "*":
                    chosen = outputs[-1:] if outputs else []
                elif source.endswith("*"):
                    matches = sorted((m for m in outputs if m.name.startswith(source[:-1])), key=lambda m: m.name)
                    chosen = matches[-1:]
                else:
                    chosen = [m for m in outputs if m.name == source][-1:]
                for model in chosen:
                    _link(self.task._store, self.task.id, model.id, "output",
                          model.name if target.endswith("*") or target == "*" else target)

    def _link_artifact(self, artifact: Any, target: str) -> None:
        # mode 'linked': the file belongs to the step; resetting/deleting the pipeline must not remove it
        self.task._store.put_artifacts([dict(artifact._row, task_id=self.task.id, name=target, mode="linked")])

    def log(self, message: str) -> None:
        self.task._reports.add_console(self.task.id, f"pipetrack: {message}")




def pickle_for_worker(obj: Any) -> bytes:
    """``obj`` pickled to travel to a step worker (by value, keeping its source for the cache key);
    ValidationError naming what cloudpickle refused."""
    from ..pickling import dumps_keeping_source
    try:
        return dumps_keeping_source(obj)
    except Exception as exc:
        raise ValidationError(f"{obj!r} can't be sent to a step worker (cloudpickle failed: {exc}); "
                              "define the function at module level or pass plain arguments") from None


def metric_pair(entry: Any) -> tuple[tuple[str, str], tuple[str, str]]:
    """((title, series), (to_title, to_series)) of a monitor_metrics entry; ValidationError naming
    a malformed one (also a short or non-pair inner tuple, which used to raise IndexError)."""
    try:
        first, second = entry
        if isinstance(first, (list, tuple)):
            (title, series), (to_title, to_series) = first, second
            return (title, series), (to_title, to_series)
    except (TypeError, ValueError):
        raise ValidationError(f"monitor_metrics entries are (title, series) or ((title, series), (title, series)); "
                              f"got {entry!r}") from None
    return (first, second), (first, second)


def _artifact_input(artifact: Any, producer: str) -> ArtifactInput:
    return ArtifactInput(url=artifact.url, type=artifact.type, extension=artifact._row.get("extension"),
                         hash=artifact._row.get("hash"), producer=producer)


def _artifact_name(value: ArtifactInput) -> str:
    return value.url.rstrip("/").split("/")[-2] if "/" in value.url else value.url


def _display_params(kwargs: dict) -> dict:
    return {k: (f"${{{v.producer}.{_artifact_name(v)}}}" if isinstance(v, ArtifactInput) else v)
            for k, v in kwargs.items()}


def _packages_text(packages: Any) -> str:
    if not packages:
        return ""
    if isinstance(packages, str):
        return open(packages).read() if os.path.isfile(packages) else packages
    return "\n".join(map(str, packages))
