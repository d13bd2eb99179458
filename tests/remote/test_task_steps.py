"""Pipelines from existing script tasks (``add_step``): clone, override, run — as local
subprocesses and through a queue served by an agent — with the same outcome."""
from __future__ import annotations

import json

import pytest

from pipetrack import PipelineController, Task
from remote_helpers import run_python

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("store_backend")]  # the shared suite: SQLite and PostgreSQL

PREPARE = """
    import argparse
    from pipetrack import PipelineController, Task
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3)
    args = parser.parse_args()
    task = Task.init(project_name="src", task_name="prepare")
    cfg = task.connect({"scale": 1})
    task.upload_artifact("dataset", {"rows": [i * cfg["scale"] for i in range(args.rows)]})
"""

TRAIN = """
    import argparse, json, os
    from pipetrack import StorageManager, Task
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset_url", default="")
    parser.add_argument("--upstream", default="")
    args = parser.parse_args()
    task = Task.init(project_name="src", task_name=os.environ.get("TRAIN_NAME", "train"))
    params = task.connect({"lr": 0.1})
    model = task.connect_configuration({"layers": 1}, name="model")
    rows = []
    if args.dataset_url:
        with open(StorageManager.get_local_copy(args.dataset_url)) as fh:
            rows = json.load(fh)["rows"]
    task.upload_artifact("model", {"lr": params["lr"], "layers": model["layers"], "total": sum(rows)})
    marker = os.environ.get("MARKER")
    if marker:
        with open(marker, "a") as fh:
            fh.write(json.dumps({"task": task.id, "url": args.dataset_url, "upstream": args.upstream,
                                 "lr": params["lr"], "layers": model["layers"]}) + "\\n")
"""

PIPELINE = """
    import sys
    from pipetrack import PipelineController, Task
    mode, train_id, draft_id = sys.argv[1:4]
    pipe = PipelineController(name="from-tasks", project="pipes")
    pipe.add_parameter("lr", 0.5)
    pipe.add_step("prepare", base_task_project="src", base_task_name="prepare",
                  parameter_override={"Args/rows": 4, "General/scale": 10})
    pipe.add_step("train", base_task_id=train_id, parents=["prepare"],
                  parameter_override={"Args/dataset_url": "${prepare.artifacts.dataset.url}",
                                      "Args/upstream": "${prepare.id}", "General/lr": "${pipeline.lr}"},
                  configuration_overrides={"model": {"layers": 3}},
                  task_overrides={"comment": "trained by the pipeline", "script.requirements.pip": ""})
    pipe.add_step("factory", parents=["prepare"],
                  base_task_factory=lambda node: Task.get_task(project_name="src", task_name="train"),
                  parameter_override={"Args/dataset_url": "${prepare.artifacts.dataset.url}", "General/lr": 0.9})
    pipe.add_step("draft", base_task_id=draft_id, clone_base_task=False, parents=["train"],
                  parameter_override={"Args/upstream": "${train.id}", "General/lr": "${train.parameters.General/lr}"})
    if mode == "local":
        pipe.start_locally(run_pipeline_steps_locally=True)
    else:
        pipe.set_default_execution_queue("steps")
        pipe.start_locally()
    print("PIPELINE", pipe.id, pipe.task.get_status())
"""


@pytest.fixture
def sources(write_script, tmp_path):
    """Base tasks: prepare and train run once here; a Draft made with Task.create."""
    prepare = write_script("prepare.py", PREPARE)
    train = write_script("train.py", TRAIN)
    run_python(prepare)
    run_python(train)
    draft = Task.create(project_name="src", task_name="draft train", script=str(train))
    return {"train": Task.get_task(project_name="src", task_name="train"), "draft": draft,
            "prepare": Task.get_task(project_name="src", task_name="prepare"),
            "pipeline": write_script("pipeline.py", PIPELINE), "marker": tmp_path / "marker.jsonl"}


def _run(sources, mode):
    out = run_python(sources["pipeline"], mode, sources["train"].id, sources["draft"].id,
                     env={"MARKER": str(sources["marker"])}).stdout
    pipeline_id, status = out.split("PIPELINE ")[1].split()[:2]
    dag = PipelineController.get(pipeline_id=pipeline_id).get_pipeline_dag()
    steps = {name: Task.get_task(task_id=node["executed"]) for name, node in dag.items()}
    return Task.get_task(task_id=pipeline_id), status, steps


def _check_outcome(sources, pipeline, status, steps):
    """What both run modes must produce."""
    assert status == "completed", pipeline.get_status_message()[1]
    prepare, train, factory, draft = (steps[n] for n in ("prepare", "train", "factory", "draft"))
    # clones (new tasks, children of the pipeline, in its project), base tasks untouched
    assert prepare.id != sources["prepare"].id and train.id != sources["train"].id != factory.id
    assert all(t.parent == pipeline.id and t.get_project_name() == "pipes" for t in (prepare, train, factory))
    assert all(t.get_status() == "completed" for t in steps.values())
    assert sources["prepare"].get_parameter("Args/rows") == "3"
    assert sources["train"].get_parameter("General/lr") == "0.1"
    # overrides: parameters, ${...} references, configuration objects, task fields
    assert prepare.artifacts["dataset"].get() == {"rows": [0, 10, 20, 30]}
    assert train.get_parameter("Args/dataset_url") == prepare.artifacts["dataset"].url
    assert train.get_parameter("Args/upstream") == prepare.id
    assert train.artifacts["model"].get() == {"lr": 0.5, "layers": 3, "total": 60}
    assert train.comment == "trained by the pipeline" and train.data["script"]["requirements"] == ""
    # base_task_factory: a clone of what the factory returned, with its own overrides
    assert factory.name == "train" and factory.artifacts["model"].get() == {"lr": 0.9, "layers": 1, "total": 60}
    # clone_base_task=False: the Draft itself ran
    assert draft.id == sources["draft"].id and draft.get_status() == "completed" and draft.parent == pipeline.id
    assert draft.get_parameter("Args/upstream") == train.id and draft.artifacts["model"].get()["lr"] == 0.5
    return {name: sorted((a.name, a.hash) for a in t.artifacts.values()) for name, t in steps.items()}


def test_pipeline_from_tasks_locally_then_through_an_agent(sources, agents):
    local = _check_outcome(sources, *_run(sources, "local"))
    seen = [json.loads(line) for line in sources["marker"].read_text().splitlines()]
    assert sorted(s["lr"] for s in seen) == [0.5, 0.5, 0.9]  # train, draft, factory

    draft = Task.get_task(task_id=sources["draft"].id)
    draft.reset(force=True)  # a Draft again for the second run (the step would reset it anyway)
    agent = agents("--queue", "steps", "--max-tasks", "4", env={"MARKER": str(sources["marker"])})
    pipeline, status, steps = _run(sources, "queue")
    assert agent.wait(60) == 0, agent.log()
    remote = _check_outcome(sources, pipeline, status, steps)
    assert remote == local  # same artifacts, same content
    assert all(t.last_worker and t.last_worker in agent.log() for t in steps.values())
