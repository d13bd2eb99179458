"""The dead-task watchdog: killed or frozen scripts do not stay 'in_progress' forever."""
from __future__ import annotations

import os
import signal
import socket
import time

from pipetrack import Task
import pipetrack.store as store_module
from tracking_helpers import read_until

RUNNING_SCRIPT = """
    import time
    from pipetrack import Task
    task = Task.init("watchdog", "victim")
    task.get_logger().report_scalar("loss", "train", 0.5, 0)
    task.flush()
    print("TASK", task.id, flush=True)
    time.sleep(300)
"""


def _forget_open_stores() -> None:
    """Make this test process open the store afresh, as a new process would."""
    store_module.forget_open_stores()


def test_sigkill_is_noticed_by_the_next_process(start_script):
    proc = start_script(RUNNING_SCRIPT)
    task_id = read_until(proc, "TASK ")
    row = Task.get_task(task_id).data
    assert row["status"] == "in_progress" and row["pid"] == proc.pid and row["host"] == socket.gethostname()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    _forget_open_stores()
    task = Task.get_task(task_id)
    assert task.get_status() == "stopped"
    message = task.get_status_message()[1]
    assert f"process {proc.pid}" in message and "watchdog" in message
    assert task.get_last_scalar_metrics()["loss"]["train"]["last"] == 0.5, "flushed reports survive the kill"


def test_a_live_task_is_left_alone(start_script):
    proc = start_script(RUNNING_SCRIPT)
    task_id = read_until(proc, "TASK ")
    _forget_open_stores()
    assert Task.get_task(task_id).get_status() == "in_progress"


def test_stale_heartbeat_is_noticed(start_script, monkeypatch):
    """A frozen process (alive, but its heartbeat thread stopped) is declared dead by heartbeat age."""
    env = {"PIPETRACK_WATCHDOG_SECONDS": "1"}
    proc = start_script(RUNNING_SCRIPT, env=env)
    task_id = read_until(proc, "TASK ")
    monkeypatch.setenv("PIPETRACK_WATCHDOG_SECONDS", "1")

    # while it runs, its heartbeat (every 0.25 s here) keeps it alive past the 1 s limit
    time.sleep(2)
    _forget_open_stores()
    assert Task.get_task(task_id).get_status() == "in_progress"
    beat = Task.get_task(task_id).data["heartbeat"]
    assert time.time() - beat < 1

    os.kill(proc.pid, signal.SIGSTOP)
    try:
        time.sleep(2)
        _forget_open_stores()
        task = Task.get_task(task_id)
        assert task.get_status() == "stopped"
        assert "no heartbeat" in task.get_status_message()[1]
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def test_long_lived_process_sweeps_again(start_script, monkeypatch):
    """A process that keeps the store open (a controller) also notices later deaths."""
    monkeypatch.setenv("PIPETRACK_WATCHDOG_SECONDS", "2")
    _forget_open_stores()
    Task.get_projects()  # open (and sweep) the store now
    proc = start_script(RUNNING_SCRIPT)
    task_id = read_until(proc, "TASK ")
    proc.kill()
    proc.wait(timeout=30)
    time.sleep(0.6)  # > watchdog / 4
    assert Task.get_task(task_id).get_status() == "stopped"
