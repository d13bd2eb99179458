"""What runs at the same time: independent steps overlap in local mode, and a LazyResult
makes an edge when passed and waits for its own step only when used (timing markers)."""
from __future__ import annotations

import pytest

LAZY = '''
SLOW = float(sys.argv[2]) if len(sys.argv) > 2 else 2.5


@PipelineDecorator.component(return_values=["r"])
def slow(x):
    mark("slow", "start")
    time.sleep(SLOW)
    mark("slow", "end")
    return x


@PipelineDecorator.component(return_values=["r"])
def fast(x):
    mark("fast", "start")
    mark("fast", "end")
    return x + 1


@PipelineDecorator.component(return_values=["r"])
def combine(a, b):
    mark("combine", "start")
    mark("combine", "end")
    return a * 10 + b


@PipelineDecorator.pipeline(name="lazy", project="concurrency", version="1.0.0", pipeline_execution_queue=None)
def lazy():
    began = time.time()
    s = slow(1)
    f = fast(1)
    both = combine(s, f)          # passing lazy results: an edge, no waiting
    mark("pipeline", "passed")
    early = f * 2                 # using a value waits for that step only
    mark("pipeline", "used_fast")
    total = both + 0              # waits for combine, hence for slow
    mark("pipeline", "used_combine")
    return {"early": early, "total": total, "calls_took": time.time() - began}


use_mode()
report(out=lazy())
'''


@pytest.mark.parametrize("mode", ["local", pytest.param("dask", marks=pytest.mark.dask)])
def test_lazy_results_wait_only_for_the_step_they_come_from(pipeline_script, mode):
    run = pipeline_script(LAZY, mode)
    assert run.results["out"]["early"] == 4 and run.results["out"]["total"] == 12
    slow_end = run.time_of("slow", "end")
    # the three component calls and passing s/f to combine returned before slow finished
    assert run.time_of("pipeline", "passed") < slow_end
    # the fast value was used before the independent slow step had finished
    assert run.time_of("pipeline", "used_fast") < slow_end
    assert run.time_of("fast", "end") <= run.time_of("pipeline", "used_fast")
    # combine needed both; using it waited for it
    assert run.time_of("combine", "start") >= slow_end
    assert run.time_of("pipeline", "used_combine") >= run.time_of("combine", "end")


def test_debug_mode_runs_components_as_plain_calls_in_order(pipeline_script):
    run = pipeline_script(LAZY, "inline", "0.2")
    assert run.results["out"]["early"] == 4 and run.results["out"]["total"] == 12
    assert run.ran() == ["slow", "fast", "combine"]
    assert len(run.pids()) == 1 and run.time_of("fast", "start") >= run.time_of("slow", "end")


INDEPENDENT = '''
def work(name, seconds):
    mark(name, "start")
    time.sleep(seconds)
    mark(name, "end")
    return name


def join(a, b):
    mark("join", "start")
    mark("join", "end")
    return a + b


pipe = PipelineController(name="fan out", project="concurrency", version="1.0.0")
pipe.add_function_step("left", work, {"name": "left", "seconds": 1.5}, function_return=["r"])
pipe.add_function_step("right", work, {"name": "right", "seconds": 1.5}, function_return=["r"])
pipe.add_function_step("join", join, {"a": "${left.r}", "b": "${right.r}"}, function_return=["r"])
start(pipe)
report(ok=pipe.is_successful())
'''


def test_independent_steps_run_at_the_same_time(pipeline_script):
    run = pipeline_script(INDEPENDENT, "local")
    assert run.results["ok"] is True
    assert run.overlap("left", "right")
    assert run.time_of("join", "start") >= max(run.time_of("left", "end"), run.time_of("right", "end"))
    assert len(run.pids()) == 3  # a fresh process per step
