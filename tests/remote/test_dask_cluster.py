"""Pipelines on a real ``dask scheduler`` + two ``dask worker`` processes, artifacts in S3 (moto).

The cluster and the S3 server are session fixtures on 127.0.0.1. The controller runs in this
test process and reaches the cluster through a queue mapped to ``dask://127.0.0.1:PORT``.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

import remote_steps
from pipetrack import PipelineController, Task
from remote_helpers import wait_for

pytestmark = [pytest.mark.dask, pytest.mark.s3, pytest.mark.timeout(180)]


@pytest.fixture
def cluster_queue(dask_scheduler, monkeypatch):
    """PIPETRACK_QUEUES maps queue 'cluster' to the CLI scheduler (as dask://host:port)."""
    address = dask_scheduler["address"].replace("tcp://", "dask://")
    monkeypatch.setenv("PIPETRACK_QUEUES", f"cluster={address},default=local")
    dask_scheduler["client"].wait_for_workers(2, timeout=60)
    return dask_scheduler


def _s3_keys(s3_server, prefix):
    import boto3
    client = boto3.client("s3", endpoint_url=s3_server["endpoint"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    listing = client.list_objects_v2(Bucket=s3_server["bucket"], Prefix=prefix)
    return [o["Key"] for o in listing.get("Contents", [])]


def test_steps_run_on_cli_workers_with_artifacts_in_s3(cluster_queue, s3_server):
    client = cluster_queue["client"]
    workers = set(client.scheduler_info()["workers"])
    worker_pids = set(client.run(os.getpid).values())
    prefix = f"runs-{os.getpid()}-{time.time_ns()}"
    pipe = PipelineController(name="on-cluster", project="remote", output_uri=f"s3://{s3_server['bucket']}/{prefix}")
    pipe.set_default_execution_queue("cluster")
    for tag in ("a", "b", "c"):
        pipe.add_function_step(f"where_{tag}", remote_steps.where_am_i, function_kwargs={"tag": tag},
                               function_return=["info"])
    pipe.add_function_step("join", remote_steps.join,
                           function_kwargs={t: f"${{where_{t}.info}}" for t in ("a", "b", "c")},
                           function_return=["addresses"])
    pipe.add_function_step("array", remote_steps.make_array, function_kwargs={"n": 1000}, function_return=["values"])
    pipe.add_function_step("total", remote_steps.total, function_kwargs={"values": "${array.values}"},
                           function_return=["sum"])
    pipe.start_locally()
    assert pipe.is_successful(), [(n.name, n.status, n.error) for n in pipe.get_pipeline_dag().values()]

    for tag in ("a", "b", "c"):
        step = Task.get_task(task_id=pipe.get_pipeline_dag()[f"where_{tag}"].executed)
        info = step.artifacts["info"].get()
        # ran on a CLI worker process, not in this controller process
        assert info["address"] in workers and info["pid"] in worker_pids and info["pid"] != os.getpid()
        assert step.last_worker == info["address"]
        # Dask key carries the step name (the dashboard groups by it)
        assert info["key"].startswith(f"where_{tag}-{step.id[:8]}-")
        # records came back: console, scalars, status, parent; artifact in S3
        assert step.get_status() == "completed" and step.parent == pipe.id
        assert any(f"step {tag} running on" in line for line in step.get_reported_console_output(100))
        assert step.get_reported_scalars()["where"]["pid"]["y"] == [info["pid"]]
        assert step.artifacts["info"].url.startswith(f"s3://{s3_server['bucket']}/{prefix}/")
        assert step.data["output_uri"] == f"s3://{s3_server['bucket']}/{prefix}"  # the setting, as recorded
    total_task = Task.get_task(task_id=pipe.get_pipeline_dag()["total"].executed)
    assert total_task.artifacts["sum"].get() == float(sum(range(1000)))
    keys = _s3_keys(s3_server, prefix)
    assert any("values" in k for k in keys) and any("sum" in k for k in keys), keys
    # both workers took part (three independent steps, two single-thread workers)
    addresses = Task.get_task(task_id=pipe.get_pipeline_dag()["join"].executed).artifacts["addresses"].get()
    assert set(addresses.values()) <= workers


def test_task_step_runs_its_script_on_a_worker(cluster_queue, s3_server, write_script):
    """add_step (a script task) on the cluster: the script runs as a subprocess of a worker,
    records into a private store there, and its records come back."""
    from remote_helpers import run_python
    script = write_script("scale.py", """
        import argparse, os
        from pipetrack import PipelineController, Task
        parser = argparse.ArgumentParser()
        parser.add_argument("--factor", type=int, default=2)
        args = parser.parse_args()
        task = Task.init(project_name="remote-src", task_name="scale")
        print(f"scaling by {args.factor} in pid {os.getpid()} (parent {os.getppid()})")
        if not Task.running_locally():  # a pipeline step: report to the pipeline as well
            PipelineController.get_logger().report_scalar("from-step", "factor", args.factor, 0)
        task.upload_artifact("scaled", {"value": 10 * args.factor, "ppid": os.getppid()})
    """)
    run_python(script)
    base = Task.get_task(project_name="remote-src", task_name="scale")
    prefix = f"script-{time.time_ns()}"
    pipe = PipelineController(name="script-on-cluster", project="remote",
                              output_uri=f"s3://{s3_server['bucket']}/{prefix}")
    pipe.add_step("scale", base_task_id=base.id, parameter_override={"Args/factor": 7}, execution_queue="cluster")
    pipe.start_locally()
    node = pipe.get_pipeline_dag()["scale"]
    assert node.status == "completed", node.error
    step = Task.get_task(task_id=node.executed)
    scaled = step.artifacts["scaled"].get()
    assert scaled["value"] == 70
    assert scaled["ppid"] in set(cluster_queue["client"].run(os.getpid).values())  # a worker started it
    assert step.artifacts["scaled"].url.startswith(f"s3://{s3_server['bucket']}/{prefix}/")
    assert any("scaling by 7" in line for line in step.get_reported_console_output(50))
    assert base.get_parameter("Args/factor") == "2"  # the base task is untouched
    assert pipe.task.get_reported_scalars()["from-step"]["factor"]["y"] == [7]  # reported to the pipeline


@pytest.mark.slow
def test_worker_killed_mid_step_is_rescheduled(cluster_queue, tmp_path):
    """SIGKILL the worker process running a step: Dask reschedules it (allowed-failures) on a
    worker that is alive, the step completes, the pipeline neither fails nor hangs."""
    client = cluster_queue["client"]
    markers = tmp_path / "markers"
    markers.mkdir()
    pipe = PipelineController(name="kill-worker", project="remote")
    pipe.add_function_step("victim", remote_steps.killable, function_kwargs={
        "marker_dir": str(markers), "name": "victim", "die_times": 1}, function_return=["attempt"],
        execution_queue="cluster")
    killed = []

    def killer():
        pid_file = markers / "victim.pid.0"
        wait_for(pid_file.exists, timeout=60, what="the step's first attempt")
        pid = int(pid_file.read_text())
        killed.append(pid)
        os.kill(pid, signal.SIGKILL)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    pipe.start_locally()
    thread.join(timeout=5)
    node = pipe.get_pipeline_dag()["victim"]
    assert killed and node.status == "completed", node.error
    step = Task.get_task(task_id=node.executed)
    assert step.artifacts["attempt"].get() == 1  # the second attempt produced the output
    second = int((markers / "victim.pid.1").read_text())
    assert second != killed[0]
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker for later tests


LIVE_POLLER = """
import json, sys, time
from pipetrack import Task
out, deadline = sys.argv[1], time.time() + 120
seen = {"running": None, "console": None, "points": {}}
task = None
while time.time() < deadline:
    if task is None:
        found = Task.get_tasks(project_name="live", task_name="^reporter$")
        task = found[0] if found else None
    if task is not None:
        now = time.time()
        status = task.get_status()
        if status == "in_progress" and seen["running"] is None:
            seen["running"] = now
        if seen["console"] is None and any("tick" in l for l in task.get_reported_console_output(50)):
            seen["console"] = now
        series = task.get_reported_scalars().get("tick", {}).get("t", {})
        for x, y in zip(series.get("x", []), series.get("y", [])):
            seen["points"].setdefault(str(int(x)), [y, now])
        if status in ("completed", "failed", "stopped"):
            break
    time.sleep(0.1)
open(out, "w").write(json.dumps(seen))
"""


def test_a_running_step_is_visible_in_the_controllers_store_while_it_runs(cluster_queue, s3_server, tmp_path):
    """Another process polls the controller's store during a 10 s step on a CLI worker."""
    import json
    import statistics
    import subprocess
    import sys
    from processes import script_env
    poller = tmp_path / "poller.py"
    poller.write_text(LIVE_POLLER)
    seen_file = tmp_path / "seen.json"
    watcher = subprocess.Popen([sys.executable, str(poller), str(seen_file)],
                               env=script_env(Path(os.environ["PIPETRACK_HOME"])))
    prefix = f"live-{os.getpid()}-{time.time_ns()}"
    pipe = PipelineController(name="live pipeline", project="live", output_uri=f"s3://{s3_server['bucket']}/{prefix}")
    pipe.set_default_execution_queue("cluster")
    pipe.add_function_step("reporter", remote_steps.report_every_second, function_kwargs={"seconds": 10},
                           function_return=["n"])
    pipe.start_locally()
    assert pipe.is_successful()
    assert watcher.wait(timeout=60) == 0
    seen = json.loads(seen_file.read_text())
    step = Task.get_task(task_id=pipe.get_pipeline_dag()["reporter"].executed)
    ended = step.data["completed"]
    # was: queued, no console and no scalars in the controller's store until the step ended
    assert seen["running"] is not None and seen["running"] < ended - 5
    assert seen["console"] is not None and seen["console"] < ended - 3
    early = {int(i): now - y for i, (y, now) in seen["points"].items() if now < ended - 1}
    assert len(early) >= 5, seen["points"]
    delay = statistics.median(early.values())
    print(f"live view: median delay from report on the worker to the controller's store {delay:.2f}s")
    assert delay < 5
    # streamed snapshots are replaced by the final records, never added to them
    assert step.get_reported_scalars()["tick"]["t"]["x"] == list(range(10))
    assert sum("tick" in line for line in step.get_reported_console_output(100)) == 10
