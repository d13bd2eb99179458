"""Helpers shared by the remote-execution tests (processes, bounded waits)."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

from processes import ROOT, process_gone, stop_process, wait_for  # noqa: F401  (re-exported for the remote tests)

PY = sys.executable


class AgentProcess:
    """One ``pipetrack agent`` subprocess (its output goes to a log file)."""

    def __init__(self, args: list[str], log_path: Path, env: dict, module: bool = True):
        self.log_path = log_path
        command = [PY, "-m", "pipetrack", "agent"] if module else [str(Path(PY).parent / "pipetrack"), "agent"]
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen([*command, *args], stdout=log, stderr=subprocess.STDOUT, env=env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"agent did not exit within {timeout}s; its log:\n{self.log()}") from None

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        wait_for(lambda: text in self.log() or self.proc.poll() is not None, timeout, what=f"{text!r} in agent log")
        assert text in self.log(), self.log()


def run_python(path: Path, *args: str, env: Optional[dict] = None, timeout: float = 120,
               check: bool = True) -> subprocess.CompletedProcess:
    """Run a script with this interpreter (pipetrack importable), in its folder."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run([PY, str(path), *args], cwd=path.parent, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{path.name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@functools.lru_cache(maxsize=None)
def docker_image() -> Optional[str]:
    """The image the container tests run in (``PIPETRACK_TEST_DOCKER_IMAGE``, default
    python:3.11-slim) when a docker daemon answers and already has it (the tests never pull:
    their network is 127.0.0.1 only); None otherwise."""
    if shutil.which("docker") is None:
        return None
    image = os.environ.get("PIPETRACK_TEST_DOCKER_IMAGE", "python:3.11-slim")
    try:
        for argv in (["docker", "info"], ["docker", "image", "inspect", image]):
            if subprocess.run(argv, capture_output=True, timeout=20).returncode != 0:
                return None
    except (OSError, subprocess.TimeoutExpired):
        return None
    return image
