"""Code and environment capture: git state, standalone script text, Python requirements."""
from __future__ import annotations

import platform
import shutil
import subprocess
import textwrap

import pytest

from pipetrack import Task
from tracking_helpers import task_id_of

SCRIPT = """
    import numpy  # a third-party import: must show up in the requirements
    from pipetrack import Task
    task = Task.init("env", "capture")
    print("TASK", task.id)
"""


def git(cwd, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_repository_branch_commit_and_diff(run_script, tmp_path):
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "feature-x")
    git(repo, "remote", "add", "origin", "https://example.com/team/project.git")
    script = repo / "src" / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    commit = git(repo, "rev-parse", "HEAD")

    clean = task_id_of(run_script(SCRIPT, name="train.py", cwd=repo / "src").stdout)
    info = Task.get_task(clean).get_script()
    assert info["repository"] == "https://example.com/team/project.git"
    assert info["branch"] == "feature-x" and info["version_num"] == commit
    assert info["entry_point"] == "src/train.py" and info["working_dir"] == "src"
    assert info["diff"] == ""

    # an uncommitted change: the diff is recorded, the commit stays the same
    proc = run_script(SCRIPT + "    # tuned by hand\n", name="train.py", cwd=repo / "src")
    info = Task.get_task(task_id_of(proc.stdout)).get_script()
    assert info["version_num"] == commit
    assert "+# tuned by hand" in info["diff"] and "src/train.py" in info["diff"]


def test_standalone_script_text_outside_a_repo(run_script, tmp_path):
    folder = tmp_path / "no-repo"
    proc = run_script(SCRIPT, name="alone.py", cwd=folder)
    task = Task.get_task(task_id_of(proc.stdout))
    info = task.get_script()
    assert info["entry_point"] == "alone.py" and info["working_dir"] == str(folder)
    assert "repository" not in info or not info["repository"]
    assert 'Task.init("env", "capture")' in info["diff"], "the script's own text is stored"
    assert info["python"] == platform.python_version()


def test_requirements_list_imported_packages_with_versions(run_script):
    import numpy
    proc = run_script(SCRIPT)
    task = Task.get_task(task_id_of(proc.stdout))
    reqs = task.get_requirements()["pip"].splitlines()
    assert f"numpy=={numpy.__version__}" in reqs
    assert not any(r.startswith(("pandas", "os==", "json==")) for r in reqs), "only imported third-party packages"


def test_add_and_ignore_requirements_and_set_packages(run_script, tmp_path):
    import pandas
    proc = run_script("""
        import numpy
        from pipetrack import Task
        Task.add_requirements("pandas")
        Task.add_requirements("special-lib", ">=2.0")
        Task.ignore_requirements("numpy")
        task = Task.init("env", "requirements")
        print("TASK", task.id)
    """)
    task = Task.get_task(task_id_of(proc.stdout))
    reqs = task.get_requirements()["pip"].splitlines()
    assert f"pandas=={pandas.__version__}" in reqs and "special-lib>=2.0" in reqs
    assert not any(r.startswith("numpy") for r in reqs)

    req_file = tmp_path / "requirements.txt"
    req_file.write_text("torch>=2\nrich\n")
    proc = run_script(f"""
        from pipetrack import Task
        task = Task.init("env", "set-packages")
        task.set_packages(["tqdm>=4", "scikit-learn"])
        first = task.get_requirements()["pip"]
        task.set_packages({str(req_file)!r})
        print("FIRST", first.replace("\\n", ";"))
        print("TASK", task.id)
    """)
    assert "FIRST tqdm>=4;scikit-learn" in proc.stdout
    task = Task.get_task(task_id_of(proc.stdout))
    assert task.get_requirements() == {"pip": "torch>=2\nrich\n"}, "set_packages wins over the detected imports"


def test_set_script_and_set_repo():
    task = Task.init("env", "set-script", auto_connect_streams=False)
    task.set_repo(repo="git@example.com:a/b.git", branch="main", commit="abc123")
    task.set_script(entry_point="run.py", working_dir="sub", diff="")
    info = task.get_script()
    assert (info["repository"], info["branch"], info["version_num"]) == ("git@example.com:a/b.git", "main", "abc123")
    assert (info["entry_point"], info["working_dir"], info["diff"]) == ("run.py", "sub", "")
