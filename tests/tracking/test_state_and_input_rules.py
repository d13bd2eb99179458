"""State-table and bad-input rules added after review: aborts are final, drafts don't finish
without force, bad scalars and names are refused with pipetrack errors, paging."""
from __future__ import annotations

import pytest

from pipetrack import Task
from pipetrack.errors import StateError, ValidationError

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL


def test_an_abort_is_not_overwritten_by_a_late_completion():
    task = Task.create(project_name="rules", task_name="aborted")
    task.mark_started()
    task.mark_stopped(status_message="aborted by user")
    task.mark_completed()  # ignore_errors=True (the seeds' default): no effect, no exception
    assert task.get_status() == "stopped"
    with pytest.raises(StateError, match="'stopped' -> 'completed'"):
        task.mark_completed(ignore_errors=False)
    with pytest.raises(StateError, match="'stopped' -> 'queued'"):
        Task.enqueue(task, queue_name="q")
    Task.enqueue(task, queue_name="q", force=True)  # force resets it first
    assert task.get_status() == "queued"


def test_a_draft_does_not_finish_without_force():
    task = Task.create(project_name="rules", task_name="draft")
    with pytest.raises(StateError, match="'created' -> 'completed'"):
        task.mark_completed(ignore_errors=False)
    task.mark_completed(force=True)
    assert task.get_status() == "completed"


def test_bad_scalars_are_refused_and_nothing_stored_is_lost():
    task = Task.init("rules", "scalars")
    logger = task.get_logger()
    logger.report_scalar("loss", "train", 1.0, 0)
    for args in ((None, "train", 1.0, 1), ("loss", "train", "not a number", 1), ("loss", "train", 1.0, None),
                 ("loss", "train", 1.0, 2 ** 70)):
        with pytest.raises(ValidationError):
            logger.report_scalar(*args)
    logger.report_scalar("loss", "train", 2.0, 1)
    task.flush()
    assert task.get_all_reported_scalars()["loss"]["train"] == {"x": [0, 1], "y": [1.0, 2.0]}


def test_project_names_are_checked_and_normalised():
    with pytest.raises(ValidationError, match="empty part"):
        Task.create(project_name="a//b", task_name="t")
    task = Task.create(project_name="  spaced  ", task_name="t")
    assert task.get_project_name() == "spaced"


def test_task_filter_paging_and_unknown_keys():
    for i in range(7):
        Task.create(project_name="paging", task_name=f"t{i}")
    order = {"order_by": ["name"]}
    page = Task.get_tasks(project_name="paging", task_filter={**order, "page": 1, "page_size": 3})
    assert [t.name for t in page] == ["t3", "t4", "t5"]
    with pytest.raises(ValidationError, match="unknown task_filter"):
        Task.get_tasks(task_filter={"system_tags": ["x"]})
    with pytest.raises(ValidationError, match="page"):
        Task.get_tasks(task_filter={"page": -1})
