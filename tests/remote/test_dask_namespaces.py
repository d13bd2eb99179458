"""Dask workers that share the controller's host name but not its folders (a container with host
networking, a second mount namespace): the destination check must test, not compare names.

A real ``dask scheduler`` and a ``dask worker`` started under ``unshare -m`` with a tmpfs
mounted over the controller's artifacts folder: the worker runs on this host, under this
hostname, and sees an empty folder where the controller's files are."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import remote_steps
from pipetrack import PipelineController, Task
from remote_helpers import PY, stop_process
from s3_fixture import free_port

pytestmark = [pytest.mark.dask, pytest.mark.timeout(180)]


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0


def _scheduler_and_worker(tmp_path, port: int, address: str) -> tuple[subprocess.Popen, subprocess.Popen]:
    """A ``dask scheduler`` on ``port`` and one ``dask worker`` (1 thread) for it, logging into tmp_path."""
    with open(tmp_path / "scheduler.log", "wb") as log:
        scheduler = subprocess.Popen([PY, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                                      str(port), "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT)
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([PY, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads",
                                   "1", "--host", "127.0.0.1", "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT)
    return scheduler, worker


@pytest.fixture
def namespaced_worker(tmp_path, pipetrack_home):
    """``start(hidden)``: a scheduler and one worker that sees an empty tmpfs over folder ``hidden``;
    returns (scheduler address, worker address)."""
    if not _can_unshare():
        pytest.skip("needs root and unshare -m (a private mount namespace)")
    distributed = pytest.importorskip("distributed")
    procs, clients = [], []

    def start(hidden):
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        with open(tmp_path / "scheduler.log", "wb") as log:
            procs.append(subprocess.Popen([PY, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                           "--port", str(port), "--no-dashboard"], stdout=log,
                                          stderr=subprocess.STDOUT))
        worker = (f"mount -t tmpfs none {hidden} && exec {PY} -m distributed.cli.dask_worker {address} "
                  f"--nworkers 1 --nthreads 1 --host 127.0.0.1 --no-dashboard --name namespaced")
        with open(tmp_path / "worker.log", "wb") as log:
            procs.append(subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", worker],
                                          stdout=log, stderr=subprocess.STDOUT))
        client = distributed.Client(address, timeout=30)
        clients.append(client)
        client.wait_for_workers(1, timeout=60)
        (worker_address,) = client.scheduler_info()["workers"]
        assert client.run(lambda: __import__("socket").gethostname())[worker_address] == os.uname().nodename
        return address, worker_address

    yield start
    for client in clients:
        client.close()
    for proc in reversed(procs):
        stop_process(proc)


def test_a_worker_with_our_host_name_but_not_our_folder_is_refused_before_the_step_runs(namespaced_worker,
                                                                                      tmp_path, monkeypatch):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    address, worker = namespaced_worker(artifacts)
    monkeypatch.setenv("PIPETRACK_QUEUES", f"blind={address.replace('tcp://', 'dask://')}")
    pipe = PipelineController(name="blind worker", project="namespaces", output_uri=artifacts.as_uri())
    pipe.set_default_execution_queue("blind")
    pipe.add_function_step("array", remote_steps.make_array, function_kwargs={"n": 5}, function_return=["values"])
    pipe.start_locally()
    node = pipe.get_pipeline_dag()["array"]
    # was: the step ran, wrote its artifact into the worker's private tmpfs, and the run ended completed
    assert node.status == "failed" and not pipe.is_successful()
    assert worker in node.error and "cannot see the folder" in node.error and "s3://" in node.error
    step = Task.get_task(task_id=node.executed)
    assert step.get_status() == "failed" and not step.artifacts
    assert Task.get_task(task_id=pipe.id).get_status() == "failed"


HELPERS = """
def scale(value):
    return value * 10


def step(value):
    return scale(value) + 1
"""


def test_step_and_helpers_from_a_module_only_the_controller_has(namespaced_worker, tmp_path, monkeypatch):
    """The user's own module travels by value; the worker's copy of its folder is empty."""
    modules = tmp_path / "project"
    modules.mkdir()
    (modules / "ctrl_only_steps.py").write_text(HELPERS)
    address, worker = namespaced_worker(modules)
    monkeypatch.syspath_prepend(str(modules))
    import ctrl_only_steps
    monkeypatch.setenv("PIPETRACK_QUEUES", f"far={address.replace('tcp://', 'dask://')}")
    pipe = PipelineController(name="module by value", project="namespaces")
    pipe.set_default_execution_queue("far")
    pipe.add_function_step("step", ctrl_only_steps.step, function_kwargs={"value": 4}, function_return=["r"],
                           helper_functions=[ctrl_only_steps.scale])
    pipe.start_locally()
    node = pipe.get_pipeline_dag()["step"]
    # was: ModuleNotFoundError: No module named 'ctrl_only_steps' on the worker
    assert node.status == "completed", node.error
    step = Task.get_task(task_id=node.executed)
    assert step.artifacts["r"].get() == 41 and step.last_worker == worker


def test_losing_the_scheduler_fails_the_running_step_with_that_reason(tmp_path, monkeypatch, pipetrack_home, caplog):
    """The scheduler is killed (by pid) while a step runs: the step fails saying so, in bounded time,
    and distributed's raw reconnect tracebacks are not printed on top of that message."""
    distributed = pytest.importorskip("distributed")
    import threading
    import time as _time
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    markers = tmp_path / "markers"
    markers.mkdir()
    scheduler, worker = _scheduler_and_worker(tmp_path, port, address)
    try:
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
        monkeypatch.setenv("PIPETRACK_QUEUES", f"doomed={address.replace('tcp://', 'dask://')}")
        pipe = PipelineController(name="scheduler lost", project="namespaces")
        pipe.set_default_execution_queue("doomed")
        pipe.add_function_step("victim", remote_steps.sleep_and_report,
                               function_kwargs={"seconds": 60, "marker_dir": str(markers), "name": "victim"},
                               function_return=["took"])

        def kill_when_started() -> None:
            deadline = _time.monotonic() + 60
            while not (markers / "victim.start").exists() and _time.monotonic() < deadline:
                _time.sleep(0.1)
            scheduler.kill()

        threading.Thread(target=kill_when_started, daemon=True).start()
        started = _time.monotonic()
        pipe.start_locally()
        took = _time.monotonic() - started
        node = pipe.get_pipeline_dag()["victim"]
        assert node.status == "failed", (node.status, node.error)
        assert f"lost connection to the Dask scheduler at {address}" in node.error
        assert "cancelled" not in node.error
        assert took < 50, took  # not the step's 60 s: the run ends once the connection is known lost
        assert Task.get_task(task_id=node.executed).get_status() == "failed"
        raw = [r for r in caplog.records if r.name == "distributed.client" and r.exc_info]
        assert not raw, [r.getMessage() for r in raw]
    finally:
        for proc in (worker, scheduler):
            stop_process(proc)


def test_agent_exits_non_zero_when_its_cluster_fails_a_task(tmp_path, agents, pipetrack_home):
    """A task lost with the agent's Dask scheduler failed for the agent's reason: exit status 1."""
    pytest.importorskip("distributed")
    import time as _time
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    running = tmp_path / "running"
    script = tmp_path / "slow.py"
    script.write_text("import os, time\nfrom pipetrack import Task\nTask.init(project_name='namespaces', "
                      f"task_name='slow')\nopen({str(running)!r}, 'w').write('x')\ntime.sleep(60)\n")
    task = Task.create(project_name="namespaces", task_name="slow", script=str(script))
    Task.enqueue(task, queue_name="lost")
    scheduler, worker = _scheduler_and_worker(tmp_path, port, address)
    try:
        agent = agents("--queue", "lost", "--executor", address.replace("tcp://", "dask://"), "--max-tasks", "1")
        deadline = _time.monotonic() + 90
        while not running.exists() and _time.monotonic() < deadline:
            _time.sleep(0.2)
        assert running.exists(), agent.log()
        scheduler.kill()
        assert agent.wait(120) == 1, agent.log()
        assert "failed for the agent's own reasons" in agent.log() and task.id in agent.log()
        status, message = task.get_status_message()
        assert status == "failed" and "lost connection to the Dask scheduler" in message, message
    finally:
        for proc in (worker, scheduler):
            stop_process(proc)


def test_losing_the_scheduler_stops_a_script_step_on_its_worker(tmp_path, monkeypatch, pipetrack_home):
    """A script step's process runs in its own session on the worker: when the worker loses its
    scheduler (and closes), the step's process is stopped there, not left running orphaned."""
    distributed = pytest.importorskip("distributed")
    import time as _time
    from processes import process_gone, wait_for
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    pid_file = tmp_path / "script.pid"
    script = tmp_path / "long.py"
    script.write_text("import os, time\nfrom pipetrack import Task\nTask.init(project_name='namespaces', "
                      f"task_name='long')\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n")
    base = Task.create(project_name="namespaces", task_name="long", script=str(script))
    scheduler, worker = _scheduler_and_worker(tmp_path, port, address)
    try:
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
        monkeypatch.setenv("PIPETRACK_QUEUES", f"doomed={address.replace('tcp://', 'dask://')}")
        pipe = PipelineController(name="script orphan", project="namespaces")
        pipe.set_default_execution_queue("doomed")
        pipe.add_step("long", base_task_id=base.id)

        def kill_when_started() -> None:
            deadline = _time.monotonic() + 60
            while not pid_file.exists() and _time.monotonic() < deadline:
                _time.sleep(0.1)
            _time.sleep(0.3)
            scheduler.kill()

        import threading
        threading.Thread(target=kill_when_started, daemon=True).start()
        pipe.start_locally()
        assert pid_file.exists(), (tmp_path / "worker.log").read_text()[-3000:]
        node = pipe.get_pipeline_dag()["long"]
        assert node.status == "failed" and "lost connection to the Dask scheduler" in node.error, node.error
        pid = int(pid_file.read_text())
        assert wait_for(lambda: process_gone(pid), timeout=45), "the script step's process runs on orphaned"
    finally:
        for proc in (worker, scheduler):
            stop_process(proc)
