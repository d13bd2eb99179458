"""Process helpers shared by every test folder (tests/ is on sys.path, see conftest.py): user
scripts run as real subprocesses against a store, stopping processes, bounded waits."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def script_env(home: Path, **extra: str) -> dict:
    """This environment, with the store under ``home`` and this checkout importable."""
    return {**os.environ, "PIPETRACK_HOME": str(home), "PYTHONPATH": str(ROOT), **extra}


def run_user_script(home: Path, folder: Path, code: str, *args: str, name: str = "script.py",
                    env: dict | None = None, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
    """Write ``code`` (dedented) to ``folder/name`` and run it with this interpreter against the
    store under ``home``; ``env`` adds variables. AssertionError if it fails and ``check``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(code))
    proc = subprocess.run([sys.executable, str(path), *args], cwd=folder, env=script_env(home, **(env or {})),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} failed ({proc.returncode}):\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr}")
    return proc


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL: end one process we started."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def process_gone(pid: int) -> bool:
    """True once no process with ``pid`` exists (for wait_for)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
