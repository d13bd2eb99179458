"""Running a *script task*: a task that records how to run its code (entry point, working dir,
argv), as made by ``Task.init`` in a script or ``Task.create(script=...)``.

The script runs in a subprocess with ``PIPETRACK_TASK_ID`` set: there ``Task.init`` attaches to
the stored task instead of creating one, ``Task.running_locally()`` is False, and the stored
parameters override the code's values (``connect``, argparse, ``connect_configuration``).
Function tasks (``Task.create_function_task``, pipeline function steps sent to an agent) carry a
pickled StepSpec in storage instead; they run through ``pipetrack.executors.child``.

Two places run such a subprocess: this machine, against the shared store (the agent, the local
executor), and a Dask worker that can't reach the store (:func:`run_task_in_private_store`: the
task's records are imported into a throw-away store, the subprocess records there, and the
records come back as a bundle for the caller to import).

The entry point must exist on the machine that runs it; the agent, and a Dask worker running an
agent's task, first make it exist there (``checkout.py``): a worktree of the task's recorded
commit plus its diff, or its stored script.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Optional

from ..errors import SetupError, ValidationError
from ..steps import STEP_SPEC_KEY, StepResult
from .process import TaskProcess, exit_message, time_limit_message


def script_command(row: dict, python: Optional[str] = None) -> tuple[list[str], str]:
    """(argv, working dir) that runs the task's code; ValidationError when it can't run here."""
    script = row.get("script") or {}
    python = python or sys.executable
    runtime = row.get("runtime") or {}
    if runtime.get(STEP_SPEC_KEY):
        cwd = script.get("working_dir")
        return ([python, "-m", "pipetrack.executors.child", "--task", row["id"]],
                cwd if cwd and os.path.isdir(cwd) else os.getcwd())
    if script.get("module"):
        cwd = script.get("working_dir")
        return ([python, "-m", script["module"], *script.get("argv", [])],
                cwd if cwd and os.path.isdir(cwd) else os.getcwd())
    path = script.get("script_path")
    if not path:
        entry, root = script.get("entry_point"), script.get("repository") or ""
        if entry and os.path.isdir(root):
            path = os.path.join(root, entry)
        elif entry and script.get("working_dir") and os.path.isabs(script["working_dir"]):
            path = os.path.join(script["working_dir"], entry)
    if not path or not os.path.isfile(path):
        what = (f"its script {path!r} does not exist on this machine" if path else
                f"it records no script to run (entry point {script.get('entry_point')!r})")
        raise ValidationError(f"task {row['id']} ({row.get('name')!r}) can't be run: {what}; a runnable task is "
                              "made by Task.init in a script, Task.create(script=...) or Task.create_function_task")
    working_dir = script.get("working_dir") or os.path.dirname(path)
    if not os.path.isabs(working_dir):
        base = script.get("repository") if os.path.isdir(script.get("repository") or "") else os.path.dirname(path)
        working_dir = os.path.normpath(os.path.join(base, working_dir))
    if not os.path.isdir(working_dir):
        working_dir = os.path.dirname(path)
    return [python, path, *script.get("argv", [])], working_dir


def task_home(location: str) -> Optional[str]:
    """The pipetrack home of a task process using the store at ``location``: a SQLite store's
    folder; None for a server's URL (the process keeps the home it has)."""
    from ..store import is_url
    return None if is_url(location) else os.path.dirname(os.path.abspath(location))


def script_env(task_id: str, location: str, extra: Optional[dict] = None) -> dict[str, str]:
    """Environment of a task subprocess: ours, plus the task id and the store it lives in (its
    ``location``; :func:`task_home`)."""
    env = {**os.environ, **(extra or {}), "PIPETRACK_TASK_ID": task_id, "PIPETRACK_STORE": location}
    home = task_home(location)
    if home is not None:
        env["PIPETRACK_HOME"] = home
    paths = [p for p in sys.path if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, *env.get("PYTHONPATH", "").split(os.pathsep)]))
    return env


def result_from_store(store: Any, task_id: str, returncode: Optional[int], message: str = "") -> StepResult:
    """The StepResult of a task subprocess that ran against ``store`` (it recorded itself); a
    task the process left open (crash, os._exit, no Task.init) is closed from its exit code."""
    row = store.task_row(task_id)
    if row is None:
        return StepResult(task_id=task_id, status="failed", error=message or f"task {task_id} was deleted")
    status = row["status"]
    if status in ("in_progress", "queued", "created"):
        status = "completed" if returncode == 0 and not message else "failed"
        message = message or ("" if returncode == 0 else f"the task's process {exit_message(returncode)}")
        store.end_task(task_id, status, message)
    elif status == "published":
        status = "completed"
    artifacts = {a["name"]: {k: a[k] for k in ("uri", "type", "extension", "hash", "size")}
                 for a in store.task_artifacts(task_id)}
    final = "completed" if status == "completed" else ("stopped" if status == "stopped" else "failed")
    error = "" if final == "completed" else (store.task_row(task_id).get("status_message") or message)
    return StepResult(task_id=task_id, status=final, artifacts=artifacts, error=error)


class _Stopped(Exception):
    """Asked to stop before the task's process started."""


def start_task_process(row: dict, location: str, python: Optional[str] = None,
                       extra_env: Optional[dict] = None) -> TaskProcess:
    """Start the task's code (:func:`script_command`) in its own process group, against the store at
    ``location`` (``store.location``)."""
    argv, cwd = script_command(row, python)
    proc = subprocess.Popen(argv, cwd=cwd, env=script_env(row["id"], location, extra_env), start_new_session=True)
    return TaskProcess(proc, row["id"])


def run_task_in_private_store(bundle: dict, output_uri: Optional[str] = None,
                              should_stop: Optional[Callable[[], Optional[str]]] = None,
                              time_limit: Optional[float] = None, poll: float = 0.2,
                              parent_bundle: Optional[dict] = None,
                              on_poll: Optional[Callable[[Any], None]] = None) -> StepResult:
    """Run a script/function task where the shared store is out of reach (a Dask worker).

    The task's records (``bundle``) seed a throw-away store; the task's subprocess records
    there with artifacts going to ``output_uri``; the result carries the records bundle
    (``result.records``) with the task's own ``output_uri`` setting unchanged.
    ``should_stop()`` returning a reason stops the subprocess (SIGTERM, then SIGKILL).
    ``parent_bundle`` (a pipeline step's pipeline task row) is seeded too, so the step can report
    to its pipeline; what it reported comes back in ``result.parent_records``. ``on_poll(store)``
    is called at every poll while the process runs (the Dask side's live snapshots).
    """
    from ..tracking.records import export_records, import_records
    from ..store.sqlite import SqliteStore
    task_id = bundle["task"]["id"]
    own_output = bundle["task"].get("output_uri")
    home = tempfile.mkdtemp(prefix="pipetrack-task-")
    store = SqliteStore(os.path.join(home, "pipetrack.db"))
    try:
        import socket
        seed = dict(bundle["task"], output_uri=output_uri or own_output, host=socket.gethostname(),
                    pid=os.getpid(), heartbeat=time.time())  # the watchdog of the task's process checks us
        import_records(store, dict(bundle, task=seed))
        if parent_bundle:
            import_records(store, parent_bundle)
        row = store.task_row(task_id)
        started = time.monotonic()
        early = should_stop() if should_stop is not None else None
        checkout = None
        try:
            if early:
                raise _Stopped(early)
            if not (row.get("runtime") or {}).get(STEP_SPEC_KEY):  # a script: its code, here
                from .. import config
                from ..tracking.reporting import buffer_for
                from .checkout import checkout_for
                checkout = checkout_for(row, config.home() / "agent",
                                        lambda text: buffer_for(store).add_console(task_id, f"pipetrack: {text}"))
                row = dict(row, script=checkout.script)
            process = start_task_process(row, store.location)
        except _Stopped as stop:
            store.end_task(task_id, "stopped", str(stop))
            result = result_from_store(store, task_id, None)
        except (ValidationError, SetupError) as exc:
            message = f"{exc} (on {_where()})"
            from ..tracking.reporting import buffer_for
            buffer_for(store).add_console(task_id, f"pipetrack: {message}", "error")
            buffer_for(store).flush()
            store.end_task(task_id, "failed", message)
            result = result_from_store(store, task_id, None)
        else:
            code = process.wait(should_stop, time_limit, time_limit_message("the task", time_limit), started=started,
                                poll=poll, on_poll=(lambda: on_poll(store)) if on_poll is not None else None)
            message = process.reason
            if message:
                store.end_task(task_id, "stopped", message,
                               only_from=("created", "queued", "in_progress", "stopped"))
            result = result_from_store(store, task_id, code, message)
        if checkout is not None:
            checkout.remove()
        store.update_task(task_id, output_uri=own_output)
        result.records = export_records(store, task_id)
        if parent_bundle:
            result.parent_records = export_records(store, parent_bundle["task"]["id"])
        return result
    finally:
        store.close()
        shutil.rmtree(home, ignore_errors=True)


def _where() -> str:
    """This machine, as a failure message names it: the Dask worker's address where there is one."""
    import socket
    try:
        from distributed import get_worker
        return f"Dask worker {get_worker().address} (host {socket.gethostname()})"
    except (ImportError, ValueError):
        return f"host {socket.gethostname()}"
