"""The Python environment an agent runs a task in: a virtual environment with the task's
recorded requirements, built once per exact requirement set and reused.

The requirement set is the task's recorded requirements (``Task.init``'s imports, ``packages=``
of a step, ``Task.set_packages``, or a ``requirements.txt`` at the root of its checkout), minus
pipetrack itself, plus pipetrack's own dependencies pinned to the agent's versions. pipetrack is
not installed into the environment: a ``.pth`` file puts the agent's own copy on its path, so a
task always runs the agent's pipetrack against the agent's store format.

Environments live under ``<agent home>/venvs/<hash>`` where the hash covers the Python version
and the sorted requirement lines: the second run of the same task starts without any install.
A new one is built under a lock and marked complete at the end, so agents sharing a home never
use a half-built environment. ``uv`` builds it (``uv venv`` + ``uv pip install``: seconds, with
its own resolver and cache); where uv is missing, ``python -m venv`` and pip do.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from ..errors import SetupError

INSTALL_TIMEOUT_SECONDS = 900.0
CORE_DEPENDENCIES = ("networkx", "cloudpickle", "dill", "fsspec")  # pyproject's dependencies, by name
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_lines(text: str) -> list[str]:
    """The requirement lines of a requirements text: comments, blanks and pipetrack itself dropped."""
    lines = []
    for raw in (text or "").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _NAME.match(line)
        if match and _canonical(match.group(1)) == "pipetrack":
            continue
        lines.append(line)
    return lines


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def own_requirements() -> list[str]:
    """pipetrack's core dependencies at the versions this agent runs (what a task's pipetrack needs)."""
    pinned = []
    try:
        specs = importlib.metadata.requires("pipetrack") or []
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        specs = list(CORE_DEPENDENCIES)
    for spec in specs:
        if ";" in spec:  # extras only
            continue
        name = _NAME.match(spec).group(1)
        try:
            pinned.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pinned.append(spec)
    return pinned


def environment_key(requirements: list[str]) -> str:
    """The cache key of an environment: Python version and the exact, sorted requirement set."""
    text = "\n".join([sys.version.split()[0], *sorted(set(requirements))])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _find_uv() -> Optional[str]:
    beside = Path(sys.executable).with_name("uv")
    return shutil.which("uv") or (str(beside) if beside.exists() else None)


def _pipetrack_root() -> str:
    import pipetrack
    return str(Path(pipetrack.__file__).resolve().parent.parent)


def environment_requirements(task_requirements: str) -> list[str]:
    """The exact requirement set of a task's environment: its own lines and pipetrack's dependencies."""
    return sorted(set(requirement_lines(task_requirements)) | set(own_requirements()))


def python_for(task_requirements: str, agent_home: Path, log: Callable[[str], None]) -> str:
    """The interpreter of the environment for ``task_requirements`` (built now if it is new)."""
    requirements = environment_requirements(task_requirements)
    folder = agent_home / "venvs" / environment_key(requirements)
    python, complete = folder / "bin" / "python", folder / ".pipetrack-complete"
    if complete.exists():
        log(f"environment: reusing {folder} ({len(requirements)} requirements)")
        return str(python)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # built in place (console scripts record their absolute path), under a lock: agents sharing a
    # home wait for one build instead of racing; the marker says the build finished
    with open(f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if complete.exists():
            return str(python)
        shutil.rmtree(folder, ignore_errors=True)
        started = time.monotonic()
        uv = _find_uv()
        log(f"environment: building {folder} with {'uv' if uv else 'pip'}: {', '.join(requirements)}")
        try:
            if uv:
                run_logged([uv, "venv", "--quiet", "--python", sys.executable, str(folder)], log, "creating the environment")
                install = [uv, "pip", "install", "--python", str(python)]
            else:
                run_logged([sys.executable, "-m", "venv", str(folder)], log, "creating the environment")
                install = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
            req_file = folder / "task-requirements.txt"
            req_file.write_text("\n".join(requirements) + "\n")
            run_logged([*install, "-r", str(req_file)], log, "installing the task's requirements")
            site = next((folder / "lib").glob("python*/site-packages"))
            (site / "pipetrack-agent.pth").write_text(_pipetrack_root() + "\n")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        complete.write_text(f"{time.time()}\n")
    log(f"environment: built in {time.monotonic() - started:.1f}s")
    return str(python)


def run_logged(argv: list[str], log: Callable[[str], None], what: str, prefix: str = "environment",
               timeout: float = INSTALL_TIMEOUT_SECONDS) -> None:
    """Run a set-up command (an install, a container build) with its last 40 output lines on the
    task's console (``prefix: line``); SetupError saying ``what`` failed, or did not finish in time."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SetupError(f"{what} did not finish in {timeout:.0f}s") from None
    output = (proc.stdout + proc.stderr).strip()
    for line in output.splitlines()[-40:]:
        log(f"{prefix}: {line}")
    if proc.returncode != 0:
        last = [line for line in output.splitlines() if line.strip()][-3:]
        raise SetupError(f"{what} failed: {' / '.join(last) or f'exit {proc.returncode}'}")
