"""ClearML's public module paths (those its examples import from) and ``task_parameters``."""
from __future__ import annotations

import importlib

import pytest

import pipetrack
from pipetrack import Task
from pipetrack.errors import ValidationError
from tracking_helpers import task_id_of

# (ClearML module, names its examples import) -> the pipetrack module with the same names
CLEARML_PATHS = [
    ("automation", ["PipelineController", "PipelineDecorator"]),
    ("automation.controller", ["PipelineController", "PipelineDecorator"]),
    ("utilities.plotly_reporter", ["SeriesInfo"]),
    ("task_parameters", ["TaskParameters", "param", "percent_param"]),
    ("logger", ["Logger"]),
    ("model", ["OutputModel", "InputModel", "Model"]),
    ("storage", ["StorageManager"]),
]


@pytest.mark.parametrize("module,names", CLEARML_PATHS, ids=[m for m, _ in CLEARML_PATHS])
def test_clearml_module_paths(module, names):
    mod = importlib.import_module(f"pipetrack.{module}")
    for name in names:
        value = getattr(mod, name)
        if hasattr(pipetrack, name):
            assert value is getattr(pipetrack, name), f"pipetrack.{module}.{name} is not pipetrack.{name}"


PARAMS_SCRIPT = """
    from pipetrack import Task
    from pipetrack.task_parameters import TaskParameters, param, percent_param

    class MyTaskParameters(TaskParameters):
        iterations = param(type=int, desc="Number of iterations to run", range=(0, 100000))
        target_accuracy = percent_param(desc="The target accuracy of the model")

    task = Task.init(project_name="FirstTrial", task_name="first_trial")
    print("TASK", task.id)
    params = task.connect(MyTaskParameters(iterations=1000, target_accuracy=0.95), name="from TaskParameters")
    print("VALUES", params.to_dict())
"""


def test_task_parameters_connect_and_agent_override(run_script):
    first = run_script(PARAMS_SCRIPT)
    task = Task.get_task(task_id=task_id_of(first.stdout))
    assert task.get_parameters_as_dict()["from TaskParameters"] == {"iterations": "1000", "target_accuracy": "0.95"}
    assert "VALUES {'iterations': 1000, 'target_accuracy': 0.95}" in first.stdout

    clone = Task.clone(task)
    clone.set_parameter("from TaskParameters/iterations", 5)
    rerun = run_script(PARAMS_SCRIPT, env={"PIPETRACK_TASK_ID": clone.id})
    assert "VALUES {'iterations': 5, 'target_accuracy': 0.95}" in rerun.stdout, "stored values replace the code's"

    bad = Task.clone(task)
    bad.set_parameter("from TaskParameters/target_accuracy", 1.5)
    failed = run_script(PARAMS_SCRIPT, env={"PIPETRACK_TASK_ID": bad.id}, check=False)
    assert failed.returncode != 0
    assert "target_accuracy must be in range [0, 1], got 1.5" in failed.stderr, "stored values are validated too"


def test_task_parameters_semantics():
    from pipetrack.task_parameters import TaskParameters, param, percent_param, range_validator

    seen = []

    def even(instance, attribute, value):
        seen.append(attribute.name)
        if value % 2:
            raise ValidationError(f"{attribute.name} must be even")

    class Base(TaskParameters):
        batch = param(type=int, validator=[even], default=8)

    class Params(Base):
        name = param(type=str)
        dropout = percent_param(default=0.1)
        steps = param(validator=range_validator(1, None), factory=lambda: 10)

    p = Params(name="run")
    assert p.to_dict() == {"batch": 8, "name": "run", "dropout": 0.1, "steps": 10}
    assert "batch" in seen
    assert Params(4, "x").to_dict()["batch"] == 4, "positional order: base parameters first"
    assert Params(name="a") == Params(name="a") and Params(name="a") != Params(name="b")
    with pytest.raises(ValidationError, match=r"needs parameter\(s\) \['name'\]"):
        Params()
    with pytest.raises(ValidationError, match="batch must be even"):
        Params(batch=3, name="x")
    with pytest.raises(ValidationError, match="name must be of type str"):
        Params(name=5)
    with pytest.raises(ValidationError, match=r"dropout must be in range \[0, 1\]"):
        Params(name="x", dropout=2.0)
    with pytest.raises(ValidationError, match="steps must be in range"):
        Params(name="x", steps=0)
    with pytest.raises(ValidationError, match="unknown parameter 'lr'"):
        Params(name="x", lr=0.1)
    p.update_from_dict({"dropout": 0.5, "steps": 3})
    assert (p.dropout, p.steps) == (0.5, 3)
    with pytest.raises(ValidationError, match="Unknown key 'lr'"):
        p.update_from_dict({"lr": 1})
    with pytest.raises(ValidationError, match="dropout must be of type float"):
        p.dropout = "high"
    assert Params(name=None).name is None, "None passes a type check, as attrs' optional(instance_of)"
    with pytest.raises(ValidationError, match="range must be a"):
        param(range=5)


def test_task_parameters_connect_method():
    from pipetrack.task_parameters import TaskParameters, param

    class P(TaskParameters):
        lr = param(type=float, default=0.01)

    task = Task.init("paths", "connect", auto_connect_streams=False, auto_resource_monitoring=False)
    p = P()
    assert p.connect(task) is p
    assert Task.get_task(task_id=task.id).get_parameters_as_dict()["General"] == {"lr": "0.01"}
