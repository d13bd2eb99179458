"""Bad pipeline input fails with pipetrack.errors.ValidationError naming the culprit, before
any step runs, and leaves the store as it was (earlier runs intact, no step tasks created)."""
from __future__ import annotations

import pytest

from pipeline_helpers import pipeline_runs, steps_of
from pipetrack import Task

BAD_INPUT = '''
from pipetrack.errors import ValidationError


def step(x=1):
    mark("step", "start")
    return x


def build(case):
    pipe = PipelineController(name=f"bad {case}", project="validation", version="1.0.0")
    pipe.add_parameter("p", 1)
    pipe.add_function_step("a", step, {"x": 1}, function_return=["r"])
    if case == "cycle":
        pipe.add_function_step("b", step, {"x": "${c.r}"}, function_return=["r"])
        pipe.add_function_step("c", step, {"x": "${b.r}"}, function_return=["r"])
    elif case == "unknown_parent":
        pipe.add_function_step("b", step, parents=["a", "ghost"])
    elif case == "duplicate":
        pipe.add_function_step("a", step)
    elif case == "missing_step":
        pipe.add_function_step("b", step, {"x": "${ghost.r}"})
    elif case == "missing_return":
        pipe.add_function_step("b", step, {"x": "${a.nope}"})
    elif case == "missing_parameter":
        pipe.add_function_step("b", step, {"x": "${pipeline.nope}"})
    elif case == "missing_step_parameter":
        pipe.add_function_step("b", step, {"x": "${a.parameters.kwargs/nope}"})
    elif case == "not_callable":
        pipe.add_function_step("b", "step")
    elif case == "bad_reference":
        pipe.add_function_step("b", step, {"x": "${a.artifacts.r}"})
    elif case == "unknown_argument":
        pipe.add_function_step("b", step, {"y": 2})
    return pipe


@PipelineDecorator.component(return_values=["r"], parents=["ghost"])
def orphan():
    mark("orphan", "start")


@PipelineDecorator.pipeline(name="bad decorated", project="validation", version="1.0.0",
                            pipeline_execution_queue=None)
def decorated():
    return orphan()


good = PipelineController(name="good", project="validation", version="1.0.0")
good.add_function_step("a", step, {"x": 5}, function_return=["r"])
start(good)
errors = {}
for case in sys.argv[2].split(","):
    try:
        if case == "decorated":
            use_mode()
            decorated()
        else:
            build(case).start_locally(executor=MODE)
        errors[case] = None
    except ValidationError as exc:
        errors[case] = str(exc)
report(good=good.id, errors=errors)
'''

CASES = {
    "cycle": ["cycle", "b -> c -> b"],
    "unknown_parent": ["unknown step 'ghost'", "'b'"],
    "duplicate": ["duplicate step name 'a'"],
    "missing_step": ["unknown step 'ghost'", "${ghost.r}"],
    "missing_return": ["${a.nope}", "returns ['r']"],
    "missing_parameter": ["unknown pipeline parameter", "${pipeline.nope}", "['p']"],
    "missing_step_parameter": ["${a.parameters.kwargs/nope}", "kwargs/x"],
    "not_callable": ["'b'", "callable", "'step'"],
    "bad_reference": ["${a.artifacts.r}", ".url"],
    "unknown_argument": ["'b'", "['y']"],
    "decorated": ["'ghost'", "orphan"],
}


def test_bad_input_is_rejected_before_anything_runs(pipeline_script):
    run = pipeline_script(BAD_INPUT, "inline", ",".join(CASES))
    for case, fragments in CASES.items():
        message = run.results["errors"][case]
        assert message is not None, f"{case}: no ValidationError"
        for fragment in fragments:
            assert fragment in message, f"{case}: {fragment!r} not in {message!r}"
    # only the good pipeline's step ran; no bad pipeline created a step task
    assert run.ran() == ["step"]
    good = Task.get_task(task_id=run.results["good"])
    assert steps_of(good)["a"].artifacts["r"].get() == 5 and good.get_status() == "completed"
    for pipeline in pipeline_runs("validation"):
        if pipeline.id != good.id:
            assert steps_of(pipeline) == {}
            assert pipeline.get_status() == "failed", pipeline.name
            assert "ValidationError" in pipeline.get_status_message()[1] or "before any step ran" in \
                pipeline.get_status_message()[1]


def test_validation_in_process_raises_the_right_errors():
    from pipetrack import PipelineController, PipelineDecorator
    from pipetrack.errors import ValidationError
    with pytest.raises(ValidationError, match="retry_on_failure"):
        PipelineController(name="x", project="v", retry_on_failure="twice")
    pipe = PipelineController(name="y", project="v")
    with pytest.raises(ValidationError, match="continue_behaviour"):
        pipe.add_function_step("a", lambda: 1, continue_behaviour={"continue_on_typo": True})
    with pytest.raises(ValidationError, match="time_limit"):
        pipe.add_function_step("a", lambda: 1, time_limit=-1)
    with pytest.raises(ValidationError, match="return_values"):
        PipelineDecorator.component(return_values=[""])
    with pytest.raises(ValidationError, match="multi_instance_support"):
        PipelineDecorator.pipeline(name="z", project="v", multi_instance_support="sometimes")
    # steps from existing tasks: the base task must exist; references are checked like any other
    with pytest.raises(ValidationError, match="base_task_id 'nope' names no task"):
        pipe.add_step("t", base_task_id="nope")
    with pytest.raises(ValidationError, match="base_task_project"):
        pipe.add_step("t")
    base = Task.create(project_name="v", task_name="base")
    with pytest.raises(ValidationError, match="recursively_parse_parameters"):
        pipe.add_step("t", base_task_id=base.id, parameter_override={"Args/files": ["${a.r}"]})
    pipe.add_function_step("a", lambda: 1, function_return=["r"])
    pipe.add_step("t", base_task_id=base.id, parameter_override={"Args/files": ["${a.r}", "${a.nope}"]},
                  recursively_parse_parameters=True)
    assert pipe.get_pipeline_dag()["t"].parents == ["a"]
    with pytest.raises(ValidationError, match=r"\$\{a.nope\}"):
        pipe.start_locally(executor="inline")
    assert Task.get_tasks(task_filter={"parent": pipe.id}) == []
