"""Fixtures for remote execution: real processes on 127.0.0.1 only.

- ``s3_server`` (from tests/conftest.py): moto's S3 server, AWS_* variables pointing at it;
- ``dask_scheduler``: ``dask scheduler`` + two ``dask worker`` processes (``--nworkers 1
  --nthreads 1``) on free ports (session), their environment pointing at the S3 server;
- ``local_cluster``: a 2-worker spawned LocalCluster and a client (session);
- ``agents``: start ``python -m pipetrack agent ...`` subprocesses; stopped at teardown;
- ``write_script``: write a user script into the test's folder.

Every wait is bounded; every process started here is ended here (by its own pid).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator, Optional

import pytest

TESTS = Path(__file__).resolve().parent.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from s3_fixture import free_port  # noqa: E402

from processes import script_env  # noqa: E402
from remote_helpers import PY, AgentProcess, stop_process  # noqa: E402


# --------------------------------------------------------------------------- Dask
@pytest.fixture(scope="session")
def dask_scheduler(s3_server: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1."""
    distributed = pytest.importorskip("distributed")
    folder = tmp_path_factory.mktemp("dask-cli")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = script_env(folder / "worker-home", **s3_server["env"])
    procs: list[subprocess.Popen] = []
    client = None
    try:
        with open(folder / "scheduler.log", "wb") as log:
            procs.append(subprocess.Popen(
                [PY, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
                 "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder))
        for i in range(2):
            with open(folder / f"worker{i}.log", "wb") as log:
                procs.append(subprocess.Popen(
                    [PY, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads", "1",
                     "--host", "127.0.0.1", "--no-dashboard", "--name", f"cli-worker-{i}"],
                    stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder))
        client = distributed.Client(address, timeout=30)
        client.wait_for_workers(2, timeout=60)
        yield {"address": address, "client": client, "procs": procs, "folder": folder}
    finally:
        if client is not None:
            client.close()
        for proc in reversed(procs):
            stop_process(proc)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[dict]:
    """A 2-worker LocalCluster of spawned processes (1 thread each) and a client."""
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address="127.0.0.1:0")
    client = distributed.Client(cluster)
    try:
        yield {"cluster": cluster, "client": client, "address": cluster.scheduler_address}
    finally:
        client.close()
        cluster.close()


# --------------------------------------------------------------------------- agents
@pytest.fixture
def agents(tmp_path: Path, pipetrack_home: Path) -> Iterator:
    """``agents(*args, env=None, module=True)`` starts an agent; all are stopped at teardown."""
    started: list[AgentProcess] = []

    def start(*args: str, env: Optional[dict] = None, module: bool = True) -> AgentProcess:
        agent = AgentProcess(["--poll", "0.1", *args], tmp_path / f"agent{len(started)}.log",
                             script_env(pipetrack_home, **(env or {})), module)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        stop_process(agent.proc, timeout=30)


@pytest.fixture
def write_script(tmp_path: Path):
    """``write_script(name, code)`` -> path of a dedented script in the test's folder."""

    def write(name: str, code: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(code))
        return path

    return write
