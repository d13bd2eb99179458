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


@pytest.fixture
def blind_worker_cluster(tmp_path, pipetrack_home):
    """(scheduler address, artifacts folder, worker address) with one worker in its own mount namespace."""
    if not _can_unshare():
        pytest.skip("needs root and unshare -m (a private mount namespace)")
    distributed = pytest.importorskip("distributed")
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(tmp_path)) if p)}
    procs = []
    client = None
    try:
        with open(tmp_path / "scheduler.log", "wb") as log:
            procs.append(subprocess.Popen([PY, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                                           str(port), "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT, env=env))
        worker = (f"mount -t tmpfs none {artifacts} && exec {PY} -m distributed.cli.dask_worker {address} "
                  f"--nworkers 1 --nthreads 1 --host 127.0.0.1 --no-dashboard --name blind")
        with open(tmp_path / "worker.log", "wb") as log:
            procs.append(subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", worker],
                                          stdout=log, stderr=subprocess.STDOUT, env=env))
        client = distributed.Client(address, timeout=30)
        client.wait_for_workers(1, timeout=60)
        (worker_address,) = client.scheduler_info()["workers"]
        assert client.run(lambda: __import__("socket").gethostname())[worker_address] == os.uname().nodename
        yield address, artifacts, worker_address
    finally:
        if client is not None:
            client.close()
        for proc in reversed(procs):
            stop_process(proc)


def test_a_worker_with_our_host_name_but_not_our_folder_is_refused_before_the_step_runs(blind_worker_cluster,
                                                                                      monkeypatch):
    address, artifacts, worker = blind_worker_cluster
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
