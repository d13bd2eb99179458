"""What a ``PipelineController`` and a ``@PipelineDecorator.pipeline`` call share: the pipeline's
``controller`` task and the :class:`~pipetrack.pipelines.run.PipelineRun` they hold.

:class:`PipelineHandle` checks the pipeline's options, opens its task (this process's main task,
the task an agent runs us for, or a task of its own for multi-instance pipelines), builds the
run and answers what ClearML's pipeline object answers about it (``id``, ``is_running``,
``get_pipeline_dag``, ...). How nodes are added is each front end's own: the controller builds
the whole DAG before it starts (``controller.py``), the decorator adds a node per component
call while the run goes on (``decorator.py``). Neither subclasses the other.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Optional, Sequence

from ..errors import NotFoundError, ValidationError
from .node import Node
from .run import PipelineRun, RunSettings, current_run, pickle_for_worker
from .versions import DEFAULT_VERSION, PIPELINE_TAG, claim_run, pick_run, pipeline_runs

PARAM_SECTION = "Pipeline"  # pipeline parameters are stored as Pipeline/<name>


def check_callback(name: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise ValidationError(f"{name} must be callable, got {value!r}")


def check_step_bindings(step: str, frameworks: Any, arg_parser: Any) -> dict:
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


def check_retry(value: Any) -> None:
    if value is None or callable(value) or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return
    raise ValidationError(f"retry_on_failure must be a non-negative int or a callable(pipeline, node, retries), "
                          f"got {value!r}")


def open_pipeline_task(name: str, project: str, version: Optional[str], add_run_number: bool, output_uri: Any,
                       standalone: bool = False) -> tuple[Any, bool, str]:
    """The pipeline's ``controller`` task, whether this run owns it, and the run's version: this
    process's main task (Task.init, or the task an agent runs us for), or — ``standalone``, for
    multi-instance pipelines — a task of its own."""
    from ..tracking.task import Task, _insert_task
    existing = None if standalone else Task.current_task()
    owns = existing is None
    if existing is not None:
        task = existing
    elif not standalone:
        task = Task.init(project_name=project, task_name=name, task_type="controller", reuse_last_task_id=False,
                         output_uri=output_uri, auto_connect_arg_parser=False, auto_resource_monitoring=False)
    else:
        from ..store import default_store
        from ..tracking.task import _normalise_output_uri
        store = default_store()
        task_id = _insert_task(store, project, name, "controller", created_by="pipeline",
                               output_uri=_normalise_output_uri(output_uri) if output_uri else None)
        task = Task._from_row(store, store.task_row(task_id), owner=True)
        task.mark_started()
    if task._remote:  # an agent runs an enqueued run: it already has its name, number and version
        runtime = dict(task.data.get("runtime") or {}, pipeline_name=name)
        system_tags = list(dict.fromkeys([*task.data["system_tags"], PIPELINE_TAG]))
        task._store.update_task(task.id, type="controller", runtime=runtime, system_tags=system_tags)
        version = runtime.get("version") or version or DEFAULT_VERSION
    else:
        _number, version = claim_run(task._store, task.id, project, name, version, add_run_number)
    task.reload()
    return task, owns, version


class PipelineHandle:
    """A pipeline as its user holds it: options checked, its task opened, its run built."""

    Node = Node

    def __init__(self, name: str, project: str, version: Optional[str] = None, add_pipeline_tags: bool = False,
                 target_project: Any = True, abort_on_failure: bool = False, add_run_number: bool = True,
                 retry_on_failure: Any = None, docker: Optional[str] = None, docker_args: Optional[str] = None,
                 docker_bash_setup_script: Optional[str] = None, packages: Any = None, repo: Optional[str] = None,
                 repo_branch: Optional[str] = None, repo_commit: Optional[str] = None,
                 artifact_serialization_function: Optional[Callable[[Any], bytes]] = None,
                 artifact_deserialization_function: Optional[Callable[[bytes], Any]] = None,
                 output_uri: Any = None, working_dir: Optional[str] = None, standalone_task: bool = False):
        for label, value in (("name", name), ("project", project)):
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(f"pipeline {label} must be a non-empty string, got {value!r}")
        if version is not None and (not isinstance(version, str) or not version.strip()):
            raise ValidationError(f"pipeline version must be a string such as '1.0.0', got {version!r}")
        check_retry(retry_on_failure)
        for label, fn in (("artifact_serialization_function", artifact_serialization_function),
                          ("artifact_deserialization_function", artifact_deserialization_function)):
            check_callback(label, fn)
        self._name = name
        self._project = project
        self._version_given = version
        self._repo = (repo, repo_branch, repo_commit)  # where an agent checks the controller out (remote.py)
        # docker_args / docker_bash_setup_script: where the controller itself would run; steps take their own
        settings = RunSettings(
            abort_on_failure=bool(abort_on_failure), retry_on_failure=retry_on_failure,
            add_pipeline_tags=bool(add_pipeline_tags), target_project=target_project, packages=packages,
            docker=docker, working_dir=working_dir,
            serialization_function=pickle_for_worker(artifact_serialization_function)
            if artifact_serialization_function else None,
            deserialization_function=pickle_for_worker(artifact_deserialization_function)
            if artifact_deserialization_function else None)
        task, owns, self._version = open_pipeline_task(name, project, version, add_run_number, output_uri,
                                                       standalone=standalone_task)
        settings.output_uri = task._row.get("output_uri")
        self._run = PipelineRun(task, owns, settings, owner=self)

    @property
    def id(self) -> str:
        return self._run.task.id

    @property
    def task(self):
        return self._run.task

    @property
    def version(self) -> str:
        return self._version

    def get_parameters(self) -> dict[str, Any]:
        return dict(self._run.pipeline_args)

    # ------------------------------------------------------------------ state
    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for the pipeline to finish (``timeout`` in minutes); False if it timed out."""
        return self._run.wait(timeout=None if timeout is None else timeout * 60.0)

    def stop(self, timeout: Optional[float] = None, mark_failed: bool = False, mark_aborted: bool = False) -> None:
        """Stop the pipeline: running steps are aborted, pending ones skipped; the run ends completed
        unless a step failed or ``mark_failed`` / ``mark_aborted`` say otherwise."""
        self._run.stop(timeout=None if timeout is None else timeout * 60.0, mark_failed=mark_failed,
                       mark_aborted=mark_aborted)

    def is_running(self) -> bool:
        return self._run.is_running()

    def is_successful(self, fail_on_step_fail: bool = True, fail_condition: str = "all") -> bool:
        return self._run.is_successful(fail_on_step_fail, fail_condition)

    def elapsed(self) -> float:
        return self._run.elapsed()

    def get_pipeline_dag(self) -> dict[str, Node]:
        return dict(self._run.nodes)

    def get_processed_nodes(self) -> list[Node]:
        return [n for n in self._run.nodes.values() if n.is_finished]

    def get_running_nodes(self) -> list[Node]:
        return [n for n in self._run.nodes.values() if n.status == "running"]

    def add_tags(self, tags: Any) -> None:
        self._run.task.add_tags(tags)

    def connect_configuration(self, configuration: Any, name: Optional[str] = None,
                              description: Optional[str] = None) -> Any:
        return self._run.task.connect_configuration(configuration, name=name, description=description)

    def update_execution_plot(self) -> None:
        """Store the DAG coloured by step status as a plot on the pipeline task."""
        self._run.update_execution_plot()

    # ------------------------------------------------------------------ from inside steps
    @classmethod
    def _pipeline_task(cls):
        """The running pipeline's task: the parent of the step running here, else this thread's
        (or this process's) running pipeline, else a controller main task."""
        from ..tracking.task import Task
        task = Task._current_task_override
        if task is None:
            run = current_run()
            if run is not None:
                return run.task
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
