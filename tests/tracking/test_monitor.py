"""The optional resource monitor: ':monitor:' scalars when on, no thread at all when off."""
from __future__ import annotations

from pipetrack import Task
from tracking_helpers import task_id_of

SCRIPT = """
    import threading, time
    from pipetrack import Task
    task = Task.init("monitor", "{name}", auto_resource_monitoring={flag})
    print("TASK", task.id)
    x = 0
    deadline = time.time() + 0.8
    while time.time() < deadline:   # keep a CPU busy so there is something to measure
        x += 1
    print("THREADS", sorted(t.name for t in threading.enumerate()))
"""


def test_monitor_reports_cpu_and_memory(run_script):
    proc = run_script(SCRIPT.format(name="on", flag=True), env={"PIPETRACK_MONITOR_SECONDS": "0.1"})
    assert "pipetrack-monitor" in proc.stdout
    task = Task.get_task(task_id_of(proc.stdout))
    scalars = task.get_all_reported_scalars()
    assert {":monitor:cpu", ":monitor:memory"} <= set(scalars)
    cpu = scalars[":monitor:cpu"]["process_cpu_percent"]["y"]
    assert len(cpu) >= 3 and max(cpu) > 20, "a busy loop shows up as CPU use"
    assert all(v > 0 for v in scalars[":monitor:memory"]["process_used_mib"]["y"])


def test_monitor_off_starts_no_thread(run_script):
    proc = run_script(SCRIPT.format(name="off", flag=False), env={"PIPETRACK_MONITOR_SECONDS": "0.1"})
    assert "pipetrack-monitor" not in proc.stdout
    task = Task.get_task(task_id_of(proc.stdout))
    assert not any(title.startswith(":monitor:") for title in task.get_all_reported_scalars())
