"""Helpers shared by the tracking tests (a uniquely named module, importable from test files)."""
from __future__ import annotations

import subprocess
import time


def read_until(proc: subprocess.Popen, prefix: str, timeout: float = 60) -> str:
    """Read the background script's stdout until a line starting with ``prefix``; returns the rest."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"script ended before printing {prefix!r}: {proc.stderr.read()}")
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    raise AssertionError(f"no line starting with {prefix!r} within {timeout}s")


def task_id_of(stdout: str) -> str:
    """The id a script printed as ``TASK <id>``."""
    for line in stdout.splitlines():
        if line.startswith("TASK "):
            return line.split()[1]
    raise AssertionError(f"no 'TASK <id>' line in:\n{stdout}")
