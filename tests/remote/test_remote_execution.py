"""``Task.execute_remotely`` and ``Task.create_function_task``, run by a real agent."""
from __future__ import annotations

import json

import pytest

from pipetrack import Task
from pipetrack.errors import StateError, ValidationError
from remote_helpers import run_python

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("store_backend")]  # the shared suite: SQLite and PostgreSQL

REMOTE = """
    import json, os, sys
    from pipetrack import Task
    task = Task.init(project_name="remote-exec", task_name="job")
    params = task.connect({"alpha": 1})
    print("local part")
    result = task.execute_remotely(queue_name=os.environ.get("QUEUE") or None,
                                   clone=os.environ.get("CLONE") == "1", exit_process=os.environ.get("EXIT") != "0")
    with open(os.environ["MARKER"], "a") as fh:
        fh.write(json.dumps({"id": task.id, "local": Task.running_locally(), "alpha": params["alpha"],
                             "returned": getattr(result, "id", result)}) + "\\n")
"""


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_execute_remotely_moves_this_run_to_the_queue(write_script, agents, tmp_path):
    marker = tmp_path / "marker.jsonl"
    script = write_script("job.py", REMOTE)
    proc = run_python(script, env={"MARKER": str(marker), "QUEUE": "remote"})
    assert proc.returncode == 0 and not marker.exists()  # the local process left at execute_remotely
    task = Task.get_task(project_name="remote-exec", task_name="job")
    assert task.get_status() == "queued" and task.data["queue"] == "remote"
    assert task.get_reported_console_output(10) == []  # reset: the local part's outputs are gone
    with pytest.raises(StateError):
        task.set_parameter("General/alpha", 7)  # pending: not editable until dequeued (back to Draft)
    Task.dequeue(task)
    task.set_parameter("General/alpha", 7)
    Task.enqueue(task, queue_name="remote")
    agent = agents("--queue", "remote", "--max-tasks", "1", env={"MARKER": str(marker)})
    assert agent.wait(60) == 0, agent.log()
    (seen,) = lines(marker)
    assert seen == {"id": task.id, "local": False, "alpha": 7, "returned": None}  # no-op under the agent
    assert task.get_status() == "completed"


def test_execute_remotely_clone_without_exit_keeps_the_local_run(write_script, agents, tmp_path):
    marker = tmp_path / "marker.jsonl"
    script = write_script("job.py", REMOTE)
    run_python(script, env={"MARKER": str(marker), "QUEUE": "remote", "CLONE": "1", "EXIT": "0"})
    (local,) = lines(marker)
    original = Task.get_task(task_id=local["id"])
    clone = Task.get_task(task_id=local["returned"])
    assert local["local"] is True and clone.id != original.id
    assert original.get_status() == "completed" and clone.get_status() == "queued" and clone.parent == original.id
    agent = agents("--queue", "remote", "--max-tasks", "1", env={"MARKER": str(marker)})
    assert agent.wait(60) == 0, agent.log()
    remote = lines(marker)[1]
    assert remote["id"] == clone.id and remote["local"] is False
    assert clone.get_status() == "completed"


def test_execute_remotely_without_a_queue_only_exits(write_script, tmp_path):
    marker = tmp_path / "marker.jsonl"
    script = write_script("job.py", REMOTE)
    run_python(script, env={"MARKER": str(marker)})
    task = Task.get_task(project_name="remote-exec", task_name="job")
    assert not marker.exists() and task.get_status() == "created"


def test_execute_remotely_refuses_staying_on_a_moved_task():
    task = Task.init(project_name="remote-exec", task_name="in-process")
    with pytest.raises(ValidationError, match="exit_process"):
        task.execute_remotely(queue_name="q", clone=False, exit_process=False)
    assert task.get_status() == "in_progress"


FUNCTION = """
    import json, os
    from pipetrack import Task

    def scale(x, factor=2.0, label="run"):
        from pipetrack import Task
        me = Task.current_task()
        with open(os.environ["MARKER"], "a") as fh:
            fh.write(json.dumps({"task": me.id, "x": x, "factor": factor, "label": label,
                                 "local": Task.running_locally()}) + "\\n")
        me.get_logger().report_scalar("result", "value", x * factor, 0)
        return x * factor

    task = Task.init(project_name="remote-exec", task_name="parent")
    child = task.create_function_task(scale, func_name="scale", task_name="scale it", x=3, factor=2.5)
    Task.enqueue(child, queue_name="functions")
    print("CHILD", child.id)
"""


def test_create_function_task_runs_on_an_agent_and_its_clone_takes_edited_arguments(write_script, agents,
                                                                                    tmp_path):
    marker = tmp_path / "marker.jsonl"
    script = write_script("parent.py", FUNCTION)
    out = run_python(script, env={"MARKER": str(marker)}).stdout
    child = Task.get_task(task_id=out.split("CHILD ")[1].split()[0])
    parent = Task.get_task(project_name="remote-exec", task_name="parent")
    assert child.name == "scale it" and child.parent == parent.id and child.get_status() == "queued"
    assert child.get_parameters() == {"Function/x": "3", "Function/factor": "2.5"}
    edited = Task.clone(child, name="scale it again")
    edited.set_parameter("Function/x", 10)
    edited.set_parameter("Function/label", "edited")
    Task.enqueue(edited, queue_name="functions")
    agent = agents("--queue", "functions", "--max-tasks", "2", "--concurrency", "1", env={"MARKER": str(marker)})
    assert agent.wait(60) == 0, agent.log()
    first, second = lines(marker)
    assert first == {"task": child.id, "x": 3, "factor": 2.5, "label": "run", "local": False}
    assert second == {"task": edited.id, "x": 10, "factor": 2.5, "label": "edited", "local": False}
    for task, value in ((child, 7.5), (edited, 25.0)):
        assert task.get_status() == "completed"
        assert task.get_reported_scalars()["result"]["value"]["y"] == [value]


def test_create_function_task_checks_its_input():
    task = Task.init(project_name="remote-exec", task_name="checks")

    def needs(a, b):
        return a + b

    with pytest.raises(ValidationError, match="missing a required argument"):
        task.create_function_task(needs, a=1)
    with pytest.raises(ValidationError, match="callable"):
        task.create_function_task("not a function")
    other = Task.create(project_name="remote-exec", task_name="not main")
    with pytest.raises(StateError, match="main task"):
        other.create_function_task(needs, a=1, b=2)
