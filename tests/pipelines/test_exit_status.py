"""A pipeline script's exit status says whether its pipeline succeeded (`python p.py && deploy`)."""
from __future__ import annotations

import pytest

SCRIPT = '''
import sys
from pipetrack import PipelineController, PipelineDecorator

def ok():
    return 1

def broken():
    raise RuntimeError("step is broken")

FRONT, FAIL, EXIT = sys.argv[1], sys.argv[2] == "fail", sys.argv[3]
if FRONT == "controller":
    pipe = PipelineController(name="exit status", project="exit")
    pipe.add_function_step("step", broken if FAIL else ok, function_return=["r"])
    pipe.start_locally(executor="inline")
    print("successful:", pipe.is_successful())
else:
    step = PipelineDecorator.component(return_values=["r"])(broken if FAIL else ok)

    @PipelineDecorator.pipeline(name="exit status", project="exit")
    def pipeline():
        return step()

    PipelineDecorator.debug_pipeline()
    try:
        pipeline()
    except Exception as exc:
        print("caught:", type(exc).__name__)
if EXIT != "none":
    sys.exit(int(EXIT))
print("script end")
'''


@pytest.mark.parametrize("front", ["controller", "decorator"])
@pytest.mark.parametrize("outcome, exit_arg, expected", [
    ("ok", "none", 0), ("fail", "none", 1), ("fail", "3", 3), ("fail", "0", 1), ("ok", "4", 4)])
def test_exit_status_follows_the_pipeline(run_script, front, outcome, exit_arg, expected):
    proc = run_script(SCRIPT, front, outcome, exit_arg, check=False)
    assert proc.returncode == expected, proc.stdout + proc.stderr
    if expected == 1:
        assert "exiting with status 1" in proc.stderr
    if exit_arg == "none":
        assert "script end" in proc.stdout  # the script ran to its end
    from pipetrack import Task
    statuses = {t.get_status() for t in Task.get_tasks(project_name="exit")}
    assert "in_progress" not in statuses  # every exit handler ran before the process left
    assert ("failed" in statuses) == (outcome == "fail")
