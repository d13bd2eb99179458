"""The ``pipetrack`` command behaves like the tools people pipe it into: ``--version``, a quiet
end on a closed pipe, one JSON shape for listings, and refused nonsense numbers."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from processes import ROOT

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL


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


def test_unique_id_prefixes_are_accepted_where_ids_are(pipetrack_home, monkeypatch):
    """As git takes abbreviated commits: any unique prefix of 4+ digits; ambiguous or unknown ones are refused."""
    import uuid

    import pipetrack.tracking.task as task_module
    from pipetrack import PipelineController, Task
    made = iter(["abcd" + uuid.uuid4().hex[4:], "abcd" + uuid.uuid4().hex[4:], "beef" + uuid.uuid4().hex[4:]])
    with monkeypatch.context() as patched:
        patched.setattr(task_module, "new_id", lambda: next(made))
        first, second, third = (Task.create(project_name="cli", task_name=f"p{i}").id for i in range(3))
    shown = cli("tasks", "show", third[:6])
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"Task {third}: cli / p2")
    assert cli("tasks", "show", first[:9].upper()).stdout.startswith(f"Task {first}:")  # digits, any case
    compared = json.loads(cli("tasks", "compare", first[:8], "beef", "--json").stdout)
    assert [t["id"] for t in compared["tasks"]] == [first, third]

    ambiguous = cli("tasks", "show", "abcd")
    assert ambiguous.returncode == 2
    assert "'abcd' is ambiguous" in ambiguous.stderr and first in ambiguous.stderr and second in ambiguous.stderr
    short = cli("tasks", "show", "abc")
    assert short.returncode == 2 and "too short" in short.stderr and "at least 4" in short.stderr
    unknown = cli("tasks", "show", "0123456")
    assert unknown.returncode == 2 and "no task id starts with '0123456'" in unknown.stderr
    not_hex = cli("tasks", "show", "train-run")
    assert not_hex.returncode == 2 and "'train-run' is not a task id" in not_hex.stderr

    pipe = PipelineController(name="prefixed", project="cli")
    pipe.add_function_step("one", _one, function_return=["r"])
    pipe.start_locally(executor="inline")
    run = cli("pipelines", "show", pipe.id[:10])
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"Pipeline run {pipe.id}:")


def _one():
    return 1


@pytest.mark.parametrize("executor", ["dask", "dask://127.0.0.1:8786"])
def test_agent_without_dask_names_the_extra_to_install(pipetrack_home, executor):
    """As on a machine without the dask extra: dask and distributed can't be imported."""
    blocked = ("import sys; sys.modules['dask'] = sys.modules['distributed'] = None; "
               "from pipetrack.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", blocked, "agent", "--queue", "q", "--executor", executor,
                           "--max-tasks", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"executor '{executor}' needs dask and distributed: pip install 'pipetrack[dask]'" in proc.stderr
    assert "Traceback" not in proc.stderr
