"""Fixtures of the pipeline tests (see pipeline_helpers.py for the script prelude and markers)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pytest

from pipeline_helpers import PRELUDE, ScriptRun, read_markers


@pytest.fixture
def markers_file(tmp_path) -> Path:
    return tmp_path / "markers.txt"


@pytest.fixture
def pipeline_script(run_script, markers_file):
    """Run PRELUDE + ``code`` with ``mode`` as argv[1]; returns a :class:`ScriptRun`.

    Each call starts with an empty markers file unless ``keep_markers``."""

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
        proc = run_script(PRELUDE + code, mode, *args, check=check, env=full_env, name=name,
                          cwd=cwd, timeout=timeout)
        results: dict[str, Any] = {}
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                results.update(json.loads(line[len("RESULT "):]))
        return ScriptRun(proc.stdout, proc.stderr, proc.returncode, results, read_markers(markers_file))

    return run

