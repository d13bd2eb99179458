"""PipelineDecorator: components called from a pipeline function, in every run mode.

Covers: the graph discovered from calls (the same component twice -> ``name``, ``name_1``),
``*args`` and keyword-only arguments, one vs several return values, pipeline arguments as
parameters placed by ``args_map``, ``return_value``, exceptions keeping their type (inline:
raised unchanged by the component call; elsewhere: named in the status message and raised
when the value is used), unserialisable return values, functions from ``__main__``, closures
and the user's own module, and ``multi_instance_support='parallel'``.
"""
from __future__ import annotations

import pytest

from pipeline_helpers import MODES, pipeline_runs, steps_of
from pipetrack import Task

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL

CALLS = '''
@PipelineDecorator.component(return_values=["total"])
def add_all(*values, scale=1, **extra):
    mark("add_all", "start")
    return sum(values) * scale + sum(extra.values())


@PipelineDecorator.component(return_values=["r"])
def keyword_only(a, *, b, c=3):
    mark("keyword_only", "start")
    return a * 100 + b * 10 + c


@PipelineDecorator.component(return_values=["pair"])
def pair(x):
    mark("pair", "start")
    return x, -x


@PipelineDecorator.component(return_values=["lo", "hi"])
def split(x):
    mark("split", "start")
    return x - 1, x + 1


@PipelineDecorator.component(return_values=["nested"])
def outer(x):
    mark("outer", "start")
    return list(pair(x))          # a component called inside a step is a plain call


@PipelineDecorator.pipeline(name="calls", project="decorated", version="1.0.0", return_value="answer",
                            args_map={"Data": ["n"], "Model": ["k", "scale"]}, pipeline_execution_queue=None)
def calls(n, k=2, scale=10, label="x"):
    first = add_all(1, 2, n)                       # add_all
    second = add_all(first, 4, scale=scale, bonus=5)  # add_all_1, depends on add_all
    kw = keyword_only(k, b=first)
    whole = pair(n)
    lo, hi = split(n)
    nested = outer(n)
    report(current=PipelineDecorator.get_current_pipeline().id, is_list=isinstance(nested, list),
           is_int=isinstance(first, int))
    return {"first": first, "second": second, "kw": kw, "pair": whole, "lo": lo, "hi": hi, "label": label,
            "nested": nested}


if __name__ == "__main__":
    use_mode()
    result = calls(3)
    run = [t for t in Task.get_tasks(project_name="decorated") if t.task_type == "controller"][-1]
    report(result=result, pipeline=run.id, pair_type=type(result["pair"]).__name__)
'''


@pytest.mark.parametrize("mode", ["inline", "local"])
def test_component_calls_returns_and_parameters(pipeline_script, mode):
    run = pipeline_script(CALLS, mode)
    result = run.results["result"]
    assert result == {"first": 6, "second": 105, "kw": 263, "pair": [3, -3], "lo": 2, "hi": 4, "label": "x",
                      "nested": [3, -3]}
    assert run.results["pair_type"] == "tuple"  # one return name: the whole tuple
    assert run.results["is_list"] is True and run.results["is_int"] is True  # isinstance sees the value
    assert sorted(run.ran()) == ["add_all", "add_all", "keyword_only", "outer", "pair", "pair", "split"]
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    assert pipeline.get_status() == "completed" and run.results["current"] == pipeline.id
    steps = steps_of(pipeline)
    assert sorted(steps) == ["add_all", "add_all_1", "keyword_only", "outer", "pair", "split"]
    assert steps["add_all_1"].artifacts["total"].get() == 105
    assert steps["split"].get_parameters()["return/lo"] == "2"
    params = pipeline.get_parameters()
    assert (params["Data/n"], params["Model/k"], params["Model/scale"], params["Args/label"]) == ("3", "2", "10", "x")
    assert pipeline.artifacts["answer"].get()["second"] == 105
    dag = pipeline.get_configuration_object_as_dict("Pipeline")
    assert dag["add_all_1"]["parents"] == ["add_all"] and dag["keyword_only"]["parents"] == ["add_all"]


EXCEPTIONS = '''
class DataError(ValueError):
    pass


@PipelineDecorator.component(return_values=["r"])
def bad(x):
    mark("bad", "start")
    raise DataError(f"bad row {x}")


@PipelineDecorator.component(return_values=["r"])
def fine(x):
    mark("fine", "start")
    return x


@PipelineDecorator.pipeline(name="exceptions", project="decorated", version="1.0.0", pipeline_execution_queue=None)
def exceptions():
    ok = fine(1)
    caught = {}
    try:
        value = bad(7)        # inline: raises here, unchanged
        caught["at"] = "use"
        value + 1             # elsewhere: raises when the value is used
    except DataError as exc:
        import traceback
        caught.update(type=type(exc).__name__, message=str(exc), is_main=type(exc) is DataError,
                      frames=[f.name for f in traceback.extract_tb(exc.__traceback__)])
        caught.setdefault("at", "call")
    return {"caught": caught, "ok": ok + 1}


if __name__ == "__main__":
    use_mode()
    out = None
    try:
        out = exceptions()
    finally:
        run = [t for t in Task.get_tasks(project_name="decorated") if t.task_type == "controller"][-1]
        report(out=out, pipeline=run.id)
'''


@pytest.mark.parametrize("mode", MODES)
def test_exceptions_keep_their_type(pipeline_script, mode):
    run = pipeline_script(EXCEPTIONS, mode)
    caught = run.results["out"]["caught"]
    assert caught["type"] == "DataError" and caught["message"] == "bad row 7" and caught["is_main"] is True
    assert caught["at"] == ("call" if mode == "inline" else "use")
    if mode == "inline":  # the traceback reaches into the component's own frame
        assert caught["frames"][-1] == "bad"
    assert run.results["out"]["ok"] == 2
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    step = steps_of(pipeline)["bad"]
    assert step.get_status() == "failed" and step.get_status_message()[1] == "DataError: bad row 7"
    assert pipeline.get_status() == "failed" and "DataError: bad row 7" in pipeline.get_status_message()[1]


UNCAUGHT = '''
@PipelineDecorator.component(return_values=["r"])
def bad():
    raise KeyError("missing column")


@PipelineDecorator.pipeline(name="uncaught", project="decorated", version="1.0.0", pipeline_execution_queue=None)
def uncaught():
    return bad() + 1


use_mode()
uncaught()
'''


@pytest.mark.parametrize("mode", ["inline", "local"])
def test_uncaught_step_exception_fails_the_script_with_its_type(pipeline_script, mode):
    run = pipeline_script(UNCAUGHT, mode, check=False)
    assert run.returncode != 0
    assert run.stderr.rstrip().splitlines()[-1] == "KeyError: 'missing column'"
    (pipeline,) = pipeline_runs("decorated")
    assert pipeline.get_status() == "failed" and "KeyError" in pipeline.get_status_message()[1]


UNSERIALISABLE = '''
import threading


@PipelineDecorator.component(return_values=["lock"])
def make_lock():
    return threading.Lock()


@PipelineDecorator.pipeline(name="unserialisable", project="decorated", version="1.0.0",
                            pipeline_execution_queue=None)
def unserialisable():
    try:
        lock = make_lock()  # inline: raises here
        return repr(lock)   # elsewhere: raises when used
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


use_mode()
report(out=unserialisable())
'''


@pytest.mark.parametrize("mode", ["inline", "local"])
def test_unserialisable_return_value_fails_the_step_naming_type_and_step(pipeline_script, mode):
    run = pipeline_script(UNSERIALISABLE, mode)
    assert "lock" in run.results["out"] and "make_lock" in run.results["out"]
    (pipeline,) = pipeline_runs("decorated")
    step = steps_of(pipeline)["make_lock"]
    message = step.get_status_message()[1]
    assert step.get_status() == "failed" and "lock" in message and "'make_lock'" in message


USER_CODE = '''
import mylib
from mylib import triple


def make_adder(k):
    def add(x):
        mark(f"adder_{k}", "start")
        return mylib.triple(x) + k      # the user's module, imported in the step process
    return add


@PipelineDecorator.component(return_values=["r"])
def main_function(x):
    mark("main_function", "start")
    return triple(x) + 1


adder = PipelineDecorator.component(return_values=["r"], name="adder")(make_adder(100))


@PipelineDecorator.pipeline(name="user code", project="decorated", version="1.0.0", pipeline_execution_queue=None)
def user_code():
    return main_function(2) + adder(1)


use_mode()
decorated = user_code()

pipe = PipelineController(name="user code functions", project="decorated", version="1.0.0")
pipe.add_function_step("from_module", triple, {"x": 5}, function_return=["r"])    # pickled by reference
pipe.add_function_step("closure", make_adder(7), {"x": "${from_module.r}"}, function_return=["r"])
start(pipe)
closure = Task.get_task(task_id=pipe.get_pipeline_dag()["closure"].executed).artifacts["r"].get()
report(decorated=decorated, closure=closure, ok=pipe.is_successful())
'''


@pytest.mark.parametrize("mode", MODES)
def test_main_functions_closures_and_user_module(pipeline_script, tmp_path, mode):
    (tmp_path / "mylib.py").write_text("def triple(x):\n    return 3 * x\n")
    run = pipeline_script(USER_CODE, mode)
    assert run.results == {"decorated": 7 + 103, "closure": 45 + 7, "ok": True}
    assert sorted(run.ran()) == ["adder_100", "adder_7", "main_function"]


PARALLEL = '''
@PipelineDecorator.component(return_values=["r"])
def work(x):
    mark(f"work_{x}", "start")
    time.sleep(1.0)
    mark(f"work_{x}", "end")
    return x * x


@PipelineDecorator.pipeline(name="many", project="decorated", version="1.0.0", multi_instance_support="parallel",
                            pipeline_execution_queue=None)
def many(x):
    return work(x) + 1


use_mode()
returned = [many(x) for x in (2, 3)]
results = PipelineDecorator.wait_for_multi_pipelines()
report(returned=returned, results=results)
'''


def test_multi_instance_parallel_pipelines(pipeline_script):
    run = pipeline_script(PARALLEL, "local")
    assert run.results["returned"] == [None, None]
    assert run.results["results"] == [5, 10]  # in call order
    assert run.overlap("work_2", "work_3")
    runs = pipeline_runs("decorated")
    assert len(runs) == 2 and {r.get_status() for r in runs} == {"completed"}
    assert sorted(r.get_parameters()["Args/x"] for r in runs) == ["2", "3"]
    assert sorted(sorted(steps_of(r)) == ["work"] for r in runs) == [True, True]
