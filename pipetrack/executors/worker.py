"""The step worker: runs one :class:`StepSpec` wherever the executor put it.

The same function runs inline (in the controller's process), in a local subprocess and on a
Dask worker:

1. open the step task in the store at ``spec.store_path`` — the shared store when this machine
   can reach it, else a private store the Dask side seeded with the task's records bundle;
2. mark it running, tee the console into it, make ``Task.current_task()`` return it, bind the
   frameworks and argument parsers its ``auto_connect_frameworks`` / ``auto_connect_arg_parser``
   leave on (as ``Task.init`` would for a ClearML step task);
3. fetch artifact inputs from storage and call the function;
4. store each return value as an artifact (and plain int/float/bool/str values also as
   ``return/<name>`` parameters, as ClearML does), mark completed — or failed with the
   exception's type and message as status message and the traceback in the console;
5. return a :class:`StepResult` (in private-store mode the Dask side adds the records bundle,
   which the controller imports into the real store).
"""
from __future__ import annotations

import os
import socket
import sys
import threading
import time
import traceback
from typing import Any, Optional

from ..steps import StepResult, StepSpec, load_input

PLAIN_RETURN_TYPES = (int, float, bool, str)


def _open_task(spec: StepSpec):
    from ..store import open_store
    from ..tracking.task import Task
    if not spec.store_path:
        raise ValueError(f"step {spec.name!r}: StepSpec.store_path is required (Dask steps get a private store)")
    store = open_store(spec.store_path)
    return Task._from_row(store, store.task_row(spec.task_id), owner=True)


_bindings_lock = threading.Lock()
_bindings_users = 0  # steps of this process running with bindings connected (Dask threads share them)


def _connect_bindings(task: Any, spec: StepSpec) -> bool:
    """Bind what the step's options leave on; True when this step must undo it at its end.

    Bindings are process-wide patches found by the bound code through ``Task.current_task()``
    (the step task here). A process that ran ``Task.init`` (inline steps) already has its own,
    which stay in charge; steps running at once in one process share the first one's."""
    global _bindings_users
    from ..tracking.session import current_session
    if current_session() is not None:
        return False
    frameworks = True if spec.auto_connect_frameworks is None else spec.auto_connect_frameworks
    parsers = True if spec.auto_connect_arg_parser is None else spec.auto_connect_arg_parser
    if not frameworks and (parsers is False or parsers == {}):
        return False
    from ..tracking.bindings import connect_arg_parsers, connect_frameworks
    with _bindings_lock:
        _bindings_users += 1
        if frameworks:
            connect_frameworks(task, frameworks)
        connect_arg_parsers(task, parsers)
    return True


def _disconnect_bindings(connected: bool) -> None:
    global _bindings_users
    if not connected:
        return
    from ..tracking.bindings import disconnect
    with _bindings_lock:
        _bindings_users -= 1
        if _bindings_users == 0:
            disconnect()


def _seed_parent(store: Any, bundle: Optional[dict]) -> Optional[str]:
    """Private-store mode: put the pipeline task's row there too, so a step can report to its
    pipeline (``PipelineController.get_logger()`` & co); what it reports goes back as records."""
    if not bundle:
        return None
    from ..tracking.records import import_records
    parent_id = bundle["task"]["id"]
    store.delete_task(parent_id, with_models=True)  # a private store may be reused by several steps
    import_records(store, bundle)
    return parent_id


def _collect_parent(store: Any, parent_id: str) -> dict:
    from ..tracking.records import export_records
    try:
        return export_records(store, parent_id)
    finally:
        store.delete_task(parent_id, with_models=True)


def _output_extension(value: Any) -> Optional[str]:
    """How a step output is stored, where the artifact default doesn't suit data passed between steps.

    Outputs must come back exactly as returned (the same inline or in a subprocess): a DataFrame
    goes as a pickle, not as the default CSV, which loses dtypes and index types. An ndarray goes
    as a plain ``.npy`` (no pickle either), read and written without the ``.npz`` zip layer."""
    cls = type(value)
    if cls.__name__ == "DataFrame" and cls.__module__.startswith("pandas"):
        return ".pkl"
    if cls.__name__ == "ndarray" and cls.__module__ == "numpy" and not value.dtype.hasobject:
        return ".npy"
    return None


def split_returns(value: Any, names: list[str], step: str) -> dict[str, Any]:
    """One name: the whole value. Several: unpack the returned sequence, one artifact each."""
    if not names:
        return {}
    if len(names) == 1:
        return {names[0]: value}
    try:
        values = list(value)
    except TypeError:
        raise TypeError(f"step {step!r} declares {len(names)} return values {names} but returned a "
                        f"{type(value).__name__}, which can't be unpacked") from None
    if len(values) != len(names):
        raise ValueError(f"step {step!r} declares {len(names)} return values {names} but returned {len(values)}")
    return dict(zip(names, values))


def run_step(spec: StepSpec) -> StepResult:
    """Run one step to completion and describe the outcome (never raises)."""
    import cloudpickle
    from ..tracking import heartbeat
    from ..tracking.capture import ConsoleCapture
    from ..tracking.reporting import flush_all
    from ..tracking.task import Task

    started = time.time()
    task = _open_task(spec)
    parent_id = _seed_parent(task._store, spec.parent_bundle)
    result = StepResult(task_id=spec.task_id, status="failed", worker=f"{socket.gethostname()}:{os.getpid()}")
    with task._store.atomic():  # one transaction: started, by which worker, this process's claim
        task.mark_started(force=True)
        task._store.update_task(task.id, last_worker=result.worker)
        heartbeat.register(task._store, task.id)
    console = ConsoleCapture(task, True, per_thread=True)
    console.start()
    previous_override = Task._own_task_override  # never another thread's step (see _TaskMeta)
    Task._current_task_override = task
    bound = False
    try:
        bound = _connect_bindings(task, spec)
        deserializer = cloudpickle.loads(spec.deserialization_function) if spec.deserialization_function else None
        serializer = cloudpickle.loads(spec.serialization_function) if spec.serialization_function else None
        kwargs = {k: load_input(v, deserializer) for k, v in spec.kwargs.items()}
        func = spec.local_function if spec.local_function is not None else cloudpickle.loads(spec.function)
        value = func(**kwargs)
        outputs = split_returns(value, list(spec.return_names), spec.name)
        plain = {}
        for name, item in outputs.items():
            try:
                task.upload_artifact(name, item, serialization_function=serializer,
                                     extension_name=None if serializer else _output_extension(item))
            except Exception as exc:
                raise TypeError(f"step {spec.name!r}: return value {name!r} of type {type(item).__name__} "
                                f"could not be stored as an artifact: {exc}") from exc
            if isinstance(item, PLAIN_RETURN_TYPES):
                plain[f"return/{name}"] = item
        if plain:
            task._write_params(plain, check=False)
        task._settle_artifacts()  # consumers elsewhere verify the outputs: their hashes must be recorded
        result.artifacts = {name: {k: a._row.get(k) for k in ("uri", "type", "extension", "hash", "size")}
                            for name, a in task.artifacts.items() if name in outputs}
        if spec.in_process:
            result.values = outputs
        console.stop()
        task.mark_completed()
        result.status = "completed"
    except BaseException as exc:  # noqa: BLE001 - a step's failure of any kind is reported, not lost
        result.error = f"{type(exc).__name__}: {exc}"
        result.traceback = user_traceback(exc)
        print(result.traceback, end="", file=sys.stderr)
        console.stop()
        if spec.in_process:
            result.raised = exc  # the very object, traceback and all (debug mode re-raises it)
        else:
            try:
                result.exception = cloudpickle.dumps(exc)
            except Exception:
                result.exception = None
        status = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
        result.status = status
        if status == "stopped":
            task.mark_stopped(force=True, status_message=result.error)
        else:
            task.mark_failed(status_message=result.error, status_reason=result.error)
    finally:
        _disconnect_bindings(bound)
        Task._current_task_override = previous_override
        heartbeat.unregister(task.id)
        flush_all()
        result.duration = time.time() - started
    if parent_id is not None:
        result.parent_records = _collect_parent(task._store, parent_id)
    return result


def user_traceback(exc: BaseException) -> str:
    """``exc``'s traceback from the first frame outside pipetrack: the step's code is where the
    story starts (the worker frames that called it say nothing to the user)."""
    report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    frames = list(report.stack)
    first = next((i for i, frame in enumerate(frames) if not _in_pipetrack(frame.filename)), 0)
    report.stack = traceback.StackSummary.from_list(frames[first:])
    return "".join(report.format())


def _in_pipetrack(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PACKAGE_DIR)


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
