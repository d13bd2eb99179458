"""UI test fixtures: a store filled by real scripts and pipelines, and a real ``pipetrack ui``
server process on 127.0.0.1 over it (helpers in ``tests/ui_helpers.py``)."""
from __future__ import annotations

import re

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from ui_helpers import (FAILING_SCRIPT, PIPELINE_SCRIPT, TRAIN_SCRIPT, UIServer,  # noqa: E402
                        run_user_script, start_server, stop_server)


@pytest.fixture(scope="module")
def filled_home(tmp_path_factory) -> dict:
    """A store filled by real runs: two training scripts (different --lr), a failing script and a
    two-step pipeline. Returns ``{"home", "ids": {label: task_id}}``."""
    home = tmp_path_factory.mktemp("ui-home")
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
