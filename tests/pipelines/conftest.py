"""Fixtures of the pipeline tests (see pipeline_helpers.py for the script prelude and markers)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pytest

from pipeline_helpers import PRELUDE, ScriptRun, read_markers


def ended_by_failed_pipeline(proc: Any) -> bool:
    """The script exited 1 only because a pipeline it ran ended failed/aborted (exit_status.py)."""
    return proc.returncode == 1 and "exiting with status 1" in proc.stderr.splitlines()[-1] if proc.stderr else False


@pytest.fixture
def markers_file(tmp_path) -> Path:
    return tmp_path / "markers.txt"


@pytest.fixture
def pipeline_script(run_script, markers_file):
    """Run PRELUDE + ``code`` with ``mode`` as argv[1]; returns a :class:`ScriptRun`.

    Each call starts with an empty markers file unless ``keep_markers``. With ``check``, the
    script must succeed, or end with status 1 because a pipeline it ran failed (the tests of
    failure rules read how it failed from the results and the store)."""

    def run(code: str, mode: str = "inline", *args: str, check: bool = True, env: Optional[dict] = None,
            keep_markers: bool = False, name: str = "pipeline_script.py", cwd: Optional[Path] = None,
            timeout: float = 120) -> ScriptRun:
        import textwrap
        if markers_file.exists() and not keep_markers:
            markers_file.unlink()
        # bytecode is cached as on a user's machine (else every step process recompiles pipetrack)
        full_env = {"PT_MARKERS": str(markers_file), "PYTHONDONTWRITEBYTECODE": "", **(env or {})}
        code = textwrap.dedent(code)
        if mode == "dask":
            pytest.importorskip("distributed")
            full_env.setdefault("PIPETRACK_QUEUES", "default=dask")
            # spawned Dask workers re-import __main__: the usual guard keeps them from re-running it
            code = 'if __name__ == "__main__":\n' + textwrap.indent(code, "    ")
        proc = run_script(PRELUDE + code, mode, *args, check=False, env=full_env, name=name,
                          cwd=cwd, timeout=timeout)
        if check and proc.returncode != 0 and not ended_by_failed_pipeline(proc):
            raise AssertionError(f"{name} failed ({proc.returncode}):\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr}")
        results: dict[str, Any] = {}
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                results.update(json.loads(line[len("RESULT "):]))
        return ScriptRun(proc.stdout, proc.stderr, proc.returncode, results, read_markers(markers_file))

    return run

