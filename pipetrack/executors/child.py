"""Entry point of a local step subprocess: ``python -m pipetrack.executors.child SPEC RESULT``.

Reads the cloudpickled StepSpec, recreates the parent's ``sys.path`` and working directory,
runs the step and writes the cloudpickled StepResult atomically (temp file + rename), so the
parent never reads a half-written result. Only what a step needs is imported here.
"""
from __future__ import annotations

import os
import sys


def main(spec_path: str, result_path: str) -> int:
    import cloudpickle
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


def main_for_task(task_id: str) -> int:
    """Run a function task whose StepSpec is stored with it (agents run function steps this way)."""
    import cloudpickle
    from pipetrack.executors.script import STEP_SPEC_KEY
    from pipetrack.executors.worker import run_step
    from pipetrack.storage import read_bytes
    from pipetrack.tracking.store import default_store
    store = default_store()
    row = store.task_row(task_id)
    spec = cloudpickle.loads(read_bytes(row["runtime"][STEP_SPEC_KEY]))
    spec.store_path, spec.task_bundle = str(store.path), None
    for entry in reversed(spec.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    result = run_step(spec)
    return 0 if result.status == "completed" else 1


if __name__ == "__main__":
    if sys.argv[1] == "--task":
        sys.exit(main_for_task(sys.argv[2]))
    sys.exit(main(sys.argv[1], sys.argv[2]))
