"""Step caching across runs of a user script: what re-runs (markers written) and what is
plugged in from the cache (no marker, status ``cached``, "cache hit" logged).

One pipeline, edited between runs: ``load -> transform -> total``, ``pack`` taking a
list of both upstream outputs, and an independent ``other``. The code fingerprint covers the step's source, the helpers it calls and the
module-level constants it reads; artifact inputs count by content, so a step whose output did
not change keeps its children's hits.
"""
from __future__ import annotations

import pytest

from pipeline_helpers import dag_of
from pipetrack import Task

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL

CACHED = '''
FACTOR = {factor}


def helper(x):
    return x {helper_op}


def load(n):
    mark("load", "start")
    return list(range(n))


def transform(data):
    mark("transform", "start")
    return {transform_expr}


def total(values):
    mark("total", "start")  {total_comment}
    return sum(values)


def other(k):
    mark("other", "start")
    return k


def pack(items):
    mark("pack", "start")
    return [len(item) for item in items]


pipe = PipelineController(name="cached", project="caching", version="1.0.0")
pipe.add_parameter("n", int(sys.argv[2]))
pipe.add_function_step("load", load, {{"n": "${{pipeline.n}}"}}, function_return=["data"], cache_executed_step=True)
pipe.add_function_step("transform", transform, {{"data": "${{load.data}}"}}, function_return=["values"],
                       cache_executed_step=True)
pipe.add_function_step("total", total, {{"values": "${{transform.values}}"}}, function_return=["total"],
                       cache_executed_step=True)
pipe.add_function_step("other", other, {{"k": 1}}, function_return=["k"], cache_executed_step=True)
pipe.add_function_step("pack", pack, {{"items": ["${{transform.values}}", "${{load.data}}"]}}, function_return=["n"],
                       cache_executed_step=True)
start(pipe)
dag = pipe.get_pipeline_dag()
report(pipeline=pipe.id, ok=pipe.is_successful(), statuses={{n: node.status for n, node in dag.items()}},
       executed={{n: node.executed for n, node in dag.items()}},
       total=Task.get_task(task_id=dag["total"].executed).artifacts["total"].get())
'''

BASE = dict(factor=2, helper_op="+ 1", transform_expr="[helper(v) * FACTOR for v in data]", total_comment="")


def cached_script(**changes):
    return CACHED.format(**{**BASE, **changes})


def test_cache_hits_misses_and_refresh(pipeline_script, tmp_path):
    def run(n=4, mode="local", cwd=None, env=None, **changes):
        result = pipeline_script(cached_script(**changes), mode, str(n), cwd=cwd, env=env)
        assert result.results["ok"] is True, result.stderr
        return result

    first = run()
    assert sorted(first.ran()) == ["load", "other", "pack", "total", "transform"] and first.results["total"] == 20
    ids = first.results["executed"]

    # unchanged: nothing runs, every step is the earlier task, shown as cached, "cache hit" logged
    again = run()
    assert again.ran() == []
    assert again.results["executed"] == ids and again.results["total"] == 20
    assert set(again.results["statuses"].values()) == {"cached"}
    pipeline = Task.get_task(task_id=again.results["pipeline"])
    assert {info["status"] for info in dag_of(pipeline).values()} == {"cached"}
    console = "\n".join(pipeline.get_reported_console_output(200))
    assert all(f"cache hit: step '{name}'" in console for name in ids)
    assert Task.get_tasks(task_filter={"parent": pipeline.id}) == []  # no new step tasks

    # the same code in another checkout (other folder, other absolute paths) still hits
    elsewhere = tmp_path / "another" / "checkout"
    assert run(cwd=elsewhere).ran() == []

    # an archived task is never reused
    Task.get_task(task_id=ids["other"]).set_archived(True)
    assert run(mode="inline").ran() == ["other"]

    # a helper's code changed: transform re-runs, and total, which its changed output feeds
    helper_changed = run(helper_op="+ 2")
    assert sorted(helper_changed.ran()) == ["pack", "total", "transform"] and helper_changed.results["total"] == 28
    assert helper_changed.results["statuses"]["load"] == "cached"

    # transform's code changed but its output did not: total and pack (a list input) keep their hits
    same_output = run(helper_op="+ 2", transform_expr="[FACTOR * helper(v) for v in data]",
                      total_comment="# comments and layout are not code")
    assert same_output.ran() == ["transform"] and same_output.results["total"] == 28

    # a module-level constant the step reads changed
    constant = run(helper_op="+ 2", factor=3)
    assert sorted(constant.ran()) == ["pack", "total", "transform"] and constant.results["total"] == 42

    # an input changed: the steps it flows into re-run, the independent one still hits
    bigger = run(n=5, helper_op="+ 2", factor=3)
    assert sorted(bigger.ran()) == ["load", "pack", "total", "transform"] and bigger.results["total"] == 60

    # PIPETRACK_IGNORE_CACHE=1 runs everything and refreshes the entries ...
    forced = run(n=5, helper_op="+ 2", factor=3, env={"PIPETRACK_IGNORE_CACHE": "1"})
    assert sorted(forced.ran()) == ["load", "other", "pack", "total", "transform"]
    assert set(forced.results["statuses"].values()) == {"completed"}
    # ... which the next run reuses
    after = run(n=5, helper_op="+ 2", factor=3, mode="inline")
    assert after.ran() == [] and after.results["executed"] == forced.results["executed"]


RERUN_FAILED = '''
@PipelineDecorator.component(return_values=["r"], cache=True)
def a():
    mark("a", "start")
    return 1


@PipelineDecorator.component(return_values=["r"], cache=True)
def b(x):
    mark("b", "start")
    if os.path.exists("fail.flag"):
        raise RuntimeError("b is broken today")
    return x + 1


@PipelineDecorator.component(return_values=["r"], cache=True)
def c(y):
    mark("c", "start")
    return y * 10


@PipelineDecorator.component(return_values=["r"], cache=True)
def d():
    mark("d", "start")
    return 4


@PipelineDecorator.pipeline(name="rerun", project="caching", version="1.0.0", pipeline_execution_queue=None)
def rerun():
    c(b(a()))
    d()


use_mode()
rerun()
run = sorted(Task.get_tasks(project_name="caching", task_filter={"type": ["controller"]}),
             key=lambda t: t.data["created"])[-1]
report(pipeline=run.id, status=run.get_status(), message=run.get_status_message()[1])
'''


def test_rerunning_a_failed_pipeline_redoes_only_failed_steps_and_dependants(pipeline_script, tmp_path):
    flag = tmp_path / "fail.flag"
    flag.write_text("x")
    failed = pipeline_script(RERUN_FAILED, "local")
    assert sorted(failed.ran()) == ["a", "b", "d"]
    assert failed.results["status"] == "failed"
    assert "step 'b' failed" in failed.results["message"] and "b is broken today" in failed.results["message"]
    flag.unlink()
    fixed = pipeline_script(RERUN_FAILED, "local")
    assert sorted(fixed.ran()) == ["b", "c"]
    assert fixed.results["status"] == "completed"
    statuses = {name: info["status"] for name, info in dag_of(Task.get_task(task_id=fixed.results["pipeline"])).items()}
    assert statuses == {"a": "cached", "b": "completed", "c": "completed", "d": "cached"}


def test_cache_in_debug_mode_and_same_code_under_another_script_name(pipeline_script, tmp_path):
    first = pipeline_script(cached_script(), "inline", "3")
    assert sorted(first.ran()) == ["load", "other", "pack", "total", "transform"]
    again = pipeline_script(cached_script(), "inline", "3", cwd=tmp_path / "copy", name="renamed.py")
    assert again.ran() == [] and again.results["executed"] == first.results["executed"]


CLOSURE = '''
K = int(sys.argv[2])


def make_scaled(k):
    @PipelineDecorator.component(return_values=["r"], cache=True, name="scaled")
    def scaled(x):
        mark("scaled", "start")
        return x * k            # k is a closure variable: its value is part of the code
    return scaled


def offset():
    return {offset}


@PipelineDecorator.component(return_values=["r"], cache=True, helper_functions=[offset])
def shifted(x):
    mark("shifted", "start")
    return x + offset()


@PipelineDecorator.pipeline(name="closures", project="caching", version="1.0.0", pipeline_execution_queue=None)
def closures():
    return [make_scaled(K)(10), shifted(10)]


use_mode()
report(out=closures())
'''


def test_closure_values_and_helper_functions_are_part_of_the_code(pipeline_script):
    def run(k, offset, mode="inline"):
        return pipeline_script(CLOSURE.replace("{offset}", str(offset)), mode, str(k))

    first = run(2, 1)
    assert sorted(first.ran()) == ["scaled", "shifted"] and first.results["out"] == [20, 11]
    assert run(2, 1, mode="local").ran() == []
    closure_changed = run(3, 1)
    assert closure_changed.ran() == ["scaled"] and closure_changed.results["out"] == [30, 11]
    helper_changed = run(3, 5)
    assert helper_changed.ran() == ["shifted"] and helper_changed.results["out"] == [30, 15]
