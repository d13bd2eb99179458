"""The example pipelines run as the user would run them (and a second run is served by the cache)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline_helpers import pipeline_runs

from processes import ROOT, script_env


@pytest.mark.parametrize("example,args", [("pipeline_functions.py", ["--inline"]), ("pipeline_functions.py", []),
                                          ("pipeline_decorator.py", ["--debug"]), ("pipeline_decorator.py", [])])
def test_example_runs(example, args, pipetrack_home, tmp_path):
    env = script_env(pipetrack_home)
    for _ in range(2):
        proc = subprocess.run([sys.executable, str(ROOT / "examples" / example), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    runs = pipeline_runs("examples")
    assert len(runs) == 2 and {r.get_status() for r in runs} == {"completed"}
    console = "\n".join(runs[1].get_reported_console_output(100))
    assert "cache hit" in console  # the cached steps of the second run
