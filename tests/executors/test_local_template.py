"""The local executor's step template (Linux): every step is a fresh fork of a template
interpreter that never ran user code, and gets the environment, working directory and
sys.path of the moment it was submitted; if the template dies, steps still run."""
from __future__ import annotations

import os
import signal
import sys

import cloudpickle
import pytest

from pipetrack import Task
from pipetrack.executors.base import StepSpec
from pipetrack.executors.local import LocalExecutor

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the template is used on Linux")


def where_am_i(tag):
    import os
    return {"pid": os.getpid(), "cwd": os.getcwd(), "env": os.environ.get("PT_TEMPLATE_TEST"), "tag": tag,
            "task": os.environ.get("PIPETRACK_TASK_ID")}


def run(executor, tag):
    task = Task.create(project_name="template", task_name=tag)
    spec = StepSpec(task_id=task.id, name=tag, function=cloudpickle.dumps(where_am_i), kwargs={"tag": tag},
                    return_names=["where"], store_path=task._store.location)
    result = executor.submit(spec).result(timeout=60)
    assert result.status == "completed", result.error
    return task.artifacts["where"].get()


def test_fresh_process_per_step_with_the_current_environment(tmp_path, monkeypatch):
    executor = LocalExecutor()
    try:
        first = run(executor, "first")
        monkeypatch.setenv("PT_TEMPLATE_TEST", "changed")
        monkeypatch.chdir(tmp_path)
        second = run(executor, "second")
        template_pid = executor._template._proc.pid
    finally:
        executor.shutdown()
    assert first["pid"] != second["pid"] and template_pid not in (first["pid"], second["pid"])
    assert first["env"] is None and second["env"] == "changed"
    assert second["cwd"] == str(tmp_path)
    assert first["task"] != second["task"] and second["task"] is not None


def test_steps_still_run_when_the_template_dies():
    executor = LocalExecutor()
    try:
        run(executor, "before")
        os.kill(executor._template._proc.pid, signal.SIGKILL)
        executor._template._proc.wait()
        assert run(executor, "after")["tag"] == "after"
    finally:
        executor.shutdown()


def leaves_a_thread(path):
    import threading
    import time

    def late_write():
        time.sleep(0.3)
        with open(path, "w") as fh:
            fh.write("done")
    threading.Thread(target=late_write).start()  # not a daemon: the process waits for it
    return 1


def test_step_process_exits_like_an_interpreter(tmp_path):
    executor = LocalExecutor()
    try:
        task = Task.create(project_name="template", task_name="thread")
        spec = StepSpec(task_id=task.id, name="thread", function=cloudpickle.dumps(leaves_a_thread),
                        kwargs={"path": str(tmp_path / "late.txt")}, return_names=["r"], store_path=task._store.location)
        assert executor.submit(spec).result(timeout=60).status == "completed"
    finally:
        executor.shutdown()
    assert (tmp_path / "late.txt").read_text() == "done"
