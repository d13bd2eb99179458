"""The agent reproduces a task on a machine that does not have its code: the recorded commit of
its repository plus its uncommitted diff, in a cached virtual environment with its packages.

Real git repositories (a bare "origin" and a clone with a commit and an uncommitted change), real
installs from the package index through uv, a real agent process whose machine has no copy of
the code (the clone is deleted before the agent runs)."""
from __future__ import annotations

import shutil
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest

from pipetrack import Task
from pipetrack.agent.containers import environment_image
from pipetrack.agent.environments import environment_requirements

from remote_helpers import docker_image, run_python

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="the agent's git path needs the git command")

TRAIN = """
import argparse, importlib.util
from pipetrack import Task
task = Task.init(project_name="agent-code", task_name="from git")
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
args = parser.parse_args()
from helper import VALUE
logger = task.get_logger()
logger.report_single_value("lr", args.lr)
logger.report_single_value("value", VALUE)
logger.report_single_value("has_unidecode", float(importlib.util.find_spec("text_unidecode") is not None))
"""


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repository(tmp_path):
    """A bare origin and a checkout with one commit (train.py, helper.py: VALUE = 1) and an
    uncommitted change (VALUE = 2); returns (origin, checkout, commit)."""
    origin, checkout = tmp_path / "origin.git", tmp_path / "checkout"
    subprocess.run(["git", "init", "--bare", "--quiet", str(origin)], check=True)
    subprocess.run(["git", "clone", "--quiet", str(origin), str(checkout)], check=True, capture_output=True)
    for key, value in (("user.email", "dev@example.com"), ("user.name", "dev")):
        git("config", key, value, cwd=checkout)
    (checkout / "train.py").write_text(textwrap.dedent(TRAIN))
    (checkout / "helper.py").write_text("VALUE = 1\n")
    git("add", ".", cwd=checkout)
    git("commit", "--quiet", "-m", "first", cwd=checkout)
    git("push", "--quiet", "origin", "HEAD", cwd=checkout)
    (checkout / "helper.py").write_text("VALUE = 2\n")
    return origin, checkout, git("rev-parse", "HEAD", cwd=checkout)


def _values(task: Task) -> dict:
    return task.get_reported_single_values()


def _console(task: Task) -> str:
    return "\n".join(task.get_reported_console_output(number_of_reports=500))


def test_agent_runs_a_clone_from_its_commit_and_diff_in_a_built_environment(repository, agents, pipetrack_home):
    origin, checkout, commit = repository
    run_python(checkout / "train.py")
    (base,) = Task.get_tasks(project_name="agent-code", task_name="from git")
    script = base.get_script()
    assert script["repository"] == str(origin) and script["version_num"] == commit and "VALUE = 2" in script["diff"]
    assert _values(base)["value"] == 2 and _values(base)["has_unidecode"] == 0
    shutil.rmtree(checkout)  # the agent's machine has no copy of the code

    clone = Task.clone(base, name="from git, tuned")
    clone.set_parameter("Args/lr", 0.5)
    clone.set_packages(["text-unidecode==1.3"])
    Task.enqueue(clone, queue_name="code")
    again = Task.clone(clone, name="from git, again")  # the same requirement set: the environment is reused
    Task.enqueue(again, queue_name="code")
    agent = agents("--queue", "code", "--max-tasks", "2", "--concurrency", "1")
    assert agent.wait(300) == 0, agent.log()
    for task in (clone, again):
        assert task.get_status() == "completed", (task.get_status_message(), _console(task), agent.log())
        values = _values(task)
        assert values["lr"] == 0.5  # the edited parameter took effect
        assert values["value"] == 2  # the uncommitted change was applied to the commit
        assert values["has_unidecode"] == 1  # installed into the task's environment, not the agent's
    first, second = _console(clone), _console(again)
    assert f"code: {origin} at {commit[:12]} with the task's uncommitted changes" in first
    assert "environment: building" in first and "text-unidecode==1.3" in first
    assert "environment: reusing" in second and "environment: building" not in second
    assert not list((pipetrack_home / "agent" / "vcs" / "runs").iterdir())  # each run's worktree is removed


def test_no_venv_runs_in_the_agents_own_environment(repository, agents):
    origin, checkout, commit = repository
    task = Task.create(project_name="agent-code", task_name="no venv", repo=str(origin), commit=commit,
                       script="train.py", packages=["text-unidecode==1.3"])
    Task.enqueue(task, queue_name="code")
    agent = agents("--queue", "code", "--max-tasks", "1", "--no-venv")
    assert agent.wait(120) == 0, agent.log()
    assert task.get_status() == "completed", (task.get_status_message(), _console(task))
    assert _values(task)["value"] == 1  # the commit as it is: this task records no diff
    assert _values(task)["has_unidecode"] == 0
    assert "environment:" not in _console(task)


def test_what_cannot_be_set_up_fails_the_task_with_the_reason(repository, agents, tmp_path):
    origin, checkout, commit = repository
    stale = Task.create(project_name="agent-code", task_name="stale diff", repo=str(origin), commit=commit,
                        script="train.py")
    stale_script = stale.get_script()
    stale_script["diff"] = ("diff --git a/helper.py b/helper.py\n--- a/helper.py\n+++ b/helper.py\n"
                            "@@ -1 +1 @@\n-VALUE = 7\n+VALUE = 8\n")
    stale.set_script(diff=stale_script["diff"])
    cases = {
        "unreachable": (Task.create(project_name="agent-code", task_name="unreachable", repo=str(tmp_path / "gone.git"),
                                    commit=commit, script="train.py"), "cloning repository"),
        "unknown commit": (Task.create(project_name="agent-code", task_name="unknown commit", repo=str(origin),
                                       commit="0" * 40, script="train.py"), f"commit {'0' * 40!r} is not in repository"),
        "stale diff": (stale, "(the diff no longer applies)"),
        "bad requirement": (Task.create(project_name="agent-code", task_name="bad requirement", repo=str(origin),
                                        commit=commit, script="train.py",
                                        packages=["pipetrack-no-such-package-anywhere==9.9.9"]),
                            "installing the task's requirements failed"),
    }
    if docker_image() is None:  # without a working docker, a container task is refused, never run on the host
        docked = Task.create(project_name="agent-code", task_name="docker", repo=str(origin), commit=commit,
                             script="train.py", docker="python:3.11-slim")
        cases["docker"] = (docked, "asks for the container image 'python:3.11-slim'")
    else:  # with docker, an image that is not there fails the task (the tests reach no registry to pull it)
        docked = Task.create(project_name="agent-code", task_name="docker", repo=str(origin), commit=commit,
                             script="train.py", docker="pipetrack-test/no-such-image:1")
        cases["docker"] = (docked, "building the environment of image 'pipetrack-test/no-such-image:1' failed")
    for task, _ in cases.values():
        Task.enqueue(task, queue_name="code")
    agent = agents("--queue", "code", "--max-tasks", str(len(cases)), "--concurrency", "2")
    assert agent.wait(300) == 0, agent.log()  # the agent goes on after each failure
    for name, (task, reason) in cases.items():
        status, message = task.get_status_message()
        assert status == "failed" and reason in message, (name, message)
        assert reason in _console(task), name
        assert f"task {task.id} failed: " in agent.log(), name


REPO_STEP = """
import sys
from pipetrack import PipelineController


def uses_repo_module():
    import helper  # only in the step's repository, never on this script's path
    return helper.VALUE * 10


pipe = PipelineController(name="repo step", project="agent-code")
pipe.add_function_step("from_repo", uses_repo_module, function_return=["r"], execution_queue="workers",
                       repo=sys.argv[1], repo_commit=sys.argv[2], packages=["text-unidecode==1.3"])
pipe.start_locally()
node = pipe.get_pipeline_dag()["from_repo"]
print("STEP", node.executed, node.status, node.error)
"""


def test_a_function_step_with_repo_runs_on_an_agent_in_that_checkout(repository, agents, tmp_path):
    """add_function_step(repo=..., repo_commit=...): the function travels by value, the agent
    checks the repository out so the modules it imports are there, with the step's packages."""
    origin, checkout, commit = repository
    controller = tmp_path / "controller"
    controller.mkdir()
    (controller / "pipe.py").write_text(textwrap.dedent(REPO_STEP))
    agent = agents("--queue", "workers", "--max-tasks", "1")
    proc = run_python(controller / "pipe.py", str(origin), commit, check=False)
    assert agent.wait(120) == 0, agent.log()
    step_id, status = proc.stdout.split("STEP ")[1].split()[:2]
    step = Task.get_task(task_id=step_id)
    assert status == "completed", (proc.stdout, _console(step), agent.log())
    assert step.artifacts["r"].get() == 10  # helper.VALUE at the commit (the uncommitted 2 is not the step's)
    assert f"code: {origin} at {commit[:12]}" in _console(step) and "text-unidecode==1.3" in _console(step)


CONTROLLER = """
import sys
from pipetrack import PipelineController
def step():
    return 1
pipe = PipelineController(name="from a repo", project="agent-code", repo=sys.argv[1], **dict(
    arg.split("=", 1) for arg in sys.argv[2:]))
pipe.add_function_step("s", step, function_return=["r"])
pipe.start(queue="nobody-serves-this", wait=False)
"""


@pytest.mark.parametrize("given", ["checkout", "url"])
def test_a_controller_with_repo_is_enqueued_to_run_in_that_repository(repository, tmp_path, given):
    """PipelineController(repo=...): a local checkout becomes its remote, commit and diff (as ClearML
    converts it); a URL is taken as given with repo_branch/repo_commit; the agent works from its root."""
    origin, checkout, commit = repository
    script = checkout / "pipe.py"  # the controller lives in the repository: its entry point is relative
    script.write_text(textwrap.dedent(CONTROLLER))
    args = [str(checkout)] if given == "checkout" else [f"file://{origin}", "repo_branch=main", f"repo_commit={commit}"]
    run_python(script, *args)
    (controller,) = Task.get_tasks(project_name="agent-code", task_name="from a repo")
    recorded = controller.get_script()
    assert controller.get_status() == "queued"
    assert recorded["version_num"] == commit and recorded["working_dir"] == "."
    assert recorded["entry_point"] == "pipe.py"
    if given == "checkout":
        assert recorded["repository"] == str(origin) and "VALUE = 2" in recorded["diff"]
    else:
        assert recorded["repository"] == f"file://{origin}" and recorded["branch"] == "main"


@pytest.mark.skipif(docker_image() is None, reason="no docker daemon with the test image "
                    "(PIPETRACK_TEST_DOCKER_IMAGE, default python:3.11-slim) on this machine")
def test_a_docker_task_runs_in_its_image_from_its_commit_with_a_cached_environment(repository, agents):
    """docker=: the agent builds the task's environment into an image once (setup script and
    packages), runs the checkout in a container of it, and reuses the image the second time."""
    origin, checkout, commit = repository
    image = docker_image()
    setup = f"echo {uuid.uuid4().hex} > /pipetrack-setup-mark"  # a new environment image for this run
    made = Task.create(project_name="agent-code", task_name="in docker", repo=str(origin), commit=commit,
                       script="train.py", packages=["text-unidecode==1.3"], docker=image,
                       docker_bash_setup_script=setup)
    made.set_parameter("Args/lr", 0.25)
    again = Task.clone(made, name="in docker, again")
    for task in (made, again):
        Task.enqueue(task, queue_name="code")
    tag = environment_image({"image": image, "setup_shell_script": setup}, environment_requirements("text-unidecode==1.3"))
    try:
        agent = agents("--queue", "code", "--max-tasks", "2", "--concurrency", "1")
        assert agent.wait(900) == 0, agent.log()
        for task in (made, again):
            assert task.get_status() == "completed", f"{task.get_status_message()}\n{_console(task)}\n{agent.log()}"
            assert _values(task) == {"lr": 0.25, "value": 1, "has_unidecode": 1}  # edited, the commit, installed
        assert f"container environment: building {tag}" in _console(made)
        assert f"container environment: reusing image {tag}" in _console(again)
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
