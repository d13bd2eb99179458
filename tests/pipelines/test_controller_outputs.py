"""PipelineController: what steps return and reference, what lands on the pipeline task.

Covers: return values (one name -> the whole value, a tuple too; several -> unpacked;
int/float/bool/str also as ``return/<name>`` parameters), every ``${...}`` reference form,
``add_parameter`` under ``Pipeline/`` and overridden per run, ``Task.current_task()`` and
``PipelineController.get_logger/upload_artifact/upload_model`` inside a step,
monitor_metrics/artifacts/models, progress, and the stored execution plot — in every mode.
"""
from __future__ import annotations

import pytest

from pipeline_helpers import MODES, dag_of, pipeline_runs, steps_of
from pipetrack import Task

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL

REFERENCES = '''
def produce(n):
    mark("produce", "start")
    return n, n * 2                      # one return name: the whole tuple is the artifact


def split(n):
    mark("split", "start")
    return n, n + 0.5, f"s{n}", n > 2    # four return names: unpacked, one artifact each


def make_model(tag):
    mark("make_model", "start")
    from pipetrack import Task
    with open("weights.bin", "wb") as fh:
        fh.write(tag.encode())
    Task.current_task().update_output_model(model_path="weights.bin", name="weights")
    return tag


def consume(pair, a, b, s, flag, step_id, url, kw, model_url, text, nested):
    mark("consume", "start")
    from pipetrack import Task
    me = Task.current_task()
    return {"pair": list(pair), "pair_type": type(pair).__name__, "a": a, "b": b, "s": s, "flag": flag,
            "step_id": step_id, "url": url, "kw": kw, "model_url": model_url, "text": text, "nested": nested,
            "me": me.id, "parent": me.parent}


pipe = PipelineController(name="refs", project="outputs", version="1.0.0", add_pipeline_tags=True,
                          target_project="outputs/steps")
pipe.add_parameter("p", 3, description="how many")
pipe.add_function_step("produce", produce, {"n": "${pipeline.p}"}, function_return=["pair"])
pipe.add_function_step("split", split, {"n": "${pipeline.p}"}, function_return=["a", "b", "s", "flag"])
pipe.add_function_step("make_model", make_model, {"tag": "w1"}, function_return=["tag"])
pipe.add_function_step(
    "consume", consume,
    {"pair": "${produce.pair}", "a": "${split.a}", "b": "${split.b}", "s": "${split.s}", "flag": "${split.flag}",
     "step_id": "${produce.id}", "url": "${produce.artifacts.pair.url}", "kw": "${produce.parameters.kwargs/n}",
     "model_url": "${make_model.models.output.-1.url}", "text": "p=${pipeline.p} from ${split.id}",
     "nested": ["${split.s}", {"k": "${pipeline.p}"}]},
    function_return=["summary"])
start(pipe)
report(pipeline=pipe.id, ok=pipe.is_successful(), parameters=pipe.get_parameters())
'''


@pytest.mark.parametrize("mode", MODES)
def test_returns_and_references(pipeline_script, mode):
    run = pipeline_script(REFERENCES, mode)
    assert run.results["ok"] is True, run.stderr
    assert sorted(run.ran()) == ["consume", "make_model", "produce", "split"]
    if mode != "inline":
        assert run.pids() and __import__("os").getpid() not in run.pids()
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    steps = steps_of(pipeline)
    produce, split, model = steps["produce"], steps["split"], steps["make_model"]
    # one return name: the whole tuple; several: unpacked; plain values also as return/<name>
    assert produce.artifacts["pair"].get() == (3, 6)
    assert [split.artifacts[n].get() for n in ("a", "b", "s", "flag")] == [3, 3.5, "s3", True]
    params = split.get_parameters()
    assert (params["return/a"], params["return/b"], params["return/s"], params["return/flag"]) == \
        ("3", "3.5", "s3", "True")
    assert "return/pair" not in produce.get_parameters()  # a tuple is not a plain value
    summary = steps["consume"].artifacts["summary"].get()
    assert summary["pair"] == [3, 6] and summary["pair_type"] == "tuple"
    assert (summary["a"], summary["b"], summary["s"], summary["flag"]) == (3, 3.5, "s3", True)
    assert summary["step_id"] == produce.id
    assert summary["url"] == produce.artifacts["pair"].url
    assert summary["kw"] == "3"
    assert summary["model_url"] == model.get_models()["output"][-1].url
    assert summary["text"] == f"p=3 from {split.id}"
    assert summary["nested"] == ["s3", {"k": 3}]
    # Task.current_task() in a step is the step task, a child of the pipeline task
    assert summary["me"] == steps["consume"].id and summary["parent"] == pipeline.id
    # kwargs recorded on the step task; steps tagged with their pipeline, in the target project
    assert produce.get_parameters()["kwargs/n"] == "3"
    assert f"pipe: {pipeline.id}" in produce.get_tags() and produce.get_project_name() == "outputs/steps"
    assert "def produce(n):" in produce.get_script()["diff"]
    # the pipeline parameter lives under Pipeline/ on the pipeline task
    assert pipeline.get_parameters()["Pipeline/p"] == "3"
    assert run.results["parameters"] == {"p": 3}
    assert pipeline.task_type == "controller" and pipeline.get_status() == "completed"
    assert pipeline.get_progress() == 100
    assert {name: info["status"] for name, info in dag_of(pipeline).items()} == dict.fromkeys(steps, "completed")


STEP_API = '''
def report_from_step(x):
    mark("report_from_step", "start")
    from pipetrack import PipelineController, Task
    me = Task.current_task()
    me.get_logger().report_scalar("test", "acc", 0.5 + x, 0)
    me.get_logger().report_scalar("test", "acc", 0.75 + x, 1)
    me.upload_artifact("data", {"rows": x})
    with open("model.bin", "wb") as fh:
        fh.write(b"weights")
    me.update_output_model(model_path="model.bin", name="weights_a")
    me.update_output_model(model_path="model.bin", name="weights_b")
    # straight onto the pipeline task
    PipelineController.get_logger().report_scalar("from_step", "x", x, 7)
    PipelineController.upload_artifact("step_upload", {"x": x})
    PipelineController.upload_model("pipe_model", "model.bin")
    return me.id


def progress_probe(previous):
    from pipetrack import Task
    me = Task.current_task()
    return Task.get_task(task_id=me.parent).get_progress()


pipe = PipelineController(name="step api", project="outputs", version="1.0.0")
pipe.add_function_step("report_from_step", report_from_step, {"x": 1}, function_return=["me"],
                       monitor_metrics=[("test", "acc"), (("test", "acc"), ("summary", "accuracy"))],
                       monitor_artifacts=["data", ("data", "final_data")],
                       monitor_models=["weights_a", ("weights*", "latest_weights")])
pipe.add_function_step("probe_1", progress_probe, {"previous": "${report_from_step.me}"}, function_return=["p"])
pipe.add_function_step("probe_2", progress_probe, {"previous": "${probe_1.p}"}, function_return=["p"])
pipe.add_function_step("probe_3", progress_probe, {"previous": "${probe_2.p}"}, function_return=["p"])
start(pipe)
report(pipeline=pipe.id, ok=pipe.is_successful())
'''


@pytest.mark.parametrize("mode", MODES)
def test_step_side_api_monitors_progress_and_plot(pipeline_script, mode):
    run = pipeline_script(STEP_API, mode)
    assert run.results["ok"] is True, run.stderr
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    steps = steps_of(pipeline)
    assert steps["report_from_step"].artifacts["me"].get() == steps["report_from_step"].id
    # progress = finished steps / all steps, seen by each step while it runs
    assert [steps[f"probe_{i}"].artifacts["p"].get() for i in (1, 2, 3)] == [25, 50, 75]
    assert pipeline.get_progress() == 100
    # PipelineController.get_logger/upload_artifact/upload_model from inside the step
    scalars = pipeline.get_all_reported_scalars()
    assert scalars["from_step"]["x"]["y"] == [1]
    assert pipeline.artifacts["step_upload"].get() == {"x": 1}
    assert "pipe_model" in [m.name for m in pipeline.get_models()["output"]]
    # monitors copy the step's metrics, artifacts and models onto the pipeline task
    assert scalars["test"]["acc"]["y"] == [1.5, 1.75]
    assert scalars["summary"]["accuracy"]["y"] == [1.5, 1.75]
    assert pipeline.artifacts["data"].get() == {"rows": 1}
    assert pipeline.artifacts["final_data"].get() == {"rows": 1}
    names = [m.name for m in pipeline.get_models()["output"]]
    assert "weights_a" in names and "latest_weights" in names
    latest = [m for m in pipeline.get_models()["output"] if m.name == "latest_weights"][0]
    assert latest.id == [m for m in steps["report_from_step"].get_models()["output"] if m.name == "weights_b"][0].id
    # the execution plot (DAG coloured by status) is stored on the pipeline task
    plots = [p for p in pipeline.get_reported_plots() if p["metric"] == "Pipeline"]
    assert plots, "no execution plot stored"
    assert plots[-1]["plot"]["layout"]["meta"]["statuses"] == dict.fromkeys(steps, "completed")


OVERRIDE = '''
def show(p, q):
    mark(f"show_{p}_{q}", "start")
    return p * 10 + q


pipe = PipelineController(name="params", project="outputs", version="1.0.0")
pipe.add_parameter("p", 1)
pipe.add_parameter("q", 2, description="second", param_type="int")
pipe.add_function_step("show", show, {"p": "${pipeline.p}", "q": "${pipeline.q}"}, function_return=["r"])
start(pipe)
report(pipeline=pipe.id, parameters=pipe.get_parameters())
'''


def test_add_parameter_is_stored_and_overridable_per_run(pipeline_script):
    first = pipeline_script(OVERRIDE, "local")
    pipeline = Task.get_task(task_id=first.results["pipeline"])
    assert pipeline.get_parameters()["Pipeline/p"] == "1" and pipeline.get_parameters()["Pipeline/q"] == "2"
    assert first.ran() == ["show_1_2"]
    # a new run of the stored pipeline with an edited parameter (what an agent does for "NEW RUN")
    clone = Task.clone(pipeline, name="params edited")
    clone.set_parameter("Pipeline/p", 5)
    second = pipeline_script(OVERRIDE, "local", env={"PIPETRACK_TASK_ID": clone.id})
    assert second.results["pipeline"] == clone.id
    assert second.results["parameters"] == {"p": 5, "q": 2}
    assert second.ran() == ["show_5_2"]
    assert steps_of(Task.get_task(task_id=clone.id))["show"].artifacts["r"].get() == 52


RUNS = '''
version = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else None
pipe = PipelineController(name="nightly", project="runs", version=version)
pipe.add_function_step("one", lambda: 1, function_return=["one"])
start(pipe)
report(pipeline=pipe.id, name=pipe.task.name, version=pipe.version)
'''

GET = '''
from pipetrack import PipelineController
latest = PipelineController.get(pipeline_project="runs", pipeline_name="nightly")
exact = PipelineController.get(pipeline_project="runs", pipeline_name="nightly", pipeline_version="1.0.1")
report(latest=latest.id, latest_version=latest.version, exact_version=exact.version)
try:
    PipelineController.get(pipeline_project="runs", pipeline_name="nope")
except LookupError as exc:
    report(missing=str(exc))
'''


def test_run_numbers_versions_and_get(pipeline_script):
    runs = [pipeline_script(RUNS, "inline", v).results for v in ("-", "-", "1.0.10", "1.0.2", "-")]
    assert [r["name"] for r in runs] == ["nightly", "nightly #2", "nightly #3", "nightly #4", "nightly #5"]
    # not given: bumped from the latest (highest) version; given: used as is
    assert [r["version"] for r in runs] == ["1.0.0", "1.0.1", "1.0.10", "1.0.2", "1.0.11"]
    found = pipeline_script(GET, "inline").results
    assert found["latest"] == runs[4]["pipeline"] and found["latest_version"] == "1.0.11"
    assert found["exact_version"] == "1.0.1"
    assert "nope" in found["missing"]
    assert len(pipeline_runs("runs")) == 5


ROUND_TRIP = '''
def make():
    import numpy as np
    import pandas as pd
    frame = pd.DataFrame({"n": [1, 2], "when": pd.to_datetime(["2024-01-01", "2024-02-01"]), "s": ["a", None]},
                         index=pd.Index([10, 20], name="idx"))
    return frame, np.arange(6, dtype="float32").reshape(2, 3), {1: ("a", 2.5), "k": {3}}, b"\\x00raw", None


def check(frame, array, mapping, raw, nothing):
    import numpy as np
    import pandas as pd
    expected = make()
    return {"frame": bool(frame.equals(expected[0])) and list(frame.dtypes.astype(str)) ==
            list(expected[0].dtypes.astype(str)) and frame.index.name == "idx",
            "array": array.dtype == np.float32 and array.shape == (2, 3) and bool((array == expected[1]).all()),
            "mapping": mapping == expected[2], "raw": raw == expected[3], "nothing": nothing is None}


pipe = PipelineController(name="round trip", project="outputs", version="1.0.0", output_uri=sys.argv[2])
pipe.add_function_step("make", make, function_return=["frame", "array", "mapping", "raw", "nothing"])
pipe.add_function_step("check", check, {k: "${make.%s}" % k for k in ("frame", "array", "mapping", "raw", "nothing")},
                       function_return=["flags"])
start(pipe)
check = Task.get_task(task_id=pipe.get_pipeline_dag()["check"].executed)
report(flags=check.artifacts["flags"].get(), url=check.artifacts["flags"].url)
'''


@pytest.mark.parametrize("mode", ["inline", "local"])
def test_values_round_trip_exactly_between_steps(pipeline_script, tmp_path, mode):
    pytest.importorskip("pandas")
    out = tmp_path / "elsewhere"
    results = pipeline_script(ROUND_TRIP, mode, out.as_uri()).results
    assert results["flags"] == dict.fromkeys(("frame", "array", "mapping", "raw", "nothing"), True)
    assert results["url"].startswith(out.as_uri())  # the pipeline's output_uri is its steps' default


def test_execution_flow_plot_is_kept_once():
    """The DAG plot is redrawn while a run goes on; the pipeline task keeps only the latest one."""
    from pipetrack import PipelineController, Task
    pipe = PipelineController(name="plot once", project="outputs", version="1.0.0")
    pipe.add_function_step("a", _one, function_return=["r"])
    pipe.start_locally(executor="inline")
    pipe.update_execution_plot()
    pipe.update_execution_plot()
    task = Task.get_task(task_id=pipe.id)
    flows = [p for p in task.get_reported_plots() if (p["metric"], p["variant"]) == ("Pipeline", "Execution Flow")]
    assert len(flows) == 1
    assert flows[0]["plot"]["layout"]["meta"]["statuses"] == {"a": "completed"}


def _one():
    return 1
