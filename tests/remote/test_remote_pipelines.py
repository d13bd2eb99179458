"""The pipeline controller itself on a queue: ``PipelineController.start(queue=...)`` and
``@PipelineDecorator.pipeline(pipeline_execution_queue=...)`` run by an agent; a fully remote
run ends with the same tasks, artifacts and statuses as a local one."""
from __future__ import annotations

import subprocess

import pytest

from pipetrack import PipelineController, Task
from processes import script_env
from remote_helpers import PY, run_python, stop_process

pytestmark = pytest.mark.timeout(180)

CONTROLLER = """
    import sys
    from pipetrack import PipelineController

    def make(n):
        return list(range(n))

    def total(xs, offset=0):
        from pipetrack import Task
        Task.current_task().get_logger().report_scalar("total", "value", sum(xs) + offset, 0)
        return sum(xs) + offset

    pipe = PipelineController(name="queued-controller", project="remote-pipes")
    pipe.add_parameter("n", 4)
    pipe.set_default_execution_queue("workers")
    pipe.add_function_step("make", make, function_kwargs={"n": "${pipeline.n}"}, function_return=["xs"])
    pipe.add_function_step("total", total, function_kwargs={"xs": "${make.xs}", "offset": 100},
                           function_return=["t"], monitor_metrics=[("total", "value")])
    pipe.start(queue="services", wait=sys.argv[1] == "wait")
    print("DONE", pipe.id, pipe.task.get_status())
"""


def test_controller_started_on_a_queue_runs_on_an_agent(write_script, agents):
    """start(queue='services'): the script enqueues its controller and waits; an agent runs the
    controller, whose steps go to a queue mapped to the local executor."""
    script = write_script("controller.py", CONTROLLER)
    agent = agents("--queue", "services", "--max-tasks", "1", "--name", "services-agent",
                   env={"PIPETRACK_QUEUES": "workers=local"})
    out = run_python(script, "wait").stdout
    assert agent.wait(60) == 0, agent.log()
    pipeline_id, status = out.split("DONE ")[1].split()[:2]
    assert "enqueued on 'services'" in out and status == "completed"
    controller = Task.get_task(task_id=pipeline_id)
    assert controller.get_status() == "completed" and controller.last_worker == "services-agent"
    dag = PipelineController.get(pipeline_id=pipeline_id).get_pipeline_dag()
    assert {name: node["status"] for name, node in dag.items()} == {"make": "completed", "total": "completed"}
    total = Task.get_task(task_id=dag["total"]["executed"])
    assert total.artifacts["t"].get() == 106 and total.parent == pipeline_id
    assert controller.get_reported_scalars()["total"]["value"]["y"] == [106]  # monitor_metrics, remotely
    assert controller.get_parameter("Pipeline/n") == "4"


def test_controller_with_edited_parameters_rerun_by_an_agent(write_script, agents):
    """A queued controller's parameters can be edited (dequeue, edit, PipelineController.enqueue): the
    agent's run uses them;
    with wait=False the enqueuing script returns at once and the agent's run still completes."""
    script = write_script("controller.py", CONTROLLER)
    out = run_python(script, "nowait").stdout
    pipeline_id = out.split("DONE ")[1].split()[0]
    controller = Task.get_task(task_id=pipeline_id)
    assert controller.get_status() == "queued"
    Task.dequeue(controller)
    controller.set_parameter("Pipeline/n", 10)
    answer = PipelineController.enqueue(controller.id, queue_name="services")
    assert answer["queued"] == 1 and controller.get_status() == "queued"
    agent = agents("--queue", "services", "--queue", "workers", "--max-tasks", "3")
    assert agent.wait(90) == 0, agent.log()
    assert controller.get_status() == "completed", controller.get_status_message()[1]
    dag = PipelineController.get(pipeline_id=pipeline_id).get_pipeline_dag()
    assert Task.get_task(task_id=dag["total"]["executed"]).artifacts["t"].get() == 145  # sum(range(10)) + 100


DECORATED = """
    import os, sys
    from pipetrack import PipelineDecorator

    @PipelineDecorator.component(return_values=["data"], execution_queue="workers")
    def load(n: int):
        return {"values": list(range(n))}

    @PipelineDecorator.component(return_values=["doubled"], execution_queue="workers")
    def double(data: dict):
        return [v * 2 for v in data["values"]]

    @PipelineDecorator.component(return_values=["report"], execution_queue="workers")
    def summarise(doubled: list, data: dict):
        from pipetrack import Task
        Task.current_task().get_logger().report_scalar("sum", "doubled", sum(doubled), 0)
        return {"n": len(data["values"]), "sum": sum(doubled)}

    @PipelineDecorator.pipeline(name="decorated-remote", project="remote-pipes", version="1.0.0",
                                pipeline_execution_queue=os.environ.get("PIPE_QUEUE", "services") or None,
                                return_value="report")
    def pipeline(n: int = 3):
        data = load(n)
        doubled = double(data)
        return summarise(doubled, data)

    if __name__ == "__main__":
        if sys.argv[1] == "local":
            PipelineDecorator.run_locally()
        pipeline(n=5)
        print("AFTER", sys.argv[1])
"""


def _summary(pipeline: Task) -> dict:
    """What a run produced: step tasks, statuses, artifacts (names and content hashes), parameters."""
    steps = sorted(Task.get_tasks(task_filter={"parent": pipeline.id}), key=lambda t: t.name)
    names = {t.id: t.name for t in steps}

    def params(task: Task) -> dict:  # upstream task ids differ between runs: name the step instead
        out = {}
        for key, value in task.get_parameters().items():
            for task_id, name in names.items():
                value = value.replace(task_id, f"<{name}>")
            out[key] = value
        return out

    return {
        "pipeline": (pipeline.get_status(), pipeline.task_type, sorted(pipeline.artifacts),
                     pipeline.artifacts["report"].get(), pipeline.get_parameter("Args/n")),
        "steps": [(t.name, t.get_status(), sorted((a.name, a.hash) for a in t.artifacts.values()),
                   params(t)) for t in steps],
    }


def test_decorated_pipeline_on_a_queue_equals_a_local_run(write_script, agents, tmp_path):
    """@pipeline(pipeline_execution_queue='services'): calling it enqueues the controller and
    exits; one agent runs the controller, a second one the steps. The outcome matches a
    run_locally() run of the same script."""
    script = write_script("decorated.py", DECORATED)
    out = run_python(script, "local").stdout
    assert "AFTER local" in out
    local = Task.get_task(project_name="remote-pipes", task_name="decorated-remote")

    out = run_python(script, "remote").stdout
    assert "AFTER" not in out and "enqueued on 'services'" in out  # the call enqueued and left
    queued = [t for t in Task.get_tasks(project_name="remote-pipes", task_name="decorated-remote")
              if t.id != local.id]
    assert len(queued) == 1 and queued[0].get_status() == "queued"
    steps_agent = agents("--queue", "workers", "--max-tasks", "3", "--name", "steps-agent")
    controller_agent = agents("--queue", "services", "--max-tasks", "1", "--name", "controller-agent")
    assert controller_agent.wait(90) == 0, controller_agent.log()
    assert steps_agent.wait(60) == 0, steps_agent.log()
    remote = Task.get_task(task_id=queued[0].id)
    assert remote.last_worker == "controller-agent"
    assert all(t.last_worker == "steps-agent" for t in Task.get_tasks(task_filter={"parent": remote.id}))
    assert _summary(remote) == _summary(local)
    assert remote.get_status() == "completed" and remote.artifacts["report"].get() == {"n": 5, "sum": 20}


def test_pipeline_execution_queue_none_keeps_the_controller_here(write_script, agents):
    """pipeline_execution_queue=None: the pipeline logic runs in this process, its steps still go
    through their queue to an agent."""
    script = write_script("decorated.py", DECORATED)
    agent = agents("--queue", "workers", "--max-tasks", "3", "--name", "steps-agent")
    out = run_python(script, "here", env={"PIPE_QUEUE": ""}).stdout
    assert "AFTER here" in out and "enqueued" not in out
    assert agent.wait(60) == 0, agent.log()
    (run,) = Task.get_tasks(project_name="remote-pipes", task_name="decorated-remote")
    assert run.get_status() == "completed" and run.artifacts["report"].get() == {"n": 5, "sum": 20}
    steps = Task.get_tasks(task_filter={"parent": run.id})
    assert len(steps) == 3 and all(t.last_worker == "steps-agent" for t in steps)


def test_waiting_controller_with_no_agent_can_be_interrupted(write_script, pipetrack_home):
    """Without an agent, start(queue=...) waits (saying for what); the user can stop waiting."""
    script = write_script("controller.py", CONTROLLER)
    env = script_env(pipetrack_home)
    proc = subprocess.Popen([PY, str(script), "wait"], cwd=script.parent, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        if line.startswith("pipetrack: task "):  # Task.init's notice comes first
            line = proc.stdout.readline()
        assert "enqueued on 'services'" in line and "pipetrack agent --queue services" in line
    finally:
        stop_process(proc)
    (task,) = Task.get_tasks(project_name="remote-pipes")
    assert task.get_status() == "queued"  # still waiting for an agent; nothing stuck in_progress
