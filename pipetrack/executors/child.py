"""Entry point of a step subprocess.

``python -m pipetrack.executors.child SPEC RESULT`` (the local executor): reads the cloudpickled
StepSpec, recreates the parent's ``sys.path`` and working directory, runs the step and writes
the cloudpickled StepResult atomically (temp file + rename), so the parent never reads a
half-written result.

``python -m pipetrack.executors.child --task ID`` (agents): runs a *function task* — one made by
``Task.create_function_task`` or a pipeline function step sent to a queue — whose StepSpec is
stored in storage (URL and sha256 in the task's runtime; bytes that don't match are never unpickled). For ``create_function_task`` tasks the
``Function/<arg>`` parameters win over the pickled arguments, so a clone with edited
arguments re-runs with them. SIGTERM (an agent stopping the task) ends it as ``stopped``.

Only what a step needs is imported here.
"""
from __future__ import annotations

import os
import signal
import sys


def main(spec_path: str, result_path: str) -> int:
    import cloudpickle
    from pipetrack.terminal import share_status_line
    share_status_line()
    with open(spec_path, "rb") as fh:
        spec = cloudpickle.load(fh)
    for entry in reversed(spec.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    if spec.working_dir:
        os.chdir(spec.working_dir)
    from pipetrack.executors.worker import run_step
    from pipetrack.tracking.task import Task
    result = run_step(spec)
    tmp = result_path + ".tmp"
    with open(tmp, "wb") as fh:
        cloudpickle.dump(result, fh)
    os.replace(tmp, result_path)
    sys.stdout.flush()
    sys.stderr.flush()
    Task._main_task = None
    return 0


def _function_arguments(store, task_id: str, kwargs: dict, section: str) -> dict:
    """The spec's arguments, with the task's (possibly edited) parameters of ``section`` applied:
    ``Function/`` of a function task, ``kwargs/`` of a pipeline step (a clone edited before it was
    enqueued, as in ClearML; inputs from other steps are ``kwargs_artifacts/`` and stay as they are)."""
    from pipetrack.steps import ArtifactInput
    from pipetrack.tracking.parameters import cast_like, cast_value
    merged = dict(kwargs)
    for row in (p for p in store.task_params(task_id) if p["section"] == section):
        if isinstance(merged.get(row["name"]), ArtifactInput):
            continue
        if row["name"] in merged:
            merged[row["name"]] = cast_like(row["value"], merged[row["name"]])
        else:
            merged[row["name"]] = cast_value(row["value"], row["type"])
    return merged


def _sigterm(_signum, _frame) -> None:
    raise KeyboardInterrupt("SIGTERM: the task was stopped")


def main_for_task(task_id: str) -> int:
    """Run a function task whose StepSpec is stored with it (agents run function tasks this way)."""
    from pipetrack.errors import NotFoundError, PipetrackError
    from pipetrack.steps import load_step_spec
    from pipetrack.executors.worker import run_step
    from pipetrack.store import default_store
    signal.signal(signal.SIGTERM, _sigterm)
    store = default_store()
    row = store.task_row(task_id)
    if row is None:
        raise NotFoundError(f"PIPETRACK_TASK_ID/--task {task_id!r} names no task in store {store}")
    try:
        spec = load_step_spec(row)
    except PipetrackError as err:  # e.g. IntegrityError: the stored spec was changed, never unpickle it
        store.end_task(task_id, "failed", f"{type(err).__name__}: {err}")
        print(f"pipetrack: task {task_id} not run: {err}", file=sys.stderr)
        return 1
    spec.task_id, spec.store_path, spec.task_bundle = task_id, store.location, None
    section = "Function" if (row.get("runtime") or {}).get("created_by") == "function" else "kwargs"
    spec.kwargs = _function_arguments(store, task_id, spec.kwargs, section)
    for entry in reversed(spec.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    if spec.working_dir and os.path.isdir(spec.working_dir):
        os.chdir(spec.working_dir)
    result = run_step(spec)
    return 0 if result.status == "completed" else 1


if __name__ == "__main__":
    if sys.argv[1] == "--task":
        sys.exit(main_for_task(sys.argv[2]))
    sys.exit(main(sys.argv[1], sys.argv[2]))
