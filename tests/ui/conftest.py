"""UI test fixtures: a store filled by real scripts and pipelines, and a real ``pipetrack ui``
server process on 127.0.0.1 over it (helpers in ``tests/ui_helpers.py``)."""
from __future__ import annotations

import re

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from ui_helpers import (FAILING_SCRIPT, PIPELINE_SCRIPT, STORES, TRAIN_SCRIPT, UIServer,  # noqa: E402
                        run_user_script, start_server, stop_server)


def pytest_generate_tests(metafunc) -> None:
    """A module with ``UI_BACKENDS = ("sqlite", "postgresql")`` runs each test of its filled store
    on each backend (one filled store per backend and module)."""
    backends = getattr(metafunc.module, "UI_BACKENDS", None)
    if backends and "ui_backend" in metafunc.fixturenames:
        metafunc.parametrize("ui_backend", backends, indirect=True, scope="module")


@pytest.fixture(scope="module")
def ui_backend(request) -> str:
    """The store backend of this module's filled store: "sqlite" unless the module names several."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="module")
def filled_home(tmp_path_factory, ui_backend, request) -> dict:
    """A store filled by real runs: two training scripts (different --lr), a failing script and a
    two-step pipeline. Returns ``{"home", "ids": {label: task_id}}``. On the PostgreSQL backend
    the store is a fresh database of the session's server, bound to ``home`` in ``STORES``."""
    home = tmp_path_factory.mktemp("ui-home")
    if ui_backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        STORES[home] = server.create_database("ui")
        request.addfinalizer(lambda: server.drop_database(STORES.pop(home)))
    work = tmp_path_factory.mktemp("ui-scripts")
    ids = {}
    for label, args in (("train_a", ["--lr", "0.1", "--name", "run a"]), ("train_b", ["--lr", "0.3", "--name", "run b"])):
        out = run_user_script(home, work, TRAIN_SCRIPT, *args, name="train.py").stdout
        ids[label] = re.search(r"finished (\w+)", out).group(1)
    run_user_script(home, work, FAILING_SCRIPT, name="failing.py", check=False)
    run_user_script(home, work, PIPELINE_SCRIPT, name="pipeline.py")
    return {"home": home, "work": work, "ids": ids}


@pytest.fixture(scope="module")
def ui_server(filled_home) -> UIServer:
    """A ``pipetrack ui`` process over ``filled_home`` (one per test module)."""
    server = start_server(filled_home["home"])
    yield server
    stop_server(server)
