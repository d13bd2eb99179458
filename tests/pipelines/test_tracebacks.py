"""A failing step's traceback points at the user's file and line, in every mode: the function
travels by value but keeps its source file name, the worker's own frames are left out, and the
exception a decorator pipeline raises carries the step's traceback when it ran elsewhere."""
from __future__ import annotations

import pickle
import traceback

import pytest

from pipetrack.pickling import dumps_keeping_source

FAILING = '''
import traceback


@PipelineDecorator.component(return_values=["r"])
def train(x):
    y = x + 1
    raise ValueError(f"bad learning rate {y}")  # LINE-OF-RAISE


@PipelineDecorator.pipeline(name="tracebacks", project="tracebacks")
def run():
    return train(1) + 0


use_mode()
try:
    run()
except ValueError as exc:
    frames = [(f.filename, f.lineno) for f in traceback.extract_tb(exc.__traceback__)]
    report(message=str(exc), cause_type=type(exc.__cause__).__name__, cause=str(exc.__cause__), frames=frames)
'''


def _raise_line(path) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if "LINE-OF-RAISE" in line)


@pytest.mark.parametrize("mode", ["inline", "local"])
def test_failing_step_traceback_names_the_users_file_and_line(pipeline_script, tmp_path, mode):
    run = pipeline_script(FAILING, mode, name="failing_pipeline.py")
    script = tmp_path / "failing_pipeline.py"
    line = _raise_line(script)
    assert run.results["message"] == "bad learning rate 2"
    assert "<dynamic-code>" not in run.stderr
    where = f'File "{script}", line {line}, in train'
    # the step's own report (its console, the terminal) starts at the user's code, not in pipetrack's worker
    printed = run.stderr[run.stderr.index("Traceback (most recent call last):"):]
    first_frame = printed.splitlines()[1].strip()
    assert first_frame == where, printed
    assert 'raise ValueError(f"bad learning rate {y}")' in printed  # the source line, read from the file
    if mode == "inline":  # the very exception: its frames reach the user's line
        assert [str(script), line] in run.results["frames"]
    else:  # raised again in the controller: the step's traceback travels as its cause
        assert run.results["cause_type"] == "StepTraceback"
        assert where in run.results["cause"] and "step 'train' (task " in run.results["cause"]
        assert "pipetrack/executors/worker.py" not in run.results["cause"]


def _user_function():
    values = [1, 0]
    return [1 / v for v in values]  # a comprehension: its own code object on 3.10/3.11


def test_functions_pickled_by_value_keep_their_file_names():
    code = _user_function.__code__
    namespace = {"__name__": "shipped"}
    exec(compile("def shipped():\n    f = lambda v: 1 / v\n    return f(0)\n", "/srv/user/shipped.py", "exec"),
         namespace)
    shipped = pickle.loads(dumps_keeping_source(namespace["shipped"]))  # module 'shipped': pickled by value
    assert shipped.__code__.co_filename == "/srv/user/shipped.py"
    with pytest.raises(ZeroDivisionError) as caught:
        shipped()
    files = [(f.filename, f.lineno, f.name) for f in traceback.extract_tb(caught.value.__traceback__)]
    assert ("/srv/user/shipped.py", 3, "shipped") in files and ("/srv/user/shipped.py", 2, "<lambda>") in files
    assert pickle.loads(dumps_keeping_source(code)).co_filename == code.co_filename


CHAIN = '''
@PipelineDecorator.component(return_values=["r"])
def one():
    raise ValueError("the real reason")


@PipelineDecorator.component(return_values=["r"])
def two(x):
    return x + 1


@PipelineDecorator.pipeline(name="chain", project="tracebacks")
def run():
    return two(one()) + 0


use_mode()
try:
    run()
except Exception as exc:
    report(type=type(exc).__name__, message=str(exc), step=getattr(exc, "step", None),
           cause=type(exc.__cause__).__name__, cause_message=str(exc.__cause__))
'''


def test_a_skipped_step_names_the_step_that_failed_first(pipeline_script):
    """Using the value of a step skipped because its parent failed raises about the parent."""
    run = pipeline_script(CHAIN, "local")
    assert run.results["type"] == "StepFailed" and run.results["step"] == "one", run.results
    assert "step 'two' skipped because step 'one' failed: ValueError: the real reason" in run.results["message"]
    assert run.results["cause"] == "ValueError" and run.results["cause_message"] == "the real reason"
