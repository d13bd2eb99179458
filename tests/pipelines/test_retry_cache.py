"""A step that succeeded on a retry is a cache entry like any other (the reset task gets its key back)."""
from __future__ import annotations

from pipetrack import PipelineController


def flaky(marker: str):
    import os
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("first attempt fails")
    return 42


def run(marker: str) -> PipelineController:
    pipe = PipelineController(name="retry-cache", project="retry")
    pipe.add_function_step("flaky", flaky, function_kwargs={"marker": marker}, function_return=["r"],
                           cache_executed_step=True, retry_on_failure=1)
    pipe.start_locally(executor="inline")
    return pipe


def test_retried_step_is_found_by_the_cache(tmp_path):
    marker = str(tmp_path / "attempted")
    first = run(marker)
    node = first.get_pipeline_dag()["flaky"]
    assert node.status == "completed" and node.retries == 1
    second = run(marker)
    again = second.get_pipeline_dag()["flaky"]
    assert again.status == "cached" and again.executed == node.executed
