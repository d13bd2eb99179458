"""The ``pipetrack`` command behaves like the tools people pipe it into: ``--version``, a quiet
end on a closed pipe, one JSON shape for listings, and refused nonsense numbers."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from processes import ROOT


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pipetrack", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def _tasks(n: int) -> list[str]:
    from pipetrack import Task
    return [Task.create(project_name="cli", task_name=f"t{i}").id for i in range(n)]


def test_version_prints_the_package_version(pipetrack_home):
    import pipetrack
    proc = cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"pipetrack {pipetrack.__version__}"


def test_a_closed_pipe_ends_quietly(pipetrack_home):
    ids = _tasks(1000)  # more than a pipe buffer holds (64 KiB): the writer meets the closed pipe
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["tasks", "list", "--limit", "1000"], ["tasks", "list", "--json", "--limit", "1000"],
                 ["tasks", "show", ids[0]]):
        proc = subprocess.run(f"{sys.executable} -m pipetrack {' '.join(args)} | head -1", shell=True, env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0
        assert proc.stdout.strip(), args
        assert "BrokenPipeError" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_every_json_listing_is_an_object_with_a_total(pipetrack_home):
    ids = _tasks(3)
    tasks = json.loads(cli("tasks", "list", "--json").stdout)
    assert tasks["total"] == 3 and sorted(t["id"] for t in tasks["tasks"]) == sorted(ids)
    runs = json.loads(cli("pipelines", "list", "--json").stdout)
    assert runs == {"total": 0, "runs": []}


@pytest.mark.parametrize("args, bad", [
    (["tasks", "list", "--limit", "-1"], "-1"),
    (["tasks", "list", "--limit", "ten"], "ten"),
    (["tasks", "show", "abc", "--console", "-5"], "-5"),
    (["pipelines", "list", "--limit", "0"], "0"),
    (["agent", "--queue", "q", "--concurrency", "0"], "0"),
    (["agent", "--queue", "q", "--poll", "-1"], "-1"),
    (["agent", "--queue", "q", "--poll", "nan"], "nan"),
    (["ui", "--port", "-80"], "-80"),
])
def test_invalid_numbers_are_refused_naming_the_value(pipetrack_home, args, bad):
    proc = cli(*args)
    assert proc.returncode == 2
    assert f"got '{bad}'" in proc.stderr, proc.stderr
