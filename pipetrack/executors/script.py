"""Running a *script task*: a task that records how to run its code (entry point, working dir,
argv), as made by ``Task.init`` in a script or ``Task.create(script=...)``.

The script runs in a subprocess with ``PIPETRACK_TASK_ID`` set: there ``Task.init`` attaches to
the stored task instead of creating one, ``Task.running_locally()`` is False, and the stored
parameters override the code's values (``connect``, argparse, ``connect_configuration``).
Function tasks (``Task.create_function_task``, pipeline function steps sent to an agent) carry a
pickled StepSpec in storage instead; they run through ``pipetrack.executors.child``.

A script checked out from a remote git repository is not fetched here: the entry point must
exist on this machine (pipetrack records the absolute ``script_path`` of local scripts).
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Optional

from ..errors import ValidationError
from .base import StepResult

STEP_SPEC_KEY = "step_spec_url"


def script_command(row: dict, python: Optional[str] = None) -> tuple[list[str], str]:
    """(argv, working dir) that runs the task's code."""
    script = row.get("script") or {}
    python = python or sys.executable
    runtime = row.get("runtime") or {}
    if runtime.get(STEP_SPEC_KEY):
        return [python, "-m", "pipetrack.executors.child", "--task", row["id"]], script.get("working_dir") or os.getcwd()
    if script.get("module"):
        return [python, "-m", script["module"], *script.get("argv", [])], script.get("working_dir") or os.getcwd()
    path = script.get("script_path")
    if not path:
        entry, root = script.get("entry_point"), script.get("repository") or ""
        if entry and os.path.isdir(root):
            path = os.path.join(root, entry)
        elif entry and script.get("working_dir") and os.path.isabs(script["working_dir"]):
            path = os.path.join(script["working_dir"], entry)
    if not path or not os.path.isfile(path):
        raise ValidationError(f"task {row['id']} has no runnable script on this machine (entry point "
                              f"{script.get('entry_point')!r}, script path {path!r}); create it with Task.init in "
                              "a script or Task.create(script=...)")
    working_dir = script.get("working_dir") or os.path.dirname(path)
    if not os.path.isabs(working_dir):
        base = script.get("repository") if os.path.isdir(script.get("repository") or "") else os.path.dirname(path)
        working_dir = os.path.normpath(os.path.join(base, working_dir))
    if not os.path.isdir(working_dir):
        working_dir = os.path.dirname(path)
    return [python, path, *script.get("argv", [])], working_dir


def script_env(task_id: str, store_path: str, extra: Optional[dict] = None) -> dict[str, str]:
    """Environment of a task subprocess: ours, plus the task id and the store it lives in."""
    env = {**os.environ, **(extra or {}), "PIPETRACK_TASK_ID": task_id,
           "PIPETRACK_HOME": os.path.dirname(os.path.abspath(store_path))}
    paths = [p for p in sys.path if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*paths, *env.get("PYTHONPATH", "").split(os.pathsep)]))
    return env


def result_from_store(store: Any, task_id: str, returncode: Optional[int], message: str = "") -> StepResult:
    """The StepResult of a task subprocess that ran against the shared store (it recorded itself)."""
    row = store.task_row(task_id)
    status = row["status"]
    now = time.time()
    if status in ("in_progress", "queued", "created"):
        # the process ended without closing its task (os._exit, crash before Task.init, ...)
        status = "completed" if returncode == 0 else "failed"
        message = message or (f"process exited with code {returncode}" if returncode else "")
        store.update_task(task_id, status=status, completed=now, status_message=message)
    elif status == "published":
        status = "completed"
    artifacts = {a["name"]: {k: a[k] for k in ("uri", "type", "extension", "hash", "size")}
                 for a in store.query("SELECT * FROM artifacts WHERE task_id=?", (task_id,))}
    return StepResult(task_id=task_id, status="completed" if status == "completed" else
                      ("stopped" if status == "stopped" else "failed"),
                      artifacts=artifacts, error=row.get("status_message") or message)
