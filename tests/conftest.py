"""Shared fixtures: a fresh PIPETRACK_HOME per test, running user scripts as real subprocesses,
(for S3 tests) a moto S3 server on 127.0.0.1 and (for PostgreSQL tests) a throwaway PostgreSQL
server on 127.0.0.1."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from processes import run_user_script  # noqa: E402  (needs tests/ on sys.path, just above)


def pytest_sessionstart(session):
    """pytest's own exit status reports the tests: the pipelines they fail on purpose must not
    turn it into 1 (a pipeline script's exit status is tested in subprocesses). Imported here,
    after pytest parsed its options, so pipetrack's argparse hook never sees them."""
    from pipetrack.pipelines.exit_status import keep_exit_status
    keep_exit_status()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3 server on 127.0.0.1 (one per session) with a bucket; AWS_* variables point at it.
    Yields ``{"endpoint", "bucket", "port", "env"}``."""
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    from s3_fixture import moto_s3_server
    with moto_s3_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server on 127.0.0.1 (one per session; tests/postgres_server.py).
    Skips without the server binaries or psycopg, unless PIPETRACK_REQUIRE_POSTGRES=1 (CI): then
    it fails. A server that is there but does not start is always a failure."""
    from postgres_server import PostgresServer, find_bin_dir
    required = os.environ.get("PIPETRACK_REQUIRE_POSTGRES") == "1"
    missing = None
    if find_bin_dir() is None:
        missing = ("no PostgreSQL server binaries (initdb, pg_ctl, postgres) in /usr/lib/postgresql/*/bin or on "
                   "PATH (apt-get install postgresql; scripts/test installs it)")
    else:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            missing = "psycopg is not installed (pip install 'pipetrack[postgres]')"
    if missing:
        pytest.fail(missing + " [PIPETRACK_REQUIRE_POSTGRES=1]") if required else pytest.skip(missing)
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    """``postgresql://pipetrack@127.0.0.1:PORT/pipetrack``: the session server's own database,
    shared by every test that uses it (use ``postgres_database`` for an empty one)."""
    return postgres_server.url


@pytest.fixture
def postgres_database_factory(postgres_server):
    """Call it to create another fresh empty database (returns its URL); all are dropped after the test."""
    created: list[str] = []

    def create(prefix: str = "test") -> str:
        url = postgres_server.create_database(prefix)
        created.append(url)
        return url

    yield create
    for url in created:
        postgres_server.drop_database(url)


@pytest.fixture
def postgres_database(postgres_database_factory) -> str:
    """The URL of a fresh empty database for this test alone, dropped afterwards."""
    return postgres_database_factory()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request, monkeypatch, pipetrack_home) -> Iterator[str]:
    """Run the test once on each store backend: the embedded SQLite file, and a fresh database of
    the session's PostgreSQL server named by PIPETRACK_STORE (which subprocesses inherit).

    A test module opts in with ``pytestmark = pytest.mark.usefixtures("store_backend")`` (the
    shared suite, as fsspec's abstract tests are shared by its filesystems); yields the backend.
    The test's main task is closed and its reports flushed before its database is dropped."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_database_factory")("store")
        monkeypatch.setenv("PIPETRACK_STORE", url)
    yield request.param
    if request.param == "postgresql":
        from pipetrack.store import forget_open_stores
        from pipetrack.tracking.reporting import flush_all
        _close_main_task()
        flush_all()
        forget_open_stores()


@pytest.fixture(autouse=True)
def pipetrack_home(tmp_path, monkeypatch):
    """Every test gets its own store; class-level Task state is reset around it."""
    home = tmp_path / "pipetrack-home"
    monkeypatch.setenv("PIPETRACK_HOME", str(home))
    for var in ("PIPETRACK_OUTPUT_URI", "PIPETRACK_TASK_ID", "PIPETRACK_QUEUES", "PIPETRACK_IGNORE_CACHE",
                "PIPETRACK_PROC_MASTER_ID", "PIPETRACK_STORE"):
        monkeypatch.delenv(var, raising=False)
    from pipetrack.tracking.task import Task
    Task._main_task = None
    Task._offline_mode = False
    Task._current_task_override = None
    yield home
    _close_main_task()
    Task._offline_mode = False
    Task._current_task_override = None


def _close_main_task() -> None:
    from pipetrack.tracking.task import Task
    main = Task._main_task
    if main is not None and not main._closed:
        main.close()
    Task._main_task = None


@pytest.fixture
def run_script(tmp_path, pipetrack_home):
    """Write ``code`` to a script file and run it with this interpreter; returns CompletedProcess."""

    def run(code: str, *args: str, name: str = "script.py", cwd: Path | None = None, env: dict | None = None,
            check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return run_user_script(pipetrack_home, cwd or tmp_path, code, *args, name=name, env=env, check=check,
                               timeout=timeout)

    return run
