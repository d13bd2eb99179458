"""``Task.execute_remotely`` and ``Task.create_function_task``: handing work to an agent.

Both produce a queued/Draft task an agent can run by itself: the script task re-runs the
recorded entry point with ``PIPETRACK_TASK_ID`` set; a function task stores a pickled
StepSpec in storage and runs through ``pipetrack.executors.child --task``.
"""
from __future__ import annotations

import inspect
import sys
from typing import Any, Callable, Optional

from ..errors import StateError, ValidationError


def execute_remotely(task: Any, queue_name: Optional[str] = None, clone: bool = False,
                     exit_process: bool = True) -> Optional[Any]:
    """Enqueue ``task`` (clone=False: this run ends here, the task is reset and re-run by an agent)
    or a Draft clone of it; leave the process with exit code 0 when ``exit_process``."""
    from .session import back_to_draft
    from .task import Task
    if not Task.running_locally():
        return None  # an agent is running us: no-op, as in ClearML
    if not clone and not exit_process:
        raise ValidationError("execute_remotely(clone=False) must exit the process (exit_process=True): the task "
                              "itself moves to the queue")
    task.get_script()  # the agent needs the recorded entry point
    task.flush(wait_for_uploads=True)
    if clone:
        target = Task.clone(task)
    else:
        back_to_draft(task)
        task.reset(force=True)  # "stop the execution of the current Task, reset its state, and enqueue it"
        target = task
    if queue_name:
        Task.enqueue(target, queue_name=queue_name)
    if exit_process:
        sys.stdout.flush()
        sys.exit(0)
    return target


def create_function_task(task: Any, func: Callable, func_name: Optional[str] = None,
                         task_name: Optional[str] = None, **kwargs: Any) -> Optional[Any]:
    """A Draft task that calls ``func(**kwargs)`` when an agent runs it (kwargs under ``Function/``)."""
    from ..steps import StepSpec
    from ..pickling import dumps_keeping_source
    from ..steps import store_step_spec
    from .task import Task, _insert_task
    if not Task.running_locally():
        return None
    if not callable(func):
        raise ValidationError(f"create_function_task needs a callable, got {func!r}")
    if not task.is_main_task():
        raise StateError("create_function_task must be called on the main task (the one Task.init returned)")
    try:
        inspect.signature(func).bind(**kwargs)
    except TypeError as exc:
        raise ValidationError(f"create_function_task: {getattr(func, '__name__', func)}() {exc}") from None
    name = func_name or getattr(func, "__name__", "function")
    store = task._store
    new_id = _insert_task(store, task.get_project_name(), task_name or f"{task.name}.{name}", task.task_type,
                          created_by="function", parent=task.id, output_uri=task._row.get("output_uri"),
                          script={**task.get_script(), "entry_point": f"{getattr(func, '__module__', '?')}.{name}"})
    new = Task._from_row(store, store.task_row(new_id))
    new._write_params({f"Function/{k}": v for k, v in kwargs.items()}, check=False)
    spec = StepSpec(task_id=new_id, name=name, function=dumps_keeping_source(func), kwargs=dict(kwargs),
                    sys_path=[p for p in sys.path if p])
    store.update_task(new_id, runtime={"created_by": "function", **store_step_spec(spec, new.get_output_destination())})
    new.reload()
    return new
