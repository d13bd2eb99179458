"""``pipetrack agent`` as a real subprocess: ClearML's clone -> edit -> enqueue -> re-run loop,
queue order, dequeue, SIGTERM, aborts from elsewhere, tasks that can't run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from pipetrack import Task
from pipetrack.agent.queues import move_to_front, queue_entries, set_priority
from pipetrack.errors import StateError
from processes import script_env
from remote_helpers import PY, run_python, wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("store_backend")]  # the shared suite: SQLite and PostgreSQL

TRAIN = """
    import argparse, json, os, time
    from pipetrack import Task
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--optimizer", default="sgd")
    args = parser.parse_args()
    task = Task.init(project_name="agent", task_name=os.environ.get("TASK_NAME", "train"))
    params = task.connect({"lr": 0.1, "layers": 2, "nested": {"dropout": 0.5}})
    model = task.connect_configuration({"width": 8}, name="model")
    record = {"id": task.id, "local": Task.running_locally(), "epochs": args.epochs, "optimizer": args.optimizer,
              "lr": params["lr"], "layers": params["layers"], "dropout": params["nested"]["dropout"],
              "width": model["width"], "pid": os.getpid()}
    with open(os.environ["MARKER"], "a") as fh:
        fh.write(json.dumps(record) + "\\n")
    hold = os.environ.get("HOLD")
    if hold and not Task.running_locally():
        open(hold + ".running", "w").write(str(os.getpid()))
        deadline = time.time() + 60
        while not os.path.exists(hold) and time.time() < deadline:
            time.sleep(0.05)
    if os.environ.get("FAIL") and not Task.running_locally():
        raise RuntimeError("training diverged")
    task.upload_artifact("summary", {"epochs": args.epochs, "lr": params["lr"]})
"""


def markers(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def base_task(write_script, tmp_path):
    """The train script run once on this machine: a completed task to clone."""
    script = write_script("train.py", TRAIN)
    marker = tmp_path / "marker.jsonl"
    run_python(script, "--epochs", "5", env={"MARKER": str(marker)})
    task = Task.get_task(project_name="agent", task_name="train")
    assert task.get_status() == "completed"
    return {"task": task, "marker": marker, "script": script}


def clone_with(base: Task, name: str, **changes) -> Task:
    clone = Task.clone(base, name=name)
    if changes:
        clone.set_parameters({**base.get_parameters(), **changes})
    return clone


def test_agent_reruns_a_clone_with_edited_dict_argparse_and_configuration(base_task, agents):
    base = base_task["task"]
    assert markers(base_task["marker"])[0]["local"] is True
    clone = clone_with(base, "train tuned", **{"General/lr": 0.02, "General/nested/dropout": 0.1, "Args/epochs": 9,
                                              "Args/optimizer": "adam"})
    clone.set_configuration_object("model", config_dict={"width": 64})
    Task.enqueue(clone, queue_name="gpu")
    assert clone.get_status() == "queued" and Task.get_num_enqueued_tasks("gpu") == 1
    agent = agents("--queue", "gpu", "--max-tasks", "1", "--name", "agent-under-test",
                   env={"MARKER": str(base_task["marker"])})
    assert agent.wait(60) == 0, agent.log()
    seen = markers(base_task["marker"])[-1]
    assert seen == {**seen, "id": clone.id, "local": False, "epochs": 9, "optimizer": "adam", "lr": 0.02,
                    "layers": 2, "dropout": 0.1, "width": 64}
    clone.reload()
    assert clone.get_status() == "completed" and clone.last_worker == "agent-under-test"
    assert clone.artifacts["summary"].get() == {"epochs": 9, "lr": 0.02}
    assert clone.get_parameter("Args/epochs") == "9"
    assert base.get_parameter("Args/epochs") == "5" and base.get_status() == "completed"  # the original untouched
    assert "running task" in agent.log() and Task.get_num_enqueued_tasks("gpu") == 0


def test_queue_order_is_queue_then_priority_then_fifo(base_task, agents, tmp_path):
    base = base_task["task"]
    order_marker = tmp_path / "order.jsonl"
    tasks = {}
    for name in ("first", "second", "urgent", "bumped"):
        tasks[name] = clone_with(base, name)
        Task.enqueue(tasks[name], queue_name="low")
    set_priority(tasks["urgent"], 5)
    move_to_front(tasks["bumped"])  # above everything pending in its queue
    tasks["high"] = clone_with(base, "high")
    Task.enqueue(tasks["high"], queue_name="high")  # enqueued last, but its queue is served first
    assert [row["name"] for row in queue_entries("low")] == ["bumped", "urgent", "first", "second"]
    with pytest.raises(StateError):
        set_priority(base, 1)  # a completed task is in no queue
    agent = agents("--queue", "high", "--queue", "low", "--max-tasks", "5", "--concurrency", "1",
                   env={"MARKER": str(order_marker)})
    assert agent.wait(90) == 0, agent.log()
    names = {t.id: n for n, t in tasks.items()}
    assert [names[m["id"]] for m in markers(order_marker)] == ["high", "bumped", "urgent", "first", "second"]


def test_console_script_and_dequeue_while_the_agent_runs(base_task, agents, tmp_path):
    """``pipetrack agent`` (the console script) runs one task while another waits; that one is
    dequeued (back to Draft) and never runs."""
    if not (Path(PY).parent / "pipetrack").exists():
        pytest.skip("the pipetrack console script is not installed in this environment")
    base = base_task["task"]
    hold = tmp_path / "release"
    running, waiting = clone_with(base, "running"), clone_with(base, "waiting")
    Task.enqueue(running, queue_name="q")
    Task.enqueue(waiting, queue_name="q")
    agent = agents("--queue", "q", "--max-tasks", "1", "--concurrency", "1", module=False,
                   env={"MARKER": str(base_task["marker"]), "HOLD": str(hold)})
    wait_for(lambda: Path(str(hold) + ".running").exists(), timeout=30, what="the first task to start")
    assert running.get_status() == "in_progress" and waiting.get_status() == "queued"
    answer = Task.dequeue(waiting)
    assert answer["dequeued"] == 1 and waiting.get_status() == "created"
    hold.write_text("go")
    assert agent.wait(60) == 0, agent.log()
    assert running.get_status() == "completed"
    assert waiting.get_status() == "created" and waiting.data["started"] is None
    assert [m["id"] for m in markers(base_task["marker"])][1:] == [running.id]


def test_sigterm_to_the_agent_stops_the_running_task(base_task, agents, tmp_path):
    base = base_task["task"]
    hold = tmp_path / "never"
    victim = clone_with(base, "victim")
    Task.enqueue(victim, queue_name="q")
    agent = agents("--queue", "q", env={"MARKER": str(base_task["marker"]), "HOLD": str(hold)})
    pid = int(wait_for(lambda: Path(str(hold) + ".running").exists() and Path(str(hold) + ".running").read_text(),
                       timeout=30, what="the task to start"))
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.wait(30) == 0, agent.log()
    victim.reload()
    assert victim.get_status() == "stopped", victim.get_status_message()[1]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the task's process is gone
    stuck = victim._store.query("SELECT id FROM tasks WHERE status='in_progress'")
    assert stuck == []
    assert "stopped after 1 task" in agent.log()


def test_a_task_aborted_elsewhere_is_stopped_and_the_agent_goes_on(base_task, agents, tmp_path):
    base = base_task["task"]
    hold = tmp_path / "never"
    victim, after = clone_with(base, "victim"), clone_with(base, "after")
    Task.enqueue(victim, queue_name="q")
    Task.enqueue(after, queue_name="q")
    agent = agents("--queue", "q", "--max-tasks", "2", "--concurrency", "1",
                   env={"MARKER": str(base_task["marker"]), "HOLD": str(hold)})
    pid = int(wait_for(lambda: Path(str(hold) + ".running").exists() and Path(str(hold) + ".running").read_text(),
                       timeout=30, what="the task to start"))
    Task.get_task(task_id=victim.id).mark_stopped(force=True, status_message="aborted from the UI")
    hold.write_text("go")  # lets the second task finish at once
    assert agent.wait(60) == 0, agent.log()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert victim.get_status() == "stopped"
    assert after.get_status() == "completed"


def test_tasks_that_cannot_run_or_fail_end_failed_with_a_clear_message(base_task, agents, tmp_path, write_script):
    base = base_task["task"]
    no_script = Task.create(project_name="agent", task_name="no code")
    gone_script = write_script("gone.py", "import os\nopen(os.environ['MARKER'] + '.gone', 'w').write('ran')\n")
    deleted = Task.create(project_name="agent", task_name="deleted code", script=str(gone_script))
    gone_script.unlink()
    failing = clone_with(base, "failing")
    for task in (no_script, deleted, failing):
        Task.enqueue(task, queue_name="q")
    agent = agents("--queue", "q", "--max-tasks", "3", env={"MARKER": str(base_task["marker"]), "FAIL": "1"})
    assert agent.wait(60) == 0, agent.log()
    assert no_script.get_status() == "failed" and "records no script to run" in no_script.get_status_message()[1]
    # a script gone from this machine runs from the text its task stored
    assert deleted.get_status() == "completed", deleted.get_status_message()
    console = "\n".join(deleted.get_reported_console_output(number_of_reports=50))
    assert "the task's stored script" in console
    assert Path(str(base_task["marker"]) + ".gone").read_text() == "ran"
    assert failing.get_status() == "failed" and "RuntimeError: training diverged" in failing.get_status_message()[1]
    assert "can't be run" in agent.log()


@pytest.mark.parametrize("args, message", [
    (["--queue", "q", "--max-tasks", "0"], "argument --max-tasks: expected a whole number >= 1, got '0'"),
    (["--queue", "q", "--executor", "kubernetes"], "agent executor"),
    (["--queue", "q", "--poll", "0"], "argument --poll: expected a positive number of seconds, got '0'"),
])
def test_agent_rejects_bad_arguments(args, message, pipetrack_home):
    proc = subprocess.run([PY, "-m", "pipetrack", "agent", *args], capture_output=True, text=True, timeout=60,
                          env=script_env(pipetrack_home))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
