"""Step options that change what a pipeline does: ``draft=True`` (the step's task is created as a
Draft and not run; its children are skipped), ``auto_version_bump`` (a new version only when the
pipeline's code or steps changed since the last run of that name) and per-step
``auto_connect_frameworks`` / ``auto_connect_arg_parser`` (what the step worker binds)."""
from __future__ import annotations

import subprocess
import sys

import pytest
from pipeline_helpers import dag_of, pipeline_runs, steps_of

from pipetrack import PipelineController, PipelineDecorator, Task
from pipetrack.errors import ValidationError

DRAFT = '''
def make():
    mark("make", "start")
    return 21


def double(x):
    mark("double", "start")
    return 2 * x


def after(y):
    mark("after", "start")
    return y


pipe = PipelineController(name="drafts", project="opts", version="1.0.0")
pipe.add_function_step("make", make, function_return=["r"])
pipe.add_function_step("double", double, {"x": "${make.r}"}, function_return=["d"], draft=True)
pipe.add_function_step("after", after, {"y": "${double.d}"}, function_return=["a"])
start(pipe)
report(pipeline=pipe.id, statuses={n: node.status for n, node in pipe.get_pipeline_dag().items()},
       successful=pipe.is_successful())
'''


def test_draft_function_step_is_created_not_run_and_its_children_are_skipped(pipeline_script):
    run = pipeline_script(DRAFT, "local")
    assert run.ran() == ["make"]
    assert run.results["statuses"] == {"make": "completed", "double": "skipped", "after": "skipped"}
    assert run.results["successful"] is True
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    assert pipeline.get_status() == "completed"
    steps = steps_of(pipeline)
    assert sorted(steps) == ["double", "make"], "the child of a draft step gets no task"
    draft = steps["double"]
    assert draft.get_status() == "created"
    assert draft.get_parameters()["kwargs_artifacts/x"].endswith(".r")
    assert draft.artifacts == {}
    dag = dag_of(pipeline)
    assert dag["double"]["executed"] == draft.id and "Draft" in dag["double"]["error"]
    assert dag["after"]["status"] == "skipped"


def test_draft_function_step_runs_when_enqueued_later(pipeline_script, pipetrack_home, tmp_path):
    run = pipeline_script(DRAFT, "local")
    draft = steps_of(Task.get_task(task_id=run.results["pipeline"]))["double"]
    Task.enqueue(draft, queue_name="later")
    from processes import script_env
    agent = subprocess.run([sys.executable, "-m", "pipetrack", "agent", "--queue", "later", "--max-tasks", "1"],
                           env=script_env(pipetrack_home, PT_MARKERS=str(tmp_path / "markers.txt")),
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert agent.returncode == 0, agent.stderr
    draft.reload()
    assert draft.get_status() == "completed", draft.get_status_message()
    assert draft.artifacts["d"].get() == 42


def test_draft_task_step_leaves_its_clone_a_draft(pipeline_script):
    run = pipeline_script('''
        with open("train.py", "w") as fh:
            fh.write("print('training')")
        base = Task.create(project_name="opts", task_name="base", script="train.py")
        base.set_parameters({"Args/lr": 0.1})

        def last(v):
            mark("last", "start")

        pipe = PipelineController(name="task drafts", project="opts", version="1.0.0")
        pipe.add_step("train", base_task_id=base.id, parameter_override={"Args/lr": 0.5}, draft=True)
        pipe.add_function_step("last", last, {"v": "${train.id}"})
        start(pipe)
        report(pipeline=pipe.id, base=base.id, statuses={n: node.status for n, node in pipe.get_pipeline_dag().items()})
    ''', "local")
    assert run.ran() == []
    assert run.results["statuses"] == {"train": "skipped", "last": "skipped"}
    steps = steps_of(Task.get_task(task_id=run.results["pipeline"]))
    assert list(steps) == ["base"], steps  # the clone keeps the base task's name
    clone = steps["base"]
    assert clone.id != run.results["base"] and clone.get_status() == "created"
    assert clone.get_parameters()["Args/lr"] == "0.5"


def test_draft_component_skips_the_components_using_it(pipeline_script):
    run = pipeline_script('''
        use_mode()

        @PipelineDecorator.component(return_values=["x"], draft=True)
        def drafted():
            mark("drafted", "start")
            return 1

        @PipelineDecorator.component(return_values=["y"])
        def consumer(x):
            mark("consumer", "start")
            return x

        @PipelineDecorator.component(return_values=["z"])
        def independent():
            mark("independent", "start")
            return 3

        @PipelineDecorator.pipeline(name="decorated drafts", project="opts", version="1.0.0")
        def flow():
            consumer(drafted())
            independent()

        flow()
        [run] = [t for t in Task.get_tasks(project_name="opts", task_filter={"type": ["controller"]})]
        report(pipeline=run.id)
    ''', "local")
    assert run.ran() == ["independent"]
    pipeline = Task.get_task(task_id=run.results["pipeline"])
    dag = dag_of(pipeline)
    assert {n: d["status"] for n, d in dag.items()} == {"drafted": "skipped", "consumer": "skipped",
                                                         "independent": "completed"}
    steps = steps_of(pipeline)
    assert steps["drafted"].get_status() == "created" and "consumer" not in steps


def test_draft_must_be_a_bool():
    pipe = PipelineController(name="bad draft", project="opts")
    with pytest.raises(ValidationError, match="draft must be True or False, got 'yes'"):
        pipe.add_function_step("s", print, draft="yes")
    with pytest.raises(ValidationError, match="draft must be True or False"):
        PipelineDecorator.component(draft=1)
    pipe._run.conclude(failed=False, message="")


VERSIONED = '''
def step(v):
    return v * STEP_FACTOR


STEP_FACTOR = int(sys.argv[3]) if len(sys.argv) > 3 else 1
pipe = PipelineController(name="versioned", project="opts", auto_version_bump=AUTO)
pipe.add_function_step("step", step, {"v": int(sys.argv[2])}, function_return=["r"])
start(pipe)
report(version=pipe.version, stored=pipe.task.data["runtime"]["version"])
'''


@pytest.mark.parametrize("auto", [True, None])
def test_auto_version_bump_only_bumps_when_code_or_steps_change(pipeline_script, auto):
    script = "AUTO = " + repr(auto) + "\n" + VERSIONED
    versions = []
    for args in (("1",), ("1",), ("2",), ("2",), ("2", "5")):
        run = pipeline_script(script, "inline", *args)
        assert run.results["version"] == run.results["stored"]
        versions.append(run.results["version"])
    if auto:
        # same steps -> same version; a changed argument, then a changed code path, bump it
        assert versions == ["1.0.0", "1.0.0", "1.0.1", "1.0.1", "1.0.2"]
    else:  # without it every run gets the next version (ClearML's default)
        assert versions == ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4"]
    assert len(pipeline_runs("opts")) == 5


def test_auto_version_bump_with_a_given_version_bumps_past_a_different_run(pipeline_script):
    script = VERSIONED.replace('auto_version_bump=AUTO', 'version="2.0", auto_version_bump=True')
    versions = [pipeline_script(script, "inline", arg).results["version"] for arg in ("1", "1", "7", "1")]
    assert versions == ["2.0", "2.0", "2.1", "2.0"]


def test_auto_version_bump_must_be_a_bool():
    with pytest.raises(ValidationError, match="auto_version_bump must be None, True or False, got 'yes'"):
        PipelineController(name="bad", project="opts", auto_version_bump="yes")


FRAMEWORKS = '''
def draw(tag):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.plot([1, 2, 3])
    plt.suptitle(tag)
    plt.show()
    return tag


pipe = PipelineController(name="bindings", project="opts", version="1.0.0")
pipe.add_function_step("default", draw, {"tag": "default"}, function_return=["t"])
pipe.add_function_step("off", draw, {"tag": "off"}, function_return=["t"], auto_connect_frameworks=False)
pipe.add_function_step("mpl_off", draw, {"tag": "mpl_off"}, function_return=["t"],
                       auto_connect_frameworks={"matplotlib": False, "joblib": True})
pipe.add_function_step("mpl_on", draw, {"tag": "mpl_on"}, function_return=["t"],
                       auto_connect_frameworks={"xgboost": False})
start(pipe)
report(pipeline=pipe.id)
'''


def test_step_auto_connect_frameworks_decides_what_the_step_records(pipeline_script):
    run = pipeline_script(FRAMEWORKS, "local")
    steps = steps_of(Task.get_task(task_id=run.results["pipeline"]))
    assert all(t.get_status() == "completed" for t in steps.values())
    plots = {name: [(p["metric"], p["variant"]) for p in task.get_reported_plots()] for name, task in steps.items()}
    assert plots == {"default": [("default", "plot")], "off": [], "mpl_off": [], "mpl_on": [("mpl_on", "plot")]}


def test_component_auto_connect_frameworks_false_records_nothing(pipeline_script):
    run = pipeline_script('''
        use_mode()

        @PipelineDecorator.component(return_values=["t"], auto_connect_frameworks=False)
        def quiet():
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            plt.plot([1, 2])
            plt.show()
            return 1

        @PipelineDecorator.component(return_values=["t"])
        def loud():
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            plt.plot([1, 2])
            plt.show()
            return 2

        @PipelineDecorator.pipeline(name="component bindings", project="opts", version="1.0.0")
        def flow():
            quiet()
            loud()

        flow()
        [run] = Task.get_tasks(project_name="opts", task_filter={"type": ["controller"]})
        report(pipeline=run.id)
    ''', "local")
    steps = steps_of(Task.get_task(task_id=run.results["pipeline"]))
    assert len(steps["loud"].get_reported_plots()) == 1
    assert steps["quiet"].get_reported_plots() == []


def test_bad_step_binding_options_are_refused_when_the_step_is_added():
    pipe = PipelineController(name="bad bindings", project="opts")
    with pytest.raises(ValidationError, match="auto_connect_frameworks must be None, a bool or a dict, got 'all'"):
        pipe.add_function_step("s", print, auto_connect_frameworks="all")
    with pytest.raises(ValidationError, match=r"step 's'.*auto_connect_frameworks\['pytorch'\]"):
        pipe.add_function_step("s", print, auto_connect_frameworks={"pytorch": 3})
    with pytest.raises(ValidationError, match="auto_connect_arg_parser must be None, a bool or a dict, got 3"):
        pipe.add_function_step("s", print, auto_connect_arg_parser=3)
    with pytest.raises(ValidationError, match="auto_connect_frameworks"):
        PipelineDecorator.component(auto_connect_frameworks=["x"])
    pipe._run.conclude(failed=False, message="")
