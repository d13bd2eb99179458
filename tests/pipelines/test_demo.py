"""The README's demo (examples/demo.py) as a user runs it from the checkout: it ends well, and
every command it echoes can be pasted into a shell in that folder and does the same thing."""
from __future__ import annotations

import shlex
import subprocess
import sys

from processes import ROOT, script_env


def test_demo_runs_and_echoes_pasteable_commands(pipetrack_home):
    proc = subprocess.run([sys.executable, "examples/demo.py"], cwd=ROOT, env=script_env(pipetrack_home),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    echoed = [line[2:] for line in proc.stdout.splitlines() if line.startswith("$ ")]
    assert len(echoed) == 6, proc.stdout
    listing = echoed[-2]
    assert "tasks list" in listing
    pasted = subprocess.run(listing, shell=True, cwd=ROOT, env=script_env(pipetrack_home), capture_output=True,
                            text=True, timeout=60)
    assert pasted.returncode == 0, pasted.stderr
    assert "train" in pasted.stdout and "pipeline from decorators" in pasted.stdout
    for command in echoed:
        program = shlex.split(command)[0]
        assert (ROOT / program).exists() or program == sys.executable, command
    assert "cached: reusing the outputs" in proc.stderr  # the second pipeline run reuses every step
