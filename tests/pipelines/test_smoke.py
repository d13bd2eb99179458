"""Smoke tests of both front ends in this process (inline) and with local subprocesses."""
from __future__ import annotations

import pytest

from pipetrack import PipelineController, PipelineDecorator, Task
from pipetrack.errors import ValidationError

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL


def make_data(n):
    return list(range(n))


def total(data, offset=0):
    return sum(data) + offset


def scale(value, factor):
    return value * factor


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_function_steps_run_in_order_and_pass_artifacts(executor):
    pipe = PipelineController(name="smoke", project="pipes", version="1.0.0")
    pipe.add_parameter("n", 5)
    pipe.add_function_step("data", make_data, function_kwargs={"n": "${pipeline.n}"}, function_return=["data"])
    pipe.add_function_step("total", total, function_kwargs={"data": "${data.data}", "offset": 1},
                           function_return=["total"])
    pipe.add_function_step("scaled", scale, function_kwargs={"value": "${total.total}", "factor": 10},
                           function_return=["scaled"])
    pipe.start_locally(executor=executor)
    assert pipe.is_successful()
    nodes = pipe.get_pipeline_dag()
    assert [nodes[n].status for n in ("data", "total", "scaled")] == ["completed"] * 3
    scaled = Task.get_task(task_id=nodes["scaled"].executed)
    assert scaled.artifacts["scaled"].get() == 110
    assert scaled.parent == pipe.id
    assert scaled.get_parameters()["kwargs/factor"] == "10"
    assert pipe.task.get_status() == "completed" and pipe.task.get_progress() == 100


def test_validation_errors_before_anything_runs():
    pipe = PipelineController(name="bad", project="pipes")
    pipe.add_function_step("a", make_data, function_kwargs={"n": 3}, function_return=["data"])
    with pytest.raises(ValidationError, match="duplicate step name 'a'"):
        pipe.add_function_step("a", make_data, function_kwargs={"n": 3})
    with pytest.raises(ValidationError, match="callable"):
        pipe.add_function_step("b", "not a function")
    pipe.add_function_step("c", total, function_kwargs={"data": "${a.missing}"})
    with pytest.raises(ValidationError, match="returns \\['data'\\]"):
        pipe.start_locally(executor="inline")
    assert Task.get_tasks(project_name="pipes", task_name="^a$") == []


def test_cycle_is_rejected():
    pipe = PipelineController(name="cyc", project="pipes")
    pipe.add_function_step("x", total, function_kwargs={"data": "${y.r}"}, function_return=["r"])
    pipe.add_function_step("y", total, function_kwargs={"data": "${x.r}"}, function_return=["r"])
    with pytest.raises(ValidationError, match="cycle"):
        pipe.start_locally(executor="inline")


@PipelineDecorator.component(return_values=["data"])
def d_load(n):
    return list(range(n))


@PipelineDecorator.component(return_values=["s"])
def d_sum(data):
    return sum(data)


@PipelineDecorator.component(return_values=["lo", "hi"])
def d_split(data):
    half = len(data) // 2
    return data[:half], data[half:]


@PipelineDecorator.pipeline(name="deco", project="pipes", return_value="result")
def d_pipeline(n=10):
    data = d_load(n)
    lo, hi = d_split(data)
    total_lo, total_hi = d_sum(lo), d_sum(hi)
    return total_lo + total_hi


@pytest.mark.parametrize("mode", ["debug", "local"])
def test_decorator_pipeline(mode):
    (PipelineDecorator.debug_pipeline if mode == "debug" else PipelineDecorator.run_locally)()
    try:
        assert d_pipeline(n=10) == 45
    finally:
        PipelineDecorator._mode = None
    run = Task.get_tasks(project_name="pipes", task_filter={"type": ["controller"]})[0]
    assert run.artifacts["result"].get() == 45
    steps = Task.get_tasks(task_filter={"parent": run.id})
    assert sorted(t.name for t in steps) == ["d_load", "d_split", "d_sum", "d_sum_1"]
