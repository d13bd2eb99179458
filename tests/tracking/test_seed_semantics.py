"""Task methods whose behaviour the seed spells out: get_status_message's (status, message),
a closed Task object refusing edits with a ValueError, and tags given as a list."""
from __future__ import annotations

import pytest

from pipetrack import Task
from pipetrack.errors import StateError, TaskClosedError, ValidationError

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL


def test_get_status_message_returns_status_and_message():
    task = Task.create(project_name="seed", task_name="status")
    assert task.get_status_message() == ("created", "")
    task._owner = True
    task.mark_started(force=True)
    task.mark_failed(status_message="boom")
    assert task.get_status_message() == ("failed", "boom")


@pytest.mark.parametrize("edit", [
    lambda t: t.connect({"lr": 0.1}),
    lambda t: t.connect_configuration({"layers": 3}),
    lambda t: t.set_parameter("Args/lr", 0.2),
    lambda t: t.set_parameters({"Args/lr": 0.3}),
    lambda t: t.set_configuration_object("cfg", config_text="x: 1"),
])
def test_a_closed_task_refuses_edits_with_a_value_error(edit):
    task = Task.init(project_name="seed", task_name="closed")
    task.set_parameter("Args/batch", 32)
    task.close()
    with pytest.raises(ValueError) as info:
        edit(task)
    assert isinstance(info.value, TaskClosedError) and isinstance(info.value, StateError)
    assert task.id in str(info.value) and "closed" in str(info.value)
    again = Task.get_task(task_id=task.id)
    assert again.get_status() == "completed"
    assert again.get_parameters() == {"Args/batch": "32"}
    assert again.get_configuration_objects() == {}


@pytest.mark.parametrize("create", [Task.create, Task.init])
def test_a_string_of_tags_is_refused_naming_it(create):
    with pytest.raises(ValidationError, match="'abc'"):
        create(project_name="seed", task_name="tags", tags="abc")


def test_tags_given_as_a_list_round_trip():
    task = Task.create(project_name="seed", task_name="tags", tags=["abc", "x y"])
    assert Task.get_task(task_id=task.id).get_tags() == ["abc", "x y"]
