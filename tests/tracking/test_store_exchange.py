"""Moving records between stores: task bundles (versioned, layout-free) and whole catalogues.

A catalogue filled through the public API is copied into a second store and both export equal,
record by record; a bundle is plain data (JSON round trip) and refuses a format it does not know.
"""
from __future__ import annotations

import json

import pytest

from pipetrack import OutputModel, PipelineController, Task
from pipetrack.errors import ValidationError
from pipetrack.store import default_store
from pipetrack.store.sqlite import SqliteStore


def _double(x):
    return 2 * x


def _fill(tmp_path) -> Task:
    task = Task.init("exchange/sub", "filled", auto_connect_streams=False, auto_resource_monitoring=False)
    task.connect({"lr": 0.1, "layers": 3})
    task.connect_configuration({"optimizer": "adam"}, name="training")
    task.add_tags(["a", "b"])
    logger = task.get_logger()
    for i in range(40):
        logger.report_scalar("loss", "train", 1.0 / (i + 1), i)
    logger.report_scalar("acc", "val", float("nan"), 3)
    logger.report_single_value("best", 0.9)
    logger.report_text("hello console")
    logger.report_table("table", "t", iteration=2, csv=None, table_plot=[["a", "b"], [1, 2]])
    task.upload_artifact("numbers", artifact_object=[1, 2, 3])
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\0" * 16)
    model = OutputModel(task=task, name="net", tags=["m"])
    model.update_weights(weights_filename=str(weights))
    model.set_metadata("epochs", 3, "int")
    model.report_scalar("eval", "auc", 0.7, 1)
    task.close()
    Task.enqueue(Task.create(project_name="exchange", task_name="queued"), queue_name="gpu")
    pipe = PipelineController(name="exchange-pipe", project="exchange")
    pipe.add_function_step("double", _double, function_kwargs={"x": 2}, function_return=["y"])
    pipe.start_locally(executor="inline")
    return task


def _export(store) -> list[dict]:
    return json.loads(json.dumps(list(store.export_catalogue())))  # what a JSON-lines copy would carry


def test_a_catalogue_copied_to_another_store_exports_equal(tmp_path):
    task = _fill(tmp_path)
    source = default_store()
    records = _export(source)
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "catalogue" and {"project", "queue", "model", "task"} <= set(kinds)
    target = SqliteStore(tmp_path / "copy.db")
    target.import_catalogue(records)
    assert _export(target) == records
    target.import_catalogue(records)  # copying again replaces, it does not duplicate
    assert _export(target) == records
    copy = Task._from_row(target, target.task_row(task.id))
    assert copy.get_reported_console_output(1) == ["hello console"]
    assert copy.get_all_reported_scalars()["loss"]["train"]["x"] == list(range(40))
    assert copy.get_parameters()["General/lr"] == "0.1"
    assert copy.models["output"]["net"].get_metadata_casted("epochs") == 3


def test_a_bundle_is_plain_data_without_seq_and_imports_in_order(tmp_path):
    task = Task.init("exchange", "bundle", auto_connect_streams=False, auto_resource_monitoring=False)
    for text in ("one", "two", "three"):
        task.get_logger().report_text(text)
    task.close()
    bundle = json.loads(json.dumps(task._store.export_task(task.id)))
    assert bundle["format"] == "pipetrack.records" and bundle["version"] == 1
    assert all("seq" not in row and "task_id" not in row for row in bundle["console"])
    other = SqliteStore(tmp_path / "other.db")
    other.import_task(bundle)
    other.import_task(bundle, target_id="e" * 32)
    copy = Task._from_row(other, other.task_row("e" * 32))
    assert copy.get_reported_console_output(3) == ["one", "two", "three"]
    assert other.export_task("e" * 32)["console"] == bundle["console"]


@pytest.mark.parametrize("change", [{"version": 2}, {"format": "something.else"}])
def test_a_bundle_of_an_unknown_format_or_newer_version_is_refused(tmp_path, change):
    task = Task.create(project_name="exchange", task_name="refused")
    bundle = dict(task._store.export_task(task.id), **change)
    with pytest.raises(ValidationError, match=r"version 1\b") as info:
        SqliteStore(tmp_path / "other.db").import_task(bundle)
    assert repr(change.get("version", change.get("format"))) in str(info.value)
    header = {"kind": "catalogue", "format": "pipetrack.catalogue", **change}
    with pytest.raises(ValidationError, match="catalogue"):
        SqliteStore(tmp_path / "other.db").import_catalogue([header])


def test_a_catalogue_copies_through_postgresql_and_back(tmp_path, postgres_database):
    from pipetrack.store import open_store
    _fill(tmp_path)
    records = _export(default_store())
    server = open_store(postgres_database)
    server.import_catalogue(records)
    assert _export(server) == records
    back = SqliteStore(tmp_path / "back.db")
    back.import_catalogue(server.export_catalogue())
    assert _export(back) == records


def _cli(*args: str, env: dict | None = None):
    import os
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "pipetrack", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_store_copy_command_moves_a_catalogue_to_postgresql_and_back_verified(tmp_path, postgres_database):
    _fill(tmp_path)
    source = default_store()
    records = _export(source)
    to_server = _cli("store", "copy", source.location, postgres_database)
    assert to_server.returncode == 0, to_server.stderr
    assert "verified record by record" in to_server.stdout and "task" in to_server.stdout
    back = tmp_path / "back.db"
    from_server = _cli("store", "copy", postgres_database, str(back))
    assert from_server.returncode == 0, from_server.stderr
    assert _export(SqliteStore(back)) == records
    # the server's password never shows; PIPETRACK_STORE is what `store info` reports
    secret = postgres_database.replace("pipetrack@", "pipetrack:hunter2@")
    info = _cli("store", "info", env={"PIPETRACK_STORE": secret})
    assert info.returncode == 0, info.stderr
    assert "hunter2" not in info.stdout and "pipetrack:***@" in info.stdout and "postgresql" in info.stdout
    assert f"tasks:   {len([r for r in records if r['kind'] == 'task'])}" in info.stdout


def test_store_copy_refuses_a_destination_that_holds_tasks_and_the_same_store(tmp_path):
    _fill(tmp_path)
    source = default_store()
    before = _export(source)
    other = tmp_path / "other.db"
    first = _cli("store", "copy", source.location, str(other))
    assert first.returncode == 0, first.stderr
    again = _cli("store", "copy", source.location, str(other))
    assert again.returncode == 2 and "already holds" in again.stderr and "empty store" in again.stderr
    same = _cli("store", "copy", source.location, source.location)
    assert same.returncode == 2 and "same store" in same.stderr
    assert _export(source) == before and _export(SqliteStore(other)) == before  # nothing changed by a refusal


def test_copy_verification_names_the_first_difference_and_takes_nan_as_equal():
    from pipetrack.store.command import _first_difference
    record = {"kind": "task", "task": {"name": "a"}, "scalars": [{"values": [1.0, float("nan")]}]}
    assert _first_difference(record, json.loads(json.dumps(record))) is None
    changed = json.loads(json.dumps(record))
    changed["scalars"][0]["values"][0] = 2.0
    assert _first_difference(record, changed) == "scalars[0].values[0] (source 1.0, copy 2.0)"
    assert "task.name" in _first_difference(record, {**record, "task": {}})
    assert "2 items in the source, 1 in the copy" in _first_difference(record, {**record, "scalars": [{"values": [1.0]}]})
