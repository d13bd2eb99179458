"""A team on one PostgreSQL catalogue: several "machines" (processes with their own
PIPETRACK_HOME) share one store and one S3 (moto) output destination.

Person A runs a pipeline whose steps an agent on machine C runs; person B sees it in ``pipetrack tasks list`` and the UI, clones one of
its step tasks, edits a parameter and enqueues it; an agent on machine C runs it. Concurrency on
PostgreSQL: 16 processes x 5,000 scalars lose nothing; 8 agents claiming from one queue run each
task exactly once."""
from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from processes import script_env
from remote_helpers import AgentProcess, PY, run_python, stop_process

pytestmark = pytest.mark.timeout(300)

PIPELINE = """
    from pipetrack import PipelineController

    def make(n):
        return list(range(n))

    def total(xs):
        return sum(xs)

    pipe = PipelineController(name="team-pipeline", project="team")
    pipe.set_default_execution_queue("team-workers")  # served by the agent on machine C
    pipe.add_parameter("n", 4)
    pipe.add_function_step("make", make, function_kwargs={"n": "${pipeline.n}"}, function_return=["xs"])
    pipe.add_function_step("total", total, function_kwargs={"xs": "${make.xs}"}, function_return=["t"])
    pipe.start_locally()
    print("PIPELINE", pipe.id)
"""

SCALARS = """
    import sys
    from pipetrack import Task
    task = Task.init(project_name="team", task_name="writer " + sys.argv[1])
    logger = task.get_logger()
    for i in range(5000):
        logger.report_scalar("loss", "train", float(i), i)
    task.close()
"""

CLAIMED = """
    import os
    from pipetrack import Task
    task = Task.init(project_name="team", task_name="job")
    with open(os.environ["MARKER"], "a") as fh:
        fh.write(task.id + "\\n")
"""


@pytest.fixture
def team(tmp_path, postgres_database, s3_server, monkeypatch):
    """``machine(name)`` -> the environment of a process on that "machine": its own
    PIPETRACK_HOME, the shared PostgreSQL store and the shared S3 destination. This test process
    is the machine "test" (it reads the store to check results)."""
    destination = f"s3://{s3_server['bucket']}/team-{tmp_path.name}"

    def machine(name: str) -> dict:
        home = tmp_path / f"home-{name}"
        return script_env(home, PIPETRACK_STORE=postgres_database, PIPETRACK_OUTPUT_URI=destination,
                          PIPETRACK_PROGRESS="0", **s3_server["env"])

    for key, value in machine("test").items():
        monkeypatch.setenv(key, value)
    return machine


def _write(tmp_path: Path, name: str, code: str) -> Path:
    import textwrap
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


def test_a_pipeline_run_by_a_is_seen_cloned_and_enqueued_by_b_and_run_by_an_agent_on_c(team, tmp_path):
    agent = AgentProcess(["--queue", "team-workers", "--poll", "0.1", "--no-venv", "--name", "machine-c"],
                         tmp_path / "agent-c.log", team("c"))
    try:
        _a_runs_b_clones_c_reruns(team, tmp_path, agent)
    finally:
        stop_process(agent.proc)


def _a_runs_b_clones_c_reruns(team, tmp_path: Path, agent: AgentProcess) -> None:
    from pipetrack import PipelineController, Task
    out = run_python(_write(tmp_path, "pipeline.py", PIPELINE), env=team("a")).stdout
    pipeline_id = out.split("PIPELINE ")[1].split()[0]
    assert Task.get_task(task_id=pipeline_id).get_status() == "completed", agent.log()

    # B: the CLI lists A's pipeline and steps, from B's own home
    listed = subprocess.run([PY, "-m", "pipetrack", "tasks", "list", "--project", "team"], env=team("b"),
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert pipeline_id[:8] in listed.stdout and "make" in listed.stdout and "total" in listed.stdout

    # B: the UI over the same catalogue shows them too
    ui = subprocess.Popen([PY, "-m", "pipetrack", "ui", "--port", "0", "--no-auth"], env=team("b"),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        for _ in range(50):
            line = ui.stdout.readline()
            if "http://" in line:
                break
        url = line[line.index("http://"):].split()[0].split("?")[0]
        with urllib.request.urlopen(url.rstrip("/") + "/api/tasks?project=team", timeout=30) as resp:
            shown = json.loads(resp.read())
    finally:
        stop_process(ui)
    names = {row["name"] for row in shown["rows"]}
    assert {"team-pipeline", "make", "total"} <= names

    # B clones the "make" step, edits its argument and enqueues it; an agent on C runs it
    dag = PipelineController.get(pipeline_id=pipeline_id).get_pipeline_dag()
    make = Task.get_task(task_id=dag["make"]["executed"])
    assert make.last_worker == "machine-c" and make.artifacts["xs"].get() == [0, 1, 2, 3]
    assert make.artifacts["xs"].url.startswith("s3://")
    clone_script = _write(tmp_path, "clone.py", f"""
        from pipetrack import Task
        clone = Task.clone(Task.get_task(task_id="{make.id}"), name="make, edited by b")
        clone.set_parameter("kwargs/n", 7)
        Task.enqueue(clone, queue_name="team-workers")
        print("CLONE", clone.id)
    """)
    clone_id = run_python(clone_script, env=team("b")).stdout.split("CLONE ")[1].split()[0]
    from processes import wait_for
    wait_for(lambda: Task.get_task(task_id=clone_id).get_status() in ("completed", "failed"), 120,
             what="the agent on machine C ran B's clone")
    clone = Task.get_task(task_id=clone_id)
    assert clone.get_status() == "completed", agent.log()
    assert clone_id in agent.log()  # run by the agent on machine C
    assert clone.artifacts["xs"].get() == list(range(7))
    assert clone.artifacts["xs"].url.startswith("s3://")


def test_sixteen_processes_report_5000_scalars_each_and_none_is_lost(team, tmp_path):
    from pipetrack import Task
    script = _write(tmp_path, "scalars.py", SCALARS)
    procs = [subprocess.Popen([PY, str(script), str(i)], env=team(f"w{i}"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for i in range(16)]
    for proc in procs:
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, out.decode(errors="replace")
    tasks = Task.get_tasks(project_name="team")
    assert len(tasks) == 16
    for task in tasks:
        series = task.get_reported_scalars()["loss"]["train"]
        assert series["x"] == list(range(5000)) and series["y"] == [float(i) for i in range(5000)], task.name


def test_eight_agents_on_one_queue_run_each_task_exactly_once(team, tmp_path):
    from pipetrack import Task
    marker = tmp_path / "claimed.txt"
    base_script = _write(tmp_path, "job.py", CLAIMED)
    run_python(base_script, env={**team("a"), "MARKER": str(tmp_path / "base.txt")})
    base = Task.get_task(project_name="team", task_name="job")
    clones = []
    for i in range(24):
        clone = Task.clone(base, name=f"job {i}")
        Task.enqueue(clone, queue_name="shared")
        clones.append(clone.id)
    agents = [AgentProcess(["--queue", "shared", "--poll", "0.05", "--no-venv", "--name", f"agent-{i}",
                            "--max-tasks", "24"], tmp_path / f"agent{i}.log",
                           {**team(f"agent{i}"), "MARKER": str(marker)}) for i in range(8)]
    try:
        from processes import wait_for
        wait_for(lambda: all(Task.get_task(task_id=c).get_status() in ("completed", "failed") for c in clones),
                 240, what="24 queued tasks finished")
    finally:
        for agent in agents:
            stop_process(agent.proc, timeout=30)
    ran = marker.read_text().split()
    assert sorted(ran) == sorted(clones), "\n".join(a.log() for a in agents)[-4000:]
    statuses = {Task.get_task(task_id=c).get_status() for c in clones}
    assert statuses == {"completed"}
    workers = {Task.get_task(task_id=c).last_worker for c in clones}
    assert len(workers) > 1  # the queue was really shared



def _where_recorded(x):
    from pipetrack import Task
    task = Task.current_task()
    task.get_logger().report_scalar("x", "value", float(x), 0)
    return {"store": task._store.location, "x": x}


@pytest.mark.dask
def test_dask_workers_that_reach_the_shared_store_record_into_it_directly(team, local_cluster):
    """The controller's store is the team's PostgreSQL: each Dask worker opens it and records the
    step there itself (no private store, no records replayed by the controller)."""
    from pipetrack import PipelineController, Task
    from pipetrack.executors.dask import DaskExecutor

    class SharedCluster(DaskExecutor):  # leaves the session cluster running at shutdown
        def __init__(self, client):
            super().__init__(client=client)

    pipe = PipelineController(name="team-dask", project="team")
    for i in range(3):
        pipe.add_function_step(f"step{i}", _where_recorded, function_kwargs={"x": i}, function_return=["where"])
    pipe.start_locally(executor=SharedCluster(local_cluster["client"]))
    for i in range(3):
        step = Task.get_task(task_id=pipe.get_pipeline_dag()[f"step{i}"].executed)
        assert step.get_status() == "completed"
        assert step.artifacts["where"].get() == {"store": team("test")["PIPETRACK_STORE"], "x": i}
        assert step.get_reported_scalars()["x"]["value"]["y"] == [float(i)]
        assert step.last_worker.startswith("tcp://127.0.0.1:")
