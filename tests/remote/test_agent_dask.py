"""``pipetrack agent --executor dask://host:port``: queued tasks run on the CLI Dask workers,
record into a private store there, and their records come back to the agent's store."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pipetrack import Task
from remote_helpers import process_gone, run_python, wait_for

pytestmark = [pytest.mark.dask, pytest.mark.s3, pytest.mark.timeout(180)]

SCRIPT = """
    import argparse, json, os, time
    from pipetrack import Task
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=2)
    args = parser.parse_args()
    task = Task.init(project_name="dask-agent", task_name="job")
    params = task.connect({"gain": 1.0, "hold": ""})  # the worker's environment is not the agent's
    print(f"job of size {args.size} in pid {os.getpid()}, parent {os.getppid()}")
    task.get_logger().report_scalar("gain", "value", params["gain"], 0)
    task.upload_artifact("out", {"size": args.size, "gain": params["gain"], "ppid": os.getppid(),
                                 "home": os.environ["PIPETRACK_HOME"]})
    hold = params["hold"]
    if hold and not Task.running_locally():
        open(hold + ".running", "w").write(str(os.getpid()))
        time.sleep(60)
"""


def test_agent_runs_clones_on_cluster_workers(dask_scheduler, s3_server, agents, write_script):
    client = dask_scheduler["client"]
    client.wait_for_workers(2, timeout=60)
    script = write_script("job.py", SCRIPT)
    run_python(script)
    base = Task.get_task(project_name="dask-agent", task_name="job")
    clones = []
    for size in (3, 4):
        clone = Task.clone(base, name=f"job {size}")
        clone.set_parameters({**base.get_parameters(), "Args/size": size, "General/gain": size / 2})
        Task.enqueue(clone, queue_name="cluster")
        clones.append(clone)
    output = f"s3://{s3_server['bucket']}/dask-agent-{time.time_ns()}"
    address = dask_scheduler["address"].replace("tcp://", "dask://")
    agent = agents("--queue", "cluster", "--executor", address, "--max-tasks", "2", "--name", "dask-agent",
                   env={"PIPETRACK_OUTPUT_URI": output})
    assert agent.wait(90) == 0, agent.log()
    worker_pids = set(client.run(os.getpid).values())
    for clone, size in zip(clones, (3, 4)):
        clone.reload()
        assert clone.get_status() == "completed", clone.get_status_message()[1]
        out = clone.artifacts["out"].get()
        assert out["size"] == size and out["gain"] == size / 2
        assert out["ppid"] in worker_pids  # started by a Dask worker process
        assert out["home"] != os.environ["PIPETRACK_HOME"]  # it recorded into a private store there...
        assert any(f"job of size {size}" in line for line in clone.get_reported_console_output(20))  # ...and came back
        assert clone.get_reported_scalars()["gain"]["value"]["y"] == [size / 2]
        assert clone.artifacts["out"].url.startswith(output)
        assert clone.last_worker == "dask-agent"
    assert "[dask]" in agent.log()


def test_stopping_a_task_on_the_cluster_terminates_it_and_keeps_its_records(dask_scheduler, agents, write_script,
                                                                            tmp_path):
    dask_scheduler["client"].wait_for_workers(2, timeout=60)
    script = write_script("job.py", SCRIPT)
    run_python(script)
    base = Task.get_task(project_name="dask-agent", task_name="job")
    victim = Task.clone(base, name="victim")
    hold = tmp_path / "hold"
    victim.set_parameter("General/hold", str(hold))
    Task.enqueue(victim, queue_name="cluster")
    address = dask_scheduler["address"].replace("tcp://", "dask://")
    agent = agents("--queue", "cluster", "--executor", address, "--max-tasks", "1")
    running = Path(str(hold) + ".running")
    pid = int(wait_for(lambda: running.exists() and running.read_text(), timeout=60, what="the task to start"))
    victim.mark_stopped(force=True, status_message="stop it")
    assert agent.wait(60) == 0, agent.log()

    wait_for(lambda: process_gone(pid), timeout=20, what="the task's process on the worker to end")
    victim.reload()
    assert victim.get_status() == "stopped"
    assert any("job of size 2" in line for line in victim.get_reported_console_output(20))  # records came back


def test_agent_on_dask_runs_a_script_only_the_store_has_and_names_the_worker(dask_scheduler, s3_server, agents,
                                                                             write_script):
    """The task's script exists nowhere on the workers' machine: it runs from the text the task stored."""
    dask_scheduler["client"].wait_for_workers(2, timeout=60)
    script = write_script("stored_only.py", SCRIPT)
    run_python(script)
    base = Task.get_task(project_name="dask-agent", task_name="job")
    script.unlink()
    clone = Task.clone(base, name="job from stored text")
    clone.set_parameters({**base.get_parameters(), "Args/size": 7})
    no_code = Task.create(project_name="dask-agent", task_name="no code at all")
    for task in (clone, no_code):
        Task.enqueue(task, queue_name="stored")
    output = f"s3://{s3_server['bucket']}/dask-agent-stored-{time.time_ns()}"
    address = dask_scheduler["address"].replace("tcp://", "dask://")
    agent = agents("--queue", "stored", "--executor", address, "--max-tasks", "2", env={"PIPETRACK_OUTPUT_URI": output})
    assert agent.wait(90) == 0, agent.log()
    assert clone.get_status() == "completed", clone.get_status_message()
    assert clone.artifacts["out"].get()["size"] == 7
    assert any("the task's stored script" in line for line in clone.get_reported_console_output(50))
    status, message = no_code.get_status_message()
    workers = set(dask_scheduler["client"].scheduler_info()["workers"])
    assert status == "failed" and "records no script to run" in message
    assert any(f"on Dask worker {w}" in message for w in workers), message
