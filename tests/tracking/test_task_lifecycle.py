"""Task creation, reuse rules, lookup and the status state table, on a real SQLite store."""
from __future__ import annotations

import pytest

from pipetrack import Task, TaskTypes
from pipetrack.errors import NotFoundError, StateError, ValidationError

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL


def test_init_runs_and_close_completes():
    task = Task.init("proj", "first")
    assert task.get_status() == "in_progress"
    assert Task.current_task() is task and task.is_main_task()
    task.close()
    again = Task.get_task(task_id=task.id)
    assert again.get_status() == "completed"
    assert Task.current_task() is None


def test_init_twice_returns_the_running_main_task():
    task = Task.init("proj", "a")
    assert Task.init("proj", "other") is task


def test_reuse_rules():
    first = Task.init("proj", "reuse")
    first.close()
    second = Task.init("proj", "reuse")
    assert second.id == first.id, "a finished task without outputs is reused"
    second.upload_artifact("d", {"a": 1})
    second.close()
    third = Task.init("proj", "reuse")
    assert third.id != first.id, "a task with artifacts is never reused"
    third.close()
    fourth = Task.init("proj", "reuse", reuse_last_task_id=False)
    assert fourth.id != third.id
    fourth.close()
    fourth.publish()
    fifth = Task.init("proj", "reuse")
    assert fifth.id != fourth.id, "a published task is never reused"
    fifth.close()
    fifth.set_archived(True)
    sixth = Task.init("proj", "reuse")
    assert sixth.id != fifth.id, "an archived task is never reused"
    sixth.close()
    seventh = Task.init("proj", "reuse", reuse_last_task_id=sixth.id)
    assert seventh.id == sixth.id


def test_reused_task_loses_previous_outputs():
    task = Task.init("proj", "wipe")
    task.get_logger().report_scalar("loss", "train", 1.0, 0)
    task.set_parameter("General/x", 1)
    task.close()
    again = Task.init("proj", "wipe")
    assert again.id == task.id
    assert again.get_reported_scalars() == {}
    assert again.get_parameters() == {}


def test_continue_last_task_keeps_outputs_and_offsets_iterations():
    task = Task.init("proj", "cont")
    for i in range(101):
        task.get_logger().report_scalar("loss", "train", float(i), i)
    task.upload_artifact("keep", {"v": 1})
    task.close()
    cont = Task.init("proj", "cont", continue_last_task=True)
    assert cont.id == task.id
    assert "keep" in cont.artifacts
    cont.get_logger().report_scalar("loss", "train", -1.0, 0)
    cont.flush()
    xs = cont.get_all_reported_scalars()["loss"]["train"]["x"]
    assert xs[-1] == 101 and len(xs) == 102
    cont.close()
    by_id = Task.init("proj", "cont", continue_last_task=task.id)
    assert by_id.id == task.id


def test_get_task_and_get_tasks_filters():
    ids = {}
    for name, tags in [("alpha", ["best", "gpu"]), ("alphabet", ["gpu"]), ("beta", ["debug"])]:
        t = Task.create(project_name="search/sub", task_name=name, task_type="testing")
        t.set_tags(tags)
        ids[name] = t.id
    other = Task.create(project_name="elsewhere", task_name="alpha")
    assert Task.get_task(project_name="search/sub", task_name="alpha").id == ids["alpha"]
    assert {t.name for t in Task.get_tasks(project_name="search", task_name="alpha")} == {"alpha", "alphabet"}
    assert [t.name for t in Task.get_tasks(project_name="search", task_name="^alpha$")] == ["alpha"]
    assert {t.id for t in Task.get_tasks(task_name="^alpha$")} == {ids["alpha"], other.id}
    assert {t.name for t in Task.get_tasks(tags=["best", "debug"])} == {"alpha", "beta"}
    assert {t.name for t in Task.get_tasks(tags=["-gpu"], project_name="search")} == {"beta"}
    assert {t.name for t in Task.get_tasks(tags=["__$all", "gpu", "best"])} == {"alpha"}
    assert {t.name for t in Task.get_tasks(tags=["__$all", "gpu", "__$not", "best"])} == {"alphabet"}
    assert {t.name for t in Task.get_tasks(task_filter={"type": ["testing"]})} == {"alpha", "alphabet", "beta"}
    Task.get_task(task_id=ids["beta"]).set_archived(True)
    assert "beta" not in {t.name for t in Task.get_tasks(project_name="search", allow_archived=False)}
    assert "beta" in {t.name for t in Task.get_tasks(project_name="search")}
    names = [t.name for t in Task.get_tasks(project_name="search", task_filter={"order_by": ["name"]})]
    assert names == sorted(names)
    q = Task.query_tasks(project_name="search", additional_return_fields=["name", "script.entry_point"])
    assert {d["name"] for d in q} == {"alpha", "alphabet", "beta"} and all("id" in d for d in q)
    assert Task.get_project_id("search/sub") and Task.get_project_id("search")
    assert Task.get_project_id("nope") is None
    assert {"search", "search/sub", "elsewhere"} <= {p.name for p in Task.get_projects()}


def test_bad_input_is_rejected_with_clear_errors():
    with pytest.raises(ValidationError, match="invalid task type 'trainin'.*'training'"):
        Task.init("proj", "bad", task_type="trainin")
    assert Task.get_tasks(project_name="proj") == []
    with pytest.raises(NotFoundError, match="no task with id 'deadbeef'"):
        Task.get_task(task_id="deadbeef")
    with pytest.raises(LookupError):
        Task.get_task(project_name="proj", task_name="missing")
    with pytest.raises(ValueError):
        Task.get_tasks(task_filter={"status": ["runing"]})
    with pytest.raises(ValidationError, match="order_by"):
        Task.get_tasks(task_filter={"order_by": ["-nonsense"]})
    with pytest.raises(ValidationError, match="unknown task_filter"):
        Task.get_tasks(task_filter={"colour": "red"})
    with pytest.raises(ValidationError):
        Task.init(project_name="", task_name="x")
    with pytest.raises(StateError):
        Task()


def test_state_table_transitions():
    task = Task.create(project_name="states", task_name="t")
    assert task.get_status() == "created"
    Task.enqueue(task, queue_name="q1")
    assert task.get_status() == "queued" and Task.get_num_enqueued_tasks("q1") == 1
    Task.dequeue(task)
    assert task.get_status() == "created" and Task.get_num_enqueued_tasks("q1") == 0
    task.mark_started()
    with pytest.raises(StateError, match="illegal status change 'in_progress' -> 'queued'"):
        Task.enqueue(task, queue_name="q1")
    task.mark_completed()
    assert task.get_status() == "completed" and task.get_progress() == 100
    task.publish()
    with pytest.raises(StateError, match="published"):
        task.reset()
    with pytest.raises(StateError, match="published"):
        task.mark_started(force=True)
    with pytest.raises(StateError, match="published"):
        task.set_parameter("General/x", 1)
    clone = Task.clone(task)
    assert clone.get_status() == "created"


def test_only_draft_tasks_are_editable_by_other_processes():
    task = Task.create(project_name="edit", task_name="t")
    other = Task.get_task(task_id=task.id)
    other.set_parameter("General/lr", 0.1)  # Draft: editable
    other.mark_started()
    other.mark_failed(status_message="boom")
    with pytest.raises(StateError, match="only Draft"):
        Task.get_task(task_id=task.id).set_parameter("General/lr", 0.2)
    Task.get_task(task_id=task.id).add_tags(["metadata-is-fine"])
    assert Task.get_task(task_id=task.id).get_parameter("General/lr") == "0.1"
    assert task.get_status_message()[1] == "boom"
    task.reset()
    assert task.get_status() == "created"
    Task.get_task(task_id=task.id).set_parameter("General/lr", 0.3)
    assert task.get_parameter("General/lr", cast=True) == 0.3


def test_clone_copies_inputs_not_outputs():
    src = Task.init("clone", "source")
    src.connect({"lr": 0.1, "layers": [1, 2]}, name="Train")
    src.connect_configuration({"model": {"depth": 3}}, name="cfg")
    src.get_logger().report_scalar("loss", "train", 1.0, 1)
    src.upload_artifact("out", {"x": 1})
    src.add_tags(["t1"])
    src.close()
    clone = Task.clone(src, name="copy")
    assert clone.get_status() == "created" and clone.name == "copy"
    assert clone.parent == src.id
    assert clone.get_parameters(cast=True) == {"Train/lr": 0.1, "Train/layers": [1, 2]}
    assert clone.get_configuration_object_as_dict("cfg") == {"model": {"depth": 3}}
    assert clone.artifacts == {} and clone.get_reported_scalars() == {}
    assert clone.get_tags() == ["t1"]


def test_export_import_update_task():
    task = Task.create(project_name="exp", task_name="orig", task_type=TaskTypes.data_processing)
    task.set_parameters({"Args/epochs": 3, "General/name": "x"})
    data = task.export_task()
    data["name"] = "imported"
    new = Task.import_task(data)
    assert new.id != task.id and new.name == "imported" and new.task_type == "data_processing"
    assert new.get_parameters() == {"Args/epochs": "3", "General/name": "x"}
    task.update_task({"hyperparams": {"Args": {"epochs": {"value": "5", "type": "int"}}}, "comment": "c"})
    assert task.get_parameter("Args/epochs", cast=True) == 5 and task.comment == "c"
    assert task.get_parameter("General/name") == "x"


def test_projects_are_hierarchical_and_move():
    task = Task.create(project_name="a/b/c", task_name="deep")
    assert task.get_project_name() == "a/b/c"
    assert Task.get_project_id("a") and Task.get_project_id("a/b")
    task.move_to_project(new_project_name="x/y")
    assert Task.get_task(task_id=task.id).get_project_name() == "x/y"


def test_user_properties_and_progress_and_wait():
    task = Task.create(project_name="p", task_name="props")
    task.set_user_properties(backbone="resnet", stable={"value": True, "description": "ok"})
    assert task.get_user_properties(value_only=True) == {"backbone": "resnet", "stable": "True"}
    task.delete_user_properties("backbone")
    assert list(task.get_user_properties()) == ["stable"]
    with pytest.raises(ValidationError):
        task.set_progress(120)
    task.mark_started()
    task.set_progress(40)
    assert task.get_progress() == 40
    task.mark_failed(status_message="bad")
    with pytest.raises(RuntimeError, match="failed"):
        task.wait_for_status(check_interval_sec=0.01)


def test_delete_removes_records_and_files():
    task = Task.init("del", "t")
    task.upload_artifact("blob", {"a": 1})
    path = task.artifacts["blob"].get_local_copy()
    import os
    assert os.path.exists(path)
    task.close()
    task.delete()
    assert not os.path.exists(path)
    with pytest.raises(NotFoundError):
        Task.get_task(task_id=task.id)


def test_output_log_web_page_points_at_the_ui(monkeypatch):
    from pipetrack import Task
    from pipetrack.errors import ValidationError
    task = Task.create(project_name="web", task_name="page")
    assert task.get_output_log_web_page() == f"http://127.0.0.1:8080/#/task/{task.id}/console"
    monkeypatch.setenv("PIPETRACK_UI_URL", "http://box:9000/")
    assert Task.get_task_output_log_web_page(task.id) == f"http://box:9000/#/task/{task.id}/console"
    assert Task.get_task_output_log_web_page(task, app_server_host="https://ui.example") == \
        f"https://ui.example/#/task/{task.id}/console"
    with pytest.raises(ValidationError, match="app_server_host"):
        Task.get_task_output_log_web_page(task.id, app_server_host="ftp://x")


SIMULATED = """
import sys
from pipetrack import Task
Task.debug_simulate_remote_task(sys.argv[1], reset_task=len(sys.argv) > 2)
task = Task.init(project_name="sim", task_name="ignored when simulating")
params = task.connect({"lr": 0.1, "epochs": 3})
print("RAN", task.id, params["lr"], params["epochs"])
task.get_logger().report_scalar("loss", "train", 1.0, iteration=0)
"""


def test_debug_simulate_remote_task_runs_the_stored_task(run_script):
    from pipetrack import Task
    draft = Task.create(project_name="sim", task_name="tuned")
    draft.set_parameters({"General/lr": 0.5, "General/epochs": 7})
    out = run_script(SIMULATED, draft.id).stdout
    assert f"RAN {draft.id} 0.5 7" in out  # the stored values won over the code's
    assert draft.get_status() == "completed" and "loss" in draft.get_last_scalar_metrics()
    out = run_script(SIMULATED, draft.id, "reset").stdout  # reset_task: outputs cleared, then run again
    assert f"RAN {draft.id} 0.5 7" in out and draft.get_status() == "completed"
    from pipetrack.errors import NotFoundError
    with pytest.raises(NotFoundError, match="no task"):
        Task.debug_simulate_remote_task("0" * 32)
