"""What happens to one node when it runs: resolve inputs, check the cache, create the step
task, hand a StepSpec to an executor, and interpret the result (retry, skip, fail, abort,
monitors, callbacks, progress). A mixin of PipelineController; the loop deciding *when* is
``scheduler.py``.
"""
from __future__ import annotations

import inspect
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .. import config
from ..errors import StepTraceback, ValidationError
from ..terminal import notice
from ..executors.base import get_executor
from ..steps import ArtifactInput, StepResult, StepSpec
from .cache import cache_key, code_fingerprint, find_cached_task, function_source
from .node import SUCCESS_STATUSES, Job, Node
from .references import Reference, substitute, whole_reference

LEGACY_ARTIFACT_REF = re.compile(r"^([0-9a-f]{32})\.([^\s/]+)$")
DAG_REFRESH_SECONDS = 0.5  # how stale the stored DAG (statuses) may get while a run goes on
TIME_LIMIT_GRACE_SECONDS = 5.0  # how long past its time limit a step may run before the controller cancels it


@dataclass
class StepPlan:
    """What launching one step needs, whatever its kind (function or task step): its resolved
    inputs (and how callbacks and the cached notice show them), its cache key (None when it is
    not cached), the outputs a cache hit must have, and how to make its task and its spec."""

    inputs: dict
    shown_inputs: dict
    key: Optional[str]
    return_names: list
    make_task: Callable[[], Any]
    make_spec: Callable[[], StepSpec]


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


class RunMixin:
    """Node launch/completion logic of a pipeline run (see module docstring)."""

    # --------------------------------------------------------------- executors
    def _executor_for(self, node: Node):
        if self._executor_override is not None:
            return self._executor_override
        queue = node.queue or self._default_queue
        spec = config.queue_map().get(queue) if queue else None
        if spec is None and queue is not None:
            from ..executors.queue import AgentQueueExecutor
            key = f"agent:{queue}"
            if key not in self._executors:
                self._executors[key] = AgentQueueExecutor(queue)
            return self._executors[key]
        spec = spec or "local"
        if spec not in self._executors:
            self._executors[spec] = get_executor(spec)
        return self._executors[spec]

    def _shutdown_executors(self) -> None:
        for executor in self._executors.values():
            executor.shutdown()
        self._executors.clear()

    # --------------------------------------------------------------- inputs
    def _reference_value(self, ref: Reference, node: Node) -> Any:
        if ref.step == "pipeline":
            if ref.key not in self._pipeline_args:
                raise ValidationError(f"step {node.name!r}: unknown pipeline parameter ${{{ref.text}}}; "
                                      f"parameters: {sorted(self._pipeline_args)}")
            return self._pipeline_args[ref.key]
        upstream = self._nodes.get(ref.step)
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
            resolved[key] = substitute(value, lambda ref: self._reference_value(ref, node))
        return resolved

    # --------------------------------------------------------------- launch
    def _launch_node(self, node: Node):
        """The one launcher of both kinds of step: plan (inputs, cache key), reuse a cached task,
        else make the step's task, ask the callbacks, and submit its spec."""
        plan = self._plan_function_step(node) if node.function is not None else self._plan_task_step(node)
        node.resolved_kwargs = plan.inputs
        node.cache_key = plan.key
        if node.cache_executed_step and os.environ.get("PIPETRACK_IGNORE_CACHE", "") not in ("1", "true", "yes"):
            hit = find_cached_task(self._task._store, plan.key, plan.return_names, log=self._log)
            if hit is not None:
                return self._use_cached(node, hit["id"], plan.shown_inputs)
        if node.job is None or node.retries == 0:
            task = plan.make_task()
            node.job = Job(task)
            node.executed = task.id
        elif plan.key is not None:  # a retry reuses the (reset) task: give it its cache key back
            self._task._store.update_task(node.executed, cache_key=plan.key)
        if not self._call_pre_execute(node, plan.shown_inputs):
            return None
        return self._submit(node, plan.make_spec())

    def _plan_function_step(self, node: Node) -> "StepPlan":
        kwargs = self._resolve_kwargs(node)
        # the key is computed (and recorded on the step task) only for cached steps: it may need
        # the content hash of a large upstream artifact, which uploads leave for later
        key = cache_key(code_fingerprint(node.function, node.helper_functions), kwargs, node.return_names,
                        node.packages, node.docker) if node.cache_executed_step else None

        def make_spec() -> StepSpec:
            call = _StepCallable(node.function, tuple(node.helper_functions))
            in_caller = self._executor_for(node).runs_in_caller and not node.draft  # a draft's spec is stored
            return StepSpec(task_id=node.executed, name=node.name, function=None if in_caller else self._pickle(call),
                            local_function=call if in_caller else None, kwargs=kwargs,
                            return_names=list(node.return_names), output_uri=node.output_uri,
                            serialization_function=self._serialization_function,
                            deserialization_function=self._deserialization_function,
                            working_dir=node.working_dir or self._working_dir, time_limit=node.timeout,
                            **self._step_bindings.get(node.name, {}))
        return StepPlan(inputs=kwargs, shown_inputs=_display_params(kwargs), key=key,
                        return_names=list(node.return_names),
                        make_task=lambda: self._create_step_task(node, kwargs, key), make_spec=make_spec)

    def _plan_task_step(self, node: Node) -> "StepPlan":
        from .task_steps import plan_task_step
        return plan_task_step(self, node)

    def _submit(self, node: Node, spec: StepSpec):
        if node.draft:
            return self._leave_draft(node, spec)
        executor = self._executor_for(node)
        if executor.records_remotely:
            from ..tracking.records import BUNDLE_VERSION, export_records
            store = self._task._store
            spec.task_bundle = export_records(store, spec.task_id)
            spec.parent_bundle = {"version": BUNDLE_VERSION, "project_name": self._project_name(),
                                  "task": store.stored_task_row(self._task.id)}
            spec.records_store = store.location
        else:
            spec.store_path = self._task._store.location
        if not executor.runs_in_caller:  # waiting for a worker (inline: it starts right now)
            self._task._store.update_task(spec.task_id, status="queued")
        node.job_started = time.time()
        self._set_node_status(node, "running")
        return executor.submit(spec)

    def _leave_draft(self, node: Node, spec: StepSpec) -> None:
        """``draft=True``: the step's task stays a Draft with its inputs (to edit and enqueue
        later); it does not run, so the node ends skipped and its children are skipped too."""
        task = node.job.task
        if spec.function is not None:  # what an agent needs to run it once enqueued (see executors/queue.py)
            from ..steps import store_step_spec
            spec.store_path = self._task._store.location
            runtime = dict(task.data.get("runtime") or {}, **store_step_spec(spec, task.get_output_destination()))
            self._task._store.update_task(task.id, runtime=runtime)
        self._log(f"step '{node.name}' is a draft: task {task.id} was created as a Draft and not run")
        node.job_started = node.job_ended = time.time()
        self._set_node_status(node, "skipped", f"draft step: task {task.id} created as a Draft, not run")
        return None

    def _pickle(self, obj: Any) -> bytes:
        from ..pickling import dumps_keeping_source
        try:
            return dumps_keeping_source(obj)
        except Exception as exc:
            raise ValidationError(f"{obj!r} can't be sent to a step worker (cloudpickle failed: {exc}); "
                                  "define the function at module level or pass plain arguments") from None

    def _call_pre_execute(self, node: Node, params: dict) -> bool:
        for callback in (self._step_task_created_callback, node.pre_execute_callback):
            if callback is not None and callback(self, node, params) is False:
                if node.job is not None and not node.job.cached:
                    node.job.task._store.end_task(node.executed, "stopped", "skipped by pre_execute_callback")
                self._set_node_status(node, "skipped", "skipped by pre_execute_callback")
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
        self._log(f"cache hit: step '{node.name}' reuses task {task.id}")
        notice(f"step '{node.name}' cached: reusing the outputs of task {task.id}")
        node.job_started = node.job_ended = time.time()
        self._set_node_status(node, "cached")
        self._after_success(node)
        return None

    def _create_step_task(self, node: Node, kwargs: dict, key: Optional[str]) -> Any:
        from ..tracking.task import Task
        store = self._task._store
        project = node.project_name or (self._target_project if isinstance(self._target_project, str)
                                        else self._project_name())
        func = inspect.unwrap(node.function)
        source = function_source(func)[0]
        tags = list(node.tags) + ([f"pipe: {self._task.id}"] if self._add_pipeline_tags else [])
        script = {"entry_point": f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}",
                  "diff": source, "working_dir": node.working_dir or self._working_dir or os.getcwd(),
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
                                   tags=tags, created_by="pipeline", parent=self._task.id, script=script,
                                   cache_key=key, output_uri=node.output_uri or self._output_uri, container=container,
                                   runtime={"created_by": "pipeline", "pipeline_step": node.name,
                                            "pipeline_id": self._task.id})
            params = []
            for name, value in kwargs.items():
                if isinstance(value, ArtifactInput):
                    producer = self._nodes.get(value.producer)
                    params.append((task_id, "kwargs_artifacts", name,
                                   f"{producer.executed if producer else ''}.{_artifact_name(value)}", "str", None))
                else:
                    text, type_name = encode_value(value)
                    params.append((task_id, "kwargs", name, text, type_name, None))
            store.put_params(params)
        return task_id

    def _project_name(self) -> str:
        if self._project_cache is None:
            self._project_cache = self._task.get_project_name()
        return self._project_cache

    # --------------------------------------------------------------- completion
    def _complete_node(self, node: Node, result: Any) -> bool:
        """Interpret a finished job; True means 'launch it again' (a retry)."""
        if isinstance(result, BaseException):  # the executor (or the launch) failed, not the step's code
            result = StepResult(task_id=node.executed, status="failed", error=f"{type(result).__name__}: {result}")
        if result.records is not None:
            from ..tracking.records import import_records
            store = self._task._store
            import_records(store, result.records, replace_outputs=True)  # replaces what live snapshots wrote
            if result.parent_records:  # what the step reported to this pipeline task: records only
                live = store.stored_task_row(self._task.id)
                import_records(store, dict(result.parent_records, task=live), replace=False)
        node.job_ended = time.time()
        if result.attempts:
            self._record_attempts(node, result.attempts)
        if result.status == "completed":
            node.outputs = {name: ArtifactInput(url=a["uri"], type=a["type"], extension=a.get("extension"),
                                                hash=a.get("hash"), producer=node.name,
                                                value=result.values.get(name), has_value=name in result.values)
                            for name, a in result.artifacts.items()}
            self._set_node_status(node, "completed")
            self._after_success(node)
            return False
        node.error = result.error
        node.exception = result.original_exception()
        if node.exception is not None and result.raised is None and result.traceback \
                and node.exception.__cause__ is None:  # its frames stayed in the worker: their text travels
            node.exception.__cause__ = StepTraceback(f"step '{node.name}' (task {node.executed}) failed on "
                                                     f"{result.worker or 'its worker'}:\n{result.traceback}")
        # a step that could not record its own end (lost worker, time limit, cancelled) is closed here
        self._task._store.end_task(node.executed, "stopped" if result.status == "stopped" else "failed",
                                   result.error)
        if result.status == "failed" and node.job is not None and self._should_retry(node):
            node.retries += 1
            self._log(f"step '{node.name}' failed ({result.error}); retry {node.retries}")
            node.job.task.reset(force=True)
            return True
        status = "failed" if result.status == "failed" else "aborted"
        self._log(f"step '{node.name}' {status}: {result.error}")
        self._set_node_status(node, status, result.error)
        if node.post_execute_callback is not None:
            node.post_execute_callback(self, node)
        behaviour = node.continue_behaviour["continue_on_fail" if status == "failed" else "continue_on_abort"]
        if result.raised is not None and (isinstance(result.raised, KeyboardInterrupt)
                                          or (self._propagate_step_errors and not behaviour)):
            self._scheduler.propagate = result.raised  # debug mode: the component call raises it
        if not behaviour:
            self._failed_nodes.append(node.name)
            if self._abort_on_failure and not self._scheduler.stopping:  # the first failure is the reason
                self._abort_reason = f"step '{node.name}' {status}: {result.error}"
                self._scheduler.stop(f"pipeline aborted: step '{node.name}' {status}")
        return False

    def _record_attempts(self, node: Node, attempts: list) -> None:
        """A step the cluster ran more than once: every run in its task's runtime (``attempts``) and a
        line per run on its console and the pipeline's."""
        store = self._task._store
        row = store.task_row(node.executed)
        store.update_task(node.executed, runtime=dict(row.get("runtime") or {}, attempts=attempts))
        for number, run in enumerate(attempts, 1):
            line = (f"attempt {number} of step '{node.name}' on {run['worker']}: {run.get('outcome', '?')} "
                    f"after {run.get('ended', run['started']) - run['started']:.1f}s ({run.get('why', '')})")
            self._task._reports.add_console(node.executed, f"pipetrack: {line}")
            self._log(line)

    def _after_success(self, node: Node) -> None:
        self._copy_monitored(node)
        if node.post_execute_callback is not None:
            node.post_execute_callback(self, node)
        if self._step_task_completed_callback is not None:
            self._step_task_completed_callback(self, node)

    def _should_retry(self, node: Node) -> bool:
        policy = node.retry_on_failure if node.retry_on_failure is not None else self._retry_on_failure
        if policy is None or self._scheduler.stopping:
            return False
        if callable(policy):
            return bool(policy(self, node, node.retries))
        return node.retries < int(policy)

    def _set_node_status(self, node: Node, status: str, message: str = "") -> None:
        self._scheduler.set_status(node, status, message)

    def _status_changed(self, node: Node, previous: str) -> None:
        """Bookkeeping of a status change (told by the scheduler, which keeps the counts)."""
        self._dag_dirty = True
        if node.is_finished:
            node.job_ended = node.job_ended or time.time()
            total, finished = len(self._nodes), self._scheduler.finished_count
            # stored when the whole percent changes (ClearML's progress is 0-100): a write per step
            # made a 10,000-step run pay 10,000 transactions for one number
            percent = int(100 * finished / total) if total else 0
            if total and percent != self._progress_stored:
                self._progress_stored = percent
                self._task._store.update_task(self._task.id, progress=100.0 * finished / total)
            self._plot_dirty = True
        if previous != node.status and node.status_change_callback is not None:
            node.status_change_callback(self, node, previous)

    def _run_hooks(self) -> Any:
        """What the scheduler drives this run through (see scheduler.RunHooks)."""
        from .scheduler import RunHooks
        return RunHooks(launch=self._launch_node, complete=self._complete_node, status_changed=self._status_changed,
                        cancel=self._cancel_node, tick=self._on_tick, log=self._log,
                        propagate_step_errors=lambda: self._propagate_step_errors)

    def _cancel_node(self, node: Node) -> None:
        if node.executed:
            self._executor_for(node).cancel(node.executed)

    def _on_tick(self) -> None:
        """Driver-thread housekeeping: pipeline time limit, step time limits, plot/DAG refresh, progress line."""
        now = time.time()
        if self._time_limit and self._start_time and now - self._start_time > self._time_limit \
                and not self._scheduler.stopping:
            self._abort_reason = f"pipeline execution time limit of {self._time_limit:.0f}s exceeded"
            self._log(self._abort_reason)
            self._scheduler.stop(self._abort_reason)
        for name in list(self._scheduler.running):  # executors enforce time limits; this is the backstop
            node = self._nodes[name]
            limit = node.timeout + TIME_LIMIT_GRACE_SECONDS if node.timeout else None
            # job_started (submit time) is never after the real start: no query until it could be late
            if limit and node.executed and now - (node.job_started or now) > limit:
                row = self._task._store.task_state(node.executed)  # from its real start, not its queueing
                if row and row["status"] == "in_progress" and row["started"] and now - row["started"] > limit:
                    self._cancel_node(node)
        if self._plot_dirty and now - self._plot_time > 2.0:
            self.update_execution_plot()
        if self._dag_dirty and now - self._dag_time > DAG_REFRESH_SECONDS:
            self._store_dag()  # what `pipetrack pipelines show` and the UI's live DAG read
        if self._progress is not None:
            self._progress.update(self._nodes)

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
        logger = self._task.get_logger()
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
                    _link(self._task._store, self._task.id, model.id, "output",
                          model.name if target.endswith("*") or target == "*" else target)

    def _link_artifact(self, artifact: Any, target: str) -> None:
        # mode 'linked': the file belongs to the step; resetting/deleting the pipeline must not remove it
        self._task._store.put_artifacts([dict(artifact._row, task_id=self._task.id, name=target, mode="linked")])

    def _log(self, message: str) -> None:
        self._task._reports.add_console(self._task.id, f"pipetrack: {message}")


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
