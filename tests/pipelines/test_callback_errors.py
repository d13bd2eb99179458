"""A callback that raises fails its step and the pipeline — it never hangs the scheduler — and
a pipeline's linked (monitored) artifacts survive deleting the pipeline task."""
from __future__ import annotations

import os

import pytest

from pipetrack import PipelineController, Task


def produce():
    return {"value": 1}


def consume(data):
    return data["value"] + 1


def broken_callback(pipeline, node):
    raise RuntimeError("callback bug")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("executor", ["inline", "local"])
def test_raising_post_execute_callback_fails_the_pipeline_without_hanging(executor):
    pipe = PipelineController(name="cb", project="cb")
    pipe.add_function_step("a", produce, function_return=["data"], post_execute_callback=broken_callback)
    pipe.add_function_step("b", consume, function_kwargs={"data": "${a.data}"}, function_return=["r"])
    with pytest.raises(RuntimeError, match="callback bug"):
        pipe.start_locally(executor=executor)
    nodes = pipe.get_pipeline_dag()
    assert nodes["a"].status == "completed"  # the step itself worked; its callback did not
    assert nodes["b"].status == "skipped"
    assert pipe.task.get_status() == "failed" and "callback bug" in pipe.task.get_status_message()[1]


def test_deleting_a_pipeline_keeps_the_steps_artifact_files():
    pipe = PipelineController(name="linked", project="cb")
    pipe.add_function_step("a", produce, function_return=["data"], monitor_artifacts=["data"])
    pipe.start_locally(executor="inline")
    step = Task.get_task(task_id=pipe.get_pipeline_dag()["a"].executed)
    path = step.artifacts["data"].get_local_copy()
    assert pipe.task.artifacts["data"].url == step.artifacts["data"].url
    Task.get_task(task_id=pipe.id).delete()
    assert os.path.exists(path) and step.artifacts["data"].get() == {"value": 1}
