"""Fixtures for tracking tests: scripts started in the background (for signals and aborts)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from processes import script_env


@pytest.fixture
def start_script(tmp_path, pipetrack_home):
    """Start ``code`` as a script in the background; returns the Popen (stdout/stderr piped, text).

    Every process still running at the end of the test is killed.
    """
    started: list[subprocess.Popen] = []

    def start(code: str, *args: str, name: str = "bg_script.py", env: dict | None = None) -> subprocess.Popen:
        path = tmp_path / name
        path.write_text(textwrap.dedent(code))
        proc = subprocess.Popen([sys.executable, str(path), *args], cwd=tmp_path,
                                env=script_env(pipetrack_home, PYTHONUNBUFFERED="1", **(env or {})),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
