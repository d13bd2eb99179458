"""How the agent runs a container task: its ``docker run`` command and cached environment image.

The command is checked as built (mounts, variables, the task's own docker arguments, the entry
point); running it needs a docker daemon, which ``test_agent_code.py`` uses when one is there."""
from __future__ import annotations

import os
import shlex

import pytest

from pipetrack.agent import containers
from pipetrack.errors import SetupError


@pytest.fixture
def task_row(tmp_path):
    code = tmp_path / "checkout"
    code.mkdir()
    (code / "train.py").write_text("print('hi')\n")
    return {"id": "t" * 32, "name": "train",
            "script": {"repository": str(code), "entry_point": "train.py", "working_dir": ".", "argv": ["--lr", "1"]},
            "container": {"image": "python:3.11-slim", "arguments": "--gpus all -e EXTRA=1",
                          "setup_shell_script": "apt-get update"}}


def _pairs(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == flag]


def test_run_command_mounts_code_pipetrack_and_a_sqlite_store_at_their_host_paths(task_row, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("PATH_LIKE_NOT_PASSED", "x")
    store = tmp_path / "home" / "pipetrack.db"
    argv = containers.run_command(task_row, "pipetrack-env:abc", str(store))
    code = task_row["script"]["repository"]
    assert argv[:3] == ["docker", "run", "--rm"] and "--init" in argv
    assert _pairs(argv, "--name") == [containers.container_name(task_row["id"])]
    assert _pairs(argv, "--network") == ["host"] and _pairs(argv, "--pid") == ["host"]
    assert _pairs(argv, "-w") == [code]
    mounts = _pairs(argv, "-v")
    assert f"{containers.PIPETRACK_ROOT}:{containers.PIPETRACK_ROOT}:ro" in mounts
    assert f"{code}:{code}:rw" in mounts and f"{store.parent}:{store.parent}:rw" in mounts
    env = dict(item.split("=", 1) for item in _pairs(argv, "-e"))
    assert env["PIPETRACK_TASK_ID"] == task_row["id"] and env["PIPETRACK_STORE"] == str(store)
    assert env["PIPETRACK_HOME"] == str(store.parent) and env["PYTHONPATH"] == containers.PIPETRACK_ROOT
    assert env["AWS_ACCESS_KEY_ID"] == "key" and "PATH_LIKE_NOT_PASSED" not in env and "PATH" not in env
    image_at = argv.index("pipetrack-env:abc")
    assert argv[image_at - 6:image_at - 2] == shlex.split(task_row["container"]["arguments"])  # the task's, last
    assert argv[image_at - 2:image_at] == ["--entrypoint", "python3"]  # never the image's own entry point
    assert argv[image_at + 1:] == [os.path.join(code, "train.py"), "--lr", "1"]


def test_a_postgresql_store_is_reached_over_the_network_not_mounted(task_row, pipetrack_home):
    url = "postgresql://team@127.0.0.1:5432/pipetrack"
    argv = containers.run_command(dict(task_row, container={"image": "img", "arguments": ["--shm-size", "1g"]}),
                                  "img", url)
    env = dict(item.split("=", 1) for item in _pairs(argv, "-e"))
    assert env["PIPETRACK_STORE"] == url and env["PIPETRACK_HOME"] == str(pipetrack_home)  # its config.toml
    assert len(_pairs(argv, "-v")) == 3  # pipetrack, the checkout and the agent's home
    assert argv[argv.index("img") - 4:argv.index("img") - 2] == ["--shm-size", "1g"]  # a list of arguments as given


def test_the_environment_image_is_keyed_by_image_setup_script_and_exact_requirements():
    base = {"image": "python:3.11-slim", "setup_shell_script": "apt-get update"}
    tag = containers.environment_image(base, ["b==2", "a==1"])
    assert tag.startswith(f"{containers.ENV_IMAGE}:")
    assert tag == containers.environment_image(base, ["a==1", "b==2", "a==1"])  # order and repeats do not matter
    assert tag != containers.environment_image(base, ["a==1"])
    assert tag != containers.environment_image(dict(base, setup_shell_script=["apt-get update", "true"]), ["a==1", "b==2"])
    assert tag != containers.environment_image(dict(base, image="python:3.12-slim"), ["a==1", "b==2"])


def test_without_docker_a_container_task_is_refused_naming_its_image(task_row, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker command here
    with pytest.raises(SetupError, match=r"asks for the container image 'python:3.11-slim', but this agent has no "
                                         r"docker command"):
        containers.check_docker(task_row)
    assert containers.container_of(dict(task_row, container={"image": ""})) == {}
