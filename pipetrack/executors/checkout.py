"""Where a script task's code comes from on a machine that never had it (the agent's machine,
a Dask worker running an agent's task).

- **git**: a task that records a repository (and a commit, else a branch's head, else the
  repository's default branch) runs in a fresh worktree of that commit, with the task's uncommitted diff applied. Each repository is fetched
  once into a bare mirror under ``<agent home>/vcs/mirrors/`` (updated with ``git fetch`` when
  the commit is not there yet) and each run gets its own worktree under ``vcs/runs/``, removed
  when the run ends. Git is driven through the ``git`` command (a requirement of the agent);
  credentials come from the user's own git configuration and are never stored.
- **stored script**: a task made outside git records its script's text; when the recorded
  path does not exist here, that text is written to the run folder and run there.
- otherwise the task runs from its recorded path (a script on a shared folder, or this machine).

Every failure is a :class:`~pipetrack.errors.SetupError` naming the repository, commit or diff.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

from ..errors import SetupError

GIT_TIMEOUT_SECONDS = 300.0
UNTRACKED_MARK = "# untracked: "  # environment.git_info appends these lines after the diff


class Checkout:
    """The code of one run: the script section to run it with, and what to clean up after."""

    def __init__(self, script: dict, cleanup: Optional[Callable[[], None]] = None, source: str = "recorded path"):
        self.script = script
        self.source = source
        self._cleanup = cleanup

    def remove(self) -> None:
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None


def checkout_for(row: dict, agent_home: Path, log: Callable[[str], None]) -> Checkout:
    """The code of task ``row`` on this machine (see the module docstring)."""
    script = dict(row.get("script") or {})
    repo = script.get("repository")
    entry = script.get("entry_point")
    if repo and entry and not script.get("module"):
        from ..steps import STEP_SPEC_KEY
        if (row.get("runtime") or {}).get(STEP_SPEC_KEY):  # a function step: its "diff" is the function's source
            script["diff"] = ""
        return _git_checkout(row["id"], script, agent_home, log)
    path = script.get("script_path")
    if entry and not (path and os.path.isfile(path)) and script.get("diff") and not repo:
        return _stored_script(row["id"], script, agent_home, log)
    return Checkout(script)


def _run_folder(agent_home: Path, task_id: str) -> Path:
    runs = agent_home / "vcs" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    return runs / f"{task_id}-{int(time.time() * 1000)}"


def _stored_script(task_id: str, script: dict, agent_home: Path, log: Callable[[str], None]) -> Checkout:
    folder = _run_folder(agent_home, task_id)
    target = folder / os.path.basename(script["entry_point"])
    folder.mkdir()
    target.write_text(script["diff"])
    log(f"code: the task's stored script, written to {target}")
    script.update(script_path=str(target), working_dir=str(folder))
    return Checkout(script, lambda: shutil.rmtree(folder, ignore_errors=True), source="stored script")


def git(*args: str, cwd: Optional[Path] = None, input: Optional[str] = None, what: str = "") -> str:
    """Run ``git ARGS``; a SetupError with git's own message when it fails or takes too long."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password on a terminal
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, text=True, env=env,
                              timeout=GIT_TIMEOUT_SECONDS)
    except FileNotFoundError:
        raise SetupError("the agent needs the git command to check out the task's code; install git") from None
    except subprocess.TimeoutExpired:
        raise SetupError(f"{what or 'git ' + args[0]}: git did not finish in {GIT_TIMEOUT_SECONDS:.0f}s") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise SetupError(f"{what or 'git ' + args[0]} failed: {' / '.join(detail[-3:]) or f'exit {proc.returncode}'}")
    return proc.stdout


def _mirror(repo: str, agent_home: Path, log: Callable[[str], None]) -> Path:
    """The bare mirror of ``repo`` (cloned the first time), locked against concurrent updates."""
    mirrors = agent_home / "vcs" / "mirrors"
    mirrors.mkdir(parents=True, exist_ok=True)
    path = mirrors / (hashlib.sha256(repo.encode("utf-8", "surrogatepass")).hexdigest()[:16] + ".git")
    with open(str(path) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            log(f"code: cloning {repo} into {path}")
            partial = Path(f"{path}.{os.getpid()}.part")
            shutil.rmtree(partial, ignore_errors=True)
            git("clone", "--mirror", "--quiet", repo, str(partial), what=f"cloning repository {repo!r}")
            partial.rename(path)
    return path


def _resolve(mirror: Path, repo: str, commit: str, branch: str, log: Callable[[str], None]) -> str:
    """The full commit to check out: ``commit`` (fetched if the mirror lacks it), else ``branch``'s head."""
    wanted = commit or branch or "HEAD"
    rev = f"{commit}^{{commit}}" if commit else f"refs/heads/{branch}" if branch else "HEAD"

    def lookup() -> Optional[str]:
        try:
            return git("rev-parse", "--verify", "--quiet", rev, cwd=mirror).strip()
        except SetupError:
            return None

    found = lookup() if commit else None
    if found is None:
        with open(str(mirror) + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            log(f"code: fetching {repo}")
            git("fetch", "--prune", "--quiet", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
                cwd=mirror, what=f"fetching repository {repo!r}")
        found = lookup()
    if found is None:
        kind = "commit" if commit else "branch" if branch else "default branch"
        raise SetupError(f"{kind} {wanted!r} is not in repository {repo!r}")
    return found


def _git_checkout(task_id: str, script: dict, agent_home: Path, log: Callable[[str], None]) -> Checkout:
    repo = script["repository"]
    mirror = _mirror(repo, agent_home, log)
    commit = _resolve(mirror, repo, script.get("version_num") or "", script.get("branch") or "", log)
    folder = _run_folder(agent_home, task_id)
    git("worktree", "add", "--detach", "--quiet", str(folder), commit, cwd=mirror,
        what=f"checking out {commit[:12]} of {repo!r}")

    def remove() -> None:
        try:
            git("worktree", "remove", "--force", str(folder), cwd=mirror)
        except SetupError:
            shutil.rmtree(folder, ignore_errors=True)
            subprocess.run(["git", "worktree", "prune"], cwd=mirror, capture_output=True, timeout=60)

    diff = "\n".join(line for line in (script.get("diff") or "").splitlines() if not line.startswith(UNTRACKED_MARK))
    try:
        if diff.strip():
            git("apply", "--whitespace=nowarn", "-", cwd=folder, input=diff + "\n",
                what=f"applying the task's uncommitted changes to {commit[:12]} of {repo!r}")
    except SetupError as exc:
        remove()
        raise SetupError(f"{exc} (the diff no longer applies)") from None
    log(f"code: {repo} at {commit[:12]}" + (" with the task's uncommitted changes" if diff.strip() else ""))
    working_dir = script.get("working_dir") or "."
    script.update(script_path=str(folder / script["entry_point"]), repository=str(folder),
                  working_dir=working_dir if os.path.isabs(working_dir) else str(folder / working_dir))
    return Checkout(script, remove, source=f"git {commit[:12]}")
