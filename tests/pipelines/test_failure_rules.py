"""What a failing, slow or vetoed step does to its pipeline (PipelineController).

Covers: a failure (children skipped, independent branches still run, pipeline failed and
saying why), retry_on_failure as an int and as a callable, a step's time_limit (killed,
stopped, pipeline failed), pre_execute_callback returning False (node and dependants
skipped), post_execute/status_change callbacks and start()'s step callbacks,
continue_on_fail and each continue_behaviour key, abort_on_failure (running steps stopped,
waiting ones never started), set_pipeline_execution_time_limit, a crashing step process, and
Ctrl-C on a local-mode pipeline (its step processes stopped at once).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipeline_helpers import PRELUDE, pipeline_runs, read_markers, steps_of
from pipetrack import Task

FAILURE = '''
class BadInput(ValueError):
    pass


def first():
    mark("first", "start")
    return 1


def broken(x):
    mark("broken", "start")
    print("about to fail")
    raise BadInput(f"bad input {x}")


def after_broken(y):
    mark("after_broken", "start")
    return y


def independent():
    mark("independent", "start")
    return 2


pipe = PipelineController(name="failing", project="failures", version="1.0.0")
pipe.add_function_step("first", first, function_return=["one"])
pipe.add_function_step("broken", broken, {"x": "${first.one}"}, function_return=["two"])
pipe.add_function_step("after_broken", after_broken, {"y": "${broken.two}"}, function_return=["three"])
pipe.add_function_step("independent", independent, function_return=["four"])
start(pipe)
report(pipeline=pipe.id, ok=pipe.is_successful(),
       statuses={n: node.status for n, node in pipe.get_pipeline_dag().items()})
'''


@pytest.mark.parametrize("mode", ["inline", "local"])
def test_failed_step_fails_the_pipeline_and_skips_its_children(pipeline_script, mode):
    run = pipeline_script(FAILURE, mode)
    assert run.results["ok"] is False
    assert run.results["statuses"] == {"first": "completed", "broken": "failed", "after_broken": "skipped",
                                       "independent": "completed"}
    assert sorted(run.ran()) == ["broken", "first", "independent"]
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    assert pipeline.get_status() == "failed"
    message = pipeline.get_status_message()[1]
    assert "broken" in message and "BadInput: bad input 1" in message
    steps = steps_of(pipeline)
    assert "after_broken" not in steps  # never created: it never ran
    broken = steps["broken"]
    assert broken.get_status() == "failed" and broken.get_status_message()[1] == "BadInput: bad input 1"
    console = "\n".join(broken.get_reported_console_output(100))
    assert "about to fail" in console and "Traceback" in console and "BadInput" in console
    assert "about to fail" in run.stdout  # the user sees step output, also from step processes
    # the pipeline's own log says why it failed
    assert any(line.startswith("pipetrack: pipeline failed: step 'broken' failed")
               for line in pipeline.get_reported_console_output(50))


RETRY = '''
def flaky(fail_times):
    mark("flaky", "start")
    import os
    attempts = sum(1 for line in open(os.environ["PT_MARKERS"]) if line.startswith("flaky start"))
    if attempts <= fail_times:
        raise RuntimeError(f"attempt {attempts} failed")
    return attempts


calls = []


def allow_two(pipeline, node, retries):
    calls.append([type(pipeline).__name__, type(node).__name__, node.name, retries])
    return retries < 2


policy = {"int": 2, "callable": allow_two, "too_few": 1}[sys.argv[2]]
pipe = PipelineController(name="retry", project="failures", version="1.0.0",
                          retry_on_failure=policy if sys.argv[2] == "too_few" else None)
pipe.add_function_step("flaky", flaky, {"fail_times": 2}, function_return=["attempts"],
                       retry_on_failure=None if sys.argv[2] == "too_few" else policy)
start(pipe)
node = pipe.get_pipeline_dag()["flaky"]
report(ok=pipe.is_successful(), status=node.status, retries=node.retries, calls=calls, pipeline=pipe.id)
'''


@pytest.mark.parametrize("mode,policy", [("inline", "int"), ("local", "int"), ("inline", "callable"),
                                         ("local", "too_few")])
def test_retry_on_failure(pipeline_script, mode, policy):
    run = pipeline_script(RETRY, mode, policy)
    if policy == "too_few":  # the pipeline-wide retry count: one retry, two failures
        assert run.count("flaky") == 2 and run.results["status"] == "failed" and run.results["ok"] is False
        return
    assert run.count("flaky") == 3
    assert run.results["ok"] is True and run.results["status"] == "completed" and run.results["retries"] == 2
    if policy == "callable":
        assert run.results["calls"] == [["PipelineController", "Node", "flaky", 0],
                                        ["PipelineController", "Node", "flaky", 1]]
    flaky = steps_of(Task.get_task(task_id=run.results["pipeline"]))["flaky"]
    assert flaky.artifacts["attempts"].get() == 3 and flaky.get_status() == "completed"


TIME_LIMIT = '''
def sleepy():
    mark("sleepy", "start")
    time.sleep(60)
    mark("sleepy", "end")


def child(x):
    mark("child", "start")


began = time.time()
pipe = PipelineController(name="slow", project="failures", version="1.0.0")
pipe.add_function_step("sleepy", sleepy, function_return=["r"], time_limit=1.5)
pipe.add_function_step("child", child, {"x": "${sleepy.r}"})
start(pipe)
report(pipeline=pipe.id, ok=pipe.is_successful(), elapsed=time.time() - began,
       statuses={n: node.status for n, node in pipe.get_pipeline_dag().items()})
'''


@pytest.mark.parametrize("mode", ["local", pytest.param("dask", marks=pytest.mark.dask)])
def test_time_limit_kills_the_step_and_fails_the_pipeline(pipeline_script, mode):
    run = pipeline_script(TIME_LIMIT, mode)
    assert run.ran() == ["sleepy"] and run.count("sleepy", "end") == 0
    assert run.results["elapsed"] < 20
    assert run.results["statuses"] == {"sleepy": "aborted", "child": "skipped"}
    assert run.results["ok"] is False
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    sleepy = steps_of(pipeline)["sleepy"]
    assert sleepy.get_status() == "stopped" and "time limit" in sleepy.get_status_message()[1]
    assert pipeline.get_status() == "failed" and "sleepy" in pipeline.get_status_message()[1]


CALLBACKS = '''
log = []


def step(name):
    mark(name, "start")
    return name


def pre(pipeline, node, parameters):
    log.append(["pre", node.name, parameters])
    return node.name != "vetoed"


def post(pipeline, node):
    log.append(["post", node.name, node.status, node.job.task.id == node.executed])


def changed(pipeline, node, previous):
    log.append(["status", node.name, previous, node.status])


def created(pipeline, node, parameters):
    log.append(["created", node.name])
    return node.name != "vetoed_by_start"


def completed(pipeline, node):
    log.append(["completed", node.name])


pipe = PipelineController(name="callbacks", project="failures", version="1.0.0")
pipe.add_parameter("who", "a")
pipe.add_function_step("a", step, {"name": "${pipeline.who}"}, function_return=["r"], pre_execute_callback=pre,
                       post_execute_callback=post, status_change_callback=changed)
pipe.add_function_step("vetoed", step, {"name": "vetoed"}, function_return=["r"], parents=["a"],
                       pre_execute_callback=pre, status_change_callback=changed)
pipe.add_function_step("after_vetoed", step, {"name": "${vetoed.r}"}, function_return=["r"])
pipe.add_function_step("vetoed_by_start", step, {"name": "vetoed_by_start"}, function_return=["r"])
pipe.add_function_step("b", step, {"name": "b"}, parents=["a"], function_return=["r"])
if MODE == "local":  # start(queue=None): the controller runs here, steps as local subprocesses
    pipe.start(queue=None, step_task_created_callback=created, step_task_completed_callback=completed)
else:
    pipe._run.step_task_created_callback, pipe._run.step_task_completed_callback = created, completed
    start(pipe)
report(pipeline=pipe.id, ok=pipe.is_successful(), log=log,
       statuses={n: node.status for n, node in pipe.get_pipeline_dag().items()})
'''


@pytest.mark.parametrize("mode", ["inline", "local"])
def test_callbacks_and_pre_execute_veto(pipeline_script, mode):
    run = pipeline_script(CALLBACKS, mode)
    log = run.results["log"]
    assert run.results["statuses"] == {"a": "completed", "vetoed": "skipped", "after_vetoed": "skipped",
                                       "vetoed_by_start": "skipped", "b": "completed"}
    assert sorted(run.ran()) == ["a", "b"]
    assert run.results["ok"] is True  # skipping is not failing
    # pre_execute gets the resolved parameters; False skips the node and everything after it
    assert ["pre", "a", {"name": "a"}] in log and ["pre", "vetoed", {"name": "vetoed"}] in log
    assert not any(entry[1] == "after_vetoed" for entry in log if entry[0] in ("pre", "created"))
    assert ["post", "a", "completed", True] in log
    a_status = [e[2:] for e in log if e[0] == "status" and e[1] == "a"]
    assert a_status == [["pending", "running"], ["running", "completed"]]
    assert [e[2:] for e in log if e[0] == "status" and e[1] == "vetoed"] == [["pending", "skipped"]]
    assert ["created", "a"] in log and ["created", "b"] in log and ["created", "vetoed_by_start"] in log
    assert ["completed", "a"] in log and ["completed", "b"] in log
    assert ["completed", "vetoed_by_start"] not in log
    steps = steps_of(Task.get_task(task_id=run.results["pipeline"]))
    assert steps["vetoed"].get_status() == "stopped"  # created, then vetoed: never ran


CONTINUE = '''
import json


def failing(kind):
    mark("failing", "start")
    if kind == "abort":
        raise KeyboardInterrupt("aborted on purpose")
    raise ValueError("failed on purpose")


def child(x):
    mark("child", "start")
    return repr(x)


def independent():
    mark("independent", "start")
    return 1


kind = sys.argv[2]
options = json.loads(sys.argv[3])
pipe = PipelineController(name="continue", project="failures", version="1.0.0")
pipe.add_function_step("failing", failing, {"kind": kind}, function_return=["out"], **options)
pipe.add_function_step("child", child, {"x": "${failing.out}"}, function_return=["seen"])
pipe.add_function_step("independent", independent, function_return=["one"])
start(pipe)
seen = None
if pipe.get_pipeline_dag()["child"].status == "completed":
    seen = Task.get_task(task_id=pipe.get_pipeline_dag()["child"].executed).artifacts["seen"].get()
report(pipeline=pipe.id, ok=pipe.is_successful(fail_on_step_fail=False), seen=seen,
       steps_ok=pipe.is_successful(), statuses={n: node.status for n, node in pipe.get_pipeline_dag().items()})
'''

CONTINUE_CASES = [
    # (failure kind, step options, child runs (with None), pipeline successful)
    ("fail", {}, False, False),
    ("fail", {"continue_on_fail": True}, False, True),
    ("fail", {"continue_behaviour": {"continue_on_fail": True, "skip_children_on_fail": False}}, True, True),
    ("fail", {"continue_behaviour": {"continue_on_fail": False, "skip_children_on_fail": False}}, True, False),
    ("fail", {"continue_behaviour": {"continue_on_fail": True}}, False, True),
    ("abort", {}, False, False),
    ("abort", {"continue_behaviour": {"continue_on_abort": True}}, False, True),
    ("abort", {"continue_behaviour": {"continue_on_abort": True, "skip_children_on_abort": False}}, True, True),
    ("abort", {"continue_behaviour": {"continue_on_abort": False, "skip_children_on_abort": False}}, True, False),
]


@pytest.mark.parametrize("kind,options,child_runs,successful", CONTINUE_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CONTINUE_CASES)])
def test_continue_on_fail_and_continue_behaviour(pipeline_script, kind, options, child_runs, successful):
    # an aborted step: KeyboardInterrupt in a step subprocess (inline, Ctrl-C stops the whole pipeline)
    run = pipeline_script(CONTINUE, "inline" if kind == "fail" else "local", kind, json.dumps(options))
    statuses = run.results["statuses"]
    assert statuses["failing"] == ("failed" if kind == "fail" else "aborted")
    assert statuses["independent"] == "completed"
    assert statuses["child"] == ("completed" if child_runs else "skipped")
    assert ("child" in run.ran()) == child_runs
    if child_runs:  # parameters passed from the failed step default to None
        assert run.results["seen"] == "None"
    assert run.results["ok"] is successful
    assert run.results["steps_ok"] is False  # by default a failed or aborted step counts too
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    assert pipeline.get_status() == ("completed" if successful else "failed")


def test_continue_on_fail_in_local_mode(pipeline_script):
    options = {"continue_behaviour": {"continue_on_fail": True, "skip_children_on_fail": False}}
    run = pipeline_script(CONTINUE, "local", "fail", json.dumps(options))
    assert run.results["statuses"] == {"failing": "failed", "child": "completed", "independent": "completed"}
    assert run.results["ok"] is True and run.results["steps_ok"] is False and run.results["seen"] == "None"


ABORT = '''
def quick_fail():
    mark("quick_fail", "start")
    time.sleep(0.5)
    raise RuntimeError("early failure")


def slow(name="slow"):
    mark(name, "start")
    time.sleep(30)
    mark(name, "end")
    return 1


def after_slow(x):
    mark("after_slow", "start")


limit = float(sys.argv[2]) if len(sys.argv) > 2 else 0
began = time.time()
pipe = PipelineController(name="abort", project="failures", version="1.0.0", abort_on_failure=not limit)
if limit:
    pipe.set_pipeline_execution_time_limit(limit)
else:
    pipe.add_function_step("quick_fail", quick_fail)
pipe.add_function_step("slow", slow, function_return=["r"])
pipe.add_function_step("after_slow", after_slow, {"x": "${slow.r}"})
if not limit:  # more independent steps than workers: these wait for a free worker when the failure comes
    for i in range(3):
        pipe.add_function_step(f"queued_{i}", slow, {"name": "queued"}, function_return=["r"])
start(pipe)
report(pipeline=pipe.id, ok=pipe.is_successful(), elapsed=time.time() - began,
       statuses={n: node.status for n, node in pipe.get_pipeline_dag().items()})
'''


def test_abort_on_failure_stops_running_steps(pipeline_script):
    run = pipeline_script(ABORT, "local")
    assert run.count("quick_fail") == 1 and run.count("slow") == 1 and run.ran("end") == []
    assert run.count("queued") <= 1  # at most the one that took the failed step's worker, then was stopped
    assert run.results["elapsed"] < 20
    statuses = run.results["statuses"]
    assert {k: statuses.pop(k) for k in ("quick_fail", "slow", "after_slow")} == \
        {"quick_fail": "failed", "slow": "aborted", "after_slow": "skipped"}
    # steps still waiting for a worker never start (and the one that took the free slot is stopped)
    assert set(statuses.values()) == {"aborted"}
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    assert pipeline.get_status() == "failed" and "quick_fail" in pipeline.get_status_message()[1]
    assert steps_of(pipeline)["slow"].get_status() == "stopped"


def test_pipeline_execution_time_limit(pipeline_script):
    began = time.time()
    run = pipeline_script(ABORT, "local", "0.03")  # 1.8 s
    assert run.ran() == ["slow"] and run.count("slow", "end") == 0
    assert run.results["elapsed"] < 15 and time.time() - began < 25
    assert run.results["statuses"] == {"slow": "aborted", "after_slow": "skipped"}
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    assert pipeline.get_status() == "failed" and "time limit" in pipeline.get_status_message()[1]
    assert steps_of(pipeline)["slow"].get_status() == "stopped"


CRASH = '''
def crash(how):
    mark(f"crash_{how}", "start")
    import os, signal
    if how == "exit":
        os._exit(3)
    os.kill(os.getpid(), signal.SIGKILL)


pipe = PipelineController(name="crash", project="failures", version="1.0.0")
pipe.add_function_step("exit", crash, {"how": "exit"}, function_return=["r"])
pipe.add_function_step("killed", crash, {"how": "kill"}, function_return=["r"])
pipe.add_function_step("after", lambda r: r, {"r": "${exit.r}"}, function_return=["r"])
start(pipe)
report(pipeline=pipe.id, statuses={n: node.status for n, node in pipe.get_pipeline_dag().items()})
'''


def test_a_crashing_step_process_fails_the_step_and_never_hangs(pipeline_script):
    run = pipeline_script(CRASH, "local", timeout=60)
    assert run.results["statuses"] == {"exit": "failed", "killed": "failed", "after": "skipped"}
    steps = steps_of(Task.get_task(task_id=run.results["pipeline"]))
    assert "exited with code 3" in steps["exit"].get_status_message()[1]
    assert "SIGKILL" in steps["killed"].get_status_message()[1]
    assert {steps[n].get_status() for n in ("exit", "killed")} == {"failed"}


INTERRUPTED = '''
def slow(name):
    mark(name, "start")
    time.sleep(60)
    mark(name, "end")


pipe = PipelineController(name="interrupted", project="failures", version="1.0.0")
for name in ("slow", "other", "queued"):
    pipe.add_function_step(name, slow, {"name": name})
start(pipe)
'''


def test_ctrl_c_stops_the_pipeline_and_its_step_processes(tmp_path, markers_file, pipetrack_home):
    script = tmp_path / "interrupted.py"
    script.write_text(PRELUDE + textwrap.dedent(INTERRUPTED))
    env = {**os.environ, "PIPETRACK_HOME": str(pipetrack_home), "PT_MARKERS": str(markers_file),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, str(script), "local"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while len(read_markers(markers_file)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    began = time.time()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert time.time() - began < 10 and proc.returncode != 0
    markers = read_markers(markers_file)
    assert {m.step for m in markers} == {"slow", "other"} and all(m.phase == "start" for m in markers)
    for pid in {m.pid for m in markers}:  # the step processes are gone
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]
    (pipeline,) = pipeline_runs("failures")
    assert pipeline.get_status() == "stopped"
    steps = steps_of(pipeline)
    assert steps["slow"].get_status() == "stopped" and steps["other"].get_status() == "stopped"
    assert steps["queued"].get_status() in ("stopped", "queued", "created")


def test_executor_refusing_a_step_fails_the_step_and_the_pipeline():
    """An executor whose submit raises (say, at interpreter shutdown) fails that step like one
    that ran: its task is closed failed (not left queued) and the pipeline ends failed."""
    from pipetrack import PipelineController, Task
    from pipetrack.executors.local import LocalExecutor

    class Refusing(LocalExecutor):
        def submit(self, spec):
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    pipe = PipelineController(name="refused", project="failures", version="1.0.0")
    pipe.add_function_step("only", _double, function_kwargs={"x": 1}, function_return=["r"])
    executor = Refusing()
    try:
        pipe.start_locally(executor=executor)
    finally:
        executor.shutdown()
    node = pipe.get_pipeline_dag()["only"]
    assert node.status == "failed" and "cannot schedule new futures" in node.error
    assert Task.get_task(task_id=node.executed).get_status() == "failed"
    assert Task.get_task(task_id=pipe.id).get_status() == "failed"
    assert pipe.is_successful() is False


def _double(x):
    return 2 * x
