"""A cache entry whose outputs are corrupted or gone is not a hit: the step runs again, the
pipeline gives the right answer, and the pipeline's console says why the entry was rejected."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipetrack import PipelineController, Task
from pipetrack.storage import local_path


def make(marker: str, n: int):
    with open(marker, "a") as fh:
        fh.write("make\n")
    return list(range(n))


def total(values):
    return sum(values)


def run(marker: str, executor: str = "inline") -> PipelineController:
    pipe = PipelineController(name="cache-integrity", project="cache-integrity")
    pipe.add_function_step("make", make, function_kwargs={"marker": marker, "n": 10}, function_return=["values"],
                           cache_executed_step=True)
    pipe.add_function_step("total", total, function_kwargs={"values": "${make.values}"},
                           function_return=["result"], parents=["make"])
    pipe.start_locally(executor=executor)
    return pipe


def _result(pipe: PipelineController) -> int:
    return Task.get_task(task_id=pipe.get_pipeline_dag()["total"].executed).artifacts["result"].get()


def _console(pipe: PipelineController) -> str:
    return "\n".join(Task.get_task(task_id=pipe.id).get_reported_console_output(number_of_reports=1000))


def _runs(marker: str) -> int:
    return Path(marker).read_text().count("make")


@pytest.mark.parametrize("damage", ["corrupted", "missing"])
def test_a_damaged_cache_entry_is_rejected_and_the_step_runs_again(tmp_path, damage):
    marker = str(tmp_path / "runs")
    first = run(marker)
    assert _result(first) == 45 and _runs(marker) == 1
    cached = first.get_pipeline_dag()["make"].executed
    assert run(marker).get_pipeline_dag()["make"].status == "cached" and _runs(marker) == 1

    path = local_path(Task.get_task(task_id=cached).artifacts["values"].url)
    if damage == "corrupted":  # still valid JSON, a different list: the wrong sum if it were reused
        Path(path).write_text(Path(path).read_text().replace("9", "90"))
    else:
        os.remove(path)
    third = run(marker)
    assert third.get_pipeline_dag()["make"].status == "completed"
    assert _runs(marker) == 2
    assert _result(third) == 45
    assert f"cache entry {cached} rejected: artifact 'values' {damage}" in _console(third)
    fourth = run(marker)  # the fresh entry is a hit again
    assert fourth.get_pipeline_dag()["make"].status == "cached" and _runs(marker) == 2


def test_a_corrupted_input_fails_the_consuming_step_with_the_integrity_error(tmp_path):
    """Without the cache in the way: a step whose input was changed on disk fails, naming it."""
    marker = str(tmp_path / "runs")
    pipe = PipelineController(name="input-integrity", project="cache-integrity")
    pipe.add_function_step("make", make, function_kwargs={"marker": marker, "n": 5}, function_return=["values"])
    pipe.add_function_step("total", total, function_kwargs={"values": "${make.values}"},
                           function_return=["result"], parents=["make"],
                           pre_execute_callback=lambda p, node, params: _corrupt_output(p, "make"))
    pipe.start_locally(executor="local")
    node = pipe.get_pipeline_dag()["total"]
    assert node.status == "failed"
    status, message = Task.get_task(task_id=node.executed).get_status_message()
    assert status == "failed"
    assert "IntegrityError" in message and "'values'" in message


def _corrupt_output(pipe: PipelineController, step: str) -> bool:
    task = Task.get_task(task_id=pipe.get_pipeline_dag()[step].executed)
    path = local_path(task.artifacts["values"].url)
    Path(path).write_text("[1, 2, 3]")
    return True
