"""The PipelineController run-state API on a pipeline running in the background:
start(wait=False), is_running, get_running_nodes, get_processed_nodes, elapsed, wait, stop,
is_successful(fail_condition=...), plus create_draft, tags, configuration and queues."""
from __future__ import annotations

import pytest

from pipeline_helpers import dag_of, steps_of
from pipetrack import Task

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL

BACKGROUND = '''
def quick():
    mark("quick", "start")
    return 1


def slow(x):
    mark("slow", "start")
    time.sleep(30)
    mark("slow", "end")


pipe = PipelineController(name="background", project="api", version="1.0.0")
pipe.add_tags(["nightly"])
config = pipe.connect_configuration({"lr": 0.1}, name="training")
pipe.add_function_step("quick", quick, function_return=["r"])
pipe.add_function_step("slow", slow, {"x": "${quick.r}"})
began = time.time()
pipe.start(queue=None, wait=False)            # controller here, steps as local subprocesses
returned_after = time.time() - began
while not pipe.get_running_nodes() or pipe.get_running_nodes()[0].name != "slow":
    time.sleep(0.05)
state = dict(running=pipe.is_running(), running_nodes=[n.name for n in pipe.get_running_nodes()],
             processed=[n.name for n in pipe.get_processed_nodes()], elapsed=pipe.elapsed(),
             wait_timed_out=not pipe.wait(timeout=0.01), successful_while_running=pipe.is_successful())
pipe.stop(mark_aborted=True)
report(pipeline=pipe.id, returned_after=returned_after, config=config, state=state, after=dict(
    running=pipe.is_running(), statuses={n: node.status for n, node in pipe.get_pipeline_dag().items()},
    successful=pipe.is_successful(), failed_only=pipe.is_successful(fail_condition="failed"),
    aborted_only=pipe.is_successful(fail_condition="aborted"), stopped_in=time.time() - began))
'''


def test_background_run_state_and_stop(pipeline_script):
    run = pipeline_script(BACKGROUND, "local")
    assert run.results["returned_after"] < 1.0
    state, after = run.results["state"], run.results["after"]
    assert state["running"] is True and state["running_nodes"] == ["slow"] and state["processed"] == ["quick"]
    assert 0 < state["elapsed"] < 1  # minutes
    assert state["wait_timed_out"] is True and state["successful_while_running"] is False
    assert after["running"] is False and after["statuses"] == {"quick": "completed", "slow": "aborted"}
    assert after["successful"] is False and after["failed_only"] is True and after["aborted_only"] is False
    assert after["stopped_in"] < 15 and run.count("slow", "end") == 0
    assert run.results["config"] == {"lr": 0.1}
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    assert pipeline.get_status() == "stopped"
    assert "nightly" in pipeline.get_tags()
    assert pipeline.get_configuration_object_as_dict("training") == {"lr": 0.1}
    assert steps_of(pipeline)["slow"].get_status() == "stopped"
    assert dag_of(pipeline)["slow"]["status"] == "aborted"


DRAFT = '''
pipe = PipelineController(name="draft", project="api", version="2.0.0")
pipe.add_parameter("p", 1)
pipe.add_function_step("a", lambda p: p, {"p": "${pipeline.p}"}, function_return=["r"])
pipe.add_function_step("b", lambda r: r, {"r": "${a.r}"}, function_return=["r"], execution_queue="gpu")
pipe.set_default_execution_queue("cpu")
pipe.create_draft()
report(pipeline=pipe.id)
'''


def test_create_draft_stores_the_dag_without_running(pipeline_script):
    run = pipeline_script(DRAFT, "inline")
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    assert pipeline.get_status() == "created"
    dag = dag_of(pipeline)
    assert dag["b"]["parents"] == ["a"] and dag["b"]["queue"] == "gpu"
    assert {info["status"] for info in dag.values()} == {"pending"}
    assert pipeline.get_parameters()["Pipeline/p"] == "1"
    assert steps_of(pipeline) == {}


ENDS_EARLY = '''
def first():
    time.sleep(1)
    return 2


def second(x):
    mark("second", "end")
    return x * 3


pipe = PipelineController(name="ends early", project="api", version="1.0.0")
pipe.add_function_step("first", first, function_return=["r"])
pipe.add_function_step("second", second, {"x": "${first.r}"}, function_return=["r"])
pipe.start(queue=None, wait=False)
report(pipeline=pipe.id, running=pipe.is_running())
# the script ends here, long before the pipeline does
'''


def test_script_ending_before_a_background_run_waits_for_it(pipeline_script):
    """start(wait=False) then the end of the script: the run is finished at interpreter exit
    (before the controller task is closed), not cut off half-way."""
    run = pipeline_script(ENDS_EARLY, "local")
    assert run.results["running"] is True
    assert run.count("second", "end") == 1
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    assert pipeline.get_status() == "completed"
    assert {name: info["status"] for name, info in dag_of(pipeline).items()} == {"first": "completed",
                                                                                 "second": "completed"}
    assert steps_of(pipeline)["second"].artifacts["r"].get() == 6
