"""The watchdog judges an agent's task by the task's own process and heartbeat, not the agent's:
SIGKILL of ``pipetrack agent`` leaves its running task alone (it runs in its own process
group and records its own pid), and the task completes."""
from __future__ import annotations

import os
import signal
import pytest

from pipetrack import Task
from pipetrack.store import default_store
from pipetrack.store.watchdog import sweep
from remote_helpers import process_gone, wait_for

pytestmark = pytest.mark.timeout(120)

SLOW = """
    import os, time
    from pipetrack import Task
    task = Task.init(project_name="agent-watchdog", task_name="slow")
    with open(os.environ["RUNNING"], "w") as fh:
        fh.write(str(os.getpid()))
    logger = task.get_logger()
    for i in range(20):  # ~10 s
        logger.report_scalar("progress", "step", i, i)
        time.sleep(0.5)
    print("slow task finished")
"""


def _run_under_agent(agents, write_script, tmp_path, name: str, source: str):
    """Enqueue ``source`` as task ``name`` and start an agent on it; (task, agent, task pid) once
    the task process wrote its pid to $RUNNING."""
    script = write_script(f"{name}.py", source)
    task = Task.create(project_name="agent-watchdog", task_name=name, script=str(script))
    Task.enqueue(task, queue_name="q")
    running = tmp_path / "running.pid"
    agent = agents("--queue", "q", env={"RUNNING": str(running)})
    task_pid = int(wait_for(lambda: running.exists() and running.read_text(), timeout=60, what="the task to start"))
    return task, agent, task_pid


def test_sigkill_of_the_agent_leaves_its_healthy_task_running(agents, write_script, tmp_path):
    task, agent, task_pid = _run_under_agent(agents, write_script, tmp_path, "slow", SLOW)
    assert task_pid != agent.proc.pid

    agent.proc.send_signal(signal.SIGKILL)
    agent.proc.wait(timeout=30)
    assert process_gone(agent.proc.pid) and not process_gone(task_pid)

    store = default_store()
    assert sweep(store) == []
    assert task.get_status() == "in_progress"
    wait_for(lambda: task.get_status() != "in_progress", timeout=60, interval=0.2, what="the task to end")
    status, message = task.get_status_message()
    assert status == "completed", message
    assert len(task.get_reported_scalars()["progress"]["step"]["y"]) == 20
    wait_for(lambda: process_gone(task_pid), timeout=30, what="the task process to exit")


def test_a_dead_task_process_of_a_killed_agent_is_noticed_by_its_own_pid(agents, write_script, tmp_path):
    task, agent, task_pid = _run_under_agent(agents, write_script, tmp_path, "victim", SLOW)
    wait_for(lambda: task.data["pid"] == task_pid, timeout=10, what="the task process to record its pid")
    agent.proc.send_signal(signal.SIGKILL)
    agent.proc.wait(timeout=30)
    os.kill(task_pid, signal.SIGKILL)
    wait_for(lambda: process_gone(task_pid) or open(f"/proc/{task_pid}/stat").read().split(")")[-1].split()[0] == "Z",
             timeout=30, what="the task process to die")
    assert sweep(default_store()) == [task.id]
    status, message = task.get_status_message()
    assert status == "stopped" and f"process {task_pid} " in message, message


LATE_INIT = """
    import os, time
    open(os.environ["RUNNING"], "w").write(str(os.getpid()))
    time.sleep(3)  # not attached yet: only the agent can have recorded this process's pid
    from pipetrack import Task
    task = Task.init(project_name="agent-watchdog", task_name="late")
    task.get_logger().report_scalar("progress", "step", 1, 1)
"""


def test_the_agent_records_its_task_process_before_the_task_attaches(agents, write_script, tmp_path):
    task, agent, task_pid = _run_under_agent(agents, write_script, tmp_path, "late", LATE_INIT)
    assert task.data["pid"] == task_pid
    agent.proc.send_signal(signal.SIGKILL)
    agent.proc.wait(timeout=30)
    assert sweep(default_store()) == [] and task.get_status() == "in_progress"
    wait_for(lambda: task.get_status() != "in_progress", timeout=60, interval=0.2, what="the task to end")
    assert task.get_status_message()[0] == "completed", task.get_status_message()
